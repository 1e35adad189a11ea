"""Payments at provider latency: AsyncPaymentService against PaymentService on 100 threads.

N payments (create + process) go through a gateway that takes ``--latency`` seconds per call
(``anyio.sleep`` on the async side, ``time.sleep`` on the sync side, then the instant
sandbox), ``--concurrency`` at a time. With enough concurrency the wall time approaches the
latency bound, N x latency / concurrency (1,000 x 0.05 s / 100 = 0.5 s); the figure printed
is wall time / bound for the async service (units of work in worker threads, the provider
call awaited) and for the sync service on a pool of ``--concurrency`` threads, in the same
run, on the in-memory store, a SQLite file and -- when ``PAYKIT_TEST_POSTGRES_URL`` is set
-- PostgreSQL (a schema of its own, dropped at the end). Targets for the async service:
<= 1.5x on memory and PostgreSQL, <= 2x on SQLite. Run::

    python bench/concurrency.py [--payments 1000] [--concurrency 100] [--latency 0.05]

Each figure is the best of ``--repeat`` runs; every run checks that each payment completed
and was charged exactly once. The last figures are the same payments one at a time with no
provider latency: what the storage and paykit cost by themselves, in wall time and in this
process's CPU time. That CPU time over the latency bound is the **storage floor**: Python
runs on one core at a time (the GIL), so no concurrency takes the wall time of the same
work below it -- on PostgreSQL the server's CPU shares the two cores as well. When the floor
is above a target, the target cannot be met by scheduling, only by cheaper units of work
(docs/performance.md, "Choosing the storage path for async").

Options for the measurement: ``--threads`` sets anyio's worker-thread limit for the async
service (default: anyio's 40; a list such as ``40,4`` runs the async side once per value,
interleaved, and prints each), ``--worker-threads N`` builds the async service with
``worker_threads=N`` instead (its own limiter: what a host would configure; 0 keeps anyio's
default), ``--pool`` the connections of each SQL storage (default: paykit's 5 + 10 on SQLite,
40 on PostgreSQL), ``--sides`` which of async, sync and floor run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, NamedTuple

import anyio
import anyio.to_thread
from sqlalchemy import event
from storage import postgres_schema  # bench/storage.py

from paykit import (
    GatewayResult,
    PaymentService,
    PaymentStatus,
    SandboxGateway,
    SandboxToken,
    Storage,
)
from paykit.gateways.base import (
    CaptureRequest,
    ChargeRequest,
    PaymentLookup,
    RefundLookup,
    RefundRequest,
    VoidRequest,
)
from paykit.service import AsyncPaymentService
from paykit.storage import InMemoryStorage
from paykit.storage.sql import SqlStorage

POSTGRES_URL_VARIABLE: Final = "PAYKIT_TEST_POSTGRES_URL"
CUSTOMERS: Final = 100
POOL: Final = 40
"""PostgreSQL connections per storage (the async side's worker threads: anyio's default 40)."""


class Timing(NamedTuple):
    """One run's seconds: wall, this process's CPU (all threads), the server's CPU.

    The server's is known for a PostgreSQL on this machine only (``None`` elsewhere).
    """

    wall: float
    cpu: float
    server: float | None


class Load(NamedTuple):
    """How a run is driven: tasks (or threads) at a time, provider latency, worker threads."""

    concurrency: int
    latency: float
    threads: int = 0
    """anyio's worker-thread limit for the async service; 0 keeps its default of 40."""
    worker_threads: int = 0
    """The async service's own ``worker_threads``; 0 builds it without (anyio's limiter)."""


class Meter:
    """Measures one run: wall time, this process's CPU time, and ``server_cpu()``'s growth."""

    def __init__(self, server_cpu: Callable[[], float | None] = lambda: None) -> None:
        self._server_cpu = server_cpu
        self._started: tuple[float, float, float | None] = (0.0, 0.0, None)

    def start(self) -> None:
        """Note the clocks; the run's work starts now."""
        self._started = (time.perf_counter(), time.process_time(), self._server_cpu())

    def stop(self) -> Timing:
        """The clocks' growth since :meth:`start`."""
        wall, cpu, server = self._started
        server_now = self._server_cpu()
        return Timing(
            time.perf_counter() - wall,
            time.process_time() - cpu,
            None if server is None or server_now is None else server_now - server,
        )


def backend_cpu(storage: Storage) -> Callable[[], float | None]:
    """CPU seconds used so far by the PostgreSQL backends serving ``storage``.

    Each connection's server process id is noted as the pool opens it (the pool is emptied
    first, so every connection is seen); their CPU is read from ``/proc``, so only for a
    server on this machine (``None`` otherwise, and for SQLite and memory).
    """
    if not isinstance(storage, SqlStorage) or storage.engine.dialect.name != "postgresql":
        return lambda: None
    storage.engine.dispose()
    backends: set[int] = set()

    def connected(dbapi_connection: Any, _record: object) -> None:  # noqa: ANN401 - a DBAPI connection
        backends.add(dbapi_connection.info.backend_pid)

    event.listen(storage.engine, "connect", connected)
    ticks = os.sysconf("SC_CLK_TCK")

    def seconds() -> float | None:
        total, seen = 0, False
        for pid in backends:
            try:
                # Fields 14 and 15 of /proc/<pid>/stat: user and system time, in clock ticks.
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
            seen = True
        return total / ticks if seen else None

    return seconds


class SlowGateway:
    """The sandbox behind a provider that takes ``latency`` seconds to answer a charge."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.sandbox = SandboxGateway()

    @property
    def name(self) -> str:
        """The sandbox's name: payment methods saved through it carry it."""
        return self.sandbox.name

    def charge(self, request: ChargeRequest) -> GatewayResult:
        """Wait, blocking this thread, then charge."""
        time.sleep(self.latency)
        return self.sandbox.charge(request)

    async def charge_async(self, request: ChargeRequest) -> GatewayResult:
        """Wait without blocking the event loop, then charge."""
        await anyio.sleep(self.latency)
        return self.sandbox.charge(request)

    def capture(self, request: CaptureRequest) -> GatewayResult:
        """Not used by the benchmark: the sandbox's."""
        return self.sandbox.capture(request)

    def void(self, request: VoidRequest) -> GatewayResult:
        """Not used by the benchmark: the sandbox's."""
        return self.sandbox.void(request)

    def refund(self, request: RefundRequest) -> GatewayResult:
        """Not used by the benchmark: the sandbox's."""
        return self.sandbox.refund(request)

    def retrieve_payment(self, lookup: PaymentLookup) -> GatewayResult:
        """Not used by the benchmark: the sandbox's."""
        return self.sandbox.retrieve_payment(lookup)

    def retrieve_refund(self, lookup: RefundLookup) -> GatewayResult:
        """Not used by the benchmark: the sandbox's."""
        return self.sandbox.retrieve_refund(lookup)


def _cards(storage: Storage, gateway: SlowGateway) -> list[tuple[str, str]]:
    """One saved card per customer: (customer id, payment method id)."""
    setup = PaymentService(storage, {"credit_card": gateway})
    return [
        (
            customer,
            setup.add_payment_method(customer, type="credit_card", token=SandboxToken.SUCCESS).id,
        )
        for customer in (f"cus_{index}" for index in range(CUSTOMERS))
    ]


def run_sync(storage: Storage, payments: int, load: Load, meter: Meter) -> Timing:
    """Wall time of ``payments`` create + process on a pool of ``load.concurrency`` threads."""
    gateway = SlowGateway(load.latency)
    service = PaymentService(storage, {"credit_card": gateway})
    cards = _cards(storage, gateway)

    def one(index: int) -> PaymentStatus:
        customer, card = cards[index % len(cards)]
        payment = service.create_payment(
            customer_id=customer,
            order_id=f"ord_{index}",
            payment_method_id=card,
            amount="10.00",
            currency="USD",
        )
        return service.process_payment(payment.id).status

    with ThreadPoolExecutor(max_workers=load.concurrency) as pool:
        meter.start()
        statuses = list(pool.map(one, range(payments)))
        elapsed = meter.stop()
    _check(statuses, gateway, payments)
    return elapsed


def run_async(storage: Storage, payments: int, load: Load, meter: Meter) -> Timing:
    """Wall time of ``payments`` create + process, ``load.concurrency`` tasks at a time."""
    gateway = SlowGateway(load.latency)
    service = AsyncPaymentService(
        storage, {"credit_card": gateway}, worker_threads=load.worker_threads or None
    )
    cards = _cards(storage, gateway)
    statuses: list[PaymentStatus] = []

    async def one(index: int, limiter: anyio.CapacityLimiter) -> None:
        async with limiter:
            customer, card = cards[index % len(cards)]
            payment = await service.create_payment(
                customer_id=customer,
                order_id=f"ord_{index}",
                payment_method_id=card,
                amount="10.00",
                currency="USD",
            )
            statuses.append((await service.process_payment(payment.id)).status)

    async def main() -> Timing:
        if load.threads:
            anyio.to_thread.current_default_thread_limiter().total_tokens = load.threads
        limiter = anyio.CapacityLimiter(load.concurrency)
        meter.start()
        async with anyio.create_task_group() as tasks:
            for index in range(payments):
                tasks.start_soon(one, index, limiter)
        return meter.stop()

    elapsed = anyio.run(main)
    _check(statuses, gateway, payments)
    return elapsed


def _check(statuses: list[PaymentStatus], gateway: SlowGateway, payments: int) -> None:
    completed = sum(status is PaymentStatus.COMPLETED for status in statuses)
    charges = sum(1 for call in gateway.sandbox.calls if call == "charge")
    if completed != payments or charges != payments:
        msg = f"expected {payments} completed, single charges; got {completed} and {charges}"
        raise AssertionError(msg)


@contextmanager
def _postgres(url: str, pool: int) -> Iterator[Callable[[], SqlStorage]]:
    """Fresh storages in one schema of their own, dropped afterwards."""
    with postgres_schema(url) as schema:
        made: list[SqlStorage] = []

        def make() -> SqlStorage:
            # 40 connections: the server allows 100, shared with whatever else runs.
            storage = SqlStorage(url, schema=schema, pool_size=pool, max_overflow=0)
            if not made:
                _create_tables(storage)
            made.append(storage)
            return storage

        yield make


def _create_tables(storage: SqlStorage) -> None:
    """The tables as the code defines them (what ``upgrade()`` reaches at the head)."""
    storage.tables.metadata.create_all(storage.engine)


def report(
    label: str, make: Callable[[], Storage], target: float, args: argparse.Namespace
) -> None:
    """Run the chosen sides on fresh storages from ``make``; print one line of figures."""
    bound = args.payments * args.latency / args.concurrency
    wanted = set(args.sides.split(","))
    limits = [int(threads) for threads in args.threads.split(",")]
    sides = [
        ("async" if len(limits) == 1 else f"async, threads={threads or 40}:", run_async, threads)
        for threads in limits
    ]
    sides += [("sync", run_sync, 0), ("floor", run_sync, 0)]
    runs: dict[str, list[Timing]] = {side: [] for side, *_ in sides if side.split(",")[0] in wanted}
    # Interleaved (async, sync, floor, async, ...): a noisy neighbour hits all sides alike.
    for _ in range(args.repeat):
        for side, run, threads in sides:
            if side not in runs:
                continue
            load = (
                Load(1, 0.0)
                if side == "floor"
                else Load(args.concurrency, args.latency, threads, args.worker_threads)
            )
            storage = make()
            meter = Meter(backend_cpu(storage))
            try:
                runs[side].append(run(storage, args.payments, load, meter))
            finally:
                if isinstance(storage, SqlStorage):
                    storage.dispose()
    parts = [f"  {label:<12}"]
    for side, timings in runs.items():
        if not side.startswith("async"):
            continue
        wall = min(timing.wall for timing in timings)
        worst = max(timing.wall for timing in timings)
        verdict = "ok" if wall / bound <= target else "MISSED"
        parts.append(
            f"{side} {wall:5.2f} s = {wall / bound:5.2f}x (worst {worst / bound:5.2f}x; "
            f"target <= {target}x: {verdict});"
        )
    if "sync" in runs:
        wall = min(timing.wall for timing in runs["sync"])
        parts.append(f"sync on {args.concurrency} threads {wall / bound:5.2f}x;")
    if "floor" in runs:
        wall = min(timing.wall for timing in runs["floor"])
        cpu = min(timing.cpu for timing in runs["floor"])
        server = [timing.server for timing in runs["floor"] if timing.server is not None]
        parts.append(
            f"one thread, no latency {wall:5.2f} s, CPU {cpu:5.2f} s"
            + (f" (+ server {min(server):5.2f} s)" if server else "")
            + f": storage floor / latency bound = {cpu / bound:5.2f}x"
        )
    print(" ".join(parts), flush=True)


def main() -> None:
    """Run both services on every available storage and print wall time / latency bound."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--payments", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--storages", default="memory,sqlite,postgresql")
    parser.add_argument(
        "--threads", default="0", help="anyio worker threads (0: its 40); a list runs each"
    )
    parser.add_argument(
        "--worker-threads", type=int, default=0, help="the async service's worker_threads (0: none)"
    )
    parser.add_argument("--pool", type=int, default=0, help="SQL connections (0: as above)")
    parser.add_argument("--sides", default="async,sync,floor")
    args = parser.parse_args()
    storages = set(args.storages.split(","))
    bound = args.payments * args.latency / args.concurrency
    print(
        f"{args.payments} payments (create + process), {args.concurrency} at a time, "
        f"{args.latency * 1000:.0f} ms per provider call: latency bound {bound:.2f} s; "
        f"best of {args.repeat} runs; {os.cpu_count()} CPUs"
        + (f"; async service worker_threads={args.worker_threads}" if args.worker_threads else "")
    )
    if "memory" in storages:
        report("memory", InMemoryStorage, 1.5, args)
    with tempfile.TemporaryDirectory() as folder:
        files = iter(range(1_000_000))
        pool: dict[str, Any] = {"pool_size": args.pool, "max_overflow": 0} if args.pool else {}

        def sqlite() -> SqlStorage:
            storage = SqlStorage(f"sqlite:///{Path(folder) / f'bench{next(files)}.db'}", **pool)
            _create_tables(storage)
            return storage

        if "sqlite" in storages:
            report("sqlite file", sqlite, 2.0, args)

    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if "postgresql" not in storages:
        return
    if not url:
        print(f"  postgresql   skipped ({POSTGRES_URL_VARIABLE} is not set)")
        return
    with _postgres(url, args.pool or POOL) as postgres:
        report("postgresql", postgres, 1.5, args)


if __name__ == "__main__":
    main()
