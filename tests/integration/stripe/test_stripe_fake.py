"""The shipped FakeStripe behaves like Stripe where paykit's tests rely on it."""

from __future__ import annotations

import httpx
import pytest
from _stripe_support import API_KEY, charge_request, make_fake, make_gateway, payment_lookup

from paykit.errors import GatewayError
from paykit.gateways import GatewayOutcome
from paykit.testing import FaultKind
from paykit.testing.fake_stripe import FakeStripe, FakeToken, Fault

_O = GatewayOutcome
_AUTH = {"Authorization": f"Bearer {API_KEY}"}


def _post(fake: FakeStripe, path: str, data: dict[str, str], key: str) -> httpx.Response:
    with httpx.Client(transport=fake.transport, base_url="https://api.stripe.com") as client:
        return client.post(path, data=data, headers={**_AUTH, "Idempotency-Key": key})


def test_a_replayed_key_returns_the_first_answer_marked_as_replayed() -> None:
    """The same key and parameters get the stored answer with Idempotent-Replayed: true."""
    fake = make_fake()
    form = {"amount": "100", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}

    first = _post(fake, "/v1/payment_intents", form, "k1")
    second = _post(fake, "/v1/payment_intents", form, "k1")

    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(fake.ledger) == 1


def test_a_key_reused_with_other_parameters_is_an_idempotency_error() -> None:
    """The same key with a different body is a 400 ``idempotency_error``."""
    fake = make_fake()
    _post(fake, "/v1/payment_intents", {"amount": "100", "currency": "usd"}, "k1")

    answer = _post(fake, "/v1/payment_intents", {"amount": "200", "currency": "usd"}, "k1")

    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "idempotency_error"


def test_a_wrong_key_and_an_unknown_path_are_refused() -> None:
    """Another API key gets a 401; a path the fake does not serve gets a 404."""
    fake = make_fake()
    with httpx.Client(transport=fake.transport, base_url="https://api.stripe.com") as client:
        unauthorised = client.get("/v1/payment_intents/pi_1", headers={"Authorization": "Bearer x"})
        unknown = client.get("/v1/charges", headers=_AUTH)

    assert unauthorised.status_code == 401
    assert unknown.status_code == 404


def test_a_rate_limited_request_is_not_remembered_under_its_key() -> None:
    """After a 429 the same key is free: the retry is carried out, once."""
    fake = make_fake()
    fake.inject(Fault.error(429, "invalid_request_error", code="rate_limit"))
    gateway = make_gateway(fake.transport)

    with pytest.raises(GatewayError):
        gateway.charge(charge_request())
    result = gateway.charge(charge_request())

    assert result.outcome is _O.SUCCEEDED
    assert fake.charged_units("pay_test_1") == 2500


def test_injected_faults_apply_as_many_times_as_asked_then_stop() -> None:
    """A fault injected ``times=2`` hits two matching requests and no more."""
    fake = make_fake()
    fake.inject(Fault.error(503, "api_error"), method="GET", times=2)
    gateway = make_gateway(fake.transport)
    charged = gateway.charge(charge_request())
    lookup = payment_lookup(charged.provider_id)

    outcomes = [gateway.retrieve_payment(lookup).outcome for _ in range(3)]

    assert outcomes == [_O.UNKNOWN, _O.UNKNOWN, _O.SUCCEEDED]


def test_a_failed_challenge_leaves_the_payment_declined() -> None:
    """A customer who fails 3-D Secure leaves a PaymentIntent that reads as declined."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)
    result = gateway.charge(charge_request(token=FakeToken.AUTHENTICATION_REQUIRED))
    assert result.provider_id

    fake.complete_action(result.provider_id, succeed=False)
    truth = gateway.retrieve_payment(payment_lookup(result.provider_id))

    assert (truth.outcome, truth.decline_code) == (
        _O.DECLINED,
        "payment_intent_authentication_failure",
    )
    assert fake.charged_units("pay_test_1") == 0


def test_the_built_in_shapes_work_without_fixtures() -> None:
    """Without templates the fake still answers every flow paykit uses."""
    fake = FakeStripe()
    gateway = make_gateway(fake.transport)

    held = gateway.charge(charge_request(capture=False))

    assert held.outcome is _O.AUTHORIZED
    assert repr(fake) == "FakeStripe(intents=1, refunds=0)"


_CHARGE = {"amount": "100", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}


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
    """A refused request is not carried out; a lost answer was, and the retry gets the replay."""
    fake = make_fake()
    fake.inject(fault, method="POST", path="/v1/payment_intents")

    with pytest.raises(error):
        _post(fake, "/v1/payment_intents", _CHARGE, "k1")
    assert len(fake.ledger) == int(acted)
    retry = _post(fake, "/v1/payment_intents", _CHARGE, "k1")

    assert retry.status_code == 200
    assert ("idempotent-replayed" in retry.headers) is acted
    assert len(fake.ledger) == 1


def test_a_dropped_response_leaves_the_charge_unknown() -> None:
    """Through the adapter a dropped answer is ``unknown``, though Stripe charged."""
    fake = make_fake()
    fake.inject(Fault.dropped_response(), method="POST")
    gateway = make_gateway(fake.transport)

    result = gateway.charge(charge_request())

    assert result.outcome is _O.UNKNOWN
    assert fake.charged_units("pay_test_1") == 2500


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, FaultKind.RATE_LIMITED),
        (500, FaultKind.SERVER_ERROR),
        (503, FaultKind.SERVER_ERROR),
        (401, FaultKind.ERROR_RESPONSE),
        (402, FaultKind.ERROR_RESPONSE),
    ],
)
def test_an_error_answer_is_named_by_its_status(status: int, kind: FaultKind) -> None:
    """``Fault.error`` is a 429, a 5xx or another error answer in the one fault vocabulary."""
    fault = Fault.error(status, "api_error", headers={"retry-after": "1"})

    assert (fault.kind, fault.answered) == (kind, True)
    assert fault.body["error"]["type"] == "api_error"
    assert fault.headers == {"retry-after": "1"}


def test_the_old_names_of_the_transport_faults_still_work() -> None:
    """``reset`` and ``lose_answer`` are the deprecated names of the refused and lost faults."""
    assert Fault.reset() == Fault.connection_refused()
    assert Fault.lose_answer() == Fault.timeout_after_success()
    assert isinstance(Fault.reset(), Fault)
    assert not Fault.connection_refused().answered


def test_a_fault_outside_the_fakes_vocabulary_or_for_no_request_is_refused() -> None:
    """A webhook fault cannot be scripted on a request, and ``times`` must be at least 1."""
    with pytest.raises(ValueError, match="kind"):
        Fault(kind=FaultKind.LOST_WEBHOOK)
    with pytest.raises(ValueError, match="at least 1"):
        make_fake().inject(Fault.connection_refused(), times=0)
