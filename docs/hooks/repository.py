"""mkdocs hook: the pages are written for the repository; this makes them work as a site too.

The pages in docs/ are read on GitHub as much as on the site, so they link to files by their
paths in the repository. This hook:

- adds the changelog page (``changelog.md``), built from CHANGELOG.md at the repository root;
- turns links to files outside docs/ (``../README.md#status``, ``../examples/x.py``) into
  links to those files on GitHub (``repo_url``), and a link to CHANGELOG.md into one to the
  changelog page; a link to a file that does not exist is left alone, for mkdocs to report;
- checks the code a page names in inline code: a dotted ``paykit.a.B`` must be an object of
  the package or a logger paykit logs on, and a path under ``src/``, ``tests/``,
  ``examples/``, ``bench/`` or ``docs/`` must exist. Anything else is logged as a warning,
  which fails ``mkdocs build --strict``.
"""

# ruff: noqa: INP001 - loaded by path (mkdocs.yml), not imported as a package

from __future__ import annotations

import logging
import posixpath
import re
from functools import cache
from pathlib import Path

import griffe
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.livereload import LiveReloadServer
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parents[2]
CHANGELOG = "CHANGELOG.md"
CHANGELOG_PAGE = "changelog.md"
BRANCH = "main"
_LOG = logging.getLogger("mkdocs.plugins.paykit.repository")
_LINK = re.compile(r"(?P<open>\]\()(?P<target>[^)\s#]+)(?P<anchor>#[^)\s]*)?(?P<close>\))")
_FENCED = re.compile(r"^(?P<fence>```+|~~~+).*?^(?P=fence)[ \t]*$", re.DOTALL | re.MULTILINE)
_INLINE_CODE = re.compile(r"(?<!`)`(?P<code>[^`\n]+)`(?!`)")
_NAME = re.compile(r"paykit(?:\.[A-Za-z_]\w*)+(?:\(\))?")
_PATH = re.compile(r"(?:src|tests|examples|bench|docs)/[\w./-]*")
_LOGGER = re.compile(r"""getLogger\(\s*["'](?P<name>paykit[\w.]*)["']\s*\)""")


def on_files(files: Files, *, config: MkDocsConfig) -> Files:
    """Add the changelog page, generated from CHANGELOG.md."""
    files.append(File.generated(config, CHANGELOG_PAGE, content=changelog(config)))
    return files


def changelog(config: MkDocsConfig) -> str:
    """CHANGELOG.md with its links made relative to docs/ (where the page is served from)."""
    text = (ROOT / CHANGELOG).read_text(encoding="utf-8")
    return _rewrite_links(text, source=ROOT / CHANGELOG, config=config)


def on_page_markdown(markdown: str, *, page: Page, config: MkDocsConfig, files: Files) -> str:  # noqa: ARG001 - mkdocs' signature
    """Point links outside docs/ to GitHub, and check the code the page names."""
    if page.file.generated_by is not None:  # the changelog: rewritten when generated
        return markdown
    source = Path(config.docs_dir) / page.file.src_path
    for problem in code_reference_problems(markdown):
        _LOG.warning("Doc file '%s' %s", page.file.src_uri, problem)
    return _rewrite_links(markdown, source=source, config=config)


def on_serve(server: LiveReloadServer, *, config: MkDocsConfig, builder: object) -> None:  # noqa: ARG001 - mkdocs' signature
    """Rebuild when CHANGELOG.md changes, as for a page."""
    server.watch(str(ROOT / CHANGELOG))


def _rewrite_links(markdown: str, *, source: Path, config: MkDocsConfig) -> str:
    """``markdown`` (from the file ``source``) with links outside docs/ fixed for the site."""
    docs = Path(config.docs_dir).resolve()
    repo_url = (config.repo_url or "").rstrip("/")

    def fix(match: re.Match[str]) -> str:
        target = match["target"]
        if "://" in target or target.startswith(("/", "mailto:")):
            return match[0]
        path = (source.parent / target).resolve()
        if path.is_relative_to(docs) or not path.is_relative_to(ROOT) or not path.exists():
            return match[0]  # a page, or a file that does not exist: mkdocs judges it
        if path == ROOT / CHANGELOG and source.resolve().is_relative_to(docs):
            new = posixpath.relpath(CHANGELOG_PAGE, source.parent.resolve().relative_to(docs))
        else:
            kind = "tree" if path.is_dir() else "blob"
            new = f"{repo_url}/{kind}/{BRANCH}/{path.relative_to(ROOT).as_posix()}"
        return f"{match['open']}{new}{match['anchor'] or ''}{match['close']}"

    if source.parent.resolve() == ROOT:  # CHANGELOG.md: docs/x.md is the page x.md
        markdown = re.sub(r"\]\(docs/", "](", markdown)
    return _LINK.sub(fix, markdown)


def code_reference_problems(markdown: str) -> list[str]:
    """What the page names in inline code that does not exist, one line each."""
    problems: list[str] = []
    prose = _FENCED.sub("", markdown)
    for match in _INLINE_CODE.finditer(prose):
        code = match["code"].strip()
        if _NAME.fullmatch(code):
            name = code.removesuffix("()")
            if not _object_exists(name) and name not in _loggers():
                problems.append(f"names `{code}`, which is not an object of paykit")
        elif _PATH.fullmatch(code) and not (ROOT / code.rstrip("/")).exists():
            problems.append(f"names `{code}`, which is not a path in the repository")
    return problems


@cache
def _package() -> griffe.Module:
    """paykit, loaded statically (no import, so no optional dependency is needed)."""
    package = griffe.load("paykit", search_paths=[str(ROOT / "src")], resolve_aliases=False)
    assert isinstance(package, griffe.Module)  # noqa: S101 - a package loads as a module
    return package


def _object_exists(name: str) -> bool:
    """Whether ``paykit.a.B`` names a module, class, function or attribute of paykit."""
    package = _package()
    if name == package.path:
        return True
    try:
        package[name.removeprefix(f"{package.path}.")]
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return False
    return True


@cache
def _loggers() -> frozenset[str]:
    """The names of the loggers paykit's code logs on (``paykit.webhooks``, ...)."""
    return frozenset(
        match["name"]
        for path in (ROOT / "src" / "paykit").rglob("*.py")
        for match in _LOGGER.finditer(path.read_text(encoding="utf-8"))
    )
