"""mkdocs hook: the errors page's tree and table come from the error classes themselves.

docs/errors.md keeps two generated regions, each between an opening marker
(``<!-- errors_page: tree -->``, ``<!-- errors_page: table -->``) and
``<!-- errors_page: end -->``. For the site this hook replaces them with what the classes say
now -- every ``PaykitError`` subclass in every public module of paykit, its ``code`` and the
attributes it carries -- so the site cannot drift from the code. So that the page read on
GitHub cannot drift either, the hook logs a warning (which fails ``mkdocs build --strict``,
so ``make test``) when the committed copy differs; running this file rewrites it::

    .venv/bin/python docs/hooks/errors_page.py

It also warns when an error has no section of guidance (a ``### `Name` — `code``` heading)
on the page, or a section names an error or a code that does not exist.
"""

# ruff: noqa: INP001 - loaded by path (mkdocs.yml), not imported as a package

from __future__ import annotations

import ast
import importlib
import inspect
import logging
import pkgutil
import re
import sys
import textwrap
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

import paykit
from paykit.errors import PaykitError

PAGE = "errors.md"
ROOT = Path(__file__).resolve().parents[2]
_LOG = logging.getLogger("mkdocs.plugins.paykit.errors_page")
_REGION = re.compile(
    r"(?P<open><!-- errors_page: (?P<name>\w+) -->\n)(?P<body>.*?)"
    r"(?P<close><!-- errors_page: end -->)",
    re.DOTALL,
)
_SECTION = re.compile(r"^### `(?P<name>\w+)` — `(?P<code>\w+)`$", re.MULTILINE)
_NOT_MODULES = frozenset({"migrations"})
"""Packages under paykit that are not Python API (Alembic's migration scripts)."""


def error_classes() -> list[type[PaykitError]]:
    """``PaykitError`` and every subclass paykit defines, parents before children.

    Every public module of paykit is imported first, so an error defined in an adapter or
    a test kit is found too (building the site needs the ``docs`` extra's dependencies).
    """
    for module in pkgutil.walk_packages(paykit.__path__, "paykit."):
        parts = module.name.split(".")
        if not any(part.startswith("_") or part in _NOT_MODULES for part in parts):
            importlib.import_module(module.name)
    found: list[type[PaykitError]] = []

    def visit(cls: type[PaykitError]) -> None:
        if cls.__module__.startswith("paykit."):
            found.append(cls)
            for subclass in cls.__subclasses__():
                visit(subclass)

    visit(PaykitError)
    return found


def import_path(cls: type[PaykitError]) -> str:
    """Where to import ``cls`` from: ``paykit`` when it is exported there."""
    name: str = cls.__name__
    if getattr(paykit, name, None) is cls:
        return name
    return f"{cls.__module__}.{cls.__qualname__}"


def attributes(cls: type[PaykitError]) -> list[str]:
    """What an instance carries besides ``code`` and ``message``, as Markdown.

    The attributes every ``__init__`` up the class tree assigns (``self.field = ...``), then
    the class's public constants with their value (``retryable`` = ``True``).
    """
    names: list[str] = []
    constants: dict[str, object] = {}
    for klass in reversed(cls.__mro__):
        if not issubclass(klass, PaykitError):
            continue
        if "__init__" in vars(klass):
            names += [name for name in _assigned(klass) if name not in names]
        constants.update(
            (name, value)
            for name, value in vars(klass).items()
            if not name.startswith("_") and name != "code" and not callable(value)
        )
    shown = [f"`{name}`" for name in names if name != "message" and name not in constants]
    shown += [f"`{name}` = `{value!r}`" for name, value in constants.items()]
    return shown


def _assigned(klass: type[PaykitError]) -> list[str]:
    """The ``self.<name>`` attributes ``klass.__init__`` assigns, in order."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(vars(klass)["__init__"])))
    names: list[str] = []
    for node in ast.walk(tree):
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        for target in targets:
            if (
                isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id == "self"
                and not target.attr.startswith("_")
                and target.attr not in names
            ):
                names.append(target.attr)
    return names


def render_tree(classes: list[type[PaykitError]]) -> str:
    """The class tree with each class's ``code``, as a fenced text block."""
    lines: list[tuple[str, str]] = []

    def draw(cls: type[PaykitError], prefix: str, branch: str) -> None:
        lines.append((f"{prefix}{branch}{cls.__name__}", cls.code))
        children = [sub for sub in classes if cls in sub.__bases__]
        indent = prefix + ("" if not branch else "    " if branch == "└── " else "│   ")
        for number, child in enumerate(children, start=1):
            draw(child, indent, "└── " if number == len(children) else "├── ")

    draw(classes[0], "", "")
    width = max(len(label) for label, _ in lines) + 2
    body = "\n".join(f"{label.ljust(width)}{code}" for label, code in lines)
    return f"```text\n{body}\n```\n"


def render_table(classes: list[type[PaykitError]]) -> str:
    """One row per class: where to import it from, its ``code``, its other attributes."""
    rows = [
        "| class | `code` | attributes besides `code` and `message` |",
        "|-------|--------|------------------------------------------|",
    ]
    for cls in classes:
        name = f"`{import_path(cls)}`"
        if cls is not PaykitError:  # the root has no section of its own
            name = f"[{name}](#{section_anchor(cls)})"
        rows.append(f"| {name} | `{cls.code}` | {', '.join(attributes(cls))} |")
    return "\n".join(rows) + "\n"


def section_anchor(cls: type[PaykitError]) -> str:
    """The anchor of ``cls``'s section, as GitHub and the site's ``toc`` slugify both make it."""
    title = f"{cls.__name__} — {cls.code}".lower()
    return re.sub(r"[^\w\- ]", "", title).replace(" ", "-")


def generated_regions() -> dict[str, str]:
    """The current text of each generated region, by name."""
    classes = error_classes()
    return {"tree": render_tree(classes), "table": render_table(classes)}


def regenerate(markdown: str, regions: dict[str, str]) -> tuple[str, list[str]]:
    """``markdown`` with its regions replaced, and the names of those that were stale."""
    stale: list[str] = []
    seen: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in regions:
            stale.append(name)
            return match[0]
        seen.add(name)
        if match["body"] != regions[name]:
            stale.append(name)
        return f"{match['open']}{regions[name]}{match['close']}"

    text = _REGION.sub(replace, markdown)
    stale += sorted(set(regions) - seen)
    return text, stale


def guidance_problems(markdown: str, classes: list[type[PaykitError]]) -> list[str]:
    """Errors without a section of guidance, and sections naming no such error or code."""
    codes = {cls.__name__: cls.code for cls in classes}
    sections = {match["name"]: match["code"] for match in _SECTION.finditer(markdown)}
    problems = [
        f"no section '### `{name}` — `{code}`' for {name}"
        for name, code in codes.items()
        if name not in sections and name != PaykitError.__name__
    ]
    problems += [
        f"the section for `{name}` names code `{code}`, but {name}.code is `{codes[name]}`"
        if name in codes
        else f"the section for `{name}` names an error that does not exist"
        for name, code in sections.items()
        if codes.get(name) != code
    ]
    return problems


def on_page_markdown(markdown: str, *, page: Page, config: MkDocsConfig, files: Files) -> str:  # noqa: ARG001 - mkdocs' signature
    """Regenerate the errors page's tree and table, and check its guidance sections."""
    if page.file.src_uri != PAGE:
        return markdown
    regions = generated_regions()
    text, stale = regenerate(markdown, regions)
    for name in stale:
        _LOG.warning(
            "docs/%s: the generated error %s is out of date or missing; "
            "run `.venv/bin/python docs/hooks/errors_page.py` to rewrite it",
            PAGE,
            name,
        )
    for problem in guidance_problems(markdown, error_classes()):
        _LOG.warning("docs/%s: %s", PAGE, problem)
    return text


def main() -> int:
    """Rewrite docs/errors.md's generated regions with what the classes say now."""
    path = ROOT / "docs" / PAGE
    text, stale = regenerate(path.read_text(encoding="utf-8"), generated_regions())
    missing = [name for name in stale if f"<!-- errors_page: {name} -->" not in text]
    if missing:
        sys.stderr.write(f"docs/{PAGE} has no region for: {', '.join(missing)}\n")
        return 2
    path.write_text(text, encoding="utf-8")
    sys.stdout.write(f"docs/{PAGE}: rewrote {', '.join(stale)}\n" if stale else "up to date\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
