"""Host events: which are published, in what order, only after commit, and robust to subscribers."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from paykit import (
    ALL_EVENTS,
    ConcurrencyConflict,
    Event,
    EventType,
    InMemoryStorage,
    Payment,
    PaymentMethod,
    PaymentService,
    SandboxGateway,
    SandboxToken,
    ValidationError,
)
from paykit.storage import InMemoryUnitOfWork

MakeCard = Callable[..., PaymentMethod]
PayWith = Callable[..., Payment]

_E = EventType


def _types(events: list[Event], payment_id: str) -> list[EventType]:
    return [e.type for e in events if e.payment.id == payment_id]


def _new_payment(
    service: PaymentService, make_card: MakeCard, token: str = SandboxToken.SUCCESS, **kw: bool
) -> Payment:
    return service.create_payment(
        customer_id="cus_1",
        order_id="ord_1",
        payment_method_id=make_card("cus_1", token).id,
        amount="100.00",
        currency="USD",
        capture=kw.get("capture", True),
    )


# -- which events, in which order ----------------------------------------------------------


def test_purchase_and_refunds_publish_in_order(
    service: PaymentService, make_card: MakeCard, events: list[Event]
) -> None:
    """A purchase and two refunds publish every payment and refund event, in order."""
    payment = _new_payment(service, make_card)
    service.process_payment(payment.id)
    first = service.create_refund(payment.id, "40.00")
    service.process_refund(first.id)
    second = service.create_refund(payment.id)
    service.process_refund(second.id)

    assert _types(events, payment.id) == [
        _E.PAYMENT_CREATED,
        _E.PAYMENT_PROCESSING,
        _E.PAYMENT_COMPLETED,
        _E.REFUND_CREATED,
        _E.REFUND_COMPLETED,
        _E.PAYMENT_PARTIALLY_REFUNDED,
        _E.REFUND_CREATED,
        _E.REFUND_COMPLETED,
        _E.PAYMENT_REFUNDED,
    ]
    refund_events = [e for e in events if e.type.startswith("refund.")]
    assert [e.refund.id if e.refund else None for e in refund_events] == [
        first.id,
        first.id,
        second.id,
        second.id,
    ]
    assert all(e.refund is None for e in events if e.type.startswith("payment."))


@pytest.mark.parametrize(
    ("token", "capture", "expected"),
    [
        (SandboxToken.DECLINE, True, [_E.PAYMENT_FAILED]),
        (SandboxToken.THREE_D_SECURE, True, [_E.PAYMENT_REQUIRES_ACTION]),
        (SandboxToken.SUCCESS, False, [_E.PAYMENT_AUTHORIZED]),
        (SandboxToken.TIMEOUT, True, []),
        (SandboxToken.PENDING, True, []),
    ],
    ids=["decline", "threeds", "authorize", "timeout", "pending"],
)
def test_processing_outcomes_publish_their_event(  # noqa: PLR0913, PLR0917 - fixtures and table
    service: PaymentService,
    make_card: MakeCard,
    events: list[Event],
    token: str,
    capture: bool,
    expected: list[EventType],
) -> None:
    """Each processing outcome publishes its own event; an unknown outcome publishes none."""
    payment = _new_payment(service, make_card, token, capture=capture)

    service.process_payment(payment.id)

    assert _types(events, payment.id) == [_E.PAYMENT_CREATED, _E.PAYMENT_PROCESSING, *expected]


def test_reconciled_and_captured_payments_publish_completed(
    service: PaymentService, sandbox: SandboxGateway, make_card: MakeCard, events: list[Event]
) -> None:
    """Completion found by reconciliation or reached by capture publishes payment.completed."""
    threeds = service.process_payment(
        _new_payment(service, make_card, SandboxToken.THREE_D_SECURE).id
    )
    assert threeds.provider_payment_id is not None
    sandbox.complete_action(threeds.provider_payment_id)
    service.reconcile_payment(threeds.id)
    held = service.process_payment(_new_payment(service, make_card, capture=False).id)
    service.capture_payment(held.id)

    assert _types(events, threeds.id)[-2:] == [_E.PAYMENT_REQUIRES_ACTION, _E.PAYMENT_COMPLETED]
    assert _types(events, held.id)[-2:] == [_E.PAYMENT_AUTHORIZED, _E.PAYMENT_COMPLETED]


def test_cancel_publishes_payment_cancelled(
    service: PaymentService, make_card: MakeCard, events: list[Event]
) -> None:
    """Cancelling a pending payment publishes payment.cancelled."""
    payment = _new_payment(service, make_card)

    service.cancel_payment(payment.id)

    assert _types(events, payment.id) == [_E.PAYMENT_CREATED, _E.PAYMENT_CANCELLED]


def test_void_publishes_payment_cancelled(
    service: PaymentService, paid: PayWith, events: list[Event]
) -> None:
    """Voiding an authorization publishes payment.cancelled, never payment.completed."""
    payment = paid(capture=False)

    service.void_payment(payment.id)

    assert _types(events, payment.id)[-1] is _E.PAYMENT_CANCELLED
    assert _E.PAYMENT_COMPLETED not in _types(events, payment.id)


def test_failed_refund_publishes_refund_failed(
    service: PaymentService, paid: PayWith, events: list[Event]
) -> None:
    """A declined refund publishes refund.created then refund.failed and no payment change."""
    payment = paid(token=SandboxToken.REFUND_FAIL)
    start = len(events)

    refund = service.create_refund(payment.id, "10.00")
    service.process_refund(refund.id)

    assert [e.type for e in events[start:]] == [_E.REFUND_CREATED, _E.REFUND_FAILED]
    failed = events[-1]
    assert failed.refund is not None
    assert failed.refund.id == refund.id


def test_cancelled_refund_publishes_refund_cancelled(
    service: PaymentService, paid: PayWith, events: list[Event]
) -> None:
    """Cancelling a refund publishes refund.cancelled."""
    payment = paid()
    start = len(events)

    refund = service.create_refund(payment.id, "10.00")
    service.cancel_refund(refund.id)

    assert [e.type for e in events[start:]] == [_E.REFUND_CREATED, _E.REFUND_CANCELLED]


def test_typed_subscription_receives_only_its_event(service: PaymentService, paid: PayWith) -> None:
    """A subscriber to one event type receives that type only."""
    completed: list[Event] = []
    service.events.subscribe(_E.PAYMENT_COMPLETED, completed.append)
    service.events.subscribe("refund.created", completed.append)

    payment = paid()

    assert [(e.type, e.payment.id) for e in completed] == [(_E.PAYMENT_COMPLETED, payment.id)]


def test_failed_operation_publishes_nothing(
    service: PaymentService, paid: PayWith, events: list[Event]
) -> None:
    """An operation refused by the rules publishes no event."""
    payment = paid()
    start = len(events)

    with pytest.raises(Exception, match="refundable balance"):
        service.create_refund(payment.id, "100.01")

    assert events[start:] == []


# -- only after commit ---------------------------------------------------------------------


def test_subscribers_see_the_committed_state(
    service: PaymentService, sandbox: SandboxGateway, make_card: MakeCard
) -> None:
    """Inside a handler the stored payment and refund already equal what the event carries."""
    seen: list[tuple[EventType, bool, bool]] = []

    def check(event: Event) -> None:
        stored = service.get_payment(event.payment.id)
        refund_ok = event.refund is None or service.get_refund(event.refund.id) == event.refund
        seen.append((event.type, stored == event.payment, refund_ok))

    service.events.subscribe(ALL_EVENTS, check)
    payment = _new_payment(service, make_card)
    service.process_payment(payment.id)
    service.process_refund(service.create_refund(payment.id, "10.00").id)
    service.cancel_refund(service.create_refund(payment.id, "10.00").id)
    threeds = service.process_payment(
        _new_payment(service, make_card, SandboxToken.THREE_D_SECURE).id
    )
    assert threeds.provider_payment_id is not None
    sandbox.complete_action(threeds.provider_payment_id, succeed=False)
    service.reconcile_payment(threeds.id)

    assert len(seen) == 12
    assert [(t, True, True) for t, _, _ in seen] == seen


def test_event_status_matches_the_stored_status(
    service: PaymentService, make_card: MakeCard
) -> None:
    """A payment event's name matches the status the subscriber reads back from storage."""
    statuses: list[tuple[str, str]] = []

    def record(event: Event) -> None:
        statuses.append((event.type, service.get_payment_status(event.payment.id)))

    service.events.subscribe(ALL_EVENTS, record)
    service.process_payment(_new_payment(service, make_card).id)

    assert statuses == [
        ("payment.created", "pending"),
        ("payment.processing", "processing"),
        ("payment.completed", "completed"),
    ]


class _FailingCommitStorage(InMemoryStorage):
    """In-memory storage whose next ``failures`` commits lose a race (a storage-edge fake)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def unit_of_work(self) -> InMemoryUnitOfWork:
        """A unit of work whose commit may be made to conflict."""
        return _FailingCommitUnitOfWork(self)


class _FailingCommitUnitOfWork(InMemoryUnitOfWork):
    def __init__(self, storage: _FailingCommitStorage) -> None:
        super().__init__(storage)
        self._owner = storage

    def commit(self) -> None:
        if self._owner.failures > 0:
            self._owner.failures -= 1
            self.rollback()
            raise ConcurrencyConflict("simulated lost race")
        super().commit()


def _service_over(storage: InMemoryStorage, attempts: int) -> tuple[PaymentService, list[Event]]:
    service = PaymentService(storage, {"credit_card": SandboxGateway()}, conflict_attempts=attempts)
    published: list[Event] = []
    service.events.subscribe(ALL_EVENTS, published.append)
    return service, published


def test_no_event_when_the_commit_fails() -> None:
    """If the unit of work never commits, its events are never published."""
    storage = _FailingCommitStorage(failures=0)
    service, published = _service_over(storage, attempts=1)
    method = service.add_payment_method("cus_1", type="credit_card", token=SandboxToken.SUCCESS)
    storage.failures = 1

    with pytest.raises(ConcurrencyConflict):
        service.create_payment(
            customer_id="cus_1",
            order_id="ord_1",
            payment_method_id=method.id,
            amount="10.00",
            currency="USD",
        )

    assert published == []
    assert storage.payments == {}


def test_a_retried_commit_publishes_once() -> None:
    """A unit of work retried after a conflict publishes only the winning attempt's events."""
    storage = _FailingCommitStorage(failures=0)
    service, published = _service_over(storage, attempts=3)
    method = service.add_payment_method("cus_1", type="credit_card", token=SandboxToken.SUCCESS)
    storage.failures = 2

    payment = service.create_payment(
        customer_id="cus_1",
        order_id="ord_1",
        payment_method_id=method.id,
        amount="10.00",
        currency="USD",
    )

    assert [(e.type, e.payment.id) for e in published] == [(_E.PAYMENT_CREATED, payment.id)]
    assert list(storage.payments) == [payment.id]


# -- what an event carries -----------------------------------------------------------------


def test_requires_action_event_never_carries_the_client_secret(
    service: PaymentService, make_card: MakeCard, events: list[Event]
) -> None:
    """The published requires_action payment has no client secret, even after the call returns."""
    payment = _new_payment(service, make_card, SandboxToken.THREE_D_SECURE)

    returned = service.process_payment(payment.id)

    assert returned.next_action is not None
    assert returned.next_action.client_secret
    event = events[-1]
    assert event.type is _E.PAYMENT_REQUIRES_ACTION
    assert event.payment.next_action is not None
    assert event.payment.next_action.redirect_url == returned.next_action.redirect_url
    assert event.payment.next_action.client_secret is None


# -- misbehaving subscribers ---------------------------------------------------------------


def test_raising_subscriber_breaks_nothing(
    service: PaymentService,
    make_card: MakeCard,
    events: list[Event],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A subscriber that raises is logged; the payment completes and later subscribers still run."""

    def explode(event: Event) -> None:
        msg = f"host bug on {event.type}"
        raise RuntimeError(msg)

    after: list[EventType] = []
    service.events.subscribe(_E.PAYMENT_COMPLETED, explode)
    service.events.subscribe(_E.PAYMENT_COMPLETED, lambda e: after.append(e.type))
    payment = _new_payment(service, make_card)

    with caplog.at_level(logging.ERROR, logger="paykit.events"):
        result = service.process_payment(payment.id)

    assert result.status == "completed"
    assert service.get_payment_status(payment.id) == "completed"
    assert after == [_E.PAYMENT_COMPLETED]
    assert _types(events, payment.id)[-1] is _E.PAYMENT_COMPLETED
    failures = [r for r in caplog.records if r.name == "paykit.events"]
    assert len(failures) == 1
    assert failures[0].levelno == logging.ERROR
    assert "payment.completed" in failures[0].getMessage()
    assert failures[0].exc_info is not None
    assert isinstance(failures[0].exc_info[1], RuntimeError)


@pytest.mark.parametrize("name", ["payment.complete", "payment.*", "", "PAYMENT.COMPLETED"])
def test_subscribing_to_an_unknown_event_is_refused(service: PaymentService, name: str) -> None:
    """A misspelt event name is refused at subscription, naming the ``event_type`` field."""

    def handler(event: Event) -> None:  # pragma: no cover - never called
        del event

    with pytest.raises(ValidationError) as caught:
        service.events.subscribe(name, handler)

    assert caught.value.field == "event_type"
    assert "payment.completed" in str(caught.value)
