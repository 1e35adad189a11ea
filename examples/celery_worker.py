"""paykit's Celery tasks, offline: Celery's eager mode runs each task at once, in this process.

A host registers paykit's tasks on its Celery app with its service, then queues work from its
views: the worker charges the card, applies the provider's webhook, and delivers paykit's
events to the host's subscribers through the outbox. Here ``task_always_eager`` stands in for
the broker and the worker, so the script needs neither::

    python examples/celery_worker.py

With a broker, the same code runs as ``celery -A examples.celery_worker worker`` (see
docs/celery.md). Needs ``paykit[celery]``.
"""

from __future__ import annotations

from celery import Celery

from paykit import (
    Event,
    EventType,
    InMemoryStorage,
    PaymentService,
    SandboxGateway,
    SandboxToken,
)
from paykit.contrib.celery import register_tasks

sandbox = SandboxGateway(send_webhooks=True)
service = PaymentService(InMemoryStorage(), {"credit_card": sandbox})

app = Celery("shop")
app.conf.task_always_eager = True  # no broker, no worker: each task runs when it is queued
app.conf.task_eager_propagates = True
tasks = register_tasks(app, service, deliver_events=True)  # events go through a task too


def confirm_order(event: Event) -> None:
    """What the host does on ``payment.completed``: confirm its order (once per event id)."""
    if event.id in confirmed:
        return
    confirmed.add(event.id)
    print(f"  host: order {event.payment.order_id} confirmed (event {event.type})")


confirmed: set[str] = set()
service.events.subscribe(EventType.PAYMENT_COMPLETED, confirm_order)


def checkout(customer: str, token: str) -> str:
    """A view: record the payment and queue its processing; answer without waiting for it."""
    card = service.add_payment_method(customer, type="credit_card", token=token)
    payment = service.create_payment(
        customer_id=customer,
        order_id=f"ord_{customer}",
        payment_method_id=card.id,
        amount="42.00",
        currency="EUR",
    )
    tasks.process_payment.delay(payment.id)
    return payment.id


def main() -> None:
    print("A card payment, processed by the process_payment task:")
    paid = checkout("cus_ada", SandboxToken.SUCCESS)
    print(f"  payment {paid}: {service.get_payment(paid).status}")

    print("The broker delivers the task again (at least once): nothing moves twice")
    again = tasks.process_payment.delay(paid).get()
    print(f"  second run says {again}; the sandbox charged {sandbox.charged_total(paid)} in all")

    print("A 3-D Secure payment, completed by the provider's webhook:")
    waiting = checkout("cus_bob", SandboxToken.THREE_D_SECURE)
    intent = service.get_payment(waiting).provider_payment_id
    assert intent is not None  # noqa: S101 - the sandbox answered with its id
    print(f"  payment {waiting}: {service.get_payment(waiting).status}")
    sandbox.take_webhooks()  # the events so far are not this demo's point
    sandbox.complete_action(intent)
    for headers, body in sandbox.take_webhooks():
        answer = tasks.handle_webhook("sandbox", headers, body)  # the endpoint: store, queue
        print(f"  endpoint stored it and answered {answer.status_code}; apply_webhook applied it")
    print(f"  payment {waiting}: {service.get_payment(waiting).status}")

    report = tasks.reconcile.delay().get()
    print(f"Celery beat's reconcile sweep: {report['payments']}")
    print(f"Outbox: {len(service.outbox.list(status='delivered'))} events delivered, ", end="")
    print(f"{len(service.outbox.list(status='dead'))} dead letters")


if __name__ == "__main__":
    main()
