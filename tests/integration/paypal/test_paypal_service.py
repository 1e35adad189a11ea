"""PayPal behind ``PaymentService``: checkout, approval, reconciliation, capture, void, refunds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from _paypal_support import RETURN_URL, make_fake, make_gateway, payment_lookup

from paykit import InMemoryStorage, PaymentService, PaymentStatus
from paykit.errors import PaymentProcessingError
from paykit.gateways.paypal import CHECKOUT_TOKEN, PayPalGateway
from paykit.testing.fake_paypal import FakePayer, FakePayPal, FakeVault, Fault

_P = PaymentStatus


def _service(**gateway: Any) -> tuple[PaymentService, PayPalGateway, FakePayPal]:
    fake = make_fake()
    paypal = make_gateway(fake=fake, **gateway)
    service = PaymentService(
        InMemoryStorage(), gateways={"paypal": paypal}, in_flight_grace=timedelta(0)
    )
    return service, paypal, fake


def _pay(
    service: PaymentService, token: str, amount: str = "80.00", *, capture: bool = True
) -> str:
    method = service.add_payment_method("cus_1", type="paypal", token=token)
    payment = service.create_payment(
        customer_id="cus_1",
        order_id="order-1",
        payment_method_id=method.id,
        amount=amount,
        currency="USD",
        capture=capture,
    )
    return service.process_payment(payment.id, return_url=RETURN_URL).id


def test_checkout_waits_for_the_payer_then_reconciliation_captures() -> None:
    """A checkout is ``requires_action`` with PayPal's link; after approval, reconcile takes it."""
    service, _, fake = _service()
    payment_id = _pay(service, CHECKOUT_TOKEN)
    waiting = service.get_payment(payment_id)
    assert waiting.status is _P.REQUIRES_ACTION
    assert waiting.next_action is not None
    assert waiting.next_action.redirect_url
    assert str(waiting.provider_payment_id) in waiting.next_action.redirect_url

    assert service.reconcile_payment(payment_id).status is _P.REQUIRES_ACTION  # not approved yet
    assert waiting.provider_payment_id
    fake.approve(waiting.provider_payment_id)
    done = service.reconcile_payment(payment_id)

    assert done.status is _P.COMPLETED
    assert str(done.captured_amount) == "80.00 USD"
    assert fake.charged(waiting.provider_payment_id) == 80
    capture = [r for r in fake.requests if r.path.endswith("/capture")][-1]
    assert capture.request_id == f"paykit:{payment_id}:charge:complete"


def test_reconciling_twice_captures_once() -> None:
    """A second reconciliation of an approved order does not capture it again."""
    service, paypal, fake = _service()
    payment_id = _pay(service, CHECKOUT_TOKEN)
    order_id = service.get_payment(payment_id).provider_payment_id
    assert order_id
    fake.approve(order_id)
    service.reconcile_payment(payment_id)
    again = paypal.retrieve_payment(payment_lookup(order_id, payment_id=payment_id, amount="80.00"))

    assert again.outcome.value == "succeeded"
    assert fake.charged(order_id) == 80


def test_authorize_then_capture_part_then_refund_twice() -> None:
    """An approved AUTHORIZE order is held, captured in part, and refunded in two parts."""
    service, _, fake = _service()
    payment_id = _pay(service, CHECKOUT_TOKEN, "100.00", capture=False)
    order_id = service.get_payment(payment_id).provider_payment_id
    assert order_id
    fake.approve(order_id)
    assert service.reconcile_payment(payment_id).status is _P.AUTHORIZED

    captured = service.capture_payment(payment_id, "60.00")
    assert captured.status is _P.COMPLETED
    assert str(captured.captured_amount) == "60.00 USD"
    first = service.process_refund(service.create_refund(payment_id, "20.00").id)
    second = service.process_refund(service.create_refund(payment_id, "40.00").id)

    assert first.status.value == second.status.value == "completed"
    assert service.get_payment(payment_id).status is _P.REFUNDED
    assert fake.charged(order_id) == 60
    assert fake.refunded(order_id) == 60
    assert [line.kind for line in fake.ledger] == ["authorization", "capture", "refund", "refund"]


def test_void_an_authorization() -> None:
    """Voiding an authorized saved-account payment releases the hold."""
    service, _, fake = _service()
    payment_id = _pay(service, FakeVault.SUCCESS, capture=False)
    assert service.get_payment(payment_id).status is _P.AUTHORIZED

    assert service.void_payment(payment_id).status is _P.CANCELLED
    assert [line.kind for line in fake.ledger] == ["authorization", "void"]


def test_a_cancelled_checkout_is_never_captured_even_if_the_payer_approves_later() -> None:
    """Cancelling a waiting checkout marks the order; a late approval is then never captured."""
    service, paypal, fake = _service()
    payment_id = _pay(service, CHECKOUT_TOKEN)
    order_id = service.get_payment(payment_id).provider_payment_id
    assert order_id

    assert service.cancel_payment(payment_id).status is _P.CANCELLED
    fake.approve(order_id)  # the payer was still on PayPal's page
    truth = paypal.retrieve_payment(payment_lookup(order_id, payment_id=payment_id, amount="80.00"))

    assert (truth.outcome.value, truth.decline_code) == ("declined", "voided")
    assert fake.order(order_id)["purchase_units"][0]["custom_id"] == f"paykit-voided:{payment_id}"
    assert fake.charged(order_id) == 0


def test_a_payer_whose_funding_is_declined_fails_the_payment() -> None:
    """A payer PayPal declines at capture leaves the payment ``failed`` with the issue."""
    service, _, fake = _service()
    payment_id = _pay(service, f"{CHECKOUT_TOKEN}:{FakePayer.DECLINED}")
    order_id = service.get_payment(payment_id).provider_payment_id
    assert order_id
    fake.approve(order_id)

    failed = service.reconcile_payment(payment_id)

    assert failed.status is _P.FAILED
    assert failed.failure_code == "INSTRUMENT_DECLINED"


def test_a_lost_charge_answer_is_processing_until_reconciled() -> None:
    """A lost answer leaves the payment ``processing``; reconciliation finds it paid."""
    service, _, _ = _service()
    payment_id = _pay(service, FakeVault.LOST_ANSWER)
    assert service.get_payment(payment_id).status is _P.PROCESSING

    done = service.reconcile_payment(payment_id)

    assert done.status is _P.COMPLETED
    assert done.provider_payment_id


def test_a_charge_that_never_left_fails_the_payment() -> None:
    """A connection refused before sending fails the payment: nothing was charged."""
    service, _, fake = _service()
    fake.inject(Fault.connection_refused(), path="/v2/checkout/orders", times=1)
    with pytest.raises(PaymentProcessingError):
        _pay(service, FakeVault.SUCCESS)

    [payment] = service.list_payments()
    assert payment.status is _P.FAILED
    assert fake.ledger == []
