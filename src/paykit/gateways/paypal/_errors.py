"""PayPal's error answers to paykit outcomes: a value when PayPal decided, an error when we erred.

PayPal's errors are ``{"name", "message", "debug_id", "details": [{"issue", "description"}]}``;
``details[0].issue`` says what happened. How paykit reads them:

==========================================  ==================================================
PayPal answer                               paykit
==========================================  ==================================================
422 ``INSTRUMENT_DECLINED``, ``PAYER_...``,  ``declined``: ``decline_code`` is the issue, the
``TRANSACTION_REFUSED`` and the other       message is safe to show the payer
payer-side issues
422 ``ORDER_NOT_APPROVED``,                 ``requires_action``: the payer has not approved
``PAYER_ACTION_REQUIRED``                   (yet)
422 ``REFUND_AMOUNT_EXCEEDED``,             ``declined`` with the issue and PayPal's reason:
``CAPTURE_FULLY_REFUNDED`` and the other    the capture, authorization or order does not
refusals of a refund, capture or void       allow it, which is an outcome, not a bug of ours
because of its state
404                                         ``declined`` with ``decline_code`` ``not_found``
409 (the same request id is in progress),   ``unknown``: PayPal may be carrying it out; ask
5xx, and no answer after the request may    again before retrying
have been sent
429                                         :class:`~paykit.errors.GatewayError`,
                                            ``retryable=True``: rate limited, nothing happened
no answer, and the request provably never   :class:`~paykit.errors.GatewayError`,
left (connection refused, DNS, pool)        ``retryable=True``
401, 403, 400 and any other 422             :class:`~paykit.errors.GatewayConfigurationError`
                                            with PayPal's ``debug_id`` as ``request_id`` and
                                            the issue as ``gateway_code``
==========================================  ==================================================

Nothing here ever holds the client secret or an access token: messages are built from
PayPal's issue codes and descriptions, scrubbed of anything shaped like a credential.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from paykit.errors import GatewayConfigurationError, GatewayError, PaykitError
from paykit.gateways.base import NOT_FOUND, GatewayOutcome, GatewayResult
from paykit.gateways.paypal._mapping import redact

__all__ = [
    "PAYER_SIDE",
    "REQUIRES_ACTION",
    "STATE_REFUSALS",
    "Answer",
    "Problem",
    "outcome_for",
    "scrub",
]

PAYER_SIDE: Final = frozenset(
    {
        "INSTRUMENT_DECLINED",
        "PAYER_CANNOT_PAY",
        "PAYER_ACCOUNT_RESTRICTED",
        "PAYER_ACCOUNT_LOCKED_OR_CLOSED",
        "TRANSACTION_REFUSED",
        "TRANSACTION_LIMIT_EXCEEDED",
        "COMPLIANCE_VIOLATION",
        "MAX_NUMBER_OF_PAYMENT_ATTEMPTS_EXCEEDED",
        "PAYMENT_SOURCE_DECLINED_BY_PROCESSOR",
        "PAYMENT_SOURCE_CANNOT_BE_USED",
        "PAYMENT_SOURCE_INFO_CANNOT_BE_VERIFIED",
        "CARD_EXPIRED",
        "REFERENCED_CARD_EXPIRED",
        "DECLINED_DUE_TO_RELATED_TXN",
        "TRANSACTION_BLOCKED_BY_PAYEE",
        "PAYEE_BLOCKED_TRANSACTION",
        "REDIRECT_PAYER_FOR_ALTERNATE_FUNDING",
        "AGREEMENT_ALREADY_CANCELLED",
        "BILLING_AGREEMENT_NOT_FOUND",
        "TOKEN_EXPIRED",
        "ALIAS_DECLINED_BY_PROCESSOR",
        "DOMESTIC_TRANSACTION_REQUIRED",
    }
)
"""Issues that mean the payer's account or instrument cannot pay: a decline."""

REQUIRES_ACTION: Final = frozenset({"ORDER_NOT_APPROVED", "PAYER_ACTION_REQUIRED"})
"""Issues that mean the payer still has to approve the order."""

STATE_REFUSALS: Final = frozenset(
    {
        # refunds
        "REFUND_AMOUNT_EXCEEDED",
        "CAPTURE_FULLY_REFUNDED",
        "REFUND_NOT_ALLOWED",
        "REFUND_TIME_LIMIT_EXCEEDED",
        "REFUND_FAILED_INSUFFICIENT_FUNDS",
        "PARTIAL_REFUND_NOT_ALLOWED",
        "MAX_NUMBER_OF_REFUNDS_EXCEEDED",
        "PENDING_CAPTURE",
        "REFUND_NOT_PERMITTED_DUE_TO_CHARGEBACK",
        "TRANSACTION_DISPUTED",
        "REFUND_IS_RESTRICTED",
        "REFUND_AMOUNT_TOO_LOW",
        # captures and voids of an authorization
        "AUTHORIZATION_VOIDED",
        "AUTHORIZATION_EXPIRED",
        "AUTHORIZATION_DENIED",
        "AUTHORIZATION_ALREADY_CAPTURED",
        "MAX_CAPTURE_AMOUNT_EXCEEDED",
        "MAX_CAPTURE_COUNT_EXCEEDED",
        "PREVIOUSLY_CAPTURED",
        "PREVIOUSLY_VOIDED",
        "CANNOT_BE_VOIDED",
        # orders
        "ORDER_ALREADY_CAPTURED",
        "ORDER_ALREADY_AUTHORIZED",
        "ORDER_ALREADY_COMPLETED",
        "ORDER_COMPLETED_OR_VOIDED",
        "ORDER_EXPIRED",
    }
)
"""Issues that mean PayPal refused the operation because of the payment's state."""

_PAYER_MESSAGES: Final = {
    "INSTRUMENT_DECLINED": "PayPal declined the payment method; please choose another one.",
    "PAYER_CANNOT_PAY": "This PayPal account cannot pay for this purchase.",
    "TRANSACTION_LIMIT_EXCEEDED": "The payment is above the limit of this PayPal account.",
}
_DECLINED_MESSAGE: Final = "Your payment was declined."
_STATE_MESSAGES: Final = {
    "REFUND_AMOUNT_EXCEEDED": "The refund is larger than what remains of the payment.",
    "CAPTURE_FULLY_REFUNDED": "The payment has already been refunded in full.",
    "MAX_CAPTURE_AMOUNT_EXCEEDED": "The capture is larger than the authorized amount.",
    "AUTHORIZATION_VOIDED": "The authorization was voided; nothing can be captured.",
    "AUTHORIZATION_EXPIRED": "The authorization expired before it was captured.",
    "AUTHORIZATION_ALREADY_CAPTURED": "The authorization has already been captured.",
    "PREVIOUSLY_CAPTURED": "The authorization has already been captured; it cannot be voided.",
    "PENDING_CAPTURE": "The payment is still pending at PayPal; refund it once it completes.",
}
_CREDENTIAL_SHAPED: Final = re.compile(
    r"\bBearer\s+\S+|\bBasic\s+\S+|\bA21A[A-Za-z0-9_\-.]{20,}|\baccess_token\S*"
)


def scrub(text: str | None, secrets: Iterable[str] = ()) -> str:
    """``text`` without the given secrets or anything shaped like a PayPal credential."""
    if not text:
        return ""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _CREDENTIAL_SHAPED.sub("[redacted]", text)


@attrs.frozen
class Answer:
    """What one PayPal call came back with (after the retries).

    ``status`` is ``None`` when no HTTP answer arrived; ``sent`` then says whether the request
    may have reached PayPal (a read timeout) or provably did not (a refused connection).
    """

    status: int | None
    body: Any = None
    debug_id: str | None = None
    sent: bool = True
    failure: str = ""

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status is not None and 200 <= self.status < 300  # noqa: PLR2004 - 2xx

    @property
    def answer_later(self) -> bool:
        """No answer, a 5xx or a 429: PayPal may well answer the same request later."""
        return self.status is None or self.status >= 500 or self.status == 429  # noqa: PLR2004

    @property
    def json(self) -> dict[str, Any]:
        """The body as a JSON object (empty when it is not one)."""
        return dict(self.body) if isinstance(self.body, Mapping) else {}


@attrs.frozen
class Problem:
    """The parts of a PayPal error body paykit reads."""

    status: int
    name: str | None
    issue: str | None
    description: str | None
    debug_id: str | None
    links: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, answer: Answer) -> Problem:
        """Read the error out of ``answer``'s body (OAuth errors have another shape)."""
        body = answer.json
        details = body.get("details")
        first: Mapping[str, Any] = {}
        if isinstance(details, list) and details and isinstance(details[0], Mapping):
            first = details[0]
        name = body.get("name") or body.get("error")
        description = first.get("description") or body.get("message")
        description = description or body.get("error_description")
        links = tuple(
            (str(link.get("rel")), str(link.get("href")))
            for link in body.get("links") or []
            if isinstance(link, Mapping)
        )
        debug_id = body.get("debug_id") or answer.debug_id
        return cls(
            status=answer.status or 0,
            name=name if isinstance(name, str) else None,
            issue=first.get("issue") if isinstance(first.get("issue"), str) else None,
            description=description if isinstance(description, str) else None,
            debug_id=debug_id if isinstance(debug_id, str) else None,
            links=links,
        )


def outcome_for(
    answer: Answer, *, operation: str, secrets: Iterable[str] = (), what: str = "resource"
) -> GatewayResult:
    """The outcome a non-2xx ``answer`` means for ``operation``, or raise if it was our fault.

    ``what`` names the thing looked for in a 404 (``order``, ``refund``...).
    """
    if answer.status is None:
        return _no_answer(answer, operation)
    problem = Problem.of(answer)
    raw = {"error": redact(answer.json), "debug_id": problem.debug_id, "status": answer.status}
    status = answer.status
    if status >= 500 or status == 409:  # noqa: PLR2004 - 5xx and 409 in progress
        return GatewayResult(
            outcome=GatewayOutcome.UNKNOWN,
            message=(
                f"PayPal did not answer the {operation} conclusively (HTTP {status}); it may "
                "have been carried out, so ask PayPal again before retrying."
            ),
            raw=raw,
        )
    if status == 404:  # noqa: PLR2004
        return GatewayResult(
            outcome=GatewayOutcome.DECLINED,
            decline_code=NOT_FOUND,
            message=f"PayPal has no such {what}.",
            raw=raw,
        )
    issue = problem.issue or ""
    if status == 422:  # noqa: PLR2004
        if issue in PAYER_SIDE:
            return GatewayResult(
                outcome=GatewayOutcome.DECLINED,
                decline_code=issue,
                message=_PAYER_MESSAGES.get(issue, _DECLINED_MESSAGE),
                raw=raw,
            )
        if issue in REQUIRES_ACTION:
            return GatewayResult(
                outcome=GatewayOutcome.REQUIRES_ACTION,
                decline_code=issue,
                message="The payer has not approved the payment at PayPal yet.",
                raw=raw,
            )
        if issue in STATE_REFUSALS:
            reason = _STATE_MESSAGES.get(issue) or scrub(problem.description, secrets)
            return GatewayResult(
                outcome=GatewayOutcome.DECLINED,
                decline_code=issue,
                message=reason or f"PayPal refused the {operation} ({issue}).",
                raw=raw,
            )
    raise refusal(problem, operation=operation, secrets=secrets)


def _no_answer(answer: Answer, operation: str) -> GatewayResult:
    if not answer.sent:
        raise GatewayError(
            f"the {operation} never reached PayPal ({answer.failure}); nothing happened, "
            "it is safe to try again",
            gateway_code="connection_failed",
            retryable=True,
        )
    return GatewayResult(
        outcome=GatewayOutcome.UNKNOWN,
        message=(
            f"PayPal's answer to the {operation} was lost ({answer.failure}); it may have been "
            "carried out, so ask PayPal again before retrying."
        ),
        raw={"failure": answer.failure},
    )


def refusal(problem: Problem, *, operation: str, secrets: Iterable[str] = ()) -> PaykitError:
    """The paykit error for a request PayPal turned away because of us."""
    code = problem.issue or problem.name
    message = scrub(problem.description, secrets) or None
    where = f" (debug_id {problem.debug_id})" if problem.debug_id else ""
    detail = f": {message}" if message else ""
    if problem.status == 429:  # noqa: PLR2004
        return GatewayError(
            f"PayPal is rate limiting requests; the {operation} was not carried out{where}",
            gateway_code=code or "RATE_LIMIT_REACHED",
            gateway_message=message,
            request_id=problem.debug_id,
            retryable=True,
        )
    hint = {
        401: "check the client id and secret, and sandbox versus live",
        403: "the REST app lacks a permission this call needs",
    }.get(problem.status, "the request does not fit PayPal's API")
    return GatewayConfigurationError(
        f"PayPal refused the {operation} (HTTP {problem.status} {code or ''}, {hint}){where}"
        f"{detail}",
        gateway_code=code,
        gateway_message=message,
        request_id=problem.debug_id,
    )
