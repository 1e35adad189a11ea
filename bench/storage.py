"""How fast is a payment lifecycle on each storage, and how many SQL statements does it take?

One lifecycle, as in bench/lifecycle.py but with its own card: add a payment method, create
a payment, process it through the sandbox gateway, then create and process two partial
refunds. It runs on the in-memory store, on SQLite (a file, WAL) and -- when
``PAYKIT_TEST_POSTGRES_URL`` is set -- on PostgreSQL (in a schema of its own, dropped at
the end), and prints lifecycles/s and the SQL statements per lifecycle, counted with
SQLAlchemy's ``before_cursor_execute`` event (``BEGIN``/``COMMIT`` included; the "data"
column leaves them out). On PostgreSQL it then runs 1 and 4 worker processes, each with
its own storage, service and sandbox, and prints the throughput ratio -- once with an
instant sandbox (the work is all CPU: paykit, SQLAlchemy, the driver and PostgreSQL share
the machine's cores) and once with a sandbox that takes 20 ms per call, a fast provider
(real ones take 100 ms and more), during which no transaction is open. Run::

    python bench/storage.py [--lifecycles N] [--repeat R] [--seconds S] [--latencies 0,0.02]
                            [--encryption]

``--encryption`` adds SQLite with encryption at rest off and on, and their ratio.

Figures are the best of R runs (the worker runs last S seconds each).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, NamedTuple

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.schema import CreateSchema, DropSchema

from paykit import PaymentService, SandboxGateway, SandboxToken, Storage
from paykit.encryption import KeyRing
from paykit.storage import InMemoryStorage
from paykit.storage.sql import SqlStorage

POSTGRES_URL_VARIABLE: Final = "PAYKIT_TEST_POSTGRES_URL"
OPERATIONS_PER_LIFECYCLE: Final = 7  # add method, create, process, 2 x (create + process refund)
_TRANSACTION_CONTROL: Final = frozenset({"BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"})


class Figures(NamedTuple):
    """What one storage measured."""

    lifecycles_per_second: float
    statements: float
    """SQL statements per lifecycle, transaction control included (0 for memory)."""
    data_statements: float
    """SELECT/INSERT/UPDATE/DELETE statements per lifecycle."""


def run_lifecycles(service: PaymentService, count: int, tag: str) -> None:
    """``count`` lifecycles: add a card, create, process, refund 30.00 and 20.00."""
    for number in range(count):
        customer = f"cus_{tag}_{number}"
        card = service.add_payment_method(customer, type="credit_card", token=SandboxToken.SUCCESS)
        payment = service.create_payment(
            customer_id=customer,
            order_id=f"ord_{tag}_{number}",
            payment_method_id=card.id,
            amount="100.00",
            currency="USD",
        )
        service.process_payment(payment.id)
        for amount in ("30.00", "20.00"):
            refund = service.create_refund(payment.id, amount)
            service.process_refund(refund.id)


def make_service(storage: Storage, latency: float = 0.0) -> PaymentService:
    """A service routing cards to a fresh sandbox; ``latency`` is slept on every gateway call."""
    sandbox = SandboxGateway(latency=latency)
    return PaymentService(storage, {"credit_card": sandbox})


class StatementCounter:
    """Counts the statements an engine sends, with and without transaction control."""

    def __init__(self, engine: Engine) -> None:
        self.total = 0
        self.control = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *args: Any) -> None:  # noqa: ANN401 - SQLAlchemy's event signature
        statement = args[2]
        self.total += 1
        if statement in _TRANSACTION_CONTROL:
            self.control += 1

    def reset(self) -> None:
        """Start counting from zero."""
        self.total = self.control = 0


def measure(storage: Storage, count: int, repeat: int) -> Figures:
    """Best-of-``repeat`` lifecycles/s on ``storage``, and its statements per lifecycle."""
    service = make_service(storage)
    counter = StatementCounter(storage.engine) if isinstance(storage, SqlStorage) else None
    run_lifecycles(service, 20, "warm")  # imports, statement caches, pool connections
    best = float("inf")
    statements = data = 0.0
    for attempt in range(repeat):
        if counter is not None:
            counter.reset()
        start = time.perf_counter()
        run_lifecycles(service, count, f"run{attempt}")
        best = min(best, time.perf_counter() - start)
        if counter is not None:
            statements = counter.total / count
            data = (counter.total - counter.control) / count
    return Figures(count / best, statements, data)


def _synchronous_normal(dbapi_connection: Any, _record: Any) -> None:  # noqa: ANN401 - driver objects
    """Let SQLite skip the fsync at each commit (durable up to a crash of the machine)."""
    dbapi_connection.execute("PRAGMA synchronous = NORMAL")


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A fresh schema for the benchmark, dropped afterwards."""
    engine = create_engine(url)
    name = f"paykit_bench_{uuid.uuid4().hex[:12]}"
    with engine.begin() as connection:
        connection.execute(CreateSchema(name))
    try:
        yield name
    finally:
        with engine.begin() as connection:
            connection.execute(DropSchema(name, cascade=True))
        engine.dispose()


def _worker(  # noqa: PLR0913, PLR0917 - what a spawned process needs, positionally
    url: str,
    schema: str,
    index: int,
    latency: float,
    seconds: float,
    start: Any,  # noqa: ANN401 - multiprocessing's synchronisation objects are untyped
    done: Any,  # noqa: ANN401
) -> None:
    """One benchmark process: its own storage and sandbox, lifecycles until time is up."""
    storage = SqlStorage(url, schema=schema)
    service = make_service(storage, latency)
    run_lifecycles(service, 5, f"w{index}warm")
    start.wait()
    deadline = time.perf_counter() + seconds
    count = 0
    while time.perf_counter() < deadline:
        run_lifecycles(service, 1, f"w{index}n{count}")
        count += 1
    done.put(count)
    storage.dispose()


def parallel_throughput(
    url: str, schema: str, workers: int, seconds: float, latency: float = 0.0
) -> float:
    """Lifecycles/s of ``workers`` processes running together for ``seconds``."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(workers + 1)
    done = context.Queue()
    processes = [
        context.Process(target=_worker, args=(url, schema, index, latency, seconds, start, done))
        for index in range(workers)
    ]
    for process in processes:
        process.start()
    start.wait()
    began = time.perf_counter()
    total: int = sum(done.get(timeout=seconds + 120) for _ in processes)
    elapsed = time.perf_counter() - began
    for process in processes:
        process.join(60)
    return total / elapsed


def compare_encryption(folder: Path, count: int, repeat: int) -> None:
    """SQLite lifecycles with encryption at rest off and on, each on a fresh file, alternated.

    On: every sensitive column sealed with AES-GCM, each new customer's data key created
    and wrapped (one per lifecycle here, the worst case), docs/encryption.md. Measured with
    the default fsync at each commit, then with ``synchronous=NORMAL`` (the CPU's share).
    """
    ring = KeyRing([("bench", os.urandom(32))])
    for relaxed in (False, True):
        best: dict[bool, float] = {False: 0.0, True: 0.0}
        for run in range(repeat):
            for encrypted in (False, True):
                name = f"encryption-{relaxed}-{encrypted}-{run}.db"
                storage = SqlStorage(
                    f"sqlite:///{folder / name}", encryption=ring if encrypted else None
                )
                if relaxed:
                    event.listen(storage.engine, "connect", _synchronous_normal)
                storage.upgrade()
                figures = measure(storage, count, 1)
                best[encrypted] = max(best[encrypted], figures.lifecycles_per_second)
                storage.dispose()
        mode = "synchronous=NORMAL" if relaxed else "file, WAL"
        print(
            f"sqlite ({mode}) encryption at rest: off {best[False]:,.0f}/s, "
            f"on {best[True]:,.0f}/s, on takes {best[False] / best[True]:.2f}x as long "
            "(target <= 1.15x)"
        )


def report(name: str, figures: Figures, *, sql: bool) -> None:
    """Print one storage's line."""
    per_op = 1e6 / figures.lifecycles_per_second / OPERATIONS_PER_LIFECYCLE
    statements = (
        f"{figures.statements:5.1f} statements/lifecycle ({figures.data_statements:.1f} data)"
        if sql
        else "    - (no SQL)"
    )
    print(
        f"{name:<28} {figures.lifecycles_per_second:>9,.0f} lifecycles/s "
        f"{per_op:7.1f} us/operation   {statements}"
    )


def main() -> None:
    """Measure every available storage and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lifecycles", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--latencies",
        default="0,0.02",
        help="gateway latencies (seconds, comma-separated) for the 1 vs 4 worker runs",
    )
    parser.add_argument(
        "--encryption",
        action="store_true",
        help="also compare SQLite with encryption at rest on and off (target within 1.15x)",
    )
    args = parser.parse_args()
    count, repeat = args.lifecycles, args.repeat
    print(f"lifecycles per run: {count}, best of {repeat} runs")

    report("memory", measure(InMemoryStorage(), count, repeat), sql=False)
    with tempfile.TemporaryDirectory() as folder:
        sqlite = SqlStorage(f"sqlite:///{Path(folder) / 'bench.db'}")
        sqlite.upgrade()
        report("sqlite (file, WAL)", measure(sqlite, count, repeat), sql=True)
        sqlite.dispose()
        # The same without waiting for fsync at each commit: what the disk costs.
        relaxed = SqlStorage(f"sqlite:///{Path(folder) / 'bench.db'}")
        event.listen(relaxed.engine, "connect", _synchronous_normal)
        report("sqlite (synchronous=NORMAL)", measure(relaxed, count, repeat), sql=True)
        relaxed.dispose()
        if args.encryption:
            compare_encryption(Path(folder), count, repeat)

    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        print(f"postgresql: skipped ({POSTGRES_URL_VARIABLE} is not set)")
        return
    with postgres_schema(url) as schema:
        postgres = SqlStorage(url, schema=schema)
        postgres.upgrade()
        report("postgresql", measure(postgres, count, repeat), sql=True)
        postgres.dispose()
        print(f"worker processes on PostgreSQL ({os.cpu_count()} CPUs on this machine):")
        for latency in (float(value) for value in args.latencies.split(",")):
            rates = {
                workers: max(
                    parallel_throughput(url, schema, workers, args.seconds, latency)
                    for _ in range(repeat)
                )
                for workers in (1, 4)
            }
            print(
                f"  gateway latency {latency * 1000:4.0f} ms: 1 worker {rates[1]:>7,.0f}/s, "
                f"4 workers {rates[4]:>7,.0f}/s, ratio {rates[4] / rates[1]:.2f}x "
                "(target >= 2.5x)"
            )


if __name__ == "__main__":
    main()
