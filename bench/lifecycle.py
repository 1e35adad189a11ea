"""How fast is a payment lifecycle through paykit, against a plain-dict floor in the same run?

One lifecycle: create a payment, process it through the sandbox gateway, then create and
process two partial refunds -- every step with its audit log entries, ids and timestamps.
The floor does the same state changes on plain dicts with no validation, no storage
isolation and no gateway: the least any implementation could do. Run::

    python bench/lifecycle.py [--lifecycles N] [--repeat R]

It prints lifecycles/s, microseconds per service operation, paykit's time as a multiple of
the floor, and how much of paykit's time the garbage collector took. Figures are the best of
R runs, to keep noise from other processes out.
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from paykit import InMemoryStorage, PaymentService, SandboxGateway, SandboxToken

OPERATIONS_PER_LIFECYCLE = 7  # create, process, 2 x (create refund, process refund), + read


def paykit_lifecycles(count: int) -> None:
    """Run ``count`` lifecycles through the service, the in-memory store and the sandbox."""
    sandbox = SandboxGateway()
    service = PaymentService(InMemoryStorage(), gateways={"credit_card": sandbox})
    card = service.add_payment_method("cus_bench", type="credit_card", token=SandboxToken.SUCCESS)
    for number in range(count):
        payment = service.create_payment(
            customer_id="cus_bench",
            order_id=f"ord_{number}",
            payment_method_id=card.id,
            amount="100.00",
            currency="USD",
        )
        service.process_payment(payment.id)
        for amount in ("30.00", "20.00"):
            refund = service.create_refund(payment.id, amount)
            service.process_refund(refund.id)
        service.get_payment(payment.id)


def floor_lifecycles(count: int) -> None:
    """The same state changes on plain dicts: ids, timestamps, Decimals and log entries."""
    payments: dict[str, dict[str, object]] = {}
    refunds: dict[str, dict[str, object]] = {}
    log: list[dict[str, object]] = []

    def new_id(prefix: str) -> str:
        return f"{prefix}_{os.urandom(12).hex()}"

    def entry(payment_id: str, kind: str, old: str | None, new: str) -> None:
        log.append(
            {
                "id": new_id("log"),
                "payment_id": payment_id,
                "type": kind,
                "from": old,
                "to": new,
                "at": datetime.now(UTC),
            }
        )

    for number in range(count):
        payment_id = new_id("pay")
        amount = Decimal("100.00")
        payment: dict[str, object] = {
            "id": payment_id,
            "order_id": f"ord_{number}",
            "amount": amount,
            "currency": "USD",
            "status": "pending",
            "refunded": Decimal(0),
            "created_at": datetime.now(UTC),
        }
        payments[payment_id] = payment
        entry(payment_id, "payment_created", None, "pending")
        payment["status"] = "processing"
        entry(payment_id, "payment_processing", "pending", "processing")
        payment["status"] = "completed"
        payment["provider_id"] = new_id("pi")
        entry(payment_id, "payment_processed", "processing", "completed")
        for refund_amount in (Decimal("30.00"), Decimal("20.00")):
            refunded = payment["refunded"]
            assert isinstance(refunded, Decimal)  # noqa: S101 - keeps the floor honest and typed
            if refunded + refund_amount > amount:
                raise AssertionError
            refund_id = new_id("re")
            refunds[refund_id] = {"id": refund_id, "amount": refund_amount, "status": "pending"}
            entry(payment_id, "refund_created", None, "pending")
            refunds[refund_id]["status"] = "processing"
            entry(payment_id, "refund_processing", "pending", "processing")
            refunds[refund_id]["status"] = "completed"
            entry(payment_id, "refund_processed", "processing", "completed")
            payment["refunded"] = refunded + refund_amount
            if payment["status"] == "completed":
                payment["status"] = "partially_refunded"
                entry(payment_id, "status_changed", "completed", "partially_refunded")


class CollectorClock:
    """Seconds the cyclic garbage collector runs, read from ``gc.callbacks``.

    The in-memory store keeps every record alive, so each full collection walks a heap that
    grows with the run: the share depends on ``--lifecycles``, and it is worth knowing how
    much of a figure is the collector's rather than paykit's own code.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, _info: dict[str, int]) -> None:
        """Called by the collector at the ``start`` and ``stop`` of each collection."""
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


def best_time(run: Callable[[int], None], count: int, repeat: int) -> tuple[float, float]:
    """The fastest of ``repeat`` timed runs of ``run(count)`` and its collector time, in s."""
    timings = []
    for _ in range(repeat):
        collector = CollectorClock()
        gc.callbacks.append(collector)
        start = time.perf_counter()
        try:
            run(count)
        finally:
            elapsed = time.perf_counter() - start
            gc.callbacks.remove(collector)
        timings.append((elapsed, collector.seconds))
    return min(timings)


def main() -> None:
    """Measure both loops and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lifecycles", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    count, repeat = args.lifecycles, args.repeat

    paykit_lifecycles(200)  # warm up imports and caches
    floor_lifecycles(200)
    paykit_s, paykit_gc_s = best_time(paykit_lifecycles, count, repeat)
    floor_s, _floor_gc_s = best_time(floor_lifecycles, count, repeat)

    print(f"lifecycles per run: {count}, best of {repeat} runs")
    print(
        f"paykit (service + in-memory + sandbox): {count / paykit_s:>10,.0f} lifecycles/s  "
        f"{paykit_s / count / OPERATIONS_PER_LIFECYCLE * 1e6:6.1f} us/operation"
    )
    print(f"floor  (plain dicts, same changes):     {count / floor_s:>10,.0f} lifecycles/s")
    print(f"paykit / floor time ratio:              {paykit_s / floor_s:>10.2f}x")
    print(f"garbage collection, share of paykit's:  {paykit_gc_s / paykit_s:>10.0%}")


if __name__ == "__main__":
    main()
