"""The Acme Pay adapter of examples/custom_gateway.py against the gateway conformance suite."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Final

import pytest

from paykit import GatewayConfigurationError, Money
from paykit.domain.payment_method import PaymentMethodType
from paykit.gateways import ChargeRequest, Gateway, WebhookEventType
from paykit.testing import CAPABILITIES, Behaviour, GatewayConformance, GatewayHarness

EXAMPLE: Final = Path(__file__).parents[2] / "examples" / "custom_gateway.py"


def _load_example() -> ModuleType:
    """Import examples/custom_gateway.py as the module ``custom_gateway`` (it is no package)."""
    spec = importlib.util.spec_from_file_location("custom_gateway", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


example = _load_example()

API_KEY: Final = "acme_test_key_for_the_suite"
WEBHOOK_SECRET: Final = "acme_whsec_for_the_suite"

_EVENTS: Final = {
    WebhookEventType.PAYMENT_SUCCEEDED: "charge.succeeded",
    WebhookEventType.PAYMENT_AUTHORIZED: "charge.authorized",
    WebhookEventType.PAYMENT_FAILED: "charge.failed",
    WebhookEventType.PAYMENT_CANCELED: "charge.canceled",
    WebhookEventType.PAYMENT_REQUIRES_ACTION: "charge.action_required",
}


class AcmeHarness(GatewayHarness):
    """Drives the example's adapter against the example's stand-in Acme server."""

    supports = CAPABILITIES

    def __init__(self, currency: str = "USD") -> None:
        self.server = example.AcmeServer(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET)
        self._gateway: Gateway = example.AcmeGateway(
            api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, transport=self.server.transport()
        )
        self._currency = currency

    @property
    def gateway(self) -> Gateway:
        """The Acme adapter under test."""
        return self._gateway

    def token_for(self, behaviour: Behaviour) -> str:
        """Acme's test token for ``behaviour``."""
        tokens = example.AcmeTestToken
        token: str = {
            Behaviour.SUCCEED: tokens.OK,
            Behaviour.DECLINE: tokens.DECLINE,
            Behaviour.REQUIRE_ACTION: tokens.THREE_D_SECURE,
            Behaviour.TIMEOUT: tokens.LOST_ANSWER,
            Behaviour.REFUND_FAIL: tokens.REFUND_FAIL,
        }[behaviour]
        return token

    def currency(self) -> str:
        """The currency this run pays in."""
        return self._currency

    def complete_action(self, provider_payment_id: str) -> None:
        """The customer passes 3-D Secure on Acme's page."""
        self.server.complete_action(provider_payment_id)

    def signed_webhook(
        self, event_type: str, provider_payment_id: str
    ) -> tuple[dict[str, str], bytes]:
        """The webhook Acme sends for the paykit event type, about that charge."""
        webhook: tuple[dict[str, str], bytes] = self.server.webhook(
            _EVENTS[WebhookEventType(event_type)], provider_payment_id
        )
        return webhook


class TestAcmeGateway(GatewayConformance):
    """Every conformance test, run against the example's Acme Pay adapter."""

    def make_harness(self) -> GatewayHarness:
        """A harness around a new Acme server and adapter."""
        return AcmeHarness()


class TestAcmeGatewayInKronur(GatewayConformance):
    """Every conformance test again in ISK, which Acme counts in hundredths unlike ISO."""

    def make_harness(self) -> GatewayHarness:
        """A harness around a new Acme server and adapter, paying in ISK."""
        return AcmeHarness("ISK")


@pytest.fixture
def harness() -> AcmeHarness:
    """A fresh Acme server and adapter."""
    return AcmeHarness()


def _charge(currency: str, amount: str, token: str) -> ChargeRequest:
    return ChargeRequest(
        payment_id="pay_acme_units",
        amount=Money.of(amount, currency),
        payment_method_token=token,
        payment_method_type=PaymentMethodType.CREDIT_CARD,
        customer_id="cus_acme",
        idempotency_key="paykit:pay_acme_units:charge",
    )


def test_amounts_use_acme_units(harness: AcmeHarness) -> None:
    """ISK goes to Acme in hundredths and comes back as the same paykit amount."""
    result = harness.gateway.charge(_charge("ISK", "5000", example.AcmeTestToken.OK))

    assert result.amount == Money.of("5000", "ISK")
    charge = harness.server.charges[result.provider_id]
    assert charge["amount"] == 500_000


def test_every_post_carries_the_idempotency_key(harness: AcmeHarness) -> None:
    """The adapter sends the request's idempotency key, the same one on a retry."""
    request = _charge("USD", "10.00", example.AcmeTestToken.LOST_ANSWER)

    harness.gateway.charge(request)
    harness.gateway.charge(request)

    assert harness.server.requests == [
        ("POST", "/v1/charges", request.idempotency_key),
        ("POST", "/v1/charges", request.idempotency_key),
    ]
    assert len(harness.server.charges) == 1


def test_repr_and_audit_data_hold_no_secret(harness: AcmeHarness) -> None:
    """Neither the adapter's repr nor a result's raw data shows the API key or client secret."""
    result = harness.gateway.charge(_charge("USD", "10.00", example.AcmeTestToken.THREE_D_SECURE))

    assert API_KEY not in repr(harness.gateway)
    assert result.next_action is not None
    assert result.next_action.client_secret is not None
    secret = result.next_action.client_secret.get_secret_value()
    assert secret not in repr(result)
    assert secret not in str(result.raw)


def test_a_wrong_api_key_is_a_configuration_error() -> None:
    """A 401 from Acme raises ``GatewayConfigurationError`` without showing the key."""
    server = example.AcmeServer(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET)
    gateway = example.AcmeGateway(api_key="acme_wrong_key", transport=server.transport())

    with pytest.raises(GatewayConfigurationError) as caught:
        gateway.charge(_charge("USD", "10.00", example.AcmeTestToken.OK))

    assert caught.value.gateway_code == "invalid_api_key"
    assert "acme_wrong_key" not in str(caught.value)
