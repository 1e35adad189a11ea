"""Shared helpers for the Stripe adapter tests: fixtures, a fake Stripe, hand-made signatures.

Everything here works at the HTTP level: the real ``stripe`` SDK inside ``StripeGateway``
talks through ``httpx.MockTransport`` to either :class:`FakeStripe` (a scripted Stripe built
from the fixture shapes in ``fixtures/``) or a one-off handler that answers a fixture object
with a few fields overridden.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Final, Self

import attrs
import httpx

from _webhook_shop import Delivery, Naming, Shop
from paykit import InMemoryStorage, Payment, PaymentService
from paykit.domain.payment_method import PaymentMethodType
from paykit.gateways import WebhookEvent, WebhookEventType
from paykit.gateways.base import (
    CaptureRequest,
    ChargeRequest,
    PaymentLookup,
    RefundLookup,
    RefundRequest,
    VoidRequest,
)
from paykit.gateways.stripe import StripeGateway
from paykit.gateways.stripe._webhooks import IGNORED_REASON
from paykit.money import Money, from_minor_units, to_minor_units
from paykit.testing.fake_stripe import FakeStripe, FakeToken, Fault

FIXTURES: Final = Path(__file__).parent / "fixtures"

API_KEY: Final = "sk_test_51PaykitFAKEkey0123456789abcdefXYZ"
"""A test-mode-shaped key that must never show up in a repr, a log or an error."""

WEBHOOK_SECRET: Final = "whsec_paykit_current_0123456789"
OLD_WEBHOOK_SECRET: Final = "whsec_paykit_previous_9876543210"
NOW: Final = 1_800_000_000


def fixture(name: str, **overrides: Any) -> dict[str, Any]:
    """A copy of Stripe's fixture object ``name`` with ``overrides`` applied on top."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    data.update(copy.deepcopy(overrides))
    return data


def templates() -> dict[str, dict[str, Any]]:
    """The fixture shapes the fake Stripe builds its objects from."""
    names = ("payment_intent", "refund", "payment_method", "dispute", "event")
    return {name: fixture(name) for name in names}


def make_fake() -> FakeStripe:
    """A fake Stripe answering with Stripe's fixture shapes, accepting only :data:`API_KEY`."""
    return FakeStripe(templates=templates(), api_key=API_KEY, clock=lambda: float(NOW))


def make_gateway(
    transport: httpx.BaseTransport, *, max_network_retries: int = 0, **options: Any
) -> StripeGateway:
    """A gateway over ``transport`` with the test key and both webhook secrets."""
    options.setdefault("webhook_secrets", [WEBHOOK_SECRET, OLD_WEBHOOK_SECRET])
    options.setdefault("clock", lambda: float(NOW))
    return StripeGateway(
        API_KEY, transport=transport, max_network_retries=max_network_retries, **options
    )


def answering(
    status: int,
    body: Mapping[str, Any],
    *,
    seen: list[httpx.Request] | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.MockTransport:
    """A transport that answers every request with ``status`` and the JSON ``body``."""

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(
            status, json=dict(body), headers={"request-id": "req_test123", **(headers or {})}
        )

    return httpx.MockTransport(handler)


def stripe_error(
    error_type: str, message: str, *, code: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A Stripe error body (``{"error": {...}}``)."""
    error: dict[str, Any] = {"type": error_type, "message": message, **extra}
    if code is not None:
        error["code"] = code
    return {"error": error}


def form_of(request: httpx.Request) -> dict[str, str]:
    """The form fields of a request the SDK sent."""
    from urllib.parse import parse_qsl  # noqa: PLC0415 - only this helper needs it

    return dict(parse_qsl(request.content.decode("utf-8"), keep_blank_values=True))


def sign(body: bytes, secret: str, timestamp: int = NOW) -> str:
    """A ``Stripe-Signature`` value computed by hand from the documented scheme."""
    signed = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def charge_request(  # noqa: PLR0913 - the fields a test varies
    *,
    amount: str = "25.00",
    currency: str = "USD",
    token: str = FakeToken.SUCCESS,
    capture: bool = True,
    payment_id: str = "pay_test_1",
    customer_id: str = "customer-42",
    return_url: str | None = None,
    description: str = "",
) -> ChargeRequest:
    """A charge request like ``PaymentService`` sends."""
    return ChargeRequest(
        payment_id=payment_id,
        amount=Money.of(amount, currency),
        payment_method_token=token,
        payment_method_type=PaymentMethodType.CREDIT_CARD,
        customer_id=customer_id,
        idempotency_key=f"paykit:{payment_id}:charge",
        capture=capture,
        description=description,
        return_url=return_url,
    )


def capture_request(provider_id: str, amount: str, *, currency: str = "USD") -> CaptureRequest:
    """A capture request like ``PaymentService`` sends."""
    return CaptureRequest(
        payment_id="pay_test_1",
        provider_payment_id=provider_id,
        amount=Money.of(amount, currency),
        idempotency_key="paykit:pay_test_1:capture",
    )


def void_request(provider_id: str) -> VoidRequest:
    """A void request like ``PaymentService`` sends."""
    return VoidRequest(
        payment_id="pay_test_1",
        provider_payment_id=provider_id,
        idempotency_key="paykit:pay_test_1:void",
    )


def refund_request(
    provider_id: str,
    amount: str,
    *,
    currency: str = "USD",
    refund_id: str = "ref_test_1",
    reason: str = "",
) -> RefundRequest:
    """A refund request like ``PaymentService`` sends."""
    return RefundRequest(
        refund_id=refund_id,
        payment_id="pay_test_1",
        provider_payment_id=provider_id,
        amount=Money.of(amount, currency),
        idempotency_key=f"paykit:{refund_id}:refund",
        reason=reason,
    )


def payment_lookup(
    provider_id: str | None, *, payment_id: str = "pay_test_1", amount: str = "25.00"
) -> PaymentLookup:
    """A reconciliation lookup like ``PaymentService`` sends."""
    return PaymentLookup(
        payment_id=payment_id,
        provider_payment_id=provider_id,
        idempotency_key=f"paykit:{payment_id}:charge",
        amount=Money.of(amount, "USD"),
    )


def refund_lookup(
    provider_payment_id: str, provider_refund_id: str | None, *, refund_id: str = "ref_test_1"
) -> RefundLookup:
    """A refund reconciliation lookup like ``PaymentService`` sends."""
    return RefundLookup(
        refund_id=refund_id,
        provider_refund_id=provider_refund_id,
        provider_payment_id=provider_payment_id,
        idempotency_key=f"paykit:{refund_id}:refund",
        amount=Money.of("10.00", "USD"),
    )


Handler = Callable[[httpx.Request], httpx.Response]


# -- the webhook contracts' harness (tests/_webhook_shop.py) --------------------------------


def _provider_id(payment: Payment) -> str:
    assert payment.provider_payment_id is not None
    return payment.provider_payment_id


@attrs.define(kw_only=True)
class StripeShop(Shop):
    """A service selling through the Stripe adapter over a fake Stripe: the contracts' harness.

    Every delivery is a Stripe event the fake builds from its own objects, signed with the
    endpoint secret the way Stripe signs it.
    """

    fake: FakeStripe
    gateway: StripeGateway

    provider = "stripe"
    method_type = "credit_card"
    return_url = "https://shop.example/3ds-return"
    success_token = FakeToken.SUCCESS
    action_token = FakeToken.AUTHENTICATION_REQUIRED
    types: ClassVar[Mapping[WebhookEventType, str]] = {
        WebhookEventType.PAYMENT_SUCCEEDED: "payment_intent.succeeded",
        WebhookEventType.REFUND_SUCCEEDED: "refund.updated",
        WebhookEventType.REFUND_FAILED: "refund.failed",
        WebhookEventType.DISPUTE_CREATED: "charge.dispute.created",
        WebhookEventType.DISPUTE_UPDATED: "charge.dispute.updated",
        WebhookEventType.DISPUTE_CLOSED: "charge.dispute.closed",
    }
    forgeries: ClassVar[Sequence[str]] = ("another secret",)
    secrets: ClassVar[Sequence[str]] = (WEBHOOK_SECRET, OLD_WEBHOOK_SECRET, API_KEY)
    now = datetime.fromtimestamp(NOW, UTC)
    evidence_window = timedelta(days=7)
    opened_status = "needs_response"
    default_reason = "fraudulent"
    other_reason = "product_not_received"
    dispute_naming = Naming(payment_id=False, provider_payment_id=True)
    refund_naming = Naming(payment_id=True, provider_payment_id=True)
    logger = "paykit.gateways.stripe"
    ignored_reason = IGNORED_REASON

    @classmethod
    def open(cls, mode: str | None = None) -> Self:
        """A fresh fake Stripe, adapter (both webhook secrets) and service."""
        assert mode is None, "Stripe verifies a delivery one way: by the endpoint secret"
        fake = make_fake()
        gateway = make_gateway(fake.transport)
        service = PaymentService(InMemoryStorage(), gateways={"credit_card": gateway})
        return cls(service=service, fake=fake, gateway=gateway)

    def signed(
        self,
        event_type: str,
        resource: Mapping[str, Any],
        *,
        forgery: str | None = None,
        secret: str = WEBHOOK_SECRET,
    ) -> Delivery:
        """A Stripe event about ``resource`` signed with ``secret`` (another one if forged)."""
        if forgery is not None:
            secret = "whsec_someone_else"
        event = self.fake.event(event_type, resource)
        headers, body = self.fake.sign_webhook(event, secret=secret)
        return Delivery(event_type, headers, body)

    def taken_but_untold(self, waiting: Payment) -> dict[str, Any]:
        """The customer passes 3-D Secure at Stripe: the PaymentIntent has succeeded."""
        intent_id = _provider_id(waiting)
        self.fake.complete_action(intent_id)
        return self.fake.payment_intent(intent_id)

    def customer_acts(self, waiting: Payment) -> Delivery:
        """The customer passes 3-D Secure: payment_intent.succeeded."""
        return self.signed("payment_intent.succeeded", self.taken_but_untold(waiting))

    def tamper(self, body: bytes) -> bytes:
        """The PaymentIntent's amount one cent more."""
        return body.replace(b'"amount": 10000', b'"amount": 10001', 1)

    def lookups_since(self, mark: int) -> list[str]:
        """Every call to Stripe since ``mark`` (Stripe's signatures are checked offline)."""
        return [request.path for request in self.fake.requests[mark:]]

    def charged(self, payment: Payment) -> Money:
        """Everything Stripe charged or captured for the payment."""
        return from_minor_units(self.fake.charged_units(payment.id), payment.amount.currency)

    def refunded(self, payment: Payment) -> Money:
        """Everything Stripe refunded for the payment."""
        return from_minor_units(self.fake.refunded_units(payment.id), payment.amount.currency)

    def charged_back(self, payment: Payment) -> Money | None:
        """Everything lost disputes took back, as the fake's ledger books it."""
        return from_minor_units(self.fake.charged_back_units(payment.id), payment.amount.currency)

    def lose_next_refund_answer(self) -> None:
        """The next ``POST /v1/refunds`` refunds, but its answer is lost."""
        self.fake.inject(Fault.lose_answer(), method="POST", path="/v1/refunds")

    def echoed_refund_id(self, resource: Mapping[str, Any]) -> str | None:
        """``metadata[paykit_refund_id]`` of the Refund."""
        refund_id = resource["metadata"].get("paykit_refund_id")
        return None if refund_id is None else str(refund_id)

    def disputed_amount(self, amount: Money) -> int:
        """Stripe's integer units."""
        return to_minor_units(amount)

    def decide_dispute(
        self, provider_payment_id: str, opened: Mapping[str, Any], *, won: bool
    ) -> dict[str, Any]:
        """The dispute ``won`` or ``lost`` (losing books a chargeback)."""
        return self.fake.update_dispute(opened["id"], status="won" if won else "lost")

    def dispute_id(self, dispute: Mapping[str, Any]) -> str:
        """The Dispute's ``id``."""
        return str(dispute["id"])

    def unreadable_money(
        self, provider_payment_id: str, provider_refund_id: str
    ) -> list[tuple[str, dict[str, Any], str]]:
        """refund.updated, charge.refunded and charge.dispute.created with their money broken."""
        refund = self.fake.refund(provider_refund_id)
        charge = {
            "object": "charge",
            "id": "ch_test_1",
            "payment_intent": provider_payment_id,
            "amount_refunded": 3000,
            "currency": "usd",
        }
        dispute = self.fake.open_dispute(provider_payment_id)
        return [
            ("refund.updated", {**refund, "amount": "NaN"}, "data.object.amount"),
            ("refund.updated", {**refund, "currency": "usdollar"}, "data.object.currency"),
            (
                "charge.refunded",
                {**charge, "amount_refunded": "3000"},
                "data.object.amount_refunded",
            ),
            ("charge.dispute.created", {**dispute, "amount": 12.5}, "data.object.amount"),
            ("charge.dispute.created", {**dispute, "currency": "xyz"}, "data.object.currency"),
        ]

    def completed_before_a_late_failure(self, amount: str) -> tuple[Payment, Delivery]:
        """A 3-D Secure payment its webhook completed; a payment_failed of its first attempt."""
        waiting = self.waiting(amount)
        first_attempt = {
            **self.fake.payment_intent(_provider_id(waiting)),
            "status": "requires_payment_method",
            "next_action": None,
            "last_payment_error": {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "generic_decline",
                "message": "Your card was declined.",
            },
        }
        self.handle(self.customer_acts(waiting))
        return waiting, self.signed("payment_intent.payment_failed", first_attempt)

    def charge(
        self, amount: str = "25.00", currency: str = "USD", *, refund_fails: bool = False
    ) -> str:
        """A card charge straight through the adapter."""
        token = FakeToken.REFUND_FAIL if refund_fails else FakeToken.SUCCESS
        paid = self.gateway.charge(charge_request(amount=amount, currency=currency, token=token))
        assert paid.provider_id is not None
        return paid.provider_id

    def refund_directly(self, provider_payment_id: str, amount: str, *, refund_id: str) -> str:
        """A refund straight through the adapter."""
        request = refund_request(provider_payment_id, amount, refund_id=refund_id)
        refund = self.gateway.refund(request)
        assert refund.provider_id is not None
        return refund.provider_id

    def refund_id_sent(self) -> str | None:
        """``metadata[paykit_refund_id]`` of the last ``POST /v1/refunds``."""
        sent = [r for r in self.fake.requests if (r.method, r.path) == ("POST", "/v1/refunds")]
        return sent[-1].form.get("metadata[paykit_refund_id]")

    def dispute(
        self, provider_payment_id: str, *, dispute_id: str | None = None, **facts: Any
    ) -> dict[str, Any]:
        """Open a dispute as Stripe opens one (an inquiry for ``warning_*``), then move it.

        ``facts`` are :meth:`FakeStripe.open_dispute`'s; with ``dispute_id`` only ``status``.
        """
        status = facts.pop("status", "needs_response")
        if dispute_id is not None:
            return self.fake.update_dispute(dispute_id, status=status, **facts)
        opening = "warning_needs_response" if status.startswith("warning") else "needs_response"
        dispute = self.fake.open_dispute(provider_payment_id, status=opening, **facts)
        if status == opening:
            return dispute
        return self.fake.update_dispute(dispute["id"], status=status)

    def parse(
        self, event_type: str, resource: Mapping[str, Any], *, checked: bool = True
    ) -> WebhookEvent:
        """Sign a Stripe event with the endpoint secret and parse it."""
        delivery = self.signed(event_type, resource)
        return self.gateway.parse_webhook(delivery.headers, delivery.body)
