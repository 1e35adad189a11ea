"""Helpers for the SQL tests: payments to race on, and the code child processes run.

Child processes are started with the ``spawn`` method, so everything they run lives here,
at module level, importable by name; each child builds its own ``SqlStorage``,
``PaymentService`` and gateway, as a separate application process would.

A sandbox gateway keeps its ledger in its own process. So the tests count provider calls
where every process can see them: each child reports what *its* sandbox did (the number
of charges) and the parent adds them up, and the database's own records -- the payment's
``attempt_count`` and its ``payment_processing`` log entries -- say how often paykit
submitted the payment.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import event

from paykit import (
    Payment,
    PaymentService,
    PaymentStatus,
    SandboxGateway,
    SandboxToken,
    Storage,
)
from paykit.gateways.base import ChargeRequest, GatewayResult
from paykit.storage.sql import SqlStorage
from paykit.testing.races import RunBeforeCommit

CUSTOMER: Final = "cus_sql"
CHILD_TIMEOUT: Final = 60.0
"""Seconds a child may take before the test gives up on it."""


def make_service(
    storage: Storage, gateway: SandboxGateway | None = None, **options: Any
) -> PaymentService:
    """A service routing cards to ``gateway`` (default: a fresh sandbox)."""
    sandbox = SandboxGateway() if gateway is None else gateway
    return PaymentService(storage, {"credit_card": sandbox}, **options)


def pending_payment(service: PaymentService, amount: str = "100.00") -> Payment:
    """A pending USD payment with a card that always succeeds."""
    card = service.add_payment_method(CUSTOMER, type="credit_card", token=SandboxToken.SUCCESS)
    return service.create_payment(
        customer_id=CUSTOMER,
        order_id="ord_sql",
        payment_method_id=card.id,
        amount=amount,
        currency="USD",
    )


def completed_payment(service: PaymentService, amount: str = "100.00") -> Payment:
    """A completed USD payment, charged in the service's sandbox."""
    payment = service.process_payment(pending_payment(service, amount).id)
    assert payment.status is PaymentStatus.COMPLETED
    return payment


def open_storage(url: str, schema: str | None) -> SqlStorage:
    """The storage a child process builds for itself."""
    return SqlStorage(url, schema=schema)


def address(storage: SqlStorage) -> tuple[str, str | None]:
    """``(url, schema)`` with which a child process opens ``storage``'s database again."""
    return storage.engine.url.render_as_string(hide_password=False), storage.tables.payments.schema


# -- a storage that lines processes up before their first commit ----------------------------


class BarrierStorage(RunBeforeCommit):
    """Waits at ``barrier`` before its first commit, so every racer has read before any writes.

    ``conflicts`` counts the commits that lost to another unit of work.
    """

    def __init__(self, inner: Storage, barrier: Any) -> None:
        super().__init__(inner, barrier.wait)


# -- child processes ---------------------------------------------------------------------------


class StallingSandbox(SandboxGateway):
    """A sandbox whose charge announces itself and then hangs, before reaching the ledger."""

    def __init__(self, stalled: Any) -> None:
        super().__init__()
        self._stalled = stalled

    def charge(self, request: ChargeRequest) -> GatewayResult:
        """Signal the parent and sleep: the process is killed while "on the network"."""
        self._stalled.set()
        time.sleep(CHILD_TIMEOUT)
        return super().charge(request)


def crash_during_charge_child(url: str, schema: str | None, payment_id: str, stalled: Any) -> None:
    """Process ``payment_id`` with a charge that hangs until the parent kills this process."""
    storage = open_storage(url, schema)
    make_service(storage, StallingSandbox(stalled)).process_payment(payment_id)


def crash_inside_commit_child(url: str, schema: str | None, payment_id: str, stalled: Any) -> None:
    """Process ``payment_id``, hanging inside the claim's transaction after its first write."""
    storage = open_storage(url, schema)
    state = {"in_transaction": False}

    def hang_after_first_write(*args: Any) -> None:
        statement: str = args[2]
        if statement.startswith("BEGIN"):
            state["in_transaction"] = True
        elif state["in_transaction"] and statement.startswith("UPDATE"):
            stalled.set()
            time.sleep(CHILD_TIMEOUT)

    event.listen(storage.engine, "after_cursor_execute", hang_after_first_write)
    make_service(storage).process_payment(payment_id)


def reconciling_service(storage: Storage) -> tuple[PaymentService, SandboxGateway]:
    """A service whose fresh sandbox never heard of earlier charges, believing it at once."""
    sandbox = SandboxGateway()
    return make_service(storage, sandbox, in_flight_grace=timedelta(0)), sandbox


def run_children(
    target: Callable[..., None], args_for: Callable[[int], tuple[Any, ...]], count: int
) -> list[tuple[Any, ...]]:
    """Start ``count`` spawned children, collect one result tuple from each, join them."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [
        context.Process(target=target, args=(*args_for(index), results), daemon=True)
        for index in range(count)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=CHILD_TIMEOUT) for _ in processes]
    for process in processes:
        process.join(CHILD_TIMEOUT)
    assert all(process.exitcode == 0 for process in processes), [p.exitcode for p in processes]
    return outcomes


def kill_when(target: Callable[..., None], args: tuple[Any, ...]) -> int:
    """Run ``target(*args, stalled)`` in a spawned child; SIGKILL it once it signals ``stalled``.

    Returns the child's exit code (``-SIGKILL``).
    """
    context = multiprocessing.get_context("spawn")
    stalled = context.Event()
    process = context.Process(target=target, args=(*args, stalled), daemon=True)
    process.start()
    try:
        assert stalled.wait(CHILD_TIMEOUT), "the child never reached the point to be killed at"
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        process.join(CHILD_TIMEOUT)
    finally:
        if process.is_alive():
            process.kill()
    assert process.exitcode is not None
    return process.exitcode
