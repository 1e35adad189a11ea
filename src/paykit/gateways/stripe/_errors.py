"""Stripe SDK errors to paykit outcomes: a value when Stripe gave an answer, an error when we erred.

=====================================  ====================================================
Stripe error                           paykit
=====================================  ====================================================
``CardError`` (402)                    ``declined``: ``decline_code`` from
                                       ``error.decline_code`` (else ``error.code``), the
                                       customer-safe card message, the PaymentIntent's id
``InvalidRequestError`` with a state   ``declined`` for capture, void and refund: Stripe
code (``amount_too_large``,            refused the operation because of the payment's state
``payment_intent_unexpected_state``,   (``charge_already_refunded`` and friends), which is
``charge_already_refunded``...)        an outcome, not a bug of ours
``APIConnectionError`` (every retry    ``unknown``: the request may have reached Stripe; the
failed), ``APIError`` (5xx, 409)       payment stays ``processing`` and is asked about later
``RateLimitError`` (429)               :class:`~paykit.errors.GatewayError` with
                                       ``retryable=True`` (see below)
``IdempotencyError``                   :class:`~paykit.errors.IdempotencyConflict`
``AuthenticationError``,               :class:`~paykit.errors.GatewayConfigurationError` with
``PermissionError``, any other         Stripe's request id, code and message (the message
``InvalidRequestError``                scrubbed of anything shaped like a key)
=====================================  ====================================================

Why 429 is an error and not ``unknown``: Stripe's rate limiter turns a request away before
any endpoint runs, and Stripe saves no idempotent result for it, so nothing moved and the
same call -- with the same idempotency key -- can simply be made again. ``unknown`` would
claim a doubt that does not exist and send reconciliation looking for a PaymentIntent that
was never created. ``retryable=True`` tells the caller to try again later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import stripe

from paykit.errors import (
    GatewayConfigurationError,
    GatewayError,
    IdempotencyConflict,
    PaykitError,
)
from paykit.gateways.base import GatewayOutcome, GatewayResult
from paykit.gateways.stripe._mapping import customer_message, redact

__all__ = ["refusal", "result_for_error", "scrub"]

_KEY_SHAPED: Final = re.compile(
    r"\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9*]+|\bwhsec_[A-Za-z0-9*]+|\bBearer\s+\S+"
)

_STATE_REFUSALS: Final = {
    "payment_intent_unexpected_state": "The payment is not in a state that allows this.",
    "amount_too_large": "The amount is larger than what remains on the payment.",
    "charge_already_refunded": "The payment has already been refunded.",
    "charge_already_captured": "The payment has already been captured.",
    "charge_expired_for_capture": "The authorization expired before it was captured.",
    "charge_disputed": "The payment is disputed, so it cannot be refunded.",
}
"""Invalid-request codes that are Stripe refusing an operation on a payment's state."""

_STATE_OPERATIONS: Final = frozenset({"capture", "void", "refund"})


def scrub(text: str | None, secret: str) -> str:
    """``text`` with the secret key and anything shaped like a Stripe key removed."""
    if not text:
        return ""
    if secret:
        text = text.replace(secret, "[redacted]")
    return _KEY_SHAPED.sub("[redacted]", text)


def _error_body(error: stripe.StripeError) -> Mapping[str, Any]:
    body = error.json_body
    if isinstance(body, Mapping):
        inner = body.get("error")
        if isinstance(inner, Mapping):
            return inner
    return {}


def result_for_error(error: stripe.StripeError, *, operation: str, secret: str) -> GatewayResult:
    """The outcome ``error`` means for ``operation``, or raise when it is our mistake.

    ``secret`` is the API key, scrubbed from anything that might be shown.
    """
    body = _error_body(error)
    if isinstance(error, stripe.CardError):
        return _declined_card(error, body)
    if (
        isinstance(error, stripe.InvalidRequestError)
        and operation in _STATE_OPERATIONS
        and error.code in _STATE_REFUSALS
    ):
        return GatewayResult(
            outcome=GatewayOutcome.DECLINED,
            decline_code=error.code,
            message=_STATE_REFUSALS[error.code],
            raw={"error": redact(body), "request_id": error.request_id},
        )
    if isinstance(error, stripe.APIConnectionError | stripe.APIError) or not _is_refusal(error):
        return GatewayResult(
            outcome=GatewayOutcome.UNKNOWN,
            message=(
                f"Stripe did not answer the {operation} request conclusively "
                f"({type(error).__name__}, HTTP {error.http_status or 'none'}); "
                "it may have been carried out, so ask Stripe again before retrying."
            ),
            raw={
                "error_type": type(error).__name__,
                "http_status": error.http_status,
                "request_id": error.request_id,
            },
        )
    raise refusal(error, operation=operation, secret=secret) from None


def _is_refusal(error: stripe.StripeError) -> bool:
    """Whether Stripe answered with a 4xx: it turned the request away, nothing happened."""
    status = error.http_status
    return isinstance(error, stripe.AuthenticationError) or (
        status is not None and 400 <= status < 500  # noqa: PLR2004 - the 4xx range
    )


def refusal(error: stripe.StripeError, *, operation: str, secret: str) -> PaykitError:
    """The paykit error for a request Stripe turned away (see the module docstring)."""
    code = error.code or _error_body(error).get("code")
    gateway_code = code if isinstance(code, str) else None
    gateway_message = scrub(error.user_message, secret) or None
    where = f" (request {error.request_id})" if error.request_id else ""
    kind = type(error).__name__
    if isinstance(error, stripe.RateLimitError):
        msg = f"Stripe is rate limiting requests; the {operation} was not carried out{where}"
        return GatewayError(
            msg,
            gateway_code=gateway_code or "rate_limit",
            gateway_message=gateway_message,
            request_id=error.request_id,
            retryable=True,
        )
    if isinstance(error, stripe.IdempotencyError):
        msg = (
            f"Stripe refused the {operation}: its idempotency key was already used with "
            f"different parameters{where}"
        )
        return IdempotencyConflict(msg)
    hint = {
        "AuthenticationError": "check the secret key",
        "PermissionError": "the key lacks a permission this call needs",
    }.get(kind, "the request does not fit Stripe's API")
    detail = f": {gateway_message}" if gateway_message else ""
    msg = f"Stripe refused the {operation} ({kind}, {hint}){where}{detail}"
    return GatewayConfigurationError(
        msg,
        gateway_code=gateway_code,
        gateway_message=gateway_message,
        request_id=error.request_id,
    )


def _declined_card(error: stripe.CardError, body: Mapping[str, Any]) -> GatewayResult:
    details = error.error
    decline_code = (details.decline_code if details is not None else None) or error.code
    intent = body.get("payment_intent")
    provider_id = intent.get("id") if isinstance(intent, Mapping) else None
    raw: dict[str, Any] = {
        "error": {
            key: body.get(key) for key in ("type", "code", "decline_code", "advice_code", "charge")
        },
        "request_id": error.request_id,
    }
    if isinstance(intent, Mapping):
        raw["payment_intent"] = redact(intent)
    return GatewayResult(
        outcome=GatewayOutcome.DECLINED,
        provider_id=provider_id if isinstance(provider_id, str) else None,
        decline_code=decline_code or "card_declined",
        message=customer_message(body),
        raw=raw,
    )
