"""Gateway adapters: the Protocol, the sandbox, and the routing between them."""

from paykit.gateways.base import (
    AUTHENTICATION_REQUIRED,
    EXPIRED,
    NOT_FOUND,
    CaptureRequest,
    ChargeRequest,
    Gateway,
    GatewayOutcome,
    GatewayResult,
    PaymentLookup,
    PaymentMethodDetails,
    PaymentMethodGateway,
    RefundLookup,
    RefundRequest,
    VoidRequest,
    WebhookEvent,
    WebhookEventType,
    WebhookGateway,
)
from paykit.gateways.manual import ManualGateway
from paykit.gateways.registry import GatewayRegistry
from paykit.gateways.sandbox import LedgerEntry, LedgerKind, SandboxGateway, SandboxToken

__all__ = [
    "AUTHENTICATION_REQUIRED",
    "EXPIRED",
    "NOT_FOUND",
    "CaptureRequest",
    "ChargeRequest",
    "Gateway",
    "GatewayOutcome",
    "GatewayRegistry",
    "GatewayResult",
    "LedgerEntry",
    "LedgerKind",
    "ManualGateway",
    "PaymentLookup",
    "PaymentMethodDetails",
    "PaymentMethodGateway",
    "RefundLookup",
    "RefundRequest",
    "SandboxGateway",
    "SandboxToken",
    "VoidRequest",
    "WebhookEvent",
    "WebhookEventType",
    "WebhookGateway",
]
