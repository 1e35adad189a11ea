"""PayPal's webhooks through the inbox: ``PaymentService.handle_webhook("paypal", ...)``.

End to end, offline: ``PayPalGateway`` over ``FakePayPal`` (every request and answer checked
against PayPal's schemas) behind a ``PaymentService`` with the in-memory store. Every
delivery is a PayPal event about the fake's own objects, signed with the fake's certificate
the way PayPal signs it, and handed over as raw bytes. Each test runs with both ways of
verifying: asking PayPal (``"api"``) and checking the certificate here (``"offline"``). What
every provider must do is :class:`InboxContract`'s; below are PayPal's own cases and what
only PayPal does.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import ClassVar

from _paypal_support import PayPalShop

from _inbox_contract import InboxContract, Unreadable
from paykit import EventType, InboxStatus, LogType, Money, WebhookOutcome
from paykit.testing.fake_paypal import Fault

_UNREADABLE_AMOUNTS: list[tuple[object, str]] = [
    ({"currency_code": "USD", "value": "NaN"}, "resource.amount.value"),
    ({"currency_code": "USD", "value": "Infinity"}, "resource.amount.value"),
    ({"currency_code": "USD", "value": "100.001"}, "resource.amount.value"),
    ({"currency_code": "USD", "value": 100}, "resource.amount.value"),
    ({"currency_code": "ZZZ", "value": "100.00"}, "resource.amount.currency_code"),
    ({"currency_code": None, "value": "100.00"}, "resource.amount.currency_code"),
    ("100.00 USD", "resource.amount"),
]


class TestPayPalInbox(InboxContract):
    """The inbox contract over a fake PayPal, and what only PayPal does: reversals."""

    shop_type = PayPalShop
    unreadable: ClassVar[Sequence[Unreadable]] = [
        Unreadable({"amount": amount}, field, f"{amount!r}-{field!r}")
        for amount, field in _UNREADABLE_AMOUNTS
    ]

    # -- reversals: PayPal takes money back on its own account -----------------------------

    def test_a_reversal_is_matched_through_its_capture_and_flagged_for_review(
        self, shop: PayPalShop
    ) -> None:
        """PAYMENT.CAPTURE.REVERSED names only a refund; its capture names the payment."""
        payment = shop.paid()
        assert payment.provider_payment_id is not None
        order_id = payment.provider_payment_id
        shop.service.process_refund(shop.service.create_refund(payment.id, "50.00").id)
        reversal = shop.fake.reverse(order_id, "40.00")
        assert "custom_id" not in reversal  # nothing of paykit's: only the capture leads back

        result = shop.deliver("PAYMENT.CAPTURE.REVERSED", reversal)

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
        self, shop: PayPalShop
    ) -> None:
        """A lost capture lookup leaves nothing stored and asks PayPal to deliver again."""
        payment = shop.paid()
        assert payment.provider_payment_id is not None
        delivery = shop.signed(
            "PAYMENT.CAPTURE.REVERSED", shop.fake.reverse(payment.provider_payment_id)
        )
        shop.fake.inject(Fault.error(503), method="GET", path="/v2/payments/captures/")

        refused = shop.handle(delivery)

        assert (refused.status_code, refused.outcome) == (503, WebhookOutcome.UNAVAILABLE)
        assert shop.service.list_unmatched_webhook_events() == []
        assert [e.provider_type for e in shop.service.list_webhook_events(payment.id)] == []

        again = shop.handle(delivery)  # PayPal's next delivery

        assert again.outcome is WebhookOutcome.APPLIED
        assert LogType.NEEDS_REVIEW in shop.log_types(payment.id)

    def test_a_reversal_of_a_capture_paypal_does_not_know_is_kept_unmatched(
        self, shop: PayPalShop
    ) -> None:
        """A reversal whose capture PayPal cannot find is stored unmatched, not refused."""
        payment = shop.paid()
        assert payment.provider_payment_id is not None
        reversal = shop.fake.reverse(payment.provider_payment_id)
        for link in reversal["links"]:
            if link["rel"] == "up":
                link["href"] = link["href"].rsplit("/", 1)[0] + "/0UNKNOWN00000000X"

        result = shop.deliver("PAYMENT.CAPTURE.REVERSED", reversal)

        assert result.outcome is WebhookOutcome.UNMATCHED
        [entry] = shop.service.list_unmatched_webhook_events()
        assert entry.provider_type == "PAYMENT.CAPTURE.REVERSED"
