"""What the three webhook examples share: the payment they deliver a webhook for, and output.

``webhooks_fastapi.py``, ``webhooks_flask.py`` and ``webhooks_django.py`` differ only in how
the route is mounted and called; this module is imported by them, not run on its own.
"""

from __future__ import annotations

import logging

from paykit import LogType, Payment, PaymentService, PaymentStatus, SandboxGateway, SandboxToken


def waiting_payment(service: PaymentService, sandbox: SandboxGateway) -> tuple[Payment, str]:
    """A card payment stopped at 3-D Secure, which the customer then passes at the sandbox.

    Returns the payment and the sandbox's id for it.
    """
    card = service.add_payment_method(
        "cus_ada", type="credit_card", token=SandboxToken.THREE_D_SECURE, brand="visa", last4="3220"
    )
    payment = service.create_payment(
        customer_id="cus_ada",
        order_id="ord_2001",
        payment_method_id=card.id,
        amount="25.00",
        currency="EUR",
        idempotency_key="checkout-ord_2001",
    )
    payment = service.process_payment(payment.id)
    print(f"Payment {payment.id} of {payment.amount}: {payment.status} (3-D Secure)")
    intent = payment.provider_payment_id
    if intent is None:
        raise SystemExit("the sandbox should have answered with its id for the payment")
    sandbox.complete_action(intent)
    status = service.get_payment(payment.id).status
    print(f"The customer passes the challenge at the sandbox; paykit still says {status}")
    return payment, intent


class Collected(logging.Handler):
    """Keeps what paykit logs (why it rejected a delivery) to print under the answer."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the message."""
        self.messages.append(f"a {record.levelname.lower()} on {record.name}")


LOGGED = Collected()


def show(label: str, status: int, text: str, *, expected: int) -> None:
    """Print one answer and what paykit logged; stop if it is not the expected answer."""
    print(f"  {label:<32} -> {status} {text}")
    for message in LOGGED.messages:
        print(f"  {'':<32}    (paykit logged {message})")
    LOGGED.messages.clear()
    if status != expected:
        raise SystemExit(f"expected {expected}, got {status}")


def report(service: PaymentService, payment: Payment) -> None:
    """The payment's status and log after the deliveries."""
    payment = service.get_payment(payment.id)
    print(f"\nPayment {payment.id}: {payment.status}, captured {payment.captured_amount}")
    if payment.status is not PaymentStatus.COMPLETED:
        raise SystemExit("the webhook should have completed the payment")
    print("Its transaction log:")
    for entry in service.get_transaction_log(payment.id):
        print(f"  {entry.log_type:<24} {entry.message}")
    received = [
        entry
        for entry in service.get_transaction_log(payment.id)
        if entry.log_type is LogType.WEBHOOK_RECEIVED
    ]
    events = service.list_webhook_events(payment.id)
    print(f"{len(received)} webhook_received entry, {len(events)} event in the inbox")
