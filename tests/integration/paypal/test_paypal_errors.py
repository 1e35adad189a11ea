"""PayPal's answers mapped to outcomes: declines, payer action, unknowns, and our own mistakes."""

from __future__ import annotations

import logging

import httpx
import pytest
from _paypal_support import (
    CLIENT_SECRET,
    answering,
    capture_request,
    charge_request,
    make_fake,
    make_gateway,
    payment_lookup,
    paypal_error,
    refund_lookup,
    refund_request,
    vault_charge,
    void_request,
)

from paykit.errors import GatewayConfigurationError, GatewayError
from paykit.gateways import GatewayOutcome
from paykit.gateways.base import NOT_FOUND
from paykit.testing.fake_paypal import FakePayer, FakeVault, Fault

_O = GatewayOutcome
ORDERS = "/v2/checkout/orders"


@pytest.mark.parametrize(
    "issue",
    [
        "INSTRUMENT_DECLINED",
        "PAYER_CANNOT_PAY",
        "PAYER_ACCOUNT_RESTRICTED",
        "TRANSACTION_REFUSED",
        "PAYMENT_SOURCE_DECLINED_BY_PROCESSOR",
    ],
)
def test_payer_side_issues_are_declines(issue: str) -> None:
    """A payer-side 422 is ``declined`` with the issue as code and a message for the payer."""
    fake = make_fake()
    fake.inject(Fault.error(422, issue), method="POST", path=ORDERS)

    result = make_gateway(fake=fake).charge(vault_charge())

    assert result.outcome is _O.DECLINED
    assert result.decline_code == issue
    assert result.message
    assert result.raw["debug_id"]


def test_a_declined_vault_charge_and_its_lookup() -> None:
    """A declined saved account is declined; the lookup then finds no order: not found."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)

    result = gateway.charge(vault_charge(FakeVault.DECLINED))
    truth = gateway.retrieve_payment(payment_lookup(None))

    assert result.outcome is _O.DECLINED
    assert result.decline_code == "INSTRUMENT_DECLINED"
    assert truth.outcome is _O.DECLINED
    assert truth.decline_code == NOT_FOUND
    assert fake.ledger == []


def test_processor_declines_carry_the_processor_code() -> None:
    """An order completed with a DECLINED capture is ``declined`` with the processor's code."""
    result = make_gateway().charge(vault_charge(FakeVault.PROCESSOR_DECLINED))
    held = make_gateway().charge(vault_charge(FakeVault.PROCESSOR_DECLINED, capture=False))

    assert (result.outcome, result.decline_code) == (_O.DECLINED, "5120")
    assert (held.outcome, held.decline_code) == (_O.DECLINED, "5120")


@pytest.mark.parametrize("issue", ["ORDER_NOT_APPROVED", "PAYER_ACTION_REQUIRED"])
def test_unapproved_orders_require_action(issue: str) -> None:
    """Completing an order the payer has not approved yet is ``requires_action``, not a failure."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    order = gateway.charge(charge_request())
    assert order.provider_id
    fake.approve(order.provider_id)
    fake.inject(
        Fault.error(422, issue), method="POST", path=f"{ORDERS}/{order.provider_id}/capture"
    )

    result = gateway.retrieve_payment(payment_lookup(order.provider_id))

    assert result.outcome is _O.REQUIRES_ACTION
    assert result.provider_id == order.provider_id


def test_the_payers_funding_declined_at_capture() -> None:
    """A payer whose funding PayPal declines when paykit captures is ``declined``."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    order = gateway.charge(charge_request())
    assert order.provider_id
    fake.approve(order.provider_id, payer=FakePayer.DECLINED)

    result = gateway.retrieve_payment(payment_lookup(order.provider_id))

    assert (result.outcome, result.decline_code) == (_O.DECLINED, "INSTRUMENT_DECLINED")
    assert result.provider_id == order.provider_id
    assert fake.ledger == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_unknown(status: int) -> None:
    """A 5xx answer to a charge is ``unknown``: PayPal may have acted."""
    fake = make_fake()
    fake.inject(Fault.error(status), method="POST", path=ORDERS)

    result = make_gateway(fake=fake).charge(vault_charge())

    assert result.outcome is _O.UNKNOWN
    assert "ask PayPal again" in (result.message or "")


def test_a_timeout_after_sending_is_unknown_and_the_lookup_finds_the_order() -> None:
    """A lost answer is ``unknown``; the lookup by paykit's key finds the order that was paid."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)

    result = gateway.charge(vault_charge(FakeVault.LOST_ANSWER))
    truth = gateway.retrieve_payment(payment_lookup(None))

    assert result.outcome is _O.UNKNOWN
    assert truth.outcome is _O.SUCCEEDED
    assert truth.provider_id == fake.orders_for("pay_test_1")[0]["id"]
    assert len(fake.orders_for("pay_test_1")) == 1


def test_a_connection_that_never_opened_is_a_retryable_error() -> None:
    """A refused connection proves nothing was sent: a retryable error, not ``unknown``."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    gateway.charge(vault_charge(payment_id="pay_warm"))  # the token is cached
    fake.inject(Fault.connection_refused(), method="POST", path=ORDERS)

    with pytest.raises(GatewayError) as raised:
        gateway.charge(vault_charge())

    assert raised.value.retryable
    assert fake.orders_for("pay_test_1") == []


def test_a_reset_then_a_lost_answer_is_unknown() -> None:
    """Once any attempt may have arrived, exhausted retries are ``unknown``, never an error."""
    fake = make_fake()
    fake.inject(Fault.timeout_after_success(), method="POST", path=ORDERS)
    fake.inject(Fault.connection_refused(), method="POST", path=ORDERS, times=2)

    result = make_gateway(fake=fake, max_retries=2).charge(vault_charge())

    assert result.outcome is _O.UNKNOWN


def test_429_is_a_retryable_error() -> None:
    """Rate limiting turns the request away before anything happens: a retryable error."""
    # PayPal's schemas describe no 429 body, so a scripted answer stands in for the fake.
    transport, _ = answering(paypal_error(429))

    with pytest.raises(GatewayError) as raised:
        make_gateway(transport).charge(vault_charge())

    assert raised.value.retryable
    assert raised.value.gateway_code == "RATE_LIMIT_REACHED"


@pytest.mark.parametrize(
    ("status", "issue", "description"),
    [
        (400, "INVALID_PARAMETER_VALUE", "A parameter value is not valid."),
        (400, "MISSING_REQUIRED_PARAMETER", "A required parameter is missing."),
        (
            403,
            "PERMISSION_DENIED",
            "You do not have permission to access or perform operations on this resource.",
        ),
        (422, "DUPLICATE_INVOICE_ID", None),
        (422, "PAYEE_ACCOUNT_RESTRICTED", None),
    ],
)
def test_validation_and_permission_errors_are_configuration_errors(
    status: int, issue: str, description: str | None
) -> None:
    """Our mistakes raise ``GatewayConfigurationError`` with the issue and PayPal's debug_id."""
    fake = make_fake()
    fake.inject(Fault.error(status, issue, description), method="POST", path=ORDERS)

    with pytest.raises(GatewayConfigurationError) as raised:
        make_gateway(fake=fake).charge(vault_charge())

    error = raised.value
    assert error.gateway_code == issue
    assert error.request_id
    assert f"debug_id {error.request_id}" in str(error)
    if description is not None:
        assert error.gateway_message == description


@pytest.mark.parametrize(
    ("issue", "reason"),
    [
        ("REFUND_AMOUNT_EXCEEDED", "larger than what remains"),
        ("CAPTURE_FULLY_REFUNDED", "already been refunded"),
        ("REFUND_TIME_LIMIT_EXCEEDED", None),
        ("TRANSACTION_DISPUTED", None),
    ],
)
def test_refund_refusals_are_declines_with_a_reason(issue: str, reason: str | None) -> None:
    """A refund PayPal refuses for the capture's state is ``declined`` with the issue and why."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    paid = gateway.charge(vault_charge())
    assert paid.provider_id
    fake.inject(Fault.error(422, issue), path="/v2/payments/captures")

    result = gateway.refund(refund_request(paid.provider_id, "10.00"))

    assert result.outcome is _O.DECLINED
    assert result.decline_code == issue
    assert result.message
    assert reason is None or reason in result.message


def test_refunding_more_than_remains_is_declined_and_moves_nothing() -> None:
    """The fake's real refusals: above the balance, and after a full refund."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    paid = gateway.charge(vault_charge())
    assert paid.provider_id

    too_much = gateway.refund(refund_request(paid.provider_id, "100.01"))
    full = gateway.refund(refund_request(paid.provider_id, "100.00", refund_id="re_full"))
    again = gateway.refund(refund_request(paid.provider_id, "1.00", refund_id="re_again"))

    assert too_much.decline_code == "REFUND_AMOUNT_EXCEEDED"
    assert full.outcome is _O.SUCCEEDED
    assert again.decline_code == "CAPTURE_FULLY_REFUNDED"
    assert fake.refunded(paid.provider_id) == 100


def test_not_found_is_declined_not_found() -> None:
    """Lookups of an order or refund PayPal does not know answer ``declined`` / ``not_found``."""
    gateway = make_gateway()

    order = gateway.retrieve_payment(payment_lookup("NOSUCHORDER123"))
    refund = gateway.retrieve_refund(refund_lookup("NOSUCHORDER123", "NOSUCHREFUND1"))
    capture = gateway.capture(capture_request("NOSUCHORDER123", "1.00"))

    for result in (order, refund, capture):
        assert (result.outcome, result.decline_code) == (_O.DECLINED, NOT_FOUND)


def test_a_lookup_before_a_change_that_fails_is_a_retryable_error() -> None:
    """If the order cannot be read before a refund, nothing was sent: a retryable error."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    paid = gateway.charge(vault_charge())
    assert paid.provider_id
    fake.inject(Fault.timeout_after_success(), method="GET", path=ORDERS)

    with pytest.raises(GatewayError, match="nothing was sent"):
        gateway.refund(refund_request(paid.provider_id, "10.00"))

    assert fake.refunded(paid.provider_id) == 0


def test_lookups_without_an_answer_are_unknown() -> None:
    """A lookup whose answer is lost is ``unknown`` (it changed nothing either way)."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    paid = gateway.charge(vault_charge())
    assert paid.provider_id
    fake.inject(Fault.timeout_after_success(), method="GET")

    assert gateway.retrieve_payment(payment_lookup(paid.provider_id)).outcome is _O.UNKNOWN


def test_capture_and_void_refusals() -> None:
    """Capturing above the hold or after a void, and voiding a capture, are declines."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    held = gateway.charge(vault_charge(capture=False))
    other = gateway.charge(vault_charge(capture=False, payment_id="pay_b"))
    assert held.provider_id
    assert other.provider_id

    over = gateway.capture(capture_request(held.provider_id, "100.01"))
    gateway.capture(capture_request(held.provider_id, "100.00", payment_id="pay_test_1x"))
    void_captured = gateway.void(void_request(held.provider_id))
    gateway.void(void_request(other.provider_id, payment_id="pay_b"))
    after_void = gateway.capture(capture_request(other.provider_id, "1.00", payment_id="pay_b"))

    assert over.decline_code == "MAX_CAPTURE_AMOUNT_EXCEEDED"
    assert void_captured.decline_code == "ALREADY_CAPTURED"
    assert after_void.decline_code == "AUTHORIZATION_VOIDED"


def test_secrets_never_reach_reprs_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Neither the client secret nor an access token appears in a repr, an error or a log line."""
    caplog.set_level(logging.DEBUG)
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    paid = gateway.charge(vault_charge())
    token = fake.requests[1].headers["authorization"].removeprefix("Bearer ")
    assert gateway.retrieve_payment(payment_lookup(paid.provider_id)).outcome is _O.SUCCEEDED
    echoed = "A21AAPaykitToken0123456789abcdefghij"  # the scripted transport's token
    transport, _ = answering(
        paypal_error(400, "INVALID_PARAMETER_VALUE", f"echo {CLIENT_SECRET} Bearer {echoed}")
    )
    with pytest.raises(GatewayConfigurationError) as raised:
        make_gateway(transport).charge(vault_charge())

    shown = [
        repr(gateway),
        str(vars(gateway)),
        repr(paid),
        str(raised.value),
        repr(raised.value),
        raised.value.gateway_message or "",
        caplog.text,
    ]
    for text in shown:
        assert CLIENT_SECRET not in text
        assert token not in text
        assert echoed not in text
    assert "[redacted]" in (raised.value.gateway_message or "")
    assert "paypal: charge (POST /v2/checkout/orders) -> 201" in caplog.text


def test_unexpected_status_answers_are_configuration_errors() -> None:
    """An answer PayPal does not document (a 415) is our mistake, raised with its status."""
    transport, _ = answering(httpx.Response(415, json={"name": "UNSUPPORTED_MEDIA_TYPE"}))
    with pytest.raises(GatewayConfigurationError, match="415"):
        make_gateway(transport).charge(vault_charge())


def test_conflict_in_progress_is_unknown() -> None:
    """409 (the same request id still being processed) is ``unknown``."""
    transport, _ = answering(paypal_error(409, "PREVIOUS_REQUEST_IN_PROGRESS"))
    assert make_gateway(transport).charge(vault_charge()).outcome is _O.UNKNOWN
