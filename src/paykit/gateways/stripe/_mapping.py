"""paykit requests to Stripe parameters, and Stripe objects to paykit results.

Pure functions over plain ``dict`` objects (what ``StripeObject.to_dict()`` and a webhook's
``data.object`` both are), shared by the synchronous and asynchronous calls and by webhooks.

PaymentIntent status to outcome:

=========================  ========================================================
``succeeded``              ``succeeded``, amount = ``amount_received``
``requires_capture``       ``authorized``, amount = ``amount_capturable``
``requires_action``        ``requires_action`` with ``next_action`` (and the client secret
                           for the caller, as a ``SecretStr``, when asked for)
``processing``             ``pending``
``requires_confirmation``  ``pending`` (confirmed later, by the customer or
                           :meth:`StripeGateway.confirm`)
``requires_payment_method`` ``declined`` with ``last_payment_error``'s decline code
``canceled``               ``succeeded`` for a void (the hold is gone), else ``declined``
=========================  ========================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import SecretStr
from stripe.params import (
    PaymentIntentCaptureParams,
    PaymentIntentConfirmParams,
    PaymentIntentCreateParams,
    RefundCreateParams,
)

from paykit.domain.payment import NextAction
from paykit.domain.payment_method import PaymentMethodType
from paykit.errors import ValidationError
from paykit.gateways.base import (
    NOT_FOUND,
    CaptureRequest,
    ChargeRequest,
    GatewayOutcome,
    GatewayResult,
    PaymentMethodDetails,
    RefundRequest,
)
from paykit.gateways.stripe._amounts import from_stripe_amount, to_stripe_amount
from paykit.money import Money

__all__ = [
    "PAYKIT_CUSTOMER_ID",
    "PAYKIT_PAYMENT_ID",
    "PAYKIT_REFUND_ID",
    "capture_params",
    "charge_params",
    "confirm_params",
    "payment_intent_result",
    "payment_method_details",
    "pick_payment_intent",
    "pick_refund",
    "redact",
    "refund_params",
    "refund_result",
    "search_query",
    "stripe_money",
]

PAYKIT_PAYMENT_ID: Final = "paykit_payment_id"
"""PaymentIntent and Refund metadata key holding paykit's payment id (searchable)."""
PAYKIT_REFUND_ID: Final = "paykit_refund_id"
"""Refund metadata key holding paykit's refund id."""
PAYKIT_CUSTOMER_ID: Final = "paykit_customer_id"
"""PaymentIntent metadata key holding the host application's customer id."""
PAYKIT_REASON: Final = "paykit_reason"
"""Refund metadata key for a free-text reason Stripe's ``reason`` enum cannot hold."""

_SECRET_KEYS: Final = frozenset({"client_secret", "secret"})
_STRIPE_REFUND_REASONS: Final = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
_DECLINED_MESSAGE: Final = "Your payment was declined."
_CANCELLED_MESSAGE: Final = "The payment was cancelled."
_REFUND_FAILED_MESSAGE: Final = "The refund could not be made to the customer's payment method."


def redact(value: Any) -> Any:  # noqa: ANN401 - any JSON value
    """A deep copy of a Stripe object with every client secret removed (for ``raw``)."""
    if isinstance(value, Mapping):
        return {str(key): redact(item) for key, item in value.items() if key not in _SECRET_KEYS}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


# -- requests -> parameters --------------------------------------------------------------------


def charge_params(
    request: ChargeRequest, *, stripe_customer: str | None
) -> PaymentIntentCreateParams:
    """Create-and-confirm parameters for a purchase (``capture``) or an authorization."""
    metadata = dict(request.metadata)
    metadata[PAYKIT_PAYMENT_ID] = request.payment_id
    metadata[PAYKIT_CUSTOMER_ID] = request.customer_id
    params: PaymentIntentCreateParams = {
        "amount": to_stripe_amount(request.amount),
        "currency": request.amount.currency.lower(),
        "payment_method": request.payment_method_token,
        "confirm": True,
        "capture_method": "automatic" if request.capture else "manual",
        "metadata": metadata,
        # The Charge, not its id: its ``outcome`` holds Radar's risk_level and risk_score,
        # which fraud screening records (paykit.fraud.provider_signal).
        "expand": ["latest_charge"],
    }
    if request.off_session:
        # Stripe then declines (authentication_required) instead of asking the customer.
        params["off_session"] = True
    elif request.request_three_d_secure:
        # A fraud rule asked for 3-D Secure: Stripe challenges the card whenever it can.
        params["payment_method_options"] = {"card": {"request_three_d_secure": "any"}}
    if request.return_url is not None:
        params["return_url"] = request.return_url
    else:
        # Without a return URL Stripe refuses to confirm when redirect-based methods are
        # enabled; card authentication still works in-page through the client secret.
        params["automatic_payment_methods"] = {"enabled": True, "allow_redirects": "never"}
    if stripe_customer is not None:
        params["customer"] = stripe_customer
    if request.description:
        params["description"] = request.description
    return params


def confirm_params(return_url: str | None) -> PaymentIntentConfirmParams:
    """Parameters for confirming a PaymentIntent again (after the customer acted)."""
    params: PaymentIntentConfirmParams = {}
    if return_url is not None:
        params["return_url"] = return_url
    return params


def capture_params(request: CaptureRequest) -> PaymentIntentCaptureParams:
    """Capture ``request.amount`` (all or part of the authorization)."""
    return {"amount_to_capture": to_stripe_amount(request.amount)}


def refund_params(request: RefundRequest) -> RefundCreateParams:
    """Refund ``request.amount`` of a PaymentIntent, tagged with paykit's ids."""
    metadata = {PAYKIT_PAYMENT_ID: request.payment_id, PAYKIT_REFUND_ID: request.refund_id}
    params: RefundCreateParams = {
        "payment_intent": request.provider_payment_id,
        "amount": to_stripe_amount(request.amount),
        "metadata": metadata,
    }
    if request.reason in _STRIPE_REFUND_REASONS:
        params["reason"] = request.reason
    elif request.reason:
        metadata[PAYKIT_REASON] = request.reason[:500]
    return params


def search_query(payment_id: str) -> str:
    """The Search Query Language expression that finds paykit's payment by its metadata."""
    quoted = payment_id.replace("\\", "\\\\").replace("'", "\\'")
    return f"metadata['{PAYKIT_PAYMENT_ID}']:'{quoted}'"


# -- objects -> results ------------------------------------------------------------------------


def stripe_money(units: object, currency: object) -> Money | None:
    """An amount Stripe reported, or ``None`` when it is missing or not representable."""
    if not isinstance(units, int) or isinstance(units, bool) or not isinstance(currency, str):
        return None
    try:
        return from_stripe_amount(units, currency)
    except ValidationError:
        return None  # informational only: never let a display amount fail a real answer


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _next_action(intent: Mapping[str, Any], *, include_secret: bool) -> NextAction:
    action = intent.get("next_action") or {}
    redirect = action.get("redirect_to_url") or {}
    secret = _text(intent.get("client_secret")) if include_secret else None
    return NextAction(
        type=_text(action.get("type")) or "use_stripe_sdk",
        redirect_url=_text(redirect.get("url")),
        client_secret=None if secret is None else SecretStr(secret),
    )


def payment_intent_result(  # noqa: PLR0911 - one return per PaymentIntent status
    intent: Mapping[str, Any], *, operation: str, include_secret: bool = True
) -> GatewayResult:
    """The outcome a PaymentIntent reports (see the module docstring).

    ``include_secret`` hands the client secret to the caller in ``next_action``; ``raw`` never
    carries it.
    """
    status = intent.get("status")
    currency = intent.get("currency")
    common: dict[str, Any] = {"provider_id": _text(intent.get("id")), "raw": redact(intent)}
    if status == "succeeded":
        return GatewayResult(
            outcome=GatewayOutcome.SUCCEEDED,
            amount=stripe_money(intent.get("amount_received"), currency),
            **common,
        )
    if status == "requires_capture":
        capturable = intent.get("amount_capturable") or intent.get("amount")
        return GatewayResult(
            outcome=GatewayOutcome.AUTHORIZED, amount=stripe_money(capturable, currency), **common
        )
    if status == "requires_action":
        return GatewayResult(
            outcome=GatewayOutcome.REQUIRES_ACTION,
            next_action=_next_action(intent, include_secret=include_secret),
            **common,
        )
    if status in ("processing", "requires_confirmation"):
        return GatewayResult(outcome=GatewayOutcome.PENDING, **common)
    if status == "canceled":
        if operation == "void":
            return GatewayResult(outcome=GatewayOutcome.SUCCEEDED, **common)
        return GatewayResult(
            outcome=GatewayOutcome.DECLINED,
            decline_code=_text(intent.get("cancellation_reason")) or "canceled",
            message=_CANCELLED_MESSAGE,
            **common,
        )
    if status == "requires_payment_method":
        error = intent.get("last_payment_error") or {}
        return GatewayResult(
            outcome=GatewayOutcome.DECLINED,
            decline_code=_text(error.get("decline_code"))
            or _text(error.get("code"))
            or "requires_payment_method",
            message=customer_message(error),
            **common,
        )
    # A status this adapter does not know yet: say nothing moved for sure.
    return GatewayResult(
        outcome=GatewayOutcome.UNKNOWN,
        message=f"Stripe reported PaymentIntent status {status!r}, unknown to paykit.",
        **common,
    )


def customer_message(error: Mapping[str, Any]) -> str:
    """The message to show a customer for a Stripe card error object.

    Stripe documents card-error messages as safe to show to customers; its newer
    ``user_message`` is preferred when present. Anything else gets a generic sentence.
    """
    if error.get("type") not in (None, "card_error"):
        return _DECLINED_MESSAGE
    return _text(error.get("user_message")) or _text(error.get("message")) or _DECLINED_MESSAGE


def refund_result(refund: Mapping[str, Any]) -> GatewayResult:
    """The outcome a Refund reports: succeeded, pending, or declined (failed / canceled)."""
    status = refund.get("status")
    common: dict[str, Any] = {
        "provider_id": _text(refund.get("id")),
        "amount": stripe_money(refund.get("amount"), refund.get("currency")),
        "raw": redact(refund),
    }
    if status == "succeeded":
        return GatewayResult(outcome=GatewayOutcome.SUCCEEDED, **common)
    if status in ("pending", "requires_action"):
        return GatewayResult(outcome=GatewayOutcome.PENDING, **common)
    if status in ("failed", "canceled"):
        return GatewayResult(
            outcome=GatewayOutcome.DECLINED,
            decline_code=_text(refund.get("failure_reason")) or f"refund_{status}",
            message=_REFUND_FAILED_MESSAGE,
            **common,
        )
    return GatewayResult(
        outcome=GatewayOutcome.UNKNOWN,
        message=f"Stripe reported refund status {status!r}, unknown to paykit.",
        **common,
    )


_PROGRESS: Final = {
    "succeeded": 5,
    "requires_capture": 4,
    "processing": 3,
    "requires_action": 2,
}


def pick_payment_intent(
    search: Mapping[str, Any], payment_id: str, *, index_caught_up: bool = False
) -> GatewayResult:
    """The result for paykit's payment among search results (the furthest along wins).

    Nothing found is ``unknown``, not ``declined``: Stripe's search index trails writes
    (usually by under a minute, up to an hour during outages), so a charge that went through
    a moment ago may not be found yet. Asking again later is safe; calling it failed could
    lose a real payment. Once ``index_caught_up`` -- the charge was sent longer ago than the
    index can trail -- nothing found means Stripe never received it: ``declined`` with
    ``not_found``.
    """
    intents = [
        intent
        for intent in search.get("data") or []
        if (intent.get("metadata") or {}).get(PAYKIT_PAYMENT_ID) == payment_id
    ]
    if not intents:
        raw = {"query": search_query(payment_id), "matches": 0}
        if index_caught_up:
            return GatewayResult(
                outcome=GatewayOutcome.DECLINED,
                decline_code=NOT_FOUND,
                message=(
                    f"No Stripe PaymentIntent carries {PAYKIT_PAYMENT_ID}={payment_id}, long "
                    "after the charge was sent: Stripe never received it."
                ),
                raw=raw,
            )
        return GatewayResult(
            outcome=GatewayOutcome.UNKNOWN,
            message=(
                f"No Stripe PaymentIntent carries {PAYKIT_PAYMENT_ID}={payment_id} yet; "
                "Stripe's search index can trail new payments, so ask again later."
            ),
            raw=raw,
        )
    best = max(intents, key=lambda intent: _PROGRESS.get(str(intent.get("status")), 0))
    return payment_intent_result(best, operation="retrieve", include_secret=False)


def pick_refund(refunds: Mapping[str, Any], refund_id: str) -> GatewayResult:
    """The result for paykit's refund among a PaymentIntent's refunds.

    Refund lists are read from Stripe's primary store (no search lag), so a refund that
    is not there was never created: nothing was refunded.
    """
    for refund in refunds.get("data") or []:
        if (refund.get("metadata") or {}).get(PAYKIT_REFUND_ID) == refund_id:
            return refund_result(refund)
    return GatewayResult(
        outcome=GatewayOutcome.DECLINED,
        decline_code=NOT_FOUND,
        message="The refund was never received by Stripe.",
    )


_WALLETS: Final = frozenset(
    {
        "apple_pay",
        "google_pay",
        "samsung_pay",
        "masterpass",
        "visa_checkout",
        "amex_express_checkout",
    }
)


def payment_method_details(method: Mapping[str, Any]) -> PaymentMethodDetails:
    """Display details of a Stripe PaymentMethod (brand, last 4, expiry), never the number."""
    kind = method.get("type")
    if kind == "card":
        card = method.get("card") or {}
        wallet = (card.get("wallet") or {}).get("type")
        funding = card.get("funding")
        method_type: PaymentMethodType | None
        if wallet in _WALLETS:
            method_type = PaymentMethodType.DIGITAL_WALLET
        elif funding == "debit":
            method_type = PaymentMethodType.DEBIT_CARD
        elif funding == "credit":
            method_type = PaymentMethodType.CREDIT_CARD
        else:
            method_type = None  # prepaid or unknown funding: the caller's own type stands
        return PaymentMethodDetails(
            brand=_text(card.get("brand")),
            last4=_text(card.get("last4")),
            exp_month=_int(card.get("exp_month")),
            exp_year=_int(card.get("exp_year")),
            type=method_type,
            country=_text(card.get("country")),
            fingerprint=_text(card.get("fingerprint")),
            wallet=_text(wallet),
        )
    if kind == "paypal":
        return PaymentMethodDetails(type=PaymentMethodType.PAYPAL)
    if kind == "customer_balance":
        return PaymentMethodDetails(type=PaymentMethodType.BANK_TRANSFER)
    return PaymentMethodDetails()


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
