"""The SQL unit of work: reads go to the database, writes are staged and flushed at commit.

How a unit of work uses the database (the contract is in ``paykit.storage.base``):

* **Reads** run one statement each, in autocommit mode, on a connection the unit checks
  out at its first read and returns at commit, rollback or exit. No transaction is open
  while the caller works, so no lock is held and nothing can be left "idle in transaction".
  The unit overlays its own staged writes on what it reads, as the in-memory reference does.
  Each read sees what is committed when it runs, so two reads may straddle another unit's
  commit; the unit notes the version of every row it read, and
  :meth:`SqlUnitOfWork.has_stale_reads` asks the database whether any has moved since.
* **Writes** are staged in Python and written at :meth:`SqlUnitOfWork.commit` in one short
  transaction (``BEGIN IMMEDIATE`` on SQLite, which takes the write lock up front; ``BEGIN``
  elsewhere): deletes, updates, then inserts, table by table in foreign-key order. Every
  update and delete is ``... WHERE id = :id AND version = :read_version``; a row count of
  zero means another unit of work committed a change to that record first, and the whole
  transaction is rolled back and :class:`~paykit.errors.ConcurrencyConflict` raised. A
  unique index refusing a row (an idempotency key, a second default method, an id taken,
  one provider's dispute or webhook event recorded twice, an API idempotency key claimed
  twice) or the database breaking a deadlock raises the same error. A provider id taken
  twice is an integrity error, not a race, and is raised as SQLAlchemy's ``IntegrityError``. A
  commit that is one single-row statement runs without ``BEGIN``/``COMMIT``: a statement
  is atomic on its own.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from functools import partial
from operator import attrgetter
from types import TracebackType
from typing import Any, ClassVar, Final, Self, TypeVar

from sqlalchemy import (
    CompoundSelect,
    Connection,
    Delete,
    Executable,
    FromClause,
    Insert,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    null,
    or_,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy import select as sql_select
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import DBAPIError

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
from paykit.storage.base import VELOCITY_KEYS, events_wait
from paykit.storage.sql import _codec
from paykit.storage.sql._codec import Amount
from paykit.storage.sql._encryption import PLAINTEXT, RowCodecs
from paykit.storage.sql._pipeline import Batch, unbatched
from paykit.storage.sql._schema import HELD, UNMATCHED, Tables

__all__ = ["SqlUnitOfWork", "Statements"]

R = TypeVar("R", bound=StoredRecord)

_CONFLICT_SQLSTATES: Final = frozenset(
    {
        "23505",  # unique_violation
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
    }
)
_CONFLICT_SQLITE_ERRORS: Final = frozenset(
    {"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}
)
_PROVIDER_ID_INDEX: Final = "_provider_id"
_PROVIDER_ID_COLUMNS: Final = (".provider_payment_id", ".provider_refund_id")
_STAGED_LAST: Final = 2**62
"""Sort position of records added in this unit: after every stored row of equal time."""

_BY_CREATED: Final[Callable[[Any], Any]] = attrgetter("created_at")
_BY_RECEIVED: Final[Callable[[Any], Any]] = attrgetter("received_at")
_BY_EXPIRY: Final[Callable[[Any], Any]] = attrgetter("expires_at")
_LEAST_RECENTLY_UPDATED: Final[Callable[[Any], Any]] = attrgetter("updated_at", "created_at")
"""The sweeps' order (then insertion order), as their query sorts."""
_INBOX_IDS: Final = ("payment_id", "provider_payment_id", "provider_refund_id")
_ALL: Final = 2**62
"""The ``LIMIT`` of a listing asked for without one."""
_VERSION_CHECK_BATCH: Final = 500
"""Ids per ``IN (...)`` when checking what a unit read: well under SQLite's variable limit."""


def is_conflict(error: DBAPIError) -> bool:
    """Whether a driver error means "another unit of work got there first; retry".

    Unique keys the contract names (ids, idempotency keys, one default method per
    customer) and the database breaking a deadlock or serialization failure are conflicts.
    A provider id taken twice is not: no retry can fix two records claiming one provider
    object, so that error is raised as it is.
    """
    original = error.orig
    sqlstate = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if sqlstate is not None:
        diagnostics = getattr(original, "diag", None)
        constraint = getattr(diagnostics, "constraint_name", None) or ""
        return sqlstate in _CONFLICT_SQLSTATES and not constraint.endswith(_PROVIDER_ID_INDEX)
    if getattr(original, "sqlite_errorname", None) not in _CONFLICT_SQLITE_ERRORS:
        return False
    # SQLite names the columns, never the values: "UNIQUE constraint failed: t.a, t.b".
    return not any(column in str(original) for column in _PROVIDER_ID_COLUMNS)


class _TableStatements:
    """The statements for one table, built once per storage and reused by every unit."""

    def __init__(self, table: Table, time_column: str = "created_at") -> None:
        self.table = table
        self.columns = tuple(column.name for column in table.columns)
        self.get: Select[Any] = sql_select(table).where(table.c.id == bindparam("id"))
        # Inline: no RETURNING of the generated ``seq`` (never read back), so an insert needs
        # no answer before the commit goes on and can be batched with it (``_pipeline``).
        self.insert: Insert = table.insert().inline()
        match = (table.c.id == bindparam("match_id"), table.c.version == bindparam("match_version"))
        self.update: Update = table.update().where(*match)
        self.delete: Delete = table.delete().where(*match)
        self.oldest_first = (table.c[time_column], table.c.seq)
        self.versions: Select[Any] = sql_select(table.c.id, table.c.version).where(
            table.c.id.in_(bindparam("ids", expanding=True))
        )


class _OutboxStatements(_TableStatements):
    """The outbox's statements: its listings are in commit order (``seq``)."""

    def __init__(self, table: Table) -> None:
        super().__init__(table)
        columns = table.c
        # An acknowledgement: one statement for a unit's worth, never a conflict.
        self.acknowledge: Update = (
            table.update()
            .where(columns.id == bindparam("message_id"), columns.status == "pending")
            .values(
                status="delivered",
                delivered_at=bindparam("acknowledged_at"),
                attempts=columns.attempts + 1,
                last_error=None,
                version=columns.version + 1,
            )
        )
        self._lists: dict[tuple[bool, bool, bool], Select[Any]] = {}

    def listing(self, *, status: bool, payment: bool, limit: bool) -> Select[Any]:
        """Messages of one status and one payment, if given, in commit order.

        Served by the ``(status, seq)`` and ``(payment_id, seq)`` indexes.
        """
        key = (status, payment, limit)
        statement = self._lists.get(key)
        if statement is None:
            columns = self.table.c
            statement = sql_select(self.table)
            if status:
                statement = statement.where(columns.status == bindparam("status"))
            if payment:
                statement = statement.where(columns.payment_id == bindparam("payment_id"))
            statement = statement.order_by(columns.seq)
            if limit:
                statement = statement.limit(bindparam("limit"))
            self._lists[key] = statement
        return statement


class Statements:
    """Every statement a unit of work runs, compiled once and cached by SQLAlchemy."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self.methods = _TableStatements(tables.payment_methods)
        self.payments = _TableStatements(tables.payments)
        self.refunds = _TableStatements(tables.refunds)
        self.disputes = _TableStatements(tables.disputes)
        self.inbox = _TableStatements(tables.webhook_inbox, "received_at")
        self.idempotent = _TableStatements(tables.idempotent_requests, "expires_at")
        self.automation = _TableStatements(tables.automation_actions)
        self.outbox = _OutboxStatements(tables.outbox)
        # Made once per storage, so that the codec hook (which caches per function) sees one
        # decoder; it lives and dies with the storage (a module-level cache would keep every
        # storage's tables alive).
        self.outbox_decoder: Callable[[RowMapping], OutboxMessage] = partial(
            _codec.outbox_message_from_row,
            payments=tables.payments,
            refunds=tables.refunds,
            disputes=tables.disputes,
        )
        self.risk = _RiskStatements(tables)
        methods, payments, refunds = tables.payment_methods, tables.payments, tables.refunds
        disputes, inbox = tables.disputes, tables.webhook_inbox
        log = tables.transaction_log
        self.methods_of_customer = (
            sql_select(methods)
            .where(methods.c.customer_id == bindparam("customer_id"))
            .order_by(*self.methods.oldest_first)
        )
        self.payment_by_key = sql_select(payments).where(
            payments.c.customer_id == bindparam("customer_id"),
            payments.c.idempotency_key == bindparam("key"),
        )
        self.refund_by_key = sql_select(refunds).where(
            refunds.c.payment_id == bindparam("payment_id"),
            refunds.c.idempotency_key == bindparam("key"),
        )
        self.refunds_of_payment = (
            sql_select(refunds)
            .where(refunds.c.payment_id == bindparam("payment_id"))
            .order_by(*self.refunds.oldest_first)
        )
        # One read where a unit needs two records: a payment and its method (a LEFT JOIN: a
        # method may have been removed since), a refund and its payment. The joined table's
        # columns carry a prefix so they cannot clash. The tables go under one-letter
        # aliases: psycopg caches its parse of a query only up to 4 KiB, and these name
        # every column, which would otherwise each carry the schema and the table's name.
        paid, method, refund = payments.alias("p"), methods.alias("m"), refunds.alias("f")
        self.payment_with_method = (
            sql_select(paid, *_prefixed(method, JOINED))
            .outerjoin(method, paid.c.payment_method_id == method.c.id)
            .where(paid.c.id == bindparam("id"))
        )
        self.refund_with_payment = (
            sql_select(refund, *_prefixed(paid, JOINED))
            .join(paid, refund.c.payment_id == paid.c.id)
            .where(refund.c.id == bindparam("id"))
        )
        # The read that records a provider's answer, with whether unmatched webhook events
        # of the payment's provider name the id the answer gives (see
        # PaymentRepository.get_noting_waiting_events): an EXISTS on the inbox's partial
        # index of unmatched entries, so nothing waiting costs no statement of its own.
        self.payment_noting_inbox = sql_select(
            paid, _events_waiting(inbox, paid, "provider_payment_id")
        ).where(paid.c.id == bindparam("id"))
        self.refund_with_payment_noting_inbox = (
            sql_select(
                refund,
                *_prefixed(paid, JOINED),
                _events_waiting(inbox, paid, "provider_refund_id"),
            )
            .join(paid, refund.c.payment_id == paid.c.id)
            .where(refund.c.id == bindparam("id"))
        )
        self.log_insert: Insert = log.insert().inline()  # as _TableStatements.insert
        self.log_of_payment = (
            sql_select(log).where(log.c.payment_id == bindparam("payment_id")).order_by(log.c.seq)
        )
        self._payment_lists: dict[tuple[bool, bool, bool], Select[Any]] = {}

        # Served by the unique (provider, provider_payment_id) index.
        self.payment_by_provider_id = sql_select(payments).where(
            payments.c.provider == bindparam("provider"),
            payments.c.provider_payment_id == bindparam("provider_id"),
        )
        # The provider is the payment's: refunds of that provider's payments, newest first
        # (one provider refund id on two payments would be the provider's doing).
        self.refunds_by_provider_id = (
            sql_select(refunds)
            .join(payments, refunds.c.payment_id == payments.c.id)
            .where(
                refunds.c.provider_refund_id == bindparam("provider_id"),
                payments.c.provider == bindparam("provider"),
            )
            .order_by(refunds.c.seq.desc())
        )
        self.payments_due = _due(
            payments, payments.c.status.in_(bindparam("statuses", expanding=True))
        )
        self.refunds_due = _due(refunds, refunds.c.status == str(RefundStatus.PROCESSING))

        self.dispute_by_provider_id = sql_select(disputes).where(
            disputes.c.provider == bindparam("provider"),
            disputes.c.provider_dispute_id == bindparam("provider_id"),
        )
        self.disputes_of_payment = (
            sql_select(disputes)
            .where(disputes.c.payment_id == bindparam("payment_id"))
            .order_by(*self.disputes.oldest_first)
        )

        self.inbox_by_event = sql_select(inbox).where(
            inbox.c.provider == bindparam("provider"), inbox.c.event_id == bindparam("event_id")
        )
        self.inbox_of_payment = (
            sql_select(inbox)
            .where(inbox.c.payment_id == bindparam("payment_id"))
            .order_by(*self.inbox.oldest_first)
        )
        self._inbox_unmatched: dict[tuple[bool, frozenset[str], bool], Select[Any]] = {}

        idempotent = tables.idempotent_requests
        # Served by the unique (owner, idempotency_key) index.
        self.idempotent_by_key = sql_select(idempotent).where(
            idempotent.c.owner == bindparam("owner"),
            idempotent.c.idempotency_key == bindparam("key"),
        )
        # Served by the expires_at index: the sweep reads the longest expired first.
        self.idempotent_expired = (
            sql_select(idempotent)
            .where(idempotent.c.expires_at <= bindparam("now"))
            .order_by(*self.idempotent.oldest_first)
            .limit(bindparam("limit"))
        )

        automation = tables.automation_actions
        # Served by the unique (policy, payment_id) index.
        self.automation_by_key = sql_select(automation).where(
            automation.c.policy == bindparam("policy"),
            automation.c.payment_id == bindparam("payment_id"),
        )
        self._automation_lists: dict[tuple[bool, bool, bool, bool, bool], Select[Any]] = {}

    def automation_list(
        self, *, policy: bool, payment: bool, statuses: bool, since: bool, limit: bool
    ) -> Select[Any]:
        """Automation actions filtered by the given columns, oldest first."""
        key = (policy, payment, statuses, since, limit)
        statement = self._automation_lists.get(key)
        if statement is None:
            table = self.tables.automation_actions
            statement = sql_select(table)
            if policy:
                statement = statement.where(table.c.policy == bindparam("policy"))
            if payment:
                statement = statement.where(table.c.payment_id == bindparam("payment_id"))
            if statuses:
                statement = statement.where(
                    table.c.status.in_(bindparam("statuses", expanding=True))
                )
            if since:
                statement = statement.where(table.c.created_at >= bindparam("since"))
            statement = statement.order_by(*self.automation.oldest_first)
            if limit:
                statement = statement.limit(bindparam("limit"))
            self._automation_lists[key] = statement
        return statement

    def payment_list(self, *, customer: bool, order: bool, status: bool) -> Select[Any]:
        """The listing of payments filtered by the given columns, oldest first."""
        key = (customer, order, status)
        statement = self._payment_lists.get(key)
        if statement is None:
            columns = self.tables.payments.c
            statement = sql_select(self.tables.payments)
            if customer:
                statement = statement.where(columns.customer_id == bindparam("customer_id"))
            if order:
                statement = statement.where(columns.order_id == bindparam("order_id"))
            if status:
                statement = statement.where(columns.status == bindparam("status"))
            statement = statement.order_by(*self.payments.oldest_first)
            self._payment_lists[key] = statement
        return statement

    def inbox_unmatched(self, *, provider: bool, ids: frozenset[str], limit: bool) -> Select[Any]:
        """Unmatched inbox entries, of one provider and naming one of ``ids`` if given.

        The status is a literal, not a parameter, so that the partial indexes on unmatched
        entries apply to every plan: PostgreSQL's generic plan for a prepared statement
        (psycopg prepares a query run five times) cannot use a partial index whose condition
        it can only prove for a parameter's current value.
        """
        key = (provider, ids, limit)
        statement = self._inbox_unmatched.get(key)
        if statement is None:
            inbox = self.tables.webhook_inbox
            statement = sql_select(inbox).where(inbox.c.status == literal_column(f"'{UNMATCHED}'"))
            if provider:
                statement = statement.where(inbox.c.provider == bindparam("provider"))
            if ids:
                named = [inbox.c[name] == bindparam(name) for name in _INBOX_IDS if name in ids]
                statement = statement.where(or_(*named))
            statement = statement.order_by(*self.inbox.oldest_first)
            if limit:
                statement = statement.limit(bindparam("limit"))
            self._inbox_unmatched[key] = statement
        return statement


JOINED: Final = "joined__"
"""The prefix of the joined table's columns in :attr:`Statements.payment_with_method`."""

EVENTS_WAITING: Final = "events_waiting__"
"""The column of :attr:`Statements.payment_noting_inbox` saying whether events wait."""


def _events_waiting(inbox: Table, payments: FromClause, id_column: str) -> Any:  # noqa: ANN401 - a SQL expression
    """Whether unmatched events of the payment's provider name the ``provider_id`` parameter."""
    waiting: Select[Any] = sql_select(literal_column("1")).where(
        inbox.c.status == literal_column(f"'{UNMATCHED}'"),  # literal: see inbox_unmatched
        inbox.c.provider == payments.c.provider,
        inbox.c[id_column] == bindparam("provider_id"),
    )
    return waiting.exists().label(EVENTS_WAITING)


def _prefixed(table: FromClause, prefix: str) -> list[Any]:
    return [column.label(prefix + column.name) for column in table.c]


def _unprefixed(row: RowMapping, prefix: str, columns: tuple[str, ...]) -> dict[str, Any]:
    """The joined table's part of a row (its ``columns``), under their own names.

    Looked up by name: the row holds every table's columns (90 in the claim's read), so
    scanning them all for the prefix cost several times more.
    """
    return {name: row[prefix + name] for name in columns}


def _due(table: Table, status_filter: Any) -> Select[Any]:  # noqa: ANN401 - a SQL expression
    """Records of ``table`` a reconciliation sweep should ask about, least recently updated first.

    Served by the ``(status, updated_at)`` index.
    """
    columns = table.c
    return (
        sql_select(table)
        .where(
            status_filter,
            columns.updated_at < bindparam("updated_before"),
            or_(
                columns.next_reconcile_at.is_(None),
                columns.next_reconcile_at <= bindparam("due_by"),
            ),
        )
        .order_by(columns.updated_at, columns.created_at, columns.seq)
        .limit(bindparam("limit"))
    )


class _Step:
    """One statement of a commit; ``expect`` is the row count it must report, if any."""

    __slots__ = ("expect", "params", "statement")

    def __init__(
        self,
        statement: Executable,
        params: dict[str, Any] | list[dict[str, Any]],
        expect: int | None = None,
    ) -> None:
        self.statement = statement
        self.params = params
        self.expect = expect


class _Repository(StagedWrites[R]):
    """One kind of record as a unit of work sees it: the stored rows plus staged writes."""

    kind: ClassVar[str]

    def __init__(
        self,
        uow: SqlUnitOfWork,
        statements: _TableStatements,
        decode: Callable[[RowMapping], R],
        encode: Callable[[R, int], dict[str, Any]],
        oldest_first: Callable[[R], Any] = _BY_CREATED,
    ) -> None:
        super().__init__()
        self._uow = uow
        self._statements = statements
        self._decode = decode
        self._encode = encode
        self._oldest_first = oldest_first
        """What "oldest first" means for this kind of record (before insertion order)."""
        self._seq: dict[str, int] = {}
        """Insertion order of the rows this unit has read, to keep staged records in place."""
        self._read_versions: dict[str, int] = {}
        """The version of each row this unit has read, as first read."""
        self._read_rows: dict[str, RowMapping] = {}
        """Each row as last read, so an update writes only the columns that changed."""

    # -- reads ---------------------------------------------------------------------------

    def _load(self, row: RowMapping) -> R:
        record = self._decode(row)
        self._seq[record.id] = row["seq"]
        self._read_rows[record.id] = row
        if record.id not in self._read_versions:
            self._read_versions[record.id] = record.version
        return record

    def has_stale_reads(self) -> bool:
        """Whether a row read here has since been changed or removed (asks the database)."""
        read = list(self._read_versions.items())
        for start in range(0, len(read), _VERSION_CHECK_BATCH):
            batch = dict(read[start : start + _VERSION_CHECK_BATCH])
            rows = self._uow.rows(self._statements.versions, {"ids": list(batch)})
            current = {row["id"]: row["version"] for row in rows}
            if any(current.get(record_id) != version for record_id, version in batch.items()):
                return True
        return False

    def get(self, record_id: str) -> R:
        """The record, from this unit's staged writes or read from the database."""
        record = self.find_by_id(record_id)
        if record is None:
            raise NotFound(self.kind, record_id)
        return record

    def find_by_id(self, record_id: str) -> R | None:
        """:meth:`get`, answering ``None`` where it would raise (no error built to be caught)."""
        staged = self.staged(record_id)
        if staged is not None:
            return staged
        if record_id in self.removed:
            return None
        rows = self._uow.rows(self._statements.get, {"id": record_id})
        return self._load(rows[0]) if rows else None

    def joined(self, row: RowMapping, record_id: str) -> R:
        """The record another table's joined read brought along, as :meth:`get` would give it.

        A record this unit staged or removed wins over the row, as in :meth:`get`; a row
        without it (a LEFT JOIN found nothing) is ``NotFound``.
        """
        staged = self.staged(record_id)
        if staged is not None:
            return staged
        if record_id in self.removed or row[JOINED + "id"] is None:  # the join found nothing
            raise NotFound(self.kind, record_id)
        return self._load(_unprefixed(row, JOINED, self._statements.columns))  # type: ignore[arg-type]  # the table's columns

    def _found(self, rows: Sequence[RowMapping]) -> R | None:
        """The record a unique lookup found, as this unit sees it."""
        if not rows:
            return None
        record_id = rows[0]["id"]
        if record_id in self.removed:
            return None
        return self.staged(record_id) or self._load(rows[0])

    def _first_stored(self, rows: Sequence[RowMapping]) -> R | None:
        """The first row a lookup found that this unit has not changed or removed."""
        for row in rows:
            record_id = row["id"]
            if record_id not in self.changed and record_id not in self.removed:
                return self._load(row)
        return None

    def _overscan(self, limit: int) -> int:
        """Rows to read for ``limit`` records: this unit's changes may hide some of them."""
        return limit + len(self.changed) + len(self.removed)

    def _select(
        self,
        rows: Sequence[RowMapping],
        keep: Callable[[R], bool],
        *,
        order: Callable[[R], Any] | None = None,
        limit: int | None = None,
    ) -> list[R]:
        """Rows read (already filtered and ordered) overlaid with the staged writes.

        ``order`` is the rows' order before insertion order (default: oldest first). With
        ``limit``, the rows must have been read with :meth:`_overscan`.
        """
        if not (self.added or self.changed or self.removed):
            records = [self._load(row) for row in rows]
            return records if limit is None else records[:limit]
        key = self._oldest_first if order is None else order
        hidden = self.changed.keys() | self.removed.keys()
        chosen: list[tuple[Any, int, R]] = []
        for row in rows:
            if row["id"] not in hidden:
                record = self._load(row)
                chosen.append((key(record), row["seq"], record))
        for record in self.changed.values():
            if record.id not in self.removed and keep(record):
                position = self._seq.get(record.id, _STAGED_LAST)
                chosen.append((key(record), position, record))
        for number, record in enumerate(self.added.values()):
            if keep(record):
                chosen.append((key(record), _STAGED_LAST + number, record))
        chosen.sort(key=lambda item: (item[0], item[1]))
        records = [record for _, _, record in chosen]
        return records if limit is None else records[:limit]

    # -- writing the staged changes at commit ----------------------------------------------

    def _changed_in_write_order(self) -> Iterable[R]:
        """Updates in a fixed order (by id), so concurrent commits lock rows alike."""
        return sorted(self.changed.values(), key=lambda record: record.id)

    def plan(self, steps: list[_Step], versions: list[tuple[R, int]]) -> None:
        """Append this table's statements to ``steps``: deletes, updates, then one insert."""
        statements = self._statements
        for record in sorted(self.removed.values(), key=lambda record: record.id):
            params = {"match_id": record.id, "match_version": record.version}
            steps.append(_Step(statements.delete, params, expect=1))
        for record in self._changed_in_write_order():
            version = record.version + 1
            row = self._encode(record, version)
            read = self._read_rows.get(record.id)
            if read is not None:  # only what changed: a smaller statement, fewer binds
                row = {k: v for k, v in row.items() if _must_write(k, v, read)}
            row.pop("id", None)
            row["match_id"] = record.id
            row["match_version"] = record.version
            steps.append(_Step(statements.update, row, expect=1))
            versions.append((record, version))
        if self.added:
            rows = []
            for record in self.added.values():
                version = record.version + 1
                rows.append(self._encode(record, version))
                versions.append((record, version))
            steps.append(_Step(statements.insert, rows[0] if len(rows) == 1 else rows))

    def forget(self) -> None:
        """Drop the staged writes and what this unit has read."""
        self.clear()
        if self._seq:
            self._seq.clear()
        if self._read_versions:
            self._read_versions.clear()
        if self._read_rows:
            self._read_rows.clear()


def _must_write(column: str, value: object, read: RowMapping) -> bool:
    """Whether an update writes ``column``: it changed since the read, or may have.

    JSON documents (metadata) are always written: the record shares the decoded document
    with the row it was read from, so a change made in place would compare equal.
    """
    return column == "version" or isinstance(value, dict | list) or read.get(column) != value


class _PaymentMethods(_Repository[PaymentMethod]):
    kind = "payment method"

    def list_for_customer(self, customer_id: str) -> Sequence[PaymentMethod]:
        rows = self._uow.rows(
            self._uow.statements.methods_of_customer, {"customer_id": customer_id}
        )
        return self._select(rows, lambda m: m.customer_id == customer_id)

    def _changed_in_write_order(self) -> Iterable[PaymentMethod]:
        # Clear old defaults before setting new ones: the partial unique index checks each row.
        return sorted(self.changed.values(), key=lambda m: (m.is_default, m.id))


class _Payments(_Repository[Payment]):
    kind = "payment"

    def get_with_method(self, payment_id: str) -> tuple[Payment, PaymentMethod]:
        """The payment and its method in one read (unless this unit staged the payment)."""
        if self.staged(payment_id) is not None or payment_id in self.removed:
            payment = self.get(payment_id)
            return payment, self._uow.payment_methods.get(payment.payment_method_id)
        rows = self._uow.rows(self._uow.statements.payment_with_method, {"id": payment_id})
        if not rows:
            raise NotFound(self.kind, payment_id)
        payment = self._load(rows[0])
        return payment, self._uow.payment_methods.joined(rows[0], payment.payment_method_id)

    def get_noting_waiting_events(
        self, payment_id: str, provider_payment_id: str | None
    ) -> tuple[Payment, bool]:
        """The payment and whether events wait for ``provider_payment_id``, in one read."""
        if provider_payment_id is None:
            return self.get(payment_id), False
        inbox = self._uow.webhook_inbox
        if self.staged(payment_id) or payment_id in self.removed or inbox.staged_any():
            payment = self.get(payment_id)
            return payment, events_wait(
                inbox, payment.provider, provider_payment_id=provider_payment_id
            )
        rows = self._uow.rows(
            self._uow.statements.payment_noting_inbox,
            {"id": payment_id, "provider_id": provider_payment_id},
        )
        if not rows:
            raise NotFound(self.kind, payment_id)
        return self._load(rows[0]), bool(rows[0][EVENTS_WAITING])

    def find_by_idempotency_key(self, customer_id: str, key: str) -> Payment | None:
        for payment in self.added.values():
            if payment.idempotency_key == key and payment.customer_id == customer_id:
                return payment
        statement = self._uow.statements.payment_by_key
        return self._found(self._uow.rows(statement, {"customer_id": customer_id, "key": key}))

    def list(
        self,
        *,
        customer_id: str | None = None,
        order_id: str | None = None,
        status: PaymentStatus | None = None,
    ) -> Sequence[Payment]:
        statement = self._uow.statements.payment_list(
            customer=customer_id is not None, order=order_id is not None, status=status is not None
        )
        params: dict[str, str] = {}
        if customer_id is not None:
            params["customer_id"] = customer_id
        if order_id is not None:
            params["order_id"] = order_id
        if status is not None:
            params["status"] = str(status)
        return self._select(
            self._uow.rows(statement, params),
            lambda p: (
                (customer_id is None or p.customer_id == customer_id)
                and (order_id is None or p.order_id == order_id)
                and (status is None or p.status == status)
            ),
        )

    def find_by_provider_id(self, provider: str, provider_payment_id: str) -> Payment | None:
        for payment in (*self.added.values(), *self.changed.values()):
            if payment.provider == provider and payment.provider_payment_id == provider_payment_id:
                return payment
        rows = self._uow.rows(
            self._uow.statements.payment_by_provider_id,
            {"provider": provider, "provider_id": provider_payment_id},
        )
        return self._first_stored(rows)

    def list_due_for_reconciliation(
        self,
        statuses: Sequence[PaymentStatus],
        *,
        updated_before: datetime,
        due_by: datetime,
        limit: int,
    ) -> Sequence[Payment]:
        wanted = frozenset(statuses)
        if not wanted or limit <= 0:
            return []
        params = {
            "statuses": sorted(str(status) for status in wanted),
            "updated_before": updated_before,
            "due_by": due_by,
            "limit": self._overscan(limit),
        }
        rows = self._uow.rows(self._uow.statements.payments_due, params)
        return self._select(
            rows,
            lambda p: p.status in wanted and _is_due(p, updated_before, due_by),
            order=_LEAST_RECENTLY_UPDATED,
            limit=limit,
        )


class _Refunds(_Repository[Refund]):
    kind = "refund"

    def get_with_payment(self, refund_id: str) -> tuple[Refund, Payment]:
        """The refund and its payment in one read (unless this unit staged the refund)."""
        if self.staged(refund_id) is not None or refund_id in self.removed:
            refund = self.get(refund_id)
            return refund, self._uow.payments.get(refund.payment_id)
        rows = self._uow.rows(self._uow.statements.refund_with_payment, {"id": refund_id})
        if not rows:
            raise NotFound(self.kind, refund_id)
        refund = self._load(rows[0])
        return refund, self._uow.payments.joined(rows[0], refund.payment_id)

    def get_with_payment_noting_waiting_events(
        self, refund_id: str, provider_refund_id: str | None
    ) -> tuple[Refund, Payment, bool]:
        """The refund, its payment and whether events wait for ``provider_refund_id``: one read."""
        inbox = self._uow.webhook_inbox
        if provider_refund_id is None or self.staged(refund_id) or inbox.staged_any():
            refund, payment = self.get_with_payment(refund_id)
            waiting = events_wait(inbox, payment.provider, provider_refund_id=provider_refund_id)
            return refund, payment, waiting
        if refund_id in self.removed:
            raise NotFound(self.kind, refund_id)
        rows = self._uow.rows(
            self._uow.statements.refund_with_payment_noting_inbox,
            {"id": refund_id, "provider_id": provider_refund_id},
        )
        if not rows:
            raise NotFound(self.kind, refund_id)
        refund = self._load(rows[0])
        payment = self._uow.payments.joined(rows[0], refund.payment_id)
        return refund, payment, bool(rows[0][EVENTS_WAITING])

    def find_by_idempotency_key(self, payment_id: str, key: str) -> Refund | None:
        for refund in self.added.values():
            if refund.idempotency_key == key and refund.payment_id == payment_id:
                return refund
        statement = self._uow.statements.refund_by_key
        return self._found(self._uow.rows(statement, {"payment_id": payment_id, "key": key}))

    def list_for_payment(self, payment_id: str) -> Sequence[Refund]:
        rows = self._uow.rows(self._uow.statements.refunds_of_payment, {"payment_id": payment_id})
        return self._select(rows, lambda r: r.payment_id == payment_id)

    def find_by_provider_id(self, provider: str, provider_refund_id: str) -> Refund | None:
        for refund in (*self.added.values(), *self.changed.values()):
            if refund.provider_refund_id != provider_refund_id:
                continue
            if self._provider_of(refund) == provider:
                return refund
        rows = self._uow.rows(
            self._uow.statements.refunds_by_provider_id,
            {"provider": provider, "provider_id": provider_refund_id},
        )
        return self._first_stored(rows)

    def _provider_of(self, refund: Refund) -> str | None:
        """The provider of a staged refund's payment, as this unit sees it."""
        try:
            return self._uow.payments.get(refund.payment_id).provider
        except NotFound:
            return None

    def list_due_for_reconciliation(
        self, *, updated_before: datetime, due_by: datetime, limit: int
    ) -> Sequence[Refund]:
        if limit <= 0:
            return []
        params = {
            "updated_before": updated_before,
            "due_by": due_by,
            "limit": self._overscan(limit),
        }
        rows = self._uow.rows(self._uow.statements.refunds_due, params)
        return self._select(
            rows,
            lambda r: r.status is RefundStatus.PROCESSING and _is_due(r, updated_before, due_by),
            order=_LEAST_RECENTLY_UPDATED,
            limit=limit,
        )


def _is_due(record: Payment | Refund, updated_before: datetime, due_by: datetime) -> bool:
    """Whether a sweep should ask about ``record`` now (status apart)."""
    due = record.next_reconcile_at
    return record.updated_at < updated_before and (due is None or due <= due_by)


class _Disputes(_Repository[Dispute]):
    kind = "dispute"

    def find_by_provider_id(self, provider: str, provider_dispute_id: str) -> Dispute | None:
        for dispute in self.added.values():
            if dispute.provider == provider and dispute.provider_dispute_id == provider_dispute_id:
                return dispute
        rows = self._uow.rows(
            self._uow.statements.dispute_by_provider_id,
            {"provider": provider, "provider_id": provider_dispute_id},
        )
        return self._found(rows)

    def list_for_payment(self, payment_id: str) -> Sequence[Dispute]:
        rows = self._uow.rows(self._uow.statements.disputes_of_payment, {"payment_id": payment_id})
        return self._select(rows, lambda d: d.payment_id == payment_id)


class _WebhookInbox(_Repository[InboxEntry]):
    kind = "webhook inbox entry"

    def find(self, provider: str, event_id: str) -> InboxEntry | None:
        for entry in self.added.values():
            if entry.provider == provider and entry.event_id == event_id:
                return entry
        rows = self._uow.rows(
            self._uow.statements.inbox_by_event, {"provider": provider, "event_id": event_id}
        )
        return self._found(rows)

    def list_unmatched(
        self,
        *,
        provider: str | None = None,
        payment_id: str | None = None,
        provider_payment_id: str | None = None,
        provider_refund_id: str | None = None,
        limit: int | None = None,
    ) -> Sequence[InboxEntry]:
        given = {
            "payment_id": payment_id,
            "provider_payment_id": provider_payment_id,
            "provider_refund_id": provider_refund_id,
        }
        wanted = {name: value for name, value in given.items() if value is not None}
        if limit is not None and limit <= 0:
            return []
        statement = self._uow.statements.inbox_unmatched(
            provider=provider is not None, ids=frozenset(wanted), limit=limit is not None
        )
        params: dict[str, Any] = dict(wanted)
        if provider is not None:
            params["provider"] = provider
        if limit is not None:
            params["limit"] = self._overscan(limit)

        def keep(entry: InboxEntry) -> bool:
            return (
                entry.status is InboxStatus.UNMATCHED
                and (provider is None or entry.provider == provider)
                and (
                    not wanted
                    or any(getattr(entry, name) == value for name, value in wanted.items())
                )
            )

        return self._select(self._uow.rows(statement, params), keep, limit=limit)

    def staged_any(self) -> bool:
        """Whether this unit added or changed an entry (the database does not know it yet)."""
        return bool(self.added or self.changed)

    def list_for_payment(self, payment_id: str) -> Sequence[InboxEntry]:
        rows = self._uow.rows(self._uow.statements.inbox_of_payment, {"payment_id": payment_id})
        return self._select(rows, lambda e: e.payment_id == payment_id)


class _IdempotentRequests(_Repository[IdempotentRequest]):
    kind = "idempotent request"

    def find(self, owner: str, key: str) -> IdempotentRequest | None:
        for request in self.added.values():
            if request.owner == owner and request.key == key:
                return request
        rows = self._uow.rows(self._uow.statements.idempotent_by_key, {"owner": owner, "key": key})
        return self._found(rows)

    def list_expired(self, now: datetime, *, limit: int) -> Sequence[IdempotentRequest]:
        if limit <= 0:
            return []
        rows = self._uow.rows(
            self._uow.statements.idempotent_expired, {"now": now, "limit": self._overscan(limit)}
        )
        return self._select(rows, lambda r: r.expires_at <= now, limit=limit)


class _AutomationActions(_Repository[AutomationAction]):
    kind = "automation action"

    def find(self, policy: str, payment_id: str) -> AutomationAction | None:
        for action in self.added.values():
            if action.policy == policy and action.payment_id == payment_id:
                return action
        rows = self._uow.rows(
            self._uow.statements.automation_by_key, {"policy": policy, "payment_id": payment_id}
        )
        return self._found(rows)

    def list(
        self,
        *,
        policy: str | None = None,
        payment_id: str | None = None,
        statuses: Sequence[ActionStatus] | None = None,
        created_since: datetime | None = None,
        limit: int | None = None,
    ) -> Sequence[AutomationAction]:
        if limit is not None and limit <= 0:
            return []
        wanted = None if statuses is None else frozenset(statuses)
        if wanted is not None and not wanted:
            return []
        statement = self._uow.statements.automation_list(
            policy=policy is not None,
            payment=payment_id is not None,
            statuses=wanted is not None,
            since=created_since is not None,
            limit=limit is not None,
        )
        params: dict[str, Any] = {}
        if policy is not None:
            params["policy"] = policy
        if payment_id is not None:
            params["payment_id"] = payment_id
        if wanted is not None:
            params["statuses"] = sorted(str(status) for status in wanted)
        if created_since is not None:
            params["since"] = created_since
        if limit is not None:
            params["limit"] = self._overscan(limit)

        def keep(action: AutomationAction) -> bool:
            return (
                (policy is None or action.policy == policy)
                and (payment_id is None or action.payment_id == payment_id)
                and (wanted is None or action.status in wanted)
                and (created_since is None or action.created_at >= created_since)
            )

        return self._select(self._uow.rows(statement, params), keep, limit=limit)


class _RiskStatements:
    """The fraud screening statements (built once per storage, like :class:`Statements`)."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        assessments, lists = tables.risk_assessments, tables.risk_list_entries
        self.assessments = _TableStatements(assessments)
        self.lists = _TableStatements(lists)
        columns = assessments.c
        # The queue of held payments is served by its partial index (revision 0009), which a
        # planner uses only when the query names the state literally, as the index does.
        # Other states are not indexed (nothing lists them): the created_at index, filtered.
        self.held = (
            sql_select(assessments)
            .where(columns.review_state == literal_column(f"'{HELD}'"))
            .order_by(*self.assessments.oldest_first)
            .limit(bindparam("limit"))
        )
        self.by_review_state = (
            sql_select(assessments)
            .where(columns.review_state == bindparam("state"))
            .order_by(*self.assessments.oldest_first)
            .limit(bindparam("limit"))
        )
        self._between: dict[tuple[bool, bool], Select[Any]] = {}
        self._velocity: dict[tuple[tuple[tuple[str, int], ...], int], Select[Any]] = {}
        self._list_members: dict[tuple[int, int], Select[str, str]] = {}
        self._velocity_and_members: dict[
            tuple[tuple[tuple[str, int], ...], int, int, int], CompoundSelect[Any]
        ] = {}
        # A value is looked up as itself and as its blind indexes (encryption at rest): one
        # row at most matches, served by the unique (list_name, value) index.
        self.list_entry = sql_select(lists).where(
            lists.c.list_name == bindparam("list_name"),
            lists.c.value.in_(bindparam("values", expanding=True)),
        )
        self.list_all = sql_select(lists).order_by(*self.lists.oldest_first)
        self.list_named = (
            sql_select(lists)
            .where(lists.c.list_name == bindparam("list_name"))
            .order_by(*self.lists.oldest_first)
        )

    def between(self, *, start: bool, end: bool) -> Select[Any]:
        """Assessments created in ``[start, end)``, oldest first (served by ``created_at``)."""
        key = (start, end)
        statement = self._between.get(key)
        if statement is None:
            table = self.tables.risk_assessments
            statement = sql_select(table)
            if start:
                statement = statement.where(table.c.created_at >= bindparam("start"))
            if end:
                statement = statement.where(table.c.created_at < bindparam("end"))
            statement = statement.order_by(*self.assessments.oldest_first)
            self._between[key] = statement
        return statement

    def list_members(self, names: int, values: int) -> Select[str, str]:
        """Every entry of ``names`` lists holding one of ``values`` values, in one read.

        The pairs asked about are picked out of the rows in Python. Parameters
        ``name_<i>`` and ``value_<i>``.
        """
        statement = self._list_members.get((names, values))
        if statement is None:
            lists = self.tables.risk_list_entries
            statement = sql_select(lists.c.list_name, lists.c.value).where(
                _one_of(lists.c.list_name, "name", names), _one_of(lists.c.value, "value", values)
            )
            self._list_members[names, values] = statement
        return statement

    def velocity_and_members(
        self, keys: tuple[tuple[str, int], ...], windows: int, names: int, values: int
    ) -> CompoundSelect[Any]:
        """:meth:`velocity` and :meth:`list_members` in one read: their rows, ``UNION ALL``.

        A velocity row has ``list_name`` NULL; a list row has NULL where the counters are.
        """
        cache_key = (keys, windows, names, values)
        statement = self._velocity_and_members.get(cache_key)
        if statement is None:
            counted = self.velocity(keys, windows).add_columns(
                null().label("list_name"), null().label("list_value")
            )
            lists = self.tables.risk_list_entries
            nothing = [null()] * (len(counted.selected_columns) - 2)
            listed = sql_select(*nothing, lists.c.list_name, lists.c.value).where(
                _one_of(lists.c.list_name, "name", names), _one_of(lists.c.value, "value", values)
            )
            statement = union_all(counted, listed)
            self._velocity_and_members[cache_key] = statement
        return statement

    def velocity(self, keys: tuple[tuple[str, int], ...], windows: int) -> Select[Any]:
        """Per key, the count, declines and amount of its rows in each window, in one read.

        ``keys`` are the velocity keys, each with the number of values it is looked up as
        (parameters ``<key>_<i>``; more than one with encryption at rest). The rows of the
        widest window, one index scan per key on its ``(key, created_at)`` index joined with
        ``UNION ALL`` and tagged with the key's name; then one ``GROUP BY`` sums each window
        conditionally. A key without rows answers no row.
        """
        cache_key = (keys, windows)
        statement = self._velocity.get(cache_key)
        if statement is None:
            statement = self._velocity_of(keys, windows)
            self._velocity[cache_key] = statement
        return statement

    def _velocity_of(self, keys: tuple[tuple[str, int], ...], windows: int) -> Select[Any]:
        # Written to be short: psycopg caches its parse of a query only up to 4 KiB and 50
        # parameters, and PostgreSQL plans each CASE once here, not once per key (the first
        # form, a whole aggregate per key, was 10 KiB, and planning it cost more than running
        # it). The table goes under a short alias and the CASE's 1 and 0 are literals.
        table = self.tables.risk_assessments.alias("assessed")
        recent = union_all(
            *(
                sql_select(
                    literal_column(f"'{key}'").label("velocity_key"),  # a known name
                    table.c.created_at,
                    table.c.declined,
                    table.c.currency,
                    table.c.amount,
                ).where(
                    # The value and, with encryption at rest, its blind indexes.
                    _one_of(table.c[key], key, count),
                    table.c.created_at >= bindparam("earliest"),
                    table.c.created_at <= bindparam("until"),
                    table.c.id != bindparam("exclude_id"),
                )
                for key, count in keys
            )
        ).subquery("recent")
        one: Any = literal_column("1")
        zero: Any = literal_column("0")
        figures: list[Any] = [recent.c.velocity_key]
        for number in range(windows):
            inside = recent.c.created_at >= bindparam(f"start_{number}")
            in_currency = and_(inside, recent.c.currency == bindparam("currency"))
            figures += [
                func.sum(case((inside, one), else_=zero)).label(f"payments_{number}"),
                func.sum(case((and_(inside, recent.c.declined == true()), one), else_=zero)).label(
                    f"declines_{number}"
                ),
                type_coerce(
                    func.sum(case((in_currency, recent.c.amount), else_=zero)), Amount()
                ).label(f"amount_{number}"),
            ]
        return sql_select(*figures).group_by(recent.c.velocity_key)


def _one_of(column: Any, name: str, count: int) -> Any:  # noqa: ANN401 - a column expression
    """``column IN (:<name>_0, ..., :<name>_<count-1>)``: a fixed number of placeholders.

    Not an expanding parameter: SQLAlchemy renders a statement with one again at every
    execution (regular expressions over its text), which on SQLite cost more than running
    the screening's queries. A statement per count instead, cached by the caller.
    """
    return column.in_([bindparam(f"{name}_{number}") for number in range(count)])


def _numbered(name: str, values: Sequence[Any]) -> dict[str, Any]:
    """The parameters of :func:`_one_of`."""
    return {f"{name}_{number}": value for number, value in enumerate(values)}


class _RiskAssessments(_Repository[RiskAssessment]):
    kind = "risk assessment"

    def find(self, payment_id: str) -> RiskAssessment | None:
        return self.find_by_id(payment_id)

    def list_by_review_state(
        self, state: ReviewState, *, limit: int | None = None
    ) -> Sequence[RiskAssessment]:
        if limit is not None and limit <= 0:
            return []
        # No limit means all of them: the queue is read whole, a bound keeps the plan generic.
        params = {"state": str(state), "limit": _ALL if limit is None else self._overscan(limit)}
        statements = self._uow.statements.risk
        held = state is ReviewState.PENDING
        rows = self._uow.rows(statements.held if held else statements.by_review_state, params)
        return self._select(rows, lambda a: a.review_state is state, limit=limit)

    def list_created_between(
        self, start: datetime | None, end: datetime | None
    ) -> Sequence[RiskAssessment]:
        statement = self._uow.statements.risk.between(start=start is not None, end=end is not None)
        params: dict[str, Any] = {}
        if start is not None:
            params["start"] = start
        if end is not None:
            params["end"] = end

        def keep(assessment: RiskAssessment) -> bool:
            return (start is None or assessment.created_at >= start) and (
                end is None or assessment.created_at < end
            )

        return self._select(self._uow.rows(statement, params), keep)

    def velocity(
        self,
        values: Mapping[str, str],
        *,
        windows: Sequence[datetime],
        until: datetime,
        currency: str,
        exclude_id: str | None = None,
    ) -> dict[str, list[VelocityCount]]:
        lookup = self._velocity_lookup(values, windows, until, currency, exclude_id)
        return self._counts(lookup, values, len(windows))

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
        risk_lists = self._uow.risk_lists
        velocity = self._velocity_lookup(values, windows, until, currency, exclude_id)
        members = risk_lists.members_lookup(lists)
        if velocity is None or members is None:  # one side reads nothing: no union to make
            counts = self._counts(velocity, values, len(windows))
            return counts, risk_lists.members_read(members, lists)
        keys, params = velocity
        names, stored_as, list_params = members
        statement = self._uow.statements.risk.velocity_and_members(
            keys, len(windows), len(names), len(stored_as)
        )
        rows = self._uow.rows(statement, params | list_params)
        counted = [row for row in rows if row["list_name"] is None]
        listed = [row for row in rows if row["list_name"] is not None]
        return (
            _velocity_counts(counted, values, len(windows)),
            risk_lists.members_found(lists, stored_as, listed, value_column="list_value"),
        )

    def _counts(
        self,
        lookup: tuple[tuple[tuple[str, int], ...], dict[str, Any]] | None,
        values: Mapping[str, str],
        windows: int,
    ) -> dict[str, list[VelocityCount]]:
        """The velocity read of ``lookup`` (see :meth:`_velocity_lookup`), as counts."""
        if lookup is None:
            return {key: [] for key in values}
        keys, params = lookup
        rows = self._uow.rows(self._uow.statements.risk.velocity(keys, windows), params)
        return _velocity_counts(rows, values, windows)

    def _velocity_lookup(
        self,
        values: Mapping[str, str],
        windows: Sequence[datetime],
        until: datetime,
        currency: str,
        exclude_id: str | None,
    ) -> tuple[tuple[tuple[str, int], ...], dict[str, Any]] | None:
        """The velocity statement's keys and parameters; ``None`` when there is nothing to read."""
        unknown = set(values) - set(VELOCITY_KEYS)
        if unknown:
            msg = f"velocity keys are {', '.join(VELOCITY_KEYS)}, not {sorted(unknown)}"
            raise ValueError(msg)
        if not values or not windows:
            return None
        params: dict[str, Any] = {
            "earliest": min(windows),
            "until": until,
            "currency": currency,
            "exclude_id": exclude_id or "",
        }
        lookups = self._uow.encryption.lookup_values
        keys = []
        for key in sorted(values):
            value = values[key]
            looked_up = [value] if key == "customer_id" else lookups("risk_assessments", key, value)
            params.update(_numbered(key, looked_up))
            keys.append((key, len(looked_up)))
        for number, start in enumerate(windows):
            params[f"start_{number}"] = start
        return tuple(keys), params


def _velocity_counts(
    rows: Sequence[RowMapping], values: Mapping[str, str], windows: int
) -> dict[str, list[VelocityCount]]:
    """The velocity statement's rows as counts per key; a key without rows counts zeros."""
    counts = {key: [VelocityCount(0, 0, Decimal(0)) for _ in range(windows)] for key in values}
    for row in rows:
        counts[row["velocity_key"]] = [
            VelocityCount(
                int(row[f"payments_{number}"]),
                int(row[f"declines_{number}"]),
                row[f"amount_{number}"],
            )
            for number in range(windows)
        ]
    return counts


class _RiskLists(_Repository[RiskListEntry]):
    kind = "risk list entry"

    def find(self, list_name: str, value: str) -> RiskListEntry | None:
        for entry in self.added.values():
            if entry.list_name == list_name and entry.value == value:
                return entry
        values = self._uow.encryption.lookup_values("risk_list_entries", "value", value)
        rows = self._uow.rows(
            self._uow.statements.risk.list_entry, {"list_name": list_name, "values": values}
        )
        return self._found(rows)

    def members(self, wanted: Mapping[str, Sequence[str]]) -> dict[str, set[str]]:
        return self.members_read(self.members_lookup(wanted), wanted)

    def members_read(
        self,
        lookup: tuple[list[str], dict[str, str], dict[str, Any]] | None,
        wanted: Mapping[str, Sequence[str]],
    ) -> dict[str, set[str]]:
        """The membership read of ``lookup`` (see :meth:`members_lookup`), as memberships."""
        if lookup is None:
            return self.members_found(wanted, {}, [])
        names, stored_as, params = lookup
        statement = self._uow.statements.risk.list_members(len(names), len(stored_as))
        return self.members_found(wanted, stored_as, self._uow.rows(statement, params))

    def members_lookup(
        self, wanted: Mapping[str, Sequence[str]]
    ) -> tuple[list[str], dict[str, str], dict[str, Any]] | None:
        """What the membership read of ``wanted`` needs; ``None`` when there is nothing to read.

        The list names, what the value column may hold (-> the value asked about), and the
        statement's parameters.
        """
        every_value = sorted({value for values in wanted.values() for value in values})
        if not every_value:
            return None
        lookups = self._uow.encryption.lookup_values
        stored_as = {
            candidate: value
            for value in every_value
            for candidate in lookups("risk_list_entries", "value", value)
        }
        names = sorted(wanted)
        return names, stored_as, _numbered("name", names) | _numbered("value", sorted(stored_as))

    def members_found(
        self,
        wanted: Mapping[str, Sequence[str]],
        stored_as: Mapping[str, str],
        rows: Sequence[RowMapping],
        value_column: str = "value",
    ) -> dict[str, set[str]]:
        """The membership read's ``rows``, with this unit's staged entries laid over them."""
        found: dict[str, set[str]] = {name: set() for name in wanted}
        for row in rows:
            found[row["list_name"]].add(stored_as[row[value_column]])
        for entry in self.removed.values():
            found.get(entry.list_name, set()).discard(entry.value)
        for entry in self.added.values():
            if entry.list_name in found:
                found[entry.list_name].add(entry.value)
        return {name: values & set(wanted[name]) for name, values in found.items()}

    def list(self, list_name: str | None = None) -> Sequence[RiskListEntry]:
        statements = self._uow.statements.risk
        if list_name is None:
            rows = self._uow.rows(statements.list_all, {})
        else:
            rows = self._uow.rows(statements.list_named, {"list_name": list_name})
        return self._select(rows, lambda e: list_name is None or e.list_name == list_name)


def _in_commit_order(message: OutboxMessage) -> int:
    """The outbox's order key before ``seq``: none, so by ``seq`` alone (staged ones last)."""
    del message
    return 0


class _Outbox(_Repository[OutboxMessage]):
    """Host events waiting for delivery; an update writes the delivery bookkeeping only."""

    kind = "outbox message"

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401 - the base's arguments
        super().__init__(*args, **kwargs)
        self.acked: dict[str, datetime] = {}
        """Ids acknowledged in this unit, and when."""

    def acknowledge(self, deliveries: Mapping[str, datetime]) -> None:
        self.acked.update(deliveries)

    def forget(self) -> None:
        """Drop the staged writes, the acknowledgements and what this unit has read."""
        super().forget()
        if self.acked:
            self.acked.clear()

    def list_pending(
        self, *, payment_id: str | None = None, limit: int | None = None
    ) -> Sequence[OutboxMessage]:
        return self.list(status=OutboxStatus.PENDING, payment_id=payment_id, limit=limit)

    def list(
        self,
        *,
        status: OutboxStatus | None = None,
        payment_id: str | None = None,
        limit: int | None = None,
    ) -> Sequence[OutboxMessage]:
        if limit is not None and limit <= 0:
            return []
        statement = self._uow.statements.outbox.listing(
            status=status is not None, payment=payment_id is not None, limit=limit is not None
        )
        params: dict[str, Any] = {}
        if status is not None:
            params["status"] = str(status)
        if payment_id is not None:
            params["payment_id"] = payment_id
        if limit is not None:
            params["limit"] = self._overscan(limit)
        return self._select(
            self._uow.rows(statement, params),
            lambda m: (
                (status is None or m.status == status)
                and (payment_id is None or m.payment_id == payment_id)
            ),
            limit=limit,
        )

    def plan(
        self, steps: builtins.list[_Step], versions: builtins.list[tuple[OutboxMessage, int]]
    ) -> None:
        """Deletes, then updates of the bookkeeping columns, then one insert of every message.

        A delivery never rewrites the event: an acknowledgement is a short ``UPDATE``, even
        for a message this unit did not read.
        """
        statements = self._statements
        if self.acked:
            acks = [
                {"message_id": message_id, "acknowledged_at": self.acked[message_id]}
                for message_id in sorted(self.acked)  # a fixed order, as for updates
            ]
            statement = self._uow.statements.outbox.acknowledge
            steps.append(_Step(statement, acks[0] if len(acks) == 1 else acks))
        for message in sorted(self.removed.values(), key=lambda message: message.id):
            params = {"match_id": message.id, "match_version": message.version}
            steps.append(_Step(statements.delete, params, expect=1))
        for message in self._changed_in_write_order():
            version = message.version + 1
            row = _codec.outbox_progress_row(message, version)
            row["match_id"] = message.id
            row["match_version"] = message.version
            steps.append(_Step(statements.update, row, expect=1))
            versions.append((message, version))
        if self.added:
            uow = self._uow
            committing = {
                record_id
                for repository in (uow.payments, uow.refunds, uow.disputes)
                for record_id in (*repository.added, *repository.changed)
            }
            encode: Callable[..., dict[str, Any]] = self._encode  # it takes ``committing`` too
            rows = []
            for message in self.added.values():
                version = message.version + 1
                rows.append(encode(message, version, committing))
                versions.append((message, version))
            steps.append(_Step(statements.insert, rows[0] if len(rows) == 1 else rows))


class _TransactionLog:
    """The append-only audit log: entries are inserted, never updated or deleted."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self.staged: list[TransactionLogEntry] = []

    def append(self, entry: TransactionLogEntry) -> None:
        """Stage a new entry."""
        self.staged.append(entry)

    def list_for_payment(self, payment_id: str) -> Sequence[TransactionLogEntry]:
        """Every entry of ``payment_id`` in the order written, then this unit's staged ones."""
        rows = self._uow.rows(self._uow.statements.log_of_payment, {"payment_id": payment_id})
        written = [self._uow.decode_entry(row) for row in rows]
        return written + [entry for entry in self.staged if entry.payment_id == payment_id]


class SqlUnitOfWork:
    """A unit of work over :class:`~paykit.storage.sql.SqlStorage` (see the module docstring).

    ``connect`` checks out an autocommit connection; ``begin`` is the statement that opens
    a write transaction (``BEGIN IMMEDIATE`` on SQLite); ``batch`` sends a commit's last
    writes together where the driver can (``_pipeline``).
    """

    def __init__(
        self,
        statements: Statements,
        connect: Callable[[], Connection],
        begin: str,
        codecs: RowCodecs = PLAINTEXT,
        batch: Batch = unbatched,
    ) -> None:
        self.statements = statements
        self._codecs = codecs
        # Sensitive columns are sealed and opened around the codec (paykit.storage.sql._encryption).
        self.encode_entry = codecs.encoder("transaction_log", _codec.entry_row)
        self.decode_entry = codecs.decoder("transaction_log", _codec.entry_from_row)
        self._connect = connect
        self._begin = begin
        self._batch = batch
        self._connection: Connection | None = None
        self.payment_methods = _PaymentMethods(
            self,
            statements.methods,
            codecs.decoder("payment_methods", _codec.method_from_row),
            codecs.encoder("payment_methods", _codec.method_row),
        )
        self.payments = _Payments(
            self,
            statements.payments,
            codecs.decoder("payments", _codec.payment_from_row),
            codecs.encoder("payments", _codec.payment_row),
        )
        self.refunds = _Refunds(
            self,
            statements.refunds,
            codecs.decoder("refunds", _codec.refund_from_row),
            codecs.encoder("refunds", _codec.refund_row),
        )
        self.transaction_log = _TransactionLog(self)
        self.disputes = _Disputes(
            self, statements.disputes, _codec.dispute_from_row, _codec.dispute_row
        )
        self.webhook_inbox = _WebhookInbox(
            self,
            statements.inbox,
            codecs.decoder("webhook_inbox", _codec.inbox_entry_from_row),
            codecs.encoder("webhook_inbox", _codec.inbox_entry_row),
            _BY_RECEIVED,
        )
        self.idempotent_requests = _IdempotentRequests(
            self,
            statements.idempotent,
            codecs.decoder("idempotent_requests", _codec.idempotent_request_from_row),
            codecs.encoder("idempotent_requests", _codec.idempotent_request_row),
            _BY_EXPIRY,
        )
        self.automation_actions = _AutomationActions(
            self,
            statements.automation,
            _codec.automation_action_from_row,
            _codec.automation_action_row,
        )
        self.encryption = codecs.fields
        """Blind indexes for the fraud lookups (velocity counters, list membership)."""
        self.risk_assessments = _RiskAssessments(
            self,
            statements.risk.assessments,
            codecs.decoder("risk_assessments", _codec.risk_assessment_from_row),
            codecs.encoder("risk_assessments", _codec.risk_assessment_row),
        )
        self.risk_lists = _RiskLists(
            self,
            statements.risk.lists,
            codecs.decoder("risk_list_entries", _codec.risk_list_entry_from_row),
            codecs.encoder("risk_list_entries", _codec.risk_list_entry_row),
        )
        # Through the codec hook, as the other tables: encryption at rest can seal ``event``.
        self.outbox = _Outbox(
            self,
            statements.outbox,
            codecs.decoder("outbox", statements.outbox_decoder),
            codecs.encoder("outbox", _codec.outbox_message_row),
            _in_commit_order,
        )
        self._repositories: tuple[_Repository[Any], ...] = (
            self.payment_methods,
            self.payments,
            self.refunds,
            self.disputes,
            self.webhook_inbox,
            self.idempotent_requests,
            self.automation_actions,
            self.risk_assessments,
            self.risk_lists,
            self.outbox,
        )
        """In foreign-key order: the order a commit writes them in."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    def has_stale_reads(self) -> bool:
        """Whether another unit has changed or removed a row read here (see the contract)."""
        return any(repository.has_stale_reads() for repository in self._repositories)

    def rows(self, statement: Executable, params: Mapping[str, Any]) -> Sequence[RowMapping]:
        """Run one read in autocommit mode and return its rows."""
        connection = self._connection
        if connection is None:
            connection = self._connection = self._connect()
        return connection.execute(statement, params).mappings().all()

    def commit(self) -> None:
        """Write everything staged in one transaction, or raise ``ConcurrencyConflict``."""
        steps: list[_Step] = []
        versions: list[tuple[Any, int]] = []
        new_keys = self._codecs.new_keys()  # customer data keys sealing creates, written first
        try:
            for repository in self._repositories:
                repository.plan(steps, versions)
            if self.transaction_log.staged:
                rows = [self.encode_entry(entry) for entry in self.transaction_log.staged]
                steps.append(_Step(self.statements.log_insert, rows[0] if len(rows) == 1 else rows))
            if new_keys.rows:
                steps.insert(0, _Step(new_keys.insert, new_keys.rows))
            if steps:
                self._write(steps)
            new_keys.written()
        finally:
            new_keys.close()
            self.rollback()  # written or not, the staging area is spent; release the connection
        for record, version in versions:
            record.version = version

    def rollback(self) -> None:
        """Forget everything staged and return the connection to the pool."""
        for repository in self._repositories:
            repository.forget()
        self.transaction_log.staged.clear()
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _write(self, steps: list[_Step]) -> None:
        connection = self._connection
        if connection is None:
            connection = self._connection = self._connect()
        try:
            if len(steps) == 1 and not isinstance(steps[0].params, list):
                _run(connection, steps[0])  # one statement, one row: atomic without BEGIN
                return
            # Checked writes wait for their row counts; what follows the last of them goes
            # with the COMMIT in one batch (a round trip on PostgreSQL: see _pipeline).
            checked = max(
                (n + 1 for n, step in enumerate(steps) if step.expect is not None), default=0
            )
            try:
                if checked:
                    connection.exec_driver_sql(self._begin)
                    for step in steps[:checked]:
                        _run(connection, step)
                batched = steps[checked:]
                with self._batch(connection, [step.statement for step in batched]):
                    if not checked:
                        connection.exec_driver_sql(self._begin)
                    for step in batched:
                        _run(connection, step)
                    connection.exec_driver_sql("COMMIT")
            except BaseException:
                _roll_back(connection)
                raise
        except DBAPIError as error:
            if is_conflict(error):
                reason = str(error.orig).splitlines()[0]  # the first line names no values
                msg = f"another unit of work committed first ({reason}); retry"
                raise ConcurrencyConflict(msg) from error
            raise


def _run(connection: Connection, step: _Step) -> None:
    result = connection.execute(step.statement, step.params)
    if step.expect is not None and result.rowcount != step.expect:
        table = getattr(step.statement, "table", None)
        kind = getattr(table, "name", "record")
        record_id = step.params["match_id"] if isinstance(step.params, dict) else "?"
        msg = f"{kind} row {record_id} was changed or removed by another unit of work; retry"
        raise ConcurrencyConflict(msg)


def _roll_back(connection: Connection) -> None:
    """End a failed write transaction; a connection that cannot is thrown away."""
    if connection.invalidated:  # thrown away already (a failed batch: see _pipeline)
        return
    try:
        connection.exec_driver_sql("ROLLBACK")
    except DBAPIError:
        connection.invalidate()
