"""The in-memory reference storage: a real implementation of the contract, for tests and demos.

Records are copied on the way in and out, so a caller holding a record cannot change what
is stored without a commit. Commits take one lock, check versions and unique keys, then
apply everything; nothing is half-applied. Data lives as long as the object.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from operator import attrgetter
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar, overload

import attrs

from paykit.domain.automation import ActionStatus, AutomationAction
from paykit.domain.dispute import Dispute
from paykit.domain.idempotent_request import IdempotentRequest
from paykit.domain.outbox import OutboxMessage, OutboxStatus
from paykit.domain.payment import Payment, PaymentStatus
from paykit.domain.payment_method import PaymentMethod
from paykit.domain.refund import Refund, RefundStatus
from paykit.domain.risk import ReviewState, RiskAssessment, RiskListEntry, VelocityCount
from paykit.domain.transaction_log import TransactionLogEntry
from paykit.domain.webhook_inbox import InboxEntry, InboxStatus
from paykit.errors import ConcurrencyConflict, NotFound
from paykit.storage._staging import StagedWrites, StoredRecord
from paykit.storage.base import Storage, events_wait

__all__ = ["InMemoryStorage", "InMemoryUnitOfWork"]


R = TypeVar("R", bound=StoredRecord)


_SCALARS = (str, int, float, bool, type(None))


def _copy_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """A copy sharing no container with ``metadata``; flat metadata stays a cheap dict copy."""
    if not metadata:
        return {}
    if all(isinstance(value, _SCALARS) for value in metadata.values()):
        return dict(metadata)
    return copy.deepcopy(metadata)


def _clone(record: R) -> R:
    """A copy of ``record`` that shares no mutable container with it.

    Every stored record is copied on the way in and out, so a caller holding one cannot
    change the store without a commit. ``metadata``, where a record has it, is its one
    mutable field (an inbox entry's ``payload`` is frozen, so it is shared).
    """
    clone = copy.copy(record)
    metadata = getattr(record, "metadata", None)
    if metadata:
        clone.metadata = _copy_metadata(metadata)  # type: ignore[union-attr]  # has metadata
    return clone


class _Table(StagedWrites[R]):
    """One kind of record as a unit of work sees it: the stored ones plus staged writes.

    Subclasses call ``_Table.__init__`` and ``_Table.apply`` by name: on Python 3.11 every
    ``super()`` builds an object, and units of work build and apply two or three tables
    per operation.
    """

    kind: str
    sort_key: Callable[[R], Any] = staticmethod(attrgetter("created_at"))
    """What "oldest first" means for this kind of record."""
    taken: dict[tuple[str, str], str] | None = None
    """The storage's unique keys of this kind of record (``None``: it has none)."""
    taken_message = ""
    """What a conflict on one of those keys says."""
    uow: InMemoryUnitOfWork
    """The unit of work this table belongs to (for reads that span two tables)."""

    def __init__(
        self, stored: dict[str, R], clone: Callable[[R], R], lock: threading.RLock
    ) -> None:
        # StagedWrites' three dicts, set here rather than through super().__init__(): units
        # of work build two or three tables per operation.
        self.added: dict[str, R] = {}
        self.changed: dict[str, R] = {}
        self.removed: dict[str, R] = {}
        self.stored = stored
        self.lock = lock
        self.clone = clone
        self.read_versions: dict[str, int] = {}
        """The version of each stored record this unit has read, as first read."""

    def get(self, record_id: str) -> R:
        """The record, from this unit's staged writes or a copy of the stored one."""
        staged = self.added.get(record_id) or self.changed.get(record_id)
        if staged is not None:
            return staged
        record = self.stored.get(record_id)
        if record is None or record_id in self.removed:
            raise NotFound(self.kind, record_id)
        return self._read(record)

    def _read(self, record: R) -> R:
        """A copy of a stored record, its version noted for :meth:`has_stale_reads`."""
        if record.id not in self.read_versions:
            self.read_versions[record.id] = record.version
        return self.clone(record)

    def has_stale_reads(self) -> bool:
        """Whether a record read here has since been changed or removed. Call under the lock."""
        stored = self.stored
        for record_id, version in self.read_versions.items():
            current = stored.get(record_id)
            if current is None or current.version != version:
                return True
        return False

    def current(self) -> Iterable[R]:
        """Every record as this unit of work sees it (stored, overlaid with staged writes)."""
        with self.lock:  # a commit in another thread may be resizing the dict
            snapshot = list(self.stored.items())
        for record_id, record in snapshot:
            if record_id in self.removed:
                continue
            yield self.changed.get(record_id) or record
        yield from self.added.values()

    def select(self, keep: Callable[[R], bool]) -> list[R]:
        """Copies of the records ``keep`` accepts, oldest first."""
        chosen = [record for record in self.current() if keep(record)]
        chosen.sort(key=self.sort_key)
        return self.hand_out(chosen)

    def hand_out(self, chosen: Iterable[R]) -> list[R]:
        """``chosen`` as a caller gets them: staged records as they are, stored ones copied."""
        return [record if self._is_staged(record) else self._read(record) for record in chosen]

    def _is_staged(self, record: R) -> bool:
        return record.id in self.added or record.id in self.changed

    def check(self) -> None:
        """Raise ``ConcurrencyConflict`` if a staged write lost a race. Call under the lock."""
        stored = self.stored
        for record_id in self.added:
            if record_id in stored:
                msg = f"a {self.kind} with id {record_id!r} already exists"
                raise ConcurrencyConflict(msg)
        for writes in (self.changed, self.removed):
            if not writes:
                continue  # no view and iterator for an empty dict
            for record_id, record in writes.items():
                current = stored.get(record_id)
                if current is None or current.version != record.version:
                    msg = f"{self.kind} {record_id} was changed by another unit of work; retry"
                    raise ConcurrencyConflict(msg)

    def unique_keys(self) -> dict[tuple[str, str], str]:
        """The unique keys the staged additions take (see ``_new_keys``)."""
        return {}

    def apply(self) -> None:
        """Write the staged changes. Call under the lock, after :meth:`check`."""
        stored, clone = self.stored, self.clone
        for records in (self.added, self.changed):
            if not records:
                continue
            for record in records.values():
                record.version += 1
                stored[record.id] = clone(record)
        if self.removed:
            for record_id in self.removed:
                del stored[record_id]


class _ByPayment:
    """The ids of one kind of stored record (refunds, disputes, inbox entries) by payment.

    ``list_for_payment`` reads a payment's own records through it instead of every record
    of the kind: over a long run (a test suite, the fault-injection run) the scan made each
    refund or webhook cost more than the one before. Kept by the table's ``apply`` under the
    storage's lock, with each record's position in the stored dict, so a listing orders
    ties exactly as a scan of the dict would.
    """

    def __init__(self) -> None:
        self.ids: dict[str, set[str]] = {}
        self.positions: dict[str, int] = {}
        self._next_position = 0

    def update(self, table: _Table[Any]) -> None:
        """Note the table's staged writes. Call under the lock, before ``_Table.apply``."""
        stored = table.stored
        for record in table.added.values():
            self.positions[record.id] = self._next_position
            self._next_position += 1
            self._file(record.id, None, record.payment_id)
        for record in table.changed.values():
            self._file(record.id, stored[record.id].payment_id, record.payment_id)
        for record_id in table.removed:
            self._file(record_id, stored[record_id].payment_id, None)
            del self.positions[record_id]

    def _file(self, record_id: str, before: str | None, after: str | None) -> None:
        if before == after:
            return
        if before is not None:
            self.ids[before].discard(record_id)
        if after is not None:
            self.ids.setdefault(after, set()).add(record_id)

    def select(self, table: _Table[Any], payment_id: str) -> list[Any]:
        """What ``table.select`` gives for the records of ``payment_id``, in the same order."""
        with table.lock:
            filed = self.ids.get(payment_id, set())
            chosen = [(table.stored[record_id], self.positions[record_id]) for record_id in filed]
            chosen += [  # moved to this payment by this unit (an inbox entry matched)
                (record, self.positions[record.id])
                for record in table.changed.values()
                if record.id not in filed and record.id in self.positions  # not removed since
            ]
        chosen = [
            (table.changed.get(record.id, record), position)
            for record, position in chosen
            if record.id not in table.removed
        ]
        chosen += [  # staged additions come last, as in a scan
            (record, self._next_position + number)
            for number, record in enumerate(table.added.values())
        ]
        kept = [
            (record, position) for record, position in chosen if record.payment_id == payment_id
        ]
        kept.sort(key=lambda item: (table.sort_key(item[0]), item[1]))
        return table.hand_out(record for record, _ in kept)


class _PaymentMethods(_Table[PaymentMethod]):
    kind = "payment method"

    def __init__(self, storage: InMemoryStorage) -> None:
        _Table.__init__(self, storage.methods, _clone, storage.lock)

    def list_for_customer(self, customer_id: str) -> Sequence[PaymentMethod]:
        return self.select(lambda m: m.customer_id == customer_id)


class _Payments(_Table[Payment]):
    kind = "payment"
    taken: dict[tuple[str, str], str]
    taken_message = "an idempotency key in this unit of work was taken by another one; retry"

    def __init__(self, storage: InMemoryStorage) -> None:
        _Table.__init__(self, storage.payments, _clone, storage.lock)
        self.taken = storage.payment_keys
        self._provider_ids = storage.payment_provider_ids

    def unique_keys(self) -> dict[tuple[str, str], str]:
        return _new_keys(((p.customer_id, p.idempotency_key), p.id) for p in self.added.values())

    def get_with_method(self, payment_id: str) -> tuple[Payment, PaymentMethod]:
        payment = self.get(payment_id)
        return payment, self.uow.payment_methods.get(payment.payment_method_id)

    def get_noting_waiting_events(
        self, payment_id: str, provider_payment_id: str | None
    ) -> tuple[Payment, bool]:
        payment = self.get(payment_id)
        inbox = self.uow.webhook_inbox
        return payment, events_wait(
            inbox, payment.provider, provider_payment_id=provider_payment_id
        )

    def find_by_idempotency_key(self, customer_id: str, key: str) -> Payment | None:
        for payment in self.added.values():
            if payment.idempotency_key == key and payment.customer_id == customer_id:
                return payment
        with self.lock:  # keys are recorded just before apply(), under this lock
            payment_id = self.taken.get((customer_id, key))
            return None if payment_id is None else self.get(payment_id)

    def list(
        self,
        *,
        customer_id: str | None = None,
        order_id: str | None = None,
        status: PaymentStatus | None = None,
    ) -> Sequence[Payment]:
        return self.select(
            lambda p: (
                (customer_id is None or p.customer_id == customer_id)
                and (order_id is None or p.order_id == order_id)
                and (status is None or p.status == status)
            )
        )

    def find_by_provider_id(self, provider: str, provider_payment_id: str) -> Payment | None:
        for payment in (*self.added.values(), *self.changed.values()):
            if payment.provider == provider and payment.provider_payment_id == provider_payment_id:
                return payment
        with self.lock:
            payment_id = self._provider_ids.get((provider, provider_payment_id))
            if payment_id is None or payment_id in self.removed:
                return None
            found = self.get(payment_id)
        return found if found.provider == provider else None

    def list_due_for_reconciliation(
        self,
        statuses: Sequence[PaymentStatus],
        *,
        updated_before: datetime,
        due_by: datetime,
        limit: int,
    ) -> Sequence[Payment]:
        wanted = frozenset(statuses)
        return _due(
            self.select(
                lambda p: (
                    p.status in wanted
                    and p.updated_at < updated_before
                    and (p.next_reconcile_at is None or p.next_reconcile_at <= due_by)
                )
            ),
            limit,
        )

    def apply(self) -> None:
        """Write the staged changes and index the provider ids they carry."""
        _Table.apply(self)
        for payment in (*self.added.values(), *self.changed.values()):
            if payment.provider_payment_id is not None:
                self._provider_ids[(payment.provider, payment.provider_payment_id)] = payment.id


class _Refunds(_Table[Refund]):
    kind = "refund"
    taken: dict[tuple[str, str], str]
    taken_message = "an idempotency key in this unit of work was taken by another one; retry"

    def __init__(self, storage: InMemoryStorage) -> None:
        _Table.__init__(self, storage.refunds, _clone, storage.lock)
        self.taken = storage.refund_keys
        self._by_payment = storage.refunds_by_payment
        self._provider_ids = storage.refund_provider_ids
        self._payments = storage.payments

    def unique_keys(self) -> dict[tuple[str, str], str]:
        return _new_keys(((r.payment_id, r.idempotency_key), r.id) for r in self.added.values())

    def get_with_payment(self, refund_id: str) -> tuple[Refund, Payment]:
        refund = self.get(refund_id)
        return refund, self.uow.payments.get(refund.payment_id)

    def get_with_payment_noting_waiting_events(
        self, refund_id: str, provider_refund_id: str | None
    ) -> tuple[Refund, Payment, bool]:
        refund, payment = self.get_with_payment(refund_id)
        inbox = self.uow.webhook_inbox
        waiting = events_wait(inbox, payment.provider, provider_refund_id=provider_refund_id)
        return refund, payment, waiting

    def find_by_idempotency_key(self, payment_id: str, key: str) -> Refund | None:
        for refund in self.added.values():
            if refund.idempotency_key == key and refund.payment_id == payment_id:
                return refund
        with self.lock:  # keys are recorded just before apply(), under this lock
            refund_id = self.taken.get((payment_id, key))
            return None if refund_id is None else self.get(refund_id)

    def list_for_payment(self, payment_id: str) -> Sequence[Refund]:
        return self._by_payment.select(self, payment_id)

    def find_by_provider_id(self, provider: str, provider_refund_id: str) -> Refund | None:
        with self.lock:
            candidates = [
                refund
                for refund in (*self.added.values(), *self.changed.values())
                if refund.provider_refund_id == provider_refund_id
            ]
            candidates.extend(
                self.get(refund_id)
                for refund_id in self._provider_ids.get(provider_refund_id, ())
                if refund_id not in self.changed and refund_id not in self.removed
            )
            for refund in candidates:
                payment = self._payments.get(refund.payment_id)
                if (
                    payment is not None
                    and payment.provider == provider
                    and refund.provider_refund_id == provider_refund_id  # not a stale index
                ):
                    return refund
        return None

    def list_due_for_reconciliation(
        self, *, updated_before: datetime, due_by: datetime, limit: int
    ) -> Sequence[Refund]:
        return _due(
            self.select(
                lambda r: (
                    r.status is RefundStatus.PROCESSING
                    and r.updated_at < updated_before
                    and (r.next_reconcile_at is None or r.next_reconcile_at <= due_by)
                )
            ),
            limit,
        )

    def apply(self) -> None:
        """Write the staged changes and index the provider ids and payments they carry."""
        self._by_payment.update(self)
        _Table.apply(self)
        for refund in (*self.added.values(), *self.changed.values()):
            if refund.provider_refund_id is not None:
                # A set per provider id: providers name refunds independently, so one id
                # may belong to refunds of two providers; the lookup checks the provider.
                self._provider_ids.setdefault(refund.provider_refund_id, set()).add(refund.id)


class _Disputes(_Table[Dispute]):
    kind = "dispute"
    taken: dict[tuple[str, str], str]
    taken_message = "a provider's dispute id in this unit of work was taken by another one"

    def __init__(self, storage: InMemoryStorage) -> None:
        _Table.__init__(self, storage.disputes, _clone, storage.lock)
        self.taken = storage.dispute_keys
        self._by_payment = storage.disputes_by_payment

    def unique_keys(self) -> dict[tuple[str, str], str]:
        return _new_keys(((d.provider, d.provider_dispute_id), d.id) for d in self.added.values())

    def find_by_provider_id(self, provider: str, provider_dispute_id: str) -> Dispute | None:
        for dispute in self.added.values():
            if dispute.provider == provider and dispute.provider_dispute_id == provider_dispute_id:
                return dispute
        with self.lock:
            dispute_id = self.taken.get((provider, provider_dispute_id))
            return None if dispute_id is None else self.get(dispute_id)

    def list_for_payment(self, payment_id: str) -> Sequence[Dispute]:
        return self._by_payment.select(self, payment_id)

    def apply(self) -> None:
        """Write the staged changes and keep the index by payment current."""
        self._by_payment.update(self)
        _Table.apply(self)


class _WebhookInbox(_Table[InboxEntry]):
    kind = "webhook inbox entry"
    taken: dict[tuple[str, str], str]
    taken_message = "a provider's event id in this unit of work was taken by another one"
    sort_key = staticmethod(attrgetter("received_at"))

    def __init__(self, storage: InMemoryStorage) -> None:
        _Table.__init__(self, storage.inbox, _clone, storage.lock)
        self.taken = storage.inbox_keys
        self._by_payment = storage.inbox_by_payment
        self._unmatched = storage.unmatched_inbox

    def unique_keys(self) -> dict[tuple[str, str], str]:
        return _new_keys(((e.provider, e.event_id), e.id) for e in self.added.values())

    def find(self, provider: str, event_id: str) -> InboxEntry | None:
        for entry in self.added.values():
            if entry.provider == provider and entry.event_id == event_id:
                return entry
        with self.lock:
            entry_id = self.taken.get((provider, event_id))
            return None if entry_id is None else self.get(entry_id)

    def list_unmatched(
        self,
        *,
        provider: str | None = None,
        payment_id: str | None = None,
        provider_payment_id: str | None = None,
        provider_refund_id: str | None = None,
        limit: int | None = None,
    ) -> Sequence[InboxEntry]:
        if not self._unmatched and not self.added and not self.changed:
            return []  # the common case: nothing is waiting
        ids = {
            ("payment_id", payment_id),
            ("provider_payment_id", provider_payment_id),
            ("provider_refund_id", provider_refund_id),
        }
        wanted = {(name, value) for name, value in ids if value is not None}

        def keep(entry: InboxEntry) -> bool:
            if entry.status is not InboxStatus.UNMATCHED:
                return False
            if provider is not None and entry.provider != provider:
                return False
            return not wanted or any(getattr(entry, name) == value for name, value in wanted)

        with self.lock:
            unmatched = [self.stored[entry_id] for entry_id in self._unmatched]
        staged = {**self.added, **self.changed}
        chosen = [staged.get(entry.id, entry) for entry in unmatched if entry.id not in staged]
        chosen = [entry for entry in (*chosen, *staged.values()) if keep(entry)]
        chosen.sort(key=lambda entry: entry.received_at)
        chosen = chosen if limit is None else chosen[:limit]
        return self.hand_out(chosen)

    def list_for_payment(self, payment_id: str) -> Sequence[InboxEntry]:
        return self._by_payment.select(self, payment_id)

    def apply(self) -> None:
        """Write the staged changes and keep the indexes (unmatched, by payment) current."""
        self._by_payment.update(self)
        _Table.apply(self)
        for entry in (*self.added.values(), *self.changed.values()):
            if entry.status is InboxStatus.UNMATCHED:
                self._unmatched[entry.id] = None
            else:
                self._unmatched.pop(entry.id, None)


class _IdempotentRequests(_Table[IdempotentRequest]):
    """API requests by idempotency key, unique by ``(owner, key)``.

    The key index is kept here rather than through ``taken``: a unit may remove a record
    and add another for the same key (an expired claim replaced), as the SQL storage's
    delete-then-insert allows, so a key held by a record this unit removes is free.
    """

    kind = "idempotent request"
    sort_key = staticmethod(attrgetter("expires_at"))

    def __init__(self, storage: InMemoryStorage) -> None:
        _Table.__init__(self, storage.idempotent_requests, _clone, storage.lock)
        self._keys = storage.idempotent_request_keys

    def find(self, owner: str, key: str) -> IdempotentRequest | None:
        for request in self.added.values():
            if request.owner == owner and request.key == key:
                return request
        with self.lock:  # keys are recorded in apply(), under this lock
            request_id = self._keys.get((owner, key))
            if request_id is None or request_id in self.removed:
                return None
            return self.get(request_id)

    def list_expired(self, now: datetime, *, limit: int) -> Sequence[IdempotentRequest]:
        if limit <= 0:
            return []
        chosen = [request for request in self.current() if request.expires_at <= now]
        chosen.sort(key=self.sort_key)  # stable: ties stay in the order they were added
        return self.hand_out(chosen[:limit])

    def check(self) -> None:
        """Versions and ids, then the ``(owner, key)`` pairs. Call under the lock."""
        _Table.check(self)
        if not self.added and not self.changed:
            return
        keys, removed = self._keys, self.removed
        claimed: dict[tuple[str, str], str] = {}
        for request in (*self.added.values(), *self.changed.values()):
            pair = (request.owner, request.key)
            if claimed.setdefault(pair, request.id) != request.id:
                msg = f"idempotency key {request.key!r} is used twice in this unit of work"
                raise ConcurrencyConflict(msg)
            holder = keys.get(pair)
            if holder is not None and holder != request.id and holder not in removed:
                msg = "an idempotency key in this unit of work was taken by another one; retry"
                raise ConcurrencyConflict(msg)

    def apply(self) -> None:
        """Write the staged changes and move the key index along. Call after :meth:`check`."""
        keys, stored = self._keys, self.stored
        for record_id in (*self.removed, *self.changed):
            old = stored.get(record_id)
            if old is not None and keys.get((old.owner, old.key)) == record_id:
                del keys[(old.owner, old.key)]
        _Table.apply(self)
        for request in (*self.added.values(), *self.changed.values()):
            keys[(request.owner, request.key)] = request.id


class _AutomationActions(_Table[AutomationAction]):
    """What automated refund policies did, unique by ``(policy, payment_id)``."""

    kind = "automation action"
    taken: dict[tuple[str, str], str]
    taken_message = "another unit of work recorded this policy's action on the payment first"

    def __init__(self, storage: InMemoryStorage) -> None:
        _Table.__init__(self, storage.automation_actions, _clone, storage.lock)
        self.taken = storage.automation_action_keys

    def unique_keys(self) -> dict[tuple[str, str], str]:
        return _new_keys(((a.policy, a.payment_id), a.id) for a in self.added.values())

    def find(self, policy: str, payment_id: str) -> AutomationAction | None:
        for action in self.added.values():
            if action.policy == policy and action.payment_id == payment_id:
                return action
        with self.lock:  # keys are recorded just before apply(), under this lock
            action_id = self.taken.get((policy, payment_id))
            return None if action_id is None else self.get(action_id)

    def list(
        self,
        *,
        policy: str | None = None,
        payment_id: str | None = None,
        statuses: Sequence[ActionStatus] | None = None,
        created_since: datetime | None = None,
        limit: int | None = None,
    ) -> Sequence[AutomationAction]:
        wanted = None if statuses is None else frozenset(statuses)
        chosen = self.select(
            lambda a: (
                (policy is None or a.policy == policy)
                and (payment_id is None or a.payment_id == payment_id)
                and (wanted is None or a.status in wanted)
                and (created_since is None or a.created_at >= created_since)
            )
        )
        return chosen if limit is None else chosen[: max(limit, 0)]


class _RiskAssessments(_Table[RiskAssessment]):
    """Fraud screening records; the id is the payment's, so one per payment by construction."""

    kind = "risk assessment"

    def __init__(self, storage: InMemoryStorage) -> None:
        _Table.__init__(self, storage.risk_assessments, _clone, storage.lock)

    def find(self, payment_id: str) -> RiskAssessment | None:
        try:
            return self.get(payment_id)
        except NotFound:
            return None

    def list_by_review_state(
        self, state: ReviewState, *, limit: int | None = None
    ) -> Sequence[RiskAssessment]:
        chosen = self.select(lambda a: a.review_state is state)
        return chosen if limit is None else chosen[: max(limit, 0)]

    def list_created_between(
        self, start: datetime | None, end: datetime | None
    ) -> Sequence[RiskAssessment]:
        return self.select(
            lambda a: (
                (start is None or a.created_at >= start) and (end is None or a.created_at < end)
            )
        )

    def velocity(
        self,
        values: Mapping[str, str],
        *,
        windows: Sequence[datetime],
        until: datetime,
        currency: str,
        exclude_id: str | None = None,
    ) -> dict[str, list[VelocityCount]]:
        earliest = min(windows, default=until)
        recent = [
            a for a in self.current() if earliest <= a.created_at <= until and a.id != exclude_id
        ]
        answer: dict[str, list[VelocityCount]] = {}
        for key, value in values.items():
            matching = [a for a in recent if getattr(a, key) == value]
            counts = []
            for start in windows:
                inside = [a for a in matching if a.created_at >= start]
                total = sum(
                    (a.amount.amount for a in inside if a.amount.currency == currency), Decimal(0)
                )
                declines = sum(1 for a in inside if a.declined)
                counts.append(VelocityCount(len(inside), declines, total))
            answer[key] = counts
        return answer

    def velocity_and_members(  # noqa: PLR0913 - velocity's arguments, and the lists
        self,
        values: Mapping[str, str],
        *,
        windows: Sequence[datetime],
        until: datetime,
        currency: str,
        exclude_id: str | None = None,
        lists: Mapping[str, Sequence[str]],
    ) -> tuple[dict[str, list[VelocityCount]], dict[str, set[str]]]:
        counts = self.velocity(
            values, windows=windows, until=until, currency=currency, exclude_id=exclude_id
        )
        return counts, self.uow.risk_lists.members(lists)


class _RiskLists(_Table[RiskListEntry]):
    """The host's named lists, unique by ``(list_name, value)``."""

    kind = "risk list entry"
    taken: dict[tuple[str, str], str]
    taken_message = "a list entry in this unit of work was added by another one; retry"

    def __init__(self, storage: InMemoryStorage) -> None:
        _Table.__init__(self, storage.risk_list_entries, _clone, storage.lock)
        self.taken = storage.risk_list_keys

    def unique_keys(self) -> dict[tuple[str, str], str]:
        return _new_keys(((e.list_name, e.value), e.id) for e in self.added.values())

    def find(self, list_name: str, value: str) -> RiskListEntry | None:
        for entry in self.current():
            if entry.list_name == list_name and entry.value == value:
                return entry if self._is_staged(entry) else self._read(entry)
        return None

    def members(self, wanted: Mapping[str, Sequence[str]]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {name: set() for name in wanted}
        for entry in self.current():
            values = wanted.get(entry.list_name)
            if values is not None and entry.value in values:
                found[entry.list_name].add(entry.value)
        return found

    def list(self, list_name: str | None = None) -> Sequence[RiskListEntry]:
        return self.select(lambda e: list_name is None or e.list_name == list_name)

    def apply(self) -> None:
        """Write the staged changes and free the keys of removed entries. Call under the lock."""
        for entry_id in self.removed:
            old = self.stored.get(entry_id)
            if old is not None:
                self.taken.pop((old.list_name, old.value), None)
        _Table.apply(self)


def _clone_message(message: OutboxMessage) -> OutboxMessage:
    """A copy of ``message`` whose event's records are copies too.

    Messages are stored after the unit's records (the outbox is the last table a unit of
    work opens), so the stored event carries the records as committed, versions included.
    """
    clone = copy.copy(message)
    event = message.event
    clone.event = attrs.evolve(
        event,
        payment=_clone(event.payment),
        refund=None if event.refund is None else _clone(event.refund),
        dispute=None if event.dispute is None else _clone(event.dispute),
    )
    return clone


class _Outbox(_Table[OutboxMessage]):
    """Host events waiting for delivery, in commit order.

    The store keeps each message's commit position (``outbox_order``) and an index of the
    pending ones by payment, so the dispatcher's listings and the service's commits do not
    walk every message ever written. Acknowledgements are staged as changes that skip the
    version check and apply only to a message still pending.
    """

    kind = "outbox message"

    def __init__(self, storage: InMemoryStorage) -> None:
        _Table.__init__(self, storage.outbox, _clone_message, storage.lock)
        self._order = storage.outbox_order
        self._pending = storage.outbox_pending
        self.acked: dict[str, datetime] = {}
        """Ids acknowledged in this unit, and when."""

    def acknowledge(self, deliveries: Mapping[str, datetime]) -> None:
        with self.lock:
            for message_id, delivered_at in deliveries.items():
                stored = self.stored.get(message_id)
                if stored is not None and message_id not in self.changed:
                    self.acked[message_id] = delivered_at
                    self.changed[message_id] = stored  # so that commit() applies this table

    def list_pending(
        self, *, payment_id: str | None = None, limit: int | None = None
    ) -> Sequence[OutboxMessage]:
        with self.lock:
            if payment_id is None:
                ids = [i for pending in self._pending.values() for i in pending]
            else:
                ids = list(self._pending.get(payment_id, ()))
            stored = [
                self.stored[i] for i in ids if i not in self.changed and i not in self.removed
            ]
        staged = [
            m
            for m in (*self.changed.values(), *self.added.values())
            if m.id not in self.acked and (payment_id is None or m.payment_id == payment_id)
        ]
        chosen = [m for m in (*stored, *staged) if m.status is OutboxStatus.PENDING]
        last = len(self._order)
        chosen.sort(key=lambda m: self._order.get(m.id, last))  # stable: staged ones in order
        chosen = chosen if limit is None else chosen[: max(limit, 0)]
        return self.hand_out(chosen)

    def list(
        self,
        *,
        status: OutboxStatus | None = None,
        payment_id: str | None = None,
        limit: int | None = None,
    ) -> Sequence[OutboxMessage]:
        if status is OutboxStatus.PENDING:
            return self.list_pending(payment_id=payment_id, limit=limit)
        chosen = [
            m
            for m in self.current()
            if (status is None or m.status == status)
            and (payment_id is None or m.payment_id == payment_id)
        ]  # current() is in commit order: the stored dict keeps each key's first place
        chosen = chosen if limit is None else chosen[: max(limit, 0)]
        return [
            m if self._is_staged(m) and m.id not in self.acked else self._read(m) for m in chosen
        ]

    def check(self) -> None:
        """Versions and ids, except for acknowledgements, which never conflict."""
        if not self.acked:
            _Table.check(self)
            return
        acked = {i: self.changed.pop(i) for i in self.acked}
        try:
            _Table.check(self)
        finally:
            self.changed.update(acked)

    def apply(self) -> None:
        """Write the staged changes, acknowledge, and keep the order and the index."""
        acked = {i: self.changed.pop(i) for i in self.acked}
        _Table.apply(self)
        stored, order = self.stored, self._order
        for message in self.added.values():
            order[message.id] = len(order)
        for message_id, delivered_at in self.acked.items():
            current = stored.get(message_id)
            if current is not None and current.status is OutboxStatus.PENDING:
                done = copy.copy(current)
                done.status, done.delivered_at = OutboxStatus.DELIVERED, delivered_at
                done.attempts, done.last_error = current.attempts + 1, None
                done.version = current.version + 1
                stored[message_id] = done
                self._index(done)
        for message in (*self.added.values(), *self.changed.values()):
            self._index(message)
        for message in self.removed.values():
            self._unindex(message.payment_id, message.id)
        self.changed.update(acked)

    def clear(self) -> None:
        """Forget the staged writes and acknowledgements."""
        _Table.clear(self)
        if self.acked:
            self.acked.clear()

    def _index(self, message: OutboxMessage) -> None:
        if message.status is OutboxStatus.PENDING:
            self._pending.setdefault(message.payment_id, {})[message.id] = None
        else:
            self._unindex(message.payment_id, message.id)

    def _unindex(self, payment_id: str, message_id: str) -> None:
        pending = self._pending.get(payment_id)
        if pending is not None:
            pending.pop(message_id, None)
            if not pending:
                del self._pending[payment_id]


Reconcilable = TypeVar("Reconcilable", Payment, Refund)


def _due(records: list[Reconcilable], limit: int) -> list[Reconcilable]:
    """The ``limit`` least recently updated of ``records``."""
    records.sort(key=lambda record: record.updated_at)
    return records[:limit]


class _TransactionLog:
    def __init__(self, storage: InMemoryStorage) -> None:
        self._stored = storage.log
        self.staged: list[TransactionLogEntry] = []

    def append(self, entry: TransactionLogEntry) -> None:
        self.staged.append(entry)

    def list_for_payment(self, payment_id: str) -> Sequence[TransactionLogEntry]:
        written = list(self._stored.get(payment_id, ()))  # entries are immutable: share them
        return written + [entry for entry in self.staged if entry.payment_id == payment_id]


def _new_keys(
    pairs: Iterable[tuple[tuple[str, str | None], str]],
) -> dict[tuple[str, str], str]:
    """The unique keys one unit of work takes; a key taken twice in the unit conflicts."""
    keys: dict[tuple[str, str], str] = {}
    for (scope, key), record_id in pairs:
        if key is None:
            continue
        if (scope, key) in keys:
            msg = f"idempotency key {key!r} is used twice in this unit of work"
            raise ConcurrencyConflict(msg)
        keys[(scope, key)] = record_id
    return keys


TableT = TypeVar("TableT", bound="_Table[Any]")


class _Repository(Generic[TableT]):
    """A table of :class:`InMemoryUnitOfWork`, built on first use.

    Most units of work touch two of the five tables, so building all five up front (each
    with its staging dicts) was a tenth of a lifecycle's cost. After the first access the
    table sits in the instance ``__dict__``, which wins over this non-data descriptor:
    later reads are plain attribute reads.
    """

    def __init__(self, build: Callable[[InMemoryStorage], TableT]) -> None:
        self._build = build
        self._name = ""

    def __set_name__(self, owner: type[InMemoryUnitOfWork], name: str) -> None:
        self._name = name

    @overload
    def __get__(self, uow: None, owner: type[InMemoryUnitOfWork]) -> Self: ...

    @overload
    def __get__(self, uow: InMemoryUnitOfWork, owner: type[InMemoryUnitOfWork]) -> TableT: ...

    def __get__(
        self, uow: InMemoryUnitOfWork | None, owner: type[InMemoryUnitOfWork]
    ) -> Self | TableT:
        if uow is None:
            return self
        table = self._build(uow._storage)  # noqa: SLF001 - the unit of work's own storage
        table.uow = uow
        uow.__dict__[self._name] = table
        uow._open.append(table)  # noqa: SLF001 - the tables commit() must look at
        return table


class InMemoryUnitOfWork:
    """A unit of work over :class:`InMemoryStorage` (see ``paykit.storage.base``).

    Tables are built on first use (see :class:`_Repository`); only those are checked,
    written and cleared. The audit log, which nearly every unit of work writes, is built
    with the unit.
    """

    payment_methods = _Repository(_PaymentMethods)
    payments = _Repository(_Payments)
    refunds = _Repository(_Refunds)
    disputes = _Repository(_Disputes)
    webhook_inbox = _Repository(_WebhookInbox)
    idempotent_requests = _Repository(_IdempotentRequests)
    automation_actions = _Repository(_AutomationActions)
    risk_assessments = _Repository(_RiskAssessments)
    risk_lists = _Repository(_RiskLists)
    outbox = _Repository(_Outbox)

    def __init__(self, storage: InMemoryStorage) -> None:
        self._storage = storage
        self.transaction_log = _TransactionLog(storage)
        self._open: list[_Table[Any]] = []
        """The tables built so far, in the order they were first used."""

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
        """Check versions and unique keys, then write everything staged (see the contract)."""
        storage = self._storage
        staged = [table for table in self._open if table.added or table.changed or table.removed]
        entries = self.transaction_log.staged
        with storage.lock:
            try:
                for table in staged:
                    table.check()
                self._check_unique_keys(staged)
            except ConcurrencyConflict:
                self.rollback()
                raise
            for table in staged:
                table.apply()
            log = storage.log
            for entry in entries:
                written = log.get(entry.payment_id)
                if written is None:
                    log[entry.payment_id] = [entry]
                else:
                    written.append(entry)
            storage.commits += 1
        # Everything is written: forget the staging area (only these tables hold any).
        for table in staged:
            table.clear()
        entries.clear()
        self._forget_reads()

    def rollback(self) -> None:
        """Forget everything staged, and what was read."""
        for table in self._open:
            if table.added or table.changed or table.removed:
                table.clear()
        entries = self.transaction_log.staged
        if entries:
            entries.clear()
        self._forget_reads()

    def has_stale_reads(self) -> bool:
        """Whether another unit has changed or removed a record read here (see the contract)."""
        with self._storage.lock:  # a commit in another thread may be resizing the dicts
            return any(table.has_stale_reads() for table in self._open)

    def _forget_reads(self) -> None:
        for table in self._open:
            if table.read_versions:
                table.read_versions.clear()

    def _check_unique_keys(self, staged: list[_Table[Any]]) -> None:
        """Idempotency keys and default methods are unique, as SQL unique indexes make them."""
        taking: list[tuple[dict[tuple[str, str], str], dict[tuple[str, str], str]]] = []
        for table in staged:
            if table.added and table.taken is not None:
                keys = table.unique_keys()
                if not keys:
                    continue  # nothing added carries a key (no idempotency key given)
                if keys.keys() & table.taken:
                    raise ConcurrencyConflict(table.taken_message)
                taking.append((table.taken, keys))
        methods = self.__dict__.get("payment_methods")
        if methods is not None and (methods.added or methods.changed):
            _check_single_default(methods)
        # Taken now: apply() follows under the same lock.
        for taken, keys in taking:
            taken.update(keys)


def _check_single_default(methods: _PaymentMethods) -> None:
    staged = (*methods.added.values(), *methods.changed.values())
    for customer_id in {m.customer_id for m in staged if m.is_default}:
        defaults = [m for m in methods.current() if m.customer_id == customer_id and m.is_default]
        if len(defaults) > 1:
            msg = f"customer {customer_id!r} would have more than one default payment method"
            raise ConcurrencyConflict(msg)


class InMemoryStorage:
    """Thread-safe in-memory storage; the reference implementation of the storage contract."""

    blocks_on_io: ClassVar[bool] = False
    """Its units of work never wait on I/O, so ``AsyncPaymentService`` runs them on the event
    loop rather than in a worker thread (when no subscriber listens). A storage without this
    attribute is taken to block."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.methods: dict[str, PaymentMethod] = {}
        self.payments: dict[str, Payment] = {}
        self.refunds: dict[str, Refund] = {}
        self.log: dict[str, list[TransactionLogEntry]] = {}
        self.payment_keys: dict[tuple[str, str], str] = {}
        """(customer id, idempotency key) -> payment id."""
        self.refund_keys: dict[tuple[str, str], str] = {}
        """(payment id, idempotency key) -> refund id."""
        self.disputes: dict[str, Dispute] = {}
        self.dispute_keys: dict[tuple[str, str], str] = {}
        """(provider, provider dispute id) -> dispute id."""
        self.inbox: dict[str, InboxEntry] = {}
        self.inbox_keys: dict[tuple[str, str], str] = {}
        """(provider, event id) -> inbox entry id."""
        self.unmatched_inbox: dict[str, None] = {}
        """Ids of unmatched inbox entries, oldest first (an ordered set)."""
        self.refunds_by_payment = _ByPayment()
        self.disputes_by_payment = _ByPayment()
        self.inbox_by_payment = _ByPayment()
        """Refunds, disputes and inbox entries by payment (for ``list_for_payment``)."""
        self.idempotent_requests: dict[str, IdempotentRequest] = {}
        self.idempotent_request_keys: dict[tuple[str, str], str] = {}
        """(owner, idempotency key) -> idempotent request id."""
        self.automation_actions: dict[str, AutomationAction] = {}
        self.automation_action_keys: dict[tuple[str, str], str] = {}
        """(policy, payment id) -> automation action id."""
        self.risk_assessments: dict[str, RiskAssessment] = {}
        self.risk_list_entries: dict[str, RiskListEntry] = {}
        self.risk_list_keys: dict[tuple[str, str], str] = {}
        """(list name, value) -> risk list entry id."""
        self.payment_provider_ids: dict[tuple[str, str], str] = {}
        """(provider, provider payment id) -> payment id."""
        self.refund_provider_ids: dict[str, set[str]] = {}
        """Provider refund id -> ids of the refunds carrying it (under any provider)."""
        self.outbox: dict[str, OutboxMessage] = {}
        """Host events by id, in the order they were committed."""
        self.outbox_order: dict[str, int] = {}
        """Outbox message id -> its position in commit order."""
        self.outbox_pending: dict[str, dict[str, None]] = {}
        """Payment id -> ids of its pending outbox messages (an ordered set)."""
        self.commits = 0
        """How many units of work have committed (handy in tests and benchmarks)."""

    def unit_of_work(self) -> InMemoryUnitOfWork:
        """Begin a unit of work."""
        return InMemoryUnitOfWork(self)


if TYPE_CHECKING:  # the reference implementation must satisfy the contract it illustrates
    _check: Storage = InMemoryStorage()
