"""The Idempotency-Key contract: the same key on every attempt, so money moves at most once.

The SDK's own retries (``max_network_retries``) sleep between attempts (at least half a
second each), so the tests that use them are the slowest of the suite; they are kept few.
"""

from __future__ import annotations

import pytest
from _stripe_support import charge_request, make_fake, make_gateway, payment_lookup

from paykit.errors import IdempotencyConflict
from paykit.gateways import GatewayOutcome
from paykit.testing.fake_stripe import Fault

_O = GatewayOutcome


def test_connection_reset_then_success_sends_one_key_twice_and_charges_once() -> None:
    """A reset connection is retried by the SDK with the same key; the card is charged once."""
    fake = make_fake()
    fake.inject(Fault.connection_refused(), method="POST", path="/v1/payment_intents")
    gateway = make_gateway(fake.transport, max_network_retries=1)

    result = gateway.charge(charge_request(amount="25.00"))

    assert result.outcome is _O.SUCCEEDED
    attempts = [r for r in fake.requests if r.path == "/v1/payment_intents"]
    assert len(attempts) == 2
    assert {r.idempotency_key for r in attempts} == {"paykit:pay_test_1:charge"}
    assert attempts[0].form == attempts[1].form
    assert fake.charged_units("pay_test_1") == 2500
    assert len(fake.payment_intents_for("pay_test_1")) == 1


def test_a_lost_answer_is_replayed_on_the_sdk_retry_not_charged_again() -> None:
    """Stripe charged but the answer was lost: the retry gets the replay, one charge in all."""
    fake = make_fake()
    fake.inject(Fault.timeout_after_success(), method="POST", path="/v1/payment_intents")
    gateway = make_gateway(fake.transport, max_network_retries=1)

    result = gateway.charge(charge_request(amount="25.00"))

    assert result.outcome is _O.SUCCEEDED
    assert [r.idempotency_key for r in fake.requests] == ["paykit:pay_test_1:charge"] * 2
    assert fake.charged_units("pay_test_1") == 2500


def test_default_retries_survive_two_failures_with_one_key() -> None:
    """The default of two SDK retries rides out a reset and a 503, all under one key."""
    fake = make_fake()
    fake.inject(Fault.connection_refused(), method="POST")
    fake.inject(Fault.error(503, "api_error", message="Service unavailable"), method="POST")
    gateway = make_gateway(fake.transport, max_network_retries=2)

    result = gateway.charge(charge_request())

    assert result.outcome is _O.SUCCEEDED
    assert len(fake.requests) == 3
    assert {r.idempotency_key for r in fake.requests} == {"paykit:pay_test_1:charge"}
    assert fake.charged_units("pay_test_1") == 2500


def test_exhausted_retries_are_unknown_and_a_later_retry_charges_once() -> None:
    """When every attempt fails the charge is ``unknown``; paykit's retry later is a replay."""
    fake = make_fake()
    fake.inject(Fault.timeout_after_success(), method="POST", path="/v1/payment_intents")
    gateway = make_gateway(fake.transport, max_network_retries=0)
    request = charge_request()

    first = gateway.charge(request)
    truth = gateway.retrieve_payment(payment_lookup(None))
    again = gateway.charge(request)

    assert first.outcome is _O.UNKNOWN
    assert truth.outcome is _O.SUCCEEDED
    assert again.outcome is _O.SUCCEEDED
    assert again.provider_id == truth.provider_id
    posts = [r for r in fake.requests if r.method == "POST"]
    assert [r.idempotency_key for r in posts] == [request.idempotency_key] * 2
    assert fake.charged_units("pay_test_1") == 2500


def test_the_same_key_with_other_parameters_is_refused_by_stripe() -> None:
    """Reusing a key for a different amount is an IdempotencyConflict; nothing is charged."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)
    gateway.charge(charge_request(amount="25.00"))

    with pytest.raises(IdempotencyConflict):
        gateway.charge(charge_request(amount="30.00"))

    assert fake.charged_units("pay_test_1") == 2500
