"""The pure core: records, state machines and refund rules. No I/O, no SDK imports."""

from paykit.domain.events import Event, EventType
from paykit.domain.payment import PAYMENT_TRANSITIONS, NextAction, Payment, PaymentStatus
from paykit.domain.payment_method import PaymentMethod, PaymentMethodType
from paykit.domain.refund import REFUND_TRANSITIONS, Refund, RefundStatus
from paykit.domain.transaction_log import LogType, TransactionLogEntry

__all__ = [
    "PAYMENT_TRANSITIONS",
    "REFUND_TRANSITIONS",
    "Event",
    "EventType",
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
