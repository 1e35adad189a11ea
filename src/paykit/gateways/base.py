"""The Gateway Protocol every provider adapter implements, and its request/result values.

Outcomes a provider gives are values (:class:`GatewayOutcome`), never exceptions:

* ``succeeded``   -- the money moved (captured, refunded, voided);
* ``authorized``  -- an authorize-only charge holds the funds, capture comes later;
* ``declined``    -- the provider said no; ``decline_code`` is its code, ``message`` is safe to
  show the customer;
* ``requires_action`` -- the customer must finish 3-D Secure or approve a redirect;
  ``next_action`` says how;
* ``pending``     -- accepted, settles asynchronously (bank transfers, some wallets);
* ``unknown``     -- the request may have been sent and no answer came (timeout, dropped
  connection, 5xx). paykit keeps the payment in ``processing`` and asks again later.

Exceptions are for misuse and configuration (:class:`~paykit.errors.GatewayConfigurationError`).
Every mutating request carries an ``idempotency_key`` that is the same on every retry, so a
retry after an unknown outcome can never move money twice.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import attrs

from paykit.domain.payment import NextAction
from paykit.domain.payment_method import PaymentMethodType
from paykit.money import Money

__all__ = [
    "CaptureRequest",
    "ChargeRequest",
    "Gateway",
    "GatewayOutcome",
    "GatewayResult",
    "PaymentLookup",
    "RefundLookup",
    "RefundRequest",
    "VoidRequest",
]


class GatewayOutcome(StrEnum):
    """What the provider said about a request."""

    SUCCEEDED = "succeeded"
    AUTHORIZED = "authorized"
    DECLINED = "declined"
    REQUIRES_ACTION = "requires_action"
    PENDING = "pending"
    UNKNOWN = "unknown"


@attrs.frozen(kw_only=True)
class ChargeRequest:
    """Take (``capture=True``) or hold (``capture=False``) ``amount`` with a saved method."""

    payment_id: str
    amount: Money
    payment_method_token: str = attrs.field(repr=False)
    payment_method_type: PaymentMethodType
    customer_id: str
    idempotency_key: str
    capture: bool = True
    description: str = ""
    return_url: str | None = None
    metadata: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class CaptureRequest:
    """Capture ``amount`` (all or part) of an authorized payment."""

    payment_id: str
    provider_payment_id: str
    amount: Money
    idempotency_key: str


@attrs.frozen(kw_only=True)
class VoidRequest:
    """Release an authorization, or cancel a payment still waiting for customer action."""

    payment_id: str
    provider_payment_id: str
    idempotency_key: str


@attrs.frozen(kw_only=True)
class RefundRequest:
    """Give ``amount`` of a captured payment back."""

    refund_id: str
    payment_id: str
    provider_payment_id: str
    amount: Money
    idempotency_key: str
    reason: str = ""


@attrs.frozen(kw_only=True)
class PaymentLookup:
    """Everything paykit knows to find a payment at the provider.

    ``provider_payment_id`` is ``None`` when the charge's answer never arrived; an adapter then
    finds it by ``payment_id`` or by replaying ``idempotency_key``.
    """

    payment_id: str
    provider_payment_id: str | None
    idempotency_key: str
    amount: Money


@attrs.frozen(kw_only=True)
class RefundLookup:
    """Everything paykit knows to find a refund at the provider."""

    refund_id: str
    provider_refund_id: str | None
    provider_payment_id: str
    idempotency_key: str
    amount: Money


@attrs.frozen(kw_only=True)
class GatewayResult:
    """The provider's answer to one request (a charge, capture, void, refund or lookup).

    ``amount`` is what the provider reports as moved (captured, refunded) when it says so.
    ``raw`` is the provider's response with secrets removed, for the audit log.
    """

    outcome: GatewayOutcome
    provider_id: str | None = None
    amount: Money | None = None
    decline_code: str | None = None
    message: str | None = None
    next_action: NextAction | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False)


@runtime_checkable
class Gateway(Protocol):
    """A payment provider, seen through paykit's eyes.

    ``name`` is the provider name stored on payment methods and payments (``"stripe"``).
    Methods return :class:`GatewayResult` for every outcome the provider can give and raise
    only for misuse or configuration errors.
    """

    @property
    def name(self) -> str:
        """The provider name stored on payment methods and payments."""
        ...

    def charge(self, request: ChargeRequest) -> GatewayResult:
        """Purchase (capture now) or authorize."""
        ...

    def capture(self, request: CaptureRequest) -> GatewayResult:
        """Capture an authorization fully or partly."""
        ...

    def void(self, request: VoidRequest) -> GatewayResult:
        """Release an authorization (or cancel a payment awaiting customer action)."""
        ...

    def refund(self, request: RefundRequest) -> GatewayResult:
        """Refund a captured payment fully or partly."""
        ...

    def retrieve_payment(self, lookup: PaymentLookup) -> GatewayResult:
        """Return the provider's current truth about a payment (for reconciliation)."""
        ...

    def retrieve_refund(self, lookup: RefundLookup) -> GatewayResult:
        """Return the provider's current truth about a refund (for reconciliation)."""
        ...
