"""PayPalGateway against the shipped gateway conformance suite, over the scripted fake PayPal.

Every request the adapter sends and every answer the fake gives is validated against PayPal's
OpenAPI schemas on the way (``_paypal_support.validating``). The suite runs:

* with saved PayPal accounts (vault ids, paid at once), without retries -- a lost answer is
  ``unknown`` -- and with retries, which recover it under the same ``PayPal-Request-Id``;
* in JPY and HUF: PayPal takes both in whole units only, although HUF has two decimals in
  ISO 4217;
* with webhooks verified offline (certificate chain and signature checked here) instead of
  by PayPal's verify-webhook-signature call;
* through PayPal checkout, where every payment waits for the payer's approval and paykit's
  lookup captures it -- the suite plays the payer through ``complete_action``.

Each run covers both sides: every test is ``[sync]`` (the methods ``PaymentService`` calls)
and ``[async]`` (the ``*_async`` twins ``AsyncPaymentService`` awaits), the gateway's two
httpx clients behind a :class:`~paykit.testing.gateway_conformance.ClientCounter`, so a test
that sends a request through the other side's client fails. Below, each scenario runs on
both sides against two fresh fakes, which must receive the same requests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Final

import pytest
from _paypal_support import make_fake, make_gateway, validating

from paykit.gateways import Gateway, WebhookEventType
from paykit.gateways.paypal import CHECKOUT_TOKEN, PayPalGateway
from paykit.testing import Behaviour, GatewayConformance, GatewayHarness
from paykit.testing.fake_paypal import FakePayer, FakePayPal, FakeVault
from paykit.testing.gateway_conformance import ClientCounter, Side, run_conformance_test

_VAULT: Final = {
    Behaviour.SUCCEED: FakeVault.SUCCESS,
    Behaviour.DECLINE: FakeVault.DECLINED,
    Behaviour.REQUIRE_ACTION: CHECKOUT_TOKEN,
    Behaviour.TIMEOUT: FakeVault.LOST_ANSWER,
    Behaviour.REFUND_FAIL: FakeVault.REFUND_FAILS,
}
_CHECKOUT: Final = {
    Behaviour.SUCCEED: CHECKOUT_TOKEN,
    Behaviour.DECLINE: f"{CHECKOUT_TOKEN}:{FakePayer.DECLINED}",
    Behaviour.REQUIRE_ACTION: CHECKOUT_TOKEN,
    Behaviour.REFUND_FAIL: f"{CHECKOUT_TOKEN}:{FakePayer.REFUND_FAILS}",
}
_EVENTS: Final = {
    WebhookEventType.PAYMENT_SUCCEEDED: "PAYMENT.CAPTURE.COMPLETED",
}


class FakePayPalHarness(GatewayHarness):
    """Drives a PayPalGateway whose HTTP goes, validated, to a fresh fake PayPal."""

    supports = frozenset(
        {"authorize", "void", "require_action", "timeout", "refund_fail", "webhooks", "off_session"}
    )

    def __init__(
        self, *, currency: str = "USD", tokens: dict[Behaviour, str] | None = None, **gateway: Any
    ) -> None:
        self.fake: FakePayPal = make_fake()
        transport, self.validation = validating(self.fake)
        self.counter = ClientCounter(transport.handler)
        if gateway.get("webhook_verification") == "offline":
            gateway.setdefault("webhook_trust_roots", [self.fake.signer.root_pem])
        self._gateway = make_gateway(
            self.counter.sync_transport, async_transport=self.counter.async_transport, **gateway
        )
        self._currency = currency
        self._tokens = tokens or _VAULT

    @property
    def gateway(self) -> Gateway:
        """The PayPal adapter under test."""
        return self._gateway

    @property
    def paypal(self) -> PayPalGateway:
        """The same gateway, typed as the PayPal adapter."""
        return self._gateway

    def token_for(self, behaviour: Behaviour) -> str:
        """The token scripted for ``behaviour``."""
        return self._tokens[behaviour]

    def currency(self) -> str:
        """The currency this run pays in."""
        return self._currency

    def complete_action(self, provider_payment_id: str) -> None:
        """The payer approves the order at the fake PayPal."""
        self.fake.approve(provider_payment_id)

    def requests_by_side(self) -> Mapping[Side, int]:
        """The requests the gateway's sync and async clients sent to the fake."""
        return self.counter.sent

    def signed_webhook(
        self, event_type: str, provider_payment_id: str
    ) -> tuple[dict[str, str], bytes]:
        """The PayPal event for ``event_type`` about the order's capture, signed by the fake."""
        paypal_type = _EVENTS[WebhookEventType(event_type)]
        event = self.fake.event(
            paypal_type, self.fake.capture_of(provider_payment_id), resource_type="capture"
        )
        return self.fake.sign_webhook(event)


class CheckoutHarness(FakePayPalHarness):
    """Every payment goes through PayPal checkout: the payer approves, paykit captures."""

    supports = frozenset({"authorize", "void", "require_action", "refund_fail", "webhooks"})

    def __init__(self, **gateway: Any) -> None:
        super().__init__(tokens=_CHECKOUT, **gateway)


class TestPayPalGateway(GatewayConformance):
    """The whole suite with saved PayPal accounts, USD, no retries: a lost answer is ``unknown``."""

    def make_harness(self) -> GatewayHarness:
        """A harness around a fresh fake PayPal."""
        return FakePayPalHarness()


class TestPayPalGatewayWithRetries(GatewayConformance):
    """The whole suite with the adapter retrying lost answers under the same request id."""

    def make_harness(self) -> GatewayHarness:
        """A harness whose gateway retries twice."""
        return FakePayPalHarness(max_retries=2)


class TestPayPalGatewayInYen(GatewayConformance):
    """The whole suite in JPY, which PayPal takes in whole yen."""

    def make_harness(self) -> GatewayHarness:
        """A harness paying in JPY."""
        return FakePayPalHarness(currency="JPY")


class TestPayPalGatewayInForints(GatewayConformance):
    """The whole suite in HUF: two decimals in ISO 4217, whole forints only at PayPal."""

    def make_harness(self) -> GatewayHarness:
        """A harness paying in HUF."""
        return FakePayPalHarness(currency="HUF")


class TestPayPalGatewayOfflineWebhooks(GatewayConformance):
    """The whole suite with webhooks verified offline against the fake's throwaway CA."""

    def make_harness(self) -> GatewayHarness:
        """A harness verifying webhook signatures itself."""
        return FakePayPalHarness(webhook_verification="offline")


class TestPayPalCheckout(GatewayConformance):
    """The suite through PayPal checkout: each payment waits for the payer, the lookup captures."""

    def make_harness(self) -> GatewayHarness:
        """A harness whose payments all need the payer's approval."""
        return CheckoutHarness()


# -- the async side sends what the sync side sends ------------------------------------------

_MADE_UP_HERE: Final = re.compile(
    r"\b(?:(?:pay|re|cus)_[a-z]{12,}"  # paykit's ids (paykit._defaults.new_id)
    r"|\d{5}[0-9A-F]{12}"  # the fake's order, capture and refund ids
    r"|WH-\d{4}PAYKIT[0-9A-F]{10}"  # the fake's webhook event ids
    r"|paykit-webhook-[0-9a-f]{64})\b"  # the request id of a check, from its signature
)
"""Ids that are random, so different in each run."""


def _sent(fake: FakePayPal) -> list[str]:
    """The requests ``fake`` received, each random id replaced by its order of appearance."""
    seen: dict[str, str] = {}

    def number(match: re.Match[str]) -> str:
        return seen.setdefault(match[0], f"<id {len(seen) + 1}>")

    def shown(body: Any) -> str:
        if isinstance(body, dict) and "transmission_sig" in body:
            return str(sorted(body))  # a webhook check: signed afresh, so compare its fields
        return json.dumps(body, sort_keys=True)

    return [
        _MADE_UP_HERE.sub(number, f"{r.method} {r.path} {shown(r.body)} id={r.request_id}")
        for r in fake.requests
    ]


@pytest.mark.parametrize("scenario", GatewayConformance.scenarios())
@pytest.mark.parametrize(
    "make_harness",
    [FakePayPalHarness, partial(FakePayPalHarness, max_retries=2), CheckoutHarness],
    ids=["vault", "vault-with-retries", "checkout"],
)
def test_the_async_side_sends_what_the_sync_side_sends(
    make_harness: Callable[[], FakePayPalHarness], scenario: str
) -> None:
    """Scenario by scenario, the ``*_async`` twins send PayPal exactly the sync requests."""
    sent: dict[Side, list[str]] = {}
    for side in Side:
        harness = make_harness()
        try:
            run_conformance_test(scenario, harness, side)
        except pytest.skip.Exception:
            assert harness.fake.requests == []  # a capability checkout lacks: nothing sent
        assert harness.counter.sent[side] == len(harness.fake.requests)
        sent[side] = _sent(harness.fake)

    assert sent[Side.ASYNC] == sent[Side.SYNC]
