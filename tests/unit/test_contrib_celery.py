"""paykit.contrib.celery in Celery's eager mode: each task runs when queued, in this process."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from celery import Celery

from paykit import (
    ALL_EVENTS,
    Event,
    EventType,
    InMemoryStorage,
    Payment,
    PaymentService,
    PaymentStatus,
    RefundStatus,
    SandboxGateway,
    SandboxToken,
)
from paykit.contrib.celery import PaykitTasks, register_tasks
from paykit.service import WebhookOutcome


@pytest.fixture
def sandbox() -> SandboxGateway:
    """A sandbox that sends webhooks."""
    return SandboxGateway(send_webhooks=True)


@pytest.fixture
def service(sandbox: SandboxGateway) -> PaymentService:
    """A service on fresh in-memory storage."""
    return PaymentService(InMemoryStorage(), {"credit_card": sandbox})


def _eager_app() -> Celery:
    app = Celery("paykit-test")
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    return app


@pytest.fixture
def tasks(service: PaymentService) -> PaykitTasks:
    """The tasks of paykit, on an eager app."""
    return register_tasks(_eager_app(), service)


def _pending(service: PaymentService, token: str = SandboxToken.SUCCESS) -> Payment:
    card = service.add_payment_method("cus_1", type="credit_card", token=token)
    return service.create_payment(
        customer_id="cus_1",
        order_id="ord_1",
        payment_method_id=card.id,
        amount="42.00",
        currency="EUR",
    )


def test_process_payment_twice_charges_once(
    tasks: PaykitTasks, service: PaymentService, sandbox: SandboxGateway
) -> None:
    """A redelivered task finds the payment claimed and answers its status; one charge."""
    payment = _pending(service)

    first = tasks.process_payment.delay(payment.id).get()
    second = tasks.process_payment.delay(payment.id).get()

    assert (first, second) == ("completed", "completed")
    assert sandbox.calls.count("charge") == 1
    assert str(sandbox.charged_total(payment.id)) == "42.00 EUR"


def test_process_refund_task_refunds(tasks: PaykitTasks, service: PaymentService) -> None:
    """The refund task submits a pending refund, and a second run changes nothing."""
    payment = _pending(service)
    service.process_payment(payment.id)
    refund = service.create_refund(payment.id, "10.00")

    assert tasks.process_refund.delay(refund.id).get() == "completed"
    assert tasks.process_refund.delay(refund.id).get() == "completed"
    assert service.get_refund(refund.id).status is RefundStatus.COMPLETED
    assert service.get_payment(payment.id).status is PaymentStatus.PARTIALLY_REFUNDED


def test_a_webhook_is_stored_answered_then_applied_by_the_task(
    tasks: PaykitTasks, service: PaymentService, sandbox: SandboxGateway
) -> None:
    """The endpoint stores and answers 200; the task applies; a redelivery is a duplicate."""
    payment = service.process_payment(_pending(service, SandboxToken.THREE_D_SECURE).id)
    assert payment.provider_payment_id is not None
    sandbox.take_webhooks()
    sandbox.complete_action(payment.provider_payment_id)
    [(headers, body)] = sandbox.take_webhooks()

    answer = tasks.handle_webhook("sandbox", headers, body)

    assert (answer.status_code, answer.outcome) == (200, WebhookOutcome.UNMATCHED)
    assert service.get_payment(payment.id).status is PaymentStatus.COMPLETED  # applied (eager)
    [entry] = service.list_webhook_events(payment.id)
    assert entry.status == "applied"
    again = tasks.handle_webhook("sandbox", headers, body)
    assert (again.status_code, again.outcome) == (200, WebhookOutcome.DUPLICATE)
    assert tasks.apply_webhook.delay("sandbox", answer.event_id).get() == "duplicate"


def test_a_forged_webhook_is_refused_and_nothing_is_queued(
    tasks: PaykitTasks, service: PaymentService
) -> None:
    """A bad signature is answered 400 at the endpoint; nothing is stored."""
    answer = tasks.handle_webhook("sandbox", {"paykit-signature": "t=1,v1=00"}, b"{}")
    assert answer.status_code == 400
    assert service.list_unmatched_webhook_events() == []


def test_applying_an_event_never_stored_says_so(tasks: PaykitTasks) -> None:
    """apply_webhook for an unknown event id answers not_found instead of failing forever."""
    assert tasks.apply_webhook.delay("sandbox", "evt_never").get() == "not_found"


def test_events_go_through_the_dispatch_task(sandbox: SandboxGateway) -> None:
    """deliver_events=True: the commit queues dispatch_events, which delivers from the outbox."""
    service = PaymentService(InMemoryStorage(), {"credit_card": sandbox})
    seen: list[Event] = []
    service.events.subscribe(ALL_EVENTS, seen.append)
    tasks = register_tasks(_eager_app(), service, deliver_events=True)
    assert tasks.service.outbox.deliver_after_commit is False

    payment = _pending(service)
    tasks.process_payment.delay(payment.id)

    assert [event.type for event in seen] == [
        EventType.PAYMENT_CREATED,
        EventType.PAYMENT_PROCESSING,
        EventType.PAYMENT_COMPLETED,
    ]
    assert tasks.dispatch_events.delay().get() == {"delivered": 0, "retrying": 0, "dead": 0}
    assert len(service.outbox.list(status="delivered")) == len(seen)


def test_a_factory_builds_the_service_once_per_process(sandbox: SandboxGateway) -> None:
    """Given a function, the tasks build the service on first use and keep it."""
    built: list[PaymentService] = []

    def build() -> PaymentService:
        built.append(PaymentService(InMemoryStorage(), {"credit_card": sandbox}))
        return built[-1]

    factory: Callable[[], PaymentService] = build
    tasks = register_tasks(_eager_app(), factory)
    assert built == []
    payment = _pending(tasks.service)
    assert tasks.process_payment.delay(payment.id).get() == "completed"
    assert tasks.reconcile.delay().get()["payments"]["examined"] == 0
    assert len(built) == 1


def test_the_beat_schedule_names_the_sweeps(tasks: PaykitTasks) -> None:
    """beat_schedule gives the reconcile and dispatch tasks, by their registered names."""
    schedule = tasks.beat_schedule()
    assert {entry["task"] for entry in schedule.values()} == {
        "paykit.reconcile",
        "paykit.dispatch_events",
    }
    assert set(tasks.app.tasks) >= {
        "paykit.process_payment",
        "paykit.process_refund",
        "paykit.apply_webhook",
        "paykit.reconcile",
        "paykit.dispatch_events",
    }
