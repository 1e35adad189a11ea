"""What StripeGateway sends to Stripe, and how it reads what Stripe answers.

Requests are captured at the HTTP level (``httpx.MockTransport``) after the real SDK built
them: method, path, form fields, ``Idempotency-Key``, ``Stripe-Version``. Answers are
Stripe's own fixture objects with only the fields a test needs overridden.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import attrs
import httpx
import pytest
import stripe
from _stripe_support import (
    API_KEY,
    NOW,
    answering,
    capture_request,
    charge_request,
    fixture,
    form_of,
    make_fake,
    make_gateway,
    payment_lookup,
    refund_lookup,
    refund_request,
    void_request,
)
from pydantic import SecretStr

from paykit import ValidationError
from paykit.gateways import (
    AUTHENTICATION_REQUIRED,
    NOT_FOUND,
    Gateway,
    GatewayOutcome,
    PaymentMethodGateway,
    WebhookGateway,
)
from paykit.gateways.stripe import StripeGateway
from paykit.testing.fake_stripe import FakeToken

_O = GatewayOutcome


def test_the_adapter_implements_all_three_protocols() -> None:
    """StripeGateway is a Gateway, a WebhookGateway and a PaymentMethodGateway named stripe."""
    gateway = make_gateway(make_fake().transport)

    assert isinstance(gateway, Gateway)
    assert isinstance(gateway, WebhookGateway)
    assert isinstance(gateway, PaymentMethodGateway)
    assert gateway.name == "stripe"


def test_importing_paykit_does_not_import_stripe_or_httpx() -> None:
    """``import paykit`` leaves the optional SDKs unloaded (they are an extra)."""
    code = (
        "import sys, paykit, paykit.gateways; "
        "assert 'stripe' not in sys.modules, 'stripe'; assert 'httpx' not in sys.modules, 'httpx'"
    )
    completed = subprocess.run(  # noqa: S603 - runs this interpreter on a fixed snippet
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr


def test_purchase_creates_and_confirms_a_payment_intent() -> None:
    """A purchase is one POST /v1/payment_intents with the amount in cents and auto capture."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)

    result = gateway.charge(charge_request(amount="25.00", description="Order 42"))

    assert result.outcome is _O.SUCCEEDED
    [sent] = fake.requests
    assert (sent.method, sent.path) == ("POST", "/v1/payment_intents")
    assert sent.form["amount"] == "2500"
    assert sent.form["currency"] == "usd"
    assert sent.form["capture_method"] == "automatic"
    assert sent.form["confirm"] == "true"
    assert sent.form["payment_method"] == FakeToken.SUCCESS
    assert sent.form["description"] == "Order 42"
    assert sent.form["metadata[paykit_payment_id]"] == "pay_test_1"
    assert sent.form["metadata[paykit_customer_id]"] == "customer-42"
    assert "customer" not in sent.form


def test_every_post_carries_the_requests_idempotency_key_and_stripe_version() -> None:
    """Charge, capture, void and refund POSTs carry their request's key and the API version."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)
    charged = gateway.charge(charge_request(payment_id="pay_a"))
    held = gateway.charge(charge_request(payment_id="pay_b", capture=False))
    other = gateway.charge(charge_request(payment_id="pay_c", capture=False))
    assert charged.provider_id
    assert held.provider_id
    assert other.provider_id

    gateway.capture(capture_request(held.provider_id, "25.00"))
    gateway.void(void_request(other.provider_id))
    gateway.refund(refund_request(charged.provider_id, "5.00"))

    posts = [r for r in fake.requests if r.method == "POST"]
    assert [r.idempotency_key for r in posts] == [
        "paykit:pay_a:charge",
        "paykit:pay_b:charge",
        "paykit:pay_c:charge",
        "paykit:pay_test_1:capture",
        "paykit:pay_test_1:void",
        "paykit:ref_test_1:refund",
    ]
    assert {r.headers["stripe-version"] for r in fake.requests} == {stripe.api_version}
    assert {r.headers["authorization"] for r in fake.requests} == {f"Bearer {API_KEY}"}


def test_reads_carry_no_idempotency_key() -> None:
    """GET requests (retrieve, search, list) are sent without an Idempotency-Key."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)
    charged = gateway.charge(charge_request())
    assert charged.provider_id

    gateway.retrieve_payment(payment_lookup(charged.provider_id))
    gateway.retrieve_payment(payment_lookup(None))
    gateway.retrieve_refund(refund_lookup(charged.provider_id, None))

    gets = [r for r in fake.requests if r.method == "GET"]
    assert len(gets) == 3
    assert all(r.idempotency_key is None for r in gets)


def test_the_stripe_version_can_be_pinned() -> None:
    """A ``stripe_version`` given to the gateway is the Stripe-Version header it sends."""
    fake = make_fake()
    gateway = make_gateway(fake.transport, stripe_version="2025-01-27.acacia")

    gateway.charge(charge_request())

    assert fake.requests[0].headers["stripe-version"] == "2025-01-27.acacia"
    assert gateway.stripe_version == "2025-01-27.acacia"


def test_authorization_asks_for_manual_capture() -> None:
    """An authorize-only charge sends capture_method=manual and comes back authorized."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)

    result = gateway.charge(charge_request(capture=False))

    assert fake.requests[0].form["capture_method"] == "manual"
    assert result.outcome is _O.AUTHORIZED
    assert str(result.amount) == "25.00 USD"


@pytest.mark.parametrize(
    ("token", "outcome", "code"),
    [
        (FakeToken.SUCCESS, _O.SUCCEEDED, None),
        (FakeToken.AUTHENTICATION_REQUIRED, _O.DECLINED, AUTHENTICATION_REQUIRED),
    ],
)
def test_an_off_session_charge_says_so_and_is_declined_rather_than_challenged(
    token: str, outcome: GatewayOutcome, code: str | None
) -> None:
    """``off_session=true`` is sent; a card wanting 3-D Secure then fails, nothing charged."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)

    request = attrs.evolve(charge_request(token=token), off_session=True)
    answer = gateway.charge(request)

    assert fake.requests[0].form["off_session"] == "true"
    assert (answer.outcome, answer.decline_code) == (outcome, code)
    assert answer.next_action is None
    assert fake.charged_units("pay_test_1") == (2500 if outcome is _O.SUCCEEDED else 0)
    on_session = make_fake()
    make_gateway(on_session.transport).charge(charge_request(token=token))
    assert "off_session" not in on_session.requests[0].form


def test_return_url_replaces_the_no_redirect_setting() -> None:
    """With a return URL it is sent; without one, redirect-based methods are switched off."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)

    gateway.charge(charge_request(payment_id="pay_a", return_url="https://shop.example/back"))
    gateway.charge(charge_request(payment_id="pay_b"))

    with_url, without = fake.requests
    assert with_url.form["return_url"] == "https://shop.example/back"
    assert "automatic_payment_methods[enabled]" not in with_url.form
    assert "return_url" not in without.form
    assert without.form["automatic_payment_methods[enabled]"] == "true"
    assert without.form["automatic_payment_methods[allow_redirects]"] == "never"


def test_the_stripe_customer_comes_only_from_the_configured_mapping() -> None:
    """No ``customer`` is sent by default (even for ``cus_`` ids); a mapping supplies one."""
    fake = make_fake()
    plain = make_gateway(fake.transport)
    mapped = make_gateway(fake.transport, stripe_customer_for=lambda c: f"cus_for_{c}")

    plain.charge(charge_request(payment_id="pay_a", customer_id="cus_looks_like_stripe"))
    mapped.charge(charge_request(payment_id="pay_b", customer_id="42"))

    assert "customer" not in fake.requests[0].form
    assert fake.requests[1].form["customer"] == "cus_for_42"


def test_capture_void_and_refund_paths_and_fields() -> None:
    """Capture, void and refund go to Stripe's paths with the amounts in minor units."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)
    held = gateway.charge(charge_request(payment_id="pay_a", capture=False))
    other = gateway.charge(charge_request(payment_id="pay_b", capture=False))
    assert held.provider_id
    assert other.provider_id

    captured = gateway.capture(capture_request(held.provider_id, "10.50"))
    voided = gateway.void(void_request(other.provider_id))
    refunded = gateway.refund(refund_request(held.provider_id, "4.25", reason="duplicate"))

    capture, void, refund = fake.requests[2:]
    assert capture.path == f"/v1/payment_intents/{held.provider_id}/capture"
    assert capture.form == {"amount_to_capture": "1050"}
    assert void.path == f"/v1/payment_intents/{other.provider_id}/cancel"
    assert refund.path == "/v1/refunds"
    assert refund.form["payment_intent"] == held.provider_id
    assert refund.form["amount"] == "425"
    assert refund.form["reason"] == "duplicate"
    assert refund.form["metadata[paykit_refund_id]"] == "ref_test_1"
    assert refund.form["metadata[paykit_payment_id]"] == "pay_test_1"
    assert (captured.outcome, str(captured.amount)) == (_O.SUCCEEDED, "10.50 USD")
    assert voided.outcome is _O.SUCCEEDED
    assert (refunded.outcome, str(refunded.amount)) == (_O.SUCCEEDED, "4.25 USD")


def test_a_free_text_refund_reason_goes_to_metadata() -> None:
    """A reason outside Stripe's enum is kept in metadata instead of being sent as ``reason``."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)
    charged = gateway.charge(charge_request())
    assert charged.provider_id

    gateway.refund(refund_request(charged.provider_id, "1.00", reason="box arrived crushed"))

    refund = fake.requests[-1]
    assert "reason" not in refund.form
    assert refund.form["metadata[paykit_reason]"] == "box arrived crushed"


def test_lookup_without_provider_id_searches_paykit_metadata() -> None:
    """Retrieve without a PaymentIntent id searches metadata for paykit's payment id."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)
    charged = gateway.charge(charge_request())

    truth = gateway.retrieve_payment(payment_lookup(None))

    search = fake.requests[-1]
    assert (search.method, search.path) == ("GET", "/v1/payment_intents/search")
    assert search.query["query"] == "metadata['paykit_payment_id']:'pay_test_1'"
    assert truth.outcome is _O.SUCCEEDED
    assert truth.provider_id == charged.provider_id


def test_search_quotes_awkward_payment_ids() -> None:
    """A quote or backslash in paykit's id is escaped in the search query, and still found."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)
    gateway.charge(charge_request(payment_id="pay_o'brien\\1"))

    truth = gateway.retrieve_payment(payment_lookup(None, payment_id="pay_o'brien\\1"))

    assert fake.requests[-1].query["query"] == "metadata['paykit_payment_id']:'pay_o\\'brien\\\\1'"
    assert truth.outcome is _O.SUCCEEDED


def test_nothing_found_by_search_is_unknown_not_declined() -> None:
    """A payment search cannot find (yet) is ``unknown``: Stripe's index trails writes."""
    gateway = make_gateway(make_fake().transport)

    truth = gateway.retrieve_payment(payment_lookup(None, payment_id="pay_never_sent"))

    assert truth.outcome is _O.UNKNOWN
    assert truth.provider_id is None
    assert "ask again later" in (truth.message or "")


@pytest.mark.parametrize(
    ("sent_ago", "trusted_after", "outcome"),
    [
        (timedelta(minutes=5), timedelta(hours=2), _O.UNKNOWN),
        (timedelta(hours=1, minutes=59), timedelta(hours=2), _O.UNKNOWN),
        (timedelta(hours=2), timedelta(hours=2), _O.DECLINED),
        (timedelta(days=3), timedelta(hours=2), _O.DECLINED),
        (timedelta(minutes=20), timedelta(minutes=15), _O.DECLINED),
    ],
)
def test_nothing_found_long_after_the_charge_was_sent_is_not_found(
    sent_ago: timedelta, trusted_after: timedelta, outcome: GatewayOutcome
) -> None:
    """Once the index has had time to catch up, nothing found means never received."""
    gateway = make_gateway(make_fake().transport, search_trusted_after=trusted_after)
    lookup = attrs.evolve(
        payment_lookup(None, payment_id="pay_never_sent"),
        submitted_at=datetime.fromtimestamp(NOW, UTC) - sent_ago,
    )

    truth = gateway.retrieve_payment(lookup)

    assert truth.outcome is outcome
    assert truth.decline_code == (NOT_FOUND if outcome is _O.DECLINED else None)
    assert truth.raw["matches"] == 0


def test_search_trusted_after_must_be_positive() -> None:
    """Zero would call every charge whose answer was lost "never received" at once."""
    with pytest.raises(ValidationError) as raised:
        make_gateway(make_fake().transport, search_trusted_after=timedelta(0))

    assert raised.value.field == "search_trusted_after"


def test_search_wait_asks_again_until_the_index_catches_up() -> None:
    """With ``search_wait`` a lookup repeats the search while nothing is found yet."""
    intent = fixture(
        "payment_intent",
        id="pi_late",
        status="succeeded",
        amount=2500,
        amount_received=2500,
        metadata={"paykit_payment_id": "pay_test_1"},
    )
    answers = iter([[], [intent]])
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"object": "search_result", "data": next(answers)})

    gateway = make_gateway(httpx.MockTransport(handler), search_wait=0.05)

    truth = gateway.retrieve_payment(payment_lookup(None))

    assert len(seen) == 2
    assert (truth.outcome, truth.provider_id) == (_O.SUCCEEDED, "pi_late")


def test_refund_lookup_without_provider_id_lists_the_payments_refunds() -> None:
    """A refund without Stripe's id is found among its PaymentIntent's refunds by paykit's id."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)
    charged = gateway.charge(charge_request())
    assert charged.provider_id
    refunded = gateway.refund(refund_request(charged.provider_id, "10.00"))

    truth = gateway.retrieve_refund(refund_lookup(charged.provider_id, None))
    missing = gateway.retrieve_refund(
        refund_lookup(charged.provider_id, None, refund_id="ref_never_sent")
    )

    listing = fake.requests[-1]
    assert (listing.method, listing.path) == ("GET", "/v1/refunds")
    assert listing.query["payment_intent"] == charged.provider_id
    assert (truth.outcome, truth.provider_id) == (_O.SUCCEEDED, refunded.provider_id)
    assert (missing.outcome, missing.decline_code) == (_O.DECLINED, "not_found")


@pytest.mark.parametrize(
    ("status", "operation_outcome"),
    [
        ("succeeded", _O.SUCCEEDED),
        ("requires_capture", _O.AUTHORIZED),
        ("requires_action", _O.REQUIRES_ACTION),
        ("processing", _O.PENDING),
        ("requires_confirmation", _O.PENDING),
        ("requires_payment_method", _O.DECLINED),
        ("canceled", _O.DECLINED),
        ("a_status_from_the_future", _O.UNKNOWN),
    ],
)
def test_payment_intent_status_maps_to_an_outcome(
    status: str, operation_outcome: GatewayOutcome
) -> None:
    """Each PaymentIntent status Stripe reports maps to the documented paykit outcome."""
    intent = fixture(
        "payment_intent",
        status=status,
        amount=2500,
        amount_received=2500 if status == "succeeded" else 0,
        amount_capturable=2500 if status == "requires_capture" else 0,
        next_action={"type": "use_stripe_sdk"} if status == "requires_action" else None,
        last_payment_error=None,
    )
    gateway = make_gateway(answering(200, intent))

    result = gateway.retrieve_payment(payment_lookup(intent["id"]))

    assert result.outcome is operation_outcome
    assert result.provider_id == intent["id"]


def test_a_cancelled_payment_intent_is_a_successful_void() -> None:
    """Cancelling answers ``canceled``, which for a void means it succeeded."""
    intent = fixture("payment_intent", status="canceled", cancellation_reason=None)
    gateway = make_gateway(answering(200, intent))

    assert gateway.void(void_request(intent["id"])).outcome is _O.SUCCEEDED


def test_a_failed_attempt_reports_the_last_payment_error() -> None:
    """``requires_payment_method`` after a failed attempt is declined with Stripe's codes."""
    intent = fixture(
        "payment_intent",
        status="requires_payment_method",
        last_payment_error={
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
        },
    )
    gateway = make_gateway(answering(200, intent))

    result = gateway.retrieve_payment(payment_lookup(intent["id"]))

    assert result.outcome is _O.DECLINED
    assert result.decline_code == "insufficient_funds"
    assert result.message == "Your card has insufficient funds."


def test_requires_action_hands_the_client_secret_over_as_a_secret_and_never_stores_it() -> None:
    """The client secret travels as a SecretStr in next_action, and raw never carries it."""
    intent = fixture(
        "payment_intent",
        status="requires_action",
        next_action={
            "type": "redirect_to_url",
            "redirect_to_url": {"url": "https://hooks.stripe.com/3ds", "return_url": "x"},
        },
    )
    secret = intent["client_secret"]
    gateway = make_gateway(answering(200, intent))

    result = gateway.charge(charge_request(return_url="https://shop.example/back"))

    assert result.outcome is _O.REQUIRES_ACTION
    action = result.next_action
    assert action is not None
    assert action.type == "redirect_to_url"
    assert action.redirect_url == "https://hooks.stripe.com/3ds"
    assert isinstance(action.client_secret, SecretStr)
    assert action.client_secret.get_secret_value() == secret
    assert secret not in repr(result)
    assert secret not in str(result.raw)
    assert "client_secret" not in result.raw


def test_raw_objects_lose_every_nested_client_secret() -> None:
    """A nested ``client_secret`` (a charge's source) is removed from ``raw`` as well."""
    charge = fixture("charge")
    assert charge["source"]["client_secret"]
    intent = fixture(
        "payment_intent", status="succeeded", amount_received=1099, latest_charge=charge
    )
    gateway = make_gateway(answering(200, intent))

    result = gateway.retrieve_payment(payment_lookup(intent["id"]))

    assert "client_secret" not in result.raw
    assert "client_secret" not in result.raw["latest_charge"]["source"]
    assert result.raw["latest_charge"]["id"] == charge["id"]


def test_retrieve_by_provider_id_reads_the_payment_intent() -> None:
    """Retrieve with a PaymentIntent id is a GET of that PaymentIntent."""
    seen: list[httpx.Request] = []
    intent = fixture("payment_intent", status="succeeded", amount_received=1099)
    gateway = make_gateway(answering(200, intent, seen=seen))

    result = gateway.retrieve_payment(payment_lookup(intent["id"]))

    assert (seen[0].method, seen[0].url.path) == ("GET", f"/v1/payment_intents/{intent['id']}")
    assert str(result.amount) == "10.99 USD"


def test_refund_statuses_map_to_outcomes() -> None:
    """A refund that is pending, failed or canceled at Stripe reads as pending or declined."""
    base = fixture("refund", payment_intent="pi_1")
    outcomes = {}
    for status in ("succeeded", "pending", "requires_action", "failed", "canceled"):
        gateway = make_gateway(answering(200, {**base, "status": status}))
        outcomes[status] = gateway.retrieve_refund(refund_lookup("pi_1", base["id"])).outcome

    assert outcomes == {
        "succeeded": _O.SUCCEEDED,
        "pending": _O.PENDING,
        "requires_action": _O.PENDING,
        "failed": _O.DECLINED,
        "canceled": _O.DECLINED,
    }


def test_confirm_posts_to_the_confirm_endpoint_with_its_key() -> None:
    """``confirm`` re-confirms a PaymentIntent with its own idempotency key."""
    seen: list[httpx.Request] = []
    intent = fixture("payment_intent", status="succeeded", amount_received=1099)
    gateway = make_gateway(answering(200, intent, seen=seen))

    result = gateway.confirm(
        intent["id"], idempotency_key="paykit:pay_test_1:confirm:2", return_url="https://x.test"
    )

    assert seen[0].url.path == f"/v1/payment_intents/{intent['id']}/confirm"
    assert seen[0].headers["idempotency-key"] == "paykit:pay_test_1:confirm:2"
    assert form_of(seen[0]) == {"return_url": "https://x.test"}
    assert result.outcome is _O.SUCCEEDED


def test_a_publishable_key_is_refused_without_echoing_it() -> None:
    """A ``pk_`` key cannot make server calls: refused at construction, the key not shown."""
    key = "pk_test_51PublishableKeyNeverShown"

    with pytest.raises(Exception, match="secret key") as caught:
        StripeGateway(key, transport=make_fake().transport)

    assert key not in str(caught.value)
    assert key not in repr(caught.value)


def test_the_repr_shows_the_mode_and_never_the_key() -> None:
    """The gateway's repr says test or live mode and hides the key."""
    gateway = make_gateway(make_fake().transport)

    assert repr(gateway) == "StripeGateway(name='stripe', mode='test', max_network_retries=0)"
    assert gateway.mode == "test"
    assert API_KEY not in repr(gateway)
    assert API_KEY not in repr(vars(gateway))


def test_a_negative_retry_count_is_refused() -> None:
    """``max_network_retries`` below zero is a configuration mistake."""
    with pytest.raises(ValidationError) as raised:
        make_gateway(make_fake().transport, max_network_retries=-1)
    assert raised.value.field == "max_network_retries"


def test_the_gateway_closes_only_the_clients_it_built() -> None:
    """``close`` leaves a caller's httpx client open and works as a context manager."""
    fake = make_fake()
    client = httpx.Client(transport=fake.transport)
    with StripeGateway(API_KEY, http_client=client) as gateway:
        assert gateway.charge(charge_request()).outcome is _O.SUCCEEDED
    assert not client.is_closed
    client.close()
