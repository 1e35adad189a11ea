"""Provider webhooks through FastAPI, offline: the sandbox signs, paykit verifies and applies.

A card payment stops at 3-D Secure; the customer passes the challenge at the provider, and
the provider tells paykit with a signed webhook to ``POST /webhooks/{provider}``. The
script delivers it through FastAPI's test client, then delivers it again, sends a tampered
copy and a GET, and shows what each got and what paykit recorded::

    python examples/webhooks_fastapi.py

Needs ``paykit[fastapi]`` (and ``httpx2`` for the test client, part of ``paykit[dev]``).
"""

from __future__ import annotations

import logging

from _webhook_demo import LOGGED, report, show, waiting_payment
from fastapi import FastAPI
from starlette.testclient import TestClient

from paykit import (
    InMemoryStorage,
    PaymentService,
    SandboxGateway,
)
from paykit.contrib.starlette import add_webhook_route
from paykit.gateways import WebhookEventType


def main() -> None:
    logging.getLogger("paykit").addHandler(LOGGED)

    sandbox = SandboxGateway()
    service = PaymentService(InMemoryStorage(), gateways={"credit_card": sandbox})
    app = FastAPI()
    add_webhook_route(app, service)  # POST /webhooks/{provider}
    client = TestClient(app)

    payment, intent = waiting_payment(service, sandbox)
    url = f"/webhooks/{payment.provider}"
    headers, body = sandbox.webhook_for(WebhookEventType.PAYMENT_SUCCEEDED, intent)
    print(f"\nThe sandbox signs a payment.succeeded webhook ({len(body)} bytes) for {url}")

    answer = client.post(url, content=body, headers=headers)
    show("delivered", answer.status_code, answer.text, expected=200)
    answer = client.post(url, content=body, headers=headers)
    show("delivered again", answer.status_code, answer.text, expected=200)
    tampered = body.replace(b'"25.00"', b'"1.00"')
    answer = client.post(url, content=tampered, headers=headers)
    show("amount changed after signing", answer.status_code, answer.text, expected=400)
    answer = client.get(url)
    show("GET instead of POST", answer.status_code, answer.text, expected=405)
    answer = client.post("/webhooks/acme", content=body, headers=headers)
    show("a provider paykit does not have", answer.status_code, answer.text, expected=404)

    report(service, payment)


if __name__ == "__main__":
    main()
