"""The documentation site's API reference covers every public name, and each has a docstring.

The public API is every name in the ``__all__`` of paykit's public packages (every package
whose path has no ``_`` part: ``paykit``, ``paykit.service``, ``paykit.gateways``,
``paykit.storage.sql``, ``paykit.testing``, ...), of ``paykit.contrib``'s modules, and of the
few modules the guides send readers to (``EXTRA_MODULES``). The reference pages
(docs/reference/*.md) render objects with mkdocstrings' ``::: identifier`` blocks; each
public object must be rendered by exactly one of them, under a path it is exported as.

The hooks the site is built with (docs/hooks/) are tested here too. ``mkdocs build --strict``
itself runs in ``make test``, not here: it takes seconds.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import griffe
import pytest

ROOT = Path(__file__).parent.parent
REFERENCE = ROOT / "docs" / "reference"
EXTRA_MODULES = ("paykit.gateways.base", "paykit.gateways.manual", "paykit.storage.base")
"""Modules (not packages) whose names the guides use: the protocols and the offline gateway."""
NOT_API = frozenset({"paykit.storage.sql.migrations", "paykit.storage.sql.migrations.versions"})
"""Public-looking packages that are not Python API: Alembic's migration scripts."""
_DIRECTIVE = re.compile(r"^::: (?P<identifier>\S+)\n(?P<options>(?:[ \t]+\S.*\n)*)", re.MULTILINE)


@pytest.fixture(scope="module")
def package() -> griffe.Module:
    """paykit, loaded statically by griffe (as mkdocstrings loads it for the site)."""
    loaded = griffe.load(
        "paykit", search_paths=[str(ROOT / "src")], docstring_parser=griffe.Parser.google
    )
    assert isinstance(loaded, griffe.Module)
    return loaded


def _modules(module: griffe.Module) -> Iterator[griffe.Module]:
    yield module
    for submodule in module.modules.values():
        yield from _modules(submodule)


def _is_public(path: str) -> bool:
    return not any(part.startswith("_") for part in path.split("."))


def api_modules(package: griffe.Module) -> list[griffe.Module]:
    """The modules whose ``__all__`` is the public API, as the module docstring says."""
    chosen = [
        module
        for module in _modules(package)
        if _is_public(module.path)
        and module.path not in NOT_API
        and (module.is_init_module or module.path.startswith("paykit.contrib."))
    ]
    chosen += [_get(package, path) for path in EXTRA_MODULES]
    return chosen


def _get(package: griffe.Module, path: str) -> griffe.Module:
    found = package if path == package.path else package[path.removeprefix("paykit.")]
    assert isinstance(found, griffe.Module)
    return found


def _target(obj: griffe.Object | griffe.Alias) -> griffe.Object:
    """The object itself, not the import that re-exports it."""
    return obj.final_target if isinstance(obj, griffe.Alias) else obj


def public_names(package: griffe.Module) -> dict[str, griffe.Object]:
    """Every public name (``module.name``) and the object it is."""
    names: dict[str, griffe.Object] = {}
    for module in api_modules(package):
        exported = (name if isinstance(name, str) else name.name for name in module.exports or ())
        for name in sorted(exported):
            names[f"{module.path}.{name}"] = _target(module[name])
    return names


def test_the_api_modules_are_found(package: griffe.Module) -> None:
    """The walk finds the packages the site documents, and each one declares ``__all__``."""
    paths = {module.path for module in api_modules(package)}
    assert {
        "paykit",
        "paykit.api",
        "paykit.contrib",
        "paykit.contrib.django",
        "paykit.gateways.paypal",
        "paykit.gateways.stripe",
        "paykit.service",
        "paykit.storage.sql",
        "paykit.testing",
    } <= paths
    undeclared = [module.path for module in api_modules(package) if module.exports is None]
    assert undeclared == [], "these public packages need an __all__ (or a place in NOT_API)"


def test_every_public_name_has_a_docstring(package: griffe.Module) -> None:
    """A name exported by a public module says what it is (the reference renders it)."""
    missing = [
        name
        for name, obj in public_names(package).items()
        if obj.docstring is None or not obj.docstring.value.strip()
    ]
    assert missing == [], "add a docstring to each (for a constant, a string below it)"


def test_every_public_method_has_a_docstring(package: griffe.Module) -> None:
    """The public methods and properties of the public classes have a docstring too."""
    missing: list[str] = []
    classes = {obj.path: obj for obj in public_names(package).values() if obj.is_class}
    for cls in classes.values():
        for name, member in cls.members.items():
            documented = member.is_alias or member.docstring is not None
            is_method = member.is_function or "property" in member.labels
            if not name.startswith("_") and is_method and not documented:
                missing.append(f"{cls.path}.{name}")
    assert missing == []


def _directives() -> list[tuple[str, str, str]]:
    """Every ``::: identifier`` of the reference pages: (page, identifier, its options)."""
    return [
        (page.name, match["identifier"], match["options"])
        for page in sorted(REFERENCE.glob("*.md"))
        for match in _DIRECTIVE.finditer(page.read_text(encoding="utf-8"))
    ]


def test_the_reference_renders_every_public_object_once(package: griffe.Module) -> None:
    """Each public object is rendered by one ``:::`` block, under a path it is exported as."""
    names = public_names(package)
    modules = {module.path for module in _modules(package) if _is_public(module.path)}
    rendered: dict[str, list[str]] = {}
    problems: list[str] = []
    for page, identifier, options in _directives():
        if identifier in modules:  # a module's docstring as the page's introduction
            if "members: false" not in options:
                problems.append(f"{page}: ::: {identifier} needs 'members: false'")
            continue
        if identifier not in names:
            problems.append(f"{page}: ::: {identifier} is not a public name")
            continue
        rendered.setdefault(names[identifier].path, []).append(f"{page}: {identifier}")
    problems += [
        f"rendered {len(where)} times: {', '.join(where)}"
        for where in rendered.values()
        if len(where) > 1
    ]
    problems += [
        f"{name} is in no reference page (docs/reference/*.md)"
        for name, obj in names.items()
        if obj.path not in rendered
    ]
    assert problems == []


def _hook(name: str) -> ModuleType:
    """A module of docs/hooks/, loaded by path as mkdocs loads it."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / "hooks" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_errors_page_is_up_to_date() -> None:
    """docs/errors.md's generated tree and table are what the error classes say now."""
    errors_page = _hook("errors_page")
    text = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")

    _, stale = errors_page.regenerate(text, errors_page.generated_regions())
    problems = errors_page.guidance_problems(text, errors_page.error_classes())

    assert stale == [], "run .venv/bin/python docs/hooks/errors_page.py"
    assert problems == []


def test_the_errors_page_lists_every_error_and_its_code() -> None:
    """Every ``PaykitError`` subclass, wherever defined, is in the table with its code."""
    from paykit.errors import PaykitError  # noqa: PLC0415 - after the hook imported everything
    from paykit.gateways.manual import TransferClosedError  # noqa: PLC0415

    errors_page = _hook("errors_page")
    classes = errors_page.error_classes()
    table = errors_page.render_table(classes)

    assert classes[0] is PaykitError
    assert TransferClosedError in classes  # defined beside its gateway, not in paykit.errors
    assert (
        "[`paykit.gateways.manual.TransferClosedError`](#transferclosederror--transfer_closed)"
        in (table)
    )
    for cls in classes:
        assert f"| `{cls.code}` |" in table


def test_the_errors_hook_reports_stale_regions_and_missing_guidance() -> None:
    """A region that differs is stale; an error without a section, or a wrong code, is named."""
    errors_page = _hook("errors_page")
    classes = errors_page.error_classes()
    page = (
        "<!-- errors_page: tree -->\nold tree\n<!-- errors_page: end -->\n"
        "### `NotFound` — `not_found`\n"
        "### `ValidationError` — `invalid`\n"
        "### `GoneError` — `gone`\n"
    )

    text, stale = errors_page.regenerate(page, {"tree": "new tree\n", "table": "t\n"})
    problems = errors_page.guidance_problems(page, classes)

    assert "new tree" in text
    assert stale == ["tree", "table"]  # the table region is missing altogether
    assert "no section '### `IdempotencyConflict` — `idempotency_conflict`'" in " ".join(problems)
    assert any("ValidationError.code is `validation_error`" in problem for problem in problems)
    assert any("`GoneError` names an error that does not exist" in problem for problem in problems)
    assert not any("`NotFound`" in problem for problem in problems)


def test_the_repository_hook_flags_code_that_does_not_exist() -> None:
    """Inline ``paykit.*`` names and repository paths must exist; code blocks are not read."""
    repository = _hook("repository")
    page = (
        "`paykit.Money`, `paykit.PaymentService.create_payment()`, `paykit.webhooks` (a logger),\n"
        "`src/paykit/money.py`, `tests/`, `paykit.Nothing`, `src/paykit/nothing.py`\n"
        "```python\nimport paykit.Missing  # `paykit.AlsoMissing`\n```\n"
    )

    problems = repository.code_reference_problems(page)

    assert problems == [
        "names `paykit.Nothing`, which is not an object of paykit",
        "names `src/paykit/nothing.py`, which is not a path in the repository",
    ]


def test_docstring_roles_become_references(caplog: pytest.LogCaptureFixture) -> None:
    """``:class:`Name``` links to what ``Name`` is where it is written; a typo is a warning."""
    roles = _hook("griffe_rst_roles")
    code = '''
        """See :class:`Money`, :meth:`~Money.of` and :func:`nothing_here`.

        Example::

            Money.of("1.00", "USD")
        """
        from paykit.money import Money
    '''
    with (
        caplog.at_level(logging.WARNING),
        griffe.temporary_pypackage("shop", {"__init__.py": textwrap.dedent(code)}) as tmp,
    ):
        shop = griffe.load(
            "shop",
            search_paths=[tmp.tmpdir],
            extensions=griffe.load_extensions(roles.RstRoles),
        )
    assert shop.docstring is not None
    text = shop.docstring.value

    assert '<autoref identifier="paykit.money.Money" optional><code>Money</code>' in text
    assert '<autoref identifier="paykit.money.Money.of" optional><code>of</code>' in text
    assert "<code>nothing_here</code>." in text  # no link: there is nothing to link to
    assert "Example:\n" in text
    assert "'nothing_here', which does not exist" in caplog.text


def test_readme_links_resolve() -> None:
    """Every relative link in README.md names a file of the repository."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\((?!https?://|#)([^)#\s]+)", text)
    assert "docs/index.md" in targets
    missing = [target for target in targets if not (ROOT / target).exists()]
    assert missing == []
