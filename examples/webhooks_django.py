"""Provider webhooks through Django, offline: the sandbox signs, paykit verifies and applies.

A card payment stops at 3-D Secure; the customer passes the challenge at the provider, and
the provider tells paykit with a signed webhook to ``POST /webhooks/<provider>/``. The
script configures a minimal Django project in-process (settings, a URLconf with
``webhook_view``, CSRF checks on), delivers the webhook through Django's test client, then
delivers it again, sends a tampered copy and a GET, and shows what each got and what paykit
recorded::

    python examples/webhooks_django.py

Needs ``paykit[django]``.
"""

from __future__ import annotations

import logging
import types

import django
from django.conf import settings
from django.test import Client
from django.urls import path

from paykit import (
    InMemoryStorage,
    LogType,
    Payment,
    PaymentService,
    PaymentStatus,
    SandboxGateway,
    SandboxToken,
)
from paykit.contrib.django import webhook_view
from paykit.gateways import WebhookEventType


def main() -> None:
    logging.getLogger("paykit").addHandler(LOGGED)

    sandbox = SandboxGateway()
    service = PaymentService(InMemoryStorage(), gateways={"credit_card": sandbox})
    configure_django(service)
    client = Client(enforce_csrf_checks=True)  # as strict as a real site: the view is exempt

    payment, intent = waiting_payment(service, sandbox)
    url = f"/webhooks/{payment.provider}/"
    headers, body = sandbox.webhook_for(WebhookEventType.PAYMENT_SUCCEEDED, intent)
    print(f"\nThe sandbox signs a payment.succeeded webhook ({len(body)} bytes) for {url}")

    answer = client.post(url, body, content_type="application/json", headers=headers)
    show("delivered", answer.status_code, answer.content.decode(), expected=200)
    answer = client.post(url, body, content_type="application/json", headers=headers)
    show("delivered again", answer.status_code, answer.content.decode(), expected=200)
    tampered = body.replace(b'"25.00"', b'"1.00"')
    answer = client.post(url, tampered, content_type="application/json", headers=headers)
    show("amount changed after signing", answer.status_code, answer.content.decode(), expected=400)
    answer = client.get(url)
    show("GET instead of POST", answer.status_code, answer.content.decode(), expected=405)
    answer = client.post("/webhooks/acme/", body, content_type="application/json", headers=headers)
    show(
        "a provider paykit does not have", answer.status_code, answer.content.decode(), expected=404
    )

    report(service, payment)


def configure_django(service: PaymentService) -> None:
    """Settings and a URLconf for a one-route Django project, in this process."""
    urls = types.ModuleType("webhook_urls")
    # A URLconf is any module with ``urlpatterns``; in a project this is urls.py.
    urls.urlpatterns = [  # type: ignore[attr-defined]
        path("webhooks/<str:provider>/", webhook_view(service), name="paykit-webhook"),
    ]
    settings.configure(
        DEBUG=False,
        SECRET_KEY="example-only-not-a-secret",  # noqa: S106 - a throwaway example project
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=urls,
        INSTALLED_APPS=[],
        MIDDLEWARE=[
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
        ],
    )
    django.setup()


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
