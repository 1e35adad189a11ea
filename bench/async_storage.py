"""AsyncPaymentService's storage: sync units of work in worker threads, or an asyncio engine.

Issue #16 left two ways for the async service to reach its database: the sync units of
work run off the event loop in worker threads (what paykit does), or SQLAlchemy's asyncio
engine (``aiosqlite`` for SQLite, psycopg's async mode for PostgreSQL). This script runs
the same units of work both ways, in the same run, on paykit's real tables and codecs:

* create: read the payment method; ``BEGIN``, insert the payment and its log entry, ``COMMIT``
* claim: read the payment; ``BEGIN``, update it to ``processing`` and log it, ``COMMIT``
* record: read the payment; ``BEGIN``, update it to ``completed`` and log it, ``COMMIT``

-- as many statements (15) and write transactions (3) as ``PaymentService.create_payment``
+ ``process_payment`` run on SQL storage (``BEGIN IMMEDIATE`` on SQLite; every update checks
the version it read), in simpler reads: paykit's claim also joins the payment method, its
record also asks whether a webhook event waits.

Each unit is written once, as a generator of statements, and carried out by a sync driver
(``Connection``) or an async one (``AsyncConnection``): the two paths differ in nothing but
how the statements reach the database. N payments, ``--concurrency`` at a time, wait
``--latency`` seconds (``anyio.sleep``, on the event loop: the provider) between claim and
record. Printed per store, as wall time / latency bound (N x latency / concurrency):

* **threads**: each unit in a worker thread (``anyio.to_thread``, ``--threads`` tokens,
  anyio's default 40), on a sync engine -- today's path;
* **asyncio engine**: each unit awaited on the event loop, on ``create_async_engine``;
* **serial**: the same units one at a time in one thread, no latency. Its CPU time is the
  **storage floor**: the GIL lets one process run Python on one core at a time, so no
  concurrency brings the wall time of those units below it (on PostgreSQL the server's own
  CPU shares the machine's cores too).

Both engines have ``--pool`` connections (no overflow), autocommit reads and one explicit
write transaction per unit, as paykit's units of work do. Repetitions are interleaved
(threads, asyncio, serial, threads, ...) so the noise of a shared machine falls on all
three alike; each figure is the best of ``--repeat``, with the worst beside it. Every run
checks that each payment ended ``completed`` with three log entries. Run::

    python bench/async_storage.py [--payments 1000] [--concurrency 100] [--latency 0.05]

``--threads`` and ``--pool`` change the worker threads and connections, ``--paths`` and
``--storages`` choose what runs (default: everything, about 100 s on two busy cores).

PostgreSQL runs when ``PAYKIT_TEST_POSTGRES_URL`` is set, in a schema of its own dropped
at the end. The asyncio path needs ``greenlet`` and, for SQLite, ``aiosqlite``; without
them it is reported as skipped.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Final, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import (
    URL,
    Engine,
    Executable,
    Insert,
    RowMapping,
    Select,
    Update,
    bindparam,
    create_engine,
    event,
    func,
    make_url,
    select,
)
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from storage import postgres_schema  # bench/storage.py

from paykit._defaults import new_id, utc_now
from paykit.domain.payment import Payment, PaymentStatus
from paykit.domain.payment_method import PaymentMethod, PaymentMethodType
from paykit.domain.transaction_log import LogType, TransactionLogEntry
from paykit.money import Money
from paykit.storage.sql import SqlStorage, _codec
from paykit.storage.sql._schema import Tables

POSTGRES_URL_VARIABLE: Final = "PAYKIT_TEST_POSTGRES_URL"
CUSTOMERS: Final = 100
SQLITE_PRAGMAS: Final = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 10000",  # paykit's SQLITE_BUSY_TIMEOUT_MS
)
"""What SqlStorage sets on each SQLite connection, set here on both engines alike."""

T = TypeVar("T")


# -- the units of work, written once ---------------------------------------------------------


@dataclass(frozen=True)
class Read:
    """Run one statement in autocommit mode; the unit receives its rows."""

    statement: Executable
    params: dict[str, Any]


@dataclass(frozen=True)
class Write:
    """Run these statements in one write transaction; an update's ``expect`` is its row count."""

    steps: Sequence[tuple[Executable, dict[str, Any], int | None]]


Unit = Generator[Read | Write, Sequence[RowMapping], T]
"""A unit of work: yields a read or its one write, receives a read's rows, returns its result."""


class Statements:
    """The statements of the three units on paykit's tables, built once (compiled once)."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        methods, payments = tables.payment_methods, tables.payments
        self.method: Select[Any] = select(methods).where(methods.c.id == bindparam("match_id"))
        self.payment: Select[Any] = select(payments).where(payments.c.id == bindparam("match_id"))
        self.insert_payment: Insert = payments.insert()
        self.insert_entry: Insert = tables.transaction_log.insert()
        matches = (payments.c.id == bindparam("match_id")) & (
            payments.c.version == bindparam("match_version")
        )
        self.claim: Update = payments.update().where(matches)
        self.claim_columns = ("status", "attempt_count", "updated_at", "submitted_at", "version")
        self.record: Update = payments.update().where(matches)
        self.record_columns = (
            "status",
            "captured_amount",
            "provider_payment_id",
            "updated_at",
            "completed_at",
            "version",
        )


def _entry(
    payment: Payment, log_type: LogType, previous: str | None, now: datetime
) -> dict[str, Any]:
    entry = TransactionLogEntry(
        id=new_id("log"),
        payment_id=payment.id,
        log_type=log_type,
        message=f"payment {payment.status}",
        created_at=now,
        amount=payment.amount,
        previous_status=previous,
        new_status=str(payment.status),
    )
    return _codec.entry_row(entry)


def _changed(payment: Payment, read_version: int, columns: Sequence[str]) -> dict[str, Any]:
    """The changed columns of ``payment``'s row, matched on the version the unit read."""
    row = _codec.payment_row(payment, read_version + 1)
    return {
        **{column: row[column] for column in columns},
        "match_id": payment.id,
        "match_version": read_version,
    }


def create_unit(statements: Statements, customer: str, method_id: str, order: str) -> Unit[str]:
    """Read the method, then insert a ``pending`` payment and its log entry."""
    rows = yield Read(statements.method, {"match_id": method_id})
    method = _codec.method_from_row(rows[0])
    now = utc_now()
    zero = Money.zero("USD")
    payment = Payment(
        id=new_id("pay"),
        customer_id=customer,
        order_id=order,
        payment_method_id=method.id,
        payment_method_type=method.type,
        provider=method.provider,
        amount=Money(Decimal("10.00"), "USD"),
        captured_amount=zero,
        refunded_amount=zero,
        refund_reserved_amount=zero,
        created_at=now,
        updated_at=now,
    )
    payment_row = _codec.payment_row(payment, 1)
    entry = _entry(payment, LogType.PAYMENT_CREATED, None, now)
    yield Write(
        ((statements.insert_payment, payment_row, None), (statements.insert_entry, entry, None))
    )
    return payment.id


def claim_unit(statements: Statements, payment_id: str) -> Unit[None]:
    """Read the payment, then move it ``pending`` -> ``processing`` and log that."""
    rows = yield Read(statements.payment, {"match_id": payment_id})
    payment = _codec.payment_from_row(rows[0])
    read_version, previous, now = payment.version, str(payment.status), utc_now()
    payment.transition_to(PaymentStatus.PROCESSING, now)
    payment.attempt_count += 1
    payment.submitted_at = now
    changed = _changed(payment, read_version, statements.claim_columns)
    entry = _entry(payment, LogType.PAYMENT_PROCESSING, previous, now)
    yield Write(((statements.claim, changed, 1), (statements.insert_entry, entry, None)))


def record_unit(statements: Statements, payment_id: str) -> Unit[None]:
    """Read the payment, then record the provider's success and log it."""
    rows = yield Read(statements.payment, {"match_id": payment_id})
    payment = _codec.payment_from_row(rows[0])
    read_version, previous, now = payment.version, str(payment.status), utc_now()
    payment.transition_to(PaymentStatus.COMPLETED, now)
    payment.captured_amount = payment.amount
    payment.provider_payment_id = f"sandbox_{payment.id}"
    payment.completed_at = now
    changed = _changed(payment, read_version, statements.record_columns)
    entry = _entry(payment, LogType.PAYMENT_PROCESSED, previous, now)
    yield Write(((statements.record, changed, 1), (statements.insert_entry, entry, None)))


# -- the two drivers -------------------------------------------------------------------------


class ConflictError(Exception):
    """A version check failed: cannot happen here (one task per payment), so it is a bug."""


def _check_count(statement: Executable, rowcount: int, expect: int | None) -> None:
    if expect is not None and rowcount != expect:
        raise ConflictError(str(statement))


def run_unit(engine: Engine, begin: str, unit: Unit[T]) -> T:
    """Carry ``unit`` out on a sync connection: one checkout, autocommit reads, one write."""
    with engine.connect() as connection:
        step = next(unit)  # every unit reads first
        while True:
            rows: Sequence[RowMapping] = ()
            if isinstance(step, Read):
                rows = connection.execute(step.statement, step.params).mappings().all()
            else:
                connection.exec_driver_sql(begin)
                try:
                    for statement, params, expect in step.steps:
                        result = connection.execute(statement, params)
                        _check_count(statement, result.rowcount, expect)
                    connection.exec_driver_sql("COMMIT")
                except BaseException:
                    connection.exec_driver_sql("ROLLBACK")
                    raise
            try:
                step = unit.send(rows)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]


async def run_unit_async(engine: AsyncEngine, begin: str, unit: Unit[T]) -> T:
    """Carry ``unit`` out on an async connection: the same steps as :func:`run_unit`."""
    async with engine.connect() as connection:
        step = next(unit)
        while True:
            rows: Sequence[RowMapping] = ()
            if isinstance(step, Read):
                rows = (await connection.execute(step.statement, step.params)).mappings().all()
            else:
                await connection.exec_driver_sql(begin)
                try:
                    for statement, params, expect in step.steps:
                        result = await connection.execute(statement, params)
                        _check_count(statement, result.rowcount, expect)
                    await connection.exec_driver_sql("COMMIT")
                except BaseException:
                    await connection.exec_driver_sql("ROLLBACK")
                    raise
            try:
                step = unit.send(rows)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]


# -- one run of each path --------------------------------------------------------------------


@dataclass
class Database:
    """A store with paykit's tables, its saved cards, and how to open engines on it."""

    url: URL
    schema: str | None
    statements: Statements
    cards: list[tuple[str, str]]
    pool: int

    @property
    def begin(self) -> str:
        """The statement that opens a write transaction, as SqlStorage's."""
        return "BEGIN IMMEDIATE" if self.url.get_backend_name() == "sqlite" else "BEGIN"

    def sync_engine(self) -> Engine:
        """Today's path: a sync engine in autocommit mode, ``pool`` connections."""
        options: dict[str, Any] = {}
        if self.url.get_backend_name() == "sqlite":
            options["connect_args"] = {"check_same_thread": False}
        engine = create_engine(self.url, **self._pool(), **options)
        self._prepare(engine)
        return engine

    def async_engine(self) -> AsyncEngine:
        """The other path: SQLAlchemy's asyncio engine, same pool and mode."""
        url = self.url
        if url.get_backend_name() == "sqlite":
            url = url.set(drivername="sqlite+aiosqlite")
        engine = create_async_engine(url, **self._pool())
        self._prepare(engine.sync_engine)
        return engine

    def _pool(self) -> dict[str, Any]:
        return {
            "isolation_level": "AUTOCOMMIT",
            "pool_size": self.pool,
            "max_overflow": 0,
            "hide_parameters": True,
        }

    def _prepare(self, engine: Engine) -> None:
        if self.url.get_backend_name() != "sqlite":
            return

        def pragmas(connection: Any, _record: object) -> None:  # noqa: ANN401 - a DBAPI connection
            cursor = connection.cursor()
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()

        event.listen(engine, "connect", pragmas)

    def units(
        self, index: int
    ) -> tuple[Unit[str], Callable[[str], Unit[None]], Callable[[str], Unit[None]]]:
        """Payment ``index``'s create unit, and how to make its claim and record units."""
        customer, method_id = self.cards[index % len(self.cards)]
        create = create_unit(self.statements, customer, method_id, f"ord_{index}_{new_id('o')}")
        return create, partial(claim_unit, self.statements), partial(record_unit, self.statements)


@dataclass(frozen=True)
class Figures:
    """One run: wall seconds, this process's CPU seconds, statements per payment."""

    wall: float
    cpu: float
    statements: float


@contextmanager
def _measured(engine: Engine, payments: int) -> Iterator[list[float]]:
    """Count the statements on ``engine`` and time the block: yields [wall, cpu, statements]."""
    count = [0]

    def counted(*_: object) -> None:
        count[0] += 1

    event.listen(engine, "before_cursor_execute", counted)
    figures: list[float] = []
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield figures
    finally:
        figures.extend((time.perf_counter() - wall, time.process_time() - cpu))
        figures.append(count[0] / payments)
        event.remove(engine, "before_cursor_execute", counted)


def run_threads(
    db: Database, payments: int, concurrency: int, latency: float, threads: int
) -> Figures:
    """Today's path: each unit in a worker thread; the provider awaited on the loop."""
    engine = db.sync_engine()
    run = partial(run_unit, engine, db.begin)

    async def one(index: int, limiter: anyio.CapacityLimiter) -> None:
        async with limiter:
            create, claim, record = db.units(index)
            payment_id = await anyio.to_thread.run_sync(run, create)
            await anyio.to_thread.run_sync(run, claim(payment_id))
            await anyio.sleep(latency)
            await anyio.to_thread.run_sync(run, record(payment_id))

    async def main() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        limiter = anyio.CapacityLimiter(concurrency)
        async with anyio.create_task_group() as tasks:
            for index in range(payments):
                tasks.start_soon(one, index, limiter)

    try:
        _warm(engine)
        with _measured(engine, payments) as figures:
            anyio.run(main)
        _check(engine, db, payments)
    finally:
        engine.dispose()
    return Figures(*figures)


def run_asyncio(db: Database, payments: int, concurrency: int, latency: float) -> Figures:
    """The other path: each unit awaited on the event loop, through the asyncio engine."""
    engine = db.async_engine()

    async def one(index: int, limiter: anyio.CapacityLimiter) -> None:
        async with limiter:
            create, claim, record = db.units(index)
            payment_id = await run_unit_async(engine, db.begin, create)
            await run_unit_async(engine, db.begin, claim(payment_id))
            await anyio.sleep(latency)
            await run_unit_async(engine, db.begin, record(payment_id))

    async def main() -> list[float]:
        async with engine.connect() as connection:  # open the first connection, as _warm does
            await connection.execute(select(1))
        with _measured(engine.sync_engine, payments) as figures:
            limiter = anyio.CapacityLimiter(concurrency)
            async with anyio.create_task_group() as tasks:
                for index in range(payments):
                    tasks.start_soon(one, index, limiter)
        await engine.dispose()
        return figures

    figures = anyio.run(main)
    checker = db.sync_engine()
    try:
        _check(checker, db, payments)
    finally:
        checker.dispose()
    return Figures(*figures)


def run_serial(db: Database, payments: int) -> Figures:
    """The floor: the same units one at a time in this thread, no provider latency."""
    engine = db.sync_engine()
    try:
        _warm(engine)
        with _measured(engine, payments) as figures:
            for index in range(payments):
                create, claim, record = db.units(index)
                payment_id = run_unit(engine, db.begin, create)
                run_unit(engine, db.begin, claim(payment_id))
                run_unit(engine, db.begin, record(payment_id))
        _check(engine, db, payments)
    finally:
        engine.dispose()
    return Figures(*figures)


def _warm(engine: Engine) -> None:
    """Open the first connection before the clock starts, as the asyncio side does."""
    with engine.connect() as connection:
        connection.execute(select(1))


def _check(engine: Engine, db: Database, payments: int) -> None:
    """Each payment of this run ``completed``, with three log entries; then clear them."""
    payments_table = db.statements.tables.payments
    log = db.statements.tables.transaction_log
    with engine.connect() as connection:
        completed = connection.execute(
            select(func.count()).where(payments_table.c.status == str(PaymentStatus.COMPLETED))
        ).scalar_one()
        entries = connection.execute(select(func.count()).select_from(log)).scalar_one()
        if (completed, entries) != (payments, 3 * payments):
            msg = f"expected {payments} completed, {3 * payments} entries: {completed}, {entries}"
            raise AssertionError(msg)
        # Each run starts from the same tables: only the saved cards.
        connection.execute(log.delete())
        connection.execute(payments_table.delete())


# -- set-up and report -----------------------------------------------------------------------


def _database(url: str, schema: str | None, pool: int) -> Database:
    """A database with paykit's tables (by its migrations) and one saved card per customer."""
    storage = SqlStorage(url, schema=schema)
    try:
        storage.upgrade()
        now = utc_now()
        cards = [
            PaymentMethod(
                id=new_id("pm"),
                customer_id=f"cus_{index}",
                type=PaymentMethodType("credit_card"),
                provider="sandbox",
                provider_payment_method_id=f"tok_{index}",
                created_at=now,
                updated_at=now,
            )
            for index in range(CUSTOMERS)
        ]
        with storage.engine.begin() as connection:
            connection.execute(
                storage.tables.payment_methods.insert(),
                [_codec.method_row(card, 1) for card in cards],
            )
        return Database(
            url=make_url(url),
            schema=schema,
            statements=Statements(storage.tables),
            cards=[(card.customer_id, card.id) for card in cards],
            pool=pool,
        )
    finally:
        storage.dispose()


def _asyncio_missing(backend: str) -> str | None:
    """Why the asyncio path cannot run here, if it cannot."""
    if find_spec("greenlet") is None:  # SQLAlchemy's asyncio layer runs on greenlets
        return "needs greenlet (pip install 'sqlalchemy[asyncio]')"
    if backend == "sqlite" and find_spec("aiosqlite") is None:
        return "needs aiosqlite (pip install aiosqlite)"
    return None


def measure(label: str, db: Database, args: argparse.Namespace) -> None:
    """Interleaved repetitions of the three runs on ``db``; print one line each."""
    bound = args.payments * args.latency / args.concurrency
    missing = _asyncio_missing(db.url.get_backend_name())
    runs: dict[str, list[Figures]] = {"threads": [], "asyncio engine": [], "serial": []}
    paths = set(args.paths.split(","))
    for _ in range(args.repeat):
        if "threads" in paths:
            runs["threads"].append(
                run_threads(db, args.payments, args.concurrency, args.latency, args.threads)
            )
        if "asyncio" in paths and missing is None:
            runs["asyncio engine"].append(
                run_asyncio(db, args.payments, args.concurrency, args.latency)
            )
        if "serial" in paths:
            runs["serial"].append(run_serial(db, args.payments))
    print(f"  {label}")
    for path, figures in runs.items():
        if not figures:
            if missing is not None and path == "asyncio engine":
                print(f"    {path:<15} skipped: {missing}")
            continue
        best = min(figures, key=lambda figure: figure.wall)
        worst = max(figure.wall for figure in figures)
        cpu = min(figure.cpu for figure in figures)
        line = (
            f"    {path:<15} {best.wall:5.2f} s = {best.wall / bound:5.2f}x bound "
            f"(worst {worst / bound:5.2f}x); CPU {cpu:5.2f} s; "
            f"{best.statements:.0f} statements a payment"
        )
        if path == "serial":
            line += f"; storage floor (serial CPU) / bound = {cpu / bound:.2f}x"
        print(line, flush=True)


def main() -> None:
    """Measure both paths on a SQLite file and, when configured, PostgreSQL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--payments", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=40, help="worker threads (anyio's 40)")
    parser.add_argument("--pool", type=int, default=40, help="connections per engine")
    parser.add_argument("--storages", default="sqlite,postgresql")
    parser.add_argument("--paths", default="threads,asyncio,serial", help="which paths to run")
    args = parser.parse_args()
    storages = set(args.storages.split(","))
    bound = args.payments * args.latency / args.concurrency
    print(
        f"{args.payments} payments (create, claim, {args.latency * 1000:.0f} ms provider, record), "
        f"{args.concurrency} at a time: latency bound {bound:.2f} s; {args.threads} worker "
        f"threads, {args.pool} connections; best of {args.repeat}; {os.cpu_count()} CPUs"
    )
    if "sqlite" in storages:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            measure("sqlite file", _database(url, None, args.pool), args)
    if "postgresql" not in storages:
        return
    url = os.environ.get(POSTGRES_URL_VARIABLE, "")
    if not url:
        print(f"  postgresql   skipped ({POSTGRES_URL_VARIABLE} is not set)")
        return
    with postgres_schema(url) as schema:
        measure("postgresql", _database(url, schema, args.pool), args)


if __name__ == "__main__":
    main()
