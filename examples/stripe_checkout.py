"""Checkout with Stripe: save a card, pay, refund, authorize and capture, 3-D Secure, webhooks.

Everything goes through ``PaymentService`` and ``StripeGateway`` (the official ``stripe`` SDK
over ``httpx``). Where it goes depends on the environment:

* ``STRIPE_SECRET_KEY`` set to a **test-mode** key (``sk_test_...``): Stripe's test mode;
* otherwise: offline, against ``FakeStripe``, paykit's scripted Stripe on a local transport.

The first line of output says which one ran. A live-mode key is never used.

    pip install "paykit[stripe]"
    python examples/stripe_checkout.py
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time

from paykit import InMemoryStorage, Payment, PaymentService, WebhookSignatureError
from paykit.gateways import PaymentLookup
from paykit.gateways.stripe import StripeGateway
from paykit.testing.fake_stripe import FakeStripe

# The demo signs its own event with this; a real endpoint uses the whsec_ secret Stripe gives it.
WEBHOOK_SECRET = "whsec_example_only"  # noqa: S105 - a public demo value, not a credential
CUSTOMER = "customer-42"  # the host application's own customer id


def build_gateway() -> tuple[StripeGateway, FakeStripe | None]:
    """A gateway on Stripe's test mode if a test key is set, else on the offline fake."""
    key = os.environ.get("STRIPE_SECRET_KEY", "")
    if key.startswith(("sk_test_", "rk_test_")):
        print("Mode: Stripe TEST MODE (api.stripe.com), key from STRIPE_SECRET_KEY")
        return StripeGateway(key, webhook_secrets=[WEBHOOK_SECRET], search_wait=60), None
    if key:
        print("STRIPE_SECRET_KEY is not a test-mode key; this example never uses live mode.")
    print("Mode: OFFLINE, against paykit's scripted FakeStripe (no network)")
    fake = FakeStripe()
    gateway = StripeGateway(
        "sk_test_offline_example", transport=fake.transport, webhook_secrets=[WEBHOOK_SECRET]
    )
    return gateway, fake


def main() -> None:
    """Walk through the checkout flows and print what Stripe said at each step."""
    gateway, fake = build_gateway()
    with gateway:
        service = PaymentService(
            InMemoryStorage(), gateways={"credit_card": gateway, "debit_card": gateway}
        )
        checkout(service, gateway, fake)


def save_card(service: PaymentService, gateway: StripeGateway, token: str) -> str:
    """Read a Stripe PaymentMethod's display details and save it; returns paykit's id."""
    details = gateway.attach_payment_method(token, provider_customer_id=None)
    card = service.add_payment_method(
        CUSTOMER,
        type=details.type or "credit_card",
        token=token,
        brand=details.brand,
        last4=details.last4,
        exp_month=details.exp_month,
        exp_year=details.exp_year,
    )
    return card.id


def pay(
    service: PaymentService, card_id: str, amount: str, *, capture: bool = True, order: str
) -> Payment:
    """Create and process one payment; returns it as processing left it."""
    payment = service.create_payment(
        customer_id=CUSTOMER,
        order_id=order,
        payment_method_id=card_id,
        amount=amount,
        currency="USD",
        capture=capture,
    )
    return service.process_payment(payment.id, return_url="https://shop.example/return")


def checkout(service: PaymentService, gateway: StripeGateway, fake: FakeStripe | None) -> None:
    """The flows, in order."""
    print("1. Save Stripe's test Visa card (paykit stores the pm_ token, never the number)")
    visa = save_card(service, gateway, "pm_card_visa")
    print(f"   saved {service.get_payment_method(visa).display_name}")

    print("2. Pay 49.99 USD, then refund 10.00 of it")
    payment = pay(service, visa, "49.99", order="order-1001")
    print(
        f"   {payment.status}, captured {payment.captured_amount} ({payment.provider_payment_id})"
    )
    refund = service.process_refund(service.create_refund(payment.id, "10.00").id)
    payment = service.get_payment(payment.id)
    print(f"   refund {refund.status}; payment {payment.status}, {payment.refundable_amount} left")

    print("3. Authorize 80.00 USD, capture 30.00 of it")
    held = pay(service, visa, "80.00", capture=False, order="order-1002")
    print(f"   {held.status}")
    held = service.capture_payment(held.id, "30.00")
    print(f"   {held.status}, captured {held.captured_amount}")

    print("4. A declined card")
    declined_card = save_card(service, gateway, "pm_card_chargeDeclined")
    declined = pay(service, declined_card, "15.00", order="order-1003")
    print(f"   {declined.status}: {declined.failure_code} - {declined.failure_message}")

    print("5. A card that needs 3-D Secure")
    secure_card = save_card(service, gateway, "pm_card_authenticationRequired")
    pending = pay(service, secure_card, "25.00", order="order-1004")
    action = pending.next_action
    print(f"   {pending.status}: send the customer to {action and action.redirect_url}")
    print(f"   (the client secret is for the browser only: {action and action.client_secret})")
    if fake is not None and pending.provider_payment_id is not None:
        fake.complete_action(pending.provider_payment_id)  # the customer passes the challenge
        pending = service.reconcile_payment(pending.id)
        print(f"   after the challenge: {pending.status}")
    else:
        pending = service.cancel_payment(pending.id)  # nobody can pass it from a script
        print(f"   no customer here to pass the challenge, so it was {pending.status}")

    print("6. A signed payment_intent.succeeded webhook for the first payment")
    truth = gateway.retrieve_payment(
        PaymentLookup(
            payment_id=payment.id,
            provider_payment_id=payment.provider_payment_id,
            idempotency_key=f"paykit:{payment.id}:charge",
            amount=payment.amount,
        )
    )
    body = json.dumps(
        {
            "id": "evt_example_1",
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {"object": truth.raw},
        }
    ).encode()
    event = gateway.parse_webhook({"Stripe-Signature": stripe_signature(body)}, body)
    print(f"   verified {event.provider_type} -> {event.type}, paykit payment {event.payment_id}")
    tampered = body.replace(b"succeeded", b"Succeeded", 1)
    try:
        gateway.parse_webhook({"Stripe-Signature": stripe_signature(body)}, tampered)
    except WebhookSignatureError as error:
        print(f"   a tampered copy is refused: {error.code}")


def stripe_signature(body: bytes) -> str:
    """Sign ``body`` the way Stripe does (what your endpoint receives as Stripe-Signature)."""
    timestamp = int(time.time())
    digest = hmac.new(
        WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


if __name__ == "__main__":
    main()
