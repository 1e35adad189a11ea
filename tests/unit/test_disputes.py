"""Disputes (chargebacks) created and moved by provider events, through the service."""

from __future__ import annotations

from itertools import count

import pytest
from _scripted_webhooks import ScriptedWebhooks, delivery

from paykit import (
    ALL_EVENTS,
    DisputeStatus,
    Event,
    EventType,
    InMemoryStorage,
    InvalidRefundAmountError,
    LogType,
    Money,
    Payment,
    PaymentService,
    PaymentStatus,
    SandboxGateway,
    SandboxToken,
    WebhookOutcome,
)

_D = DisputeStatus
_event_ids = count(1)


@pytest.fixture
def service(sandbox: SandboxGateway, events: list[Event]) -> PaymentService:
    """A service whose sandbox delivers scripted dispute events."""
    svc = PaymentService(InMemoryStorage(), {"credit_card": ScriptedWebhooks(sandbox)})
    svc.events.subscribe(ALL_EVENTS, events.append)
    return svc


def _paid(service: PaymentService, amount: str = "100.00") -> Payment:
    method = service.add_payment_method("cus_1", type="credit_card", token=SandboxToken.SUCCESS)
    payment = service.create_payment(
        customer_id="cus_1",
        order_id="ord_1",
        payment_method_id=method.id,
        amount=amount,
        currency="USD",
    )
    paid = service.process_payment(payment.id)
    assert paid.status is PaymentStatus.COMPLETED
    return paid


def _dispute_event(  # noqa: PLR0913 - the facts of one dispute event
    service: PaymentService,
    payment: Payment,
    status: DisputeStatus,
    *,
    amount: str = "100.00",
    kind: str = "dispute.updated",
    dispute_id: str = "dp_1",
    currency: str = "USD",
) -> WebhookOutcome:
    body = delivery(
        event_id=f"evt_{next(_event_ids)}",
        type=kind,
        provider_payment_id=payment.provider_payment_id,
        dispute={"id": dispute_id, "status": str(status), "amount": amount, "currency": currency},
    )
    return service.handle_webhook("sandbox", {}, body).outcome


def _types(events: list[Event]) -> list[EventType]:
    return [event.type for event in events if event.type.startswith("dispute.")]


def test_a_dispute_is_created_linked_to_its_payment(
    service: PaymentService, events: list[Event]
) -> None:
    """The first dispute event creates the record, logs it and tells the host."""
    payment = _paid(service)

    outcome = _dispute_event(service, payment, _D.NEEDS_RESPONSE, kind="dispute.created")

    assert outcome is WebhookOutcome.APPLIED
    [dispute] = service.list_disputes(payment.id)
    assert (dispute.status, dispute.amount, dispute.provider_dispute_id) == (
        _D.NEEDS_RESPONSE,
        Money.of("100.00", "USD"),
        "dp_1",
    )
    assert service.get_dispute(dispute.id) == dispute
    assert _types(events) == [EventType.DISPUTE_CREATED]
    assert events[-1].dispute == dispute
    log = [entry.log_type for entry in service.get_transaction_log(payment.id)]
    assert log[-2:] == [LogType.WEBHOOK_RECEIVED, LogType.DISPUTE_OPENED]


def test_a_lost_dispute_takes_its_amount_out_of_the_refundable_balance(
    service: PaymentService, events: list[Event]
) -> None:
    """Money already taken back by the bank cannot be refunded a second time."""
    payment = _paid(service)
    _dispute_event(service, payment, _D.NEEDS_RESPONSE, amount="60.00", kind="dispute.created")
    _dispute_event(service, payment, _D.UNDER_REVIEW, amount="60.00")

    _dispute_event(service, payment, _D.LOST, amount="60.00", kind="dispute.closed")

    after = service.get_payment(payment.id)
    assert after.chargeback_amount == Money.of("60.00", "USD")
    assert after.refundable_amount == Money.of("40.00", "USD")
    assert after.status is PaymentStatus.COMPLETED
    with pytest.raises(InvalidRefundAmountError, match=r"lost to disputes 60\.00 USD"):
        service.create_refund(payment.id, "40.01")
    assert service.create_refund(payment.id, "40.00").amount == Money.of("40.00", "USD")
    assert _types(events) == [
        EventType.DISPUTE_CREATED,
        EventType.DISPUTE_UPDATED,
        EventType.DISPUTE_CLOSED,
    ]
    closed = [event for event in events if event.type is EventType.DISPUTE_CLOSED]
    assert closed[0].dispute is not None
    assert closed[0].dispute.status is _D.LOST


def test_a_won_dispute_leaves_the_balance_alone(service: PaymentService) -> None:
    """Winning gives the money back to the merchant: nothing is booked."""
    payment = _paid(service)
    _dispute_event(service, payment, _D.NEEDS_RESPONSE, kind="dispute.created")

    _dispute_event(service, payment, _D.WON, kind="dispute.closed")

    after = service.get_payment(payment.id)
    assert after.chargeback_amount.is_zero()
    assert after.refundable_amount == Money.of("100.00", "USD")
    [dispute] = service.list_disputes(payment.id)
    assert dispute.status is _D.WON
    assert dispute.closed_at is not None


def test_a_replayed_loss_is_booked_once(service: PaymentService) -> None:
    """Two different events both saying lost (a retry by the provider) book the loss once."""
    payment = _paid(service)
    _dispute_event(service, payment, _D.NEEDS_RESPONSE, amount="30.00", kind="dispute.created")
    _dispute_event(service, payment, _D.LOST, amount="30.00", kind="dispute.closed")

    _dispute_event(service, payment, _D.LOST, amount="30.00", kind="dispute.closed")

    assert service.get_payment(payment.id).chargeback_amount == Money.of("30.00", "USD")


def test_a_late_event_cannot_reopen_a_closed_dispute(service: PaymentService) -> None:
    """needs_response arriving after won is logged and ignored."""
    payment = _paid(service)
    _dispute_event(service, payment, _D.NEEDS_RESPONSE, kind="dispute.created")
    _dispute_event(service, payment, _D.WON, kind="dispute.closed")

    _dispute_event(service, payment, _D.UNDER_REVIEW)

    [dispute] = service.list_disputes(payment.id)
    assert dispute.status is _D.WON
    log = service.get_transaction_log(payment.id)
    assert log[-1].log_type is LogType.EVENT_IGNORED


def test_lost_after_won_is_flagged_for_review(service: PaymentService, events: list[Event]) -> None:
    """Two contradicting decisions: a human must look, nothing is booked."""
    payment = _paid(service)
    _dispute_event(service, payment, _D.NEEDS_RESPONSE, kind="dispute.created")
    _dispute_event(service, payment, _D.WON, kind="dispute.closed")

    _dispute_event(service, payment, _D.LOST, kind="dispute.closed")

    assert service.get_payment(payment.id).chargeback_amount.is_zero()
    assert events[-1].type is EventType.PAYMENT_NEEDS_REVIEW
    assert service.get_transaction_log(payment.id)[-1].log_type is LogType.NEEDS_REVIEW


def test_a_closed_event_whose_earlier_events_were_lost_creates_and_closes(
    service: PaymentService, events: list[Event]
) -> None:
    """The provider's created event never arrived: the closing one still makes the record."""
    payment = _paid(service)

    _dispute_event(service, payment, _D.LOST, amount="25.00", kind="dispute.closed")

    [dispute] = service.list_disputes(payment.id)
    assert dispute.status is _D.LOST
    assert _types(events) == [EventType.DISPUTE_CREATED, EventType.DISPUTE_CLOSED]
    assert service.get_payment(payment.id).chargeback_amount == Money.of("25.00", "USD")


def test_a_loss_after_a_full_refund_is_flagged_and_capped(
    service: PaymentService, events: list[Event]
) -> None:
    """Refunded and then charged back: the customer was paid twice; flag it, book what's left."""
    payment = _paid(service, "50.00")
    refund = service.create_refund(payment.id)
    service.process_refund(refund.id)
    assert service.get_payment_status(payment.id) is PaymentStatus.REFUNDED

    _dispute_event(service, payment, _D.LOST, amount="50.00", kind="dispute.closed")

    after = service.get_payment(payment.id)
    assert after.chargeback_amount.is_zero()
    assert after.refundable_amount.is_zero()
    assert EventType.PAYMENT_NEEDS_REVIEW in [event.type for event in events]
    assert "paid twice" in service.get_transaction_log(payment.id)[-1].message


def test_a_lost_dispute_in_another_currency_is_not_booked(
    service: PaymentService, events: list[Event]
) -> None:
    """Money in two currencies cannot be netted: flagged for review instead."""
    payment = _paid(service)

    _dispute_event(service, payment, _D.LOST, amount="90.00", currency="EUR", kind="dispute.closed")

    assert service.get_payment(payment.id).chargeback_amount.is_zero()
    assert EventType.PAYMENT_NEEDS_REVIEW in [event.type for event in events]


def test_a_dispute_for_an_unknown_payment_waits_for_it(service: PaymentService) -> None:
    """A dispute naming a provider id paykit does not know is stored, not dropped."""
    body = delivery(
        event_id="evt_unknown_dispute",
        type="dispute.created",
        provider_payment_id="pi_not_ours",
        dispute={"id": "dp_9", "status": "needs_response", "amount": "5.00"},
    )

    result = service.handle_webhook("sandbox", {}, body)

    assert result.outcome is WebhookOutcome.UNMATCHED
    [waiting] = service.list_unmatched_webhook_events()
    assert waiting.provider_payment_id == "pi_not_ours"
