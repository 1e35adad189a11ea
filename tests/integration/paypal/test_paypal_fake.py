"""FakePayPal itself: PayPal's idempotency rules, its refusals and its scripting hooks."""

from __future__ import annotations

import httpx
import pytest
from _paypal_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    make_fake,
    make_gateway,
    payment_lookup,
    refund_request,
    validating,
    vault_charge,
)

from paykit.domain.payment_method import PaymentMethodType
from paykit.gateways import GatewayOutcome
from paykit.gateways.paypal import CHECKOUT_TOKEN
from paykit.testing import FaultKind
from paykit.testing.fake_paypal import FakePayPal, FakeVault, Fault


def _client(fake: FakePayPal) -> tuple[httpx.Client, dict[str, str]]:
    transport, _ = validating(fake)
    client = httpx.Client(transport=transport, base_url="https://api-m.sandbox.paypal.com")
    token = client.post(
        "/v1/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(CLIENT_ID, CLIENT_SECRET),
    ).json()["access_token"]
    return client, {"Authorization": f"Bearer {token}"}


_ORDER = {
    "intent": "CAPTURE",
    "purchase_units": [
        {"reference_id": "default", "amount": {"currency_code": "USD", "value": "5.00"}}
    ],
    "payment_source": {"paypal": {"vault_id": FakeVault.SUCCESS}},
}


def test_a_known_request_id_replays_the_first_order_whatever_the_body() -> None:
    """The same ``PayPal-Request-Id`` answers 200 with the first order, not a second order."""
    fake = make_fake()
    client, auth = _client(fake)
    headers = {**auth, "PayPal-Request-Id": "req-1", "Prefer": "return=representation"}

    first = client.post("/v2/checkout/orders", json=_ORDER, headers=headers)
    other = {**_ORDER, "purchase_units": [{"amount": {"currency_code": "USD", "value": "9.00"}}]}
    second = client.post("/v2/checkout/orders", json=other, headers=headers)

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["purchase_units"][0]["amount"]["value"] == "5.00"
    assert len(fake.ledger) == 1


def test_minimal_answers_without_prefer() -> None:
    """Without ``Prefer: return=representation`` an order answer is id, status and links."""
    fake = make_fake()
    client, auth = _client(fake)

    answer = client.post(
        "/v2/checkout/orders", json=_ORDER, headers={**auth, "PayPal-Request-Id": "r"}
    ).json()

    assert set(answer) == {"id", "status", "links"}


def test_a_payment_source_needs_a_request_id() -> None:
    """Like PayPal, the fake refuses to pay an order without ``PayPal-Request-Id``."""
    fake = make_fake()
    client, auth = _client(fake)

    answer = client.post("/v2/checkout/orders", json=_ORDER, headers=auth)

    assert answer.status_code == 400
    assert answer.json()["details"][0]["issue"] == "PAYPAL_REQUEST_ID_REQUIRED"


def test_unauthenticated_calls_get_401() -> None:
    """A call without a live token is refused with PayPal's AUTHENTICATION_FAILURE."""
    fake = make_fake()
    client, _ = _client(fake)

    answer = client.get("/v2/checkout/orders/ANY", headers={"Authorization": "Bearer nope"})

    assert answer.status_code == 401
    assert answer.json()["name"] == "AUTHENTICATION_FAILURE"


def test_approve_only_waiting_orders() -> None:
    """``approve`` plays the payer on orders that wait for one, and refuses the others."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    paid = gateway.charge(vault_charge())
    waiting = gateway.charge(vault_charge(CHECKOUT_TOKEN, payment_id="pay_2"))
    assert paid.provider_id
    assert waiting.provider_id

    fake.approve(waiting.provider_id)
    assert fake.order(waiting.provider_id)["status"] == "APPROVED"
    with pytest.raises(ValueError, match="not waiting"):
        fake.approve(paid.provider_id)
    assert repr(fake).startswith("FakePayPal(orders=2")
    assert "authorization" not in repr(fake.requests[-1]).lower()


def test_3ds_on_a_saved_card_is_an_approval() -> None:
    """A saved card that needs 3-D Secure waits like a checkout and is captured on lookup."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    waiting = gateway.charge(
        vault_charge(FakeVault.REQUIRES_3DS, kind=PaymentMethodType.CREDIT_CARD)
    )
    assert waiting.outcome.value == "requires_action"
    assert waiting.provider_id
    fake.approve(waiting.provider_id)

    assert (
        gateway.retrieve_payment(payment_lookup(waiting.provider_id)).outcome.value == "succeeded"
    )


def test_pending_captures_are_pending() -> None:
    """A capture held for review is ``pending``, and a refund of it is refused for now."""
    gateway = make_gateway()
    result = gateway.charge(vault_charge(FakeVault.PENDING))
    assert result.outcome.value == "pending"
    assert result.provider_id

    refund = gateway.refund(refund_request(result.provider_id, "1.00"))
    assert (refund.outcome.value, refund.decline_code) == ("declined", "NOT_CAPTURED")


@pytest.mark.parametrize(
    ("fault", "error", "acted"),
    [
        (Fault.connection_refused(), httpx.ConnectError, False),
        (Fault.timeout_after_success(), httpx.ReadTimeout, True),
        (Fault.dropped_response(), httpx.RemoteProtocolError, True),
    ],
    ids=["connection_refused", "timeout_after_success", "dropped_response"],
)
def test_each_transport_fault_does_what_its_kind_says(
    fault: Fault, error: type[httpx.TransportError], acted: bool
) -> None:
    """A refused request is not carried out; a lost answer was, and the retry gets the order."""
    fake = make_fake()
    client, auth = _client(fake)
    headers = {**auth, "PayPal-Request-Id": "req-1"}
    fake.inject(fault, method="POST", path="/v2/checkout/orders")

    with pytest.raises(error):
        client.post("/v2/checkout/orders", json=_ORDER, headers=headers)
    assert len(fake.ledger) == int(acted)
    retry = client.post("/v2/checkout/orders", json=_ORDER, headers=headers)

    assert retry.status_code == (200 if acted else 201)  # 200: PayPal's answer to a known id
    assert len(fake.ledger) == 1


def test_a_dropped_response_leaves_the_charge_unknown() -> None:
    """Through the adapter a dropped answer is ``unknown``, though PayPal charged."""
    fake = make_fake()
    fake.inject(Fault.dropped_response(), method="POST", path="/v2/checkout/orders")

    result = make_gateway(fake=fake).charge(vault_charge())

    assert result.outcome is GatewayOutcome.UNKNOWN
    assert len(fake.orders_for("pay_test_1")) == 1


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, FaultKind.RATE_LIMITED),
        (500, FaultKind.SERVER_ERROR),
        (503, FaultKind.SERVER_ERROR),
        (401, FaultKind.ERROR_RESPONSE),
        (422, FaultKind.ERROR_RESPONSE),
    ],
)
def test_an_error_answer_is_named_by_its_status(status: int, kind: FaultKind) -> None:
    """``Fault.error`` is a 429, a 5xx or another error answer in the one fault vocabulary."""
    fault = Fault.error(status, "SOME_ISSUE")

    assert (fault.kind, fault.answered) == (kind, True)
    assert fault.body["details"][0]["issue"] == "SOME_ISSUE"


def test_an_error_answer_is_sent_instead_of_acting() -> None:
    """A scripted 422 reaches the caller as PayPal's error object; no order is made."""
    fake = make_fake()
    client, auth = _client(fake)
    fake.inject(Fault.error(422, "INSTRUMENT_DECLINED"), method="POST")

    answer = client.post(
        "/v2/checkout/orders", json=_ORDER, headers={**auth, "PayPal-Request-Id": "r"}
    )

    assert answer.status_code == 422
    assert answer.json()["details"][0]["issue"] == "INSTRUMENT_DECLINED"
    assert fake.ledger == []


def test_the_old_names_of_the_transport_faults_still_work() -> None:
    """``reset`` and ``lose_answer`` are the deprecated names of the refused and lost faults."""
    assert Fault.reset() == Fault.connection_refused()
    assert Fault.lose_answer() == Fault.timeout_after_success()
    assert isinstance(Fault.lose_answer(), Fault)
