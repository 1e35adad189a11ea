"""Stale reads: a unit of work knows when a record it read has changed since (``has_stale_reads``).

A record counts as read when ``get``, a find or a listing returned it. The unit's reads are
stale once another unit commits a change to, or the removal of, any of them; changes to
records it never read, and its own writes, do not count; its own commit or a rollback
forgets what it read.
"""

# The suite's checks are pytest asserts; the per-file ignores that tests/ gets in
# pyproject.toml do not reach this shipped module.
# ruff: noqa: S101

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack

from paykit.domain.payment import PaymentStatus
from paykit.domain.refund import RefundStatus
from paykit.domain.webhook_inbox import InboxStatus
from paykit.money import Money
from paykit.storage.base import Storage, UnitOfWork
from paykit.testing.repository_contract._records import (
    CUSTOMER,
    _at,
    _inbox_entry,
    _method,
    _payment,
    _refund,
    _save,
)


def _describe(uow: UnitOfWork, payment_id: str, description: str) -> None:
    """Read the payment in ``uow`` and stage a new ``description`` for it."""
    payment = uow.payments.get(payment_id)
    payment.description = description
    uow.payments.update(payment)


class StaleReadContract:
    """``has_stale_reads`` says whether another unit changed or removed what this unit read."""

    def test_reads_nobody_else_changed_are_not_stale(self, storage: Storage) -> None:
        """Reads are current while other units change only other records; own writes don't count."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        other = _payment(customer_id="cus_other")
        _save(storage, payment, _refund(payment), other)
        with storage.unit_of_work() as uow, storage.unit_of_work() as elsewhere:
            mine = uow.payments.get(payment.id)
            uow.refunds.list_for_payment(payment.id)
            mine.reserve_refund(Money.of("10.00", "USD"))
            uow.payments.update(mine)
            _describe(elsewhere, other.id, "a record the first unit never read")
            elsewhere.commit()

            assert not uow.has_stale_reads()

    def test_a_record_changed_after_it_was_read_makes_the_reads_stale(
        self, storage: Storage
    ) -> None:
        """A refund read before another unit's commit changed it: the unit's pair is stale."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        refund = _refund(payment)
        _save(storage, payment, refund)
        with storage.unit_of_work() as uow, storage.unit_of_work() as elsewhere:
            uow.refunds.get(refund.id)
            moved = elsewhere.refunds.get(refund.id)
            moved.transition_to(RefundStatus.PROCESSING, _at(1))
            elsewhere.refunds.update(moved)
            elsewhere.commit()
            uow.payments.get(payment.id)  # read after that commit: current on its own

            assert uow.has_stale_reads()

    def test_listed_found_and_removed_records_count_as_read(self, storage: Storage) -> None:
        """Records from listings and finds are reads too, and a removed one is stale."""
        payment = _payment(status=PaymentStatus.COMPLETED, idempotency_key="stale-key")
        method = _method()
        entry = _inbox_entry(event_id="evt_stale")
        _save(storage, payment, method, entry)
        reads: list[Callable[[UnitOfWork], object]] = [
            lambda uow: uow.payments.find_by_idempotency_key(CUSTOMER, "stale-key"),
            lambda uow: uow.payment_methods.list_for_customer(CUSTOMER),
            lambda uow: uow.webhook_inbox.find(entry.provider, "evt_stale"),
        ]
        with ExitStack() as open_units:
            readers = [open_units.enter_context(storage.unit_of_work()) for _ in reads]
            for uow, read in zip(readers, reads, strict=True):
                read(uow)
            assert not any(uow.has_stale_reads() for uow in readers)
            with storage.unit_of_work() as elsewhere:
                _describe(elsewhere, payment.id, "changed")
                elsewhere.payment_methods.remove(elsewhere.payment_methods.get(method.id))
                applied = elsewhere.webhook_inbox.find(entry.provider, "evt_stale")
                assert applied is not None
                applied.status = InboxStatus.APPLIED
                elsewhere.webhook_inbox.update(applied)
                elsewhere.commit()

            assert [uow.has_stale_reads() for uow in readers] == [True] * len(reads)

    def test_commit_and_rollback_forget_what_was_read(self, storage: Storage) -> None:
        """After its own commit, or a rollback, a unit's earlier reads no longer count."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        _save(storage, payment)
        with storage.unit_of_work() as uow:
            _describe(uow, payment.id, "committed by this unit")
            uow.commit()

            assert not uow.has_stale_reads()
        with storage.unit_of_work() as uow, storage.unit_of_work() as elsewhere:
            uow.payments.get(payment.id)
            _describe(elsewhere, payment.id, "committed by another unit")
            elsewhere.commit()
            uow.rollback()

            assert not uow.has_stale_reads()
