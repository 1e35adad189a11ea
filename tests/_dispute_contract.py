"""The dispute contract: a provider's dispute and refund events through ``parse_webhook``.

Every test goes the whole way a real event goes: a payment made through the adapter, a
dispute or refund the provider's fake builds over it, an event signed as the provider signs
it, and the :class:`~paykit.gateways.WebhookEvent` that comes out. A provider's
``Test<Provider>Disputes`` subclasses :class:`DisputeContract` with its
:class:`~_webhook_shop.Shop` and its tables (see :mod:`_webhook_shop`).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import attrs
import pytest

from _webhook_shop import PAYMENT_ID, Facts, ProviderContract, Shop
from paykit import Money, ValidationError
from paykit.domain.dispute import DISPUTE_TRANSITIONS, DisputeStatus
from paykit.gateways import WebhookEventType

_D = DisputeStatus
_E = WebhookEventType


@attrs.frozen
class StatusCase:
    """A dispute in one of the provider's states, and what paykit makes of it."""

    facts: Facts
    event_type: str
    type: WebhookEventType
    provider_status: str
    expected: DisputeStatus
    evidence_due_by: datetime | None
    name: str


@attrs.frozen
class KindCase:
    """One of the provider's dispute event types, and what it normalises to."""

    event_type: str
    type: WebhookEventType
    status: DisputeStatus
    """What paykit makes of the dispute the case sends."""
    name: str
    facts: Facts = attrs.field(factory=dict)


@attrs.frozen
class AmountCase:
    """A payment, a dispute over it, and the disputed amount paykit must read."""

    charged: str
    currency: str
    facts: Facts
    expected: Money
    name: str


@attrs.frozen
class Undescribable:
    """A dispute changed so that paykit cannot describe it, and the reason it must give."""

    change: Mapping[str, Any]
    why: str
    name: str


@attrs.frozen
class NotMoney:
    """A dispute whose amount is there but not money, and the field the refusal names."""

    change: Mapping[str, Any]
    field: str
    name: str


class DisputeContract(ProviderContract):
    """A provider's dispute and refund events through the adapter's ``parse_webhook``.

    Every test goes the whole way a real event goes: a payment made through the adapter, a
    dispute or refund the fake builds over it, an event signed as the provider signs it, and
    the :class:`~paykit.gateways.WebhookEvent` that comes out.
    """

    statuses: ClassVar[Sequence[StatusCase]]
    """Every state the provider's API lists."""
    kinds: ClassVar[Sequence[KindCase]]
    """Every dispute event type the provider sends."""
    lifecycle: ClassVar[Sequence[tuple[str, Facts]]]
    """A dispute's life at the provider, event by event: inquiry to decision."""
    lifecycle_statuses: ClassVar[Sequence[DisputeStatus]]
    """What paykit makes of each step of :attr:`lifecycle`."""
    amounts: ClassVar[Sequence[AmountCase]]
    undescribable: ClassVar[Sequence[Undescribable]]
    not_money: ClassVar[Sequence[NotMoney]]
    refund_types: ClassVar[Sequence[str]]
    """Every event type that reports a refund as made."""

    def cases(self) -> Mapping[str, Sequence[object]]:
        """The provider's tables of dispute states, event types, amounts and bad disputes."""
        return {
            "status": self.statuses,
            "kind": self.kinds,
            "amount": self.amounts,
            "undescribable": self.undescribable,
            "not_money": self.not_money,
            "refund_type": self.refund_types,
        }

    def test_every_dispute_status_maps_onto_paykits(self, shop: Shop, status: StatusCase) -> None:
        """A signed dispute event from the fake gives the table's DisputeDetails."""
        provider_payment_id = shop.charge()
        dispute = shop.dispute(provider_payment_id, **status.facts)

        event = shop.parse(status.event_type, dispute)

        assert event.type is status.type
        assert (event.payment_id, event.provider_payment_id) == shop.dispute_naming.of(
            PAYMENT_ID, provider_payment_id
        )
        assert event.dispute is not None
        assert event.dispute.provider_dispute_id == shop.dispute_id(dispute)
        assert event.dispute.status is status.expected
        assert event.dispute.provider_status == status.provider_status
        assert event.dispute.amount == Money.of("25.00", "USD")
        assert event.dispute.reason == shop.default_reason
        assert event.dispute.evidence_due_by == status.evidence_due_by

    def test_every_dispute_event_type_carries_the_dispute(self, shop: Shop, kind: KindCase) -> None:
        """Every dispute event type describes the dispute as it stands."""
        dispute = shop.dispute(shop.charge(), **kind.facts)

        event = shop.parse(kind.event_type, dispute)

        assert event.type is kind.type
        assert event.provider_type == kind.event_type
        assert event.dispute is not None
        assert event.dispute.status is kind.status
        assert event.result is None

    def test_a_dispute_lifecycle_moves_only_along_paykits_table(self, shop: Shop) -> None:
        """Inquiry, escalation, review, decision: every step is a move the domain allows."""
        provider_payment_id = shop.charge()
        (first_type, first_facts), *later = self.lifecycle
        first = shop.dispute(provider_payment_id, **first_facts)
        dispute_id = shop.dispute_id(first)
        steps = [(first_type, first)] + [
            (event_type, shop.dispute(provider_payment_id, dispute_id=dispute_id, **facts))
            for event_type, facts in later
        ]

        seen = []
        for event_type, dispute in steps:
            details = shop.parse(event_type, dispute).dispute
            assert details is not None
            assert details.provider_dispute_id == dispute_id
            seen.append(details.status)

        assert seen == list(self.lifecycle_statuses)
        for before, after in itertools.pairwise(seen):
            assert after in DISPUTE_TRANSITIONS[before], f"{before} -> {after}"

    def test_the_disputed_amount_is_read_in_the_disputes_currency(
        self, shop: Shop, amount: AmountCase
    ) -> None:
        """The disputed amount reads back as Money, also when only part of a payment."""
        provider_payment_id = shop.charge(amount.charged, amount.currency)

        event = shop.parse(
            shop.types[_E.DISPUTE_CREATED], shop.dispute(provider_payment_id, **amount.facts)
        )

        assert event.dispute is not None
        assert event.dispute.amount == amount.expected
        assert str(event.dispute.amount) == str(amount.expected)

    def test_a_dispute_paykit_cannot_describe_is_ignored_and_says_why(
        self, shop: Shop, undescribable: Undescribable, caplog: pytest.LogCaptureFixture
    ) -> None:
        """No guess and no error (the provider would only redeliver): ignored, the reason in raw."""
        provider_payment_id = shop.charge()
        dispute = {**shop.dispute(provider_payment_id), **undescribable.change}
        event_type = shop.types[_E.DISPUTE_UPDATED]

        with caplog.at_level(logging.WARNING, logger=shop.logger):
            event = shop.parse(event_type, dispute, checked=False)

        assert event.type is _E.IGNORED
        assert event.provider_type == event_type
        assert event.dispute is None
        assert (event.payment_id, event.provider_payment_id) == shop.dispute_naming.of(
            PAYMENT_ID, provider_payment_id
        )  # it still says which payment it was about
        assert undescribable.why in event.raw[shop.ignored_reason]
        assert undescribable.why in caplog.text
        assert event.event_id in caplog.text

    def test_a_dispute_whose_amount_is_not_money_is_refused(
        self, shop: Shop, not_money: NotMoney
    ) -> None:
        """An amount there but not money is refused (the service answers 400), not ignored."""
        dispute = {**shop.dispute(shop.charge()), **not_money.change}

        with pytest.raises(ValidationError) as refused:
            shop.parse(shop.types[_E.DISPUTE_UPDATED], dispute, checked=False)

        assert refused.value.field == not_money.field

    # -- refunds: paykit's refund id comes back on the provider's refund --------------------

    def test_a_refund_event_names_paykits_refund(self, shop: Shop, refund_type: str) -> None:
        """The refund request carries paykit's refund id; the provider's refund event echoes it."""
        provider_payment_id = shop.charge()
        provider_refund_id = shop.refund_directly(
            provider_payment_id, "10.00", refund_id="ref_echo_1"
        )
        resource = shop.refund_resource(provider_refund_id)

        event = shop.parse(refund_type, resource)

        assert shop.refund_id_sent() == "ref_echo_1"
        assert shop.echoed_refund_id(resource) == "ref_echo_1"
        assert event.type is _E.REFUND_SUCCEEDED
        assert event.refund_id == "ref_echo_1"
        assert event.provider_refund_id == provider_refund_id
        assert (event.payment_id, event.provider_payment_id) == shop.refund_naming.of(
            PAYMENT_ID, provider_payment_id
        )

    def test_a_failed_refund_event_names_paykits_refund_too(self, shop: Shop) -> None:
        """A failed refund's event names the refund paykit must mark failed."""
        provider_payment_id = shop.charge(refund_fails=True)
        provider_refund_id = shop.refund_directly(
            provider_payment_id, "10.00", refund_id="ref_echo_2"
        )

        event = shop.parse(shop.types[_E.REFUND_FAILED], shop.refund_resource(provider_refund_id))

        assert event.type is _E.REFUND_FAILED
        assert event.refund_id == "ref_echo_2"

    def test_through_the_service_the_refund_id_is_the_service_refund(self, shop: Shop) -> None:
        """A refund made by PaymentService comes back under its own id; a dispute, its payment."""
        payment = shop.paid("40.00")
        assert payment.provider_payment_id is not None
        refund = shop.service.process_refund(shop.service.create_refund(payment.id, "15.00").id)
        assert refund.provider_refund_id is not None

        event = shop.parse(
            shop.types[_E.REFUND_SUCCEEDED], shop.refund_resource(refund.provider_refund_id)
        )
        dispute = shop.parse(
            shop.types[_E.DISPUTE_CREATED], shop.open_dispute(payment.provider_payment_id)
        )

        assert event.refund_id == refund.id
        assert (event.payment_id, event.provider_payment_id) == shop.refund_naming.of(
            payment.id, payment.provider_payment_id
        )
        assert (dispute.payment_id, dispute.provider_payment_id) == shop.dispute_naming.of(
            payment.id, payment.provider_payment_id
        )
