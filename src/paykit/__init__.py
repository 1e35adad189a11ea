"""paykit: a provider-agnostic payments library.

Everything an application needs is importable from here::

    from paykit import PaymentService, InMemoryStorage, SandboxGateway
"""

from paykit.domain import (
    PAYMENT_TRANSITIONS,
    REFUND_TRANSITIONS,
    Event,
    EventType,
    LogType,
    NextAction,
    Payment,
    PaymentMethod,
    PaymentMethodType,
    PaymentStatus,
    Refund,
    RefundStatus,
    TransactionLogEntry,
)
from paykit.errors import (
    CardDataRejectedError,
    ConcurrencyConflict,
    CurrencyMismatchError,
    GatewayConfigurationError,
    GatewayError,
    IdempotencyConflict,
    InvalidAmountError,
    InvalidRefundAmountError,
    InvalidStateTransition,
    NotFound,
    PaykitError,
    PaymentMethodInactiveError,
    PaymentMethodOwnershipError,
    PaymentNotRefundableError,
    PaymentProcessingError,
    RefundProcessingError,
    UnknownCurrencyError,
    UnsupportedPaymentMethodError,
    ValidationError,
    WebhookSignatureError,
)
from paykit.event_bus import ALL_EVENTS, EventBus
from paykit.gateways import (
    Gateway,
    GatewayOutcome,
    GatewayRegistry,
    GatewayResult,
    ManualGateway,
    SandboxGateway,
    SandboxToken,
)
from paykit.money import MAX_MINOR_UNITS, Money, from_minor_units, to_minor_units
from paykit.service import PaymentService
from paykit.storage import InMemoryStorage, Storage, UnitOfWork

__version__ = "0.1.0"

__all__ = [
    "ALL_EVENTS",
    "MAX_MINOR_UNITS",
    "PAYMENT_TRANSITIONS",
    "REFUND_TRANSITIONS",
    "CardDataRejectedError",
    "ConcurrencyConflict",
    "CurrencyMismatchError",
    "Event",
    "EventBus",
    "EventType",
    "Gateway",
    "GatewayConfigurationError",
    "GatewayError",
    "GatewayOutcome",
    "GatewayRegistry",
    "GatewayResult",
    "IdempotencyConflict",
    "InMemoryStorage",
    "InvalidAmountError",
    "InvalidRefundAmountError",
    "InvalidStateTransition",
    "LogType",
    "ManualGateway",
    "Money",
    "NextAction",
    "NotFound",
    "PaykitError",
    "Payment",
    "PaymentMethod",
    "PaymentMethodInactiveError",
    "PaymentMethodOwnershipError",
    "PaymentMethodType",
    "PaymentNotRefundableError",
    "PaymentProcessingError",
    "PaymentService",
    "PaymentStatus",
    "Refund",
    "RefundProcessingError",
    "RefundStatus",
    "SandboxGateway",
    "SandboxToken",
    "Storage",
    "TransactionLogEntry",
    "UnitOfWork",
    "UnknownCurrencyError",
    "UnsupportedPaymentMethodError",
    "ValidationError",
    "WebhookSignatureError",
    "__version__",
    "from_minor_units",
    "to_minor_units",
]
