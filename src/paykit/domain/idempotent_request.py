"""An API request remembered by its ``Idempotency-Key``, so a retry gets the first answer.

The HTTP API (IETF httpapi ``Idempotency-Key`` draft, Stripe's semantics) claims a key
before it does the work: it stores an ``in_progress`` record for ``(owner, key)`` --
unique in storage, so of two concurrent requests with one key only one claim commits, and
the other finds the winner's -- then does the work and completes the record with the
answer it gave. A retry with the same key and the same request (``fingerprint``) is
answered from the record; with another request it is refused. A claim whose request
crashed stops blocking its key after ``locked_until``; every record is swept once past
``expires_at``.

Storage keeps what the API hands it; the API decides what a fingerprint is and removes
secrets from the body before it is stored.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Final

import attrs

from paykit.domain.text import reject_unstorable_text
from paykit.errors import ValidationError

__all__ = ["MAX_IDEMPOTENCY_KEY_LENGTH", "IdempotentRequest", "IdempotentRequestStatus"]

MAX_IDEMPOTENCY_KEY_LENGTH: Final = 255
"""The longest ``key`` (and ``owner``) a record takes: what every storage keeps."""


class IdempotentRequestStatus(StrEnum):
    """Whether the request behind a key has been answered."""

    IN_PROGRESS = "in_progress"
    """Claimed: the first request with this key is still running (or crashed)."""
    COMPLETED = "completed"
    """Answered: ``response_status`` and ``response_body`` are what a replay returns."""


def _check_text(_record: object, attribute: attrs.Attribute[str], value: str) -> None:
    """Refuse an empty or overlong owner or key, or one no storage can keep unchanged."""
    if not 1 <= len(value) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        msg = f"must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters long, not {len(value)}"
        raise ValidationError(msg, field=attribute.name)
    reject_unstorable_text(attribute.name, value)


@attrs.define(kw_only=True)
class IdempotentRequest:
    """One request made with an ``Idempotency-Key``: its claim, then the answer it got.

    Unique in storage by ``(owner, key)``: the same key of two owners is two records. A
    second record for a pair already stored makes its commit raise
    :class:`~paykit.errors.ConcurrencyConflict`. ``owner`` and ``key`` do not change
    once the record is stored.
    """

    id: str
    """paykit's id of the record."""
    owner: str = attrs.field(validator=_check_text)
    """Whom the key belongs to: the API's principal, e.g. ``customer:cus_1`` or ``staff:alice``."""
    key: str = attrs.field(validator=_check_text)
    """The client's ``Idempotency-Key``, 1 to 255 characters."""
    fingerprint: str
    """What the request was (the API's hash of its method, path and body): a replay must match."""
    status: IdempotentRequestStatus
    """``in_progress`` while the first request runs, ``completed`` once it was answered."""
    response_status: int | None = None
    """The HTTP status code of the answer (``None`` while in progress)."""
    response_body: str | None = None
    """The answer's body as JSON text, secrets already removed (``None`` while in progress)."""
    created_at: datetime
    """When the key was first claimed."""
    locked_until: datetime | None = None
    """An ``in_progress`` claim older than this is abandoned (its request crashed), so a
    retry may take the key over; ``None`` once completed."""
    expires_at: datetime
    """From this moment the record is forgotten: listed by ``list_expired`` for the sweep
    (24 hours after ``created_at`` by default)."""
    version: int = 0
    """The stored version, for optimistic concurrency (0 until first committed)."""
