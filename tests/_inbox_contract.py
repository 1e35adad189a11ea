"""The inbox contract: a provider's webhooks through ``PaymentService.handle_webhook``.

End to end, offline: every delivery is an event about the provider fake's own objects, signed
the way the provider signs it and handed over as raw bytes, the path a real delivery takes.
A provider's ``Test<Provider>Inbox`` subclasses :class:`InboxContract` with its
:class:`~_webhook_shop.Shop` and its own cases (see :mod:`_webhook_shop`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs
import pytest

from _webhook_shop import ProviderContract, Shop
from paykit import (
    DisputeStatus,
    EventType,
    InboxStatus,
    InvalidRefundAmountError,
    LogType,
    Money,
    PaymentStatus,
    RefundStatus,
    WebhookOutcome,
)
from paykit.gateways import WebhookEventType

_P = PaymentStatus
_D = DisputeStatus
_E = WebhookEventType


@attrs.frozen
class Unreadable:
    """A payment-succeeded resource whose money is not money, and the field that says so."""

    change: Mapping[str, Any]
    """Replaces fields of the resource."""
    field: str
    name: str


@attrs.frozen
class _Records:
    """What paykit keeps about a payment, to prove a delivery stored nothing."""

    status: PaymentStatus
    log: list[Any]
    inbox: list[Any]
    disputes: list[Any]


def _records(shop: Shop, payment_id: str) -> _Records:
    return _Records(
        shop.service.get_payment_status(payment_id),
        shop.service.get_transaction_log(payment_id),
        shop.service.list_webhook_events(payment_id),
        shop.service.list_disputes(payment_id),
    )


def _nothing_stored(shop: Shop, payment_id: str, before: _Records) -> None:
    assert _records(shop, payment_id) == before
    assert shop.service.list_unmatched_webhook_events() == []


class InboxContract(ProviderContract):
    """A provider's webhooks through ``PaymentService.handle_webhook``, end to end, offline.

    Every delivery is an event about the fake's own objects, signed the way the provider
    signs it and handed over as raw bytes: the path a real delivery takes.
    """

    unreadable: ClassVar[Sequence[Unreadable]]
    """Payment-succeeded resources whose amount or currency is not money."""

    def cases(self) -> Mapping[str, Sequence[object]]:
        """Malformed money and forged signatures, in the provider's words."""
        return {"unreadable": self.unreadable, "forgery": self.shop_type.forgeries}

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Run every test with each way of verifying, then over the provider's cases."""
        if "shop" in metafunc.fixturenames and self.shop_type.modes:
            metafunc.parametrize("shop", self.shop_type.modes, indirect=True)
        super().pytest_generate_tests(metafunc)

    # -- a waiting payment completed by the provider's event -------------------------------

    def test_a_waiting_payment_completes_when_the_provider_reports_it_once_however_often_told(
        self, shop: Shop
    ) -> None:
        """The provider took the money but paykit never heard; the signed event completes it."""
        waiting = shop.waiting("40.00")
        delivery = shop.signed(shop.types[_E.PAYMENT_SUCCEEDED], shop.taken_but_untold(waiting))
        inbox_before = shop.service.list_webhook_events(waiting.id)
        mark = shop.request_count()

        result = shop.handle(delivery)

        assert (result.status_code, result.outcome, result.body) == (
            200,
            WebhookOutcome.APPLIED,
            "applied",
        )
        assert shop.lookups_since(mark) == []  # the event said enough: no lookup
        done = shop.service.get_payment(waiting.id)
        assert done.status is _P.COMPLETED
        assert done.captured_amount == Money.of("40.00", "USD")
        assert done.next_action is None
        assert shop.log_types(waiting.id)[-2:] == [
            LogType.WEBHOOK_RECEIVED,
            LogType.PAYMENT_PROCESSED,
        ]
        entries = shop.service.list_webhook_events(waiting.id)
        assert entries[:-1] == inbox_before
        entry = entries[-1]
        assert (entry.status, entry.provider, entry.event_id, entry.provider_type) == (
            InboxStatus.APPLIED,
            shop.provider,
            result.event_id,
            delivery.provider_type,
        )
        assert [e.type for e in shop.events].count(EventType.PAYMENT_COMPLETED) == 1
        log_before, events_before = shop.service.get_transaction_log(waiting.id), len(shop.events)

        again = shop.handle(delivery)

        assert (again.status_code, again.outcome, again.event_id) == (
            200,
            WebhookOutcome.DUPLICATE,
            result.event_id,
        )
        assert shop.service.get_transaction_log(waiting.id) == log_before
        assert len(shop.events) == events_before
        assert len(shop.service.list_webhook_events(waiting.id)) == len(entries)
        assert shop.service.get_payment(waiting.id) == done
        assert shop.charged(done) == Money.of("40.00", "USD")

    # -- a refund whose answer was lost ----------------------------------------------------

    def test_a_refund_whose_answer_was_lost_settles_by_its_webhook(self, shop: Shop) -> None:
        """The provider refunded but the answer never came; its refund event names the refund."""
        payment = shop.paid()
        shop.lose_next_refund_answer()
        refund = shop.service.process_refund(shop.service.create_refund(payment.id, "30.00").id)
        assert refund.status is RefundStatus.PROCESSING
        assert refund.provider_refund_id is None
        [provider_refund_id] = shop.refunds_at_provider()
        resource = shop.refund_resource(provider_refund_id)
        assert shop.echoed_refund_id(resource) == refund.id

        result = shop.deliver(_E.REFUND_SUCCEEDED, resource)

        assert result.outcome is WebhookOutcome.APPLIED
        settled = shop.service.get_refund(refund.id)
        assert settled.status is RefundStatus.COMPLETED
        assert settled.provider_refund_id == provider_refund_id
        after = shop.service.get_payment(payment.id)
        assert after.status is _P.PARTIALLY_REFUNDED
        assert after.refunded_amount == Money.of("30.00", "USD")
        assert after.refundable_amount == Money.of("70.00", "USD")
        assert LogType.WEBHOOK_RECEIVED in shop.log_types(payment.id)
        assert EventType.REFUND_COMPLETED in [event.type for event in shop.events]
        assert shop.refunded(payment) == Money.of("30.00", "USD")
        assert shop.deliver(_E.REFUND_SUCCEEDED, resource).outcome is WebhookOutcome.APPLIED
        assert shop.service.get_payment(payment.id).refunded_amount == Money.of("30.00", "USD")

    # -- disputes --------------------------------------------------------------------------

    def test_a_lost_dispute_is_recorded_and_taken_out_of_the_refundable_balance(
        self, shop: Shop
    ) -> None:
        """A dispute opened, then decided for the customer: the record, booking, refund ceiling."""
        payment = shop.paid()
        assert payment.provider_payment_id is not None
        opened = shop.open_dispute(
            payment.provider_payment_id,
            amount=Money.of("60.00", "USD"),
            reason=shop.other_reason,
        )

        created = shop.deliver(_E.DISPUTE_CREATED, opened)

        assert created.outcome is WebhookOutcome.APPLIED
        [dispute] = shop.service.list_disputes(payment.id)
        assert dispute.status is _D.NEEDS_RESPONSE
        assert (dispute.provider_dispute_id, dispute.provider_status) == (
            shop.dispute_id(opened),
            shop.opened_status,
        )
        assert dispute.amount == Money.of("60.00", "USD")
        assert dispute.reason == shop.other_reason
        assert dispute.evidence_due_by == shop.now + shop.evidence_window
        assert shop.log_types(payment.id)[-2:] == [LogType.WEBHOOK_RECEIVED, LogType.DISPUTE_OPENED]
        assert shop.service.get_payment(payment.id).chargeback_amount.is_zero()

        lost = shop.decide_dispute(payment.provider_payment_id, opened, won=False)
        closed = shop.deliver(_E.DISPUTE_CLOSED, lost)

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
        assert shop.charged_back(payment) in (None, Money.of("60.00", "USD"))

    def test_a_won_dispute_books_nothing(self, shop: Shop) -> None:
        """A dispute decided for the merchant leaves the whole payment refundable."""
        payment = shop.paid("25.00")
        assert payment.provider_payment_id is not None
        opened = shop.open_dispute(payment.provider_payment_id)
        shop.deliver(_E.DISPUTE_CREATED, opened)

        result = shop.deliver(
            _E.DISPUTE_CLOSED, shop.decide_dispute(payment.provider_payment_id, opened, won=True)
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

    # -- deliveries that do not verify -----------------------------------------------------

    def test_a_tampered_body_is_refused_and_nothing_is_stored(self, shop: Shop) -> None:
        """One byte changed after signing: 400, the payment still waits, nothing is stored."""
        waiting = shop.waiting()
        delivery = shop.customer_acts(waiting)
        before = _records(shop, waiting.id)
        tampered = shop.tamper(delivery.body)
        assert tampered != delivery.body

        result = shop.handle(attrs.evolve(delivery, body=tampered))

        assert (result.status_code, result.outcome) == (400, WebhookOutcome.REJECTED)
        assert result.body.startswith("rejected: ")
        assert not result.ok
        _nothing_stored(shop, waiting.id, before)
        assert shop.handle(delivery).outcome is WebhookOutcome.APPLIED

    def test_a_body_signed_by_someone_else_is_refused(self, shop: Shop, forgery: str) -> None:
        """A delivery signed for another endpoint (or by a forger) never reaches the records."""
        payment = shop.paid()
        assert payment.provider_payment_id is not None
        before = _records(shop, payment.id)

        result = shop.deliver(
            _E.DISPUTE_CREATED, shop.open_dispute(payment.provider_payment_id), forgery=forgery
        )

        assert (result.status_code, result.outcome) == (400, WebhookOutcome.REJECTED)
        assert shop.service.list_disputes(payment.id) == []
        _nothing_stored(shop, payment.id, before)

    # -- authentic events whose money paykit cannot read -----------------------------------

    def test_a_signed_payment_event_with_unreadable_money_is_answered_400(
        self, shop: Shop, unreadable: Unreadable
    ) -> None:
        """A payment-succeeded event whose amount or currency is not money: 400, nothing stored."""
        waiting = shop.waiting("40.00")
        resource = {**shop.taken_but_untold(waiting), **unreadable.change}
        before = _records(shop, waiting.id)

        result = shop.deliver(_E.PAYMENT_SUCCEEDED, resource)

        assert (result.status_code, result.outcome) == (400, WebhookOutcome.REJECTED)
        assert unreadable.field in result.body
        for secret in shop.secrets:
            assert secret not in result.body
        _nothing_stored(shop, waiting.id, before)

    def test_signed_refund_and_dispute_events_with_unreadable_money_are_answered_400(
        self, shop: Shop
    ) -> None:
        """Every event kind paykit reads money from refuses an unreadable amount or currency."""
        payment = shop.paid()
        assert payment.provider_payment_id is not None
        refund = shop.service.process_refund(shop.service.create_refund(payment.id, "30.00").id)
        assert refund.provider_refund_id is not None
        before = _records(shop, payment.id)
        deliveries = shop.unreadable_money(payment.provider_payment_id, refund.provider_refund_id)
        assert deliveries

        results = [(shop.deliver(kind, obj), field) for kind, obj, field in deliveries]

        for result, field in results:
            assert (result.status_code, result.outcome) == (400, WebhookOutcome.REJECTED)
            assert field in result.body
        _nothing_stored(shop, payment.id, before)
        assert shop.service.list_disputes(payment.id) == []
        assert shop.service.get_payment(payment.id).refunded_amount == Money.of("30.00", "USD")

    # -- late events -----------------------------------------------------------------------

    def test_a_late_failure_after_completion_is_logged_and_ignored(self, shop: Shop) -> None:
        """A failure delivered after the payment completed never moves the payment back."""
        payment, failure = shop.completed_before_a_late_failure("40.00")
        assert shop.service.get_payment_status(payment.id) is _P.COMPLETED
        inbox_before = [e.provider_type for e in shop.service.list_webhook_events(payment.id)]

        result = shop.handle(failure)

        assert result.outcome is WebhookOutcome.APPLIED
        after = shop.service.get_payment(payment.id)
        assert after.status is _P.COMPLETED
        assert after.failure_code is None
        assert after.captured_amount == Money.of("40.00", "USD")
        assert shop.log_types(payment.id)[-2:] == [LogType.WEBHOOK_RECEIVED, LogType.EVENT_IGNORED]
        entries = shop.service.list_webhook_events(payment.id)
        assert [e.provider_type for e in entries] == [*inbox_before, failure.provider_type]
        assert entries[-1].status is InboxStatus.APPLIED
        assert not [e for e in shop.events if e.type is EventType.PAYMENT_FAILED]
