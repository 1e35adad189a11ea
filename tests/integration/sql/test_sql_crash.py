"""Crash safety: a process killed with SIGKILL never leaves a half-written unit of work.

Two deterministic crashes, on SQLite and on PostgreSQL: one between units of work (while
the charge is "on the network", after the claim committed) and one inside a unit of work's
transaction (after its first write, before its commit). Either way the database holds whole
units of work only, and the service carries on from there.
"""

from __future__ import annotations

import signal

from paykit import LogType, PaymentStatus
from paykit.storage.sql import SqlStorage

from ._sql_support import (
    address,
    crash_during_charge_child,
    crash_inside_commit_child,
    kill_when,
    make_service,
    pending_payment,
    reconciling_service,
)


def _moves(storage: SqlStorage, payment_id: str) -> list[tuple[str, str | None, str | None]]:
    service = make_service(storage)
    return [
        (str(e.log_type), e.previous_status, e.new_status)
        for e in service.get_transaction_log(payment_id)
    ]


def test_killed_while_charging_leaves_processing_and_reconcile_settles_it(
    sql_storage: SqlStorage,
) -> None:
    """Killed during the charge: the payment is processing with its log, and reconcile fails it."""
    url, schema = address(sql_storage)
    service = make_service(sql_storage)
    payment = pending_payment(service)

    assert kill_when(crash_during_charge_child, (url, schema, payment.id)) == -signal.SIGKILL

    after = service.get_payment(payment.id)
    assert after.status is PaymentStatus.PROCESSING
    assert after.attempt_count == 1
    assert after.submitted_at is not None
    assert _moves(sql_storage, payment.id) == [
        (LogType.PAYMENT_CREATED, None, "pending"),
        (LogType.PAYMENT_PROCESSING, "pending", "processing"),
    ]
    # The charge never reached the provider; a provider that has never heard of it, asked
    # after the in-flight grace, is believed: the payment failed and nothing was taken.
    reconciler, sandbox = reconciling_service(sql_storage)
    settled = reconciler.reconcile_payment(payment.id)
    assert settled.status is PaymentStatus.FAILED
    assert sandbox.charged_total(payment.id) is None
    assert _moves(sql_storage, payment.id)[-1] == (
        LogType.PAYMENT_FAILED,
        "processing",
        "failed",
    )


def test_killed_inside_a_commit_leaves_no_trace_of_that_unit(
    sql_storage: SqlStorage,
) -> None:
    """Killed between the claim's UPDATE and its COMMIT: the payment is whole and pending."""
    url, schema = address(sql_storage)
    service = make_service(sql_storage)
    payment = pending_payment(service)

    assert kill_when(crash_inside_commit_child, (url, schema, payment.id)) == -signal.SIGKILL

    after = service.get_payment(payment.id)
    assert after == payment
    assert after.status is PaymentStatus.PENDING
    assert after.attempt_count == 0
    assert _moves(sql_storage, payment.id) == [(LogType.PAYMENT_CREATED, None, "pending")]
    # The dead transaction's locks are gone: the payment can be processed normally now.
    assert service.process_payment(payment.id).status is PaymentStatus.COMPLETED
