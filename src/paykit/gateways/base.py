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

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Protocol, runtime_checkable

import attrs

from paykit.domain.dispute import DisputeStatus
from paykit.domain.payment import NextAction
from paykit.domain.payment_method import PaymentMethodType
from paykit.money import Money

__all__ = [
    "AUTHENTICATION_REQUIRED",
    "EXPIRED",
    "NOT_FOUND",
    "CaptureRequest",
    "ChargeRequest",
    "DisputeDetails",
    "Gateway",
    "GatewayOutcome",
    "GatewayResult",
    "PaymentLookup",
    "PaymentMethodDetails",
    "PaymentMethodGateway",
    "RefundLookup",
    "RefundRequest",
    "VoidRequest",
    "WebhookEvent",
    "WebhookEventType",
    "WebhookGateway",
]


NOT_FOUND: Final = "not_found"
"""``decline_code`` of a lookup that found nothing.

``retrieve_payment`` / ``retrieve_refund`` answer ``declined`` with this code when the
provider has no such payment or refund. The service believes it -- and fails the record --
only once the request has had time to arrive (``PaymentService(in_flight_grace=...)``): a
lookup racing the request it looks for finds nothing too.
"""


AUTHENTICATION_REQUIRED: Final = "authentication_required"
"""``decline_code`` of an off-session charge (:attr:`ChargeRequest.off_session`) that the
customer's bank wants them to authenticate: bring the customer back and charge on-session."""


EXPIRED: Final = "expired"
"""``decline_code`` of a payment whose payer let it lapse (an unpaid bank transfer).

A ``requires_action`` payment the provider reports as expired is cancelled, not failed:
nothing went wrong, the payer just never paid.
"""


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
    off_session: bool = False
    """The customer is not there to act (a renewal, a delayed charge). The provider must not
    wait for them: a charge the bank wants authenticated is ``declined`` with
    :data:`AUTHENTICATION_REQUIRED`, never ``requires_action``."""
    request_three_d_secure: bool = False
    """Ask the provider for 3-D Secure even where it would not (a fraud rule's
    ``request_3ds``). Adapters that cannot ask ignore it; the sandbox does."""


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
    submitted_at: datetime | None = None
    """When paykit last sent the charge. An adapter whose lookups trail writes (Stripe's
    search) uses it to tell "not there yet" from "never received"."""


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


class WebhookEventType(StrEnum):
    """Provider webhook events, normalised to what paykit does with them."""

    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_REQUIRES_ACTION = "payment.requires_action"
    PAYMENT_PROCESSING = "payment.processing"
    PAYMENT_AUTHORIZED = "payment.authorized"
    PAYMENT_CANCELED = "payment.canceled"
    PAYMENT_REFUNDED = "payment.refunded"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    REFUND_PENDING = "refund.pending"
    DISPUTE_CREATED = "dispute.created"
    DISPUTE_UPDATED = "dispute.updated"
    DISPUTE_CLOSED = "dispute.closed"
    IGNORED = "ignored"
    """A verified event paykit has no use for (acknowledge it, change nothing)."""


@attrs.frozen(kw_only=True)
class DisputeDetails:
    """A dispute as a provider's event describes it, normalised.

    ``status`` is paykit's :class:`~paykit.domain.dispute.DisputeStatus` (adapters map their
    provider's states onto it); ``provider_status`` is the provider's own word for it.
    """

    provider_dispute_id: str
    status: DisputeStatus
    amount: Money
    reason: str = ""
    provider_status: str = ""
    evidence_due_by: datetime | None = None


@attrs.frozen(kw_only=True)
class WebhookEvent:
    """A verified provider webhook, normalised.

    ``event_id`` is the provider's id (deduplication key); ``provider_type`` its own event
    name (``payment_intent.succeeded``). The ids say which paykit records it concerns: the
    provider's payment and refund ids, and paykit's own payment and refund ids when the
    provider echoes the metadata paykit sent. ``result`` is the outcome the event reports,
    shaped like a gateway answer so the same settlement code applies it; ``dispute`` is set
    on ``dispute.*`` events. ``raw`` has secrets removed.
    """

    provider: str
    event_id: str
    type: WebhookEventType
    provider_type: str
    created: datetime | None = None
    provider_payment_id: str | None = None
    provider_refund_id: str | None = None
    payment_id: str | None = None
    refund_id: str | None = None
    result: GatewayResult | None = None
    dispute: DisputeDetails | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class PaymentMethodDetails:
    """Display details a provider reports for a saved method (never the card number)."""

    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    type: PaymentMethodType | None = None
    country: str | None = None
    """The card's issuing country, for fraud screening."""
    fingerprint: str | None = None
    """The provider's fingerprint of the card (same card, same value), for fraud screening."""
    wallet: str | None = None
    """The wallet the card came through (``apple_pay``...), for fraud screening."""


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


@runtime_checkable
class WebhookGateway(Protocol):
    """A gateway whose provider sends webhooks (an optional capability)."""

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Verify the signature and normalise the event.

        Raises :class:`~paykit.errors.WebhookSignatureError` when the signature, timestamp or
        headers do not verify, or the verified body is not an event of the provider's; a
        :class:`~paykit.errors.ValidationError` naming the field when an amount or currency
        paykit reads from the event is not valid money (``"NaN"``, an unknown currency) --
        never ``None`` in its place, and never a guess. ``PaymentService.handle_webhook``
        answers both with 400 and stores nothing. An event of a type paykit ignores is
        returned with type ``ignored``, never raised.
        """
        ...


@runtime_checkable
class PaymentMethodGateway(Protocol):
    """A gateway that can attach saved methods to customers and describe them (optional)."""

    def attach_payment_method(
        self, token: str, *, provider_customer_id: str | None
    ) -> PaymentMethodDetails:
        """Attach ``token`` to the provider's customer (if given) and return its details."""
        ...

    def detach_payment_method(self, token: str) -> None:
        """Detach ``token`` from its customer at the provider."""
        ...
