"""Automation actions: what automated refund policies did, one per (policy, payment).

An action comes back equal, every field, exact ``Money`` and aware datetime included; it is
found by (policy, payment), and one pair taken twice -- by two racing workers, a later unit,
or twice in a unit -- conflicts, while another policy's action on the same payment is a
record of its own. Updates are version-checked. ``list`` filters by policy, payment,
statuses and creation time (inclusive, for the daily caps), oldest first, up to a limit,
the unit's own writes included; every read counts for ``has_stale_reads``.
"""

# The suite's checks are pytest asserts and the literals are the expected values; the
# per-file ignores that tests/ gets in pyproject.toml do not reach this shipped module.
# ruff: noqa: S101, PLR2004

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import pytest

from paykit.domain.automation import ActionKind, ActionMode, ActionStatus, AutomationAction
from paykit.domain.payment import Payment, PaymentStatus
from paykit.errors import NotFound
from paykit.money import Money
from paykit.storage.base import Storage
from paykit.testing.repository_contract._records import (
    T0,
    _assert_commit_conflicts,
    _at,
    _new_id,
    _payment,
    _racing_units,
    _save,
)

_S = ActionStatus


def _action(
    payment: Payment,
    *,
    policy: str = "duplicate_charge",
    status: ActionStatus = _S.DONE,
    created_at: datetime = T0,
) -> AutomationAction:
    """An action of ``policy`` on ``payment`` with every optional field filled in."""
    return AutomationAction(
        id=_new_id("act"),
        policy=policy,
        payment_id=payment.id,
        mode=ActionMode.AUTO,
        status=status,
        kind=ActionKind.REFUND,
        amount=payment.amount,
        reason="duplicate",
        actor="automation",
        refund_id=_new_id("re"),
        error="provider said no" if status is _S.FAILED else None,
        created_at=created_at,
        updated_at=created_at,
        lease_until=created_at + timedelta(minutes=5),
    )


def _paid(storage: Storage, count: int = 1) -> list[Payment]:
    """``count`` completed payments, stored (actions refer to their payment)."""
    payments = [_payment(status=PaymentStatus.COMPLETED) for _ in range(count)]
    _save(storage, *payments)
    return payments


def _add(storage: Storage, *actions: AutomationAction) -> None:
    with storage.unit_of_work() as uow:
        for action in actions:
            uow.automation_actions.add(action)
        uow.commit()


class AutomationActionContract:
    """Automation actions round-trip, are unique per (policy, payment), and list by filter."""

    def test_automation_action_round_trips(self, storage: Storage) -> None:
        """Every field comes back equal, as a copy at the stored version, times aware."""
        (payment,) = _paid(storage)
        india = timezone(timedelta(hours=5, minutes=30))
        action = _action(payment)
        action.amount = Money.of("0.125", "KWD")
        action.updated_at = _at(3).astimezone(india)
        bare = _action(payment, policy="order_cancelled", status=_S.PROPOSED)
        bare.refund_id = bare.lease_until = None
        bare.reason = "Zürich order ✓ cancelled: " + "x" * 5_000
        _add(storage, action, bare)

        assert action.version >= 1
        with storage.unit_of_work() as uow:
            by_key = uow.automation_actions.find("duplicate_charge", payment.id)
            by_id = uow.automation_actions.get(bare.id)
        assert by_key is not None
        for got, original in ((by_key, action), (by_id, bare)):
            assert got is not original
            assert got == original
            assert got.version == original.version
            assert got.created_at.utcoffset() is not None
        assert by_key.amount == Money.of("0.125", "KWD")
        assert by_key.updated_at == _at(3)
        assert by_key.created_at.microsecond == 123456
        assert (by_id.refund_id, by_id.lease_until, by_id.error) == (None, None, None)

    def test_automation_action_found_by_policy_and_payment(self, storage: Storage) -> None:
        """An action is found by its (policy, payment) only."""
        first, second = _paid(storage, 2)
        mine = _action(first)
        other_policy = _action(first, policy="unwanted_payment")
        _add(storage, mine, other_policy)

        with storage.unit_of_work() as uow:
            actions = uow.automation_actions
            found = actions.find("duplicate_charge", first.id)
            assert found is not None
            assert found.id == mine.id
            again = actions.find("unwanted_payment", first.id)
            assert again is not None
            assert again.id == other_policy.id
            assert actions.find("duplicate_charge", second.id) is None
            assert actions.find("late_success", first.id) is None
            with pytest.raises(NotFound):
                actions.get("act_missing")

    def test_automation_action_unique_per_policy_and_payment(self, storage: Storage) -> None:
        """A (policy, payment) taken again, or twice in a unit, conflicts and writes nothing."""
        (payment,) = _paid(storage)
        _add(storage, _action(payment))
        with storage.unit_of_work() as uow:
            uow.automation_actions.add(_action(payment))
            _assert_commit_conflicts(uow)
        with storage.unit_of_work() as uow:
            uow.automation_actions.add(_action(payment, policy="early_dispute"))
            uow.automation_actions.add(_action(payment, policy="early_dispute"))
            _assert_commit_conflicts(uow)

        with storage.unit_of_work() as uow:
            assert uow.automation_actions.find("early_dispute", payment.id) is None
            assert len(uow.automation_actions.list(payment_id=payment.id)) == 1

    def test_automation_action_two_workers_racing_first_commit_wins(self, storage: Storage) -> None:
        """Both units find no action and add one: the second commit conflicts, with its work."""
        (payment,) = _paid(storage)
        with _racing_units(storage) as (first, second):
            assert first.automation_actions.find("duplicate_charge", payment.id) is None
            assert second.automation_actions.find("duplicate_charge", payment.id) is None
            winner = _action(payment, status=_S.IN_PROGRESS)
            loser = _action(payment, status=_S.IN_PROGRESS)
            first.automation_actions.add(winner)
            second.automation_actions.add(loser)

        with storage.unit_of_work() as uow:
            found = uow.automation_actions.find("duplicate_charge", payment.id)
            assert found is not None
            assert found.id == winner.id
            with pytest.raises(NotFound):
                uow.automation_actions.get(loser.id)

    def test_automation_action_updates_are_version_checked(self, storage: Storage) -> None:
        """Two units changing one action: the second commit conflicts (a sweep's re-claim)."""
        (payment,) = _paid(storage)
        action = _action(payment, status=_S.IN_PROGRESS)
        _add(storage, action)
        with _racing_units(storage) as (first, second):
            for uow in (first, second):
                claimed = uow.automation_actions.get(action.id)
                claimed.lease_until = _at(30)
                uow.automation_actions.update(claimed)

        with storage.unit_of_work() as uow:
            stored = uow.automation_actions.get(action.id)
            assert stored.lease_until == _at(30)
            assert stored.version == action.version + 1

    def test_automation_action_list_filters_and_sorts_oldest_first(self, storage: Storage) -> None:
        """Filters combine; ``created_since`` is inclusive; ``limit`` keeps the oldest."""
        first, second, third = _paid(storage, 3)
        late = _action(first, created_at=_at(10))
        early = _action(second, created_at=_at(1))
        proposed = _action(third, status=_S.PROPOSED, created_at=_at(5))
        other = _action(first, policy="order_cancelled", status=_S.FAILED, created_at=_at(7))
        _add(storage, late, early, proposed, other)

        with storage.unit_of_work() as uow:
            actions = uow.automation_actions
            mine = {late.id, early.id, proposed.id, other.id}

            def ids(found: Sequence[AutomationAction]) -> list[str]:
                return [a.id for a in found if a.id in mine]

            assert ids(actions.list(policy="duplicate_charge")) == [
                early.id,
                proposed.id,
                late.id,
            ]
            assert ids(actions.list(payment_id=first.id)) == [other.id, late.id]
            assert ids(actions.list(statuses=[_S.PROPOSED, _S.FAILED])) == [
                proposed.id,
                other.id,
            ]
            since = actions.list(policy="duplicate_charge", created_since=_at(5))
            assert ids(since) == [proposed.id, late.id]
            assert ids(actions.list(payment_id=second.id, statuses=[_S.FAILED])) == []
            assert [a.id for a in actions.list(payment_id=first.id, limit=1)] == [other.id]
            assert list(actions.list(statuses=[])) == []

    def test_automation_action_unit_sees_its_own_staged_writes(self, storage: Storage) -> None:
        """A staged action and a staged change show in the unit's listing, nobody else's."""
        first, second = _paid(storage, 2)
        stored = _action(first, status=_S.PROPOSED, created_at=_at(2))
        _add(storage, stored)
        with storage.unit_of_work() as uow, storage.unit_of_work() as other:
            staged = _action(second, status=_S.PROPOSED, created_at=_at(1))
            uow.automation_actions.add(staged)
            dismissed = uow.automation_actions.get(stored.id)
            dismissed.status = _S.DISMISSED
            uow.automation_actions.update(dismissed)
            proposed = uow.automation_actions.list(statuses=[_S.PROPOSED], payment_id=second.id)
            assert [a.id for a in proposed] == [staged.id]
            assert uow.automation_actions.list(statuses=[_S.PROPOSED], payment_id=first.id) == []
            assert other.automation_actions.find("duplicate_charge", second.id) is None

    def test_automation_action_reads_count_for_stale_reads(self, storage: Storage) -> None:
        """An action read by ``find`` and then changed by another unit is a stale read."""
        (payment,) = _paid(storage)
        action = _action(payment, status=_S.PROPOSED)
        _add(storage, action)
        with storage.unit_of_work() as uow:
            assert uow.automation_actions.find("duplicate_charge", payment.id) is not None
            assert not uow.has_stale_reads()
            with storage.unit_of_work() as other:
                changed = other.automation_actions.get(action.id)
                changed.status = _S.DISMISSED
                other.automation_actions.update(changed)
                other.commit()
            assert uow.has_stale_reads()
