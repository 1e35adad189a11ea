"""PayPal retries: exponential backoff with jitter, Retry-After honoured, one PayPal-Request-Id.

Each test scripts the first answers to ``POST /v2/checkout/orders`` (a 503, a 429 with
``Retry-After``) and lets the fake PayPal answer the rest, over ``httpx.MockTransport``;
the gateway's ``sleep`` records the pauses instead of taking them.
"""

from __future__ import annotations

from email.utils import formatdate

import anyio
import httpx
import pytest
from _paypal_support import NOW, make_fake, make_gateway, paypal_error, validating, vault_charge

from paykit.errors import GatewayError
from paykit.gateways import GatewayOutcome
from paykit.gateways.paypal import PayPalGateway
from paykit.gateways.paypal._http import MAX_RETRY_AFTER

ORDERS = "/v2/checkout/orders"
BACKOFF = 0.5


class Script:
    """Answers the first order requests from a script, the rest from the fake PayPal."""

    def __init__(self, *answers: httpx.Response) -> None:
        self._answers = list(answers)
        self._fake, _ = validating(make_fake())
        self.orders: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Record an order request; answer it from the script while it lasts."""
        request.read()
        if request.url.path == ORDERS:
            self.orders.append(request)
            if self._answers:
                return self._answers.pop(0)
        return self._fake.handle_request(request)

    def gateway(self, max_retries: int = 3) -> PayPalGateway:
        """A gateway over this script, with backoff, recording its pauses."""
        return make_gateway(
            httpx.MockTransport(self.handle),
            max_retries=max_retries,
            backoff=BACKOFF,
            sleep=self.sleeps.append,
        )

    def request_ids(self) -> set[str | None]:
        """The PayPal-Request-Id of every order request."""
        return {request.headers.get("PayPal-Request-Id") for request in self.orders}


def _charge(script: Script, max_retries: int = 3) -> GatewayOutcome:
    gateway = script.gateway(max_retries)
    return gateway.charge(vault_charge()).outcome


def _unavailable() -> httpx.Response:
    return paypal_error(503, "SERVICE_UNAVAILABLE")


def _rate_limited(retry_after: str) -> httpx.Response:
    answer = paypal_error(429, "RATE_LIMIT_REACHED")
    answer.headers["Retry-After"] = retry_after
    return answer


def test_5xx_is_retried_with_growing_jittered_pauses_and_one_request_id() -> None:
    """Two 503s, then the order: three requests with one id; pauses 0.5-1.0 s, then 1.0-1.5 s."""
    script = Script(_unavailable(), _unavailable())

    assert _charge(script) is GatewayOutcome.SUCCEEDED

    assert len(script.orders) == 3
    [request_id] = script.request_ids()
    assert request_id
    first, second = script.sleeps
    assert BACKOFF <= first <= 2 * BACKOFF
    assert 2 * BACKOFF <= second <= 3 * BACKOFF


def test_the_pauses_are_jittered() -> None:
    """The first pause differs from one request to the next (full doubling plus up to 0.5 s)."""
    sleeps: list[float] = []
    for _ in range(8):
        script = Script(_unavailable())
        assert _charge(script) is GatewayOutcome.SUCCEEDED
        sleeps += script.sleeps
    assert len(set(sleeps)) > 1
    assert all(BACKOFF <= pause <= 2 * BACKOFF for pause in sleeps)


def test_retry_after_in_seconds_is_waited_for() -> None:
    """A 429 asking for 7 s: the gateway waits 7 s, not its own backoff, and sends again."""
    script = Script(_rate_limited("7"))

    assert _charge(script) is GatewayOutcome.SUCCEEDED

    assert script.sleeps == [7.0]
    assert len(script.orders) == 2
    assert len(script.request_ids()) == 1


def test_retry_after_as_a_date_is_waited_for() -> None:
    """A 503 with an HTTP-date Retry-After 12 s ahead of the clock: a 12 s pause."""
    answer = _unavailable()
    answer.headers["Retry-After"] = formatdate(NOW + 12, usegmt=True)
    script = Script(answer)

    assert _charge(script) is GatewayOutcome.SUCCEEDED

    assert script.sleeps == [12.0]
    assert len(script.request_ids()) == 1


def test_a_shorter_retry_after_than_the_backoff_keeps_the_backoff() -> None:
    """Retry-After: 0 does not make the gateway hammer PayPal: the backoff still applies."""
    script = Script(_rate_limited("0"))

    assert _charge(script) is GatewayOutcome.SUCCEEDED

    [pause] = script.sleeps
    assert BACKOFF <= pause <= 2 * BACKOFF


def test_a_retry_after_beyond_the_limit_is_reported_at_once() -> None:
    """Asked to come back in two minutes: no waiting in-line, a retryable error now."""
    script = Script(_rate_limited(str(int(MAX_RETRY_AFTER) + 90)))

    with pytest.raises(GatewayError) as raised:
        _charge(script)

    assert raised.value.retryable
    assert script.sleeps == []
    assert len(script.orders) == 1


def test_an_unreadable_retry_after_falls_back_on_the_backoff() -> None:
    """Retry-After that is neither seconds nor a date is ignored."""
    script = Script(_rate_limited("soon"))

    assert _charge(script) is GatewayOutcome.SUCCEEDED

    [pause] = script.sleeps
    assert BACKOFF <= pause <= 2 * BACKOFF


def test_the_async_path_retries_with_the_same_request_id() -> None:
    """charge_async runs the same retry decisions: 503, 429, then the order; one request id."""
    script = Script(_unavailable(), _rate_limited("0"))
    gateway = make_gateway(httpx.MockTransport(script.handle), max_retries=2, backoff=0.0)

    result = anyio.run(gateway.charge_async, vault_charge())

    assert result.outcome is GatewayOutcome.SUCCEEDED
    assert len(script.orders) == 3
    assert len(script.request_ids()) == 1
