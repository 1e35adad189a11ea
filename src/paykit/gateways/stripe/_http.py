"""The HTTP client the Stripe SDK talks through: ``httpx``, with a transport the user chooses.

The SDK's own ``HTTPXClient`` builds its ``httpx`` clients itself, so nobody can hand it a
transport (``httpx.MockTransport`` in tests, a proxy or a custom TLS setup in production).
:class:`HttpxStripeClient` is the SDK's documented extension point (a ``stripe.HTTPClient``
subclass) over an ``httpx.Client`` / ``httpx.AsyncClient`` that the caller may supply.

What it guarantees:

* every transport failure becomes ``stripe.APIConnectionError(should_retry=True)``, so the
  SDK retries it (``max_network_retries``) with the *same* headers -- the same
  ``Idempotency-Key`` -- and the adapter reports ``unknown`` if every attempt fails;
* no header is ever put into an error message (the ``Authorization`` header carries the key).
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import ClassVar

import anyio
import httpx
import stripe

from paykit.gateways._httpx_clients import HttpxClients

__all__ = ["HttpxStripeClient"]

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class HttpxStripeClient(stripe.HTTPClient):
    """A ``stripe.HTTPClient`` over ``httpx``; pass a transport or ready-made clients.

    ``transport`` serves synchronous calls and, when it is also asynchronous (as
    ``httpx.MockTransport`` is), asynchronous ones; ``async_transport`` overrides the latter.
    Clients passed in are used as they are and never closed here; clients built here are
    closed by :meth:`close` / :meth:`close_async`.
    """

    name: ClassVar[str] = "paykit-httpx"

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        client: httpx.Client | None = None,
        async_client: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
    ) -> None:
        super().__init__()
        self._clients = HttpxClients(
            transport=transport,
            async_transport=async_transport,
            client=client,
            async_client=async_client,
            timeout=timeout,
        )

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: str | bytes | None = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        """Send one request; the SDK calls this once per attempt."""
        try:
            response = self._clients.sync().request(
                method, url, headers=headers, content=_body(post_data)
            )
        except httpx.HTTPError as error:
            raise _connection_error(error) from error
        return (
            response.content.decode("utf-8", errors="replace"),
            response.status_code,
            (response.headers),
        )

    async def request_async(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        post_data: str | bytes | None = None,
    ) -> tuple[bytes, int, Mapping[str, str]]:
        """Send one request asynchronously; the SDK calls this once per attempt."""
        try:
            response = await self._clients.asynchronous().request(
                method, url, headers=headers, content=_body(post_data)
            )
        except httpx.HTTPError as error:
            raise _connection_error(error) from error
        return response.content, response.status_code, response.headers

    def sleep_async(self, secs: float) -> Awaitable[None]:
        """Back off between retries without blocking the event loop."""
        return anyio.sleep(secs)

    def close(self) -> None:
        """Close the synchronous client if this object built it."""
        self._clients.close()

    async def close_async(self) -> None:
        """Close the asynchronous client if this object built it."""
        await self._clients.aclose()


def _body(post_data: str | bytes | None) -> bytes | None:
    if post_data is None:
        return None
    if isinstance(post_data, str):
        return post_data.encode("utf-8")
    return bytes(post_data)


def _connection_error(error: httpx.HTTPError) -> stripe.APIConnectionError:
    """An SDK connection error that names what failed and never shows a header."""
    if isinstance(error, _NOT_SENT):
        phase = "before the request was sent"
    else:
        phase = "after the request may have been sent, so Stripe may have acted on it"
    message = f"Network error talking to Stripe ({type(error).__name__}) {phase}."
    return stripe.APIConnectionError(  # type: ignore[no-untyped-call] # unannotated in the SDK
        message, should_retry=True
    )
