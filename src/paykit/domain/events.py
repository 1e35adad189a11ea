"""Events paykit publishes to the host application after a change is committed."""

from __future__ import annotations

import copy
from datetime import datetime
from enum import StrEnum

import attrs

from paykit.domain.dispute import Dispute
from paykit.domain.payment import Payment
from paykit.domain.refund import Refund

__all__ = ["Event", "EventType"]


class EventType(StrEnum):
    """The host-facing event names (``payment.completed`` lets the host confirm its order)."""

    PAYMENT_CREATED = "payment.created"
    PAYMENT_PROCESSING = "payment.processing"
    PAYMENT_REQUIRES_ACTION = "payment.requires_action"
    PAYMENT_AUTHORIZED = "payment.authorized"
    PAYMENT_COMPLETED = "payment.completed"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_CANCELLED = "payment.cancelled"
    PAYMENT_PARTIALLY_REFUNDED = "payment.partially_refunded"
    PAYMENT_REFUNDED = "payment.refunded"
    REFUND_CREATED = "refund.created"
    REFUND_COMPLETED = "refund.completed"
    REFUND_FAILED = "refund.failed"
    REFUND_CANCELLED = "refund.cancelled"
    PAYMENT_NEEDS_REVIEW = "payment.needs_review"
    """The provider contradicts paykit's records; ``detail`` says how. Nothing was changed."""
    DISPUTE_CREATED = "dispute.created"
    DISPUTE_UPDATED = "dispute.updated"
    DISPUTE_CLOSED = "dispute.closed"
    PAYMENT_REVIEW_REQUIRED = "payment.review_required"
    """Fraud screening held the payment (authorized, not captured) for a person to approve
    or reject (``approve_review`` / ``reject_review``); ``detail`` names the rules."""
    AUTOMATION_DRY_RUN = "automation.dry_run"
    """An automated refund policy in dry-run mode would act on the payment; ``detail`` says how."""
    AUTOMATION_PROPOSED = "automation.proposed"
    """An automated refund policy proposes an action on the payment for a person to approve."""
    AUTOMATION_DONE = "automation.done"
    """An automated refund policy voided, cancelled or refunded the payment."""
    AUTOMATION_FAILED = "automation.failed"
    """An automated refund policy's void, cancel or refund was refused; a person must look."""
    AUTOMATION_DISMISSED = "automation.dismissed"
    """A person dismissed an automated refund policy's proposal."""


@attrs.frozen(kw_only=True)
class Event:
    """Something that happened, with the records as they were committed.

    ``refund`` is set on ``refund.*`` events, ``dispute`` on ``dispute.*`` events, and
    ``detail`` says in words what a ``payment.needs_review`` event is about. ``id`` is the
    event's own id, the same on every delivery of it (the outbox delivers at least once),
    so a subscriber can skip an event it has already handled.
    """

    type: EventType
    payment: Payment
    occurred_at: datetime
    refund: Refund | None = None
    dispute: Dispute | None = None
    detail: str = ""
    id: str = ""

    def detached(self) -> Event:
        """A copy whose records share nothing with the caller's or paykit's own objects."""
        return attrs.evolve(
            self,
            payment=copy.deepcopy(self.payment),
            refund=copy.deepcopy(self.refund),
            dispute=copy.deepcopy(self.dispute),
        )
