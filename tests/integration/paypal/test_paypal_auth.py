"""The OAuth2 token: fetched on first use, cached, refreshed in time, once for many callers."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from _paypal_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    NOW,
    make_fake,
    make_gateway,
    payment_lookup,
    validating,
    vault_charge,
)

from paykit.errors import GatewayConfigurationError, GatewayError
from paykit.gateways import GatewayOutcome
from paykit.gateways.paypal import PayPalGateway
from paykit.testing.fake_paypal import Fault

_O = GatewayOutcome


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        """The time the test set."""
        return self.now


def test_no_token_until_first_use_then_one_for_many_calls() -> None:
    """Building the gateway fetches nothing; the first call fetches a token the next ones reuse."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    assert fake.token_requests == 0

    for number in range(3):
        gateway.charge(vault_charge(payment_id=f"pay_{number}"))

    assert fake.token_requests == 1
    token = fake.requests[0]
    assert token.path == "/v1/oauth2/token"
    assert token.body == {"grant_type": "client_credentials"}
    assert token.headers["authorization"].startswith("Basic ")


def test_token_is_refreshed_before_expires_in_runs_out() -> None:
    """A token is replaced a safety margin before PayPal's ``expires_in`` ends, not after."""
    clock = Clock()
    fake = make_fake(clock=clock, token_lifetime=3600)
    gateway = make_gateway(fake=fake, clock=clock)
    gateway.charge(vault_charge(payment_id="pay_a"))

    clock.now += 3600 - 301  # still more than the five-minute margin left
    gateway.charge(vault_charge(payment_id="pay_b"))
    assert fake.token_requests == 1

    clock.now += 2  # inside the margin: refresh although PayPal would still accept it
    gateway.charge(vault_charge(payment_id="pay_c"))
    assert fake.token_requests == 2


def test_short_lived_tokens_are_refreshed_at_half_life() -> None:
    """A token shorter-lived than the margin is refreshed half way, never used expired."""
    clock = Clock()
    fake = make_fake(clock=clock, token_lifetime=120)
    gateway = make_gateway(fake=fake, clock=clock)
    gateway.charge(vault_charge(payment_id="pay_a"))
    clock.now += 61
    gateway.charge(vault_charge(payment_id="pay_b"))
    assert fake.token_requests == 2


def test_many_threads_one_token_request() -> None:
    """Twenty threads charging at once on a fresh gateway cause exactly one token request."""
    fake = make_fake(token_delay=0.05)
    gateway = make_gateway(fake=fake)
    start = threading.Barrier(20)

    def pay(number: int) -> GatewayOutcome:
        start.wait()
        return gateway.charge(vault_charge(payment_id=f"pay_{number}")).outcome

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(pay, range(20)))

    assert outcomes == [_O.SUCCEEDED] * 20
    assert fake.token_requests == 1
    assert gateway.token_fetches == 1


def test_many_tasks_one_token_request() -> None:
    """Twenty asyncio tasks charging at once on a fresh gateway cause exactly one token request."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)

    async def main() -> list[GatewayOutcome]:
        results = await asyncio.gather(
            *(gateway.charge_async(vault_charge(payment_id=f"pay_{n}")) for n in range(20))
        )
        await gateway.aclose()
        return [result.outcome for result in results]

    assert asyncio.run(main()) == [_O.SUCCEEDED] * 20
    assert fake.token_requests == 1


def test_tasks_in_two_event_loops_share_the_cached_token() -> None:
    """A token fetched in one event loop is reused in the next; a lock never crosses loops."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)

    async def pay(payment_id: str) -> None:
        await gateway.charge_async(vault_charge(payment_id=payment_id))
        await gateway.aclose()

    asyncio.run(pay("pay_a"))
    asyncio.run(pay("pay_b"))
    fake.revoke_tokens()
    asyncio.run(pay("pay_c"))

    assert fake.token_requests == 2


def test_a_401_fetches_a_new_token_once_and_retries() -> None:
    """A token PayPal no longer accepts is replaced once, and the request goes through."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    gateway.charge(vault_charge(payment_id="pay_a"))
    fake.revoke_tokens()

    result = gateway.charge(vault_charge(payment_id="pay_b"))

    assert result.outcome is _O.SUCCEEDED
    assert fake.token_requests == 2
    posts = [r for r in fake.requests if r.path == "/v2/checkout/orders"]
    assert [r.request_id for r in posts[-2:]] == ["paykit:pay_b:charge"] * 2


def test_a_second_401_is_a_configuration_error_with_debug_id() -> None:
    """When even a fresh token is refused, the error names PayPal's debug_id, never a secret."""
    fake = make_fake()
    fake.inject(Fault.error(401), path="/v2/checkout/orders", times=2)
    gateway = make_gateway(fake=fake)

    with pytest.raises(GatewayConfigurationError) as raised:
        gateway.charge(vault_charge())

    error = raised.value
    assert error.request_id
    assert error.request_id in str(error)
    assert fake.token_requests == 2
    for text in (str(error), repr(error), error.gateway_message or ""):
        assert CLIENT_SECRET not in text
        assert "A21AA" not in text


def test_wrong_credentials_are_a_configuration_error_without_the_secret() -> None:
    """Refused client credentials raise before any payment request, without the secret."""
    fake = make_fake()
    transport, _ = validating(fake)
    gateway = PayPalGateway(CLIENT_ID, "EWrongSecret-abcdefghijklmnop", transport=transport)

    with pytest.raises(GatewayConfigurationError, match="client id and secret") as raised:
        gateway.charge(vault_charge())

    assert "EWrongSecret" not in str(raised.value)
    assert [r.path for r in fake.requests] == ["/v1/oauth2/token"]


def test_token_endpoint_down_is_a_retryable_error_and_nothing_was_sent() -> None:
    """A token endpoint that does not answer means no payment request left: retryable error."""
    fake = make_fake()
    fake.inject(Fault.error(503), path="/v1/oauth2/token")

    with pytest.raises(GatewayError) as raised:
        make_gateway(fake=fake).charge(vault_charge())

    assert raised.value.retryable
    assert not isinstance(raised.value, GatewayConfigurationError)
    assert [r.path for r in fake.requests] == ["/v1/oauth2/token"]


def test_lookups_after_a_revoked_token_still_work() -> None:
    """GETs recover from a revoked token the same way POSTs do."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    paid = gateway.charge(vault_charge())
    fake.revoke_tokens()

    assert gateway.retrieve_payment(payment_lookup(paid.provider_id)).outcome is _O.SUCCEEDED
