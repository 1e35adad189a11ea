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
from _webhook_demo import LOGGED, report, show, waiting_payment
from django.conf import settings
from django.test import Client
from django.urls import path

from paykit import (
    InMemoryStorage,
    PaymentService,
    SandboxGateway,
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


if __name__ == "__main__":
    main()
