"""PayPal disputes end to end: FakePayPal builds one, signs the event, paykit normalises it.

Every dispute resource is checked against PayPal's disputes schema and every event against
the webhook event schema before the adapter sees it, so the table below is exercised with
payloads of PayPal's real shape: status x life-cycle stage x outcome, every value of each
enum the disputes OpenAPI spec lists. What every provider must do is
:class:`DisputeContract`'s; below are PayPal's tables and what only PayPal does.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, timedelta
from typing import ClassVar

from _paypal_support import PayPalShop, refund_request, schemas

from _dispute_contract import (
    AmountCase,
    DisputeContract,
    KindCase,
    NotMoney,
    StatusCase,
    Undescribable,
)
from _webhook_shop import Facts
from paykit.domain.dispute import DISPUTE_TRANSITIONS, DisputeStatus
from paykit.gateways import WebhookEventType
from paykit.money import Money

_E = WebhookEventType
_D = DisputeStatus
_SPEC = "customer_disputes_v1.json"
_DUE = PayPalShop.now + timedelta(days=10)

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


def _status_case(
    status: str, stage: str, outcome: str | None, expected: DisputeStatus
) -> StatusCase:
    resolved = status == "RESOLVED"
    return StatusCase(
        facts={"status": status, "stage": stage, "outcome": outcome},
        event_type="CUSTOMER.DISPUTE.RESOLVED" if resolved else "CUSTOMER.DISPUTE.UPDATED",
        type=_E.DISPUTE_CLOSED if resolved else _E.DISPUTE_UPDATED,
        provider_status=status,
        expected=expected,
        # only a wait for the seller has a deadline for evidence
        evidence_due_by=_DUE if status in ("OPEN", "WAITING_FOR_SELLER_RESPONSE") else None,
        name=f"{status}-{stage}-{outcome}-{expected}",
    )


def _step(status: str, stage: str, outcome: str | None = None) -> Facts:
    return {"status": status, "stage": stage, "outcome": outcome}


class TestPayPalDisputes(DisputeContract):
    """The dispute contract over a fake PayPal, and what only PayPal does."""

    shop_type = PayPalShop
    statuses: ClassVar[Sequence[StatusCase]] = [_status_case(*case) for case in CASES]
    kinds: ClassVar[Sequence[KindCase]] = [
        KindCase("CUSTOMER.DISPUTE.CREATED", _E.DISPUTE_CREATED, _D.NEEDS_RESPONSE, "created"),
        KindCase("CUSTOMER.DISPUTE.UPDATED", _E.DISPUTE_UPDATED, _D.NEEDS_RESPONSE, "updated"),
        KindCase(
            "CUSTOMER.DISPUTE.RESOLVED",
            _E.DISPUTE_CLOSED,
            _D.WON,
            "resolved",
            {"status": "RESOLVED", "outcome": "RESOLVED_SELLER_FAVOUR"},
        ),
    ]
    lifecycle: ClassVar[Sequence[tuple[str, Facts]]] = [
        ("CUSTOMER.DISPUTE.CREATED", _step("OPEN", "INQUIRY")),
        ("CUSTOMER.DISPUTE.UPDATED", _step("WAITING_FOR_BUYER_RESPONSE", "INQUIRY")),
        ("CUSTOMER.DISPUTE.UPDATED", _step("WAITING_FOR_SELLER_RESPONSE", "CHARGEBACK")),
        ("CUSTOMER.DISPUTE.UPDATED", _step("UNDER_REVIEW", "CHARGEBACK")),
        ("CUSTOMER.DISPUTE.RESOLVED", _step("RESOLVED", "CHARGEBACK", "RESOLVED_BUYER_FAVOUR")),
    ]
    lifecycle_statuses: ClassVar[Sequence[DisputeStatus]] = [
        _D.WARNING_NEEDS_RESPONSE,
        _D.WARNING_UNDER_REVIEW,
        _D.NEEDS_RESPONSE,
        _D.UNDER_REVIEW,
        _D.LOST,
    ]
    amounts: ClassVar[Sequence[AmountCase]] = [
        # part of the payment
        AmountCase("100.00", "USD", {"amount": "25.50"}, Money.of("25.50", "USD"), "partial"),
        # PayPal's whole-unit currencies
        AmountCase("500", "JPY", {}, Money.of("500", "JPY"), "500-JPY"),
        AmountCase("10", "HUF", {}, Money.of("10", "HUF"), "10-HUF"),
    ]
    undescribable: ClassVar[Sequence[Undescribable]] = [
        Undescribable({"status": "ESCALATED"}, "status 'ESCALATED'", "unknown status"),
        Undescribable({"dispute_life_cycle_stage": "APPEAL"}, "stage 'APPEAL'", "unknown stage"),
        Undescribable({"dispute_life_cycle_stage": None}, "stage None", "no stage"),
        Undescribable({"status": "RESOLVED"}, "outcome None", "resolved without outcome"),
        Undescribable(
            {"status": "RESOLVED", "dispute_outcome": {"outcome_code": "SPLIT"}},
            "outcome 'SPLIT'",
            "unknown outcome",
        ),
        Undescribable({"dispute_id": None}, "no dispute_id", "no id"),
        Undescribable({"dispute_amount": None}, "no dispute_amount", "no amount"),
    ]
    not_money: ClassVar[Sequence[NotMoney]] = [
        NotMoney(
            {"dispute_amount": {"currency_code": "XYZ", "value": "1.00"}},
            "resource.dispute_amount.currency_code",
            "unknown currency",
        ),
        NotMoney(
            {"dispute_amount": {"currency_code": "USD", "value": "NaN"}},
            "resource.dispute_amount.value",
            "NaN",
        ),
        NotMoney({"dispute_amount": "1.00"}, "resource.dispute_amount", "not an object"),
    ]
    refund_types: ClassVar[Sequence[str]] = ["PAYMENT.CAPTURE.REFUNDED"]

    def test_the_tables_cover_every_enum_value_of_paypals_spec(self) -> None:
        """Statuses, stages and outcome codes: the tables hold exactly what PayPal's spec lists."""
        assert _enum("status") == {*OPEN_TABLE, "RESOLVED"}
        assert _enum("dispute_lifecycle_stage") == set(STAGES)
        outcome = schemas().documents[_SPEC]["components"]["schemas"]["dispute_outcome"]
        assert set(outcome["properties"]["outcome_code"]["enum"]) == set(OUTCOME_TABLE)

    def test_the_sellers_deadline_is_the_evidence_deadline(self, shop: PayPalShop) -> None:
        """seller_response_due_date becomes an aware UTC evidence_due_by; the buyer's does not."""
        order_id = shop.charge()

        waiting_for_us = shop.parse(
            "CUSTOMER.DISPUTE.CREATED", shop.dispute(order_id, status="OPEN")
        )
        waiting_for_them = shop.parse(
            "CUSTOMER.DISPUTE.UPDATED", shop.dispute(order_id, status="WAITING_FOR_BUYER_RESPONSE")
        )

        assert waiting_for_us.dispute is not None
        assert waiting_for_us.dispute.evidence_due_by == _DUE
        assert waiting_for_us.dispute.evidence_due_by.tzinfo is UTC
        assert waiting_for_them.dispute is not None
        assert waiting_for_them.dispute.evidence_due_by is None

    def test_an_inquiry_refunded_to_the_buyer_is_lost_at_once(self, shop: PayPalShop) -> None:
        """PayPal may settle an inquiry in the buyer's favour: lost, straight from the warning."""
        dispute = shop.dispute(
            shop.charge(), status="RESOLVED", stage="INQUIRY", outcome="RESOLVED_BUYER_FAVOUR"
        )

        event = shop.parse("CUSTOMER.DISPUTE.RESOLVED", dispute)

        assert event.dispute is not None
        assert event.dispute.status is _D.LOST
        assert _D.LOST in DISPUTE_TRANSITIONS[_D.WARNING_NEEDS_RESPONSE]

    # -- which payment a dispute is about: ``custom``, else the capture ---------------------

    def test_a_dispute_without_custom_names_the_payment_through_its_capture(
        self, shop: PayPalShop
    ) -> None:
        """No ``custom`` on the disputed transaction: the capture it names is read instead."""
        order_id = shop.charge()
        dispute = shop.dispute(order_id)
        del dispute["disputed_transactions"][0]["custom"]

        event = shop.parse("CUSTOMER.DISPUTE.CREATED", dispute)

        assert event.type is _E.DISPUTE_CREATED
        assert (event.provider_payment_id, event.payment_id) == (order_id, "pay_test_1")
        assert event.dispute is not None
        capture_id = dispute["disputed_transactions"][0]["seller_transaction_id"]
        assert shop.fake.requests[-1].path == f"/v2/payments/captures/{capture_id}"

    def test_a_dispute_with_custom_reads_nothing_more(self, shop: PayPalShop) -> None:
        """``custom`` names paykit's payment: no lookup."""
        dispute = shop.dispute(shop.charge())
        before = len(shop.fake.requests)

        event = shop.parse("CUSTOMER.DISPUTE.CREATED", dispute)

        assert event.payment_id == "pay_test_1"
        assert not [r for r in shop.fake.requests[before:] if "/v2/payments/" in r.path]

    def test_a_dispute_over_a_capture_paypal_does_not_know_names_no_payment(
        self, shop: PayPalShop
    ) -> None:
        """Neither ``custom`` nor a known capture: the dispute is described, no payment named."""
        dispute = shop.dispute(shop.charge())
        del dispute["disputed_transactions"][0]["custom"]
        dispute["disputed_transactions"][0]["seller_transaction_id"] = "0UNKNOWN00000000X"

        event = shop.parse("CUSTOMER.DISPUTE.CREATED", dispute)

        assert event.type is _E.DISPUTE_CREATED
        assert (event.provider_payment_id, event.payment_id) == (None, None)
        assert event.dispute is not None

    # -- refund ids PayPal could not take ---------------------------------------------------

    def test_a_hashed_custom_id_names_no_refund(self, shop: PayPalShop) -> None:
        """A refund id PayPal could not take travels hashed; the hash is not passed off as an id."""
        refund = shop.gateway.refund(
            refund_request(shop.charge(), "5.00", refund_id="re/with spaces")
        )
        assert refund.provider_id is not None
        resource = shop.refund_resource(refund.provider_id)

        event = shop.parse("PAYMENT.CAPTURE.REFUNDED", resource)

        assert resource["custom_id"].startswith("paykit-")
        assert event.refund_id is None
        assert event.provider_refund_id == refund.provider_id
