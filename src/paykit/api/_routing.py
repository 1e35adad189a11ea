"""What wraps every endpoint: body size, authentication, idempotency and problem answers.

FastAPI's route class is the one place that sees each request before its endpoint and each
answer after it, so the cross-cutting rules live here once, in this order:

1. a body above the limit is refused (413) before anything parses it;
2. the host's authenticator runs; ``None`` is a 401 (webhook routes skip this step: their
   signature is their authentication);
3. a ``POST`` with an ``Idempotency-Key`` is claimed, or its stored answer replayed;
4. the endpoint runs; a ``PaykitError`` or a refused body becomes a problem answer;
5. the answer is stored for the idempotency key.

Endpoints read the principal with :func:`principal_of`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from paykit.api._auth import Authenticator, Principal
from paykit.api._idempotency import IdempotencyGate, Replay, fingerprint
from paykit.api._problems import (
    MEDIA_TYPE,
    ApiProblem,
    problem_for,
    problem_response,
    validation_problem,
)
from paykit.errors import PaykitError

__all__ = ["IDEMPOTENCY_HEADER", "RouteSettings", "make_route_class", "principal_of"]

IDEMPOTENCY_HEADER = "Idempotency-Key"
_log = logging.getLogger("paykit.api")

Handler = Callable[[Request], Awaitable[Response]]


class RouteSettings:
    """What the route class needs from ``create_app``."""

    def __init__(
        self,
        *,
        authenticate: Authenticator | None,
        gate: IdempotencyGate,
        max_body_bytes: int,
    ) -> None:
        self.authenticate = authenticate
        self.gate = gate
        self.max_body_bytes = max_body_bytes


def principal_of(request: Request) -> Principal:
    """The principal the route class authenticated for this request."""
    principal: Principal = request.state.principal
    return principal


def make_route_class(settings: RouteSettings) -> type[APIRoute]:
    """A route class applying ``settings`` (``authenticate=None``: a webhook route)."""

    class PaykitRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            endpoint = super().get_route_handler()

            async def handle(request: Request) -> Response:
                try:
                    return await _handle(request, endpoint, settings)
                except ApiProblem as problem:
                    return problem_response(problem)

            return handle

    return PaykitRoute


async def _handle(request: Request, endpoint: Handler, settings: RouteSettings) -> Response:
    await _check_size(request, settings.max_body_bytes)
    if settings.authenticate is None:
        return await _run(request, endpoint)
    principal = await _authenticate(request, settings.authenticate)
    request.state.principal = principal
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if request.method != "POST" or key is None:
        return await _run(request, endpoint)
    body = await request.body()
    claim = fingerprint(request.method, request.url.path, body)
    replay = await _off_loop(settings.gate.begin, principal.owner, key, claim)
    if replay is not None:
        return _replayed(replay)
    try:
        response = await _run(request, endpoint)
    except BaseException:
        await _off_loop(settings.gate.release, principal.owner, key)
        raise
    await _off_loop(
        settings.gate.finish, principal.owner, key, response.status_code, bytes(response.body)
    )
    return response


async def _run(request: Request, endpoint: Handler) -> Response:
    """Run the endpoint; turn paykit's errors and refused bodies into problem answers."""
    try:
        return await endpoint(request)
    except PaykitError as error:
        return problem_response(problem_for(error))
    except RequestValidationError as error:
        return problem_response(validation_problem(error.errors()))
    except ApiProblem as problem:
        return problem_response(problem)
    except StarletteHTTPException as error:  # e.g. FastAPI's "error parsing the body" (400)
        code = "malformed_request" if error.status_code == 400 else "http_error"  # noqa: PLR2004
        headers = dict(error.headers or {})
        return problem_response(
            ApiProblem(error.status_code, code, str(error.detail), headers=headers)
        )
    except Exception:  # noqa: BLE001 - a bug must not reach the client as a stack trace
        _log.exception("unexpected error in %s %s", request.method, request.url.path)
        return problem_response(ApiProblem(500, "internal_error", "an unexpected error happened"))


async def _check_size(request: Request, limit: int) -> None:
    """Refuse a body above ``limit`` bytes, by its declared length first, then its real one."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiProblem(413, "request_too_large", f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiProblem(413, "request_too_large", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    # The stream can be read once; Starlette's request.body() answers from ``_body`` when it
    # is set, which is how the endpoint (and the idempotency check) read it after us.
    request._body = b"".join(chunks)  # noqa: SLF001 - Starlette's own cache of the body


async def _authenticate(request: Request, authenticate: Authenticator) -> Principal:
    # A plain function may block (a database lookup, Django's ORM): run it off the loop.
    if inspect.iscoroutinefunction(authenticate):
        answer: Any = await authenticate(request)
    else:
        answer = await run_in_threadpool(authenticate, request)
        if inspect.isawaitable(answer):
            answer = await answer
    if answer is None:
        raise ApiProblem(
            401,
            "not_authenticated",
            "missing or invalid credentials",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not isinstance(answer, Principal):
        msg = f"the authenticator returned {type(answer).__name__}, not a Principal or None"
        raise TypeError(msg)
    return answer


def _replayed(replay: Replay) -> Response:
    # Answers of 400 and above are problems; the stored body is the same either way.
    problem = replay.status >= 400  # noqa: PLR2004 - HTTP's own boundary
    return Response(
        content=replay.body,
        status_code=replay.status,
        media_type=MEDIA_TYPE if problem else "application/json",
        headers={"Idempotent-Replayed": "true"},
    )


async def _off_loop(function: Callable[..., Any], *args: Any) -> Any:  # noqa: ANN401 - passthrough
    """Run a storage call in a worker thread: the storage is synchronous."""
    return await run_in_threadpool(function, *args)
