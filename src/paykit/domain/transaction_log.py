"""The transaction audit log: append-only entries, one per thing that happened to a payment."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs

from paykit.money import Money

__all__ = ["LogType", "TransactionLogEntry"]


class LogType(StrEnum):
    """What an entry records. The first seven are the original app's log types."""

    PAYMENT_CREATED = "payment_created"
    PAYMENT_PROCESSED = "payment_processed"
    PAYMENT_FAILED = "payment_failed"
    REFUND_CREATED = "refund_created"
    REFUND_PROCESSED = "refund_processed"
    WEBHOOK_RECEIVED = "webhook_received"
    ERROR = "error"
    PAYMENT_PROCESSING = "payment_processing"
    PAYMENT_REQUIRES_ACTION = "payment_requires_action"
    PAYMENT_AUTHORIZED = "payment_authorized"
    PAYMENT_CAPTURED = "payment_captured"
    PAYMENT_VOIDED = "payment_voided"
    PAYMENT_CANCELLED = "payment_cancelled"
    OUTCOME_UNKNOWN = "outcome_unknown"
    AWAITING_PROVIDER = "awaiting_provider"
    RECONCILED = "reconciled"
    REFUND_PROCESSING = "refund_processing"
    REFUND_FAILED = "refund_failed"
    REFUND_CANCELLED = "refund_cancelled"
    STATUS_CHANGED = "status_changed"


@attrs.frozen(kw_only=True)
class TransactionLogEntry:
    """One audit record. Entries are never changed or removed once written.

    When the entry records a status change, ``previous_status`` and ``new_status`` say which,
    of the payment or (when ``refund_id`` is set and the change is the refund's) the refund.
    ``data`` holds provider details with every secret removed.
    """

    id: str
    payment_id: str
    log_type: LogType
    message: str
    created_at: datetime
    refund_id: str | None = None
    amount: Money | None = None
    previous_status: str | None = None
    new_status: str | None = None
    data: dict[str, Any] = attrs.field(factory=dict)
