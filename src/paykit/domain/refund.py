"""Refund: money going back to the customer, and its state machine.

::

    pending ──> processing ──> completed
       │            └──> failed
       └──> cancelled

A refund reserves its amount on the payment from the moment it is created (see
``Payment.reserve_refund``); ``failed`` and ``cancelled`` release the reservation and
``completed`` books it as refunded.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Final

import attrs

from paykit.domain._transitions import check_transition
from paykit.money import Money

__all__ = ["REFUND_TRANSITIONS", "Refund", "RefundStatus"]


class RefundStatus(StrEnum):
    """Where a refund stands."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


_R = RefundStatus

REFUND_TRANSITIONS: Final[dict[RefundStatus, frozenset[RefundStatus]]] = {
    _R.PENDING: frozenset({_R.PROCESSING, _R.CANCELLED}),
    _R.PROCESSING: frozenset({_R.COMPLETED, _R.FAILED}),
    _R.COMPLETED: frozenset(),
    _R.FAILED: frozenset(),
    _R.CANCELLED: frozenset(),
}
"""Every allowed refund move; any move not listed raises ``InvalidStateTransition``."""

IN_FLIGHT_STATUSES: Final = frozenset({_R.PENDING, _R.PROCESSING})
"""Refunds whose amount is reserved against the payment's refundable balance."""


@attrs.define(kw_only=True)
class Refund:
    """A full or partial refund of one payment."""

    id: str
    payment_id: str
    amount: Money
    reason: str = ""
    status: RefundStatus = RefundStatus.PENDING
    provider_refund_id: str | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict)
    idempotency_key: str | None = None
    attempt_count: int = 0
    failure_code: str | None = None
    failure_message: str | None = None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None = None
    """When the refund was sent to its provider (the claim before the request)."""
    completed_at: datetime | None = None
    reconcile_attempts: int = 0
    """How many times a reconciliation sweep has asked the provider about this refund."""
    next_reconcile_at: datetime | None = None
    """When a sweep may ask next: a worker's claim, then the backoff after an unknown answer."""
    version: int = 0

    def transition_to(self, target: RefundStatus, now: datetime) -> None:
        """Move to ``target`` if the state machine allows it; otherwise raise and change nothing."""
        check_transition(REFUND_TRANSITIONS, "refund", self.status, target)
        self.status = target
        self.updated_at = now
        if target not in IN_FLIGHT_STATUSES:
            self.completed_at = now
