"""Races between OS processes on one PostgreSQL database: the refund ceiling, single processing.

Each racer is a separate process (``spawn``) with its own ``SqlStorage``, service and
sandbox, as separate application workers would be. A barrier holds every racer after its
reads and just before its first commit, so all of them decide on the same version of the
payment and the race is real on every run, not a matter of scheduling luck.

The racers run PaymentService, then AsyncPaymentService on an event loop of their own
(``tests/_service_sides.py``, #16): each child below builds the service its side names. The
parent sets up and judges through a plain PaymentService.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

from _service_sides import SIDES, SideName, service_side
from paykit import (
    InvalidRefundAmountError,
    InvalidStateTransition,
    LogType,
    Money,
    PaymentStatus,
    RefundStatus,
    SandboxGateway,
)
from paykit.gateways.sandbox import LedgerKind
from paykit.storage.sql import SqlStorage

from ._sql_support import (
    CHILD_TIMEOUT,
    BarrierStorage,
    completed_payment,
    make_service,
    open_storage,
    pending_payment,
    run_children,
)

SPAWN = multiprocessing.get_context("spawn")


def usd(amount: str) -> Money:
    """``amount`` US dollars."""
    return Money.of(amount, "USD")


# -- the racers: module-level, so a spawned child can import them by name --------------------


def refund_child(  # noqa: PLR0913, PLR0917 - spawn passes them by position
    side: SideName, url: str, schema: str | None, payment_id: str, barrier: Any, results: Any
) -> None:
    """Try to refund 30.00 of ``payment_id``; report ``(outcome, refund id, conflicts)``."""
    storage = open_storage(url, schema)
    racer = BarrierStorage(storage, barrier)
    try:
        with service_side(side) as sides:
            service = sides.service(racer, {"credit_card": SandboxGateway()})
            try:
                refund = service.create_refund(payment_id, "30.00")
            except InvalidRefundAmountError:
                results.put(("refused", None, racer.conflicts))
            except Exception as error:  # noqa: BLE001 - the parent asserts on every outcome
                results.put((f"error: {error!r}", None, racer.conflicts))
            else:
                results.put(("created", refund.id, racer.conflicts))
    finally:
        storage.dispose()


def process_child(  # noqa: PLR0913, PLR0917 - spawn passes them by position
    side: SideName, url: str, schema: str | None, payment_id: str, barrier: Any, results: Any
) -> None:
    """Try to process ``payment_id``; report ``(outcome, charges by my sandbox, conflicts)``."""
    storage = open_storage(url, schema)
    racer = BarrierStorage(storage, barrier)
    sandbox = SandboxGateway()
    try:
        with service_side(side) as sides:
            service = sides.service(racer, {"credit_card": sandbox})
            try:
                outcome = str(service.process_payment(payment_id).status)
            except InvalidStateTransition:
                outcome = "refused"
            except Exception as error:  # noqa: BLE001 - the parent asserts on every outcome
                outcome = f"error: {error!r}"
        charges = sum(1 for entry in sandbox.ledger if entry.kind is LedgerKind.CHARGE)
        results.put((outcome, charges, racer.conflicts))
    finally:
        storage.dispose()


# -- the races -------------------------------------------------------------------------------


@pytest.mark.parametrize("side", SIDES)
def test_eight_processes_refunding_30_of_100_get_exactly_three_refunds(
    side: SideName, postgres_url: str, postgres_schema: str
) -> None:
    """Eight processes each refunding 30.00 of one 100.00 payment: three succeed, 90.00 total."""
    storage = SqlStorage(postgres_url, schema=postgres_schema)
    storage.upgrade()
    sandbox = SandboxGateway()  # the provider that took the charge
    service = make_service(storage, sandbox)
    payment = completed_payment(service)
    barrier = SPAWN.Barrier(8, timeout=CHILD_TIMEOUT)

    outcomes = run_children(
        refund_child, lambda _: (side, postgres_url, postgres_schema, payment.id, barrier), 8
    )

    created = [refund_id for outcome, refund_id, _ in outcomes if outcome == "created"]
    assert sorted(outcome for outcome, _, _ in outcomes) == ["created"] * 3 + ["refused"] * 5
    assert sum(conflicts for _, _, conflicts in outcomes) >= 7, "the processes did not overlap"
    reserved = service.get_payment(payment.id)
    assert reserved.refund_reserved_amount == usd("90.00")
    assert reserved.refundable_amount == usd("10.00")
    # Refunds go to the provider that holds the charge: this process's sandbox.
    for refund_id in created:
        assert service.process_refund(refund_id).status is RefundStatus.COMPLETED
    after = service.get_payment(payment.id)
    assert after.refunded_amount == usd("90.00")
    assert after.refund_reserved_amount == usd("0.00")
    assert after.status is PaymentStatus.PARTIALLY_REFUNDED
    assert sandbox.refunded_total(payment.id) == usd("90.00")
    assert sorted(r.id for r in service.list_refunds(payment.id)) == sorted(created)
    storage.dispose()


@pytest.mark.parametrize("side", SIDES)
def test_two_processes_processing_one_payment_charge_it_once(
    side: SideName, postgres_url: str, postgres_schema: str
) -> None:
    """Two processes processing one pending payment: one claims and charges, one is refused."""
    storage = SqlStorage(postgres_url, schema=postgres_schema)
    storage.upgrade()
    service = make_service(storage)
    payment = pending_payment(service)
    barrier = SPAWN.Barrier(2, timeout=CHILD_TIMEOUT)

    outcomes = run_children(
        process_child, lambda _: (side, postgres_url, postgres_schema, payment.id, barrier), 2
    )

    assert sorted(outcome for outcome, _, _ in outcomes) == ["completed", "refused"]
    assert sum(charges for _, charges, _ in outcomes) == 1, "the card was charged twice"
    assert sum(conflicts for _, _, conflicts in outcomes) >= 1, "the processes did not overlap"
    after = service.get_payment(payment.id)
    assert after.status is PaymentStatus.COMPLETED
    assert after.attempt_count == 1
    log = service.get_transaction_log(payment.id)
    assert [e.log_type for e in log].count(LogType.PAYMENT_PROCESSING) == 1
    storage.dispose()
