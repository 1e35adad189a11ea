"""The envelope's text markers, importable without the ``cryptography`` package.

A storage without a key ring still recognises an encrypted value (and refuses to hand it
out as if it were plaintext) by these alone.
"""

from __future__ import annotations

from typing import Final, TypeGuard

__all__ = ["CUSTOMER_KEY_MARK", "PREFIX", "SEPARATOR", "is_sealed", "key_ref_of"]

PREFIX: Final = "pkenc1:"
"""Every encrypted value starts so: format version 1."""
SEPARATOR: Final = ":"
CUSTOMER_KEY_MARK: Final = "@"
"""A key ref starting so names a customer's data key, not a ring key."""


def is_sealed(value: object) -> TypeGuard[str]:
    """Whether a stored value is an envelope rather than plaintext."""
    return isinstance(value, str) and value.startswith(PREFIX)


def key_ref_of(value: str) -> str:
    """The key ref an envelope names (``""`` if it names none)."""
    return value[len(PREFIX) :].partition(SEPARATOR)[0]
