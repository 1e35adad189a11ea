"""StripeGateway against the shipped gateway conformance suite, over a scripted fake Stripe.

The fake (``paykit.gateways.stripe.FakeStripe``) answers at the HTTP level with Stripe's
fixture shapes and honours ``Idempotency-Key``; the real ``stripe`` SDK does the talking.
The suite runs four times: without SDK retries (a lost answer is reported ``unknown``), with
SDK retries (the SDK's retry, same key, recovers the answer), and in two currencies with
Stripe-specific amount rules (ISK is sent in hundredths, KWD in thousandths). Each run covers
both sides: every test is ``[sync]`` (the methods ``PaymentService`` calls) and ``[async]``
(the ``*_async`` twins ``AsyncPaymentService`` awaits), the gateway's two httpx clients behind
a :class:`~paykit.testing.gateway_conformance.ClientCounter`, so a test that sends a request
through the other side's client fails. Below, each scenario runs on both sides against two
fresh fakes, which must receive the same requests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Final

import pytest
from _stripe_support import API_KEY, NOW, WEBHOOK_SECRET, make_fake, make_gateway, sign

from paykit.gateways import ChargeRequest, Gateway, GatewayResult, WebhookEventType
from paykit.gateways.stripe import StripeGateway
from paykit.testing import Behaviour, GatewayConformance, GatewayHarness
from paykit.testing.fake_stripe import FakeStripe, FakeToken
from paykit.testing.gateway_conformance import ClientCounter, Side, run_conformance_test

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
        self.counter = ClientCounter(self.fake.transport.handler)
        self._gateway = make_gateway(
            self.counter.sync_transport,
            async_transport=self.counter.async_transport,
            max_network_retries=max_network_retries,
        )
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

    def requests_by_side(self) -> Mapping[Side, int]:
        """The requests the gateway's sync and async clients sent to the fake."""
        return self.counter.sent

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


# -- the async side sends what the sync side sends ------------------------------------------

_PAYKIT_ID: Final = re.compile(r"\b(?:pay|re|cus)_[a-z]{12,}\b")
"""An id paykit made up (``paykit._defaults.new_id``): random, so different in each run."""


def _sent(fake: FakeStripe) -> list[str]:
    """The requests ``fake`` received, each paykit id replaced by its order of appearance."""
    seen: dict[str, str] = {}

    def number(match: re.Match[str]) -> str:
        return seen.setdefault(match[0], f"<paykit id {len(seen) + 1}>")

    return [
        _PAYKIT_ID.sub(
            number,
            f"{r.method} {r.path} {sorted(r.query.items())} {sorted(r.form.items())} "
            f"key={r.idempotency_key}",
        )
        for r in fake.requests
    ]


@pytest.mark.parametrize("scenario", GatewayConformance.scenarios())
@pytest.mark.parametrize("retries", [0, 2], ids=["no-retries", "sdk-retries"])
def test_the_async_side_sends_what_the_sync_side_sends(retries: int, scenario: str) -> None:
    """Scenario by scenario, the ``*_async`` twins send Stripe exactly the sync requests."""
    sent: dict[Side, list[str]] = {}
    for side in Side:
        harness = FakeStripeHarness(max_network_retries=retries)
        run_conformance_test(scenario, harness, side)
        assert harness.counter.sent[side] == len(harness.fake.requests) > 0
        sent[side] = _sent(harness.fake)

    assert sent[Side.ASYNC] == sent[Side.SYNC]


class _BlockingStripe(StripeGateway):
    """``charge_async`` calls the sync ``charge``: right answers, a blocked event loop."""

    async def charge_async(self, request: ChargeRequest) -> GatewayResult:
        return self.charge(request)


class _BlockingStripeHarness(FakeStripeHarness):
    """The fake Stripe, behind a gateway whose ``charge_async`` is not asynchronous."""

    def __init__(self) -> None:
        super().__init__()
        self._gateway = _BlockingStripe(
            API_KEY,
            transport=self.counter.sync_transport,
            async_transport=self.counter.async_transport,
            max_network_retries=0,
        )


def test_an_async_twin_that_calls_its_sync_method_fails_the_async_side() -> None:
    """The suite sees a request go through the sync client while the async side runs."""
    scenario = "test_purchase_succeeds_with_the_amount_asked"
    run_conformance_test(scenario, _BlockingStripeHarness(), Side.SYNC)

    with pytest.raises(AssertionError, match="on the async side _BlockingStripe sent 1 request"):
        run_conformance_test(scenario, _BlockingStripeHarness(), Side.ASYNC)
