"""The default clock and id factory; both can be replaced for deterministic tests."""

from __future__ import annotations

import os
from collections import deque
from datetime import UTC, datetime
from typing import Final

__all__ = ["new_id", "utc_now"]


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


# Hex digits spelt as letters: generated ids never contain a run of digits, so they can
# never look like a card number to the PCI guard that checks every id a caller passes in.
_LETTERS_FOR_HEX: Final = str.maketrans("0123456789", "ghijklmnop")

_RANDOM_BYTES: Final = 12
"""Random bytes per id: 96 bits, 24 letters."""
_BATCH: Final = 256
"""Ids drawn from the OS in one call."""

_suffixes: deque[str] = deque()
"""Unused id suffixes, each from its own 12 bytes of ``os.urandom``."""


def _refill() -> None:
    """Draw :data:`_BATCH` suffixes at once: one system call and one translation, not 256."""
    letters = os.urandom(_RANDOM_BYTES * _BATCH).hex().translate(_LETTERS_FOR_HEX)
    width = 2 * _RANDOM_BYTES
    _suffixes.extend(letters[start : start + width] for start in range(0, len(letters), width))


# A forked child must not hand out the suffixes its parent still holds.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_suffixes.clear)


def new_id(prefix: str) -> str:
    """A random, prefixed id such as ``pay_kgfbmhap...`` (96 random bits, letters only).

    Every id has its own 96 bits from ``os.urandom``, exactly as if it were drawn alone;
    they are only fetched and spelt in batches. ``deque.pop`` is atomic, so threads never
    share a suffix.
    """
    while True:
        try:
            return f"{prefix}_{_suffixes.pop()}"
        except IndexError:
            _refill()
