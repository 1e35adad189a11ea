"""Webhooks on Starlette and FastAPI: an endpoint for :meth:`PaymentService.handle_webhook`.

::

    from fastapi import FastAPI
    from paykit.contrib.starlette import add_webhook_route

    app = FastAPI()
    add_webhook_route(app, service)  # POST /webhooks/{provider}, e.g. /webhooks/stripe

The endpoint reads the raw body (the signature covers those exact bytes), runs the
synchronous service in a worker thread so the event loop never waits on storage or on the
provider, and answers with the result's status and body as plain text. Needs ``starlette``
(FastAPI brings it): ``pip install 'paykit[starlette]'`` or ``'paykit[fastapi]'``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Router

from paykit.contrib import ALLOWED_METHODS, NOT_ALLOWED_BODY, RequestHeaders
from paykit.service import PaymentService

__all__ = ["DEFAULT_PATH", "add_webhook_route", "webhook_endpoint"]

DEFAULT_PATH = "/webhooks/{provider}"
"""Where :func:`add_webhook_route` mounts the endpoint: the provider is the gateway's name."""

Endpoint = Callable[[Request], Awaitable[Response]]


def webhook_endpoint(service: PaymentService, provider: str | None = None) -> Endpoint:
    """An async endpoint that hands each POST to ``service.handle_webhook``.

    With ``provider`` (a gateway's name, ``"stripe"``) every request is for that gateway;
    without it the route's ``{provider}`` path parameter names it. Anything but POST gets 405,
    so the endpoint is safe to mount with ``Route(path, endpoint)``, whose default methods
    are GET and HEAD: prefer ``Route(path, endpoint, methods=["POST"])``, or
    :func:`add_webhook_route`.
    """

    async def paykit_webhook(request: Request) -> Response:
        if request.method not in ALLOWED_METHODS:
            return PlainTextResponse(
                NOT_ALLOWED_BODY, status_code=405, headers={"Allow": ", ".join(ALLOWED_METHODS)}
            )
        name = provider if provider is not None else request.path_params.get("provider")
        if not isinstance(name, str) or not name:
            return PlainTextResponse("the URL names no provider", status_code=404)
        body = await request.body()
        headers = RequestHeaders(request.headers.items())
        result = await run_in_threadpool(service.handle_webhook, name, headers, body)
        return PlainTextResponse(result.body, status_code=result.status_code)

    return paykit_webhook


def add_webhook_route(
    app: Starlette | Router,
    service: PaymentService,
    path: str = DEFAULT_PATH,
    *,
    provider: str | None = None,
    name: str = "paykit_webhook",
) -> None:
    """Mount :func:`webhook_endpoint` at ``path`` for POST on a Starlette or FastAPI app or router.

    ``path`` must contain ``{provider}`` unless ``provider`` fixes the gateway. The route is
    left out of FastAPI's OpenAPI schema: providers, not API clients, call it. The framework
    answers 405 to other methods.
    """
    if provider is None and "{provider}" not in path:
        msg = f"the webhook path {path!r} needs a {{provider}} parameter, or pass provider="
        raise ValueError(msg)
    app.add_route(
        path,
        webhook_endpoint(service, provider),
        list(ALLOWED_METHODS),
        name=name,
        include_in_schema=False,
    )
