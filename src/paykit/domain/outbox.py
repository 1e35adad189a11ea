"""The event outbox: each host event, written in the unit of work that caused it.

A message is stored in the same commit as the change its event describes, so an event can
no longer be lost between the commit and the subscriber: a dispatcher delivers every
``pending`` message at least once, in order per payment, and marks it ``delivered``; a
message whose subscribers keep failing is retried with a growing delay and, after the last
attempt, set aside as ``dead`` (a dead letter) for someone to look at.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import attrs

from paykit.domain.events import Event

__all__ = ["OutboxMessage", "OutboxStatus"]


class OutboxStatus(StrEnum):
    """Where a message is in its delivery."""

    PENDING = "pending"
    """Not delivered yet: due at ``next_attempt_at`` (a retry, or a delivery under way)."""
    DELIVERED = "delivered"
    """Every subscriber took it without raising."""
    DEAD = "dead"
    """Given up on after ``attempts`` failed deliveries; listed for a person to look at."""


@attrs.define(kw_only=True)
class OutboxMessage:
    """One host event waiting for, or done with, its delivery.

    ``id`` is the event's own id (:attr:`Event.id`), the same on every delivery, so a
    subscriber can recognise an event it has already handled. ``payment_id`` orders the
    deliveries: a payment's messages are delivered one after the other, oldest first.
    ``next_attempt_at`` is when the message is next due; a dispatcher delivering it moves
    it into the future first (a lease), so that no other dispatcher delivers it meanwhile.
    ``last_error`` names the exception of the last failed delivery (never its arguments'
    secrets: the message is the exception's, as subscribers wrote it).
    """

    id: str
    payment_id: str
    event: Event
    created_at: datetime
    next_attempt_at: datetime
    status: OutboxStatus = OutboxStatus.PENDING
    attempts: int = 0
    last_error: str | None = None
    delivered_at: datetime | None = None
    version: int = 0
