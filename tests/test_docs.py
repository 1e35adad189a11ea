"""The Python code blocks in README.md and docs/ run, in order, and print what the page shows.

Each page's blocks share one namespace, as a reader would run them top to bottom, so a
page may build on its earlier blocks. A block that only shows a shape, not runnable code,
is marked with a ``<!-- not-run -->`` line right above its fence.

Each run block's standard output is captured and compared with the output its page shows.
A page shows output in two ways:

- **Output comments.** On the last line of a ``print(...)`` statement, a trailing
  ``# text`` comment is one line of output; the whole-line comments directly below that
  line (no blank line or code in between) are the lines that follow it::

      print(payment.status, payment.captured_amount)   # completed 100.00 USD
      print(refund.status, payment.status)
      # completed partially_refunded

  The text after ``#`` and one space is the line, exactly. A comment anywhere else (after
  an assignment, above a line, below a line that is not a print) is an ordinary comment.
  So a comment that explains a ``print`` rather than showing its output goes on the line
  above it, with a blank line between it and a ``print`` above (or it would continue that
  print's output).
- **Output blocks.** A fenced block with a ``<!-- output -->`` line right above its fence
  (written ```` ```text ````) shows the output of the nearest run Python block above it,
  after any output comments of that block. Other fences (``sh``, unmarked ``text``) are
  not checked, and neither are the comments of ``<!-- not-run -->`` blocks.

The captured output must equal, line by line and in order, every output line the block
shows. A block that shows no output must print nothing, so a ``print`` whose output the
page does not show fails too. ``...`` in a shown line stands for any text within that line
(like doctest's ELLIPSIS, but never across lines), for ids, times and other values that
change from run to run; everything else must match exactly, but for trailing spaces.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(
    r"(?P<marker><!-- (?P<mark>not-run|output) -->\n)?```(?P<info>[\w-]*)\n(?P<body>.*?)```",
    re.DOTALL,
)
ELLIPSIS = "..."


@dataclass
class Block:
    """A run Python block of a page and the output lines the page shows for it."""

    line: int
    code: str
    shown: list[str] = field(default_factory=list)


def _blocks(text: str) -> list[Block]:
    """The page's run Python blocks, in order, each with the output the page shows."""
    blocks: list[Block] = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start("body")) + 1
        if match["mark"] == "output":
            if not blocks or match["info"] != "text":
                msg = f"line {line}: an output block is a text fence below a run Python block"
                raise ValueError(msg)
            blocks[-1].shown.extend(match["body"].splitlines())
        elif match["info"] == "python" and match["mark"] != "not-run":
            blocks.append(Block(line, match["body"], _output_comments(match["body"])))
    return blocks


def _output_comments(code: str) -> list[str]:
    """The output lines that ``code`` shows as comments on and below its print statements."""
    print_ends = {
        node.end_lineno
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id == "print"
    }
    comments: dict[int, tuple[str, bool]] = {}  # line -> (text, the whole line is a comment)
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.COMMENT:
            row, column = token.start
            comments[row] = (_comment_text(token.string), not token.line[:column].strip())
    shown: list[str] = []
    for end in sorted(line for line in print_ends if line is not None):
        text, whole_line = comments.get(end, ("", True))
        if not whole_line:
            shown.append(text)
        row = end + 1
        while row in comments and comments[row][1]:
            shown.append(comments[row][0])
            row += 1
    return shown


def _comment_text(comment: str) -> str:
    """A comment without its ``#`` and the one space after it."""
    text = comment.removeprefix("#")
    return text.removeprefix(" ").rstrip()


def output_matches(shown: list[str], printed: str) -> bool:
    """Whether ``printed`` is the output ``shown``, ``...`` standing for any text in a line."""
    actual = [line.rstrip() for line in printed.splitlines()]
    if len(actual) != len(shown):
        return False
    for expected, line in zip(shown, actual, strict=True):
        pattern = "[^\n]*".join(re.escape(part) for part in expected.rstrip().split(ELLIPSIS))
        if re.fullmatch(pattern, line) is None:
            return False
    return True


def check_page(name: str, text: str) -> list[str]:
    """Run the page's blocks in order; one problem per block that raised or printed otherwise."""
    problems: list[str] = []
    namespace: dict[str, object] = {"__name__": f"docs_{Path(name).stem}"}
    for number, block in enumerate(_blocks(text), start=1):
        where = f"{name} block {number} (line {block.line})"
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                exec(compile(block.code, f"{name}[block {number}]", "exec"), namespace)  # noqa: S102
        except Exception as error:  # noqa: BLE001 - report which block broke, then stop
            problems.append(f"{where} raised {type(error).__name__}: {error}")
            break  # later blocks build on this one
        if not output_matches(block.shown, printed.getvalue()):
            shown = "\n".join(block.shown) or "(nothing)"
            problems.append(
                f"{where} shows\n{shown}\nbut prints\n{printed.getvalue().rstrip() or '(nothing)'}"
            )
    return problems


def test_the_pages_have_code() -> None:
    """The glob finds pages with Python blocks and shown output (an empty run proves nothing)."""
    blocks = [block for page in PAGES for block in _blocks(page.read_text())]
    assert len(blocks) >= 10
    assert sum(len(block.shown) for block in blocks) >= 100


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_page_code_runs_and_prints_what_the_page_shows(page: Path) -> None:
    """Every Python block of the page runs, in order, and prints exactly what the page shows."""
    problems = check_page(page.name, page.read_text())
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


_FAKE_PAGE = """\
# A page

```python
total = 1 + 1
print(total)  # 3
```

<!-- not-run -->
```python
print("not run")  # anything
```

```python
print("pay_1a2b", total)
# pay_... 2
```

```python
print("refund of 5.00 USD created for order o_1, routed to sandbox")
```

<!-- output -->
```text
refund of 5.00 USD created for order o_1
```

```python
print("shown nowhere")
```
"""


def test_check_page_reports_every_block_that_prints_otherwise() -> None:
    """A wrong comment, a drifted output block and an unshown print are each reported."""
    problems = check_page("fake.md", _FAKE_PAGE)
    assert len(problems) == 3
    wrong_comment, drifted_block, unshown = problems
    assert wrong_comment.startswith("fake.md block 1 (line 4) shows\n3\nbut prints\n2")
    assert drifted_block.startswith("fake.md block 3 (line 19)")
    assert "routed to sandbox" in drifted_block
    assert unshown == "fake.md block 4 (line 28) shows\n(nothing)\nbut prints\nshown nowhere"


@pytest.mark.parametrize(
    ("shown", "printed", "matches"),
    [
        (["completed 100.00 USD"], "completed 100.00 USD\n", True),
        (["completed 100.00 USD"], "completed 100.00 USD  \n", True),  # trailing spaces
        (["completed 100.00 USD"], "completed 10.00 USD\n", False),
        (["completed"], "completed 100.00 USD\n", False),  # no prefix match without ...
        (["completed ..."], "completed 100.00 USD\n", True),
        (["... USD"], "completed 100.00 USD\n", True),
        (["pay_... for ord_1"], "pay_9f2c for ord_1\n", True),
        (["pay_... for ord_1"], "pay_9f2c for ord_2\n", False),
        (["a ..."], "a x\nb\n", False),  # ... never spans lines
        (["a", "b"], "a\n", False),  # a line missing
        ([], "", True),
        ([], "\n", False),  # an unshown blank line
        (["(1+1)*"], "(1+1)*\n", True),  # regex characters are literal
    ],
)
def test_output_matches(shown: list[str], printed: str, matches: bool) -> None:
    """Shown output matches line by line, exactly but for trailing spaces and ``...``."""
    assert output_matches(shown, printed) is matches


def test_output_comments_are_only_those_on_and_below_print_statements() -> None:
    """Comments after other statements or above a print are not taken as output."""
    code = (
        "# an ordinary comment\n"
        "x = 1  # also ordinary\n"
        "print(x)  # 1\n"
        "# 2nd line\n"
        "#\n"
        "\n"
        "# ordinary again\n"
        "for y in (1, 2):\n"
        "    print(\n"
        "        y,\n"
        "    )\n"
        "# 1\n"
        "# 2\n"
        "z = 3\n"
        "# ordinary\n"
    )
    assert _output_comments(code) == ["1", "2nd line", "", "1", "2"]
