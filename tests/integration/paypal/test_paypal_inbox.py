"""PayPal's webhooks through the inbox: ``PaymentService.handle_webhook("paypal", ...)``.

End to end, offline: ``PayPalGateway`` over ``FakePayPal`` (every request and answer checked
against PayPal's schemas) behind a ``PaymentService`` with the in-memory store. Every
delivery is a PayPal event about the fake's own objects, signed with the fake's certificate
the way PayPal signs it, and handed over as raw bytes. Each test runs with both ways of
verifying: asking PayPal (``"api"``) and checking the certificate here (``"offline"``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest
from _paypal_support import NOW, RETURN_URL, make_fake, make_gateway

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
from paykit.gateways.paypal import (
    CHECKOUT_TOKEN,
    FakePayPal,
    FakeVault,
    Fault,
    PayPalGateway,
    WebhookSigner,
)

_P = PaymentStatus
_D = DisputeStatus


@attrs.define
class Shop:
    """A service selling through the PayPal adapter, over a fake PayPal."""

    fake: FakePayPal
    gateway: PayPalGateway
    service: PaymentService
    events: list[Event]

    def pay(self, token: str, amount: str = "100.00") -> Payment:
        """Create and process a PayPal payment of ``token``'s scripted behaviour."""
        method = self.service.add_payment_method("cus_1", type="paypal", token=token)
        payment = self.service.create_payment(
            customer_id="cus_1",
            order_id=f"order-{len(self.service.list_payments(customer_id='cus_1')) + 1}",
            payment_method_id=method.id,
            amount=amount,
            currency="USD",
        )
        return self.service.process_payment(payment.id, return_url=RETURN_URL)

    def signed(
        self, event_type: str, resource: dict[str, Any], *, resource_type: str, **sign: Any
    ) -> tuple[dict[str, str], bytes]:
        """The headers and raw body PayPal would deliver for an event about ``resource``."""
        event = self.fake.event(event_type, resource, resource_type=resource_type)
        return self.fake.sign_webhook(event, **sign)

    def deliver(
        self, event_type: str, resource: dict[str, Any], *, resource_type: str, **sign: Any
    ) -> WebhookResult:
        """Sign an event about ``resource`` and hand it to the inbox as PayPal would."""
        headers, body = self.signed(event_type, resource, resource_type=resource_type, **sign)
        return self.service.handle_webhook("paypal", headers, body)

    def log_types(self, payment_id: str) -> list[LogType]:
        """The payment's transaction log, by entry type."""
        return [entry.log_type for entry in self.service.get_transaction_log(payment_id)]


@pytest.fixture(params=["api", "offline"])
def shop(request: pytest.FixtureRequest) -> Shop:
    """A fresh fake PayPal, adapter and service, recording every host event."""
    fake = make_fake()
    gateway = make_gateway(
        fake=fake,
        webhook_verification=request.param,
        webhook_trust_roots=[fake.signer.root_pem],
    )
    service = PaymentService(InMemoryStorage(), gateways={"paypal": gateway})
    events: list[Event] = []
    service.events.subscribe(ALL_EVENTS, events.append)
    return Shop(fake, gateway, service, events)


def _paid(shop: Shop, amount: str = "100.00") -> tuple[Payment, str]:
    payment = shop.pay(FakeVault.SUCCESS, amount)
    assert payment.status is _P.COMPLETED
    assert payment.provider_payment_id is not None
    return payment, payment.provider_payment_id


# -- payer approval, then PAYMENT.CAPTURE.COMPLETED -----------------------------------------------


def test_an_approved_checkout_completes_when_paypal_reports_the_capture_once(shop: Shop) -> None:
    """The payer approves, paykit's capture answer is lost, PayPal's capture event completes it."""
    waiting = shop.pay(CHECKOUT_TOKEN, "40.00")
    assert waiting.status is _P.REQUIRES_ACTION
    order_id = waiting.provider_payment_id
    assert order_id is not None
    shop.fake.approve(order_id)

    approved = shop.deliver(
        "CHECKOUT.ORDER.APPROVED", shop.fake.order(order_id), resource_type="checkout-order"
    )
    assert approved.outcome is WebhookOutcome.APPLIED
    assert shop.service.get_payment_status(waiting.id) is _P.PROCESSING
    shop.fake.inject(Fault.lose_answer(), path=f"/v2/checkout/orders/{order_id}/capture")
    assert shop.service.reconcile_payment(waiting.id).status is _P.PROCESSING
    assert shop.fake.charged(order_id) == Decimal("40.00")  # PayPal took it
    headers, body = shop.signed(
        "PAYMENT.CAPTURE.COMPLETED", shop.fake.capture_of(order_id), resource_type="capture"
    )
    calls = len(shop.fake.requests)

    result = shop.service.handle_webhook("paypal", headers, body)

    assert (result.status_code, result.outcome, result.body) == (
        200,
        WebhookOutcome.APPLIED,
        "applied",
    )
    lookups = [r.path for r in shop.fake.requests[calls:] if r.path.startswith("/v2/")]
    assert lookups == []  # the event said enough: no order or capture lookup
    done = shop.service.get_payment(waiting.id)
    assert done.status is _P.COMPLETED
    assert done.captured_amount == Money.of("40.00", "USD")
    assert shop.log_types(waiting.id)[-2:] == [LogType.WEBHOOK_RECEIVED, LogType.PAYMENT_PROCESSED]
    entries = shop.service.list_webhook_events(waiting.id)
    assert [(e.provider_type, e.status) for e in entries] == [
        ("CHECKOUT.ORDER.APPROVED", InboxStatus.APPLIED),
        ("PAYMENT.CAPTURE.COMPLETED", InboxStatus.APPLIED),
    ]
    assert entries[-1].event_id == result.event_id
    assert [e.type for e in shop.events].count(EventType.PAYMENT_COMPLETED) == 1
    log_before, events_before = shop.service.get_transaction_log(waiting.id), len(shop.events)

    again = shop.service.handle_webhook("paypal", headers, body)

    assert (again.status_code, again.outcome, again.event_id) == (
        200,
        WebhookOutcome.DUPLICATE,
        result.event_id,
    )
    assert shop.service.get_transaction_log(waiting.id) == log_before
    assert len(shop.events) == events_before
    assert len(shop.service.list_webhook_events(waiting.id)) == len(entries)
    assert shop.service.get_payment(waiting.id) == done
    assert shop.fake.charged(order_id) == Decimal("40.00")


# -- a refund whose answer was lost --------------------------------------------------------------


def test_a_refund_whose_answer_was_lost_settles_by_its_webhook(shop: Shop) -> None:
    """PayPal refunded but the answer never came; PAYMENT.CAPTURE.REFUNDED names the refund."""
    payment, order_id = _paid(shop)
    shop.fake.inject(Fault.lose_answer(), method="POST", path="/v2/payments/captures/")
    refund = shop.service.process_refund(shop.service.create_refund(payment.id, "30.00").id)
    assert refund.status is RefundStatus.PROCESSING
    assert refund.provider_refund_id is None
    [line] = [line for line in shop.fake.ledger if line.kind == "refund"]
    paypal_refund = shop.fake.refund(line.object_id)
    assert paypal_refund["custom_id"] == refund.id

    result = shop.deliver("PAYMENT.CAPTURE.REFUNDED", paypal_refund, resource_type="refund")

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
    assert shop.fake.refunded(order_id) == Decimal("30.00")


# -- disputes ----------------------------------------------------------------------------------


def test_a_lost_dispute_is_recorded_and_taken_out_of_the_refundable_balance(shop: Shop) -> None:
    """CUSTOMER.DISPUTE.CREATED then .RESOLVED for the buyer: record, booking, refund ceiling."""
    payment, order_id = _paid(shop)
    opened = shop.fake.dispute(order_id, status="OPEN", reason="UNAUTHORISED", amount="60.00")

    created = shop.deliver("CUSTOMER.DISPUTE.CREATED", opened, resource_type="dispute")

    assert created.outcome is WebhookOutcome.APPLIED
    [dispute] = shop.service.list_disputes(payment.id)
    assert dispute.status is _D.NEEDS_RESPONSE
    assert (dispute.provider_dispute_id, dispute.provider_status) == (opened["dispute_id"], "OPEN")
    assert dispute.amount == Money.of("60.00", "USD")
    assert dispute.reason == "UNAUTHORISED"
    assert dispute.evidence_due_by == datetime.fromtimestamp(NOW, UTC) + timedelta(days=10)
    assert shop.log_types(payment.id)[-2:] == [LogType.WEBHOOK_RECEIVED, LogType.DISPUTE_OPENED]
    assert shop.service.get_payment(payment.id).chargeback_amount.is_zero()

    lost = shop.fake.dispute(
        order_id,
        status="RESOLVED",
        outcome="RESOLVED_BUYER_FAVOUR",
        amount="60.00",
        dispute_id=opened["dispute_id"],
    )
    closed = shop.deliver("CUSTOMER.DISPUTE.RESOLVED", lost, resource_type="dispute")

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


def test_a_won_dispute_books_nothing(shop: Shop) -> None:
    """A dispute resolved in the seller's favour leaves the whole payment refundable."""
    payment, order_id = _paid(shop, "25.00")
    opened = shop.fake.dispute(order_id)
    shop.deliver("CUSTOMER.DISPUTE.CREATED", opened, resource_type="dispute")
    won = shop.fake.dispute(
        order_id,
        status="RESOLVED",
        outcome="RESOLVED_SELLER_FAVOUR",
        dispute_id=opened["dispute_id"],
    )

    result = shop.deliver("CUSTOMER.DISPUTE.RESOLVED", won, resource_type="dispute")

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
    assert shop.service.list_disputes(payment.id) == []


def test_a_tampered_body_is_refused_and_nothing_is_stored(shop: Shop) -> None:
    """One byte changed after signing: 400, the payment still waits, the inbox is empty."""
    waiting = shop.pay(CHECKOUT_TOKEN)
    assert waiting.provider_payment_id is not None
    shop.fake.approve(waiting.provider_payment_id)
    headers, body = shop.signed(
        "CHECKOUT.ORDER.APPROVED",
        shop.fake.order(waiting.provider_payment_id),
        resource_type="checkout-order",
    )
    log_before = shop.service.get_transaction_log(waiting.id)
    tampered = body.replace(b'"100.00"', b'"1.00"', 1)
    assert tampered != body

    result = shop.service.handle_webhook("paypal", headers, tampered)

    assert (result.status_code, result.outcome) == (400, WebhookOutcome.REJECTED)
    assert result.body.startswith("rejected: ")
    _nothing_stored(shop, waiting, log_before)
    assert shop.service.handle_webhook("paypal", headers, body).outcome is WebhookOutcome.APPLIED


_UNREADABLE_AMOUNTS: list[tuple[object, str]] = [
    ({"currency_code": "USD", "value": "NaN"}, "resource.amount.value"),
    ({"currency_code": "USD", "value": "Infinity"}, "resource.amount.value"),
    ({"currency_code": "USD", "value": "100.001"}, "resource.amount.value"),
    ({"currency_code": "USD", "value": 100}, "resource.amount.value"),
    ({"currency_code": "ZZZ", "value": "100.00"}, "resource.amount.currency_code"),
    ({"currency_code": None, "value": "100.00"}, "resource.amount.currency_code"),
    ("100.00 USD", "resource.amount"),
]


@pytest.mark.parametrize(("amount", "field"), _UNREADABLE_AMOUNTS, ids=repr)
def test_a_signed_capture_event_with_unreadable_money_is_answered_400(
    shop: Shop, amount: object, field: str
) -> None:
    """PAYMENT.CAPTURE.COMPLETED whose amount is not money: 400, nothing stored."""
    payment, order_id = _paid(shop)
    capture = {**shop.fake.capture_of(order_id), "amount": amount}
    log_before = shop.service.get_transaction_log(payment.id)

    result = shop.deliver("PAYMENT.CAPTURE.COMPLETED", capture, resource_type="capture")

    assert (result.status_code, result.outcome) == (400, WebhookOutcome.REJECTED)
    assert field in result.body
    _nothing_stored(shop, payment, log_before)


def test_signed_refund_reversal_and_dispute_events_with_unreadable_money_are_answered_400(
    shop: Shop,
) -> None:
    """Every event kind paykit reads money from refuses an unreadable amount or currency."""
    payment, order_id = _paid(shop)
    refund = shop.service.process_refund(shop.service.create_refund(payment.id, "30.00").id)
    assert refund.provider_refund_id is not None
    paypal_refund = shop.fake.refund(refund.provider_refund_id)
    nan = {"currency_code": "USD", "value": "NaN"}
    reversal = {**paypal_refund, "seller_payable_breakdown": {"total_refunded_amount": nan}}
    dispute = shop.fake.dispute(order_id)
    log_before = shop.service.get_transaction_log(payment.id)
    deliveries = [
        ("PAYMENT.CAPTURE.REFUNDED", {**paypal_refund, "amount": nan}, "refund"),
        ("PAYMENT.CAPTURE.REVERSED", reversal, "refund"),
        (
            "CUSTOMER.DISPUTE.CREATED",
            {**dispute, "dispute_amount": {"currency_code": "XYZ", "value": "1.00"}},
            "dispute",
        ),
    ]

    results = [shop.deliver(kind, obj, resource_type=rtype) for kind, obj, rtype in deliveries]

    assert [(r.status_code, r.outcome) for r in results] == [(400, WebhookOutcome.REJECTED)] * 3
    assert "resource.amount.value" in results[0].body
    assert "resource.seller_payable_breakdown.total_refunded_amount.value" in results[1].body
    assert "resource.dispute_amount.currency_code" in results[2].body
    _nothing_stored(shop, shop.service.get_payment(payment.id), log_before)
    assert shop.service.get_payment(payment.id).refunded_amount == Money.of("30.00", "USD")


@pytest.mark.parametrize("wrong", ["key", "webhook_id"])
def test_a_body_signed_with_the_wrong_key_or_for_another_webhook_is_refused(
    shop: Shop, wrong: str
) -> None:
    """A forger's key behind PayPal's certificate URL, or another endpoint's delivery: 400."""
    payment, order_id = _paid(shop)
    log_before = shop.service.get_transaction_log(payment.id)
    sign: dict[str, Any] = (
        {"signer": WebhookSigner.generate(cert_url=shop.fake.signer.cert_url)}
        if wrong == "key"
        else {"webhook_id": "9SOMEONE0ELSES0WEBHOOK"}
    )

    result = shop.deliver(
        "CUSTOMER.DISPUTE.CREATED", shop.fake.dispute(order_id), resource_type="dispute", **sign
    )

    assert (result.status_code, result.outcome) == (400, WebhookOutcome.REJECTED)
    _nothing_stored(shop, payment, log_before)


# -- late events -------------------------------------------------------------------------------


def test_a_late_denial_after_completion_is_logged_and_ignored(shop: Shop) -> None:
    """A PAYMENT.CAPTURE.DENIED delivered after the capture completed never moves it back."""
    payment, order_id = _paid(shop, "40.00")
    denied = {**shop.fake.capture_of(order_id), "status": "DECLINED"}

    result = shop.deliver("PAYMENT.CAPTURE.DENIED", denied, resource_type="capture")

    assert result.outcome is WebhookOutcome.APPLIED
    after = shop.service.get_payment(payment.id)
    assert after.status is _P.COMPLETED
    assert after.failure_code is None
    assert after.captured_amount == Money.of("40.00", "USD")
    assert shop.log_types(payment.id)[-2:] == [LogType.WEBHOOK_RECEIVED, LogType.EVENT_IGNORED]
    [entry] = shop.service.list_webhook_events(payment.id)
    assert (entry.provider_type, entry.status) == ("PAYMENT.CAPTURE.DENIED", InboxStatus.APPLIED)
    assert not [e for e in shop.events if e.type is EventType.PAYMENT_FAILED]


# -- reversals: PayPal takes money back on its own account ----------------------------------------


def test_a_reversal_is_matched_through_its_capture_and_flagged_for_review(shop: Shop) -> None:
    """PAYMENT.CAPTURE.REVERSED names only a refund; the capture it links to names the payment."""
    payment, order_id = _paid(shop)
    shop.service.process_refund(shop.service.create_refund(payment.id, "50.00").id)
    reversal = shop.fake.reverse(order_id, "40.00")
    assert "custom_id" not in reversal  # nothing of paykit's: only the capture leads back

    result = shop.deliver("PAYMENT.CAPTURE.REVERSED", reversal, resource_type="refund")

    # 90.00 refunded in all against the 50.00 paykit knows of, although the reversal alone
    # (40.00) is less: the total is what gives it away.
    assert result.outcome is WebhookOutcome.APPLIED
    [entry] = [
        e
        for e in shop.service.list_webhook_events(payment.id)
        if e.provider_type == "PAYMENT.CAPTURE.REVERSED"
    ]
    assert entry.status is InboxStatus.APPLIED
    assert shop.log_types(payment.id)[-2:] == [LogType.WEBHOOK_RECEIVED, LogType.NEEDS_REVIEW]
    [flag] = [e for e in shop.events if e.type is EventType.PAYMENT_NEEDS_REVIEW]
    assert flag.detail is not None
    assert "90.00" in flag.detail
    assert "50.00" in flag.detail
    after = shop.service.get_payment(payment.id)
    assert after.refunded_amount == Money.of("50.00", "USD")  # nothing invented
    assert shop.fake.refunded(order_id) == Decimal("90.00")


def test_a_reversal_whose_capture_lookup_is_lost_is_answered_503_and_not_stored(
    shop: Shop,
) -> None:
    """A lost capture lookup leaves nothing stored and asks PayPal to deliver again."""
    payment, order_id = _paid(shop)
    reversal = shop.fake.reverse(order_id)
    headers, body = shop.signed("PAYMENT.CAPTURE.REVERSED", reversal, resource_type="refund")
    shop.fake.inject(Fault.error(503), method="GET", path="/v2/payments/captures/")

    refused = shop.service.handle_webhook("paypal", headers, body)

    assert (refused.status_code, refused.outcome) == (503, WebhookOutcome.UNAVAILABLE)
    assert shop.service.list_unmatched_webhook_events() == []
    assert [e.provider_type for e in shop.service.list_webhook_events(payment.id)] == []

    again = shop.service.handle_webhook("paypal", headers, body)  # PayPal's next delivery

    assert again.outcome is WebhookOutcome.APPLIED
    assert LogType.NEEDS_REVIEW in shop.log_types(payment.id)


def test_a_reversal_of_a_capture_paypal_does_not_know_is_kept_unmatched(shop: Shop) -> None:
    """A reversal whose capture PayPal cannot find is stored unmatched, not refused."""
    _payment, order_id = _paid(shop)
    reversal = shop.fake.reverse(order_id)
    for link in reversal["links"]:
        if link["rel"] == "up":
            link["href"] = link["href"].rsplit("/", 1)[0] + "/0UNKNOWN00000000X"

    result = shop.deliver("PAYMENT.CAPTURE.REVERSED", reversal, resource_type="refund")

    assert result.outcome is WebhookOutcome.UNMATCHED
    [entry] = shop.service.list_unmatched_webhook_events()
    assert entry.provider_type == "PAYMENT.CAPTURE.REVERSED"
