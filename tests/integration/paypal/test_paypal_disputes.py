"""PayPal disputes end to end: FakePayPal builds one, signs the event, paykit normalises it.

Every dispute resource is checked against PayPal's disputes schema and every event against
the webhook event schema before the adapter sees it, so the table below is exercised with
payloads of PayPal's real shape: status x life-cycle stage x outcome, every value of each
enum the disputes OpenAPI spec lists.
"""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from _paypal_support import (
    NOW,
    check,
    make_fake,
    make_gateway,
    refund_request,
    schemas,
    usd,
    validating,
    vault_charge,
)

from paykit import InMemoryStorage, PaymentService, ValidationError
from paykit.domain.dispute import DISPUTE_TRANSITIONS, DisputeStatus
from paykit.gateways import WebhookEvent, WebhookEventType
from paykit.gateways.paypal import FakePayPal, FakeVault, PayPalGateway
from paykit.gateways.paypal._webhooks import IGNORED_REASON
from paykit.money import Money

_E = WebhookEventType
_D = DisputeStatus
_SPEC = "customer_disputes_v1.json"

STAGES = ["INQUIRY", "CHARGEBACK", "PRE_ARBITRATION", "ARBITRATION"]
OPEN_TABLE = {
    # PayPal status: (at INQUIRY, at a chargeback stage)
    "OPEN": (_D.WARNING_NEEDS_RESPONSE, _D.NEEDS_RESPONSE),
    "WAITING_FOR_SELLER_RESPONSE": (_D.WARNING_NEEDS_RESPONSE, _D.NEEDS_RESPONSE),
    "WAITING_FOR_BUYER_RESPONSE": (_D.WARNING_UNDER_REVIEW, _D.UNDER_REVIEW),
    "UNDER_REVIEW": (_D.WARNING_UNDER_REVIEW, _D.UNDER_REVIEW),
    "OTHER": (_D.WARNING_UNDER_REVIEW, _D.UNDER_REVIEW),
}
OUTCOME_TABLE = {
    # RESOLVED with outcome_code: (at INQUIRY, at a chargeback stage)
    "RESOLVED_BUYER_FAVOUR": (_D.LOST, _D.LOST),
    "ACCEPTED": (_D.LOST, _D.LOST),
    "RESOLVED_SELLER_FAVOUR": (_D.WARNING_CLOSED, _D.WON),
    "RESOLVED_WITH_PAYOUT": (_D.WARNING_CLOSED, _D.WON),
    "CANCELED_BY_BUYER": (_D.WARNING_CLOSED, _D.WON),
    "DENIED": (_D.WARNING_CLOSED, _D.WON),
    "NONE": (_D.WARNING_CLOSED, _D.WON),
}
CASES = [
    (status, stage, None, pair[stage != "INQUIRY"])
    for (status, pair), stage in itertools.product(OPEN_TABLE.items(), STAGES)
] + [
    ("RESOLVED", stage, outcome, pair[stage != "INQUIRY"])
    for (outcome, pair), stage in itertools.product(OUTCOME_TABLE.items(), STAGES)
]


def _enum(name: str) -> set[str]:
    schema = schemas().documents[_SPEC]["components"]["schemas"][name]
    return set(schema["enum"])


def _setup(amount: str = "100.00", currency: str = "USD") -> tuple[FakePayPal, PayPalGateway, str]:
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    order = gateway.charge(vault_charge(amount=amount, currency=currency))
    assert order.provider_id is not None
    return fake, gateway, order.provider_id


def _deliver(
    fake: FakePayPal, gateway: PayPalGateway, event_type: str, dispute: dict[str, Any]
) -> WebhookEvent:
    """Check the dispute and the event against PayPal's schemas, sign, deliver, parse."""
    check(schemas().component(_SPEC, "dispute"), dispute, "the dispute resource")
    event = fake.event(event_type, dispute, resource_type="dispute")
    check(schemas().component("notifications_webhooks_v1.json", "event"), event, "the event")
    return gateway.parse_webhook(*fake.sign_webhook(event))


def test_the_tables_cover_every_enum_value_of_paypals_spec() -> None:
    """Statuses, stages and outcome codes: the tables hold exactly what PayPal's spec lists."""
    assert _enum("status") == {*OPEN_TABLE, "RESOLVED"}
    assert _enum("dispute_lifecycle_stage") == set(STAGES)
    outcome = schemas().documents[_SPEC]["components"]["schemas"]["dispute_outcome"]
    assert set(outcome["properties"]["outcome_code"]["enum"]) == set(OUTCOME_TABLE)


@pytest.mark.parametrize(("status", "stage", "outcome", "expected"), CASES)
def test_every_paypal_status_stage_and_outcome_maps_onto_paykits(
    status: str, stage: str, outcome: str | None, expected: DisputeStatus
) -> None:
    """A signed CUSTOMER.DISPUTE.* from the fake gives the table's DisputeDetails."""
    fake, gateway, order_id = _setup()
    dispute = fake.dispute(order_id, status=status, stage=stage, outcome=outcome)
    event_type = "CUSTOMER.DISPUTE.RESOLVED" if status == "RESOLVED" else "CUSTOMER.DISPUTE.UPDATED"

    event = _deliver(fake, gateway, event_type, dispute)

    assert event.type is (_E.DISPUTE_CLOSED if status == "RESOLVED" else _E.DISPUTE_UPDATED)
    assert event.payment_id == "pay_test_1"
    assert event.provider_payment_id is None  # a dispute names the capture, not the order
    assert event.dispute is not None
    assert event.dispute.provider_dispute_id == dispute["dispute_id"]
    assert event.dispute.status is expected
    assert event.dispute.provider_status == status
    assert event.dispute.amount == usd("100.00")
    assert event.dispute.reason == "MERCHANDISE_OR_SERVICE_NOT_RECEIVED"


@pytest.mark.parametrize(
    ("event_type", "expected"),
    [
        ("CUSTOMER.DISPUTE.CREATED", _E.DISPUTE_CREATED),
        ("CUSTOMER.DISPUTE.UPDATED", _E.DISPUTE_UPDATED),
        ("CUSTOMER.DISPUTE.RESOLVED", _E.DISPUTE_CLOSED),
    ],
)
def test_every_dispute_event_type_carries_the_dispute(
    event_type: str, expected: WebhookEventType
) -> None:
    """The three CUSTOMER.DISPUTE.* events all describe the dispute as it stands."""
    fake, gateway, order_id = _setup()
    status = "RESOLVED" if expected is _E.DISPUTE_CLOSED else "OPEN"
    outcome = "RESOLVED_SELLER_FAVOUR" if status == "RESOLVED" else None
    dispute = fake.dispute(order_id, status=status, outcome=outcome)

    event = _deliver(fake, gateway, event_type, dispute)

    assert event.type is expected
    assert event.provider_type == event_type
    assert event.dispute is not None
    assert event.result is None


def test_the_sellers_deadline_is_the_evidence_deadline() -> None:
    """seller_response_due_date becomes an aware UTC evidence_due_by; the buyer's does not."""
    fake, gateway, order_id = _setup()

    waiting_for_us = _deliver(
        fake, gateway, "CUSTOMER.DISPUTE.CREATED", fake.dispute(order_id, status="OPEN")
    )
    waiting_for_them = _deliver(
        fake,
        gateway,
        "CUSTOMER.DISPUTE.UPDATED",
        fake.dispute(order_id, status="WAITING_FOR_BUYER_RESPONSE"),
    )

    assert waiting_for_us.dispute is not None
    due = datetime.fromtimestamp(NOW, UTC) + timedelta(days=10)
    assert waiting_for_us.dispute.evidence_due_by == due
    assert waiting_for_us.dispute.evidence_due_by.tzinfo is UTC
    assert waiting_for_them.dispute is not None
    assert waiting_for_them.dispute.evidence_due_by is None


def test_a_dispute_lifecycle_moves_only_along_paykits_table() -> None:
    """Inquiry, escalation to a claim, review, decision: each step a move the domain allows."""
    fake, gateway, order_id = _setup()
    first = fake.dispute(order_id, status="OPEN", stage="INQUIRY")
    dispute_id = first["dispute_id"]
    steps = [
        ("CUSTOMER.DISPUTE.CREATED", first),
        (
            "CUSTOMER.DISPUTE.UPDATED",
            fake.dispute(
                order_id,
                status="WAITING_FOR_BUYER_RESPONSE",
                stage="INQUIRY",
                dispute_id=dispute_id,
            ),
        ),
        (
            "CUSTOMER.DISPUTE.UPDATED",
            fake.dispute(
                order_id,
                status="WAITING_FOR_SELLER_RESPONSE",
                stage="CHARGEBACK",
                dispute_id=dispute_id,
            ),
        ),
        (
            "CUSTOMER.DISPUTE.UPDATED",
            fake.dispute(
                order_id, status="UNDER_REVIEW", stage="CHARGEBACK", dispute_id=dispute_id
            ),
        ),
        (
            "CUSTOMER.DISPUTE.RESOLVED",
            fake.dispute(
                order_id,
                status="RESOLVED",
                stage="CHARGEBACK",
                outcome="RESOLVED_BUYER_FAVOUR",
                dispute_id=dispute_id,
            ),
        ),
    ]

    seen = []
    for event_type, dispute in steps:
        details = _deliver(fake, gateway, event_type, dispute).dispute
        assert details is not None
        assert details.provider_dispute_id == dispute_id
        seen.append(details.status)

    assert seen == [
        _D.WARNING_NEEDS_RESPONSE,
        _D.WARNING_UNDER_REVIEW,
        _D.NEEDS_RESPONSE,
        _D.UNDER_REVIEW,
        _D.LOST,
    ]
    for before, after in itertools.pairwise(seen):
        assert after in DISPUTE_TRANSITIONS[before], f"{before} -> {after}"


def test_an_inquiry_refunded_to_the_buyer_is_lost_at_once() -> None:
    """PayPal may settle an inquiry in the buyer's favour: lost, straight from the warning."""
    fake, gateway, order_id = _setup()
    dispute = fake.dispute(
        order_id, status="RESOLVED", stage="INQUIRY", outcome="RESOLVED_BUYER_FAVOUR"
    )

    event = _deliver(fake, gateway, "CUSTOMER.DISPUTE.RESOLVED", dispute)

    assert event.dispute is not None
    assert event.dispute.status is _D.LOST
    assert _D.LOST in DISPUTE_TRANSITIONS[_D.WARNING_NEEDS_RESPONSE]


@pytest.mark.parametrize(
    ("amount", "currency", "disputed", "expected"),
    [
        ("100.00", "USD", "25.50", Money.of("25.50", "USD")),  # part of the payment
        ("500", "JPY", None, Money.of("500", "JPY")),  # PayPal's whole-unit currencies
        ("10", "HUF", None, Money.of("10", "HUF")),
    ],
)
def test_the_disputed_amount_is_read_in_the_disputes_currency(
    amount: str, currency: str, disputed: str | None, expected: Money
) -> None:
    """dispute_amount is the amount; a customer can dispute part of a payment."""
    fake, gateway, order_id = _setup(amount, currency)

    event = _deliver(
        fake, gateway, "CUSTOMER.DISPUTE.CREATED", fake.dispute(order_id, amount=disputed)
    )

    assert event.dispute is not None
    assert event.dispute.amount == expected


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"status": "ESCALATED"}, "status 'ESCALATED'"),
        ({"dispute_life_cycle_stage": "APPEAL"}, "stage 'APPEAL'"),
        ({"dispute_life_cycle_stage": None}, "stage None"),
        ({"status": "RESOLVED"}, "outcome None"),
        ({"status": "RESOLVED", "dispute_outcome": {"outcome_code": "SPLIT"}}, "outcome 'SPLIT'"),
        ({"dispute_id": None}, "no dispute_id"),
        ({"dispute_amount": None}, "no dispute_amount"),
    ],
    ids=[
        "unknown status",
        "unknown stage",
        "no stage",
        "resolved without outcome",
        "unknown outcome",
        "no id",
        "no amount",
    ],
)
def test_a_dispute_paykit_cannot_describe_is_ignored_and_says_why(
    change: dict[str, Any], why: str, caplog: pytest.LogCaptureFixture
) -> None:
    """No guess and no error (PayPal would only redeliver): ``ignored``, the reason in raw."""
    fake, gateway, order_id = _setup()
    dispute = {**fake.dispute(order_id), **change}
    event = fake.event("CUSTOMER.DISPUTE.UPDATED", dispute, resource_type="dispute")

    with caplog.at_level(logging.WARNING, logger="paykit.gateways.paypal"):
        normalised = gateway.parse_webhook(*fake.sign_webhook(event))

    assert normalised.type is _E.IGNORED
    assert normalised.provider_type == "CUSTOMER.DISPUTE.UPDATED"
    assert normalised.dispute is None
    assert normalised.payment_id == "pay_test_1"  # still says which payment it was about
    assert why in normalised.raw[IGNORED_REASON]
    assert why in caplog.text


@pytest.mark.parametrize(
    ("dispute_amount", "field"),
    [
        ({"currency_code": "XYZ", "value": "1.00"}, "resource.dispute_amount.currency_code"),
        ({"currency_code": "USD", "value": "NaN"}, "resource.dispute_amount.value"),
        ("1.00", "resource.dispute_amount"),
    ],
    ids=["unknown currency", "NaN", "not an object"],
)
def test_a_dispute_whose_amount_is_not_money_is_refused(dispute_amount: object, field: str) -> None:
    """An amount that is there but not money is refused (the service answers 400), not ignored."""
    fake, gateway, order_id = _setup()
    dispute = {**fake.dispute(order_id), "dispute_amount": dispute_amount}
    event = fake.event("CUSTOMER.DISPUTE.UPDATED", dispute, resource_type="dispute")

    with pytest.raises(ValidationError) as refused:
        gateway.parse_webhook(*fake.sign_webhook(event))

    assert refused.value.field == field


def test_a_dispute_without_custom_names_the_payment_through_its_capture() -> None:
    """No ``custom`` on the disputed transaction: the capture it names is read instead."""
    fake, gateway, order_id = _setup()
    dispute = fake.dispute(order_id)
    del dispute["disputed_transactions"][0]["custom"]

    event = _deliver(fake, gateway, "CUSTOMER.DISPUTE.CREATED", dispute)

    assert event.type is _E.DISPUTE_CREATED
    assert (event.provider_payment_id, event.payment_id) == (order_id, "pay_test_1")
    assert event.dispute is not None
    capture_id = dispute["disputed_transactions"][0]["seller_transaction_id"]
    assert fake.requests[-1].path == f"/v2/payments/captures/{capture_id}"


def test_a_dispute_with_custom_reads_nothing_more() -> None:
    """``custom`` names paykit's payment: no lookup."""
    fake, gateway, order_id = _setup()
    dispute = fake.dispute(order_id)
    before = len(fake.requests)

    event = _deliver(fake, gateway, "CUSTOMER.DISPUTE.CREATED", dispute)

    assert event.payment_id == "pay_test_1"
    assert not [r for r in fake.requests[before:] if "/v2/payments/" in r.path]


def test_a_dispute_over_a_capture_paypal_does_not_know_names_no_payment() -> None:
    """Neither ``custom`` nor a capture PayPal knows: the dispute is described, no payment named."""
    fake, gateway, order_id = _setup()
    dispute = fake.dispute(order_id)
    del dispute["disputed_transactions"][0]["custom"]
    dispute["disputed_transactions"][0]["seller_transaction_id"] = "0UNKNOWN00000000X"

    event = _deliver(fake, gateway, "CUSTOMER.DISPUTE.CREATED", dispute)

    assert event.type is _E.DISPUTE_CREATED
    assert (event.provider_payment_id, event.payment_id) == (None, None)
    assert event.dispute is not None


# -- refunds: paykit's refund id comes back in the refund's custom_id --------------------------


def test_the_refund_request_carries_paykits_refund_id_and_the_event_echoes_it() -> None:
    """custom_id is sent (schema-checked), PayPal keeps it, PAYMENT.CAPTURE.REFUNDED returns it."""
    fake = make_fake()
    transport, validation = validating(fake)
    gateway = make_gateway(transport)
    order = gateway.charge(vault_charge())
    assert order.provider_id is not None
    refund = gateway.refund(refund_request(order.provider_id, "30.00", refund_id="re_echo_1"))
    assert refund.provider_id is not None
    resource = fake.refund(refund.provider_id)
    check(schemas().component("payments_payment_v2.json", "refund"), resource, "the refund")

    event = gateway.parse_webhook(
        *fake.sign_webhook(fake.event("PAYMENT.CAPTURE.REFUNDED", resource, resource_type="refund"))
    )

    refund_sent = next(r for r in fake.requests if r.path.endswith("/refund"))
    assert refund_sent.body["custom_id"] == "re_echo_1"
    assert validation.requests["captures.refund"] == 1
    assert resource["custom_id"] == "re_echo_1"
    assert event.type is _E.REFUND_SUCCEEDED
    assert event.refund_id == "re_echo_1"
    assert event.provider_refund_id == refund.provider_id


def test_a_failed_refund_event_names_paykits_refund_too() -> None:
    """A FAILED refund in the event names the refund paykit must mark failed."""
    fake, gateway, _order_id = _setup()
    order = gateway.charge(vault_charge(FakeVault.REFUND_FAILS, payment_id="pay_test_2"))
    assert order.provider_id is not None
    refund = gateway.refund(refund_request(order.provider_id, "5.00", refund_id="re_echo_2"))
    assert refund.provider_id is not None
    resource = fake.refund(refund.provider_id)

    event = gateway.parse_webhook(
        *fake.sign_webhook(fake.event("PAYMENT.CAPTURE.REFUNDED", resource, resource_type="refund"))
    )

    assert event.type is _E.REFUND_FAILED
    assert event.refund_id == "re_echo_2"


def test_a_hashed_custom_id_names_no_refund() -> None:
    """A refund id PayPal could not take travels hashed; the hash is not passed off as an id."""
    fake, gateway, order_id = _setup()
    refund = gateway.refund(refund_request(order_id, "5.00", refund_id="re/with spaces"))
    assert refund.provider_id is not None
    resource = fake.refund(refund.provider_id)

    event = gateway.parse_webhook(
        *fake.sign_webhook(fake.event("PAYMENT.CAPTURE.REFUNDED", resource, resource_type="refund"))
    )

    assert resource["custom_id"].startswith("paykit-")
    assert event.refund_id is None
    assert event.provider_refund_id == refund.provider_id


def test_through_the_service_the_refund_id_is_the_service_refund() -> None:
    """A refund made by PaymentService comes back in the webhook under its own id."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    service = PaymentService(InMemoryStorage(), gateways={"paypal": gateway})
    method = service.add_payment_method("customer-42", type="paypal", token=FakeVault.SUCCESS)
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
    resource = fake.refund(refund.provider_refund_id)

    event = gateway.parse_webhook(
        *fake.sign_webhook(fake.event("PAYMENT.CAPTURE.REFUNDED", resource, resource_type="refund"))
    )
    dispute = _deliver(
        fake, gateway, "CUSTOMER.DISPUTE.CREATED", fake.dispute(payment.provider_payment_id or "")
    )

    assert event.refund_id == refund.id
    assert dispute.payment_id == payment.id
