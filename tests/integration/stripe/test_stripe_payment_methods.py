"""Saved payment methods: attach a ``pm_...`` to a Customer, read its display details, detach."""

from __future__ import annotations

import httpx
import pytest
from _stripe_support import answering, fixture, make_fake, make_gateway, stripe_error

from paykit import InMemoryStorage, PaymentService
from paykit.domain.payment_method import PaymentMethodType
from paykit.errors import GatewayConfigurationError, GatewayError
from paykit.gateways import PaymentMethodDetails
from paykit.testing.fake_stripe import Fault


def test_attach_posts_the_customer_and_returns_display_details() -> None:
    """Attaching sends the Customer with an idempotency key and reads brand, last 4, expiry."""
    seen: list[httpx.Request] = []
    method = fixture("payment_method", customer="cus_QXg1o8vcGmoR32")
    gateway = make_gateway(answering(200, method, seen=seen))

    details = gateway.attach_payment_method(method["id"], provider_customer_id="cus_QXg1o8vcGmoR32")

    [sent] = seen
    assert (sent.method, sent.url.path) == ("POST", f"/v1/payment_methods/{method['id']}/attach")
    assert sent.content == b"customer=cus_QXg1o8vcGmoR32"
    assert sent.headers["idempotency-key"].startswith(f"paykit:attach:{method['id']}:")
    assert details == PaymentMethodDetails(
        brand="visa",
        last4="4242",
        exp_month=8,
        exp_year=2030,
        type=PaymentMethodType.CREDIT_CARD,
        country="US",
        fingerprint="AOB934RVNwzk6xtn",
        wallet="link",
    )


def test_without_a_customer_the_method_is_only_read() -> None:
    """With no Customer the method is fetched (GET), not attached."""
    seen: list[httpx.Request] = []
    gateway = make_gateway(answering(200, fixture("payment_method"), seen=seen))

    details = gateway.attach_payment_method(
        "pm_1Pgc75B7WZ01zgkWlHVgdEGJ", provider_customer_id=None
    )

    assert (seen[0].method, seen[0].url.path) == (
        "GET",
        "/v1/payment_methods/pm_1Pgc75B7WZ01zgkWlHVgdEGJ",
    )
    assert details.last4 == "4242"


@pytest.mark.parametrize(
    ("card", "expected"),
    [
        ({"funding": "debit", "wallet": None}, PaymentMethodType.DEBIT_CARD),
        ({"funding": "credit", "wallet": None}, PaymentMethodType.CREDIT_CARD),
        ({"funding": "credit", "wallet": {"type": "apple_pay"}}, PaymentMethodType.DIGITAL_WALLET),
        ({"funding": "prepaid", "wallet": None}, None),
    ],
)
def test_the_card_kind_follows_funding_and_wallet(
    card: dict[str, object], expected: PaymentMethodType | None
) -> None:
    """Debit, credit, wallet and prepaid cards map to paykit's method types (or none)."""
    method = fixture("payment_method")
    method["card"].update(card)
    gateway = make_gateway(answering(200, method))

    details = gateway.attach_payment_method(method["id"], provider_customer_id=None)

    assert details.type is expected


def test_non_card_methods_map_where_paykit_has_a_type() -> None:
    """A PayPal method maps to ``paypal``; an unknown kind gives empty details."""
    paypal = make_gateway(answering(200, fixture("payment_method", type="paypal", card=None)))
    other = make_gateway(answering(200, fixture("payment_method", type="sepa_debit", card=None)))

    assert paypal.attach_payment_method("pm_1", provider_customer_id=None).type is (
        PaymentMethodType.PAYPAL
    )
    assert other.attach_payment_method("pm_1", provider_customer_id=None) == PaymentMethodDetails()


def test_detach_posts_to_the_detach_endpoint() -> None:
    """Detaching is one POST to the method's detach path, with its own idempotency key."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)
    gateway.attach_payment_method("pm_card_visa_debit", provider_customer_id="cus_1")

    gateway.detach_payment_method("pm_card_visa_debit")

    detach = fake.requests[-1]
    assert (detach.method, detach.path) == ("POST", "/v1/payment_methods/pm_card_visa_debit/detach")
    assert (detach.idempotency_key or "").startswith("paykit:detach:pm_card_visa_debit:")


def test_detaching_a_method_that_is_not_attached_succeeds() -> None:
    """A method attached to no Customer is already detached, so removing it cannot fail."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)

    gateway.detach_payment_method("pm_card_visa")

    assert fake.requests[-1].path == "/v1/payment_methods/pm_card_visa/detach"


def test_a_card_saved_without_a_customer_can_be_removed() -> None:
    """The service removes a card that was never attached at Stripe."""
    gateway = make_gateway(make_fake().transport)
    service = PaymentService(InMemoryStorage(), gateways={"credit_card": gateway})
    card = service.add_payment_method("cus_1", type="credit_card", token="pm_card_visa")

    service.remove_payment_method(card.id)

    assert service.list_payment_methods("cus_1", include_inactive=True) == []


def test_an_unknown_method_is_a_configuration_error() -> None:
    """A token Stripe does not know raises with ``resource_missing``."""
    gateway = make_gateway(make_fake().transport)

    with pytest.raises(GatewayConfigurationError) as caught:
        gateway.attach_payment_method("tok_not_a_method", provider_customer_id=None)

    assert caught.value.gateway_code == "resource_missing"


def test_a_card_refused_on_attach_raises_a_gateway_error_with_its_code() -> None:
    """A card error while attaching raises GatewayError carrying the decline code."""
    body = stripe_error(
        "card_error", "Your card was declined.", code="card_declined", decline_code="do_not_honor"
    )
    gateway = make_gateway(answering(402, body))

    with pytest.raises(GatewayError) as caught:
        gateway.attach_payment_method("pm_1", provider_customer_id="cus_1")

    assert caught.value.gateway_code == "do_not_honor"
    assert caught.value.retryable is False


def test_attaching_again_after_a_detach_really_attaches() -> None:
    """Each attach has its own key, so re-attaching after a detach is not an old replay."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)

    gateway.attach_payment_method("pm_card_visa", provider_customer_id="cus_1")
    gateway.detach_payment_method("pm_card_visa")
    gateway.attach_payment_method("pm_card_visa", provider_customer_id="cus_1")
    gateway.detach_payment_method("pm_card_visa")

    keys = [r.idempotency_key for r in fake.requests]
    assert len(set(keys)) == 4


def test_a_lost_answer_on_attach_is_retryable() -> None:
    """Attaching is idempotent, so a lost answer raises a retryable GatewayError."""
    fake = make_fake()
    fake.inject(Fault.timeout_after_success())
    gateway = make_gateway(fake.transport)

    with pytest.raises(GatewayError) as caught:
        gateway.attach_payment_method("pm_card_visa", provider_customer_id="cus_1")

    assert caught.value.retryable is True
    details = gateway.attach_payment_method("pm_card_visa", provider_customer_id="cus_1")
    assert details.brand == "visa"
