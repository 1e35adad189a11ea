"""The httpx clients an adapter talks through, built on first use or handed in by the host.

Adapters take the usual httpx seams -- a ``transport`` (``httpx.MockTransport`` in tests),
an ``async_transport``, or ready ``client`` / ``async_client`` objects -- and this class
turns them into the two clients they send with. A transport that is also asynchronous (as
``MockTransport`` is) serves both. Clients handed in are used as they are and never closed
here; clients built here are closed by :meth:`HttpxClients.close` / :meth:`HttpxClients.aclose`.

Imported only by the adapters, so ``import paykit`` never needs httpx.
"""

from __future__ import annotations

import threading

import httpx

from paykit.errors import ValidationError

__all__ = ["HttpxClients"]


class HttpxClients:
    """A synchronous and an asynchronous ``httpx`` client, each built once, lazily."""

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        client: httpx.Client | None = None,
        async_client: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
    ) -> None:
        if client is not None and transport is not None:
            msg = "pass either an httpx client or a transport, not both"
            raise ValidationError(msg, field="transport")
        if async_client is not None and async_transport is not None:
            msg = "pass either an httpx async client or an async transport, not both"
            raise ValidationError(msg, field="async_transport")
        both: object = transport  # httpx.MockTransport serves sync and async clients alike
        if async_transport is None and isinstance(both, httpx.AsyncBaseTransport):
            async_transport = both
        self._transport = transport
        self._async_transport = async_transport
        self._client = client
        self._async_client = async_client
        self._owns_client = client is None
        self._owns_async_client = async_client is None
        self._timeout = httpx.Timeout(timeout)
        self._building = threading.Lock()

    def sync(self) -> httpx.Client:
        """The synchronous client (built on first use)."""
        with self._building:
            if self._client is None:
                self._client = httpx.Client(transport=self._transport, timeout=self._timeout)
            return self._client

    def asynchronous(self) -> httpx.AsyncClient:
        """The asynchronous client (built on first use)."""
        with self._building:
            if self._async_client is None:
                self._async_client = httpx.AsyncClient(
                    transport=self._async_transport, timeout=self._timeout
                )
            return self._async_client

    def close(self) -> None:
        """Close the synchronous client if it was built here."""
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close the asynchronous client if it was built here."""
        if self._owns_async_client and self._async_client is not None:
            await self._async_client.aclose()
            self._async_client = None
