"""The analytics over :class:`~paykit.storage.sql.SqlStorage`: ``GROUP BY`` in the database.

Rows are never loaded into Python: each query returns one row per group (and, on SQLite
with a time zone other than UTC, one row per group and 15-minute UTC slot, see below).

Time buckets:

* PostgreSQL: ``date_trunc(unit, timezone(zone, created_at))``, the database's own time-zone
  rules, so day buckets at a daylight-saving change are right.
* SQLite has no time zones. In UTC the bucket is cut from the stored UTC text. In any other
  zone, converting with one fixed offset would put the hours next to a daylight-saving
  change in the wrong day, so the database groups by 15-minute UTC slot (every zone's
  offset, and every change of it, falls on a quarter hour) and Python rolls the slots up
  into local buckets with ``zoneinfo``. That is at most 96 rows per group and day.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Integer,
    Numeric,
    Row,
    Select,
    and_,
    cast,
    extract,
    func,
    literal_column,
    select,
    text,
    type_coerce,
)
from sqlalchemy.types import TypeEngine

from paykit.analytics._buckets import bucket_start
from paykit.analytics._memory import MemorySums, PaymentSums, ReasonSums
from paykit.analytics._model import (
    PAYMENT_AMOUNTS,
    PAYMENT_COUNTS,
    SUCCEEDED_STATUSES,
    AnalyticsQuery,
    Dimension,
    RawKey,
)
from paykit.domain.dispute import DisputeStatus
from paykit.domain.payment import PaymentStatus
from paykit.domain.refund import RefundStatus
from paykit.domain.risk import FRAUD_BLOCKED, ReviewState, RiskAction
from paykit.storage.sql import SqlStorage
from paykit.storage.sql._codec import AMOUNT_SCALE
from paykit.storage.sql._schema import THREE_DS

__all__ = ["QUERY_CONNECTIONS", "payment_statement", "sql_sums", "three_ds_statement"]

_SLOT: Final = "slot"
_WORK_MEM: Final = "64MB"
QUERY_CONNECTIONS: Final = 2
"""How many connections one report uses at once (see :func:`_run_side_by_side`)."""
_PG_UNITS: Final = {
    Dimension.HOUR: "hour",
    Dimension.DAY: "day",
    Dimension.WEEK: "week",
    Dimension.MONTH: "month",
}
_SQLITE_FORMATS: Final = {
    Dimension.HOUR: "%Y-%m-%d %H",
    Dimension.DAY: "%Y-%m-%d",
    Dimension.WEEK: "%Y-%m-%d",
    Dimension.MONTH: "%Y-%m",
}


class _Dialect:
    """What differs between SQLite and PostgreSQL: epochs, buckets and raw amounts."""

    def __init__(self, name: str, query: AnalyticsQuery) -> None:
        self.sqlite = name == "sqlite"
        self.query = query
        self.time = query.time_dimension
        self.rolls_up = self.sqlite and query.time_zone != "UTC"
        self.amount_type: TypeEngine[Any] = BigInteger() if self.sqlite else Numeric(asdecimal=True)

    def epoch(self, column: ColumnElement[Any]) -> ColumnElement[int]:
        """Whole seconds since 1970, rounded down, of a stored UTC datetime."""
        if self.sqlite:
            return cast(func.strftime("%s", column), BigInteger)
        return cast(func.floor(extract("epoch", column)), BigInteger)

    def bucket(self, created_at: ColumnElement[Any]) -> ColumnElement[Any] | None:  # noqa: PLR0911
        """The bucket (or, rolled up later, slot) expression of the query's time dimension."""
        time = self.query.time_dimension
        if time is None:
            return None
        if not self.sqlite:
            local = func.timezone(self.query.time_zone, created_at)
            return type_coerce(func.date_trunc(_PG_UNITS[time], local), DateTime())
        if self.rolls_up:  # "YYYY-MM-DD HH:" and the slot's first minute
            minute = cast(func.substr(created_at, 15, 2), Integer)
            return func.substr(created_at, 1, 14).op("||")(func.printf("%02d", minute / 15 * 15))
        if time is Dimension.HOUR:
            return func.substr(created_at, 1, 13)
        if time is Dimension.MONTH:
            return func.substr(created_at, 1, 7)
        day = func.substr(created_at, 1, 10)
        if time is Dimension.DAY:
            return day
        back = (cast(func.strftime("%w", day), Integer) + 6) % 7  # days since Monday
        return func.date(day, func.printf("-%d days", back))

    def bucket_value(self, value: Any) -> datetime | None:  # noqa: ANN401 - a driver value
        """The naive local bucket start of a row's bucket column."""
        time = self.time
        if time is None or value is None:
            return None
        if not self.sqlite:
            return value.replace(tzinfo=None) if isinstance(value, datetime) else None
        if self.rolls_up:
            slot = datetime.strptime(value, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
            return bucket_start(slot, time, ZoneInfo(self.query.time_zone))
        return datetime.strptime(value, _SQLITE_FORMATS[time])  # noqa: DTZ007 - naive local key

    def amount(self, value: Any) -> Decimal:  # noqa: ANN401 - a driver value
        """A summed amount column as a ``Decimal`` in the currency's units."""
        if value is None:
            return Decimal(0)
        if self.sqlite:
            return Decimal(int(value)).scaleb(-AMOUNT_SCALE)
        return Decimal(value)

    def money_sum(
        self, expression: ColumnElement[Any], *, where: ColumnElement[bool] | None = None
    ) -> ColumnElement[Any]:
        """``SUM`` of an amount column (of the rows ``where`` holds), read back raw."""
        total = func.sum(expression) if where is None else func.sum(expression).filter(where)
        return type_coerce(total, self.amount_type)


def _key_columns(
    storage: SqlStorage, dialect: _Dialect
) -> list[tuple[Dimension | None, ColumnElement[Any]]]:
    p = storage.tables.payments
    query = dialect.query
    columns: list[tuple[Dimension | None, ColumnElement[Any]]] = [(None, p.c.currency)]
    for dimension, column in (
        (Dimension.PROVIDER, p.c.provider),
        (Dimension.METHOD, p.c.payment_method_type),
        (Dimension.STATUS, p.c.status),
        (Dimension.DECLINE_CODE, p.c.failure_code),
    ):
        if query.splits(dimension):
            columns.append((dimension, column))
    bucket = dialect.bucket(p.c.created_at)
    if bucket is not None:
        columns.append((query.time_dimension, bucket.label(_SLOT)))
    return columns


def _filters(storage: SqlStorage, query: AnalyticsQuery) -> list[ColumnElement[bool]]:
    p = storage.tables.payments
    filters: list[ColumnElement[bool]] = []
    if query.since is not None:
        filters.append(p.c.created_at >= query.since)
    if query.until is not None:
        filters.append(p.c.created_at < query.until)
    if query.currency is not None:
        filters.append(p.c.currency == query.currency)
    return filters


def _raw_key(
    row: Sequence[Any], columns: Sequence[tuple[Dimension | None, Any]], dialect: _Dialect
) -> RawKey:
    values: dict[Dimension | None, Any] = {}
    for (dimension, _), value in zip(columns, row, strict=False):
        values[dimension] = value
    time = dialect.time
    return (
        row[0],
        values.get(Dimension.PROVIDER),
        values.get(Dimension.METHOD),
        values.get(Dimension.STATUS),
        values.get(Dimension.DECLINE_CODE),
        dialect.bucket_value(values.get(time)) if time is not None else None,
    )


def payment_statement(storage: SqlStorage, query: AnalyticsQuery) -> Select[Any]:
    """The main ``GROUP BY`` over payments (exposed for plan tests)."""
    return _statements(storage, _Dialect(storage.engine.dialect.name, query))[0][0][0]


def three_ds_statement(storage: SqlStorage, query: AnalyticsQuery) -> Select[Any]:
    """The ``GROUP BY`` over payments asked for 3-D Secure (exposed for plan tests)."""
    return _statements(storage, _Dialect(storage.engine.dialect.name, query))[0][1][0]


_Statement = tuple[Select[Any], tuple[int, ...], tuple[int, ...]]
"""A statement, and where its count and amount columns go in the model's sums."""


def _statements(
    storage: SqlStorage, dialect: _Dialect
) -> tuple[list[_Statement], Select[Any], list[tuple[Dimension | None, ColumnElement[Any]]]]:
    """The ``GROUP BY`` statements, all grouped by the same key.

    Four over payments (alone, with 3-D Secure, with disputes, with their fraud screening)
    and one over completed refunds by reason.
    Each joins the few records it needs to their payment (by its unique id), rather than
    joining every payment to per-payment aggregates: refunds, disputes and 3-D Secure
    entries are a small share of payments.
    """
    t = storage.tables
    p, r, d, log = t.payments, t.refunds, t.disputes, t.transaction_log
    risk = t.risk_assessments
    keys = _key_columns(storage, dialect)
    key_expressions = [expression for _, expression in keys]
    filters = _filters(storage, dialect.query)
    completed = p.c.status.in_(sorted(str(s) for s in SUCCEEDED_STATUSES))
    failed = p.c.status == str(PaymentStatus.FAILED)
    cancelled = p.c.status == str(PaymentStatus.CANCELLED)
    processed = p.c.attempt_count > 0
    count_index = {name: i for i, name in enumerate(PAYMENT_COUNTS)}
    amount_index = {name: i for i, name in enumerate(PAYMENT_AMOUNTS)}

    def flag(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        # COUNT(*) FILTER (WHERE ...) rather than SUM(CASE ...): measured 6-12 % faster at a
        # million payments (SQLite >= 3.30 and PostgreSQL both have it).
        return func.count().filter(condition)

    def grouped(source: Any, *columns: ColumnElement[Any]) -> Select[Any]:  # noqa: ANN401
        return (
            select(*key_expressions, *columns)
            .select_from(source)
            .where(*filters)
            .group_by(*key_expressions)
        )

    payments = grouped(
        p,
        func.count(),
        flag(processed),
        flag(completed),
        flag(failed),
        flag(cancelled),
        flag(and_(completed, p.c.attempt_count == 1)),
        flag(and_(failed, p.c.failure_code == FRAUD_BLOCKED)),
        dialect.money_sum(p.c.amount, where=processed),
        dialect.money_sum(p.c.captured_amount),
        dialect.money_sum(p.c.amount, where=failed),
        dialect.money_sum(p.c.refunded_amount),
        dialect.money_sum(p.c.chargeback_amount),
    )
    asked = (  # the status literally, so that the partial index ix_..._three_ds serves it
        select(log.c.payment_id)
        .where(log.c.new_status == literal_column(f"'{THREE_DS}'"))
        .distinct()
        .subquery("analytics_3ds")
    )
    three_ds = grouped(
        p.join(asked, asked.c.payment_id == p.c.id),
        func.count(),
        flag(completed),
        flag(cancelled),
    )
    lost = d.c.status == str(DisputeStatus.LOST)
    disputes = grouped(
        d.join(p, d.c.payment_id == p.c.id).outerjoin(risk, risk.c.id == p.c.id),
        func.count(),
        flag(d.c.status == str(DisputeStatus.WON)),
        flag(lost),
        flag(risk.c.decision == str(RiskAction.ALLOW)),
        dialect.money_sum(d.c.amount, where=lost),
    )
    review = risk.c.review_state
    screenings = grouped(  # one row per screened payment: its id is the payment's
        risk.join(p, risk.c.id == p.c.id),
        flag(risk.c.decision.is_not(None)),
        flag(review != str(ReviewState.NONE)),
        flag(review == str(ReviewState.APPROVED)),
        flag(review == str(ReviewState.REJECTED)),
    )
    by_policy = t.automation_actions.c.refund_id.is_not(None)  # a policy made the refund
    reasons = (
        select(
            *key_expressions,
            r.c.reason,
            func.count(),
            dialect.money_sum(r.c.amount),
            func.sum(dialect.epoch(r.c.created_at) - dialect.epoch(p.c.created_at)),
            func.count().filter(by_policy),
            dialect.money_sum(r.c.amount, where=by_policy),
        )
        .select_from(
            r.join(p, r.c.payment_id == p.c.id).outerjoin(
                t.automation_actions, t.automation_actions.c.refund_id == r.c.id
            )
        )
        .where(r.c.status == str(RefundStatus.COMPLETED), *filters)
        .group_by(*key_expressions, r.c.reason)
    )
    c, a = count_index, amount_index
    statements: list[_Statement] = [
        (
            payments,
            tuple(
                c[n]
                for n in (
                    "created",
                    "processed",
                    "completed",
                    "failed",
                    "cancelled",
                    "first_attempt_completed",
                    "fraud_blocked",
                )
            ),
            tuple(
                a[n]
                for n in (
                    "attempted_amount",
                    "captured_amount",
                    "failed_amount",
                    "refunded_amount",
                    "chargeback_amount",
                )
            ),
        ),
        (three_ds, (c["three_ds"], c["three_ds_completed"], c["three_ds_abandoned"]), ()),
        (
            disputes,
            (c["disputes"], c["disputes_won"], c["disputes_lost"], c["disputes_on_allowed"]),
            (a["dispute_lost_amount"],),
        ),
        (
            screenings,
            (
                c["screened"],
                c["fraud_reviewed"],
                c["reviews_approved"],
                c["reviews_rejected"],
            ),
            (),
        ),
    ]
    return statements, reasons, keys


def sql_sums(storage: SqlStorage, query: AnalyticsQuery) -> MemorySums:
    """Sum every figure per group in the database: five ``GROUP BY`` statements."""
    dialect = _Dialect(storage.engine.dialect.name, query)
    statements, reason_statement, keys = _statements(storage, dialect)
    width = len(keys)
    sums: PaymentSums = {}
    reasons: ReasonSums = {}

    def entry(key: RawKey) -> tuple[list[int], list[Decimal]]:
        found = sums.get(key)
        if found is None:
            found = sums[key] = ([0] * len(PAYMENT_COUNTS), [Decimal(0)] * len(PAYMENT_AMOUNTS))
        return found

    refund_count = PAYMENT_COUNTS.index("refund_count")
    refund_seconds = PAYMENT_COUNTS.index("refund_seconds")
    automated_refunds = PAYMENT_COUNTS.index("automated_refunds")
    automated_amount = PAYMENT_AMOUNTS.index("automated_refunded_amount")
    *payment_rows, reason_rows = _run_side_by_side(
        storage, dialect, [statement for statement, _, _ in statements] + [reason_statement]
    )
    for (_, count_slots, amount_slots), rows in zip(statements, payment_rows, strict=True):
        for row in rows:
            counts, amounts = entry(_raw_key(row, keys, dialect))
            values = row[width:]
            for slot, value in zip(count_slots, values, strict=False):
                counts[slot] += int(value or 0)
            for slot, value in zip(amount_slots, values[len(count_slots) :], strict=True):
                amounts[slot] += dialect.amount(value)
    for row in reason_rows:
        key = _raw_key(row, keys, dialect)
        reason, count, amount, seconds = (
            row[width],
            int(row[width + 1]),
            row[width + 2],
            row[width + 3],
        )
        seconds = int(seconds or 0)
        old_count, old_amount, old_seconds = reasons.get((key, reason), (0, Decimal(0), 0))
        reasons[key, reason] = (
            old_count + count,
            old_amount + dialect.amount(amount),
            old_seconds + seconds,
        )
        counts, amounts = entry(key)
        counts[refund_count] += count
        counts[refund_seconds] += seconds
        counts[automated_refunds] += int(row[width + 4])
        amounts[automated_amount] += dialect.amount(row[width + 5])
    return sums, reasons


def _run_side_by_side(
    storage: SqlStorage, dialect: _Dialect, statements: Sequence[Select[Any]]
) -> list[Sequence[Row[Any]]]:
    """Each statement's rows (a few thousand groups at most), in order.

    Run on :data:`QUERY_CONNECTIONS` connections at once: the big scan of payments takes
    most of the time and the other statements fit beside it (measured at a million payments
    on 2 cores: SQLite 3.4 -> 2.6 s, PostgreSQL 2.4 -> 1.8 s). Nothing is lost by it: each
    statement already saw its own snapshot, as paykit's engines autocommit.
    """

    def rows_of(statement: Select[Any]) -> Sequence[Row[Any]]:
        with storage.engine.connect() as connection:
            if not dialect.sqlite:
                # For this transaction only: room for the hash aggregate of a large report
                # (with the default 4 MB it spills its groups to disk), and no JIT
                # compilation, which costs more than it saves on these short scans.
                connection.execute(text(f"SET LOCAL work_mem = '{_WORK_MEM}'"))
                connection.execute(text("SET LOCAL jit = off"))
            return connection.execute(statement).all()

    with ThreadPoolExecutor(QUERY_CONNECTIONS, thread_name_prefix="paykit-analytics") as pool:
        return list(pool.map(rows_of, statements))
