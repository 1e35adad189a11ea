"""The event outbox: at-least-once delivery, retries, dead letters and order per payment."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from paykit import (
    ALL_EVENTS,
    Event,
    EventType,
    InMemoryStorage,
    Payment,
    PaymentService,
    SandboxGateway,
    SandboxToken,
)
from paykit.outbox import DispatchReport, OutboxStatus, RetrySchedule
from paykit.testing.races import RunBeforeCommit

_E = EventType
START = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
SCHEDULE = RetrySchedule(max_attempts=3, first_delay=timedelta(seconds=10), multiplier=2, jitter=0)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        """The time the test set."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the time on by ``seconds``."""
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    """A clock at ``START``."""
    return Clock()


@pytest.fixture
def storage() -> InMemoryStorage:
    """Fresh in-memory storage."""
    return InMemoryStorage()


@pytest.fixture
def service(storage: InMemoryStorage, clock: Clock) -> PaymentService:
    """A service on ``clock`` whose outbox retries after 10 s, then 20 s, and gives up at 3."""
    sandbox = SandboxGateway()
    service = PaymentService(storage, {"credit_card": sandbox}, clock=clock)
    service.outbox.schedule = SCHEDULE
    return service


def _pay(service: PaymentService, customer: str = "cus_1") -> Payment:
    card = service.add_payment_method(customer, type="credit_card", token=SandboxToken.SUCCESS)
    return service.create_payment(
        customer_id=customer,
        order_id=f"ord_{customer}",
        payment_method_id=card.id,
        amount="25.00",
        currency="USD",
    )


def _flaky(failures: int, seen: list[Event]) -> Callable[[Event], None]:
    """A subscriber recording each event it gets, raising on the first ``failures`` calls."""

    def subscriber(event: Event) -> None:
        seen.append(event)
        if len(seen) <= failures:
            msg = f"the order system is down (call {len(seen)})"
            raise ConnectionError(msg)

    return subscriber


def test_a_subscriber_failing_twice_gets_the_event_again_until_it_succeeds(
    service: PaymentService, clock: Clock
) -> None:
    """Fails, fails, succeeds: three deliveries of one event id, then it is acknowledged."""
    seen: list[Event] = []
    service.events.subscribe(_E.PAYMENT_CREATED, _flaky(2, seen))

    payment = _pay(service)
    assert len(seen) == 1  # delivered after the commit, in the caller's thread: it raised
    [message] = service.outbox.list(payment_id=payment.id)
    assert (message.status, message.attempts) == (OutboxStatus.PENDING, 1)
    assert message.last_error == "ConnectionError: the order system is down (call 1)"
    assert message.next_attempt_at == START + timedelta(seconds=10)

    assert service.outbox.dispatch() == DispatchReport()  # not due yet
    clock.advance(10)
    assert service.outbox.dispatch() == DispatchReport(retrying=1)
    assert len(seen) == 2
    clock.advance(19)
    assert service.outbox.dispatch() == DispatchReport()  # the second delay is 20 s
    clock.advance(1)
    assert service.outbox.dispatch() == DispatchReport(delivered=1)

    assert [event.id for event in seen] == [message.id] * 3
    assert all(event.payment.id == payment.id for event in seen)
    [done] = service.outbox.list(payment_id=payment.id)
    assert (done.status, done.attempts, done.delivered_at) == (
        OutboxStatus.DELIVERED,
        3,
        clock.now,
    )
    assert service.outbox.dispatch() == DispatchReport()  # delivered once more, never again
    assert len(seen) == 3


def test_events_are_delivered_in_order_per_payment(service: PaymentService, clock: Clock) -> None:
    """A payment whose first event failed waits with the rest; other payments go on."""
    delivered: list[tuple[str, EventType]] = []
    calls = {"n": 0}

    def subscriber(event: Event) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            msg = "down for a moment"
            raise RuntimeError(msg)
        delivered.append((event.payment.id, event.type))

    service.events.subscribe(ALL_EVENTS, subscriber)
    held = _pay(service, "cus_held")  # payment.created fails
    service.process_payment(held.id)  # processing and completed must wait behind it
    other = _pay(service, "cus_other")
    service.process_payment(other.id)

    assert [t for p, t in delivered if p == held.id] == []
    assert [t for p, t in delivered if p == other.id] == [
        _E.PAYMENT_CREATED,
        _E.PAYMENT_PROCESSING,
        _E.PAYMENT_COMPLETED,
    ]
    clock.advance(10)
    assert service.outbox.dispatch() == DispatchReport(delivered=3)
    assert [t for p, t in delivered if p == held.id] == [
        _E.PAYMENT_CREATED,
        _E.PAYMENT_PROCESSING,
        _E.PAYMENT_COMPLETED,
    ]


def test_a_message_is_dead_after_the_last_attempt_and_listed(
    service: PaymentService, clock: Clock
) -> None:
    """After max_attempts failures: dead, listed, no longer retried, and no longer blocking."""
    seen: list[Event] = []
    created: list[Event] = []
    service.events.subscribe(_E.PAYMENT_CREATED, _flaky(99, seen))
    service.events.subscribe(_E.PAYMENT_COMPLETED, created.append)
    payment = _pay(service)
    service.process_payment(payment.id)  # its completed event waits behind the failing one
    assert created == []

    clock.advance(10)
    assert service.outbox.dispatch() == DispatchReport(retrying=1)
    clock.advance(20)
    assert service.outbox.dispatch() == DispatchReport(dead=1, delivered=2)

    assert len(seen) == 3
    assert [event.type for event in created] == [_E.PAYMENT_COMPLETED]
    [dead] = service.outbox.list(status="dead")
    assert (dead.id, dead.payment_id, dead.attempts) == (seen[0].id, payment.id, 3)
    assert dead.last_error == "ConnectionError: the order system is down (call 3)"
    clock.advance(3600)
    assert service.outbox.dispatch() == DispatchReport()
    assert len(seen) == 3

    again = service.outbox.retry(dead.id)
    assert (again.status, again.attempts) == (OutboxStatus.PENDING, 0)
    assert service.outbox.dispatch() == DispatchReport(retrying=1)
    assert len(seen) == 4
    assert service.outbox.list(status="dead") == []


def test_a_delivery_under_way_is_not_taken_by_another_dispatcher(
    service: PaymentService, clock: Clock
) -> None:
    """A dispatch started while the caller's thread delivers finds the message leased."""
    inner: list[DispatchReport] = []
    seen: list[Event] = []

    def subscriber(event: Event) -> None:
        seen.append(event)
        inner.append(service.outbox.dispatch())

    service.events.subscribe(_E.PAYMENT_CREATED, subscriber)
    _pay(service)
    clock.advance(30)  # still within the lease

    assert inner == [DispatchReport()]
    assert service.outbox.dispatch() == DispatchReport()
    assert len(seen) == 1


def test_without_subscribers_nothing_is_written(
    service: PaymentService, storage: InMemoryStorage
) -> None:
    """Delivery in-process with nobody listening: no message is stored."""
    payment = _pay(service)
    service.process_payment(payment.id)
    assert storage.outbox == {}


def test_deferred_delivery_leaves_everything_to_dispatch(
    service: PaymentService, clock: Clock
) -> None:
    """deliver_after_commit=False: on_commit gets the ids, dispatch delivers them in order."""
    queued: list[list[str]] = []
    seen: list[Event] = []
    service.outbox.deliver_after_commit = False
    service.outbox.on_commit = lambda ids: queued.append(list(ids))
    service.events.subscribe(ALL_EVENTS, seen.append)

    payment = _pay(service)
    service.process_payment(payment.id)

    assert seen == []
    assert [len(ids) for ids in queued] == [1, 1, 1]
    assert service.outbox.dispatch() == DispatchReport(delivered=3)
    assert [event.id for event in seen] == [ids[0] for ids in queued]
    assert [event.type for event in seen] == [
        _E.PAYMENT_CREATED,
        _E.PAYMENT_PROCESSING,
        _E.PAYMENT_COMPLETED,
    ]
    clock.advance(1)
    assert service.outbox.dispatch() == DispatchReport()


def test_purge_deletes_old_delivered_messages(service: PaymentService, clock: Clock) -> None:
    """Delivered messages older than the cut-off go; newer and pending ones stay."""
    service.events.subscribe(ALL_EVENTS, lambda _event: None)
    old = _pay(service, "cus_old")
    clock.advance(3600)
    new = _pay(service, "cus_new")

    assert service.outbox.purge(delivered_before=START + timedelta(minutes=1)) == 1
    assert service.outbox.list(payment_id=old.id) == []
    assert len(service.outbox.list(payment_id=new.id)) == 1


def test_every_event_carries_its_own_stable_id(service: PaymentService) -> None:
    """Event ids are set, distinct, and the ones stored in the outbox."""
    seen: list[Event] = []
    service.events.subscribe(ALL_EVENTS, seen.append)
    payment = _pay(service)
    service.process_payment(payment.id)
    ids = [event.id for event in seen]
    assert len(set(ids)) == len(ids) == 3
    assert all(ids)
    assert [message.id for message in service.outbox.list(payment_id=payment.id)] == ids


def test_acknowledgements_ride_on_a_later_unit_of_work(
    service: PaymentService, storage: InMemoryStorage
) -> None:
    """Deliveries are marked delivered in batches, in units the service commits anyway."""
    service.events.subscribe(ALL_EVENTS, lambda _event: None)
    service.outbox.acknowledge_every = 2
    payment = _pay(service)  # payment.created: delivered, its acknowledgement waits
    commits = storage.commits
    assert [m.status for m in storage.outbox.values()] == [OutboxStatus.PENDING]

    service.process_payment(payment.id)  # the claim's unit carries it

    assert storage.commits - commits == 2  # the claim and the answer: no unit of its own
    statuses = [m.status for m in storage.outbox.values()]
    assert statuses[0] is OutboxStatus.DELIVERED
    assert service.outbox.list(status="pending") == []  # list() writes the rest first


def test_a_racing_storage_wrapper_carries_the_outbox() -> None:
    """paykit.testing.races' wrappers hand the outbox through, so events survive a race."""
    inner = InMemoryStorage()
    seen: list[Event] = []
    racing = RunBeforeCommit(inner, lambda: None)
    service = PaymentService(racing, {"credit_card": SandboxGateway()})
    service.events.subscribe(ALL_EVENTS, seen.append)

    payment = _pay(service)

    assert [event.type for event in seen] == [_E.PAYMENT_CREATED]
    assert [m.id for m in service.outbox.list(payment_id=payment.id)] == [seen[0].id]
