"""The API mounted in a host's application: beside Django's ASGI app, under Starlette, in Flask.

Each host keeps its own routes and hands ``/api/v1/payments/...`` to paykit: Django through
a path-dispatching ASGI callable (as docs/rest-api.md shows), Starlette through ``Mount``,
Flask through Werkzeug's ``DispatcherMiddleware`` and a2wsgi's ``ASGIMiddleware`` (the API
runs on its own event loop thread, the Flask views stay WSGI). One authenticated list, one
404 problem and one host route each.
"""

from __future__ import annotations

import asyncio
import threading
import types
from collections.abc import Iterator
from typing import Any, Final, cast

import httpx
import pytest
from a2wsgi import ASGIMiddleware
from flask import Flask
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from paykit import InMemoryStorage, PaymentService, SandboxGateway
from paykit.api import create_app

from ._api_support import PREFIX, bearer_tokens

ADA: Final = {"Authorization": "Bearer tok-ada"}
EMPTY_LIST: Final = {"object": "list", "data": [], "has_more": False}


@pytest.fixture
def service() -> PaymentService:
    """A service over the in-memory store and the sandbox."""
    return PaymentService(InMemoryStorage(), {"credit_card": SandboxGateway()})


def _django_settings() -> None:
    """Django configured once per process (the same settings as the contrib webhook tests)."""
    import django  # noqa: PLC0415 - only the Django test needs it
    from django.conf import settings  # noqa: PLC0415

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="paykit-contrib-tests",
            ALLOWED_HOSTS=["testserver"],
            ROOT_URLCONF=None,
            INSTALLED_APPS=[],
            MIDDLEWARE=[
                "django.middleware.common.CommonMiddleware",
                "django.middleware.csrf.CsrfViewMiddleware",
            ],
        )
        django.setup()


def beside(paykit: ASGIApp, host: ASGIApp, prefix: str = PREFIX) -> ASGIApp:
    """One ASGI app: ``prefix`` and below to ``paykit``, every other path to ``host``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "lifespan" or path == prefix or path.startswith(prefix + "/"):
            await paykit(scope, receive, send)  # Django's handler takes no lifespan events
        else:
            await host(scope, receive, send)

    return app


def _get_all(app: ASGIApp, *paths: str) -> list[httpx.Response]:
    """``GET`` each path in turn, as Ada, through the real ASGI stack."""

    async def send() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return [await client.get(path, headers=ADA) for path in paths]

    return asyncio.run(send())


def _check_api_answers(listed: httpx.Response, missing: httpx.Response) -> None:
    """The empty list, and the problem for a payment that does not exist."""
    assert listed.status_code == 200, listed.text
    assert listed.json() == EMPTY_LIST
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "not_found"
    assert missing.json()["status"] == 404


def test_the_api_answers_beside_a_django_asgi_application(service: PaymentService) -> None:
    """``/api/v1/payments/`` goes to paykit, ``/hello/`` to Django, through one ASGI callable."""
    _django_settings()
    from django.core.asgi import get_asgi_application  # noqa: PLC0415 - after the settings
    from django.http import HttpRequest, HttpResponse  # noqa: PLC0415
    from django.test import override_settings  # noqa: PLC0415
    from django.urls import path  # noqa: PLC0415

    def hello(request: HttpRequest) -> HttpResponse:
        del request
        return HttpResponse("hello from django")

    urls = types.ModuleType("paykit_test_mounting_urls")
    urls.urlpatterns = [path("hello/", hello)]  # type: ignore[attr-defined]
    # Django types its handler's scope as a dict, Starlette as a MutableMapping: the same thing.
    django_app = cast("ASGIApp", get_asgi_application())
    app = beside(create_app(service, authenticate=bearer_tokens), django_app)

    with override_settings(ROOT_URLCONF=urls):
        listed, missing, hello_page = _get_all(
            app, f"{PREFIX}/", f"{PREFIX}/pay_missing/", "/hello/"
        )

    _check_api_answers(listed, missing)
    assert (hello_page.status_code, hello_page.text) == (200, "hello from django")


def test_the_api_answers_under_a_starlette_mount(service: PaymentService) -> None:
    """``Mount(PREFIX, create_app(..., prefix=""))`` serves the API beside the host's routes."""

    async def hello(request: object) -> PlainTextResponse:
        del request
        return PlainTextResponse("hello from starlette")

    paykit = create_app(service, authenticate=bearer_tokens, prefix="")
    app = Starlette(routes=[Route("/hello/", hello), Mount(PREFIX, app=paykit)])

    listed, missing, hello_page = _get_all(app, f"{PREFIX}/", f"{PREFIX}/pay_missing/", "/hello/")

    _check_api_answers(listed, missing)
    assert hello_page.text == "hello from starlette"


@pytest.fixture
def event_loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in a thread of its own, stopped and closed afterwards."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


def test_the_api_answers_under_flask_through_a2wsgi(
    service: PaymentService, event_loop_thread: asyncio.AbstractEventLoop
) -> None:
    """``DispatcherMiddleware`` hands the prefix to the API through ``ASGIMiddleware``."""
    shop = Flask("shop")

    @shop.get("/hello/")
    def hello() -> str:
        return "hello from flask"

    paykit = create_app(service, authenticate=bearer_tokens, prefix="")
    bridge = ASGIMiddleware(cast("Any", paykit), loop=event_loop_thread)  # a2wsgi's own ASGI types
    mounts: dict[str, Any] = {PREFIX: bridge}
    shop.wsgi_app = DispatcherMiddleware(shop.wsgi_app, mounts)  # type: ignore[method-assign]
    client = shop.test_client()

    listed = client.get(f"{PREFIX}/", headers=ADA)
    missing = client.get(f"{PREFIX}/pay_missing/", headers=ADA)
    hello_page = client.get("/hello/")

    assert listed.status_code == 200, listed.text
    assert listed.get_json() == EMPTY_LIST
    assert missing.status_code == 404
    assert missing.content_type == "application/problem+json"
    assert missing.get_json()["code"] == "not_found"
    assert hello_page.text == "hello from flask"
