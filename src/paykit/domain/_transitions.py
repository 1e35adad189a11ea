"""The one mechanism both state machines use to allow or refuse a move."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

from paykit.errors import InvalidStateTransition

__all__ = ["check_transition", "reachable_from"]

S = TypeVar("S", bound=StrEnum)


def check_transition(table: Mapping[S, frozenset[S]], kind: str, current: S, target: S) -> None:
    """Raise :class:`InvalidStateTransition` unless ``table`` allows ``current -> target``."""
    if target not in table[current]:
        allowed = ", ".join(sorted(table[current])) or "nothing (final state)"
        raise InvalidStateTransition(
            f"a {kind} cannot move from {current!s} to {target!s}; from {current!s} it can move "
            f"to: {allowed}",
            current=str(current),
            requested=str(target),
        )


def reachable_from(table: Mapping[S, frozenset[S]], start: S) -> frozenset[S]:
    """Every state reachable from ``start`` in one or more moves (used to spot backward moves)."""
    seen: set[S] = set()
    frontier = [start]
    while frontier:
        for nxt in table[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return frozenset(seen)
