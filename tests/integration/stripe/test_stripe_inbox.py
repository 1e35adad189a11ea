"""Stripe's webhooks through the inbox: ``PaymentService.handle_webhook("stripe", ...)``.

End to end, offline: ``StripeGateway`` over ``FakeStripe`` behind a ``PaymentService`` with the
in-memory store. Every delivery is a Stripe event the fake builds from its own objects,
signed with the endpoint secret the way Stripe signs it, and handed over as raw bytes --
the same path a real Stripe delivery takes through ``paykit.contrib``. What every provider
must do is :class:`InboxContract`'s; below are Stripe's own cases and what only Stripe does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from _stripe_support import OLD_WEBHOOK_SECRET, StripeShop

from _inbox_contract import InboxContract, Unreadable
from paykit import Money, PaymentStatus, RefundStatus, WebhookOutcome
from paykit.gateways import WebhookEventType
from paykit.testing.fake_stripe import FakeToken

_UNREADABLE_INTENTS: list[dict[str, Any]] = [
    {"amount_received": "NaN"},
    {"amount_received": 4000.0},
    {"amount_received": -4000},
    {"amount_received": True},
    {"currency": "zzz"},
    {"currency": 840},
]


class TestStripeInbox(InboxContract):
    """The inbox contract over a fake Stripe, and what only Stripe does."""

    shop_type = StripeShop
    unreadable: ClassVar[Sequence[Unreadable]] = [
        Unreadable(change, f"data.object.{field}", repr(change))
        for change in _UNREADABLE_INTENTS
        for field in change
    ]

    def test_a_delivery_signed_with_the_previous_secret_is_accepted_while_rolling(
        self, shop: StripeShop
    ) -> None:
        """Both configured endpoint secrets verify, so a secret can be rolled without a gap."""
        waiting = shop.pay(FakeToken.AUTHENTICATION_REQUIRED)
        assert waiting.provider_payment_id is not None
        shop.fake.complete_action(waiting.provider_payment_id)
        intent = shop.fake.payment_intent(waiting.provider_payment_id)

        result = shop.handle(
            shop.signed("payment_intent.succeeded", intent, secret=OLD_WEBHOOK_SECRET)
        )

        assert result.outcome is WebhookOutcome.APPLIED
        assert shop.service.get_payment_status(waiting.id) is PaymentStatus.COMPLETED

    def test_stripe_refuses_to_refund_a_charged_back_payment_and_the_refund_fails_cleanly(
        self, shop: StripeShop
    ) -> None:
        """While a chargeback is open Stripe refuses refunds (charge_disputed); nothing is lost."""
        payment = shop.paid()
        assert payment.provider_payment_id is not None
        shop.deliver(
            WebhookEventType.DISPUTE_CREATED, shop.fake.open_dispute(payment.provider_payment_id)
        )

        refund = shop.service.process_refund(shop.service.create_refund(payment.id, "30.00").id)

        assert refund.status is RefundStatus.FAILED
        assert refund.failure_code == "charge_disputed"
        assert refund.failure_message == "The payment is disputed, so it cannot be refunded."
        after = shop.service.get_payment(payment.id)
        assert after.refunded_amount.is_zero()
        assert after.refundable_amount == Money.of("100.00", "USD")  # the reservation is released
        assert shop.fake.refunded_units(payment.id) == 0

    def test_an_inquiry_still_allows_a_refund(self, shop: StripeShop) -> None:
        """An early warning (inquiry) leaves the charge refundable at Stripe: refunding ends it."""
        payment = shop.paid()
        assert payment.provider_payment_id is not None
        inquiry = shop.fake.open_dispute(
            payment.provider_payment_id, status="warning_needs_response"
        )
        shop.deliver(WebhookEventType.DISPUTE_CREATED, inquiry)

        refund = shop.service.process_refund(shop.service.create_refund(payment.id, "30.00").id)

        assert refund.status is RefundStatus.COMPLETED
        assert shop.fake.refunded_units(payment.id) == 3000
