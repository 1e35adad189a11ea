"""The httpx clients the adapters share: built lazily, closed only when built here."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from paykit import ValidationError
from paykit.gateways._httpx_clients import HttpxClients


def _ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"path": request.url.path})


def test_one_mock_transport_serves_both_clients() -> None:
    """A MockTransport given as ``transport`` answers synchronous and asynchronous requests."""
    clients = HttpxClients(transport=httpx.MockTransport(_ok))

    async def fetch() -> object:
        return (await clients.asynchronous().get("https://api.example/a")).json()

    assert clients.sync().get("https://api.example/s").json() == {"path": "/s"}
    assert asyncio.run(fetch()) == {"path": "/a"}
    assert clients.sync() is clients.sync()


def test_a_client_and_a_transport_together_are_refused() -> None:
    """Passing both a client and a transport is ambiguous and refused with the field named."""
    with pytest.raises(ValidationError) as raised:
        HttpxClients(transport=httpx.MockTransport(_ok), client=httpx.Client())
    assert raised.value.field == "transport"


def test_only_clients_built_here_are_closed() -> None:
    """close() closes a client built here and leaves a caller's client open."""
    built = HttpxClients(transport=httpx.MockTransport(_ok))
    mine = built.sync()
    built.close()
    assert mine.is_closed

    callers = httpx.Client(transport=httpx.MockTransport(_ok))
    given = HttpxClients(client=callers)
    given.close()
    assert not callers.is_closed
    callers.close()
