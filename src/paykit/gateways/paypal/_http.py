"""HTTP to PayPal on ``httpx``: one sans-I/O core, run synchronously or asynchronously.

Every PayPal operation is a generator (a *flow*) that yields effects and receives their
results: :class:`Send` (one HTTP request; the answer, or the ``httpx`` error thrown back in),
:class:`Sleep` (back off) and :class:`Token` (the current OAuth2 access token). The same flow
object is driven by :meth:`Transport.run` with blocking ``httpx.Client`` calls or by
:meth:`Transport.run_async` with ``httpx.AsyncClient`` calls, so the sync and async methods
share every decision -- retries, the token refresh after a 401, how answers are read -- and
differ only in how the I/O is done.

What :meth:`Core.exchange` guarantees for one API call:

* ``PayPal-Request-Id`` is set once and sent unchanged on every retry, so PayPal carries a
  POST out at most once however often it is repeated;
* a transport error, a 5xx or a 429 is retried ``max_retries`` times, after exponential
  backoff with jitter (tenacity's ``wait_exponential_jitter``), or after the
  ``Retry-After`` PayPal asked for if that is longer (one longer than
  :data:`MAX_RETRY_AFTER` is not waited for: the answer is reported at once, as retryable);
  what remains is reported with whether the request may have reached PayPal (a timeout
  after sending) or provably did not (a refused connection);
* a 401 is answered by fetching a new token -- once -- and sending the request again;
* the ``Authorization`` header never appears in an error or a log line: messages name the
  method, path, status and PayPal's ``debug_id`` only.

The access token (:class:`TokenCache`) is fetched on first use, kept until ``margin`` seconds
before its ``expires_in`` runs out, and fetched by one caller only when many threads, or many
tasks of one event loop, need it at the same moment.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any, Final, TypeVar
from weakref import WeakKeyDictionary

import anyio
import anyio.lowlevel
import attrs
import httpx
import tenacity
from pydantic import SecretStr

from paykit.errors import GatewayConfigurationError, GatewayError
from paykit.gateways._httpx_clients import HttpxClients
from paykit.gateways.paypal._errors import Answer, Problem, scrub

__all__ = [
    "LIVE_URL",
    "MAX_RETRY_AFTER",
    "SANDBOX_URL",
    "AccessToken",
    "Call",
    "Core",
    "Flow",
    "Send",
    "Sleep",
    "Token",
    "TokenCache",
    "Transport",
]

SANDBOX_URL: Final = "https://api-m.sandbox.paypal.com"
"""PayPal's sandbox API (``environment="sandbox"``)."""

LIVE_URL: Final = "https://api-m.paypal.com"
"""PayPal's live API (``environment="live"``)."""
_TOKEN_PATH: Final = "/v1/oauth2/token"  # noqa: S105 - a URL path, not a credential
_RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER: Final = 30.0
"""Longest ``Retry-After`` (seconds) a request waits for before it is sent again; a longer
one ends the retries, and the caller gets PayPal's answer (a retryable error) at once."""
_MAX_BACKOFF: Final = 10.0
"""Longest pause of the exponential backoff between two attempts (seconds)."""
_NOT_SENT: Final = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)
_LOG = logging.getLogger("paykit.gateways.paypal")

T = TypeVar("T")


@attrs.frozen
class Send:
    """Effect: send one HTTP request; the flow receives the ``httpx.Response``."""

    method: str
    url: str
    headers: Mapping[str, str] = attrs.field(repr=False)
    content: bytes | None = attrs.field(default=None, repr=False)


@attrs.frozen
class Sleep:
    """Effect: wait ``seconds`` before the next attempt."""

    seconds: float


@attrs.frozen
class Token:
    """Effect: the current access token (fetched if there is none)."""


Effect = Send | Sleep | Token
Flow = Generator[Effect, Any, T]
"""A PayPal operation: yields effects, receives their results, returns its outcome."""


@attrs.frozen
class Call:
    """One PayPal API request, built once and sent as often as the retry policy says."""

    method: str
    path: str
    operation: str
    body: Any = attrs.field(default=None, repr=False)
    raw_body: bytes | None = attrs.field(default=None, repr=False)
    request_id: str | None = None
    representation: bool = False
    """Ask for the whole object (``Prefer: return=representation``), not the minimal one."""
    authenticated: bool = True

    def content(self) -> bytes | None:
        """The request body as sent."""
        if self.raw_body is not None:
            return self.raw_body
        if self.body is None:
            return None
        return json.dumps(self.body, separators=(",", ":")).encode("utf-8")


@attrs.frozen(repr=False)
class AccessToken:
    """An OAuth2 access token and when paykit stops using it."""

    value: SecretStr
    refresh_at: float
    """Clock time after which the token is refreshed (before PayPal's ``expires_in`` ends)."""

    def __repr__(self) -> str:
        return f"AccessToken(value=SecretStr('**********'), refresh_at={self.refresh_at})"


_ASYNC_LOCKS: anyio.lowlevel.RunVar[WeakKeyDictionary[TokenCache, anyio.Lock]] = (
    anyio.lowlevel.RunVar("paykit_paypal_token_locks")
)


class TokenCache:
    """The access token shared by every call of one gateway, thread- and task-safe.

    ``fetches`` counts the tokens fetched (what the concurrency tests look at).
    """

    def __init__(self, *, clock: Callable[[], float], margin: float) -> None:
        self._clock = clock
        self._margin = margin
        self._token: AccessToken | None = None
        self._state = threading.Lock()
        self._fetching = threading.Lock()
        self.fetches = 0

    def __repr__(self) -> str:
        return f"TokenCache(cached={self._token is not None}, fetches={self.fetches})"

    def fresh(self) -> AccessToken | None:
        """The cached token if it is not due for a refresh."""
        with self._state:
            token = self._token
        if token is not None and self._clock() < token.refresh_at:
            return token
        return None

    def store(self, value: str, expires_in: float) -> AccessToken:
        """Keep a new token; it is refreshed ``margin`` seconds (at most half) before it ends."""
        margin = min(self._margin, expires_in / 2)
        token = AccessToken(SecretStr(value), self._clock() + expires_in - margin)
        with self._state:
            self._token = token
            self.fetches += 1
        return token

    def invalidate(self, value: str) -> None:
        """Forget the token ``value`` (PayPal refused it), unless a newer one replaced it."""
        with self._state:
            if self._token is not None and self._token.value.get_secret_value() == value:
                self._token = None

    def get(self, fetch: Callable[[], AccessToken]) -> AccessToken:
        """The fresh token, fetching it with ``fetch`` by one thread at a time."""
        token = self.fresh()
        if token is not None:
            return token
        with self._fetching:
            return self.fresh() or fetch()

    async def get_async(self, fetch: Callable[[], Awaitable[AccessToken]]) -> AccessToken:
        """The fresh token, fetched by one task of the current event loop at a time."""
        token = self.fresh()
        if token is not None:
            return token
        async with self._async_lock():
            fresh = self.fresh()
            if fresh is not None:
                return fresh
            return await fetch()

    def _async_lock(self) -> anyio.Lock:
        try:
            locks = _ASYNC_LOCKS.get()
        except LookupError:
            locks = WeakKeyDictionary()
            _ASYNC_LOCKS.set(locks)
        lock = locks.get(self)
        if lock is None:
            lock = locks[self] = anyio.Lock()
        return lock


class Core:
    """Builds the requests and reads the answers; never does I/O itself."""

    def __init__(  # noqa: PLR0913 - every option is an independent, documented setting
        self,
        *,
        client_id: str,
        client_secret: SecretStr,
        base_url: str,
        max_retries: int,
        backoff: float,
        tokens: TokenCache,
        user_agent: str = "paykit-paypal",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self._secret = client_secret
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.backoff = backoff
        self.tokens = tokens
        self._user_agent = user_agent
        self._clock = clock
        # Doubling from ``backoff``, plus up to ``backoff`` of random jitter, so that clients
        # failing together do not come back together.
        self._wait = tenacity.wait_exponential_jitter(
            multiplier=backoff, max=_MAX_BACKOFF, jitter=backoff
        )

    def __repr__(self) -> str:
        return f"Core(base_url={self.base_url!r}, max_retries={self.max_retries})"

    def secrets(self) -> list[str]:
        """Every secret that must never be shown (for scrubbing messages)."""
        found = [self._secret.get_secret_value()]
        token = self.tokens.fresh()
        if token is not None:
            found.append(token.value.get_secret_value())
        return found

    # -- the token -----------------------------------------------------------------------

    def fetch_token(self) -> Flow[AccessToken]:
        """POST /v1/oauth2/token with the client credentials; raise if PayPal refuses."""
        pair = f"{self.client_id}:{self._secret.get_secret_value()}".encode()
        headers = {
            "Authorization": "Basic " + base64.b64encode(pair).decode("ascii"),
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": self._user_agent,
        }
        send = Send("POST", self.base_url + _TOKEN_PATH, headers, b"grant_type=client_credentials")
        answer = yield from self._attempts(send, "token request", sent_safe=True)
        if not answer.ok:
            problem = Problem.of(answer)
            if answer.status is None or answer.status >= 500:  # noqa: PLR2004 - 5xx
                msg = (
                    f"PayPal's token endpoint did not answer ({answer.failure or answer.status}); "
                    "no payment request was sent, it is safe to try again"
                )
                raise GatewayError(msg, gateway_code="token_unavailable", retryable=True)
            where = f" (debug_id {problem.debug_id})" if problem.debug_id else ""
            msg = (
                f"PayPal refused the client credentials (HTTP {answer.status} "
                f"{problem.name or ''}){where}: check the client id and secret, and that they "
                "belong to this environment (sandbox or live)"
            )
            raise GatewayConfigurationError(
                msg,
                gateway_code=problem.name,
                gateway_message=scrub(problem.description, self.secrets()) or None,
                request_id=problem.debug_id,
            )
        body = answer.json
        value, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(value, str) or not isinstance(expires_in, int | float):
            msg = "PayPal's token endpoint answered without an access_token and expires_in"
            raise GatewayError(msg, gateway_code="token_unreadable", retryable=True)
        _LOG.debug("paypal: fetched an access token valid for %s s", expires_in)
        return self.tokens.store(value, float(expires_in))

    # -- one API call ----------------------------------------------------------------------

    def _headers(self, call: Call, token: AccessToken | None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self._user_agent}
        if token is not None:
            headers["Authorization"] = "Bearer " + token.value.get_secret_value()
        if call.body is not None or call.raw_body is not None:
            headers["Content-Type"] = "application/json"
        if call.request_id is not None:
            headers["PayPal-Request-Id"] = call.request_id
        if call.representation:
            headers["Prefer"] = "return=representation"
        return headers

    def exchange(self, call: Call) -> Flow[Answer]:
        """Send ``call`` (with retries and one token refresh) and return PayPal's answer."""
        url = call.path if call.path.startswith("https://") else self.base_url + call.path
        refreshed = False
        while True:
            token: AccessToken | None = None
            if call.authenticated:
                token = yield Token()
            send = Send(call.method, url, self._headers(call, token), call.content())
            answer = yield from self._attempts(send, call.operation)
            if answer.status == 401 and token is not None and not refreshed:  # noqa: PLR2004
                refreshed = True
                self.tokens.invalidate(token.value.get_secret_value())
                _LOG.debug("paypal: %s got 401, fetching a new token once", call.operation)
                continue
            return answer

    def _attempts(self, send: Send, operation: str, *, sent_safe: bool = False) -> Flow[Answer]:
        """Send ``send`` up to ``max_retries + 1`` times; the last answer, or the failure."""
        maybe_sent = False
        attempt = 0
        while True:
            try:
                response = yield send
            except httpx.HTTPError as error:
                never_left = isinstance(error, _NOT_SENT)
                maybe_sent = maybe_sent or not never_left
                failure = f"{type(error).__name__} " + (
                    "before the request was sent" if never_left else "after it may have been sent"
                )
                _LOG.debug(
                    "paypal: %s (%s %s): %s", operation, send.method, _path(send.url), failure
                )
                if attempt < self.max_retries:
                    attempt += 1
                    yield Sleep(self._pause(attempt))
                    continue
                return Answer(status=None, sent=maybe_sent and not sent_safe, failure=failure)
            answer = _read(response)
            _LOG.debug(
                "paypal: %s (%s %s) -> %s (debug_id %s)",
                operation,
                send.method,
                _path(send.url),
                answer.status,
                answer.debug_id,
            )
            if answer.status in _RETRY_STATUSES and attempt < self.max_retries:
                asked = _retry_after(response, self._clock())
                if asked is None or asked <= MAX_RETRY_AFTER:
                    attempt += 1
                    yield Sleep(self._pause(attempt, asked))
                    continue
            return answer

    def _pause(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1``: the backoff, or PayPal's if longer."""
        state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
        state.attempt_number = attempt
        backoff = self._wait(state)
        return backoff if retry_after is None else max(backoff, retry_after)


def _retry_after(response: httpx.Response, now: float) -> float | None:
    """The wait a ``Retry-After`` header asks for, in seconds (delta or HTTP date), if any."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # unreadable: fall back on the backoff
    return max(when.timestamp() - now, 0.0)


def _path(url: str) -> str:
    return httpx.URL(url).path


def _read(response: httpx.Response) -> Answer:
    body: Any = None
    if response.content:
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
    return Answer(
        status=response.status_code, body=body, debug_id=response.headers.get("paypal-debug-id")
    )


class Transport:
    """Runs flows over ``httpx``: blocking for :meth:`run`, asynchronous for :meth:`run_async`.

    ``transport`` serves synchronous calls and, when it is also asynchronous (as
    ``httpx.MockTransport`` is), asynchronous ones; ``async_transport`` overrides the latter.
    Clients passed in are used as they are and never closed here.
    """

    def __init__(  # noqa: PLR0913 - the usual httpx seams
        self,
        core: Core,
        *,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        client: httpx.Client | None = None,
        async_client: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.core = core
        self._clients = HttpxClients(
            transport=transport,
            async_transport=async_transport,
            client=client,
            async_client=async_client,
            timeout=timeout,
        )
        self._sleep = sleep

    def run(self, flow: Flow[T]) -> T:
        """Drive ``flow`` with blocking I/O and return its result."""
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                effect = flow.throw(error) if error is not None else flow.send(value)
            except StopIteration as stop:
                result: T = stop.value
                return result
            value, error = None, None
            if isinstance(effect, Send):
                try:
                    value = self._clients.sync().request(
                        effect.method,
                        effect.url,
                        headers=dict(effect.headers),
                        content=effect.content,
                    )
                except httpx.HTTPError as failure:
                    error = failure
            elif isinstance(effect, Sleep):
                self._sleep(effect.seconds)
            else:
                tokens = self.core.tokens
                try:
                    value = tokens.get(lambda: self.run(self.core.fetch_token()))
                except Exception as failure:  # noqa: BLE001 - handed to the flow, which re-raises
                    error = failure

    async def run_async(self, flow: Flow[T]) -> T:
        """Drive ``flow`` with asynchronous I/O and return its result."""
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                effect = flow.throw(error) if error is not None else flow.send(value)
            except StopIteration as stop:
                result: T = stop.value
                return result
            value, error = None, None
            if isinstance(effect, Send):
                try:
                    value = await self._clients.asynchronous().request(
                        effect.method,
                        effect.url,
                        headers=dict(effect.headers),
                        content=effect.content,
                    )
                except httpx.HTTPError as failure:
                    error = failure
            elif isinstance(effect, Sleep):
                await anyio.sleep(effect.seconds)
            else:
                tokens = self.core.tokens
                try:
                    value = await tokens.get_async(lambda: self.run_async(self.core.fetch_token()))
                except Exception as failure:  # noqa: BLE001 - handed to the flow, which re-raises
                    error = failure

    def close(self) -> None:
        """Close the synchronous client if this object built it."""
        self._clients.close()

    async def aclose(self) -> None:
        """Close the asynchronous client if this object built it."""
        await self._clients.aclose()
