"""Checkout with PayPal: approval link, capture on reconcile, authorize/capture, refunds, webhooks.

Everything goes through ``PaymentService`` and ``PayPalGateway`` (PayPal's REST API on
``httpx``, no SDK). Where it goes depends on the environment:

* ``PAYPAL_CLIENT_ID`` and ``PAYPAL_CLIENT_SECRET`` set: PayPal's **sandbox**
  (api-m.sandbox.paypal.com). A checkout needs a person to approve it, so the script prints
  the approval link and cancels the payment; nothing else is charged;
* otherwise: offline, against ``FakePayPal``, paykit's scripted PayPal on a local transport,
  where the script also plays the payer.

The first line of output says which one ran. Live mode is never used.

    pip install "paykit[paypal]"
    python examples/paypal_checkout.py
"""

from __future__ import annotations

import os

from paykit import InMemoryStorage, Payment, PaymentService, WebhookSignatureError
from paykit.gateways.paypal import CHECKOUT_TOKEN, PayPalGateway
from paykit.testing.fake_paypal import FakePayPal, FakeVault

CUSTOMER = "customer-42"  # the host application's own customer id
RETURN_URL = "https://shop.example/paypal/return"


def build_gateway() -> tuple[PayPalGateway, FakePayPal | None]:
    """A gateway on PayPal's sandbox if credentials are set, else on the offline fake."""
    client_id = os.environ.get("PAYPAL_CLIENT_ID", "")
    secret = os.environ.get("PAYPAL_CLIENT_SECRET", "")
    if client_id and secret:
        print("Mode: PayPal SANDBOX (api-m.sandbox.paypal.com), credentials from PAYPAL_CLIENT_*")
        gateway = PayPalGateway(
            client_id,
            secret,
            environment="sandbox",
            return_url=RETURN_URL,
            webhook_id=os.environ.get("PAYPAL_WEBHOOK_ID"),
        )
        return gateway, None
    print("Mode: OFFLINE, against paykit's scripted FakePayPal (no network)")
    fake = FakePayPal()
    gateway = PayPalGateway(
        fake.client_id,
        fake.client_secret,
        transport=fake.transport,
        return_url=RETURN_URL,
        webhook_id=fake.webhook_id,
    )
    return gateway, fake


def main() -> None:
    """Walk through the PayPal flows and print what PayPal said at each step."""
    gateway, fake = build_gateway()
    with gateway:
        service = PaymentService(InMemoryStorage(), gateways={"paypal": gateway})
        if fake is None:
            sandbox_checkout(service)
        else:
            offline_tour(service, gateway, fake)


def pay(service: PaymentService, token: str, amount: str, *, capture: bool = True) -> Payment:
    """Save ``token`` as a PayPal method, then create and process a payment with it."""
    method = service.add_payment_method(CUSTOMER, type="paypal", token=token)
    payment = service.create_payment(
        customer_id=CUSTOMER,
        order_id=f"order-{amount}",
        payment_method_id=method.id,
        amount=amount,
        currency="USD",
        capture=capture,
    )
    return service.process_payment(payment.id, return_url=RETURN_URL)


def sandbox_checkout(service: PaymentService) -> None:
    """Against the sandbox: create a checkout, show the link, cancel it."""
    payment = pay(service, CHECKOUT_TOKEN, "12.34")
    action = payment.next_action
    print(f"1. {payment.status}: approve at {action and action.redirect_url}")
    payment = service.cancel_payment(payment.id)
    print(f"   no payer here, so it was {payment.status}")


def offline_tour(service: PaymentService, gateway: PayPalGateway, fake: FakePayPal) -> None:
    """The flows, in order, with the fake playing the payer."""
    print("1. PayPal checkout of 49.99 USD: the payer must approve at PayPal")
    payment = pay(service, CHECKOUT_TOKEN, "49.99")
    action = payment.next_action
    print(f"   {payment.status}: send the payer to {action and action.redirect_url}")
    order_id = payment.provider_payment_id or ""
    fake.approve(order_id)  # the payer approves and comes back
    payment = service.reconcile_payment(payment.id)  # paykit captures the approved order
    print(f"   after approval and reconcile: {payment.status}, captured {payment.captured_amount}")

    print("2. Refund 10.00, then 5.00 of it")
    for amount in ("10.00", "5.00"):
        refund = service.process_refund(service.create_refund(payment.id, amount).id)
        print(f"   refund of {refund.amount}: {refund.status}")
    payment = service.get_payment(payment.id)
    print(f"   payment {payment.status}, {payment.refundable_amount} left to refund")

    print("3. A saved PayPal account (vault id): authorize 80.00, capture 30.00")
    held = pay(service, FakeVault.SUCCESS, "80.00", capture=False)
    print(f"   {held.status}")
    held = service.capture_payment(held.id, "30.00")
    print(f"   {held.status}, captured {held.captured_amount}")

    print("4. A saved account PayPal declines")
    declined = pay(service, FakeVault.DECLINED, "15.00")
    print(f"   {declined.status}: {declined.failure_code} - {declined.failure_message}")

    print("5. A signed PAYMENT.CAPTURE.COMPLETED webhook for the first payment")
    event = fake.event(
        "PAYMENT.CAPTURE.COMPLETED", fake.capture_of(order_id), resource_type="capture"
    )
    headers, body = fake.sign_webhook(event)
    parsed = gateway.parse_webhook(headers, body)
    print(
        f"   verified {parsed.provider_type} -> {parsed.type}, paykit payment {parsed.payment_id}"
    )
    try:
        gateway.parse_webhook(headers, body.replace(b"COMPLETED", b"COMPLETEd", 1))
    except WebhookSignatureError as error:
        print(f"   a tampered copy is refused: {error.code}")


if __name__ == "__main__":
    main()
