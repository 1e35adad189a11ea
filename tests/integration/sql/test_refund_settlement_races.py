"""Two paths settling one refund at once: no caller sees a false error, the money is booked once.

A unit of work reads its records one statement at a time (no snapshot is held open), so a
unit that settles a refund can read the refund *before* a competing settlement commits and
its payment *after*: a ``processing`` refund next to a payment whose reservation is already
gone. Booking the refund on that pair fails (``0.00 USD minus 25.00 USD would be negative``)
before the commit's version check could say "retry". :class:`RunBetweenReads` -- the
``RunBeforeCommit`` pattern moved to that moment -- makes the competing settlement commit
exactly there, on every storage: memory, a SQLite file, and PostgreSQL when
``PAYKIT_TEST_POSTGRES_URL`` is set; and through each service, PaymentService and
AsyncPaymentService (the ``side`` fixture, ``tests/_service_sides.py``, #16). The final state is
read back through a plain PaymentService either way.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, Final, NamedTuple

import pytest

from _service_sides import AnyService, ServiceSide
from paykit import (
    ALL_EVENTS,
    ConcurrencyConflict,
    Event,
    EventType,
    InMemoryStorage,
    InvalidAmountError,
    LogType,
    Money,
    PaymentService,
    PaymentStatus,
    Refund,
    RefundStatus,
    SandboxGateway,
    SandboxToken,
    Storage,
    WebhookOutcome,
)
from paykit.gateways.base import WebhookEventType
from paykit.storage.sql import SqlStorage
from paykit.testing.races import RunBetweenReads

CUSTOMER: Final = "cus_settle"


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def any_storage(request: pytest.FixtureRequest) -> Iterator[Storage]:
    """An empty storage: in memory, a SQLite file, then a PostgreSQL schema (when configured)."""
    if request.param == "memory":
        yield InMemoryStorage()
        return
    if request.param == "sqlite":
        url, schema = request.getfixturevalue("sqlite_url"), None
    else:
        url = request.getfixturevalue("postgres_url")
        schema = request.getfixturevalue("postgres_schema")
    storage = SqlStorage(url, schema=schema)
    storage.upgrade()
    yield storage
    storage.dispose()


class Setup(NamedTuple):
    """A 40.00 payment with a 25.00 refund left ``processing`` (its answer never came)."""

    storage: Storage
    sandbox: SandboxGateway
    side: ServiceSide
    events: list[Event]
    payment_id: str
    refund: Refund


def usd(amount: str) -> Money:
    """``amount`` US dollars."""
    return Money.of(amount, "USD")


def service_over(setup: Setup, storage: Storage | None = None, **options: Any) -> AnyService:
    """A service of ``setup.side`` over ``storage`` (default: the plain one).

    It publishes into ``setup.events``.
    """
    service = setup.side.service(
        setup.storage if storage is None else storage, {"credit_card": setup.sandbox}, **options
    )
    service.events.subscribe(ALL_EVENTS, setup.events.append)
    return service


def refund_in_processing(storage: Storage, sandbox: SandboxGateway, side: ServiceSide) -> Setup:
    """Refund 25.00 of a 40.00 payment whose refund answers are lost: it stays processing."""
    service = side.service(storage, {"credit_card": sandbox})
    card = service.add_payment_method(
        CUSTOMER, type="credit_card", token=SandboxToken.REFUND_TIMEOUT
    )
    payment = service.create_payment(
        customer_id=CUSTOMER,
        order_id="ord_settle",
        payment_method_id=card.id,
        amount="40.00",
        currency="USD",
    )
    assert service.process_payment(payment.id).status is PaymentStatus.COMPLETED
    refund = service.process_refund(service.create_refund(payment.id, "25.00").id)
    assert refund.status is RefundStatus.PROCESSING
    assert refund.provider_refund_id is not None
    return Setup(storage, sandbox, side, [], payment.id, refund)


def refund_webhook(setup: Setup) -> tuple[dict[str, str], bytes]:
    """The sandbox's signed ``refund.succeeded`` event about the refund."""
    payment = PaymentService(setup.storage, {"credit_card": setup.sandbox}).get_payment(
        setup.payment_id
    )
    assert payment.provider_payment_id is not None
    return setup.sandbox.webhook_for(
        WebhookEventType.REFUND_SUCCEEDED,
        payment.provider_payment_id,
        provider_refund_id=setup.refund.provider_refund_id,
    )


def assert_settled_once(setup: Setup) -> None:
    """The refund is completed, booked on the payment once, by one audit entry and one event."""
    service = PaymentService(setup.storage, {"credit_card": setup.sandbox})
    assert service.get_refund(setup.refund.id).status is RefundStatus.COMPLETED
    payment = service.get_payment(setup.payment_id)
    assert payment.refunded_amount == usd("25.00")
    assert payment.refund_reserved_amount == usd("0.00")
    assert payment.status is PaymentStatus.PARTIALLY_REFUNDED
    settled = [
        entry
        for entry in service.get_transaction_log(setup.payment_id)
        if entry.log_type is LogType.REFUND_PROCESSED
    ]
    assert [(entry.refund_id, entry.new_status) for entry in settled] == [
        (setup.refund.id, RefundStatus.COMPLETED)
    ]
    completed = [event for event in setup.events if event.type is EventType.REFUND_COMPLETED]
    assert len(completed) == 1


def test_a_reconcile_settling_the_refund_between_anothers_reads_costs_it_nothing(
    any_storage: Storage, side: ServiceSide
) -> None:
    """A reconcile that read the refund before a rival settled it retries instead of raising."""
    setup = refund_in_processing(any_storage, SandboxGateway(), side)
    rival = service_over(setup)
    settled_by_rival: list[Refund] = []
    racer = RunBetweenReads(
        any_storage, lambda: settled_by_rival.append(rival.reconcile_refund(setup.refund.id))
    )

    refund = service_over(setup, racer).reconcile_refund(setup.refund.id)

    assert racer.fired
    assert [r.status for r in settled_by_rival] == [RefundStatus.COMPLETED]
    assert refund.status is RefundStatus.COMPLETED
    # get_refund, get_payment, then the recording unit twice: it saw a stale pair and re-ran.
    assert racer.units == 4
    assert_settled_once(setup)


def test_a_webhook_settling_the_refund_mid_reconcile_is_answered_200_and_costs_it_nothing(
    any_storage: Storage, side: ServiceSide
) -> None:
    """A refund webhook committing between a reconcile's reads: both succeed, booked once."""
    setup = refund_in_processing(any_storage, SandboxGateway(), side)
    headers, body = refund_webhook(setup)
    rival = service_over(setup)
    answers: list[Any] = []
    racer = RunBetweenReads(
        any_storage, lambda: answers.append(rival.handle_webhook("sandbox", headers, body))
    )

    refund = service_over(setup, racer).reconcile_refund(setup.refund.id)

    assert racer.fired
    [answer] = answers
    assert (answer.status_code, answer.outcome) == (200, WebhookOutcome.APPLIED)
    assert refund.status is RefundStatus.COMPLETED
    assert racer.units == 4
    assert_settled_once(setup)


def test_a_webhook_whose_refund_a_reconcile_settles_mid_read_is_answered_200(
    any_storage: Storage, side: ServiceSide
) -> None:
    """A refund webhook that read the refund before a reconcile settled it is not answered 503."""
    setup = refund_in_processing(any_storage, SandboxGateway(), side)
    headers, body = refund_webhook(setup)
    rival = service_over(setup)
    settled_by_rival: list[Refund] = []
    # The webhook reads the refund it matched, then its payment: the settlement falls between.
    racer = RunBetweenReads(
        any_storage, lambda: settled_by_rival.append(rival.reconcile_refund(setup.refund.id))
    )

    answer = service_over(setup, racer).handle_webhook("sandbox", headers, body)

    assert racer.fired
    assert [r.status for r in settled_by_rival] == [RefundStatus.COMPLETED]
    assert (answer.status_code, answer.outcome) == (200, WebhookOutcome.APPLIED)
    assert racer.units == 2  # the webhook's unit saw a stale pair and ran again
    assert_settled_once(setup)
    service = service_over(setup)
    [entry] = service.list_webhook_events(setup.payment_id)
    assert entry.event_id == answer.event_id


def test_a_refusal_on_a_stale_view_with_no_attempt_left_is_a_conflict(
    any_storage: Storage, side: ServiceSide
) -> None:
    """Out of attempts, a rule broken on a stale pair is a retryable conflict, not that rule."""
    setup = refund_in_processing(any_storage, SandboxGateway(), side)
    rival = service_over(setup)
    racer = RunBetweenReads(any_storage, lambda: rival.reconcile_refund(setup.refund.id))
    service = service_over(setup, racer, conflict_attempts=1)

    with pytest.raises(ConcurrencyConflict) as raised:
        service.reconcile_refund(setup.refund.id)

    assert raised.value.retryable
    assert isinstance(raised.value.__cause__, InvalidAmountError)
    assert service.reconcile_refund(setup.refund.id).status is RefundStatus.COMPLETED
    assert_settled_once(setup)


def test_eight_threads_reconciling_one_refund_all_see_it_completed(
    any_storage: Storage, side: ServiceSide
) -> None:
    """The issue's repro: eight threads reconcile one refund; none raises, it is booked once."""
    setup = refund_in_processing(any_storage, SandboxGateway(latency=0.01), side)
    service = service_over(setup)
    barrier = threading.Barrier(8)
    outcomes: list[Refund | Exception] = []

    def reconcile() -> None:
        barrier.wait()
        try:
            outcomes.append(service.reconcile_refund(setup.refund.id))
        except Exception as error:  # noqa: BLE001 - every outcome is checked below
            outcomes.append(error)

    threads = [threading.Thread(target=reconcile) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    statuses = [outcome.status if isinstance(outcome, Refund) else outcome for outcome in outcomes]
    assert statuses == [RefundStatus.COMPLETED] * 8
    assert_settled_once(setup)
