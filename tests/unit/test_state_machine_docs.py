"""The diagrams in docs/state-machines.md contain exactly the edges of the transition tables."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

import pytest

from paykit import DISPUTE_TRANSITIONS, PAYMENT_TRANSITIONS, REFUND_TRANSITIONS

_PAGE = Path(__file__).parents[2] / "docs" / "state-machines.md"
_EDGE = re.compile(r"^\s+(\w+) --> (\w+)", re.MULTILINE)


def _diagram_edges(heading: str) -> set[tuple[str, str]]:
    text = _PAGE.read_text(encoding="utf-8")
    section = text.split(f"## {heading}\n", 1)[1]
    diagram = section.split("```mermaid", 1)[1].split("```", 1)[0]
    return set(_EDGE.findall(diagram))


@pytest.mark.parametrize(
    ("heading", "table"),
    [
        ("Payment", PAYMENT_TRANSITIONS),
        ("Refund", REFUND_TRANSITIONS),
        ("Dispute", DISPUTE_TRANSITIONS),
    ],
)
def test_each_diagram_draws_exactly_its_table(
    heading: str, table: dict[StrEnum, frozenset[StrEnum]]
) -> None:
    """Every allowed move is drawn and nothing else is (start arrows aside)."""
    expected = {(str(src), str(dst)) for src, targets in table.items() for dst in targets}

    drawn = _diagram_edges(heading)

    assert drawn == expected
