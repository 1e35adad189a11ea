"""Reconciliation listings: the sweep gets exactly the records that are due, least recent first.

``payments.list_due_for_reconciliation`` picks payments in the given statuses, changed
strictly before the cut-off, and not scheduled after ``due_by``; the refunds' listing does
the same for ``processing`` refunds. Both sort least recently updated first, apply ``limit``
last, and see the unit's own writes: a record the unit claimed (rescheduled) drops out.
"""

# The suite's checks are pytest asserts; the per-file ignores that tests/ gets in
# pyproject.toml do not reach this shipped module.
# ruff: noqa: S101

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final, TypeVar

from paykit.domain.payment import Payment, PaymentStatus
from paykit.domain.refund import Refund, RefundStatus
from paykit.storage.base import Storage, UnitOfWork
from paykit.testing.repository_contract._records import (
    T0,
    _at,
    _ids,
    _payment,
    _refund,
    _save,
)

CUTOFF: Final = _at(60)
"""The sweeps' ``updated_before`` (and by default ``due_by``) in every test below."""

_Swept = TypeVar("_Swept", Payment, Refund)


def _created_for(updated_at: datetime) -> datetime:
    """A creation time that runs against ``updated_at``: the older the change, the later.

    A listing sorted by ``created_at`` instead of ``updated_at`` then comes out reversed.
    """
    return T0 - (updated_at - T0)


def _last_changed(
    record: _Swept, updated_at: datetime, next_reconcile_at: datetime | None
) -> _Swept:
    """``record``, last changed at ``updated_at`` and scheduled for ``next_reconcile_at``."""
    record.updated_at = updated_at
    record.next_reconcile_at = next_reconcile_at
    return record


def _swept_payment(
    status: PaymentStatus, updated_at: datetime, next_reconcile_at: datetime | None = None
) -> Payment:
    """A payment in ``status``, last changed at ``updated_at``."""
    payment = _payment(status=status, created_at=_created_for(updated_at))
    return _last_changed(payment, updated_at, next_reconcile_at)


def _swept_refund(
    payment: Payment,
    status: RefundStatus,
    updated_at: datetime,
    next_reconcile_at: datetime | None = None,
) -> Refund:
    """A refund of ``payment`` in ``status``, last changed at ``updated_at``."""
    refund = _refund(payment, created_at=_created_for(updated_at))
    refund.status = status
    return _last_changed(refund, updated_at, next_reconcile_at)


def _due_payments(
    uow: UnitOfWork,
    statuses: Sequence[PaymentStatus] = (PaymentStatus.PROCESSING,),
    *,
    due_by: datetime = CUTOFF,
    limit: int = 100,
) -> list[str]:
    """The ids of the payments ``uow`` lists as due, changed before ``CUTOFF``."""
    return _ids(
        uow.payments.list_due_for_reconciliation(
            statuses, updated_before=CUTOFF, due_by=due_by, limit=limit
        )
    )


def _due_refunds(uow: UnitOfWork, *, due_by: datetime = CUTOFF, limit: int = 100) -> list[str]:
    """The ids of the refunds ``uow`` lists as due, changed before ``CUTOFF``."""
    return _ids(
        uow.refunds.list_due_for_reconciliation(updated_before=CUTOFF, due_by=due_by, limit=limit)
    )


class ReconciliationContract:
    """The sweep's listings pick exactly the records that are due, least recently updated first."""

    def test_payments_due_for_reconciliation(self, storage: Storage) -> None:
        """Given statuses, changed strictly before the cut-off, due by now; least recent first."""
        processing = PaymentStatus.PROCESSING
        old = _swept_payment(processing, _at(10))
        oldest = _swept_payment(processing, _at(5), next_reconcile_at=CUTOFF)
        scheduled = _swept_payment(processing, _at(20), next_reconcile_at=_at(30))
        just_before = _swept_payment(processing, CUTOFF - timedelta(microseconds=1))
        at_cutoff = _swept_payment(processing, CUTOFF)
        backing_off = _swept_payment(
            processing, _at(1), next_reconcile_at=CUTOFF + timedelta(microseconds=1)
        )
        action = _swept_payment(PaymentStatus.REQUIRES_ACTION, _at(2))
        completed = _swept_payment(PaymentStatus.COMPLETED, _at(0))
        _save(storage, just_before, completed, scheduled, at_cutoff, action)
        _save(storage, backing_off, old, oldest)

        with storage.unit_of_work() as uow:
            expected = [oldest.id, old.id, scheduled.id, just_before.id]
            assert _due_payments(uow, [processing]) == expected
            assert _due_payments(uow, [processing, PaymentStatus.REQUIRES_ACTION]) == [
                action.id,
                *expected,
            ]
            assert _due_payments(uow, [PaymentStatus.REQUIRES_ACTION]) == [action.id]
            assert _due_payments(uow, [processing], limit=2) == expected[:2]
            assert _due_payments(uow, [processing], limit=1) == expected[:1]
            assert _due_payments(uow, [processing], due_by=_at(30)) == [
                old.id,
                scheduled.id,
                just_before.id,
            ]
            assert _due_payments(uow, [processing], due_by=_at(29)) == [old.id, just_before.id]
            assert _due_payments(uow, [PaymentStatus.AUTHORIZED]) == []
            [first] = uow.payments.list_due_for_reconciliation(
                [processing], updated_before=CUTOFF, due_by=CUTOFF, limit=1
            )
            assert first == oldest

    def test_payments_due_for_reconciliation_see_the_units_own_writes(
        self, storage: Storage
    ) -> None:
        """A payment the unit claimed drops out there, and a later one fills the ``limit``."""
        processing = PaymentStatus.PROCESSING
        first, second, third = (_swept_payment(processing, _at(n)) for n in (1, 2, 3))
        _save(storage, first, second, third)
        with storage.unit_of_work() as uow, storage.unit_of_work() as other:
            for payment_id in (first.id, second.id):  # claimed by this worker
                claimed = uow.payments.get(payment_id)
                claimed.next_reconcile_at = _at(120)
                claimed.reconcile_attempts += 1
                uow.payments.update(claimed)
            staged = _swept_payment(processing, _at(0))
            uow.payments.add(staged)

            assert _due_payments(uow, limit=2) == [staged.id, third.id]
            assert _due_payments(other, limit=2) == [first.id, second.id]
            uow.commit()

        with storage.unit_of_work() as uow:
            assert _due_payments(uow, limit=10) == [staged.id, third.id]
            claimed_later = uow.payments.list_due_for_reconciliation(
                [processing], updated_before=CUTOFF, due_by=_at(120), limit=10
            )
            assert _ids(claimed_later) == [staged.id, first.id, second.id, third.id]
            assert claimed_later[1].reconcile_attempts == 1

    def test_refunds_due_for_reconciliation(self, storage: Storage) -> None:
        """Processing refunds only, changed before the cut-off, due by now; least recent first."""
        payment = _payment(status=PaymentStatus.COMPLETED, amount="1000.00")
        processing = RefundStatus.PROCESSING
        old = _swept_refund(payment, processing, _at(10))
        oldest = _swept_refund(payment, processing, _at(5), next_reconcile_at=CUTOFF)
        scheduled = _swept_refund(payment, processing, _at(20), next_reconcile_at=_at(30))
        at_cutoff = _swept_refund(payment, processing, CUTOFF)
        backing_off = _swept_refund(payment, processing, _at(1), next_reconcile_at=_at(61))
        others = [
            _swept_refund(payment, status, _at(0))
            for status in RefundStatus
            if status is not processing
        ]
        _save(storage, payment, scheduled, *others, at_cutoff, old)
        _save(storage, backing_off, oldest)

        with storage.unit_of_work() as uow:
            assert _due_refunds(uow) == [oldest.id, old.id, scheduled.id]
            assert _due_refunds(uow, limit=2) == [oldest.id, old.id]
            assert _due_refunds(uow, due_by=_at(29)) == [old.id]
            assert _due_refunds(uow, due_by=_at(61)) == [
                backing_off.id,
                oldest.id,
                old.id,
                scheduled.id,
            ]

            claimed = uow.refunds.get(oldest.id)
            claimed.next_reconcile_at = _at(120)
            uow.refunds.update(claimed)
            assert _due_refunds(uow, limit=2) == [old.id, scheduled.id]
