"""The Python code blocks in README.md and docs/ run, in order, page by page.

Each page's blocks share one namespace, as a reader would run them top to bottom, so a
page may build on its earlier blocks. A block that only shows a shape, not runnable code,
is marked with a ``<!-- not-run -->`` line right above its fence.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"(?P<skip><!-- not-run -->\n)?```python\n(?P<code>.*?)```", re.DOTALL)


def _blocks(page: Path) -> list[str]:
    return [m["code"] for m in _BLOCK.finditer(page.read_text()) if not m["skip"]]


def test_the_pages_have_code() -> None:
    """The glob finds pages with Python blocks (an empty run would prove nothing)."""
    assert sum(len(_blocks(page)) for page in PAGES) >= 10


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_page_code_runs(page: Path) -> None:
    """Every Python block of the page runs without error, in order, in one namespace."""
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for number, code in enumerate(_blocks(page), start=1):
        try:
            exec(compile(code, f"{page.name}[block {number}]", "exec"), namespace)  # noqa: S102
        except Exception as error:  # noqa: BLE001 - report which block broke, then fail
            pytest.fail(f"{page.name} block {number} raised {type(error).__name__}: {error}")
