"""Fixtures of the REST API tests: the app over each storage, and one client per caller.

Requests go through the real ASGI stack (``httpx.ASGITransport``), driven from the tests'
own thread through an anyio blocking portal, so tests read like plain HTTP calls. Storages:
memory, a SQLite file, and a PostgreSQL schema when ``PAYKIT_TEST_POSTGRES_URL`` is set
(skipped with that reason otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI

from paykit import InMemoryStorage, PaymentService, SandboxGateway, Storage
from paykit.api import create_app
from paykit.storage.sql import SqlStorage

from ._api_support import Client, bearer_tokens


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def api_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    """An empty storage of each kind."""
    if request.param == "memory":
        yield InMemoryStorage()
        return
    if request.param == "sqlite":
        storage = SqlStorage(f"sqlite:///{tmp_path / 'api.db'}")
        storage.upgrade()
        yield storage
        storage.dispose()
        return
    # PostgreSQL: the session's migrated schema, emptied (tests/_postgres.py).
    url = request.getfixturevalue("postgres_url")
    storage = SqlStorage(url, schema=request.getfixturevalue("migrated_postgres_schema"))
    yield storage
    storage.dispose()


@pytest.fixture
def sandbox() -> SandboxGateway:
    """The sandbox behind every payment method type the tests use."""
    return SandboxGateway()


@pytest.fixture
def service(api_storage: Storage, sandbox: SandboxGateway) -> PaymentService:
    """A service over each storage and the sandbox."""
    return PaymentService(api_storage, {"credit_card": sandbox, "debit_card": sandbox})


@pytest.fixture
def app(service: PaymentService) -> FastAPI:
    """The API with the bearer-token authenticator."""
    return create_app(service, authenticate=bearer_tokens)


@pytest.fixture
def portal() -> Iterator[BlockingPortal]:
    """An event loop in a thread of its own, for the async client."""
    with start_blocking_portal() as running:
        yield running


@pytest.fixture
def http(app: FastAPI, portal: BlockingPortal) -> Iterator[httpx.AsyncClient]:
    """The async client bound to the app through ASGITransport."""
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    yield client
    portal.call(client.aclose)


@pytest.fixture
def ada(portal: BlockingPortal, http: httpx.AsyncClient) -> Client:
    """Customer Ada."""
    return Client(portal, http, "tok-ada")


@pytest.fixture
def bob(portal: BlockingPortal, http: httpx.AsyncClient) -> Client:
    """Customer Bob, who must never see Ada's records."""
    return Client(portal, http, "tok-bob")


@pytest.fixture
def staff(portal: BlockingPortal, http: httpx.AsyncClient) -> Client:
    """Staff: sees everything, processes refunds."""
    return Client(portal, http, "tok-staff")


@pytest.fixture
def anonymous(portal: BlockingPortal, http: httpx.AsyncClient) -> Client:
    """A caller without credentials."""
    return Client(portal, http, None)
