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
and was charged exactly once. The last figure is the same payments one at a time with no
provider latency: what the storage and paykit cost by themselves. Where the run saturates
the machine's cores (SQLite's single writer, PostgreSQL on the same two cores), concurrency
cannot take the wall time much below it, whatever the latency bound says.
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
from typing import Final

import anyio
import anyio.to_thread

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


def run_sync(storage: Storage, payments: int, concurrency: int, latency: float) -> float:
    """Wall time of ``payments`` create + process on a pool of ``concurrency`` threads."""
    gateway = SlowGateway(latency)
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

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        started = time.perf_counter()
        statuses = list(pool.map(one, range(payments)))
        elapsed = time.perf_counter() - started
    _check(statuses, gateway, payments)
    return elapsed


def run_async(storage: Storage, payments: int, concurrency: int, latency: float) -> float:
    """Wall time of ``payments`` create + process, ``concurrency`` tasks at a time."""
    gateway = SlowGateway(latency)
    service = AsyncPaymentService(storage, {"credit_card": gateway})
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

    async def main() -> float:
        limiter = anyio.CapacityLimiter(concurrency)
        started = time.perf_counter()
        async with anyio.create_task_group() as tasks:
            for index in range(payments):
                tasks.start_soon(one, index, limiter)
        return time.perf_counter() - started

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
def _postgres(url: str) -> Iterator[Callable[[], SqlStorage]]:
    """Fresh storages in one schema of their own, dropped afterwards."""
    import uuid  # noqa: PLC0415 - only the PostgreSQL run needs it

    from sqlalchemy import create_engine  # noqa: PLC0415
    from sqlalchemy.schema import CreateSchema, DropSchema  # noqa: PLC0415

    engine = create_engine(url)
    schema = f"paykit_bench_{uuid.uuid4().hex[:12]}"
    with engine.begin() as connection:
        connection.execute(CreateSchema(schema))
    made: list[SqlStorage] = []

    def make() -> SqlStorage:
        # 40 connections: the server allows 100, shared with whatever else runs.
        storage = SqlStorage(url, schema=schema, pool_size=POOL, max_overflow=0)
        if not made:
            _create_tables(storage)
        made.append(storage)
        return storage

    try:
        yield make
    finally:
        with engine.begin() as connection:
            connection.execute(DropSchema(schema, cascade=True))
        engine.dispose()


def _create_tables(storage: SqlStorage) -> None:
    """The tables as the code defines them (what ``upgrade()`` reaches at the head)."""
    storage.tables.metadata.create_all(storage.engine)


def main() -> None:
    """Run both services on every available storage and print wall time / latency bound."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--payments", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--storages", default="memory,sqlite,postgresql")
    args = parser.parse_args()
    storages = set(args.storages.split(","))
    bound = args.payments * args.latency / args.concurrency
    print(
        f"{args.payments} payments (create + process), {args.concurrency} at a time, "
        f"{args.latency * 1000:.0f} ms per provider call: latency bound {bound:.2f} s; "
        f"best of {args.repeat} runs; {os.cpu_count()} CPUs"
    )

    def report(label: str, make: Callable[[], Storage], target: float) -> None:
        figures = {}
        sides = (
            ("async", run_async, args.concurrency, args.latency),
            ("sync", run_sync, args.concurrency, args.latency),
            ("floor", run_sync, 1, 0.0),
        )
        for side, run, concurrency, latency in sides:
            runs = []
            for _ in range(args.repeat):
                storage = make()
                try:
                    runs.append(run(storage, args.payments, concurrency, latency))
                finally:
                    if isinstance(storage, SqlStorage):
                        storage.dispose()
            figures[side] = min(runs)
        verdict = "ok" if figures["async"] / bound <= target else "MISSED"
        print(
            f"  {label:<12} async {figures['async']:6.2f} s = {figures['async'] / bound:5.2f}x "
            f"(target <= {target}x: {verdict}); sync on {args.concurrency} threads "
            f"{figures['sync']:6.2f} s = {figures['sync'] / bound:5.2f}x; "
            f"one thread, no latency {figures['floor']:5.2f} s"
        )

    if "memory" in storages:
        report("memory", InMemoryStorage, 1.5)
    with tempfile.TemporaryDirectory() as folder:
        files = iter(range(1_000_000))

        def sqlite() -> SqlStorage:
            storage = SqlStorage(f"sqlite:///{Path(folder) / f'bench{next(files)}.db'}")
            _create_tables(storage)
            return storage

        if "sqlite" in storages:
            report("sqlite file", sqlite, 2.0)

    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if "postgresql" not in storages:
        return
    if not url:
        print(f"  postgresql   skipped ({POSTGRES_URL_VARIABLE} is not set)")
        return
    with _postgres(url) as postgres:
        report("postgresql", postgres, 1.5)


if __name__ == "__main__":
    main()
