"""Stripe disputes end to end: FakeStripe opens one, signs the event, paykit normalises it.

Every test goes the whole way a real dispute goes: a payment made through the adapter,
a Dispute the fake builds over its charge (from Stripe's published fixture shape), a
``charge.dispute.*`` event signed with the endpoint secret, ``parse_webhook``, and the
:class:`~paykit.gateways.base.DisputeDetails` that comes out.
"""

from __future__ import annotations

import itertools
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from _stripe_support import (
    NOW,
    WEBHOOK_SECRET,
    charge_request,
    make_fake,
    make_gateway,
    refund_request,
    sign,
)

from paykit import InMemoryStorage, PaymentService, ValidationError
from paykit.domain.dispute import DISPUTE_TRANSITIONS, DisputeStatus
from paykit.gateways import WebhookEvent, WebhookEventType
from paykit.gateways.stripe import FakeStripe, FakeToken, StripeGateway
from paykit.gateways.stripe._webhooks import IGNORED_REASON
from paykit.money import Money

_E = WebhookEventType
_D = DisputeStatus


def _setup(amount: str = "25.00", currency: str = "USD") -> tuple[FakeStripe, StripeGateway, str]:
    fake = make_fake()
    gateway = make_gateway(fake.transport)
    paid = gateway.charge(charge_request(amount=amount, currency=currency))
    assert paid.provider_id is not None
    return fake, gateway, paid.provider_id


def _deliver(
    fake: FakeStripe, gateway: StripeGateway, event_type: str, obj: dict[str, Any]
) -> WebhookEvent:
    headers, body = fake.sign_webhook(fake.event(event_type, obj), secret=WEBHOOK_SECRET)
    return gateway.parse_webhook(headers, body)


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


@pytest.mark.parametrize(("stripe_status", "expected"), STATUS_TABLE)
def test_every_stripe_dispute_status_maps_onto_paykits(
    stripe_status: str, expected: DisputeStatus
) -> None:
    """A signed charge.dispute.updated from the fake gives the table's DisputeDetails."""
    fake, gateway, intent_id = _setup()
    inquiry = stripe_status.startswith("warning")
    opened = fake.open_dispute(
        intent_id, status="warning_needs_response" if inquiry else "needs_response"
    )
    dispute = fake.update_dispute(opened["id"], status=stripe_status)

    event = _deliver(fake, gateway, "charge.dispute.updated", dispute)

    assert event.type is _E.DISPUTE_UPDATED
    assert event.provider_payment_id == intent_id
    assert event.dispute is not None
    assert event.dispute.provider_dispute_id == opened["id"]
    assert event.dispute.status is expected
    assert event.dispute.provider_status == stripe_status
    assert event.dispute.amount == Money.of("25.00", "USD")
    assert event.dispute.reason == "fraudulent"
    assert event.dispute.evidence_due_by == datetime.fromtimestamp(NOW, UTC) + timedelta(days=7)


def test_the_table_covers_every_status_the_sdk_knows() -> None:
    """The stripe SDK's Literal of dispute statuses is exactly the table's first column."""
    import typing  # noqa: PLC0415

    import stripe  # noqa: PLC0415

    status = stripe.Dispute.__annotations__["status"]
    literal = next(a for a in typing.get_args(status) if typing.get_args(a))
    assert set(typing.get_args(literal)) == {status for status, _ in STATUS_TABLE}


@pytest.mark.parametrize(
    ("stripe_type", "expected"),
    [
        ("charge.dispute.created", _E.DISPUTE_CREATED),
        ("charge.dispute.updated", _E.DISPUTE_UPDATED),
        ("charge.dispute.closed", _E.DISPUTE_CLOSED),
        ("charge.dispute.funds_withdrawn", _E.DISPUTE_UPDATED),
        ("charge.dispute.funds_reinstated", _E.DISPUTE_UPDATED),
    ],
)
def test_every_dispute_event_type_carries_the_dispute(
    stripe_type: str, expected: WebhookEventType
) -> None:
    """The five charge.dispute.* events all describe the dispute as it stands."""
    fake, gateway, intent_id = _setup()
    dispute = fake.open_dispute(intent_id)

    event = _deliver(fake, gateway, stripe_type, dispute)

    assert event.type is expected
    assert event.provider_type == stripe_type
    assert event.dispute is not None
    assert event.dispute.status is _D.NEEDS_RESPONSE


def test_a_dispute_lifecycle_moves_only_along_paykits_table() -> None:
    """Inquiry, escalation, appeal, decision: every step is a move the domain allows."""
    fake, gateway, intent_id = _setup()
    dispute = fake.open_dispute(intent_id, status="warning_needs_response")
    steps = [("charge.dispute.created", dispute)]
    steps += [
        ("charge.dispute.updated", fake.update_dispute(dispute["id"], status=status))
        for status in (
            "warning_under_review",
            "needs_response",
            "under_review",
            "appeal_needs_response",
            "appeal_under_review",
        )
    ]
    steps.append(("charge.dispute.closed", fake.update_dispute(dispute["id"], status="won")))

    seen = []
    for event_type, obj in steps:
        details = _deliver(fake, gateway, event_type, obj).dispute
        assert details is not None
        assert details.provider_dispute_id == dispute["id"]
        seen.append(details.status)
    for before, after in itertools.pairwise(seen):
        assert after in DISPUTE_TRANSITIONS[before], f"{before} -> {after}"
    assert seen[-1] is _D.WON


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("500", "JPY", "500 JPY"),  # zero-decimal at Stripe: 500 units
        ("5.120", "KWD", "5.120 KWD"),  # three-decimal: 5120 units
        ("5", "ISK", "5 ISK"),  # ISO zero-decimal, sent in hundredths: 500 units
        ("10.45", "HUF", "10.45 HUF"),  # two decimals for charges (zero only for payouts)
    ],
)
def test_dispute_amounts_follow_stripes_currency_rules(
    amount: str, currency: str, expected: str
) -> None:
    """A disputed amount in Stripe units reads back as the Money that was charged."""
    fake, gateway, intent_id = _setup(amount, currency)
    dispute = fake.open_dispute(intent_id)

    event = _deliver(fake, gateway, "charge.dispute.created", dispute)

    assert event.dispute is not None
    assert str(event.dispute.amount) == expected


def test_a_partial_dispute_reports_the_disputed_amount() -> None:
    """The customer may dispute part of the payment: the dispute's amount, not the charge's."""
    fake, gateway, intent_id = _setup()
    dispute = fake.open_dispute(intent_id, amount=999)

    event = _deliver(fake, gateway, "charge.dispute.created", dispute)

    assert event.dispute is not None
    assert event.dispute.amount == Money.of("9.99", "USD")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"status": "charge_refunded"}, "status 'charge_refunded', unknown to paykit"),
        ({"status": None}, "status '', unknown to paykit"),
        ({"id": None}, "the dispute has no id"),
        ({"amount": None}, "no amount paykit can read"),
    ],
    ids=["retired status", "no status", "no id", "no amount"],
)
def test_a_dispute_paykit_cannot_describe_is_ignored_and_says_why(
    change: dict[str, Any], why: str, caplog: pytest.LogCaptureFixture
) -> None:
    """No guess and no error (Stripe would only redeliver): ``ignored``, the reason in raw."""
    fake, gateway, intent_id = _setup()
    dispute = {**fake.open_dispute(intent_id), **change}

    with caplog.at_level(logging.WARNING, logger="paykit.gateways.stripe"):
        event = _deliver(fake, gateway, "charge.dispute.created", dispute)

    assert event.type is _E.IGNORED
    assert event.provider_type == "charge.dispute.created"
    assert event.dispute is None
    assert event.provider_payment_id == intent_id
    assert why in event.raw[IGNORED_REASON]
    assert why in caplog.text
    assert event.event_id in caplog.text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"currency": "xyz"}, "data.object.currency"),
        ({"amount": "2500"}, "data.object.amount"),
        ({"amount": -2500}, "data.object.amount"),
    ],
    ids=["unknown currency", "amount as text", "negative amount"],
)
def test_a_dispute_whose_amount_is_not_stripe_money_is_refused(
    change: dict[str, Any], field: str
) -> None:
    """An amount that is there but not money is refused (the service answers 400), not ignored."""
    fake, gateway, intent_id = _setup()
    dispute = {**fake.open_dispute(intent_id), **change}

    with pytest.raises(ValidationError) as refused:
        _deliver(fake, gateway, "charge.dispute.created", dispute)

    assert refused.value.field == field


def test_a_dispute_without_a_deadline_has_none() -> None:
    """A dispute with no evidence deadline (``due_by`` null) reports ``evidence_due_by=None``."""
    fake, gateway, intent_id = _setup()
    dispute = fake.open_dispute(intent_id)
    dispute["evidence_details"]["due_by"] = None

    event = _deliver(fake, gateway, "charge.dispute.created", dispute)

    assert event.dispute is not None
    assert event.dispute.evidence_due_by is None


def test_the_fakes_signature_is_stripes_scheme() -> None:
    """FakeStripe.sign_webhook signs exactly like the hand-made reference signer."""
    fake, _gateway, intent_id = _setup()
    headers, body = fake.sign_webhook(
        fake.event("charge.dispute.created", fake.open_dispute(intent_id)), secret=WEBHOOK_SECRET
    )

    assert headers["Stripe-Signature"] == sign(body, WEBHOOK_SECRET, timestamp=NOW)
    assert json.loads(body)["data"]["object"]["object"] == "dispute"


def test_the_fake_disputes_only_a_paid_charge() -> None:
    """Nobody can dispute money that never moved, nor open a dispute already decided."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)
    held = gateway.charge(charge_request(capture=False))
    assert held.provider_id is not None

    with pytest.raises(ValueError, match="only a paid charge"):
        fake.open_dispute(held.provider_id)
    _fake, _gateway, intent_id = _setup()
    with pytest.raises(ValueError, match="opens in one of"):
        _fake.open_dispute(intent_id, status="won")
    dispute = _fake.open_dispute(intent_id)
    with pytest.raises(ValueError, match="not one of Stripe's"):
        _fake.update_dispute(dispute["id"], status="closed")


# -- refunds: paykit's refund id comes back in the refund's metadata ------------------------


@pytest.mark.parametrize(
    "event_type", ["refund.created", "refund.updated", "charge.refund.updated"]
)
def test_a_refund_event_names_paykits_refund(event_type: str) -> None:
    """The refund the adapter made carries metadata[paykit_refund_id]; the event echoes it."""
    fake, gateway, intent_id = _setup()
    refund = gateway.refund(refund_request(intent_id, "10.00", refund_id="ref_echo_1"))
    assert refund.provider_id is not None

    event = _deliver(fake, gateway, event_type, fake.refund(refund.provider_id))

    assert fake.requests[-1].form["metadata[paykit_refund_id]"] == "ref_echo_1"
    assert event.type is _E.REFUND_SUCCEEDED
    assert event.refund_id == "ref_echo_1"
    assert event.payment_id == "pay_test_1"
    assert event.provider_refund_id == refund.provider_id
    assert event.provider_payment_id == intent_id


def test_a_failed_refund_event_names_paykits_refund_too() -> None:
    """refund.failed names the refund paykit must mark failed."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)
    paid = gateway.charge(charge_request(token=FakeToken.REFUND_FAIL))
    assert paid.provider_id is not None
    refund = gateway.refund(refund_request(paid.provider_id, "10.00", refund_id="ref_echo_2"))
    assert refund.provider_id is not None

    event = _deliver(fake, gateway, "refund.failed", fake.refund(refund.provider_id))

    assert event.type is _E.REFUND_FAILED
    assert event.refund_id == "ref_echo_2"


def test_through_the_service_the_refund_id_is_the_service_refund() -> None:
    """A refund made by PaymentService comes back in the webhook under its own id."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)
    service = PaymentService(InMemoryStorage(), gateways={"credit_card": gateway})
    method = service.add_payment_method("customer-42", type="credit_card", token=FakeToken.SUCCESS)
    payment = service.process_payment(
        service.create_payment(
            customer_id="customer-42",
            order_id="ord_1",
            payment_method_id=method.id,
            amount="40.00",
            currency="USD",
        ).id
    )
    refund = service.process_refund(service.create_refund(payment.id, "15.00").id)
    assert refund.provider_refund_id is not None

    event = _deliver(fake, gateway, "refund.updated", fake.refund(refund.provider_refund_id))

    assert event.refund_id == refund.id
    assert event.payment_id == payment.id
    assert event.provider_payment_id == payment.provider_payment_id
