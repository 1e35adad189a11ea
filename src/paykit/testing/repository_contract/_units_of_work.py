"""Units of work: a unit sees its own staged writes, nobody else does, and only a commit writes.

Leaving the ``with`` block without a commit, leaving it by an exception, and ``rollback``
all discard what was staged; gets, finds and listings inside a unit include its own
uncommitted writes, and no other unit sees them until the commit.
"""

# The suite's checks are pytest asserts; the per-file ignores that tests/ gets in
# pyproject.toml do not reach this shipped module.
# ruff: noqa: S101

from __future__ import annotations

import pytest

from paykit.domain.payment import PaymentStatus
from paykit.storage.base import Storage
from paykit.testing.repository_contract._records import (
    CUSTOMER,
    _assert_missing,
    _at,
    _entry,
    _id_of,
    _ids,
    _method,
    _payment,
    _refund,
    _save,
    _stage,
)


class UnitOfWorkContract:
    """Staged writes are the unit's own until its commit, and gone without one."""

    def test_leaving_without_commit_writes_nothing(self, storage: Storage) -> None:
        """Leaving the ``with`` block without a commit discards every staged write."""
        method = _method()
        payment = _payment()
        refund = _refund(payment)
        with storage.unit_of_work() as uow:
            _stage(uow, method, payment, refund, _entry(payment.id))

        with storage.unit_of_work() as uow:
            _assert_missing(uow, method, payment, refund)
            assert list(uow.transaction_log.list_for_payment(payment.id)) == []
            assert list(uow.payments.list(customer_id=CUSTOMER)) == []

    def test_an_exception_in_the_block_writes_nothing(self, storage: Storage) -> None:
        """An exception that leaves the ``with`` block rolls the unit of work back."""
        payment = _payment()

        def fail_midway() -> None:
            with storage.unit_of_work() as uow:
                uow.payments.add(payment)
                msg = "boom"
                raise RuntimeError(msg)

        with pytest.raises(RuntimeError, match="boom"):
            fail_midway()
        with storage.unit_of_work() as uow:
            _assert_missing(uow, payment)

    def test_rollback_discards_staged_writes(self, storage: Storage) -> None:
        """After ``rollback`` the staged records are gone, even if the unit then commits."""
        kept = _payment()
        _save(storage, kept)
        dropped = _payment()
        with storage.unit_of_work() as uow:
            uow.payments.add(dropped)
            uow.transaction_log.append(_entry(dropped.id))
            loaded = uow.payments.get(kept.id)
            loaded.transition_to(PaymentStatus.CANCELLED, _at(1))
            uow.payments.update(loaded)
            uow.rollback()
            _assert_missing(uow, dropped)
            uow.commit()

        with storage.unit_of_work() as uow:
            _assert_missing(uow, dropped)
            assert uow.payments.get(kept.id).status is PaymentStatus.PENDING
            assert list(uow.transaction_log.list_for_payment(dropped.id)) == []

    def test_a_unit_of_work_reads_its_own_staged_writes(self, storage: Storage) -> None:
        """Inside one unit of work, gets, finds and listings include its uncommitted writes."""
        stored = _payment(created_at=_at(0))
        _save(storage, stored)
        with storage.unit_of_work() as uow:
            method = _method()
            payment = _payment(idempotency_key="own-key", created_at=_at(1))
            refund = _refund(stored, idempotency_key="own-refund-key")
            entry = _entry(stored.id)
            _stage(uow, method, payment, refund, entry)
            changed = uow.payments.get(stored.id)
            changed.transition_to(PaymentStatus.PROCESSING, _at(2))
            uow.payments.update(changed)

            assert uow.payment_methods.get(method.id) == method
            assert uow.payments.get(payment.id) == payment
            assert uow.refunds.get(refund.id) == refund
            assert uow.payments.get(stored.id).status is PaymentStatus.PROCESSING
            assert _ids(uow.payment_methods.list_for_customer(CUSTOMER)) == [method.id]
            assert _ids(uow.payments.list(customer_id=CUSTOMER)) == [stored.id, payment.id]
            assert _ids(uow.payments.list(status=PaymentStatus.PROCESSING)) == [stored.id]
            assert _ids(uow.refunds.list_for_payment(stored.id)) == [refund.id]
            found = uow.payments.find_by_idempotency_key(CUSTOMER, "own-key")
            assert _id_of(found) == payment.id
            found_refund = uow.refunds.find_by_idempotency_key(stored.id, "own-refund-key")
            assert _id_of(found_refund) == refund.id
            assert list(uow.transaction_log.list_for_payment(stored.id)) == [entry]

    def test_uncommitted_writes_are_invisible_to_other_units_of_work(
        self, storage: Storage
    ) -> None:
        """Another unit of work sees none of the staged writes until they are committed."""
        stored = _payment(created_at=_at(0))
        _save(storage, stored)
        with storage.unit_of_work() as writer, storage.unit_of_work() as reader:
            method = _method()
            payment = _payment(idempotency_key="hidden-key", created_at=_at(1))
            refund = _refund(stored, idempotency_key="hidden-refund-key")
            _stage(writer, method, payment, refund, _entry(stored.id))
            changed = writer.payments.get(stored.id)
            changed.transition_to(PaymentStatus.PROCESSING, _at(2))
            writer.payments.update(changed)

            _assert_missing(reader, method, payment, refund)
            assert reader.payments.get(stored.id).status is PaymentStatus.PENDING
            assert list(reader.payment_methods.list_for_customer(CUSTOMER)) == []
            assert _ids(reader.payments.list(customer_id=CUSTOMER)) == [stored.id]
            assert list(reader.payments.list(status=PaymentStatus.PROCESSING)) == []
            assert list(reader.refunds.list_for_payment(stored.id)) == []
            assert reader.payments.find_by_idempotency_key(CUSTOMER, "hidden-key") is None
            assert reader.refunds.find_by_idempotency_key(stored.id, "hidden-refund-key") is None
            assert list(reader.transaction_log.list_for_payment(stored.id)) == []
            writer.commit()

        with storage.unit_of_work() as uow:
            assert uow.payments.get(stored.id).status is PaymentStatus.PROCESSING
            assert uow.payments.get(payment.id) == payment
            assert len(uow.transaction_log.list_for_payment(stored.id)) == 1
