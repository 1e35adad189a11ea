"""The pure core: records, state machines and refund rules. No I/O, no SDK imports."""

from paykit.domain.dispute import DISPUTE_TRANSITIONS, Dispute, DisputeStatus
from paykit.domain.events import Event, EventType
from paykit.domain.idempotent_request import IdempotentRequest, IdempotentRequestStatus
from paykit.domain.payment import PAYMENT_TRANSITIONS, NextAction, Payment, PaymentStatus
from paykit.domain.payment_method import PaymentMethod, PaymentMethodType
from paykit.domain.refund import REFUND_TRANSITIONS, Refund, RefundStatus
from paykit.domain.transaction_log import LogType, TransactionLogEntry
from paykit.domain.webhook_inbox import InboxEntry, InboxStatus

__all__ = [
    "DISPUTE_TRANSITIONS",
    "PAYMENT_TRANSITIONS",
    "REFUND_TRANSITIONS",
    "Dispute",
    "DisputeStatus",
    "Event",
    "EventType",
    "IdempotentRequest",
    "IdempotentRequestStatus",
    "InboxEntry",
    "InboxStatus",
    "LogType",
    "NextAction",
    "Payment",
    "PaymentMethod",
    "PaymentMethodType",
    "PaymentStatus",
    "Refund",
    "RefundStatus",
    "TransactionLogEntry",
]
