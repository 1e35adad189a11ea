"""Stripe disputes end to end: FakeStripe opens one, signs the event, paykit normalises it.

Every test goes the whole way a real dispute goes: a payment made through the adapter,
a Dispute the fake builds over its charge (from Stripe's published fixture shape), a
``charge.dispute.*`` event signed with the endpoint secret, ``parse_webhook``, and the
:class:`~paykit.gateways.base.DisputeDetails` that comes out. What every provider must do is
:class:`DisputeContract`'s; below are Stripe's tables and what only Stripe does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import ClassVar

import pytest
from _stripe_support import NOW, WEBHOOK_SECRET, StripeShop, charge_request, sign

from _dispute_contract import (
    AmountCase,
    DisputeContract,
    KindCase,
    NotMoney,
    StatusCase,
    Undescribable,
)
from _webhook_shop import Facts
from paykit.domain.dispute import DisputeStatus
from paykit.gateways import WebhookEventType
from paykit.money import Money

_E = WebhookEventType
_D = DisputeStatus
_DUE = StripeShop.now + timedelta(days=7)

# Every status Stripe's API (2026-10-28) lists, and what paykit makes of it.
STATUS_TABLE = [
    ("warning_needs_response", _D.WARNING_NEEDS_RESPONSE),
    ("warning_under_review", _D.WARNING_UNDER_REVIEW),
    ("warning_closed", _D.WARNING_CLOSED),
    ("needs_response", _D.NEEDS_RESPONSE),
    ("under_review", _D.UNDER_REVIEW),
    ("appeal_needs_response", _D.NEEDS_RESPONSE),
    ("appeal_under_review", _D.UNDER_REVIEW),
    ("won", _D.WON),
    ("lost", _D.LOST),
    ("prevented", _D.PREVENTED),
]


def _updated(status: str) -> Facts:
    return {"status": status}


class TestStripeDisputes(DisputeContract):
    """The dispute contract over a fake Stripe, and what only Stripe does."""

    shop_type = StripeShop
    statuses: ClassVar[Sequence[StatusCase]] = [
        StatusCase(
            facts=_updated(stripe_status),
            event_type="charge.dispute.updated",
            type=_E.DISPUTE_UPDATED,
            provider_status=stripe_status,
            expected=expected,
            evidence_due_by=_DUE,
            name=f"{stripe_status}-{expected}",
        )
        for stripe_status, expected in STATUS_TABLE
    ]
    kinds: ClassVar[Sequence[KindCase]] = [
        KindCase(stripe_type, expected, _D.NEEDS_RESPONSE, f"{stripe_type}-{expected}")
        for stripe_type, expected in [
            ("charge.dispute.created", _E.DISPUTE_CREATED),
            ("charge.dispute.updated", _E.DISPUTE_UPDATED),
            ("charge.dispute.closed", _E.DISPUTE_CLOSED),
            ("charge.dispute.funds_withdrawn", _E.DISPUTE_UPDATED),
            ("charge.dispute.funds_reinstated", _E.DISPUTE_UPDATED),
        ]
    ]
    lifecycle: ClassVar[Sequence[tuple[str, Facts]]] = [
        ("charge.dispute.created", _updated("warning_needs_response")),
        *[
            ("charge.dispute.updated", _updated(status))
            for status in (
                "warning_under_review",
                "needs_response",
                "under_review",
                "appeal_needs_response",
                "appeal_under_review",
            )
        ],
        ("charge.dispute.closed", _updated("won")),
    ]
    lifecycle_statuses: ClassVar[Sequence[DisputeStatus]] = [
        _D.WARNING_NEEDS_RESPONSE,
        _D.WARNING_UNDER_REVIEW,
        _D.NEEDS_RESPONSE,
        _D.UNDER_REVIEW,
        _D.NEEDS_RESPONSE,
        _D.UNDER_REVIEW,
        _D.WON,
    ]
    amounts: ClassVar[Sequence[AmountCase]] = [
        # zero-decimal at Stripe: 500 units
        AmountCase("500", "JPY", {}, Money.of("500", "JPY"), "500-JPY-500 JPY"),
        # three-decimal: 5120 units
        AmountCase("5.120", "KWD", {}, Money.of("5.120", "KWD"), "5.120-KWD-5.120 KWD"),
        # ISO zero-decimal, sent in hundredths: 500 units
        AmountCase("5", "ISK", {}, Money.of("5", "ISK"), "5-ISK-5 ISK"),
        # two decimals for charges (zero only for payouts)
        AmountCase("10.45", "HUF", {}, Money.of("10.45", "HUF"), "10.45-HUF-10.45 HUF"),
        # the customer may dispute part of the payment: the dispute's amount, not the charge's
        AmountCase("25.00", "USD", {"amount": 999}, Money.of("9.99", "USD"), "partial"),
    ]
    undescribable: ClassVar[Sequence[Undescribable]] = [
        Undescribable(
            {"status": "charge_refunded"},
            "status 'charge_refunded', unknown to paykit",
            "retired status",
        ),
        Undescribable({"status": None}, "status '', unknown to paykit", "no status"),
        Undescribable({"id": None}, "the dispute has no id", "no id"),
        Undescribable({"amount": None}, "no amount paykit can read", "no amount"),
    ]
    not_money: ClassVar[Sequence[NotMoney]] = [
        NotMoney({"currency": "xyz"}, "data.object.currency", "unknown currency"),
        NotMoney({"amount": "2500"}, "data.object.amount", "amount as text"),
        NotMoney({"amount": -2500}, "data.object.amount", "negative amount"),
    ]
    refund_types: ClassVar[Sequence[str]] = [
        "refund.created",
        "refund.updated",
        "charge.refund.updated",
    ]

    def test_the_table_covers_every_status_the_sdk_knows(self) -> None:
        """The stripe SDK's Literal of dispute statuses is exactly the table's first column."""
        import typing  # noqa: PLC0415

        import stripe  # noqa: PLC0415

        status = stripe.Dispute.__annotations__["status"]
        literal = next(a for a in typing.get_args(status) if typing.get_args(a))
        assert set(typing.get_args(literal)) == {status for status, _ in STATUS_TABLE}

    def test_a_dispute_without_a_deadline_has_none(self, shop: StripeShop) -> None:
        """A dispute with no evidence deadline (``due_by`` null) has ``evidence_due_by=None``."""
        dispute = shop.fake.open_dispute(shop.charge())
        dispute["evidence_details"]["due_by"] = None

        event = shop.parse("charge.dispute.created", dispute)

        assert event.dispute is not None
        assert event.dispute.evidence_due_by is None

    def test_the_fakes_signature_is_stripes_scheme(self, shop: StripeShop) -> None:
        """FakeStripe.sign_webhook signs exactly like the hand-made reference signer."""
        dispute = shop.fake.open_dispute(shop.charge())
        headers, body = shop.fake.sign_webhook(
            shop.fake.event("charge.dispute.created", dispute), secret=WEBHOOK_SECRET
        )

        assert headers["Stripe-Signature"] == sign(body, WEBHOOK_SECRET, timestamp=NOW)
        assert json.loads(body)["data"]["object"]["object"] == "dispute"

    def test_the_fake_disputes_only_a_paid_charge(self, shop: StripeShop) -> None:
        """Nobody can dispute money that never moved, nor open a dispute already decided."""
        held = shop.gateway.charge(charge_request(capture=False))
        assert held.provider_id is not None

        with pytest.raises(ValueError, match="only a paid charge"):
            shop.fake.open_dispute(held.provider_id)
        other = StripeShop.open()
        intent_id = other.charge()
        with pytest.raises(ValueError, match="opens in one of"):
            other.fake.open_dispute(intent_id, status="won")
        dispute = other.fake.open_dispute(intent_id)
        with pytest.raises(ValueError, match="not one of Stripe's"):
            other.fake.update_dispute(dispute["id"], status="closed")
