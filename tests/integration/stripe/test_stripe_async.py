"""The asynchronous twins send the same requests and map the same answers as the sync methods.

Each test runs its coroutine with ``asyncio.run`` (no async pytest plugin is needed); the SDK's
``*_async`` services go through the same ``HttpxStripeClient`` over an ``httpx.AsyncClient``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
import pytest
from _stripe_support import (
    answering,
    capture_request,
    charge_request,
    make_fake,
    make_gateway,
    payment_lookup,
    refund_lookup,
    refund_request,
    stripe_error,
    void_request,
)

from paykit.errors import GatewayConfigurationError
from paykit.gateways import GatewayOutcome
from paykit.gateways.stripe import StripeGateway
from paykit.testing.fake_stripe import FakeStripe, FakeToken, Fault

_O = GatewayOutcome
T = TypeVar("T")


def _run(fake: FakeStripe | None, body: Callable[[StripeGateway], Awaitable[T]], **kw: int) -> T:
    """Run ``body`` against a gateway over ``fake`` in a fresh event loop, then close it."""
    gateway = make_gateway((fake or make_fake()).transport, **kw)

    async def main() -> T:
        try:
            return await body(gateway)
        finally:
            await gateway.aclose()

    return asyncio.run(main())


def test_async_charge_sends_what_the_sync_charge_sends() -> None:
    """``charge_async`` posts the same form and headers as ``charge``."""
    sync_fake, async_fake = make_fake(), make_fake()
    make_gateway(sync_fake.transport).charge(charge_request())

    result = _run(async_fake, lambda gateway: gateway.charge_async(charge_request()))

    assert result.outcome is _O.SUCCEEDED
    [sync_sent], [async_sent] = sync_fake.requests, async_fake.requests
    assert async_sent.form == sync_sent.form
    assert async_sent.idempotency_key == sync_sent.idempotency_key == "paykit:pay_test_1:charge"
    assert async_sent.headers["stripe-version"] == sync_sent.headers["stripe-version"]


def test_the_whole_async_flow() -> None:
    """Authorize, capture, refund, void and every lookup work asynchronously."""
    fake = make_fake()

    async def flow(gateway: StripeGateway) -> list[GatewayOutcome]:
        held = await gateway.charge_async(charge_request(payment_id="pay_a", capture=False))
        other = await gateway.charge_async(charge_request(payment_id="pay_b", capture=False))
        assert held.provider_id
        assert other.provider_id
        captured = await gateway.capture_async(capture_request(held.provider_id, "20.00"))
        refunded = await gateway.refund_async(refund_request(held.provider_id, "5.00"))
        voided = await gateway.void_async(void_request(other.provider_id))
        by_id = await gateway.retrieve_payment_async(payment_lookup(held.provider_id))
        by_search = await gateway.retrieve_payment_async(payment_lookup(None, payment_id="pay_b"))
        refund_by_id = await gateway.retrieve_refund_async(
            refund_lookup(held.provider_id, refunded.provider_id)
        )
        refund_by_list = await gateway.retrieve_refund_async(refund_lookup(held.provider_id, None))
        return [
            held.outcome,
            captured.outcome,
            refunded.outcome,
            voided.outcome,
            by_id.outcome,
            by_search.outcome,
            refund_by_id.outcome,
            refund_by_list.outcome,
        ]

    outcomes = _run(fake, flow)

    assert outcomes == [
        _O.AUTHORIZED,
        _O.SUCCEEDED,
        _O.SUCCEEDED,
        _O.SUCCEEDED,
        _O.SUCCEEDED,
        _O.DECLINED,  # pay_b was voided: Stripe's truth is a cancelled PaymentIntent
        _O.SUCCEEDED,
        _O.SUCCEEDED,
    ]
    assert fake.charged_units("pay_a") == 2000
    assert fake.refunded_units("pay_a") == 500


def test_async_decline_and_action_map_like_sync() -> None:
    """A decline and a 3-D Secure challenge come back the same way asynchronously."""

    async def both(gateway: StripeGateway) -> tuple[GatewayOutcome, str | None, GatewayOutcome]:
        declined = await gateway.charge_async(
            charge_request(payment_id="pay_a", token=FakeToken.DECLINE)
        )
        action = await gateway.charge_async(
            charge_request(payment_id="pay_b", token=FakeToken.AUTHENTICATION_REQUIRED)
        )
        return declined.outcome, declined.decline_code, action.outcome

    assert _run(None, both) == (_O.DECLINED, "generic_decline", _O.REQUIRES_ACTION)


def test_async_retry_after_a_reset_uses_the_same_key_and_charges_once() -> None:
    """The SDK's async retry after a connection reset repeats the key; one charge results."""
    fake = make_fake()
    fake.inject(Fault.connection_refused(), method="POST")

    result = _run(
        fake, lambda gateway: gateway.charge_async(charge_request()), max_network_retries=1
    )

    assert result.outcome is _O.SUCCEEDED
    assert [r.idempotency_key for r in fake.requests] == ["paykit:pay_test_1:charge"] * 2
    assert fake.charged_units("pay_test_1") == 2500


def test_async_lost_answer_without_retries_is_unknown() -> None:
    """An async charge whose answer is lost is ``unknown``, like the sync one."""
    fake = make_fake()
    fake.inject(Fault.timeout_after_success(), method="POST")

    result = _run(fake, lambda gateway: gateway.charge_async(charge_request()))

    assert result.outcome is _O.UNKNOWN


def test_async_configuration_errors_raise() -> None:
    """A 401 raises GatewayConfigurationError from the async method too."""
    gateway = make_gateway(answering(401, stripe_error("invalid_request_error", "Bad key")))

    async def charge() -> None:
        await gateway.charge_async(charge_request())

    with pytest.raises(GatewayConfigurationError):
        asyncio.run(charge())


def test_async_payment_methods_and_confirm() -> None:
    """Attach, detach and confirm have async twins that reach the same endpoints."""
    fake = make_fake()

    async def calls(gateway: StripeGateway) -> tuple[str | None, GatewayOutcome]:
        details = await gateway.attach_payment_method_async(
            "pm_card_mastercard", provider_customer_id="cus_1"
        )
        await gateway.detach_payment_method_async("pm_card_mastercard")
        intent = await gateway.charge_async(charge_request(token=FakeToken.DECLINE))
        assert intent.provider_id
        confirmed = await gateway.confirm_async(
            intent.provider_id, idempotency_key="paykit:pay_test_1:confirm"
        )
        return details.brand, confirmed.outcome

    brand, outcome = _run(fake, calls)

    assert brand == "mastercard"
    assert outcome is _O.DECLINED
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in fake.requests] == [
        ("POST", "attach"),
        ("POST", "detach"),
        ("POST", "payment_intents"),
        ("POST", "confirm"),
    ]


def test_a_callers_async_client_is_used_and_left_open() -> None:
    """An ``httpx.AsyncClient`` passed in carries the requests and is not closed by aclose."""
    fake = make_fake()

    async def main() -> tuple[GatewayOutcome, bool]:
        async with httpx.AsyncClient(transport=fake.transport) as client:
            gateway = make_gateway(httpx.MockTransport(_unreachable), async_http_client=client)
            result = await gateway.charge_async(charge_request())
            await gateway.aclose()
            return result.outcome, client.is_closed

    assert asyncio.run(main()) == (_O.SUCCEEDED, False)


def _unreachable(request: httpx.Request) -> httpx.Response:
    """The sync transport of that test: it must not be used for async calls."""
    msg = f"the sync transport was used for {request.url}"
    raise AssertionError(msg)
