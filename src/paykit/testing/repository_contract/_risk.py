"""Fraud screening records: risk assessments (one per payment) and the host's list entries.

An assessment comes back equal, every field included; a second one for the same payment
conflicts; updates are version-checked. The review queue
lists one review state oldest first, up to a limit. Velocity counters count one key's
assessments per window -- ``[start, until]``, the excluded payment left out, declines
counted apart, amounts summed in one currency only. List entries are unique by
``(list_name, value)``, found by both, and a removed value can be added again.
"""

# The suite's checks are pytest asserts and the literals are the expected values; the
# per-file ignores that tests/ gets in pyproject.toml do not reach this shipped module.
# ruff: noqa: S101

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import attrs
import pytest

from paykit.domain.risk import (
    ReviewState,
    RiskAction,
    RiskAssessment,
    RiskListEntry,
    VelocityCount,
)
from paykit.errors import ConcurrencyConflict
from paykit.money import Money
from paykit.storage.base import Storage
from paykit.testing.repository_contract._records import (
    T0,
    _at,
    _new_id,
    _racing_units,
)


def _assessment(  # noqa: PLR0913 - one keyword per fact a counter test varies
    *,
    email: str | None = "risk@example.com",
    minutes: int = 0,
    amount: str = "10.00",
    currency: str = "USD",
    declined: bool = False,
    review_state: ReviewState = ReviewState.NONE,
) -> RiskAssessment:
    return RiskAssessment(
        id=_new_id("pay"),
        customer_id="cus_risk",
        amount=Money.of(amount, currency),
        email=email,
        email_domain=None if email is None else email.split("@")[1],
        ip_address="203.0.113.7",
        card_fingerprint="fp_contract",
        declined=declined,
        review_state=review_state,
        created_at=_at(minutes),
        updated_at=_at(minutes),
    )


def _entry(list_name: str = "blocked_emails", value: str | None = None) -> RiskListEntry:
    return RiskListEntry(
        id=_new_id("rl"),
        list_name=list_name,
        value=value or f"{_new_id('v')}@example.com",
        note="seen in a chargeback",
        created_by="ops",
        created_at=T0,
    )


def _save(storage: Storage, *records: RiskAssessment | RiskListEntry) -> None:
    with storage.unit_of_work() as uow:
        for record in records:
            if isinstance(record, RiskAssessment):
                uow.risk_assessments.add(record)
            else:
                uow.risk_lists.add(record)
        uow.commit()


class RiskContract:
    """Fraud screening's repositories: ``uow.risk_assessments`` and ``uow.risk_lists``."""

    def test_an_assessment_round_trips_every_field(self, storage: Storage) -> None:
        """Every field of an assessment comes back as stored, with the stored version."""
        record = RiskAssessment(
            id=_new_id("pay"),
            customer_id="cus_round_trip",
            amount=Money.of("12.345", "KWD"),
            email="Full@Example.com".lower(),
            email_domain="example.com",
            ip_address="2001:db8::1",
            ip_country="DE",
            billing_country="FR",
            shipping_country="US",
            device_id="dev_1",
            account_age_days=400,
            card_fingerprint="fp_abc",
            card_country="GB",
            wallet="apple_pay",
            decision=RiskAction.REVIEW,
            three_d_secure=True,
            score=55,
            fired_rules=("big_amount", "new_account"),
            shadow_rules=("velocity",),
            declined=True,
            review_state=ReviewState.APPROVED,
            reviewed_by="alice",
            reviewed_at=_at(5),
            provider_risk_level="elevated",
            provider_risk_score=72,
            provider_cvc_check="fail",
            provider_address_check="unavailable",
            provider_seller_protection="partially_eligible",
            created_at=T0,
            updated_at=_at(1),
        )
        _save(storage, record)
        with storage.unit_of_work() as uow:
            got = uow.risk_assessments.find(record.id)
        assert got == record
        assert got is not record
        assert got.version == record.version == 1

    def test_a_missing_assessment_is_none(self, storage: Storage) -> None:
        """``find`` of a payment never screened is ``None``, not an error."""
        with storage.unit_of_work() as uow:
            assert uow.risk_assessments.find(_new_id("pay")) is None

    def test_a_second_assessment_for_one_payment_conflicts(self, storage: Storage) -> None:
        """Two units adding an assessment for the same payment: the second commit conflicts."""
        record = _assessment()
        with _racing_units(storage) as (first, second):
            first.risk_assessments.add(record)
            second.risk_assessments.add(attrs.evolve(record, score=record.score + 1))

    def test_updates_are_version_checked(self, storage: Storage) -> None:
        """Two reviewers deciding at once: the second commit conflicts and writes nothing."""
        record = _assessment(review_state=ReviewState.PENDING)
        _save(storage, record)
        with _racing_units(storage) as (first, second):
            for uow, who in ((first, "alice"), (second, "bob")):
                found = uow.risk_assessments.find(record.id)
                assert found is not None
                found.review_state = ReviewState.APPROVED
                found.reviewed_by = who
                uow.risk_assessments.update(found)
        with storage.unit_of_work() as uow:
            stored = uow.risk_assessments.find(record.id)
        assert stored is not None
        assert stored.reviewed_by == "alice"

    def test_the_review_queue_lists_one_state_oldest_first(self, storage: Storage) -> None:
        """Pending assessments, oldest first, up to the limit; other states are not listed."""
        late = _assessment(minutes=9, review_state=ReviewState.PENDING)
        early = _assessment(minutes=1, review_state=ReviewState.PENDING)
        done = _assessment(minutes=0, review_state=ReviewState.APPROVED)
        _save(storage, late, early, done)
        with storage.unit_of_work() as uow:
            pending = uow.risk_assessments.list_by_review_state(ReviewState.PENDING)
            first = uow.risk_assessments.list_by_review_state(ReviewState.PENDING, limit=1)
        ids = [a.id for a in pending]
        assert ids.index(early.id) < ids.index(late.id)
        assert done.id not in ids
        assert len(first) == 1

    def test_listing_by_creation_time_takes_start_and_leaves_end(self, storage: Storage) -> None:
        """``list_created_between(start, end)`` includes ``start`` and excludes ``end``."""
        records = [_assessment(email=_new_id("e") + "@x.io", minutes=m) for m in (0, 1, 2)]
        _save(storage, *records)
        with storage.unit_of_work() as uow:
            found = uow.risk_assessments.list_created_between(_at(1), _at(2))
        assert [a.id for a in found if a.id in {r.id for r in records}] == [records[1].id]

    def test_velocity_counts_each_window_at_its_edges(self, storage: Storage) -> None:
        """A window is ``[start, until]``: both ends count, a microsecond outside does not."""
        email = _new_id("velocity") + "@example.com"
        records = [_assessment(email=email, minutes=m) for m in (0, 10, 20, 21)]
        _save(storage, *records)
        tick = timedelta(microseconds=1)
        with storage.unit_of_work() as uow:
            counts = uow.risk_assessments.velocity(
                {"email": email},
                windows=[_at(10), _at(0), _at(0) + tick, _at(20), _at(20) + tick],
                until=_at(20),
                currency="USD",
            )["email"]
        assert [c.payments for c in counts] == [2, 3, 2, 1, 0]

    def test_velocity_leaves_out_the_payment_screened(self, storage: Storage) -> None:
        """``exclude_id`` is not counted; declines and amounts are counted apart."""
        email = _new_id("velocity") + "@example.com"
        current = _assessment(email=email, minutes=3, amount="7.00")
        others = [
            _assessment(email=email, minutes=1, amount="5.00", declined=True),
            _assessment(email=email, minutes=2, amount="2.50"),
            _assessment(email=email, minutes=2, amount="900", currency="JPY"),
        ]
        _save(storage, current, *others)
        with storage.unit_of_work() as uow:
            (count,) = uow.risk_assessments.velocity(
                {"email": email},
                windows=[_at(0)],
                until=_at(60),
                currency="USD",
                exclude_id=current.id,
            )["email"]
        assert count == VelocityCount(3, 1, Decimal("7.50"))

    def test_velocity_groups_by_each_key_in_one_read(self, storage: Storage) -> None:
        """Each key counts its own value's assessments only; all keys are answered at once."""
        keys = ("customer_id", "email", "card_fingerprint", "ip_address")
        mine = _assessment(minutes=1)
        for key in keys:
            setattr(mine, key, _new_id("mine"))
        theirs = [_assessment(minutes=1) for _ in range(3)]
        for number, other in enumerate(theirs):
            for key in keys:
                setattr(other, key, getattr(mine, key) if key == keys[number] else _new_id("x"))
        _save(storage, mine, *theirs)
        with storage.unit_of_work() as uow:
            counts = uow.risk_assessments.velocity(
                {key: getattr(mine, key) for key in keys},
                windows=[_at(0), _at(2)],
                until=_at(5),
                currency="USD",
            )
        assert {key: [c.payments for c in counts[key]] for key in keys} == {
            "customer_id": [2, 0],
            "email": [2, 0],
            "card_fingerprint": [2, 0],
            "ip_address": [1, 0],
        }
        assert counts["email"][0].amount == Decimal("20.00")

    def test_velocity_answers_zeros_for_a_value_never_seen(self, storage: Storage) -> None:
        """A key without one assessment in any window still has its counts: all zero."""
        seen = _assessment(minutes=1)
        seen.customer_id = _new_id("cus")
        _save(storage, seen)
        with storage.unit_of_work() as uow:
            counts = uow.risk_assessments.velocity(
                {"customer_id": seen.customer_id, "email": _new_id("never") + "@example.com"},
                windows=[_at(0), _at(2)],
                until=_at(5),
                currency="USD",
            )
        nothing = VelocityCount(0, 0, Decimal(0))
        assert counts["email"] == [nothing, nothing]
        assert counts["customer_id"] == [VelocityCount(1, 0, seen.amount.amount), nothing]

    def test_velocity_and_members_answer_as_the_two_reads_do(self, storage: Storage) -> None:
        """The combined read gives ``velocity``'s counts and ``members``' memberships."""
        mine = _assessment(minutes=1, amount="4.00", declined=True)
        mine.email, mine.ip_address = _new_id("both") + "@example.com", _new_id("ip")
        listed, other = _entry(value=mine.email), _entry(list_name="blocked_ips")
        _save(storage, mine, _assessment(minutes=9), listed, other)
        values = {"email": mine.email, "ip_address": mine.ip_address}
        lists = {listed.list_name: [mine.email, "no@x.io"], "blocked_ips": [mine.ip_address]}
        windows, until = [_at(0), _at(2)], _at(5)
        with storage.unit_of_work() as uow:
            repository = uow.risk_assessments
            together = repository.velocity_and_members(
                values, windows=windows, until=until, currency="USD", lists=lists
            )
            apart = (
                repository.velocity(values, windows=windows, until=until, currency="USD"),
                uow.risk_lists.members(lists),
            )
        assert together == apart
        counts, members = together
        assert counts["email"] == [
            VelocityCount(1, 1, Decimal("4.00")),
            VelocityCount(0, 0, Decimal(0)),
        ]
        assert members == {listed.list_name: {mine.email}, "blocked_ips": set()}

    def test_velocity_and_members_with_one_side_empty(self, storage: Storage) -> None:
        """No velocity keys, or no list values: the other side is still answered."""
        entry = _entry()
        seen = _assessment(minutes=1)
        _save(storage, entry, seen)
        lists = {entry.list_name: [entry.value]}
        with storage.unit_of_work() as uow:
            repository = uow.risk_assessments
            only_lists = repository.velocity_and_members(
                {}, windows=[_at(0)], until=_at(5), currency="USD", lists=lists
            )
            only_counts = repository.velocity_and_members(
                {"customer_id": seen.customer_id},
                windows=[_at(0)],
                until=_at(5),
                currency="USD",
                lists={},
            )
        assert only_lists == ({}, {entry.list_name: {entry.value}})
        assert only_counts[1] == {}
        assert only_counts[0]["customer_id"][0].payments >= 1

    def test_velocity_and_members_see_the_units_staged_entries(self, storage: Storage) -> None:
        """List entries this unit added or removed count as the unit's ``members`` sees them."""
        kept, dropped = _entry(), _entry()
        _save(storage, dropped)
        seen = _assessment(minutes=1)
        _save(storage, seen)
        lists = {kept.list_name: [kept.value, dropped.value]}
        with storage.unit_of_work() as uow:
            found = uow.risk_lists.find(dropped.list_name, dropped.value)
            assert found is not None
            uow.risk_lists.remove(found)
            uow.risk_lists.add(kept)
            _, members = uow.risk_assessments.velocity_and_members(
                {"customer_id": seen.customer_id},
                windows=[_at(0)],
                until=_at(5),
                currency="USD",
                lists=lists,
            )
        assert members == {kept.list_name: {kept.value}}

    def test_list_entries_are_found_by_list_and_value(self, storage: Storage) -> None:
        """``find`` and ``members`` see a value on its own list only."""
        entry = _entry()
        _save(storage, entry)
        with storage.unit_of_work() as uow:
            found = uow.risk_lists.find(entry.list_name, entry.value)
            members = uow.risk_lists.members(
                {entry.list_name: [entry.value, "other@x.io"], "trusted_emails": [entry.value]}
            )
            listed = uow.risk_lists.list(entry.list_name)
        assert found == entry
        assert members == {entry.list_name: {entry.value}, "trusted_emails": set()}
        assert entry.id in {e.id for e in listed}

    def test_a_value_is_on_a_list_once(self, storage: Storage) -> None:
        """Adding one value to one list in two units: the second commit conflicts."""
        value = _new_id("twice") + "@example.com"
        with _racing_units(storage) as (first, second):
            first.risk_lists.add(_entry(value=value))
            second.risk_lists.add(_entry(value=value))

    def test_a_removed_value_can_be_added_again(self, storage: Storage) -> None:
        """Removing an entry frees its value for a later entry."""
        entry = _entry()
        _save(storage, entry)
        with storage.unit_of_work() as uow:
            found = uow.risk_lists.find(entry.list_name, entry.value)
            assert found is not None
            uow.risk_lists.remove(found)
            uow.commit()
        with storage.unit_of_work() as uow:
            assert uow.risk_lists.find(entry.list_name, entry.value) is None
        again = _entry(value=entry.value)
        _save(storage, again)
        with storage.unit_of_work() as uow:
            members = uow.risk_lists.members({entry.list_name: [entry.value]})
        assert members == {entry.list_name: {entry.value}}

    def test_a_unit_sees_its_own_staged_list_entry(self, storage: Storage) -> None:
        """A unit finds its own staged entry, others do not; the same value twice conflicts."""
        entry = _entry()
        with storage.unit_of_work() as uow, storage.unit_of_work() as other:
            uow.risk_lists.add(entry)
            assert uow.risk_lists.find(entry.list_name, entry.value) is not None
            assert other.risk_lists.find(entry.list_name, entry.value) is None
            uow.risk_lists.add(attrs.evolve(entry, id=_new_id("rl")))
            with pytest.raises(ConcurrencyConflict):
                uow.commit()
