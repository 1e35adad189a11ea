"""Automation sweeps from several workers on one SQL database: each refund is made once.

On SQLite and PostgreSQL (the ``sql_storage`` fixture runs both): two workers racing on
one decision (deterministically, the second committing in the middle of the first), and
threads sweeping the same duplicates at once, each end with exactly one refund per
duplicate and one action record per (policy, payment).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from paykit import Money, Payment, PaymentService, PaymentStatus, SandboxGateway, SandboxToken
from paykit.automation import (
    ActionMode,
    ActionStatus,
    AutomationReport,
    AutomationSettings,
    DuplicateChargePolicy,
    Policy,
)
from paykit.gateways import LedgerKind
from paykit.storage.sql import SqlStorage
from paykit.testing.races import RunBeforeCommit

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
AUTO = AutomationSettings(duplicate_charge=DuplicateChargePolicy(mode=ActionMode.AUTO))


class _Clock:
    """A shared clock, a millisecond later at every reading (from any thread)."""

    def __init__(self) -> None:
        self.now = T0
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        """The time now."""
        with self._lock:
            self.now += timedelta(milliseconds=1)
            return self.now


def _duplicates(service: PaymentService, count: int) -> list[Payment]:
    """``count`` orders each paid twice (the policy off): the second payments."""
    seconds = []
    for number in range(count):
        card = service.add_payment_method("cus_1", type="credit_card", token=SandboxToken.SUCCESS)
        pays = []
        for _ in range(2):
            payment = service.create_payment(
                customer_id="cus_1",
                order_id=f"ord_{number}",
                payment_method_id=card.id,
                amount="15.00",
                currency="USD",
            )
            pays.append(service.process_payment(payment.id))
        seconds.append(pays[1])
    return seconds


def _refunds(sandbox: SandboxGateway, payment_id: str) -> list[Money]:
    return [e.amount for e in sandbox.ledger_for(payment_id) if e.kind is LedgerKind.REFUND]


def test_a_worker_that_loses_the_race_on_a_decision_does_nothing(
    sql_storage: SqlStorage,
) -> None:
    """B records and refunds while A is about to commit; A conflicts, re-reads, skips."""
    sandbox, clock = SandboxGateway(), _Clock()
    setup = PaymentService(sql_storage, {"credit_card": sandbox}, clock=clock)
    [second] = _duplicates(setup, 1)
    worker_b = PaymentService(sql_storage, {"credit_card": sandbox}, clock=clock, automation=AUTO)
    reports: dict[str, AutomationReport] = {}
    raced = RunBeforeCommit(sql_storage, lambda: reports.update(b=worker_b.automation.sweep()))
    worker_a = PaymentService(raced, {"credit_card": sandbox}, clock=clock, automation=AUTO)

    reports["a"] = worker_a.automation.sweep()

    assert raced.fired
    assert reports["b"].count(ActionStatus.DONE) == 1
    assert reports["a"].count(ActionStatus.DONE) == 0
    assert _refunds(sandbox, second.id) == [Money.of("15.00", "USD")]
    assert len(setup.list_refunds(second.id)) == 1
    assert len(setup.automation.actions()) == 1
    assert setup.get_payment_status(second.id) is PaymentStatus.REFUNDED


def test_two_workers_sweeping_at_once_refund_each_duplicate_once(
    sql_storage: SqlStorage,
) -> None:
    """Two threads sweep the same ten duplicates at once: ten refunds, no more."""
    sandbox, clock = SandboxGateway(), _Clock()
    setup = PaymentService(sql_storage, {"credit_card": sandbox}, clock=clock)
    seconds = _duplicates(setup, 10)
    start = threading.Barrier(2)
    reports: list[AutomationReport] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        worker = PaymentService(sql_storage, {"credit_card": sandbox}, clock=clock, automation=AUTO)
        try:
            start.wait(timeout=30)
            reports.append(worker.automation.sweep())
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert len(reports) == 2
    assert sum(report.count(ActionStatus.DONE) for report in reports) == 10
    for second in seconds:
        assert _refunds(sandbox, second.id) == [Money.of("15.00", "USD")]
        assert setup.get_payment_status(second.id) is PaymentStatus.REFUNDED
    assert len(setup.automation.actions()) == 10


def test_two_workers_cancelling_one_order_at_once_refund_it_once(
    sql_storage: SqlStorage,
) -> None:
    """The host's cancellation delivered twice, to two workers at once: one refund."""
    sandbox, clock = SandboxGateway(), _Clock()
    settings = AutomationSettings(order_cancelled=Policy(mode=ActionMode.AUTO))
    setup = PaymentService(sql_storage, {"credit_card": sandbox}, clock=clock)
    card = setup.add_payment_method("cus_1", type="credit_card", token=SandboxToken.SUCCESS)
    payment = setup.process_payment(
        setup.create_payment(
            customer_id="cus_1",
            order_id="ord_x",
            payment_method_id=card.id,
            amount="80.00",
            currency="USD",
        ).id
    )
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def cancel() -> None:
        worker = PaymentService(
            sql_storage, {"credit_card": sandbox}, clock=clock, automation=settings
        )
        try:
            start.wait(timeout=30)
            worker.order_cancelled("ord_x", reason="customer asked")
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=cancel) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert _refunds(sandbox, payment.id) == [Money.of("80.00", "USD")]
    assert setup.get_payment_status(payment.id) is PaymentStatus.REFUNDED
    [action] = setup.automation.actions()
    assert action.status is ActionStatus.DONE
