"""Stripe's webhooks through the inbox: ``PaymentService.handle_webhook("stripe", ...)``.

End to end, offline: ``StripeGateway`` over ``FakeStripe`` behind a ``PaymentService`` with the
in-memory store. Every delivery is a Stripe event the fake builds from its own objects,
signed with the endpoint secret the way Stripe signs it, and handed over as raw bytes --
the same path a real Stripe delivery takes through ``paykit.contrib``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from _stripe_support import NOW, OLD_WEBHOOK_SECRET, WEBHOOK_SECRET, make_fake, make_gateway

from paykit import (
    ALL_EVENTS,
    DisputeStatus,
    Event,
    EventType,
    InboxStatus,
    InMemoryStorage,
    InvalidRefundAmountError,
    LogType,
    Money,
    Payment,
    PaymentService,
    PaymentStatus,
    RefundStatus,
    WebhookOutcome,
    WebhookResult,
)
from paykit.gateways.stripe import FakeStripe, FakeToken, Fault, StripeGateway

_P = PaymentStatus
_D = DisputeStatus


@attrs.define
class Shop:
    """A service selling through the Stripe adapter, over a fake Stripe."""

    fake: FakeStripe
    gateway: StripeGateway
    service: PaymentService
    events: list[Event]

    def pay(self, token: str, amount: str = "100.00") -> Payment:
        """Create and process a card payment of ``token``'s scripted behaviour."""
        method = self.service.add_payment_method("cus_1", type="credit_card", token=token)
        payment = self.service.create_payment(
            customer_id="cus_1",
            order_id=f"ord_{len(self.service.list_payments(customer_id='cus_1')) + 1}",
            payment_method_id=method.id,
            amount=amount,
            currency="USD",
        )
        return self.service.process_payment(
            payment.id, return_url="https://shop.example/3ds-return"
        )

    def signed(
        self, event_type: str, obj: dict[str, Any], *, secret: str = WEBHOOK_SECRET
    ) -> tuple[dict[str, str], bytes]:
        """The headers and raw body Stripe would deliver for an event about ``obj``."""
        return self.fake.sign_webhook(self.fake.event(event_type, obj), secret=secret)

    def deliver(
        self, event_type: str, obj: dict[str, Any], *, secret: str = WEBHOOK_SECRET
    ) -> WebhookResult:
        """Sign an event about ``obj`` and hand it to the inbox as Stripe would."""
        return self.service.handle_webhook("stripe", *self.signed(event_type, obj, secret=secret))

    def log_types(self, payment_id: str) -> list[LogType]:
        """The payment's transaction log, by entry type."""
        return [entry.log_type for entry in self.service.get_transaction_log(payment_id)]


@pytest.fixture
def shop() -> Shop:
    """A fresh fake Stripe, adapter and service, recording every host event."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)
    service = PaymentService(InMemoryStorage(), gateways={"credit_card": gateway})
    events: list[Event] = []
    service.events.subscribe(ALL_EVENTS, events.append)
    return Shop(fake, gateway, service, events)


def _paid(shop: Shop, amount: str = "100.00") -> tuple[Payment, str]:
    payment = shop.pay(FakeToken.SUCCESS, amount)
    assert payment.status is _P.COMPLETED
    assert payment.provider_payment_id is not None
    return payment, payment.provider_payment_id


# -- 3-D Secure completed by payment_intent.succeeded -------------------------------------------


def test_a_3ds_payment_completes_when_stripe_says_succeeded_once_however_often_told(
    shop: Shop,
) -> None:
    """The customer passes 3-D Secure at Stripe; the signed webhook completes the payment."""
    waiting = shop.pay(FakeToken.AUTHENTICATION_REQUIRED, "40.00")
    assert waiting.status is _P.REQUIRES_ACTION
    intent_id = waiting.provider_payment_id
    assert intent_id is not None
    shop.fake.complete_action(intent_id)
    headers, body = shop.signed("payment_intent.succeeded", shop.fake.payment_intent(intent_id))
    calls = len(shop.fake.requests)

    result = shop.service.handle_webhook("stripe", headers, body)

    assert (result.status_code, result.outcome, result.body) == (
        200,
        WebhookOutcome.APPLIED,
        "applied",
    )
    assert len(shop.fake.requests) == calls  # the event said enough: no call to Stripe
    done = shop.service.get_payment(waiting.id)
    assert done.status is _P.COMPLETED
    assert done.captured_amount == Money.of("40.00", "USD")
    assert done.next_action is None
    assert shop.log_types(waiting.id)[-2:] == [LogType.WEBHOOK_RECEIVED, LogType.PAYMENT_PROCESSED]
    [entry] = shop.service.list_webhook_events(waiting.id)
    assert (entry.status, entry.provider, entry.event_id) == (
        InboxStatus.APPLIED,
        "stripe",
        result.event_id,
    )
    assert entry.provider_type == "payment_intent.succeeded"
    assert [e.type for e in shop.events].count(EventType.PAYMENT_COMPLETED) == 1
    log_before, events_before = shop.service.get_transaction_log(waiting.id), len(shop.events)

    again = shop.service.handle_webhook("stripe", headers, body)

    assert (again.status_code, again.outcome, again.event_id) == (
        200,
        WebhookOutcome.DUPLICATE,
        result.event_id,
    )
    assert shop.service.get_transaction_log(waiting.id) == log_before
    assert len(shop.events) == events_before
    assert len(shop.service.list_webhook_events(waiting.id)) == 1
    assert shop.service.get_payment(waiting.id) == done


def test_a_delivery_signed_with_the_previous_secret_is_accepted_while_rolling(shop: Shop) -> None:
    """Both configured endpoint secrets verify, so a secret can be rolled without a gap."""
    waiting = shop.pay(FakeToken.AUTHENTICATION_REQUIRED)
    assert waiting.provider_payment_id is not None
    shop.fake.complete_action(waiting.provider_payment_id)

    result = shop.deliver(
        "payment_intent.succeeded",
        shop.fake.payment_intent(waiting.provider_payment_id),
        secret=OLD_WEBHOOK_SECRET,
    )

    assert result.outcome is WebhookOutcome.APPLIED
    assert shop.service.get_payment_status(waiting.id) is _P.COMPLETED


# -- a refund whose answer was lost --------------------------------------------------------------


def test_a_refund_whose_answer_was_lost_settles_by_its_webhook(shop: Shop) -> None:
    """Stripe refunded but the answer never came; refund.updated names paykit's refund."""
    payment, _intent_id = _paid(shop)
    shop.fake.inject(Fault.lose_answer(), method="POST", path="/v1/refunds")
    refund = shop.service.process_refund(shop.service.create_refund(payment.id, "30.00").id)
    assert refund.status is RefundStatus.PROCESSING
    assert refund.provider_refund_id is None
    [line] = [line for line in shop.fake.ledger if line.kind == "refund"]
    stripe_refund = shop.fake.refund(line.object_id)
    assert stripe_refund["metadata"]["paykit_refund_id"] == refund.id

    result = shop.deliver("refund.updated", stripe_refund)

    assert result.outcome is WebhookOutcome.APPLIED
    settled = shop.service.get_refund(refund.id)
    assert settled.status is RefundStatus.COMPLETED
    assert settled.provider_refund_id == line.object_id
    after = shop.service.get_payment(payment.id)
    assert after.status is _P.PARTIALLY_REFUNDED
    assert after.refunded_amount == Money.of("30.00", "USD")
    assert after.refundable_amount == Money.of("70.00", "USD")
    assert LogType.WEBHOOK_RECEIVED in shop.log_types(payment.id)
    assert EventType.REFUND_COMPLETED in [event.type for event in shop.events]
    assert shop.deliver("refund.updated", stripe_refund).outcome is WebhookOutcome.APPLIED
    assert shop.service.get_payment(payment.id).refunded_amount == Money.of("30.00", "USD")


# -- disputes ----------------------------------------------------------------------------------


def test_a_lost_dispute_is_recorded_and_taken_out_of_the_refundable_balance(shop: Shop) -> None:
    """charge.dispute.created then .closed (lost): the record, the booking, the refund ceiling."""
    payment, intent_id = _paid(shop)
    opened = shop.fake.open_dispute(intent_id, reason="product_not_received", amount=6000)

    created = shop.deliver("charge.dispute.created", opened)

    assert created.outcome is WebhookOutcome.APPLIED
    [dispute] = shop.service.list_disputes(payment.id)
    assert dispute.status is _D.NEEDS_RESPONSE
    assert dispute.provider_dispute_id == opened["id"]
    assert dispute.amount == Money.of("60.00", "USD")
    assert dispute.reason == "product_not_received"
    assert dispute.evidence_due_by == datetime.fromtimestamp(NOW, UTC) + timedelta(days=7)
    assert shop.log_types(payment.id)[-2:] == [LogType.WEBHOOK_RECEIVED, LogType.DISPUTE_OPENED]
    assert shop.service.get_payment(payment.id).chargeback_amount.is_zero()

    lost = shop.fake.update_dispute(opened["id"], status="lost")
    closed = shop.deliver("charge.dispute.closed", lost)

    assert closed.outcome is WebhookOutcome.APPLIED
    assert shop.service.get_dispute(dispute.id).status is _D.LOST
    [host_event] = [e for e in shop.events if e.type is EventType.DISPUTE_CLOSED]
    assert host_event.dispute is not None
    assert (host_event.dispute.id, host_event.dispute.status) == (dispute.id, _D.LOST)
    after = shop.service.get_payment(payment.id)
    assert after.chargeback_amount == Money.of("60.00", "USD")
    assert after.refundable_amount == Money.of("40.00", "USD")
    assert after.status is _P.COMPLETED
    with pytest.raises(InvalidRefundAmountError):
        shop.service.create_refund(payment.id, "40.01")
    assert shop.service.create_refund(payment.id, "40.00").amount == Money.of("40.00", "USD")
    assert shop.fake.charged_back_units(payment.id) == 6000


def test_stripe_refuses_to_refund_a_charged_back_payment_and_the_refund_fails_cleanly(
    shop: Shop,
) -> None:
    """While a chargeback is open Stripe refuses refunds (charge_disputed); nothing is lost."""
    payment, intent_id = _paid(shop)
    shop.deliver("charge.dispute.created", shop.fake.open_dispute(intent_id))

    refund = shop.service.process_refund(shop.service.create_refund(payment.id, "30.00").id)

    assert refund.status is RefundStatus.FAILED
    assert refund.failure_code == "charge_disputed"
    assert refund.failure_message == "The payment is disputed, so it cannot be refunded."
    after = shop.service.get_payment(payment.id)
    assert after.refunded_amount.is_zero()
    assert after.refundable_amount == Money.of("100.00", "USD")  # the reservation is released
    assert shop.fake.refunded_units(payment.id) == 0


def test_an_inquiry_still_allows_a_refund(shop: Shop) -> None:
    """An early warning (inquiry) leaves the charge refundable at Stripe, as refunding ends it."""
    payment, intent_id = _paid(shop)
    shop.deliver(
        "charge.dispute.created", shop.fake.open_dispute(intent_id, status="warning_needs_response")
    )

    refund = shop.service.process_refund(shop.service.create_refund(payment.id, "30.00").id)

    assert refund.status is RefundStatus.COMPLETED
    assert shop.fake.refunded_units(payment.id) == 3000


def test_a_won_dispute_books_nothing(shop: Shop) -> None:
    """A dispute the merchant wins leaves the whole payment refundable."""
    payment, intent_id = _paid(shop, "25.00")
    opened = shop.fake.open_dispute(intent_id)
    shop.deliver("charge.dispute.created", opened)

    result = shop.deliver(
        "charge.dispute.closed", shop.fake.update_dispute(opened["id"], status="won")
    )

    assert result.outcome is WebhookOutcome.APPLIED
    [dispute] = shop.service.list_disputes(payment.id)
    assert (dispute.status, dispute.amount) == (_D.WON, Money.of("25.00", "USD"))
    assert dispute.closed_at is not None
    after = shop.service.get_payment(payment.id)
    assert after.chargeback_amount.is_zero()
    assert after.refundable_amount == Money.of("25.00", "USD")
    closed = [e for e in shop.events if e.type is EventType.DISPUTE_CLOSED]
    assert [e.dispute.status for e in closed if e.dispute is not None] == [_D.WON]


# -- deliveries that do not verify -------------------------------------------------------------


def _nothing_stored(shop: Shop, payment: Payment, log_before: list[Any]) -> None:
    assert shop.service.get_payment(payment.id).status is payment.status
    assert shop.service.get_transaction_log(payment.id) == log_before
    assert shop.service.list_webhook_events(payment.id) == []
    assert shop.service.list_unmatched_webhook_events() == []


def test_a_tampered_body_is_refused_and_nothing_is_stored(shop: Shop) -> None:
    """One byte changed after signing: 400, the payment still waits, the inbox is empty."""
    waiting = shop.pay(FakeToken.AUTHENTICATION_REQUIRED)
    assert waiting.provider_payment_id is not None
    shop.fake.complete_action(waiting.provider_payment_id)
    headers, body = shop.signed(
        "payment_intent.succeeded", shop.fake.payment_intent(waiting.provider_payment_id)
    )
    log_before = shop.service.get_transaction_log(waiting.id)
    tampered = body.replace(b'"amount": 10000', b'"amount": 10001', 1)
    assert tampered != body

    result = shop.service.handle_webhook("stripe", headers, tampered)

    assert (result.status_code, result.outcome) == (400, WebhookOutcome.REJECTED)
    assert result.body.startswith("rejected: ")
    assert not result.ok
    _nothing_stored(shop, waiting, log_before)
    assert shop.service.handle_webhook("stripe", headers, body).outcome is WebhookOutcome.APPLIED


def test_a_body_signed_with_another_secret_is_refused(shop: Shop) -> None:
    """A delivery signed for another endpoint (or by a forger) never reaches the records."""
    payment, intent_id = _paid(shop)
    log_before = shop.service.get_transaction_log(payment.id)

    result = shop.deliver(
        "charge.dispute.created", shop.fake.open_dispute(intent_id), secret="whsec_someone_else"
    )

    assert (result.status_code, result.outcome) == (400, WebhookOutcome.REJECTED)
    assert shop.service.list_disputes(payment.id) == []
    _nothing_stored(shop, payment, log_before)


# -- authentic events whose money paykit cannot read ----------------------------------------------

_UNREADABLE_INTENTS: list[dict[str, Any]] = [
    {"amount_received": "NaN"},
    {"amount_received": 4000.0},
    {"amount_received": -4000},
    {"amount_received": True},
    {"currency": "zzz"},
    {"currency": 840},
]


@pytest.mark.parametrize("change", _UNREADABLE_INTENTS, ids=repr)
def test_a_signed_payment_event_with_unreadable_money_is_answered_400(
    shop: Shop, change: dict[str, Any]
) -> None:
    """payment_intent.succeeded whose amount or currency is not money: 400, nothing stored."""
    waiting = shop.pay(FakeToken.AUTHENTICATION_REQUIRED, "40.00")
    assert waiting.provider_payment_id is not None
    shop.fake.complete_action(waiting.provider_payment_id)
    intent = {**shop.fake.payment_intent(waiting.provider_payment_id), **change}
    log_before = shop.service.get_transaction_log(waiting.id)

    result = shop.deliver("payment_intent.succeeded", intent)

    assert (result.status_code, result.outcome) == (400, WebhookOutcome.REJECTED)
    [field] = change
    assert f"data.object.{field}" in result.body
    assert WEBHOOK_SECRET not in result.body
    _nothing_stored(shop, waiting, log_before)


def test_signed_refund_charge_and_dispute_events_with_unreadable_money_are_answered_400(
    shop: Shop,
) -> None:
    """Every event kind paykit reads money from refuses an unreadable amount or currency."""
    payment, intent_id = _paid(shop)
    refund = shop.service.process_refund(shop.service.create_refund(payment.id, "30.00").id)
    assert refund.provider_refund_id is not None
    stripe_refund = shop.fake.refund(refund.provider_refund_id)
    charge = {
        "object": "charge",
        "id": "ch_test_1",
        "payment_intent": intent_id,
        "amount_refunded": 3000,
        "currency": "usd",
    }
    dispute = shop.fake.open_dispute(intent_id)
    log_before = shop.service.get_transaction_log(payment.id)
    deliveries = [
        ("refund.updated", {**stripe_refund, "amount": "NaN"}, "data.object.amount"),
        ("refund.updated", {**stripe_refund, "currency": "usdollar"}, "data.object.currency"),
        ("charge.refunded", {**charge, "amount_refunded": "3000"}, "data.object.amount_refunded"),
        ("charge.dispute.created", {**dispute, "amount": 12.5}, "data.object.amount"),
        ("charge.dispute.created", {**dispute, "currency": "xyz"}, "data.object.currency"),
    ]

    results = [(shop.deliver(kind, obj), field) for kind, obj, field in deliveries]

    for result, field in results:
        assert (result.status_code, result.outcome) == (400, WebhookOutcome.REJECTED)
        assert field in result.body
    _nothing_stored(shop, shop.service.get_payment(payment.id), log_before)
    assert shop.service.list_disputes(payment.id) == []
    assert shop.service.get_payment(payment.id).refunded_amount == Money.of("30.00", "USD")


# -- late events -------------------------------------------------------------------------------


def test_a_late_failure_after_completion_is_logged_and_ignored(shop: Shop) -> None:
    """A payment_failed from an earlier attempt, delivered late, never moves the payment back."""
    waiting = shop.pay(FakeToken.AUTHENTICATION_REQUIRED, "40.00")
    intent_id = waiting.provider_payment_id
    assert intent_id is not None
    first_attempt = {
        **shop.fake.payment_intent(intent_id),
        "status": "requires_payment_method",
        "next_action": None,
        "last_payment_error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "generic_decline",
            "message": "Your card was declined.",
        },
    }
    shop.fake.complete_action(intent_id)
    shop.deliver("payment_intent.succeeded", shop.fake.payment_intent(intent_id))
    assert shop.service.get_payment_status(waiting.id) is _P.COMPLETED

    result = shop.deliver("payment_intent.payment_failed", first_attempt)

    assert result.outcome is WebhookOutcome.APPLIED
    after = shop.service.get_payment(waiting.id)
    assert after.status is _P.COMPLETED
    assert after.failure_code is None
    assert after.captured_amount == Money.of("40.00", "USD")
    assert shop.log_types(waiting.id)[-2:] == [LogType.WEBHOOK_RECEIVED, LogType.EVENT_IGNORED]
    assert [e.provider_type for e in shop.service.list_webhook_events(waiting.id)] == [
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
    ]
    assert not [e for e in shop.events if e.type is EventType.PAYMENT_FAILED]
