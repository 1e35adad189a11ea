"""StripeGateway against the shipped gateway conformance suite, over a scripted fake Stripe.

The fake (``paykit.gateways.stripe.FakeStripe``) answers at the HTTP level with Stripe's
fixture shapes and honours ``Idempotency-Key``; the real ``stripe`` SDK does the talking.
The suite runs four times: without SDK retries (a lost answer is reported ``unknown``), with
SDK retries (the SDK's retry, same key, recovers the answer), and in two currencies with
Stripe-specific amount rules (ISK is sent in hundredths, KWD in thousandths).
"""

from __future__ import annotations

import json
from typing import Final

from _stripe_support import NOW, WEBHOOK_SECRET, make_fake, make_gateway, sign

from paykit.gateways import Gateway, WebhookEventType
from paykit.gateways.stripe import StripeGateway
from paykit.testing import Behaviour, GatewayConformance, GatewayHarness
from paykit.testing.fake_stripe import FakeStripe, FakeToken

_TOKENS: Final = {
    Behaviour.SUCCEED: FakeToken.SUCCESS,
    Behaviour.DECLINE: FakeToken.DECLINE,
    Behaviour.REQUIRE_ACTION: FakeToken.AUTHENTICATION_REQUIRED,
    Behaviour.TIMEOUT: FakeToken.LOST_ANSWER,
    Behaviour.REFUND_FAIL: FakeToken.REFUND_FAIL,
}

_STRIPE_EVENTS: Final = {
    WebhookEventType.PAYMENT_SUCCEEDED: "payment_intent.succeeded",
    WebhookEventType.PAYMENT_FAILED: "payment_intent.payment_failed",
    WebhookEventType.PAYMENT_REQUIRES_ACTION: "payment_intent.requires_action",
    WebhookEventType.PAYMENT_PROCESSING: "payment_intent.processing",
    WebhookEventType.PAYMENT_AUTHORIZED: "payment_intent.amount_capturable_updated",
    WebhookEventType.PAYMENT_CANCELED: "payment_intent.canceled",
}


class FakeStripeHarness(GatewayHarness):
    """Drives a StripeGateway whose HTTP goes to a fresh scripted fake Stripe."""

    supports = frozenset(
        {"authorize", "void", "require_action", "timeout", "refund_fail", "webhooks", "off_session"}
    )

    def __init__(self, *, currency: str = "USD", max_network_retries: int = 0) -> None:
        self.fake: FakeStripe = make_fake()
        self._gateway = make_gateway(self.fake.transport, max_network_retries=max_network_retries)
        self._currency = currency

    @property
    def gateway(self) -> Gateway:
        """The Stripe adapter under test."""
        return self._gateway

    @property
    def stripe_gateway(self) -> StripeGateway:
        """The same gateway, typed as the Stripe adapter."""
        return self._gateway

    def token_for(self, behaviour: Behaviour) -> str:
        """The fake's payment method id scripted for ``behaviour``."""
        return _TOKENS[behaviour]

    def currency(self) -> str:
        """The currency this run pays in."""
        return self._currency

    def complete_action(self, provider_payment_id: str) -> None:
        """The customer passes 3-D Secure at the fake Stripe."""
        self.fake.complete_action(provider_payment_id)

    def signed_webhook(
        self, event_type: str, provider_payment_id: str
    ) -> tuple[dict[str, str], bytes]:
        """The Stripe event for ``event_type`` about the payment, signed here by hand."""
        stripe_type = _STRIPE_EVENTS[WebhookEventType(event_type)]
        event = self.fake.event(stripe_type, self.fake.payment_intent(provider_payment_id))
        body = json.dumps(event).encode()
        return {"Stripe-Signature": sign(body, WEBHOOK_SECRET, NOW)}, body


class TestStripeGateway(GatewayConformance):
    """The whole suite, USD, no SDK retries: a lost answer surfaces as ``unknown``."""

    def make_harness(self) -> GatewayHarness:
        """A harness around a fresh fake Stripe."""
        return FakeStripeHarness()


class TestStripeGatewayWithSdkRetries(GatewayConformance):
    """The whole suite with the SDK retrying lost answers under the same idempotency key."""

    def make_harness(self) -> GatewayHarness:
        """A harness whose gateway lets the SDK retry twice."""
        return FakeStripeHarness(max_network_retries=2)


class TestStripeGatewayInIcelandicKronur(GatewayConformance):
    """The whole suite in ISK, which Stripe counts in hundredths of whole kronur."""

    def make_harness(self) -> GatewayHarness:
        """A harness paying in ISK."""
        return FakeStripeHarness(currency="ISK")


class TestStripeGatewayInKuwaitiDinars(GatewayConformance):
    """The whole suite in KWD, a three-decimal currency at Stripe."""

    def make_harness(self) -> GatewayHarness:
        """A harness paying in KWD."""
        return FakeStripeHarness(currency="KWD")
