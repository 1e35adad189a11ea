"""A griffe extension: paykit's reStructuredText roles become links in the API reference.

paykit's docstrings are written for ``help()`` and editors, in reStructuredText's inline
roles (``:class:`Money```, ``:meth:`~Payment.settle_refund```) and literal blocks (a
paragraph ending in ``::``). mkdocstrings reads Markdown, so before it renders a docstring
this extension turns each role into a cross-reference to the object it names -- a link when
the object is rendered in the reference, plain code when it is not (a private helper) --
and each ``::`` into the ``:`` that reStructuredText prints.

A role naming nothing that exists (a renamed class, a typo) is logged as a warning, which
fails ``mkdocs build --strict``. Names resolve as Python would see them from the docstring's
object (its module's imports and definitions, its class's members), then as a full path,
then from each package around the object (``paykit.service.``, ``paykit.``). Names of other
packages (``datetime.datetime``) are left to autorefs, unchecked.

It also documents ``PaymentService``'s flat names (``create_payment``): each is a one-line
delegate (``self.create_payment = self.payments.create``) that gets "Same as
``Payments.create``" as its docstring.
"""

# ruff: noqa: INP001 - loaded by path (mkdocs.yml), not imported as a package

from __future__ import annotations

import html
import logging
import re
from typing import Any

import griffe

_LOG = logging.getLogger("mkdocs.plugins.paykit.griffe_rst_roles")
_ROLE = re.compile(r":(?:class|meth|func|attr|data|mod|exc|obj):`(?P<target>[^`]+)`")
_LITERAL_BLOCK = re.compile(r"(?m)^(?P<text>.*\S)?::$")
_DELEGATE = re.compile(r"self\.(?P<part>\w+)\.(?P<method>\w+)")
_CONSTRUCTED = re.compile(r"(?P<cls>[A-Z]\w*)\(")


class RstRoles(griffe.Extension):
    """Rewrites every docstring once the package is loaded (``on_object``, ``on_package``)."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:  # noqa: ANN401 - griffe's signature
        """The package's own docstring (``on_object`` is fired for its members only)."""
        self.on_object(obj=pkg, loader=loader, **kwargs)

    def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader, **kwargs: Any) -> None:  # noqa: ANN401, ARG002 - griffe's signature
        """Turn ``obj``'s roles into cross-references and its ``::`` into ``:``."""
        if obj.docstring is None and isinstance(obj, griffe.Attribute):
            _document_delegate(obj)
        docstring = obj.docstring
        if docstring is None:
            return
        text = _ROLE.sub(lambda match: _reference(obj, match["target"]), docstring.value)
        docstring.value = _LITERAL_BLOCK.sub(_colon, text)


def _document_delegate(attribute: griffe.Attribute) -> None:
    """Give ``self.name = self.part.method`` the docstring "Same as ``Part.method``".

    ``PaymentService`` keeps the seed's flat names (``create_payment``) as one-line
    delegates to its parts' methods, which carry the documentation.
    """
    cls = attribute.parent
    match = _DELEGATE.fullmatch(str(attribute.value))
    if not isinstance(cls, griffe.Class) or match is None:
        return
    part = cls.members.get(match["part"])
    built = _CONSTRUCTED.match(str(part.value)) if isinstance(part, griffe.Attribute) else None
    if built is None:
        return
    target = f"{built['cls']}.{match['method']}"
    attribute.docstring = griffe.Docstring(
        f"Same as :meth:`{target}` (``{match['part']}.{match['method']}``).", parent=attribute
    )


def _colon(match: re.Match[str]) -> str:
    """``text::`` is ``text:``; a ``::`` alone on its line disappears."""
    text = match["text"]
    return "" if text is None else f"{text}:"


def _reference(obj: griffe.Object, target: str) -> str:
    """An optional autorefs cross-reference to ``target`` as seen from ``obj``."""
    short = target.startswith("~")
    name = target.removeprefix("~").removesuffix("()")
    shown = name.rsplit(".", 1)[-1] if short else name
    title = f"<code>{html.escape(shown)}</code>"
    path = _resolve(obj, name)
    if path is None:
        _LOG.warning("%s: its docstring names %r, which does not exist", obj.path, name)
        return title
    return f'<autoref identifier="{html.escape(path)}" optional>{title}</autoref>'


def _resolve(obj: griffe.Object, name: str) -> str | None:
    """The full path of ``name`` as seen from ``obj``, or ``None`` if it names nothing.

    Tried in order: Python's scope from ``obj``; ``.sibling.Name`` relative to ``obj``'s
    package; then ``name`` as a full path and as a path from each package around ``obj``
    (so a private module may name what its package exports).
    """
    package = obj.package
    module = obj.module
    here = module.path if module.is_init_module else module.parent.path if module.parent else ""
    candidates: list[str] = []
    if name.startswith("."):
        candidates.append(f"{here}{name}")
    else:
        first, _, rest = name.partition(".")
        try:
            resolved = obj.resolve(first)
        except griffe.NameResolutionError:
            pass
        else:
            if not resolved.startswith(f"{package.path}."):
                return ".".join(filter(None, (resolved, rest)))  # another package's name
            candidates.append(".".join(filter(None, (resolved, rest))))
        candidates.append(name)
        scope = here
        while scope:
            candidates.append(f"{scope}.{name}")
            scope = scope.rpartition(".")[0]
    return next((path for path in candidates if _exists(package, path)), None)


def _exists(package: griffe.Module, path: str) -> bool:
    """Whether ``path`` (``paykit.a.B.c``) names an object of ``package``."""
    if path == package.path:
        return True
    if not path.startswith(f"{package.path}."):
        return False
    try:
        package[path.removeprefix(f"{package.path}.")]
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return False
    return True
