"""The conformance suite against Stripe's real test mode, for maintainers who have a key.

Skipped (with the reason shown by ``pytest -ra``) unless ``STRIPE_TEST_SECRET_KEY`` holds a
test-mode key (``sk_test_...`` or ``rk_test_...``); a live-mode key is never used. It needs
network access and takes minutes: lookups without a provider id go through Stripe's search,
which trails writes, so the gateway is given ``search_wait`` to let the index catch up.

Capabilities Stripe's test mode cannot script synchronously are not claimed: a lost answer
(``timeout``), a refund that fails at once (``refund_fail`` -- Stripe's ``pm_card_refundFail``
fails it later, by webhook), finishing 3-D Secure from the server (``complete_action``) and
webhooks (Stripe cannot deliver to a test run). The offline suite covers those.
"""

from __future__ import annotations

import os
from typing import Final

import pytest

from paykit.gateways import Gateway
from paykit.gateways.stripe import StripeGateway
from paykit.testing import Behaviour, GatewayConformance, GatewayHarness

_KEY: Final = os.environ.get("STRIPE_TEST_SECRET_KEY", "")

if not _KEY.startswith(("sk_test_", "rk_test_")):
    pytest.skip(
        "Stripe test mode not configured: set STRIPE_TEST_SECRET_KEY to a test-mode secret "
        "key (sk_test_...) to run the conformance suite against api.stripe.com",
        allow_module_level=True,
    )

_TOKENS: Final = {
    Behaviour.SUCCEED: "pm_card_visa",
    Behaviour.DECLINE: "pm_card_chargeDeclined",
    Behaviour.REQUIRE_ACTION: "pm_card_authenticationRequired",
}


class LiveStripeHarness(GatewayHarness):
    """Drives a StripeGateway against Stripe's test mode with Stripe's test payment methods."""

    supports = frozenset({"authorize", "void", "require_action"})

    def __init__(self) -> None:
        self._gateway = StripeGateway(_KEY, max_network_retries=2, search_wait=90.0)

    @property
    def gateway(self) -> Gateway:
        """The adapter, talking to api.stripe.com in test mode."""
        return self._gateway

    def token_for(self, behaviour: Behaviour) -> str:
        """Stripe's own test PaymentMethod for ``behaviour``."""
        return _TOKENS[behaviour]


class TestStripeTestMode(GatewayConformance):
    """The whole conformance suite against Stripe's test mode."""

    def make_harness(self) -> GatewayHarness:
        """A harness around a gateway with the maintainer's test key."""
        return LiveStripeHarness()
