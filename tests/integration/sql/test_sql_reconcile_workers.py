"""Reconciliation sweeps from several workers on one SQL database ask about each record once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

from _scripted_webhooks import ScriptedWebhooks

from paykit import (
    PaymentProcessingError,
    PaymentService,
    PaymentStatus,
    ReconcileReport,
    SandboxGateway,
    SandboxToken,
    SweepCounts,
)
from paykit.gateways.base import GatewayResult, PaymentLookup
from paykit.storage.sql import SqlStorage
from paykit.testing import RunBeforeCommit

T0 = datetime(2026, 3, 1, tzinfo=UTC)


class CountingLookups(ScriptedWebhooks):
    """The sandbox, counting how often each payment is looked up (from any thread)."""

    def __init__(self, sandbox: SandboxGateway) -> None:
        super().__init__(sandbox)
        self.lookups: Counter[str] = Counter()
        self._lock = threading.Lock()

    def retrieve_payment(self, lookup: PaymentLookup) -> GatewayResult:
        """Count, then ask the sandbox."""
        with self._lock:
            self.lookups[lookup.payment_id] += 1
        return super().retrieve_payment(lookup)


def _stuck_payments(service: PaymentService, gateway: CountingLookups, count: int) -> list[str]:
    """``count`` payments the sandbox charged whose answers never reached paykit."""
    gateway.lose_answers = True
    method = service.add_payment_method("cus_1", type="credit_card", token=SandboxToken.SUCCESS)
    ids = []
    for number in range(count):
        payment = service.create_payment(
            customer_id="cus_1",
            order_id=f"ord_{number}",
            payment_method_id=method.id,
            amount="10.00",
            currency="USD",
        )
        try:
            service.process_payment(payment.id)
        except PaymentProcessingError:
            ids.append(payment.id)
    gateway.lose_answers = False
    return ids


def test_a_claim_that_loses_the_race_skips_the_record(sql_storage: SqlStorage) -> None:
    """Both workers listed the payment; B's claim commits first, A's conflicts and skips."""
    gateway = CountingLookups(SandboxGateway())
    clock = [T0]
    worker_b = PaymentService(sql_storage, {"credit_card": gateway}, clock=lambda: clock[0])
    [payment_id] = _stuck_payments(worker_b, gateway, 1)
    clock[0] += timedelta(hours=1)
    reports: dict[str, ReconcileReport] = {}
    racing = RunBeforeCommit(sql_storage, lambda: reports.update(b=worker_b.reconcile()))
    worker_a = PaymentService(racing, {"credit_card": gateway}, clock=lambda: clock[0])

    reports["a"] = worker_a.reconcile()

    assert racing.conflicts == 1
    assert reports["b"].payments == SweepCounts(examined=1, settled=1)
    assert reports["a"].payments == SweepCounts(skipped=1)
    assert gateway.lookups == Counter({payment_id: 1})
    assert worker_a.get_payment_status(payment_id) is PaymentStatus.COMPLETED


def test_four_workers_sweeping_at_once_ask_about_each_payment_once(
    sql_storage: SqlStorage,
) -> None:
    """Four threads sweep the same 30 payments; every one is asked about exactly once."""
    gateway = CountingLookups(SandboxGateway())
    clock = [T0]
    setup = PaymentService(sql_storage, {"credit_card": gateway}, clock=lambda: clock[0])
    stuck = _stuck_payments(setup, gateway, 30)
    clock[0] += timedelta(hours=1)
    start = threading.Barrier(4)
    reports: list[ReconcileReport] = []

    def sweep() -> None:
        worker = PaymentService(sql_storage, {"credit_card": gateway}, clock=lambda: clock[0])
        start.wait(timeout=30)
        reports.append(worker.reconcile())

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert len(reports) == 4
    assert gateway.lookups == Counter(dict.fromkeys(stuck, 1))
    assert sum(report.payments.settled for report in reports) == 30
    assert sum(report.payments.examined for report in reports) == 30
    statuses = {setup.get_payment_status(payment_id) for payment_id in stuck}
    assert statuses == {PaymentStatus.COMPLETED}
