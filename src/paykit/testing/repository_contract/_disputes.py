"""Disputes: stored exactly, unique by their provider's id, and guarded like payments.

A dispute comes back equal in every field (exact amount, aware datetimes, optional fields
unset), as a copy; an update commits a new version; it is found by (provider, provider's
id) and listed per payment, oldest first, with the unit's staged changes. A provider's
dispute id taken twice, or one dispute changed by two units, conflicts on the second commit,
which then writes nothing else it staged either.
"""

# The suite's checks are pytest asserts and the literals are the expected values; the
# per-file ignores that tests/ gets in pyproject.toml do not reach this shipped module.
# ruff: noqa: S101, PLR2004

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from paykit.domain.dispute import Dispute, DisputeStatus
from paykit.domain.payment import PaymentStatus
from paykit.errors import NotFound
from paykit.money import Money
from paykit.storage.base import Storage
from paykit.testing.repository_contract._records import (
    T0,
    _assert_commit_conflicts,
    _assert_missing,
    _assert_stored_copy,
    _at,
    _dispute,
    _entry,
    _id_of,
    _ids,
    _inbox_entry,
    _new_id,
    _payment,
    _racing_units,
    _save,
)


class DisputeContract:
    """Disputes round-trip, are found by their provider's id, and conflict like payments."""

    @pytest.mark.parametrize(
        ("currency", "amount"), [("USD", "9999999999.99"), ("JPY", "1"), ("KWD", "0.001")]
    )
    def test_dispute_round_trips(self, storage: Storage, currency: str, amount: str) -> None:
        """A committed dispute comes back equal in every field, as a copy, amount exact."""
        payment = _payment(status=PaymentStatus.COMPLETED, currency=currency, amount=amount)
        dispute = Dispute(
            id=_new_id("dp"),
            payment_id=payment.id,
            provider="stripe",
            provider_dispute_id="du_round_trip",
            amount=Money.of(amount, currency),
            reason="product_not_received",
            status=DisputeStatus.LOST,
            provider_status="lost",
            evidence_due_by=_at(60 * 24 * 7),
            created_at=T0,
            updated_at=_at(3),
            closed_at=_at(3),
        )
        _save(storage, payment, dispute)

        assert dispute.version >= 1
        with storage.unit_of_work() as uow:
            got = uow.disputes.get(dispute.id)
        _assert_stored_copy(got, dispute)
        assert type(got.amount.amount) is Decimal
        assert str(got.amount.amount) == amount
        assert got.amount.currency == currency
        assert got.status is DisputeStatus.LOST
        assert got.is_closed
        for stamp in (got.created_at, got.updated_at, got.closed_at, got.evidence_due_by):
            assert stamp is not None
            assert stamp.utcoffset() == timedelta(0)
        assert got.created_at.microsecond == 123456

    def test_a_dispute_with_defaults_round_trips(self, storage: Storage) -> None:
        """Empty reason and provider status, no deadline and not closed come back as such."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        dispute = Dispute(
            id=_new_id("dp"),
            payment_id=payment.id,
            provider="paypal",
            provider_dispute_id="PP-D-1",
            amount=Money.of("0.01", "USD"),
            status=DisputeStatus.WARNING_NEEDS_RESPONSE,
            created_at=T0,
            updated_at=T0,
        )
        _save(storage, payment, dispute)

        with storage.unit_of_work() as uow:
            got = uow.disputes.get(dispute.id)
        assert got == dispute
        assert (got.reason, got.provider_status) == ("", "")
        assert got.evidence_due_by is None
        assert got.closed_at is None

    def test_get_of_a_missing_dispute_raises_not_found(self, storage: Storage) -> None:
        """``disputes.get`` of an unknown id raises ``NotFound`` naming the kind and the id."""
        with storage.unit_of_work() as uow, pytest.raises(NotFound) as error:
            uow.disputes.get("dp_missing")
        assert (error.value.kind, error.value.record_id) == ("dispute", "dp_missing")

    def test_a_dispute_update_commits_a_new_version(self, storage: Storage) -> None:
        """A dispute moved and updated is stored on commit; the caller's object has the version."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        dispute = _dispute(payment)
        _save(storage, payment, dispute)
        first_version = dispute.version

        with storage.unit_of_work() as uow:
            loaded = uow.disputes.get(dispute.id)
            loaded.transition_to(DisputeStatus.UNDER_REVIEW, _at(1))
            loaded.provider_status = "under_review"
            uow.disputes.update(loaded)
            assert uow.disputes.get(dispute.id).status is DisputeStatus.UNDER_REVIEW
            uow.commit()
        assert loaded.version > first_version

        with storage.unit_of_work() as uow:
            again = uow.disputes.get(dispute.id)
            again.transition_to(DisputeStatus.WON, _at(2))
            uow.disputes.update(again)
            uow.commit()
        with storage.unit_of_work() as uow:
            stored = uow.disputes.get(dispute.id)
        assert stored == again
        assert stored.status is DisputeStatus.WON
        assert stored.provider_status == "under_review"
        assert stored.closed_at == _at(2)
        assert stored.version > loaded.version

    def test_a_dispute_read_is_a_copy(self, storage: Storage) -> None:
        """Changing a dispute read with ``get`` or a listing stores nothing without ``update``."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        dispute = _dispute(payment, provider_dispute_id="du_copy")
        _save(storage, payment, dispute)
        with storage.unit_of_work() as uow:
            uow.disputes.get(dispute.id).transition_to(DisputeStatus.LOST, _at(1))
            uow.disputes.list_for_payment(payment.id)[0].reason = "leaked"
            found = uow.disputes.find_by_provider_id("sandbox", "du_copy")
            assert found is not None
            found.provider_status = "leaked"
            uow.commit()

        with storage.unit_of_work() as uow:
            assert uow.disputes.get(dispute.id) == dispute

    def test_find_dispute_by_provider_id(self, storage: Storage) -> None:
        """Disputes are found by (provider, provider's id), in their unit before commit."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        sandbox = _dispute(payment, provider_dispute_id="du_shared")
        stripe = _dispute(payment, provider="stripe", provider_dispute_id="du_shared")
        _save(storage, payment, sandbox, stripe)
        with storage.unit_of_work() as uow, storage.unit_of_work() as other:
            assert uow.disputes.find_by_provider_id("sandbox", "du_shared") == sandbox
            assert uow.disputes.find_by_provider_id("stripe", "du_shared") == stripe
            assert uow.disputes.find_by_provider_id("paypal", "du_shared") is None
            assert uow.disputes.find_by_provider_id("sandbox", "du_missing") is None

            staged = _dispute(payment, provider_dispute_id="du_staged")
            uow.disputes.add(staged)
            assert _id_of(uow.disputes.find_by_provider_id("sandbox", "du_staged")) == staged.id
            assert other.disputes.find_by_provider_id("sandbox", "du_staged") is None
            uow.rollback()
            assert uow.disputes.find_by_provider_id("sandbox", "du_staged") is None

        with storage.unit_of_work() as uow:
            assert uow.disputes.find_by_provider_id("sandbox", "du_staged") is None
            _assert_missing(uow, staged)

    def test_disputes_list_for_payment(self, storage: Storage) -> None:
        """A payment's disputes only, oldest first, with the unit's staged changes."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        other = _payment(status=PaymentStatus.COMPLETED)
        late = _dispute(payment, created_at=_at(10))
        early = _dispute(payment, created_at=_at(1))
        _save(storage, payment, other, late, _dispute(other), early)
        with storage.unit_of_work() as uow:
            assert _ids(uow.disputes.list_for_payment(payment.id)) == [early.id, late.id]
            assert list(uow.disputes.list_for_payment("pay_unknown")) == []

            middle = _dispute(payment, created_at=_at(5))
            uow.disputes.add(middle)
            changed = uow.disputes.get(late.id)
            changed.transition_to(DisputeStatus.UNDER_REVIEW, _at(11))
            uow.disputes.update(changed)
            listed = uow.disputes.list_for_payment(payment.id)
            assert _ids(listed) == [early.id, middle.id, late.id]
            assert listed[2].status is DisputeStatus.UNDER_REVIEW
            assert len(uow.disputes.list_for_payment(other.id)) == 1

        with storage.unit_of_work() as uow:
            assert _ids(uow.disputes.list_for_payment(payment.id)) == [early.id, late.id]

    def test_a_disputes_provider_id_is_unique_per_provider(self, storage: Storage) -> None:
        """Two units adding one provider's dispute: the second conflicts and writes nothing."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        _save(storage, payment)
        with _racing_units(storage) as (first, second):
            assert first.disputes.find_by_provider_id("sandbox", "du_race") is None
            assert second.disputes.find_by_provider_id("sandbox", "du_race") is None
            winner = _dispute(payment, provider_dispute_id="du_race")
            loser = _dispute(payment, provider_dispute_id="du_race")
            first.disputes.add(winner)
            second.disputes.add(loser)
            second.transaction_log.append(_entry(payment.id, message="dispute opened"))
            lost_entry = _inbox_entry(event_id="evt_lost_with_the_dispute")
            second.webhook_inbox.add(lost_entry)

        with storage.unit_of_work() as uow:
            assert _ids(uow.disputes.list_for_payment(payment.id)) == [winner.id]
            assert _id_of(uow.disputes.find_by_provider_id("sandbox", "du_race")) == winner.id
            _assert_missing(uow, loser)
            assert list(uow.transaction_log.list_for_payment(payment.id)) == []
            assert uow.webhook_inbox.find("sandbox", "evt_lost_with_the_dispute") is None

        # Later, alone, or twice in one unit: still taken. Another provider may use the id.
        with storage.unit_of_work() as uow:
            uow.disputes.add(_dispute(payment, provider_dispute_id="du_race"))
            _assert_commit_conflicts(uow)
        with storage.unit_of_work() as uow:
            uow.disputes.add(_dispute(payment, provider_dispute_id="du_twice"))
            uow.disputes.add(_dispute(payment, provider_dispute_id="du_twice"))
            _assert_commit_conflicts(uow)
        with storage.unit_of_work() as uow:
            uow.disputes.add(_dispute(payment, provider="stripe", provider_dispute_id="du_race"))
            uow.commit()
        with storage.unit_of_work() as uow:
            assert len(uow.disputes.list_for_payment(payment.id)) == 2
            assert uow.disputes.find_by_provider_id("sandbox", "du_twice") is None

    def test_concurrent_dispute_updates_conflict(self, storage: Storage) -> None:
        """Two units that changed one dispute: the second commit raises and writes nothing."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        dispute = _dispute(payment)
        _save(storage, payment, dispute)
        with _racing_units(storage) as (first, second):
            mine = first.disputes.get(dispute.id)
            theirs = second.disputes.get(dispute.id)
            mine.transition_to(DisputeStatus.UNDER_REVIEW, _at(1))
            first.disputes.update(mine)
            theirs.transition_to(DisputeStatus.LOST, _at(2))
            second.disputes.update(theirs)
            lost_payment = second.payments.get(payment.id)
            lost_payment.chargeback_amount = Money.of("25.00", "USD")
            second.payments.update(lost_payment)

        with storage.unit_of_work() as uow:
            stored = uow.disputes.get(dispute.id)
            assert stored.status is DisputeStatus.UNDER_REVIEW
            assert stored.version == mine.version
            assert uow.payments.get(payment.id).chargeback_amount == Money.zero("USD")
