"""The original app's REST API (``/api/v1/payments/...``) as a mountable ASGI application.

``pip install 'paykit[api]'``, then::

    from paykit.api import Principal, create_app

    def authenticate(request):            # the host's: a token, a session, ...
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        customer = TOKENS.get(token)
        return None if customer is None else Principal(customer_id=customer)

    app = create_app(service, authenticate=authenticate)

Mount ``app`` in any ASGI application (FastAPI, Starlette, Django's ASGI app) or serve it
alone (``paykit serve``). FastAPI users may include :func:`create_router` in their own app
instead. Every endpoint but the provider webhooks needs the authenticator; every record is
scoped to the caller; errors are ``application/problem+json``; ``POST`` requests take an
``Idempotency-Key``. See docs/rest-api.md.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from fastapi import APIRouter, FastAPI, Request, Response
from starlette._utils import get_route_path
from starlette.exceptions import HTTPException as StarletteHTTPException

from paykit.api._auth import (
    DEMO_CUSTOMER,
    Authenticator,
    Principal,
    RefundPolicy,
    insecure_demo_authenticator,
    staff_only_refunds,
)
from paykit.api._endpoints import add_routes, add_webhook_routes
from paykit.api._idempotency import IdempotencyGate, sweep_idempotent_requests
from paykit.api._problems import STATUS_BY_ERROR, ApiProblem, problem_response
from paykit.api._routing import RouteSettings, make_route_class
from paykit.service import PaymentService

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_PREFIX",
    "DEMO_CUSTOMER",
    "STATUS_BY_ERROR",
    "Authenticator",
    "Principal",
    "RefundPolicy",
    "create_app",
    "create_router",
    "insecure_demo_authenticator",
    "staff_only_refunds",
    "sweep_idempotent_requests",
]

DEFAULT_PREFIX: Final = "/api/v1/payments"
"""Where the endpoints are mounted unless ``prefix`` says otherwise: the original app's path."""

DEFAULT_MAX_BODY_BYTES: Final = 64 * 1024
"""The largest request body accepted (64 KiB) unless ``max_body_bytes`` says otherwise."""


def create_router(  # noqa: PLR0913 - each is a separate, optional policy
    service: PaymentService,
    *,
    authenticate: Authenticator | None,
    refund_policy: RefundPolicy = staff_only_refunds,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    idempotency_ttl: timedelta = timedelta(hours=24),
    prefix: str = DEFAULT_PREFIX,
) -> APIRouter:
    """The API's endpoints as a FastAPI ``APIRouter`` under ``prefix``.

    ``authenticate`` turns a request into a :class:`Principal`, or ``None`` (401); it is
    required (``None`` here is refused, so a missing setting cannot open the API).
    ``refund_policy(principal, customer_id)`` says who may ask for refunds (default: staff).
    Bodies above ``max_body_bytes`` are refused with 413; stored answers to
    ``Idempotency-Key`` requests are replayed for ``idempotency_ttl``.
    """
    if authenticate is None:  # a None slipping through a host's settings must not open it
        msg = (
            "create the API with an authenticator (authenticate=...); "
            "paykit.api.insecure_demo_authenticator is for local demos only"
        )
        raise TypeError(msg)
    gate = IdempotencyGate(service, ttl=idempotency_ttl)
    secured = RouteSettings(authenticate=authenticate, gate=gate, max_body_bytes=max_body_bytes)
    signed = RouteSettings(authenticate=None, gate=gate, max_body_bytes=max_body_bytes)
    # One flat router: FastAPI matches an included router's routes in a layer of its own,
    # which costs each request about 0.1 ms (bench/api.py), so the webhook route sits
    # beside the others with its own route class instead.
    router = APIRouter(prefix=prefix, route_class=make_route_class(secured))
    add_webhook_routes(router, service, make_route_class(signed))
    add_routes(router, service, refund_policy)
    return router


def create_app(  # noqa: PLR0913 - each is a separate, optional policy
    service: PaymentService,
    *,
    authenticate: Authenticator | None,
    refund_policy: RefundPolicy = staff_only_refunds,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    idempotency_ttl: timedelta = timedelta(hours=24),
    prefix: str = DEFAULT_PREFIX,
    title: str = "paykit payments API",
) -> FastAPI:
    """The API as an ASGI application (FastAPI), with its OpenAPI page at ``/docs``.

    The arguments are :func:`create_router`'s. Unknown paths are answered with a problem too.
    """
    router = create_router(
        service,
        authenticate=authenticate,
        refund_policy=refund_policy,
        max_body_bytes=max_body_bytes,
        idempotency_ttl=idempotency_ttl,
        prefix=prefix,
    )
    # The router's routes themselves (their paths carry the prefix), not include_router:
    # see create_router on what a nested router costs.
    app = FastAPI(title=title, version=_version(), routes=router.routes)

    @app.exception_handler(StarletteHTTPException)
    async def routing_problem(request: Request, error: Exception) -> Response:
        """Unknown paths and methods get a problem body too (keeping ``Allow`` on a 405)."""
        status = getattr(error, "status_code", 500)
        headers = dict(getattr(error, "headers", None) or {})
        if status == 405:  # noqa: PLR2004 - Starlette's Allow names one route's methods only
            path = get_route_path(request.scope)  # without the prefix it is mounted under
            headers["Allow"] = ", ".join(_allowed_methods(app, path))
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        detail = {404: "no such endpoint", 405: "method not allowed here"}.get(status, "error")
        return problem_response(ApiProblem(status, code, detail, headers=headers))

    return app


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every documented method of every operation whose path template matches ``path``."""
    wanted = path.strip("/").split("/")
    allowed: set[str] = set()
    for template, operations in app.openapi()["paths"].items():
        parts = template.strip("/").split("/")
        if len(parts) == len(wanted) and all(
            part == segment or (part.startswith("{") and segment)
            for part, segment in zip(parts, wanted, strict=True)
        ):
            allowed.update(method.upper() for method in operations)
    return sorted(allowed)


def _version() -> str:
    from paykit import __version__  # noqa: PLC0415 - paykit imports nothing of the API

    return __version__
