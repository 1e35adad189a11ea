"""Errors as RFC 9457 ``application/problem+json``: one status per ``PaykitError`` class.

Every body has ``type``, ``title``, ``status``, ``detail``, paykit's stable ``code`` and, for
bad input, the ``field``. The detail is the error's own message, which paykit already keeps
free of card numbers and secrets; an unexpected exception is answered 500 with a fixed text,
never its message or a stack trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from starlette.responses import JSONResponse

from paykit.errors import (
    ConcurrencyConflict,
    DecryptionError,
    EncryptionKeyMissingError,
    GatewayError,
    IdempotencyConflict,
    InvalidStateTransition,
    NotFound,
    PaykitError,
    PaymentMethodInactiveError,
    PaymentMethodOwnershipError,
    PaymentProcessingError,
    RefundProcessingError,
    UnsupportedPaymentMethodError,
    ValidationError,
)

__all__ = ["MEDIA_TYPE", "STATUS_BY_ERROR", "ApiProblem", "problem_for", "problem_response"]

PROBLEM_TYPE_BASE: Final = "https://paykit.dev/problems/"
MEDIA_TYPE: Final = "application/problem+json"

STATUS_BY_ERROR: Final[tuple[tuple[type[PaykitError], int], ...]] = (
    # Most specific first: the first class an error is an instance of decides.
    (PaymentMethodOwnershipError, 404),  # another customer's method: do not confirm it exists
    (NotFound, 404),
    (ValidationError, 422),
    (UnsupportedPaymentMethodError, 422),
    (IdempotencyConflict, 422),
    (InvalidStateTransition, 409),
    (PaymentMethodInactiveError, 409),
    (ConcurrencyConflict, 409),
    (GatewayError, 502),
    (PaymentProcessingError, 502),
    (RefundProcessingError, 502),
    # The server's keys or data, not the caller's request: the operator has to act.
    (EncryptionKeyMissingError, 500),
    (DecryptionError, 500),
)
"""The status each error class is answered with; any other ``PaykitError`` is a 400."""

_TITLES: Final = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    422: "Invalid request",
    500: "Internal error",
    502: "Provider error",
    503: "Provider unavailable",
}


class ApiProblem(Exception):  # noqa: N818 - it is a problem, in RFC 9457's sense
    """A problem the API itself raises (authentication, permission, idempotency, size)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
        self.headers = headers or {}


def problem_for(error: PaykitError) -> ApiProblem:
    """The problem a paykit error is answered with."""
    status = next((code for cls, code in STATUS_BY_ERROR if isinstance(error, cls)), 400)
    headers: dict[str, str] = {}
    if isinstance(error, GatewayError) and error.retryable:
        status = 503
        headers["Retry-After"] = "30"
    field = error.field if isinstance(error, ValidationError) else None
    detail = error.detail if isinstance(error, ValidationError) else error.message
    if isinstance(error, PaymentMethodOwnershipError):
        return ApiProblem(404, "not_found", "no payment_method with that id", field=None)
    return ApiProblem(status, error.code, detail, field=field, headers=headers)


def problem_response(problem: ApiProblem) -> JSONResponse:
    """The ``application/problem+json`` answer for ``problem``."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + problem.code,
        "title": _TITLES.get(problem.status, "Error"),
        "status": problem.status,
        "detail": problem.detail,
        "code": problem.code,
        "field": problem.field,
    }
    return JSONResponse(
        body, status_code=problem.status, headers=problem.headers, media_type=MEDIA_TYPE
    )


def validation_problem(errors: Sequence[Any]) -> ApiProblem:
    """The 422 for a body or query pydantic refused: the first error, with its field path."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    field = ".".join(location) or None
    message = str(first.get("msg", "invalid value"))
    if first.get("type") == "extra_forbidden":
        message = "is not a field of this request; remove it"
    if first.get("type") == "json_invalid":  # pydantic's location is a character offset
        return ApiProblem(422, "validation_error", "the body is not valid JSON", field=None)
    message = message.removeprefix("Value error, ")
    return ApiProblem(422, "validation_error", message, field=field)
