"""The audit log: entries come back as written, in the order written, and never change.

The transaction log repository can only append. Its entries come back equal in every
field, in write order (not by timestamp or id), after the commit only, and with ``data``
that cannot be changed through the appended or a listed entry.
"""

# The suite's checks are pytest asserts and the literals are the expected values; the
# per-file ignores that tests/ gets in pyproject.toml do not reach this shipped module.
# ruff: noqa: S101, PLR2004

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from paykit.domain.transaction_log import LogType, TransactionLogEntry
from paykit.money import Money
from paykit.storage.base import Storage
from paykit.testing.repository_contract._records import (
    T0,
    _entry,
    _new_id,
    _payment,
    _save,
)


class AuditLogContract:
    """The transaction log is append-only and keeps its entries and their order."""

    def test_log_entry_round_trips(self, storage: Storage) -> None:
        """A committed log entry comes back equal in every field."""
        payment = _payment()
        entry = TransactionLogEntry(
            id=_new_id("log"),
            payment_id=payment.id,
            log_type=LogType.REFUND_PROCESSED,
            message="refund of 5.00 USD completed",
            created_at=T0,
            refund_id=_new_id("re"),
            amount=Money.of("5.00", "USD"),
            previous_status="processing",
            new_status="completed",
            data={"gateway": {"request_id": "req_9", "codes": [1, 2]}},
        )
        _save(storage, payment, entry)

        with storage.unit_of_work() as uow:
            got = uow.transaction_log.list_for_payment(payment.id)
        assert list(got) == [entry]
        assert got[0].created_at.utcoffset() == timedelta(0)

    def test_the_log_is_append_only(self, storage: Storage) -> None:
        """The log repository offers no way to change or delete an entry."""
        with storage.unit_of_work() as uow:
            log = uow.transaction_log
            for name in ("update", "remove", "delete", "clear", "truncate", "replace"):
                assert not hasattr(log, name), f"the transaction log must not offer {name}()"
            assert callable(log.append)

    def test_log_entries_come_back_in_the_order_written(self, storage: Storage) -> None:
        """Entries of a payment are listed in the order written, across commits and timestamps."""
        payment = _payment()
        other = _payment()
        # Same timestamp, ids in reverse alphabetical order: only the write order is left.
        entries = [
            _entry(payment.id, message=f"step {n}", entry_id=f"log_{9 - n}_{uuid.uuid4().hex}")
            for n in range(6)
        ]
        _save(storage, payment, other, entries[0], entries[1], _entry(other.id), entries[2])
        _save(storage, entries[3])
        _save(storage, entries[4], _entry(other.id), entries[5])
        with storage.unit_of_work() as uow:
            assert list(uow.transaction_log.list_for_payment(payment.id)) == entries
            assert len(uow.transaction_log.list_for_payment(other.id)) == 2
            assert list(uow.transaction_log.list_for_payment("pay_unknown")) == []

    def test_log_entries_appear_only_after_commit(self, storage: Storage) -> None:
        """Staged entries are invisible to other units of work and lost on rollback."""
        payment = _payment()
        _save(storage, payment)
        rolled_back = _entry(payment.id, message="rolled back")
        committed = _entry(payment.id, message="committed")
        with storage.unit_of_work() as writer, storage.unit_of_work() as reader:
            writer.transaction_log.append(rolled_back)
            writer.rollback()
            writer.transaction_log.append(committed)
            assert list(reader.transaction_log.list_for_payment(payment.id)) == []
            writer.commit()

        with storage.unit_of_work() as uow:
            assert list(uow.transaction_log.list_for_payment(payment.id)) == [committed]

    def test_log_entries_cannot_be_changed_through_a_reference(self, storage: Storage) -> None:
        """The ``data`` of an appended or listed entry is read-only: the log stays as written."""
        payment = _payment()
        entry = _entry(payment.id)
        _save(storage, payment, entry)
        with pytest.raises(TypeError):
            entry.data["gateway"]["request_id"] = "forged"
        with storage.unit_of_work() as uow:
            listed = uow.transaction_log.list_for_payment(payment.id)
            with pytest.raises(TypeError):
                listed[0].data["forged"] = True  # type: ignore[index]

        with storage.unit_of_work() as uow:
            [stored] = uow.transaction_log.list_for_payment(payment.id)
        assert stored.data == {"gateway": {"request_id": "req_1"}}
