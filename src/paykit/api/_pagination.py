"""Cursor pagination, as Stripe's lists: ``limit``, ``starting_after``, ``ending_before``.

Records are listed oldest first, so a record created later never moves an earlier one:
a cursor (the id of the last record a client saw) stays valid while records are added, and
no page repeats or skips one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Final, Protocol, TypeVar

from fastapi import Query

from paykit.errors import ValidationError

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Cursor",
    "EndingBefore",
    "Limit",
    "StartingAfter",
    "page_of",
]

DEFAULT_LIMIT: Final = 10
MAX_LIMIT: Final = 100

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="At most this many (1-100)")]
StartingAfter = Annotated[
    str | None, Query(max_length=255, description="The page after the record with this id")
]
EndingBefore = Annotated[
    str | None, Query(max_length=255, description="The page before the record with this id")
]


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=_HasId)


class Cursor:
    """The pagination arguments of one list request."""

    def __init__(self, limit: int, starting_after: str | None, ending_before: str | None) -> None:
        if starting_after is not None and ending_before is not None:
            msg = "give starting_after or ending_before, not both"
            raise ValidationError(msg, field="ending_before")
        self.limit = limit
        self.starting_after = starting_after
        self.ending_before = ending_before


def page_of(records: Sequence[R], cursor: Cursor) -> tuple[list[R], bool]:
    """One page of ``records`` (oldest first) and whether more lie beyond it.

    ``has_more`` looks in the direction of travel: after the page for ``starting_after`` (and
    for the first page), before it for ``ending_before``.
    """
    ids = [record.id for record in records]
    if cursor.ending_before is not None:
        end = _position(ids, cursor.ending_before, "ending_before")
        start = max(0, end - cursor.limit)
        return list(records[start:end]), start > 0
    start = 0
    if cursor.starting_after is not None:
        start = _position(ids, cursor.starting_after, "starting_after") + 1
    end = start + cursor.limit
    return list(records[start:end]), end < len(records)


def _position(ids: list[str], record_id: str, field: str) -> int:
    try:
        return ids.index(record_id)
    except ValueError:
        msg = f"{record_id!r} is not in this list; pass the id of a record a page showed"
        raise ValidationError(msg, field=field) from None
