"""The default clock and id factory; both can be replaced for deterministic tests."""

from __future__ import annotations

import os
from datetime import UTC, datetime

__all__ = ["new_id", "utc_now"]


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """A random, prefixed id such as ``pay_3f9c...`` (96 random bits)."""
    return f"{prefix}_{os.urandom(12).hex()}"
