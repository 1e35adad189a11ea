"""Every class of Stripe error, mapped to paykit's outcomes and errors; the key never leaks."""

from __future__ import annotations

import logging
import traceback

import httpx
import pytest
import stripe
from _stripe_support import (
    API_KEY,
    answering,
    capture_request,
    charge_request,
    fixture,
    make_fake,
    make_gateway,
    payment_lookup,
    refund_request,
    stripe_error,
    void_request,
)

from paykit.errors import (
    GatewayConfigurationError,
    GatewayError,
    IdempotencyConflict,
    PaykitError,
)
from paykit.gateways import GatewayOutcome, VoidRequest
from paykit.testing.fake_stripe import FakeToken, Fault

_O = GatewayOutcome


def test_card_error_is_a_decline_with_the_issuers_code() -> None:
    """A 402 card error is ``declined`` with ``decline_code`` and Stripe's customer message."""
    intent = fixture("payment_intent", status="requires_payment_method")
    body = stripe_error(
        "card_error",
        "Your card has insufficient funds.",
        code="card_declined",
        decline_code="insufficient_funds",
        payment_intent=intent,
        charge="ch_1",
    )
    gateway = make_gateway(answering(402, body))

    result = gateway.charge(charge_request())

    assert result.outcome is _O.DECLINED
    assert result.decline_code == "insufficient_funds"
    assert result.message == "Your card has insufficient funds."
    assert result.provider_id == intent["id"]
    assert result.raw["request_id"] == "req_test123"
    assert result.raw["error"]["code"] == "card_declined"
    assert "client_secret" not in result.raw["payment_intent"]


def test_card_error_without_a_decline_code_uses_the_error_code() -> None:
    """A card error that is not an issuer decline (an expired card) reports its ``code``."""
    body = stripe_error("card_error", "Your card has expired.", code="expired_card")
    gateway = make_gateway(answering(402, body))

    result = gateway.charge(charge_request())

    assert (result.outcome, result.decline_code) == (_O.DECLINED, "expired_card")
    assert result.message == "Your card has expired."
    assert result.provider_id is None


def test_the_fake_decline_is_a_decline_too() -> None:
    """The scripted decline goes through the SDK's CardError path like a real one."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)

    result = gateway.charge(charge_request(token=FakeToken.INSUFFICIENT_FUNDS))

    assert (result.outcome, result.decline_code) == (_O.DECLINED, "insufficient_funds")
    assert fake.charged_units("pay_test_1") == 0


@pytest.mark.parametrize(
    "fault",
    [
        Fault.connection_refused(),
        Fault.timeout_after_success(),
        Fault.error(500, "api_error", message="Internal error"),
        Fault.error(502, "api_error"),
        Fault.error(503, "api_error"),
        Fault.error(409, "invalid_request_error", code="lock_timeout"),
    ],
    ids=["connection reset", "read timeout", "500", "502", "503", "409"],
)
def test_no_conclusive_answer_is_unknown(fault: Fault) -> None:
    """Connection errors, timeouts, 5xx and 409 are ``unknown``: the payment stays processing."""
    fake = make_fake()
    fake.inject(fault)
    gateway = make_gateway(fake.transport, max_network_retries=0)

    result = gateway.charge(charge_request())

    assert result.outcome is _O.UNKNOWN
    assert result.decline_code is None
    assert "ask Stripe again" in (result.message or "")
    assert "error_type" in result.raw


def test_a_garbled_answer_is_unknown() -> None:
    """A 200 whose body is not JSON cannot be read, so the outcome is unknown."""
    gateway = make_gateway(
        httpx.MockTransport(lambda _request: httpx.Response(200, content=b"<html>oops"))
    )

    assert gateway.charge(charge_request()).outcome is _O.UNKNOWN


def test_rate_limit_is_a_retryable_gateway_error_and_nothing_moved() -> None:
    """A 429 raises GatewayError(retryable=True) with Stripe's code and request id."""
    fake = make_fake()
    fake.inject(Fault.error(429, "invalid_request_error", code="rate_limit"))
    gateway = make_gateway(fake.transport)

    with pytest.raises(GatewayError) as caught:
        gateway.charge(charge_request())

    error = caught.value
    assert not isinstance(error, GatewayConfigurationError)
    assert error.retryable is True
    assert error.gateway_code == "rate_limit"
    assert error.request_id
    assert error.request_id.startswith("req_")
    assert fake.charged_units("pay_test_1") == 0
    assert gateway.charge(charge_request()).outcome is _O.SUCCEEDED


@pytest.mark.parametrize(
    ("status", "error_type", "code"),
    [
        (401, "invalid_request_error", None),
        (403, "invalid_request_error", "secret_key_required"),
        (400, "invalid_request_error", "parameter_invalid_integer"),
        (404, "invalid_request_error", "resource_missing"),
    ],
    ids=["authentication", "permission", "invalid request", "not found"],
)
def test_our_mistakes_raise_a_configuration_error_with_the_request_id(
    status: int, error_type: str, code: str | None
) -> None:
    """Authentication, permission and invalid-request errors raise, naming request and code."""
    body = stripe_error(error_type, f"Invalid API Key provided: {API_KEY}", code=code)
    gateway = make_gateway(answering(status, body))

    with pytest.raises(GatewayConfigurationError) as caught:
        gateway.charge(charge_request())

    error = caught.value
    assert error.request_id == "req_test123"
    assert error.gateway_code == code
    assert error.retryable is False
    assert "req_test123" in str(error)
    rendered = "".join(traceback.format_exception(error))
    for text in (str(error), repr(error), error.gateway_message or "", rendered):
        assert API_KEY not in text
        assert "sk_test_" not in text


def test_a_reused_key_is_an_idempotency_conflict() -> None:
    """Stripe's ``idempotency_error`` becomes paykit's IdempotencyConflict."""
    body = stripe_error("idempotency_error", "Keys for idempotent requests can only be used...")
    gateway = make_gateway(answering(400, body))

    with pytest.raises(IdempotencyConflict, match="idempotency key"):
        gateway.charge(charge_request())


def test_capture_above_the_authorization_is_declined_not_an_error() -> None:
    """Stripe's ``amount_too_large`` on a capture is a refusal of the operation: declined."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)
    held = gateway.charge(charge_request(capture=False))
    assert held.provider_id

    result = gateway.capture(capture_request(held.provider_id, "30.00"))

    assert (result.outcome, result.decline_code) == (_O.DECLINED, "amount_too_large")
    assert result.message
    assert gateway.retrieve_payment(payment_lookup(held.provider_id)).outcome is _O.AUTHORIZED


def test_operations_on_the_wrong_state_are_declined() -> None:
    """Capturing a voided payment or voiding a captured one is declined by state."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)
    held = gateway.charge(charge_request(payment_id="pay_a", capture=False))
    paid = gateway.charge(charge_request(payment_id="pay_b"))
    assert held.provider_id
    assert paid.provider_id
    gateway.void(void_request(held.provider_id))

    capture = gateway.capture(capture_request(held.provider_id, "25.00"))
    void = gateway.void(
        VoidRequest(
            payment_id="pay_b",
            provider_payment_id=paid.provider_id,
            idempotency_key="paykit:pay_b:void",
        )
    )

    assert (capture.outcome, capture.decline_code) == (
        _O.DECLINED,
        "payment_intent_unexpected_state",
    )
    assert (void.outcome, void.decline_code) == (_O.DECLINED, "payment_intent_unexpected_state")


def test_refunds_beyond_the_payment_are_declined() -> None:
    """Refunding more than remains, or a fully refunded payment, is declined by Stripe."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)
    paid = gateway.charge(charge_request())
    assert paid.provider_id

    too_much = gateway.refund(refund_request(paid.provider_id, "30.00", refund_id="ref_a"))
    whole = gateway.refund(refund_request(paid.provider_id, "25.00", refund_id="ref_b"))
    again = gateway.refund(refund_request(paid.provider_id, "1.00", refund_id="ref_c"))

    assert (too_much.outcome, too_much.decline_code) == (_O.DECLINED, "amount_too_large")
    assert whole.outcome is _O.SUCCEEDED
    assert (again.outcome, again.decline_code) == (_O.DECLINED, "charge_already_refunded")
    assert fake.refunded_units("pay_test_1") == 2500


def test_a_state_code_on_a_charge_is_still_a_configuration_error() -> None:
    """``amount_too_large`` on a charge means the amount is above Stripe's limit: our error."""
    body = stripe_error("invalid_request_error", "Amount must be no more than $999,999.99")
    body["error"]["code"] = "amount_too_large"
    gateway = make_gateway(answering(400, body))

    with pytest.raises(GatewayConfigurationError) as caught:
        gateway.charge(charge_request())

    assert caught.value.gateway_code == "amount_too_large"


def test_every_mapped_error_is_a_paykit_error_or_a_value() -> None:
    """Nothing the SDK raises escapes as a bare StripeError."""
    for status in (400, 401, 402, 403, 404, 409, 418, 429, 500):
        gateway = make_gateway(answering(status, stripe_error("api_error", "scripted")))
        try:
            gateway.charge(charge_request())
        except PaykitError:
            pass
        except stripe.StripeError as error:  # pragma: no cover - the failure message
            pytest.fail(f"HTTP {status} escaped as {error!r}")


def test_the_key_is_never_logged(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the SDK and httpx logging at debug level, no log line carries the secret key."""
    monkeypatch.setattr(stripe, "log", "debug")
    caplog.set_level(logging.DEBUG)
    fake = make_fake()
    masked = f"Invalid API Key provided: sk_test_{'*' * 24}{API_KEY[-4:]}"  # as Stripe says it
    fake.inject(Fault.error(401, "invalid_request_error", message=masked))
    gateway = make_gateway(fake.transport)

    with pytest.raises(GatewayConfigurationError):
        gateway.charge(charge_request(payment_id="pay_a"))
    gateway.charge(charge_request(payment_id="pay_b"))

    assert caplog.records, "the SDK should have logged something at debug level"
    assert API_KEY not in caplog.text
