"""The asynchronous twins run the very same flows: same requests, same answers.

Each test runs its coroutine with ``asyncio.run`` (no async pytest plugin is needed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from _paypal_support import (
    capture_request,
    charge_request,
    make_fake,
    make_gateway,
    payment_lookup,
    refund_lookup,
    refund_request,
    vault_charge,
    void_request,
)

from paykit.errors import WebhookSignatureError
from paykit.gateways import GatewayOutcome, WebhookEventType
from paykit.gateways.paypal import PayPalGateway
from paykit.testing.fake_paypal import FakePayPal, Fault

_O = GatewayOutcome
T = TypeVar("T")


def _run(fake: FakePayPal, body: Callable[[PayPalGateway], Awaitable[T]], **kw: Any) -> T:
    """Run ``body`` against a gateway over ``fake`` in a fresh event loop, then close it."""
    gateway = make_gateway(fake=fake, **kw)

    async def main() -> T:
        try:
            return await body(gateway)
        finally:
            await gateway.aclose()

    return asyncio.run(main())


def test_async_charge_sends_what_the_sync_charge_sends() -> None:
    """``charge_async`` posts the same body and headers as ``charge``."""
    sync_fake, async_fake = make_fake(), make_fake()
    make_gateway(fake=sync_fake).charge(charge_request())

    result = _run(async_fake, lambda gateway: gateway.charge_async(charge_request()))

    assert result.outcome is _O.REQUIRES_ACTION
    sync_sent, async_sent = sync_fake.requests[-1], async_fake.requests[-1]
    assert async_sent.body == sync_sent.body
    assert async_sent.request_id == sync_sent.request_id == "paykit:pay_test_1:charge"
    assert async_sent.headers["prefer"] == sync_sent.headers["prefer"]


def test_the_whole_async_flow() -> None:
    """Checkout, completion, authorize, capture, refund, void and every lookup work async."""
    fake = make_fake()

    async def flow(gateway: PayPalGateway) -> list[GatewayOutcome]:
        order = await gateway.charge_async(charge_request())
        assert order.provider_id
        fake.approve(order.provider_id)
        done = await gateway.retrieve_payment_async(payment_lookup(order.provider_id))
        held = await gateway.charge_async(vault_charge(capture=False, payment_id="pay_a"))
        other = await gateway.charge_async(vault_charge(capture=False, payment_id="pay_b"))
        assert held.provider_id
        assert other.provider_id
        captured = await gateway.capture_async(
            capture_request(held.provider_id, "20.00", payment_id="pay_a")
        )
        refunded = await gateway.refund_async(refund_request(held.provider_id, "5.00"))
        voided = await gateway.void_async(void_request(other.provider_id, payment_id="pay_b"))
        by_id = await gateway.retrieve_refund_async(
            refund_lookup(held.provider_id, refunded.provider_id)
        )
        by_order = await gateway.retrieve_refund_async(refund_lookup(held.provider_id, None))
        by_key = await gateway.retrieve_payment_async(payment_lookup(None, payment_id="pay_a"))
        return [r.outcome for r in (done, captured, refunded, voided, by_id, by_order, by_key)]

    assert _run(fake, flow) == [_O.SUCCEEDED] * 7


def test_async_retries_and_unknowns() -> None:
    """A lost answer is retried under the same request id asynchronously too, or ``unknown``."""
    retried, lost = make_fake(), make_fake()
    for fake in (retried, lost):
        fake.inject(Fault.timeout_after_success(), method="POST", path="/v2/checkout/orders")

    ok = _run(retried, lambda gateway: gateway.charge_async(vault_charge()), max_retries=1)
    unknown = _run(lost, lambda gateway: gateway.charge_async(vault_charge()))

    assert ok.outcome is _O.SUCCEEDED
    assert unknown.outcome is _O.UNKNOWN


def test_async_webhooks() -> None:
    """``parse_webhook_async`` verifies (both ways) and refuses a tampered body."""
    fake = make_fake()
    order_id = make_gateway(fake=fake).charge(vault_charge()).provider_id
    assert order_id
    event = fake.event(
        "PAYMENT.CAPTURE.COMPLETED", fake.capture_of(order_id), resource_type="capture"
    )
    headers, body = fake.sign_webhook(event)

    by_api = _run(fake, lambda gateway: gateway.parse_webhook_async(headers, body))
    offline = _run(
        fake,
        lambda gateway: gateway.parse_webhook_async(headers, body),
        webhook_verification="offline",
        webhook_trust_roots=[fake.signer.root_pem],
    )
    assert by_api.type is offline.type is WebhookEventType.PAYMENT_SUCCEEDED
    with pytest.raises(WebhookSignatureError):
        _run(fake, lambda gateway: gateway.parse_webhook_async(headers, body[:-2] + b" }"))


def test_async_webhooks_look_up_a_reversed_capture() -> None:
    """A reversal names its order and payment through the capture lookup, asynchronously too."""
    fake = make_fake()
    order_id = make_gateway(fake=fake).charge(vault_charge()).provider_id
    assert order_id
    reversal = fake.reverse(order_id, "10.00")
    headers, body = fake.sign_webhook(
        fake.event("PAYMENT.CAPTURE.REVERSED", reversal, resource_type="refund")
    )

    event = _run(fake, lambda gateway: gateway.parse_webhook_async(headers, body))

    assert event.type is WebhookEventType.PAYMENT_REFUNDED
    assert event.provider_payment_id == order_id
    assert event.payment_id is not None
