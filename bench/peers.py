"""paykit next to django-payments and a raw-driver floor: the same lifecycle, the same stores.

One lifecycle is create a payment of 100.00 USD, process it (charge), refund 30.00, refund
20.00, done three ways in one run, in interleaved rounds (paykit, peer, floor, paykit, ...):

* **paykit**: ``PaymentService`` + ``SqlStorage`` + ``SandboxGateway``. Each customer's card
  is saved once, before any timing (one card per customer, 50 customers), so a lifecycle
  is exactly six service calls: create_payment, process_payment, and create_refund +
  process_refund twice (9 commits: the payment; claim and record around the charge; the
  refund, its claim and its record, twice).
* **django-payments 4.1.0** with its ``DummyProvider``: ``objects.create``,
  ``change_status(PREAUTH)`` + ``capture(total)``, ``refund(30.00)``, ``refund(20.00)``, run
  by bench/_peer_django_payments.py in a subprocess, under a throwaway virtual environment
  this script builds once in ``.bench-venv/`` (git-ignored; django-payments is no
  dependency of paykit). It never imports paykit.
* **the floor**: the drivers alone (``sqlite3``, ``psycopg``) doing paykit's 9 short
  transactions with the fewest statements they need (see :class:`Floor`).

Stores: a SQLite file per side in one temporary directory (WAL, ``synchronous = FULL`` --
SQLite's and so paykit's default, set explicitly on every side) and, when
``PAYKIT_TEST_POSTGRES_URL`` is set, the same PostgreSQL server, each side in a schema of
its own, dropped at the end. For each store it prints lifecycles/s (best round), statements
and commits per lifecycle for each side (``BEGIN``/``COMMIT`` included), and paykit's
ratios to the peer and the floor next to the targets of issue #13. On PostgreSQL it then
runs bench/storage.py's 1 vs 4 worker processes with a 20 ms gateway. Run::

    python bench/peers.py [--lifecycles N] [--rounds R] [--stores sqlite,postgresql]
                          [--worker-seconds S]

No figure is asserted; docs/performance.md explains what each side does and shows results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any, Final, NamedTuple

import psycopg
import sqlalchemy
from sqlalchemy import Connection, Engine, event, make_url
from storage import parallel_throughput, postgres_schema  # bench/storage.py

import paykit
from paykit import PaymentService, SandboxGateway, SandboxToken
from paykit.storage import InMemoryStorage
from paykit.storage.sql import SqlStorage

POSTGRES_URL_VARIABLE: Final = "PAYKIT_TEST_POSTGRES_URL"
ROOT: Final = Path(__file__).resolve().parent.parent
PEER_SCRIPT: Final = Path(__file__).resolve().with_name("_peer_django_payments.py")
PEER_VENV: Final = ROOT / ".bench-venv" / "django-payments-4.1.0"
PEER: Final = "django-payments 4.1.0"
CUSTOMERS: Final = 50
"""Each has one card, saved before the timing; lifecycle ``n`` pays as customer ``n % 50``."""
WARM_UP: Final = 20
"""Lifecycles each side runs before the rounds: imports, statement caches, connections."""
WORKER_LATENCY: Final = 0.02
_WRITES: Final = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE"})


class Tally(NamedTuple):
    """What one side reported for one run of ``count`` lifecycles."""

    seconds: float
    statements: int
    commits: int
    checkouts: int = 0
    """Connections taken from the pool (paykit only; each one pre-pinged on PostgreSQL)."""


@dataclass
class Side:
    """One side's figures over the rounds of one store."""

    name: str
    lifecycles: int = 0
    best: float = 0.0
    statements: int = 0
    commits: int = 0
    checkouts: int = 0
    rounds: list[float] = field(default_factory=list)

    def add(self, tally: Tally, count: int) -> None:
        """Count one round of ``count`` lifecycles."""
        rate = count / tally.seconds
        self.rounds.append(rate)
        self.best = max(self.best, rate)
        self.lifecycles += count
        self.statements += tally.statements
        self.commits += tally.commits
        self.checkouts += tally.checkouts

    def per_lifecycle(self, total: int) -> float:
        """``total`` (statements, commits, ...) divided by the lifecycles run."""
        return total / self.lifecycles if self.lifecycles else 0.0


# -- paykit -----------------------------------------------------------------------------------


class SqlCounter:
    """Counts what an engine sends: statements, commits, pool checkouts.

    Statements are SQLAlchemy's ``before_cursor_execute`` events (``BEGIN`` and ``COMMIT``
    included: paykit sends them itself on an autocommit connection). A commit is a
    ``COMMIT``, or a write sent outside ``BEGIN ... COMMIT`` (an autocommit statement is a
    transaction of its own). Should paykit leave transactions to the driver instead, each
    SQLAlchemy ``commit`` on a connection not in autocommit mode counts as a commit and as
    two statements (the driver's implicit ``BEGIN`` and its ``COMMIT``).
    """

    def __init__(self, engine: Engine) -> None:
        self.statements = self.commits = self.checkouts = 0
        self._in_transaction = False
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "checkout", self._checkout)

    def reset(self) -> None:
        """Start counting from zero."""
        self.statements = self.commits = self.checkouts = 0

    def _statement(self, *args: Any) -> None:  # noqa: ANN401 - SQLAlchemy's event signature
        words = str(args[2]).split(None, 1)
        keyword = words[0].upper() if words else ""
        self.statements += 1
        if keyword in {"BEGIN", "START"}:
            self._in_transaction = True
        elif keyword in {"COMMIT", "END"}:
            self.commits += 1
            self._in_transaction = False
        elif keyword == "ROLLBACK":
            self._in_transaction = False
        elif keyword in _WRITES and not self._in_transaction and _driver_autocommit(args[0]):
            self.commits += 1

    def _commit(self, connection: Connection) -> None:
        if not _driver_autocommit(connection):
            self.statements += 2
            self.commits += 1

    def _checkout(self, *_: Any) -> None:  # noqa: ANN401 - SQLAlchemy's event signature
        self.checkouts += 1


def _driver_autocommit(connection: Connection) -> bool:
    """Whether the driver runs each statement as its own transaction on ``connection``."""
    driver: Any = connection.connection.dbapi_connection
    if isinstance(driver, sqlite3.Connection):
        return driver.isolation_level is None
    return bool(getattr(driver, "autocommit", False))


def _synchronous_full(driver: Any, _record: Any) -> None:  # noqa: ANN401 - driver objects
    """SQLite's default, set explicitly so every side runs with the same durability."""
    driver.execute("PRAGMA synchronous = FULL")


def run_lifecycles(service: PaymentService, cards: list[str], count: int, tag: str) -> str:
    """``count`` lifecycles through ``service``, a card per customer; the last payment's id."""
    payment_id = ""
    for number in range(count):
        payment_id = service.create_payment(
            customer_id=f"cus_{number % CUSTOMERS}",
            order_id=f"ord_{tag}_{number}",
            payment_method_id=cards[number % CUSTOMERS],
            amount="100.00",
            currency="USD",
        ).id
        service.process_payment(payment_id)
        for amount in ("30.00", "20.00"):
            refund = service.create_refund(payment_id, amount)
            service.process_refund(refund.id)
    return payment_id


def saved_cards(service: PaymentService) -> list[str]:
    """One card per customer (``cus_0`` ...), saved before any timing."""
    return [
        service.add_payment_method(
            f"cus_{number}", type="credit_card", token=SandboxToken.SUCCESS
        ).id
        for number in range(CUSTOMERS)
    ]


class Paykit:
    """paykit's side: one service on one storage, a card per customer saved up front."""

    name = "paykit"

    def __init__(self, storage: SqlStorage) -> None:
        self.storage = storage
        self.service = PaymentService(storage, {"credit_card": SandboxGateway()})
        self.cards = saved_cards(self.service)
        self.counter = SqlCounter(storage.engine)
        self.last_payment = ""

    def run(self, count: int, tag: str) -> Tally:
        """``count`` lifecycles, timed and counted."""
        self.counter.reset()
        start = time.perf_counter()
        self.last_payment = run_lifecycles(self.service, self.cards, count, tag)
        seconds = time.perf_counter() - start
        counter = self.counter
        return Tally(seconds, counter.statements, counter.commits, counter.checkouts)

    def check(self) -> str:
        """The last payment as the storage holds it."""
        payment = self.service.get_payment(self.last_payment)
        return (
            f"status={payment.status} captured={payment.captured_amount} "
            f"refunded={payment.refunded_amount}"
        )

    def close(self) -> None:
        """Close the pool."""
        self.storage.dispose()


# -- django-payments, in its own environment and process --------------------------------------


class PeerError(Exception):
    """The peer could not be installed, started or run."""


def peer_requirements() -> list[str]:
    """django-payments 4.1.0, a Django it supports, and paykit's own psycopg version."""
    try:
        driver = f"psycopg[binary]=={version('psycopg')}"
    except PackageNotFoundError:
        driver = "psycopg[binary]"
    # django-payments 4.1.0 asks for Django >= 5.2, < 7; 5.2 is the LTS paykit's tests use.
    return ["django-payments==4.1.0", "Django>=5.2,<5.3", driver]


def peer_python(venv: Path) -> Path:
    """The throwaway environment's interpreter, built on first use (pip needs the network)."""
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    marker = venv / "installed.json"
    requirements = peer_requirements()
    if python.exists() and marker.exists() and json.loads(marker.read_text()) == requirements:
        return python
    print(f"installing the peer, once: {' '.join(requirements)}")
    print(f"  into the throwaway virtual environment {venv} (not a dependency of paykit)")
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", *requirements],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=900, check=False)  # noqa: S603 - our own command
        except (OSError, subprocess.TimeoutExpired) as error:
            raise PeerError(f"{' '.join(step[:4])} failed: {error}") from error
        if done.returncode != 0:
            tail = "\n    ".join((done.stderr or done.stdout).strip().splitlines()[-8:])
            raise PeerError(f"{' '.join(step[:4])} exited with {done.returncode}:\n    {tail}")
    marker.write_text(json.dumps(requirements))
    print("  installed")
    return python


class Peer:
    """django-payments' side: bench/_peer_django_payments.py, one process per store."""

    name = PEER

    def __init__(self, python: Path, store: dict[str, str]) -> None:
        # -I: isolated mode, so nothing of paykit's environment can leak onto its path.
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [str(python), "-I", str(PEER_SCRIPT), json.dumps(store)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.ready = self._answer()

    def _answer(self) -> dict[str, Any]:
        stdout: IO[str] | None = self.process.stdout
        line = stdout.readline() if stdout is not None else ""
        if not line:
            code = self.process.wait(timeout=30)
            raise PeerError(f"the peer exited with {code} (its error is printed above)")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(self, count: int, tag: str) -> Tally:
        """``count`` lifecycles in the peer, timed and counted there."""
        stdin = self.process.stdin
        if stdin is None:
            raise PeerError("the peer's input is closed")
        try:
            stdin.write(f"run {count} {tag}\n")
            stdin.flush()
        except OSError as error:
            raise PeerError(f"the peer stopped reading: {error}") from error
        answer = self._answer()
        return Tally(answer["seconds"], answer["statements"], answer["commits"])

    def check(self) -> str:
        """What its check lifecycle found in the row after each step."""
        return "; ".join(f"after {step}: {row}" for step, row in self.ready["check"].items())

    def close(self) -> None:
        """Ask it to quit; stop it if it does not."""
        try:
            if self.process.stdin is not None:
                self.process.stdin.write("quit\n")
                self.process.stdin.close()
            self.process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()


# -- the raw-driver floor ---------------------------------------------------------------------

_FLOOR_TABLES: Final = (
    """CREATE TABLE floor_payment (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, order_id TEXT NOT NULL,
        currency TEXT NOT NULL, amount BIGINT NOT NULL, status TEXT NOT NULL,
        captured BIGINT NOT NULL DEFAULT 0, refunded BIGINT NOT NULL DEFAULT 0,
        reserved BIGINT NOT NULL DEFAULT 0, provider_payment_id TEXT,
        version INTEGER NOT NULL DEFAULT 1, updated_at TEXT NOT NULL)""",
    """CREATE TABLE floor_refund (
        id TEXT PRIMARY KEY, payment_id TEXT NOT NULL REFERENCES floor_payment (id),
        amount BIGINT NOT NULL, status TEXT NOT NULL, provider_refund_id TEXT,
        version INTEGER NOT NULL DEFAULT 1, updated_at TEXT NOT NULL)""",
    "CREATE INDEX floor_refund_payment ON floor_refund (payment_id)",
    """CREATE TABLE floor_log (
        id TEXT PRIMARY KEY, payment_id TEXT NOT NULL, refund_id TEXT, kind TEXT NOT NULL,
        amount BIGINT NOT NULL, at TEXT NOT NULL)""",
    "CREATE INDEX floor_log_payment ON floor_log (payment_id)",
)
# Amounts in cents. Placeholders are "?" here; PostgreSQL's become "%s".
_INSERT_PAYMENT: Final = (
    "INSERT INTO floor_payment (id, customer_id, order_id, currency, amount, status, updated_at)"
    " VALUES (?, ?, ?, 'USD', 10000, 'pending', ?)"
)
_CLAIM_PAYMENT: Final = (
    "UPDATE floor_payment SET status = 'processing', version = version + 1, updated_at = ?"
    " WHERE id = ? AND status = 'pending'"
)
_RECORD_PAYMENT: Final = (
    "UPDATE floor_payment SET status = 'completed', captured = amount,"
    " provider_payment_id = ?, version = version + 1, updated_at = ?"
    " WHERE id = ? AND status = 'processing'"
)
_RESERVE_REFUND: Final = (  # the refund ceiling, checked and taken in one row update
    "UPDATE floor_payment SET reserved = reserved + ?, version = version + 1, updated_at = ?"
    " WHERE id = ? AND captured - refunded - reserved >= ?"
)
_INSERT_REFUND: Final = (
    "INSERT INTO floor_refund (id, payment_id, amount, status, updated_at)"
    " VALUES (?, ?, ?, 'pending', ?)"
)
_CLAIM_REFUND: Final = (
    "UPDATE floor_refund SET status = 'processing', version = version + 1, updated_at = ?"
    " WHERE id = ? AND status = 'pending'"
)
_RECORD_REFUND: Final = (
    "UPDATE floor_refund SET status = 'completed', provider_refund_id = ?,"
    " version = version + 1, updated_at = ? WHERE id = ? AND status = 'processing'"
)
_SETTLE_REFUND: Final = (
    "UPDATE floor_payment SET refunded = refunded + ?, reserved = reserved - ?,"
    " status = CASE WHEN refunded + ? >= captured THEN 'refunded' ELSE 'partially_refunded' END,"
    " version = version + 1, updated_at = ? WHERE id = ?"
)
_INSERT_LOG: Final = (
    "INSERT INTO floor_log (id, payment_id, refund_id, kind, amount, at) VALUES (?, ?, ?, ?, ?, ?)"
)

Execute = Callable[[str, Sequence[object]], int]
"""Run one statement with its parameters; return its row count."""


class Floor:
    """The same 9 commits as paykit, by the driver alone, with the fewest statements.

    Per lifecycle, 26 statements and 9 commits (the SQL is in the ``_`` constants above):

    1. create: ``INSERT`` the payment, pending -- one statement, its own transaction
    2. claim the charge: ``UPDATE`` payment pending -> processing -- one statement
       (the provider is called here; the sandbox answers at once, the floor skips it)
    3. record the charge: ``BEGIN``; ``UPDATE`` payment completed, captured and provider
       id; ``INSERT`` a log row; ``COMMIT`` -- four statements

    and for each refund (30.00, then 20.00):

    4. create it: ``BEGIN``; ``UPDATE`` payment reserving the amount under the ceiling
       (``WHERE captured - refunded - reserved >= amount``); ``INSERT`` the refund,
       pending; ``COMMIT`` -- four statements
    5. claim it: ``UPDATE`` refund pending -> processing -- one statement
    6. record it: ``BEGIN``; ``UPDATE`` refund completed; ``UPDATE`` payment, the reserved
       amount now refunded, status partially_refunded; ``INSERT`` a log row; ``COMMIT`` --
       five statements

    Like paykit, a transaction of one statement runs without ``BEGIN``/``COMMIT``, and
    every ``UPDATE`` must match its one row. No reads: the conditional updates check the
    state instead. Ids are random, as paykit's are; no JSON, no metadata, no indexes but
    the primary keys and one on each child table's ``payment_id``.
    """

    def __init__(self, name: str, execute: Execute, begin: str) -> None:
        self.name = name
        self._execute = execute
        self._begin = begin
        self.statements = self.commits = 0

    def create_tables(self) -> None:
        """The floor's three tables (outside any count)."""
        for statement in _FLOOR_TABLES:
            self._execute(statement, ())

    def _alone(self, sql: str, params: Sequence[object]) -> None:
        """One statement, its own transaction (autocommit)."""
        self.statements += 1
        self.commits += 1
        _one_row(self._execute(sql, params), sql)

    def _together(self, *steps: tuple[str, Sequence[object]]) -> None:
        """``BEGIN``, the statements, ``COMMIT``."""
        self._execute(self._begin, ())
        try:
            for sql, params in steps:
                _one_row(self._execute(sql, params), sql)
        except BaseException:
            self._execute("ROLLBACK", ())
            raise
        self._execute("COMMIT", ())
        self.statements += len(steps) + 2
        self.commits += 1

    def run(self, count: int, tag: str) -> Tally:
        """``count`` lifecycles, timed and counted."""
        self.statements = self.commits = 0
        start = time.perf_counter()
        for number in range(count):
            self._lifecycle(f"cus_{number % CUSTOMERS}", f"ord_{tag}_{number}")
        return Tally(time.perf_counter() - start, self.statements, self.commits)

    def _lifecycle(self, customer: str, order: str) -> None:
        payment = f"pay_{uuid.uuid4().hex}"
        now = datetime.now(UTC).isoformat()
        self._alone(_INSERT_PAYMENT, (payment, customer, order, now))  # 1
        self._alone(_CLAIM_PAYMENT, (now, payment))  # 2
        now = datetime.now(UTC).isoformat()
        self._together(  # 3
            (_RECORD_PAYMENT, (f"ch_{uuid.uuid4().hex}", now, payment)),
            (_INSERT_LOG, (uuid.uuid4().hex, payment, None, "charge", 10000, now)),
        )
        for amount in (3000, 2000):
            refund = f"re_{uuid.uuid4().hex}"
            now = datetime.now(UTC).isoformat()
            self._together(  # 4
                (_RESERVE_REFUND, (amount, now, payment, amount)),
                (_INSERT_REFUND, (refund, payment, amount, now)),
            )
            self._alone(_CLAIM_REFUND, (now, refund))  # 5
            now = datetime.now(UTC).isoformat()
            self._together(  # 6
                (_RECORD_REFUND, (f"rf_{uuid.uuid4().hex}", now, refund)),
                (_SETTLE_REFUND, (amount, amount, amount, now, payment)),
                (_INSERT_LOG, (uuid.uuid4().hex, payment, refund, "refund", amount, now)),
            )


def _one_row(rowcount: int, sql: str) -> None:
    """Every floor statement writes exactly one row."""
    if rowcount != 1:
        raise RuntimeError(f"floor: {rowcount} rows for {sql[:50]}")


def sqlite_floor(path: Path) -> tuple[Floor, Callable[[], None]]:
    """The floor on ``sqlite3``, in autocommit mode (it sends ``BEGIN IMMEDIATE`` itself)."""
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON"):
        connection.execute(f"PRAGMA {pragma}")

    def execute(sql: str, params: Sequence[object]) -> int:
        return connection.execute(sql, params).rowcount

    floor = Floor("raw floor (sqlite3)", execute, "BEGIN IMMEDIATE")
    floor.create_tables()
    return floor, connection.close


def postgres_floor(conninfo: str, schema: str) -> tuple[Floor, Callable[[], None]]:
    """The floor on ``psycopg``, in autocommit mode (it sends ``BEGIN`` itself)."""
    connection = psycopg.connect(conninfo, autocommit=True, options=f"-c search_path={schema}")

    def execute(sql: str, params: Sequence[object]) -> int:
        return connection.execute(sql.replace("?", "%s"), params).rowcount

    floor = Floor("raw floor (psycopg)", execute, "BEGIN")
    floor.create_tables()
    return floor, connection.close


# -- one store, interleaved rounds ------------------------------------------------------------


class Runner(NamedTuple):
    """A side to run: its name and its ``run(count, tag)``."""

    name: str
    run: Callable[[int, str], Tally]


def rounds(runners: list[Runner], count: int, repeat: int, store: str) -> dict[str, Side]:
    """Warm every side up, then ``repeat`` rounds of each in turn."""
    sides = {runner.name: Side(runner.name) for runner in runners}
    active = list(runners)
    for attempt in range(-1, repeat):  # -1: the warm-up, not counted
        for runner in list(active):
            try:
                if attempt < 0:
                    runner.run(WARM_UP, f"{store}warm")
                else:
                    sides[runner.name].add(runner.run(count, f"{store}r{attempt}"), count)
            except PeerError as error:  # the others go on without it
                print(f"  {runner.name}: stopped: {error}")
                active.remove(runner)
                del sides[runner.name]
    return sides


def start_peer(python: Path | None, store: dict[str, str]) -> Peer | None:
    """The peer for one store, or ``None`` (and why) if it cannot run."""
    if python is None:
        return None
    try:
        return Peer(python, store)
    except (PeerError, OSError, ValueError) as error:
        print(f"  {PEER}: not run on this store: {error}")
        return None


def bench_sqlite(count: int, repeat: int, python: Path | None) -> dict[str, Side]:
    """The three sides on SQLite files in one temporary directory."""
    with tempfile.TemporaryDirectory(prefix="paykit-peers-") as folder, ExitStack() as stack:
        directory = Path(folder)
        print(f"\n== SQLite: one file per side in {directory} (WAL, synchronous = FULL)")
        storage = SqlStorage(f"sqlite:///{directory / 'paykit.db'}")
        event.listen(storage.engine, "connect", _synchronous_full)
        storage.upgrade()
        paykit_side = Paykit(storage)
        stack.callback(paykit_side.close)
        floor, close_floor = sqlite_floor(directory / "floor.db")
        stack.callback(close_floor)
        runners = [Runner(paykit_side.name, paykit_side.run)]
        peer = start_peer(python, {"engine": "sqlite", "path": str(directory / "peer.db")})
        if peer is not None:
            stack.callback(peer.close)
            runners.append(Runner(peer.name, peer.run))
        runners.append(Runner(floor.name, floor.run))
        sides = rounds(runners, count, repeat, "sqlite")
        with storage.engine.connect() as connection:
            pragmas = [
                connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous")
            ]
        print(f"  paykit: journal_mode={pragmas[0]} synchronous={pragmas[1]} (2 = FULL)")
        if peer is not None:
            print(f"  {PEER}: {peer.ready.get('sqlite')} (Django {peer.ready['django']})")
        report_checks(paykit_side, peer)
        report("sqlite", sides, count, repeat)
        where_the_time_goes("sqlite", storage, sides, paykit_side.last_payment, repeat)
        return sides


def bench_postgres(
    url: str, count: int, repeat: int, python: Path | None, worker_seconds: float
) -> dict[str, Side]:
    """The three sides on one PostgreSQL server, a schema each; then 1 vs 4 workers."""
    parsed = make_url(url)
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with ExitStack() as schemas:
        paykit_schema, peer_schema, floor_schema = (
            schemas.enter_context(postgres_schema(url)) for _ in range(3)
        )
        print(f"\n== PostgreSQL at {parsed.host}:{parsed.port or 5432}/{parsed.database}")
        print(f"  schemas (dropped at the end): {paykit_schema}, {peer_schema}, {floor_schema}")
        with ExitStack() as stack:
            storage = SqlStorage(url, schema=paykit_schema)
            storage.upgrade()
            with storage.engine.connect() as connection:
                settings = connection.exec_driver_sql(
                    "SELECT current_setting('server_version'), current_setting('fsync'),"
                    " current_setting('synchronous_commit')"
                ).one()
            print(f"  server {settings[0]}, fsync={settings[1]}, synchronous_commit={settings[2]}")
            paykit_side = Paykit(storage)
            stack.callback(paykit_side.close)
            floor, close_floor = postgres_floor(conninfo, floor_schema)
            stack.callback(close_floor)
            runners = [Runner(paykit_side.name, paykit_side.run)]
            store = {
                "engine": "postgresql",
                "name": parsed.database or "",
                "user": parsed.username or "",
                "password": parsed.password or "",
                "host": parsed.host or "",
                "port": str(parsed.port or ""),
                "schema": peer_schema,
            }
            peer = start_peer(python, store)
            if peer is not None:
                stack.callback(peer.close)
                runners.append(Runner(peer.name, peer.run))
            runners.append(Runner(floor.name, floor.run))
            sides = rounds(runners, count, repeat, "pg")
            report_checks(paykit_side, peer)
            report("pg", sides, count, repeat)
            where_the_time_goes("pg", storage, sides, paykit_side.last_payment, repeat)
        if worker_seconds > 0:
            workers(url, paykit_schema, repeat, worker_seconds)
        else:
            print("  1 vs 4 workers: skipped (--worker-seconds 0); see bench/storage.py")
        return sides


def workers(url: str, schema: str, repeat: int, seconds: float) -> None:
    """bench/storage.py's worker processes: 1 and 4, a 20 ms gateway, best of ``repeat``."""
    rates = {
        count: max(
            parallel_throughput(url, schema, count, seconds, WORKER_LATENCY) for _ in range(repeat)
        )
        for count in (1, 4)
    }
    ratio = rates[4] / rates[1]
    print(
        f"  paykit, gateway taking {WORKER_LATENCY * 1000:.0f} ms (bench/storage.py's "
        f"parallel_throughput, {seconds:g} s runs, {os.cpu_count()} CPUs): 1 worker "
        f"{rates[1]:,.1f}/s, 4 workers {rates[4]:,.1f}/s, ratio {ratio:.2f}x "
        f"(target >= 3.5x: {_verdict(ratio >= 3.5)})"
    )


# -- what bounds paykit -------------------------------------------------------------------------

STATEMENT_SAMPLES: Final = 2000
"""Reads per measurement of what one statement costs through SQLAlchemy and the driver."""


def memory_rate(count: int, repeat: int) -> float:
    """Lifecycles/s of paykit on InMemoryStorage: the service's own Python, no SQL at all."""
    service = PaymentService(InMemoryStorage(), {"credit_card": SandboxGateway()})
    cards = saved_cards(service)
    best = 0.0
    for round_number in range(repeat):
        start = time.perf_counter()
        run_lifecycles(service, cards, count, f"memory{round_number}")
        best = max(best, count / (time.perf_counter() - start))
    return best


def statement_costs(storage: SqlStorage, payment_id: str, repeat: int) -> tuple[float, float]:
    """Seconds one read of a payment by id takes through SQLAlchemy Core, and the driver alone.

    The same cached ``SELECT`` of paykit's payments table, on one pooled connection: Core's
    ``Connection.execute(...).mappings().all()`` (what paykit's units of work call, its
    result types included) against the DBAPI cursor's ``execute`` + ``fetchall``.
    """
    payments = storage.tables.payments
    statement = sqlalchemy.select(payments).where(payments.c.id == sqlalchemy.bindparam("id"))
    params = {"id": payment_id}
    with storage.engine.connect() as connection:
        compiled = statement.compile(dialect=connection.dialect)
        raw_params: Any = compiled.construct_params(params)
        if compiled.positiontup is not None:  # SQLite's qmark style takes a sequence
            raw_params = [raw_params[name] for name in compiled.positiontup]
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        core = raw = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            for _ in range(STATEMENT_SAMPLES):
                connection.execute(statement, params).mappings().all()
            core = min(core, (time.perf_counter() - start) / STATEMENT_SAMPLES)
            start = time.perf_counter()
            for _ in range(STATEMENT_SAMPLES):
                cursor.execute(str(compiled), raw_params)
                cursor.fetchall()
            raw = min(raw, (time.perf_counter() - start) / STATEMENT_SAMPLES)
        cursor.close()
    return core, raw


def where_the_time_goes(
    store: str, storage: SqlStorage, sides: dict[str, Side], payment_id: str, repeat: int
) -> None:
    """The least a paykit lifecycle could take on this store, from figures of this run.

    The floor's lifecycle (its 9 commits and statements, no Python around them), plus the
    driver's cost of each statement paykit sends beyond the floor's, plus what SQLAlchemy
    Core adds to every statement, plus paykit's service on InMemoryStorage (its rules,
    records and log entries without any SQL). Each term is a floor of its own, so their
    sum is a lower bound for paykit as designed (a read before each decision, a claim
    before each provider call, a log entry per change) on SQLAlchemy.
    """
    paykit_side = sides["paykit"]
    floor = next(side for name, side in sides.items() if name.startswith("raw floor"))
    memory = memory_rate(200, repeat)
    core, raw = statement_costs(storage, payment_id, repeat)
    statements = paykit_side.per_lifecycle(paykit_side.statements)
    extra = statements - floor.per_lifecycle(floor.statements)
    terms = {
        "the floor's lifecycle": 1 / floor.best,
        f"{extra:.0f} more statements, driver alone ({raw * 1e6:.0f} us each)": extra * raw,
        f"SQLAlchemy Core on {statements:.0f} statements ({(core - raw) * 1e6:.0f} us each)": (
            statements * (core - raw)
        ),
        f"paykit's service on InMemoryStorage ({memory:,.0f} lifecycles/s)": 1 / memory,
    }
    bound = sum(terms.values())
    print("  the least paykit's lifecycle could take here, from this run's figures:")
    for name, seconds in terms.items():
        print(f"    {seconds * 1000:6.2f} ms  {name}")
    print(f"    {bound * 1000:6.2f} ms  lower bound: {1 / bound:,.0f} lifecycles/s at most")
    print(f"    {1000 / paykit_side.best:6.2f} ms  paykit measured ({paykit_side.best:,.1f}/s)")
    peer = sides.get(PEER)
    if peer is not None:
        target = 1.2 if store == "sqlite" else 0.6
        needed = 1 / (target * peer.best)
        print(
            f"    {needed * 1000:6.2f} ms  what {target}x {PEER} needs: the bound is "
            f"{bound / needed:.2f}x that"
        )


# -- printing ---------------------------------------------------------------------------------


def _verdict(met: bool) -> str:  # noqa: FBT001 - a yes or no to print
    return "met" if met else "NOT met"


def report_checks(paykit_side: Paykit, peer: Peer | None) -> None:
    """What each side's last lifecycle left in its store."""
    print(f"  paykit's last payment: {paykit_side.check()}")
    if peer is not None:
        print(f"  {PEER}, its row read back after each step: {peer.check()}")


def report(store: str, sides: dict[str, Side], count: int, repeat: int) -> None:
    """The store's table and paykit's ratios next to the targets."""
    print(f"  {count} lifecycles x {repeat} interleaved rounds; lifecycles/s is the best round")
    print(f"  {'side':<24}{'lifecycles/s':>14}{'statements':>12}{'commits':>9}   rounds")
    for side in sides.values():
        rounds_text = ", ".join(f"{rate:.0f}" for rate in side.rounds)
        print(
            f"  {side.name:<24}{side.best:>14,.1f}{side.per_lifecycle(side.statements):>12.1f}"
            f"{side.per_lifecycle(side.commits):>9.1f}   {rounds_text}"
        )
    paykit_side = sides["paykit"]
    checkouts = paykit_side.per_lifecycle(paykit_side.checkouts)
    note = " (pinged only after a second idle: none in this loop)" if store == "pg" else ""
    print(f"  paykit pool checkouts per lifecycle: {checkouts:.1f}{note}")
    statements = paykit_side.per_lifecycle(paykit_side.statements)
    print(
        f"  paykit statements per lifecycle: {statements:.1f} "
        f"(target <= 30: {_verdict(statements <= 30)})"
    )
    peer = sides.get(PEER)
    if peer is not None:
        ratio = paykit_side.best / peer.best
        target = 1.2 if store == "sqlite" else 0.6
        print(f"  paykit / {PEER}: {ratio:.2f}x (target >= {target}x: {_verdict(ratio >= target)})")
    else:
        print(f"  paykit / {PEER}: - (the peer did not run)")
    floor = next(side for name, side in sides.items() if name.startswith("raw floor"))
    ratio = paykit_side.best / floor.best
    if store == "sqlite":
        print(f"  paykit / raw floor: {ratio:.2f}x (no target on SQLite)")
    else:
        print(
            f"  paykit / raw floor: {ratio:.2f}x, the floor is {1 / ratio:.2f}x paykit "
            f"(target: within 1.5x, paykit / floor >= 0.67x: {_verdict(ratio >= 1 / 1.5)})"
        )


def main() -> None:
    """Parse the options, set the peer up, measure each store and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lifecycles", type=int, default=1000, help="per round and side")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per store")
    parser.add_argument("--stores", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument(
        "--worker-seconds",
        type=float,
        default=5.0,
        help="length of each 1 and 4 worker run on PostgreSQL (0 skips them)",
    )
    parser.add_argument("--peer-venv", type=Path, default=PEER_VENV, help="where to build it")
    parser.add_argument(
        "--without-peer", action="store_true", help="paykit and the floor only (installs nothing)"
    )
    args = parser.parse_args()
    stores = [store.strip() for store in args.stores.split(",") if store.strip()]
    unknown = set(stores) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown stores: {', '.join(sorted(unknown))}")
    count, repeat = args.lifecycles, args.rounds
    print(
        f"paykit {paykit.__version__}, Python {platform.python_version()}, SQLAlchemy "
        f"{sqlalchemy.__version__}, psycopg {psycopg.__version__}, SQLite "
        f"{sqlite3.sqlite_version}, {os.cpu_count()} CPUs"
    )
    python: Path | None = None
    if args.without_peer:
        print(f"{PEER} left out (--without-peer): only paykit and the floor run")
    else:
        try:
            python = peer_python(args.peer_venv)
        except PeerError as error:
            print(f"{PEER} could not be installed, so only paykit and the floor run: {error}")
    figures: dict[str, dict[str, Side]] = {}
    if "sqlite" in stores:
        figures["sqlite"] = bench_sqlite(count, repeat, python)
    if "postgresql" in stores:
        url = os.environ.get(POSTGRES_URL_VARIABLE)
        if not url:
            print(f"\n== PostgreSQL: skipped ({POSTGRES_URL_VARIABLE} is not set)")
        else:
            figures["pg"] = bench_postgres(url, count, repeat, python, args.worker_seconds)


if __name__ == "__main__":
    main()
