"""What the adapter sends: bodies, ``PayPal-Request-Id``, ``Prefer``, URLs -- all schema-checked."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import attrs
import pytest
from _paypal_support import (
    RETURN_URL,
    capture_request,
    charge_request,
    make_fake,
    make_gateway,
    payment_lookup,
    refund_lookup,
    refund_request,
    validating,
    vault_charge,
    void_request,
)

from paykit.domain.payment_method import PaymentMethodType
from paykit.errors import UnsupportedPaymentMethodError, ValidationError
from paykit.gateways import AUTHENTICATION_REQUIRED, GatewayOutcome
from paykit.gateways.paypal import CHECKOUT_TOKEN, LIVE_URL, SANDBOX_URL, PayPalGateway, request_id
from paykit.testing.fake_paypal import FakeVault, Fault

_O = GatewayOutcome


def test_checkout_order_body() -> None:
    """A checkout creates a CAPTURE order with the amount, paykit's id and the return URLs."""
    fake = make_fake()
    result = make_gateway(fake=fake).charge(charge_request())

    sent = fake.requests[-1]
    assert sent.path == "/v2/checkout/orders"
    assert sent.body == {
        "intent": "CAPTURE",
        "purchase_units": [
            {
                "reference_id": "default",
                "custom_id": "pay_test_1",
                "amount": {"currency_code": "USD", "value": "100.00"},
                "description": "Order 1001",
            }
        ],
        "payment_source": {
            "paypal": {
                "experience_context": {
                    "return_url": RETURN_URL,
                    "cancel_url": RETURN_URL,
                    "user_action": "PAY_NOW",
                    "shipping_preference": "NO_SHIPPING",
                }
            }
        },
    }
    assert sent.request_id == "paykit:pay_test_1:charge"
    assert sent.headers["prefer"] == "return=representation"
    assert result.outcome is _O.REQUIRES_ACTION
    assert result.next_action is not None
    assert result.next_action.redirect_url == (
        f"https://www.sandbox.paypal.com/checkoutnow?token={result.provider_id}"
    )


def test_authorize_intent_and_configured_urls() -> None:
    """``capture=False`` is intent AUTHORIZE; gateway-level URLs and brand fill what is missing."""
    fake = make_fake()
    gateway = make_gateway(
        fake=fake,
        return_url="https://shop.example/back",
        cancel_url="https://shop.example/cancel",
        brand_name="Paykit Shop",
    )

    gateway.charge(charge_request(capture=False, return_url=None))

    body = fake.requests[-1].body
    assert body["intent"] == "AUTHORIZE"
    assert body["payment_source"]["paypal"]["experience_context"] == {
        "return_url": "https://shop.example/back",
        "cancel_url": "https://shop.example/cancel",
        "user_action": "PAY_NOW",
        "shipping_preference": "NO_SHIPPING",
        "brand_name": "Paykit Shop",
    }


def test_checkout_without_a_return_url_is_refused_before_sending() -> None:
    """PayPal needs a return URL for a checkout; without one nothing is sent."""
    fake = make_fake()
    with pytest.raises(ValidationError) as raised:
        make_gateway(fake=fake).charge(charge_request(return_url=None))
    assert raised.value.field == "return_url"
    assert fake.requests == []


def test_checkout_token_may_prefill_the_payer_email() -> None:
    """``paypal:checkout:<email>`` pre-fills the PayPal login; a malformed e-mail is refused."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    gateway.charge(charge_request(f"{CHECKOUT_TOKEN}:pat@buyer.example"))
    assert (
        fake.requests[-1].body["payment_source"]["paypal"]["email_address"] == "pat@buyer.example"
    )

    with pytest.raises(ValidationError):
        gateway.charge(charge_request(f"{CHECKOUT_TOKEN}:not-an-email", payment_id="pay_2"))


@pytest.mark.parametrize(
    ("kind", "source"),
    [
        (PaymentMethodType.PAYPAL, {"paypal": {"vault_id": FakeVault.SUCCESS}}),
        (PaymentMethodType.CREDIT_CARD, {"card": {"vault_id": FakeVault.SUCCESS}}),
        (PaymentMethodType.DEBIT_CARD, {"card": {"vault_id": FakeVault.SUCCESS}}),
    ],
)
def test_vault_ids_are_charged_without_the_payer(
    kind: PaymentMethodType, source: dict[str, object]
) -> None:
    """A saved PayPal account or card goes as ``vault_id`` and is paid at once."""
    fake = make_fake()
    result = make_gateway(fake=fake).charge(vault_charge(kind=kind))

    assert fake.requests[-1].body["payment_source"] == source
    assert result.outcome is _O.SUCCEEDED
    assert result.amount is not None
    assert str(result.amount) == "100.00 USD"


@pytest.mark.parametrize(
    ("kind", "source"),
    [
        (PaymentMethodType.PAYPAL, {"paypal": {"vault_id": FakeVault.SUCCESS}}),
        (
            PaymentMethodType.CREDIT_CARD,
            {
                "card": {
                    "vault_id": FakeVault.SUCCESS,
                    "stored_credential": {
                        "payment_initiator": "MERCHANT",
                        "payment_type": "UNSCHEDULED",
                        "usage": "SUBSEQUENT",
                    },
                }
            },
        ),
    ],
)
def test_an_off_session_vault_charge_is_marked_merchant_initiated_for_cards(
    kind: PaymentMethodType, source: dict[str, object]
) -> None:
    """A saved card charged with the customer away says so (``stored_credential``)."""
    fake = make_fake()
    transport, validation = validating(fake)

    result = make_gateway(transport).charge(attrs.evolve(vault_charge(kind=kind), off_session=True))

    assert fake.requests[-1].body["payment_source"] == source
    assert validation.requests["orders.create"] == 1  # checked against PayPal's schema
    assert result.outcome is _O.SUCCEEDED


def test_an_off_session_checkout_is_declined_without_a_request() -> None:
    """Only the payer can approve a checkout: with nobody there, nothing is sent."""
    fake = make_fake()

    result = make_gateway(fake=fake).charge(
        attrs.evolve(charge_request(CHECKOUT_TOKEN), off_session=True)
    )

    assert (result.outcome, result.decline_code) == (_O.DECLINED, AUTHENTICATION_REQUIRED)
    assert result.next_action is None
    assert [r for r in fake.requests if r.path != "/v1/oauth2/token"] == []


@pytest.mark.parametrize(
    ("token", "kind", "error"),
    [
        ("not a vault id!", PaymentMethodType.PAYPAL, ValidationError),
        (FakeVault.SUCCESS, PaymentMethodType.BANK_TRANSFER, UnsupportedPaymentMethodError),
        (CHECKOUT_TOKEN, PaymentMethodType.CRYPTO, UnsupportedPaymentMethodError),
    ],
)
def test_tokens_paypal_cannot_use_are_refused(
    token: str, kind: PaymentMethodType, error: type[Exception]
) -> None:
    """A token that is neither a checkout nor a vault id, or a method PayPal lacks, raises."""
    fake = make_fake()
    with pytest.raises(error):
        make_gateway(fake=fake).charge(charge_request(token, kind=kind))
    assert fake.requests == []


def test_capture_refund_and_void_bodies() -> None:
    """Capture, refund and void go to the right Payments v2 resources with derived request ids."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    held = gateway.charge(vault_charge(capture=False))
    other = gateway.charge(vault_charge(capture=False, payment_id="pay_other"))
    assert held.provider_id
    assert other.provider_id
    auth = fake.order(held.provider_id)["purchase_units"][0]["payments"]["authorizations"][0]

    gateway.capture(capture_request(held.provider_id, "40.00"))
    capture = fake.requests[-1]
    gateway.refund(refund_request(held.provider_id, "15.00", reason="damaged"))
    refund = fake.requests[-1]
    gateway.void(void_request(other.provider_id, payment_id="pay_other"))
    void = fake.requests[-1]

    assert capture.path == f"/v2/payments/authorizations/{auth['id']}/capture"
    assert capture.body == {
        "amount": {"currency_code": "USD", "value": "40.00"},
        "final_capture": True,
    }
    assert capture.request_id == "paykit:pay_test_1:capture"
    assert refund.path.startswith("/v2/payments/captures/")
    assert refund.body == {
        "amount": {"currency_code": "USD", "value": "15.00"},
        "custom_id": "re_test_1",
        "note_to_payer": "damaged",
    }
    assert refund.request_id == "paykit:re_test_1:refund"
    assert void.path.endswith("/void")
    assert void.request_id == "paykit:pay_other:void"


def test_every_post_carries_a_request_id_and_no_get_does() -> None:
    """``PayPal-Request-Id`` is on every POST to the API; lookups are plain GETs."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    paid = gateway.charge(vault_charge())
    assert paid.provider_id
    gateway.refund(refund_request(paid.provider_id, "10.00"))
    gateway.retrieve_payment(payment_lookup(paid.provider_id))
    gateway.retrieve_refund(refund_lookup(paid.provider_id, None))

    api = [r for r in fake.requests if r.path != "/v1/oauth2/token"]
    assert {r.method for r in api} == {"POST", "GET"}
    assert all(r.request_id for r in api if r.method == "POST")
    assert not any(r.request_id for r in api if r.method == "GET")


def test_retries_carry_the_same_request_id() -> None:
    """A request retried after a lost answer and a 500 keeps its ``PayPal-Request-Id``."""
    fake = make_fake()
    fake.inject(Fault.timeout_after_success(), method="POST", path="/v2/checkout/orders")
    fake.inject(Fault.error(500), method="POST", path="/v2/checkout/orders")
    gateway = make_gateway(fake=fake, max_retries=2)

    result = gateway.charge(vault_charge())

    posts = [r for r in fake.requests if r.method == "POST" and r.path == "/v2/checkout/orders"]
    assert len(posts) == 3
    assert {r.request_id for r in posts} == {"paykit:pay_test_1:charge"}
    assert result.outcome is _O.SUCCEEDED
    assert len(fake.ledger) == 1


def test_long_keys_become_a_stable_hash() -> None:
    """A key PayPal cannot take (too long, not ASCII) becomes the same SHA-256 id every time."""
    long_key = "paykit:" + "x" * 200
    assert request_id(long_key) == request_id(long_key)
    assert request_id(long_key).startswith("paykit-")
    assert len(request_id(long_key)) <= 108
    assert request_id("paykit:pay_1:charge") == "paykit:pay_1:charge"
    assert request_id("paykit:zahlung-ä") != request_id("paykit:zahlung-a")


@pytest.mark.parametrize(
    ("settings", "base"),
    [
        ({}, SANDBOX_URL),
        ({"environment": "live"}, LIVE_URL),
        ({"base_url": "https://paypal-proxy.example"}, "https://paypal-proxy.example"),
    ],
)
def test_base_url_by_setting(settings: dict[str, Any], base: str) -> None:
    """Sandbox is the default, live is a setting, and any base URL can replace both."""
    fake = make_fake()
    transport, _ = validating(fake)
    gateway = PayPalGateway(
        "paykit-test-client-id",
        "EPaykitTestSECRET-0123456789abcdefXYZ",
        transport=transport,
        **settings,
    )

    gateway.charge(vault_charge())

    assert all(r.url.startswith(base + "/") for r in fake.requests)
    assert gateway.environment == settings.get("environment", "sandbox")


def test_every_operation_is_schema_checked() -> None:
    """A full tour sends each operation at least once through the validating transport."""
    fake = make_fake()
    transport, seen = validating(fake)
    gateway = make_gateway(transport)
    order = gateway.charge(charge_request())
    assert order.provider_id
    fake.approve(order.provider_id)
    gateway.retrieve_payment(payment_lookup(order.provider_id))
    held = gateway.charge(charge_request(capture=False, payment_id="pay_auth"))
    assert held.provider_id
    fake.approve(held.provider_id)
    gateway.retrieve_payment(payment_lookup(held.provider_id, payment_id="pay_auth"))
    gateway.capture(capture_request(held.provider_id, "10.00", payment_id="pay_auth"))
    refund = gateway.refund(refund_request(order.provider_id, "5.00"))
    assert refund.provider_id
    gateway.retrieve_refund(refund_lookup(order.provider_id, refund.provider_id))
    spare = gateway.charge(vault_charge(capture=False, payment_id="pay_spare"))
    unpaid = gateway.charge(charge_request(payment_id="pay_unpaid"))
    assert spare.provider_id
    assert unpaid.provider_id
    gateway.void(void_request(spare.provider_id, payment_id="pay_spare"))
    gateway.void(void_request(unpaid.provider_id, payment_id="pay_unpaid"))

    assert set(seen.requests) >= {
        "orders.create",
        "orders.capture",
        "orders.authorize",
        "orders.patch",
        "authorizations.capture",
        "captures.refund",
    }
    assert set(seen.responses) >= {
        "orders.create",
        "orders.get",
        "orders.capture",
        "orders.authorize",
        "authorizations.capture",
        "authorizations.void",
        "captures.refund",
        "refunds.get",
    }


def test_refund_ids_paypal_cannot_take_are_hashed_and_still_found() -> None:
    """A refund id outside PayPal's custom_id alphabet is sent hashed and found again by it."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    paid = gateway.charge(vault_charge())
    assert paid.provider_id

    refund = gateway.refund(refund_request(paid.provider_id, "10.00", refund_id="refund #7 (ü)"))
    found = gateway.retrieve_refund(
        refund_lookup(paid.provider_id, None, refund_id="refund #7 (ü)")
    )

    assert fake.requests[-2].body["custom_id"].startswith("paykit-")
    assert found.outcome is _O.SUCCEEDED
    assert found.provider_id == refund.provider_id


def test_import_paykit_does_not_import_the_adapter() -> None:
    """``import paykit`` loads neither the PayPal adapter nor its extra's packages."""
    code = (
        "import sys, paykit; "
        "print(sorted(m for m in ('paykit.gateways.paypal', 'cryptography', 'httpx') "
        "if m in sys.modules))"
    )
    out = subprocess.run(  # noqa: S603 - runs this interpreter on a fixed snippet
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[]"
