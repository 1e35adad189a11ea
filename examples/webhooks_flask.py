"""Provider webhooks through Flask, offline: the sandbox signs, paykit verifies and applies.

A card payment stops at 3-D Secure; the customer passes the challenge at the provider, and
the provider tells paykit with a signed webhook to ``POST /webhooks/<provider>``. The script
delivers it through Flask's test client, then delivers it again, sends a tampered copy and
a GET, and shows what each got and what paykit recorded::

    python examples/webhooks_flask.py

Needs ``paykit[flask]``.
"""

from __future__ import annotations

import logging

from flask import Flask

from paykit import (
    InMemoryStorage,
    LogType,
    Payment,
    PaymentService,
    PaymentStatus,
    SandboxGateway,
    SandboxToken,
)
from paykit.contrib.flask import webhook_blueprint
from paykit.gateways import WebhookEventType


def main() -> None:
    logging.getLogger("paykit").addHandler(LOGGED)

    sandbox = SandboxGateway()
    service = PaymentService(InMemoryStorage(), gateways={"credit_card": sandbox})
    app = Flask(__name__)
    app.register_blueprint(webhook_blueprint(service))  # POST /webhooks/<provider>
    client = app.test_client()

    payment, intent = waiting_payment(service, sandbox)
    url = f"/webhooks/{payment.provider}"
    headers, body = sandbox.webhook_for(WebhookEventType.PAYMENT_SUCCEEDED, intent)
    print(f"\nThe sandbox signs a payment.succeeded webhook ({len(body)} bytes) for {url}")

    answer = client.post(url, data=body, headers=headers)
    show("delivered", answer.status_code, answer.get_data(as_text=True), expected=200)
    answer = client.post(url, data=body, headers=headers)
    show("delivered again", answer.status_code, answer.get_data(as_text=True), expected=200)
    tampered = body.replace(b'"25.00"', b'"1.00"')
    answer = client.post(url, data=tampered, headers=headers)
    show(
        "amount changed after signing",
        answer.status_code,
        answer.get_data(as_text=True),
        expected=400,
    )
    answer = client.get(url)
    page = f"(Flask's own HTML error page), Allow: {answer.headers['Allow']}"
    show("GET instead of POST", answer.status_code, page, expected=405)
    answer = client.post("/webhooks/acme", data=body, headers=headers)
    show(
        "a provider paykit does not have",
        answer.status_code,
        answer.get_data(as_text=True),
        expected=404,
    )

    report(service, payment)


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


if __name__ == "__main__":
    main()
