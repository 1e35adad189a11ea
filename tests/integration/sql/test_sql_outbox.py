"""The event outbox on SQLite and PostgreSQL: retries, dead letters, and a crash after commit."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from sqlalchemy import inspect

from paykit import ALL_EVENTS, Event, EventType, PaymentService, PaymentStatus
from paykit.outbox import DispatchReport, OutboxStatus, RetrySchedule
from paykit.storage.sql import SqlStorage
from paykit.storage.sql._migrate import CONNECTION_KEY, _transaction, alembic_config

from ._sql_support import address, kill_when, make_service, open_storage, pending_payment

_E = EventType
LEASE = timedelta(minutes=1)


def _later(minutes: int) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def crash_after_commit_child(url: str, schema: str | None, payment_id: str, stalled: Any) -> None:
    """Process ``payment_id``; stop dead in the subscriber of ``payment.completed``.

    The subscriber runs after the commit that completed the payment and before the outbox
    acknowledges the event: the parent kills this process there.
    """
    service = make_service(open_storage(url, schema))

    def hang(event: Event) -> None:
        del event
        stalled.set()
        threading.Event().wait()  # until SIGKILL

    service.events.subscribe(_E.PAYMENT_COMPLETED, hang)
    service.process_payment(payment_id)


def test_an_event_committed_by_a_killed_process_is_delivered_on_restart(
    sql_storage: SqlStorage,
) -> None:
    """Killed after the commit, before the acknowledgement: the next dispatcher delivers it."""
    url, schema = address(sql_storage)
    payment = pending_payment(make_service(sql_storage))

    assert kill_when(crash_after_commit_child, (url, schema, payment.id)) == -signal.SIGKILL

    restarted = make_service(sql_storage, clock=lambda: _later(2))  # the child's lease is over
    seen: list[Event] = []
    restarted.events.subscribe(ALL_EVENTS, seen.append)
    # payment.processing was delivered, its acknowledgement not yet written: it comes again.
    waiting = restarted.outbox.list(status=OutboxStatus.PENDING, payment_id=payment.id)
    assert [message.event.type for message in waiting] == [
        _E.PAYMENT_PROCESSING,
        _E.PAYMENT_COMPLETED,
    ]

    assert restarted.outbox.dispatch() == DispatchReport(delivered=2)
    assert [(event.id, event.type) for event in seen] == [
        (message.id, message.event.type) for message in waiting
    ]
    assert seen[1].payment == restarted.get_payment(payment.id)
    assert seen[1].payment.status is PaymentStatus.COMPLETED
    assert restarted.outbox.list(status=OutboxStatus.PENDING, payment_id=payment.id) == []


def test_retries_order_and_dead_letters_on_sql(sql_storage: SqlStorage) -> None:
    """A failing first event holds back its payment's later ones, then dies; the rest go."""
    now = {"at": datetime.now(UTC)}
    service: PaymentService = make_service(sql_storage, clock=lambda: now["at"])
    service.outbox.schedule = RetrySchedule(max_attempts=2, first_delay=timedelta(seconds=5))
    seen: list[tuple[str, EventType]] = []

    def subscriber(event: Event) -> None:
        seen.append((event.id, event.type))
        if event.type is _E.PAYMENT_CREATED:
            msg = "the order system is down"
            raise ConnectionError(msg)

    service.events.subscribe(ALL_EVENTS, subscriber)
    payment = pending_payment(service)
    service.process_payment(payment.id)
    assert [t for _, t in seen] == [_E.PAYMENT_CREATED]

    now["at"] += timedelta(seconds=10)
    assert service.outbox.dispatch() == DispatchReport(dead=1, delivered=2)

    assert [t for _, t in seen] == [
        _E.PAYMENT_CREATED,
        _E.PAYMENT_CREATED,
        _E.PAYMENT_PROCESSING,
        _E.PAYMENT_COMPLETED,
    ]
    assert seen[0][0] == seen[1][0]
    [dead] = service.outbox.list(status="dead")
    assert (dead.id, dead.attempts, dead.last_error) == (
        seen[0][0],
        2,
        "ConnectionError: the order system is down",
    )
    assert dead.event.payment.id == payment.id
    assert dead.event.payment.status is PaymentStatus.PENDING  # as committed with the event


def test_0006_adds_only_the_outbox_table_and_its_downgrade_drops_only_that(
    database: tuple[str, str | None],
) -> None:
    """Revision 0006 creates the outbox table and nothing else; going back to 0005 drops it."""
    url, schema = database
    storage = SqlStorage(url, schema=schema, table_prefix="shop_")
    storage.upgrade("0005")
    before = set(inspect(storage.engine).get_table_names(schema=schema))

    storage.upgrade("0006")
    after = set(inspect(storage.engine).get_table_names(schema=schema))
    config = alembic_config(schema=schema, table_prefix="shop_")
    with _transaction(storage.engine) as connection:
        config.attributes[CONNECTION_KEY] = connection
        command.downgrade(config, "0005")
    back = set(inspect(storage.engine).get_table_names(schema=schema))

    assert after - before == {"shop_outbox"}
    assert back == before
    storage.dispose()
