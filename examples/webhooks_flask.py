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

from _webhook_demo import LOGGED, report, show, waiting_payment
from flask import Flask

from paykit import (
    InMemoryStorage,
    PaymentService,
    SandboxGateway,
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


if __name__ == "__main__":
    main()
