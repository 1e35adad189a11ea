"""The in-memory reference storage: a real implementation of the contract, for tests and demos.

Records are copied on the way in and out, so a caller holding a record cannot change what
is stored without a commit. Commits take one lock, check versions and unique keys, then
apply everything; nothing is half-applied. Data lives as long as the object.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Generic, Self, TypeVar

import attrs

from paykit.domain.payment import Payment, PaymentStatus
from paykit.domain.payment_method import PaymentMethod
from paykit.domain.refund import Refund
from paykit.domain.transaction_log import TransactionLogEntry
from paykit.errors import ConcurrencyConflict, NotFound

__all__ = ["InMemoryStorage", "InMemoryUnitOfWork"]


R = TypeVar("R", PaymentMethod, Payment, Refund)


def _clone(record: R) -> R:
    """A copy that shares nothing mutable with ``record``."""
    return attrs.evolve(record, metadata=dict(record.metadata))


class _Table(Generic[R]):
    """The staged writes of one kind of record inside a unit of work."""

    def __init__(self, kind: str, stored: dict[str, R]) -> None:
        self.kind = kind
        self.stored = stored
        self.added: dict[str, R] = {}
        self.changed: dict[str, R] = {}
        self.removed: dict[str, R] = {}

    def get(self, record_id: str) -> R:
        staged = self.added.get(record_id) or self.changed.get(record_id)
        if staged is not None:
            return staged
        record = self.stored.get(record_id)
        if record is None or record_id in self.removed:
            raise NotFound(self.kind, record_id)
        return _clone(record)

    def add(self, record: R) -> None:
        self.added[record.id] = record

    def update(self, record: R) -> None:
        if record.id not in self.added:
            self.changed[record.id] = record

    def remove(self, record: R) -> None:
        self.added.pop(record.id, None)
        self.changed.pop(record.id, None)
        self.removed[record.id] = record

    def current(self) -> Iterable[R]:
        """Every record as this unit of work sees it (stored, overlaid with staged writes)."""
        for record_id, record in self.stored.items():
            if record_id in self.removed:
                continue
            yield self.changed.get(record_id) or record
        yield from self.added.values()

    def select(self, keep: Callable[[R], bool]) -> list[R]:
        chosen = [record for record in self.current() if keep(record)]
        chosen.sort(key=lambda record: record.created_at)
        return [record if self._is_staged(record) else _clone(record) for record in chosen]

    def _is_staged(self, record: R) -> bool:
        return record.id in self.added or record.id in self.changed

    def check(self) -> None:
        """Raise ``ConcurrencyConflict`` if a staged write lost a race. Call under the lock."""
        for record_id in self.added:
            if record_id in self.stored:
                msg = f"a {self.kind} with id {record_id!r} already exists"
                raise ConcurrencyConflict(msg)
        for record_id, record in (*self.changed.items(), *self.removed.items()):
            stored = self.stored.get(record_id)
            if stored is None or stored.version != record.version:
                msg = f"{self.kind} {record_id} was changed by another unit of work; retry"
                raise ConcurrencyConflict(msg)

    def apply(self) -> None:
        """Write the staged changes. Call under the lock, after :meth:`check`."""
        for record in (*self.added.values(), *self.changed.values()):
            record.version += 1
            self.stored[record.id] = _clone(record)
        for record_id in self.removed:
            del self.stored[record_id]

    def clear(self) -> None:
        self.added.clear()
        self.changed.clear()
        self.removed.clear()


class _PaymentMethods:
    def __init__(self, table: _Table[PaymentMethod]) -> None:
        self._table = table
        self.get = table.get
        self.add = table.add
        self.update = table.update
        self.remove = table.remove

    def list_for_customer(self, customer_id: str) -> Sequence[PaymentMethod]:
        return self._table.select(lambda m: m.customer_id == customer_id)


class _Payments:
    def __init__(self, table: _Table[Payment]) -> None:
        self._table = table
        self.get = table.get
        self.add = table.add
        self.update = table.update

    def find_by_idempotency_key(self, customer_id: str, key: str) -> Payment | None:
        found = self._table.select(
            lambda p: p.idempotency_key == key and p.customer_id == customer_id
        )
        return found[0] if found else None

    def list(
        self,
        *,
        customer_id: str | None = None,
        order_id: str | None = None,
        status: PaymentStatus | None = None,
    ) -> Sequence[Payment]:
        return self._table.select(
            lambda p: (
                (customer_id is None or p.customer_id == customer_id)
                and (order_id is None or p.order_id == order_id)
                and (status is None or p.status == status)
            )
        )


class _Refunds:
    def __init__(self, table: _Table[Refund]) -> None:
        self._table = table
        self.get = table.get
        self.add = table.add
        self.update = table.update

    def find_by_idempotency_key(self, payment_id: str, key: str) -> Refund | None:
        found = self._table.select(
            lambda r: r.idempotency_key == key and r.payment_id == payment_id
        )
        return found[0] if found else None

    def list_for_payment(self, payment_id: str) -> Sequence[Refund]:
        return self._table.select(lambda r: r.payment_id == payment_id)


class _TransactionLog:
    def __init__(self, stored: dict[str, list[TransactionLogEntry]]) -> None:
        self._stored = stored
        self.staged: list[TransactionLogEntry] = []

    def append(self, entry: TransactionLogEntry) -> None:
        self.staged.append(entry)

    def list_for_payment(self, payment_id: str) -> Sequence[TransactionLogEntry]:
        written = list(self._stored.get(payment_id, ()))
        return written + [entry for entry in self.staged if entry.payment_id == payment_id]


class InMemoryUnitOfWork:
    """A unit of work over :class:`InMemoryStorage` (see ``paykit.storage.base``)."""

    def __init__(self, storage: InMemoryStorage) -> None:
        self._storage = storage
        self._methods = _Table("payment method", storage.methods)
        self._payments = _Table("payment", storage.payments)
        self._refunds = _Table("refund", storage.refunds)
        self.payment_methods = _PaymentMethods(self._methods)
        self.payments = _Payments(self._payments)
        self.refunds = _Refunds(self._refunds)
        self.transaction_log = _TransactionLog(storage.log)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    def commit(self) -> None:
        storage = self._storage
        with storage.lock:
            try:
                for table in (self._methods, self._payments, self._refunds):
                    table.check()
                self._check_unique_keys()
            except ConcurrencyConflict:
                self.rollback()
                raise
            for table in (self._methods, self._payments, self._refunds):
                table.apply()
            for entry in self.transaction_log.staged:
                storage.log.setdefault(entry.payment_id, []).append(entry)
            storage.commits += 1
        self.rollback()  # everything is written: forget the staging area

    def rollback(self) -> None:
        for table in (self._methods, self._payments, self._refunds):
            table.clear()
        self.transaction_log.staged.clear()

    def _check_unique_keys(self) -> None:
        """Idempotency keys and default methods are unique, as SQL unique indexes make them."""
        storage = self._storage
        for payment in self._payments.added.values():
            if payment.idempotency_key is not None:
                key = (payment.customer_id, payment.idempotency_key)
                if key in storage.payment_keys:
                    msg = f"idempotency key {payment.idempotency_key!r} is already taken"
                    raise ConcurrencyConflict(msg)
        for refund in self._refunds.added.values():
            if refund.idempotency_key is not None:
                key = (refund.payment_id, refund.idempotency_key)
                if key in storage.refund_keys:
                    msg = f"idempotency key {refund.idempotency_key!r} is already taken"
                    raise ConcurrencyConflict(msg)
        staged_methods = {**self._methods.added, **self._methods.changed}
        for customer_id in {m.customer_id for m in staged_methods.values() if m.is_default}:
            defaults = [
                m for m in self._methods.current() if m.customer_id == customer_id and m.is_default
            ]
            if len(defaults) > 1:
                msg = f"customer {customer_id!r} would have more than one default payment method"
                raise ConcurrencyConflict(msg)
        # Record the keys now: apply() follows under the same lock.
        for payment in self._payments.added.values():
            if payment.idempotency_key is not None:
                storage.payment_keys.add((payment.customer_id, payment.idempotency_key))
        for refund in self._refunds.added.values():
            if refund.idempotency_key is not None:
                storage.refund_keys.add((refund.payment_id, refund.idempotency_key))


class InMemoryStorage:
    """Thread-safe in-memory storage; the reference implementation of the storage contract."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.methods: dict[str, PaymentMethod] = {}
        self.payments: dict[str, Payment] = {}
        self.refunds: dict[str, Refund] = {}
        self.log: dict[str, list[TransactionLogEntry]] = {}
        self.payment_keys: set[tuple[str, str]] = set()
        self.refund_keys: set[tuple[str, str]] = set()
        self.commits = 0
        """How many units of work have committed (handy in tests and benchmarks)."""

    def unit_of_work(self) -> InMemoryUnitOfWork:
        """Begin a unit of work."""
        return InMemoryUnitOfWork(self)
