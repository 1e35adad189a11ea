r"""Text every storage can keep: no NUL character, no lone surrogate.

PostgreSQL refuses NUL in text and JSON (psycopg raises ``DataError``), and a lone UTF-16
surrogate (``"\ud800"``) cannot be encoded as UTF-8, so SQLite's driver raises
``UnicodeEncodeError``; the in-memory store would keep either. Refusing both at the edge, with
the field named, makes every storage answer the same way and nothing is half-written.
"""

from __future__ import annotations

from paykit.errors import ValidationError

__all__ = ["reject_unstorable_text"]


def reject_unstorable_text(field: str, text: str) -> None:
    """Raise :class:`ValidationError` if ``text`` holds a NUL or a lone surrogate."""
    if "\x00" in text:
        raise ValidationError("must not contain a NUL character (\\x00)", field=field)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            "must be valid Unicode text; it holds a lone surrogate (e.g. '\\ud800')",
            field=field,
        ) from None
