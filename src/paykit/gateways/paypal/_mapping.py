"""paykit requests to PayPal request bodies, and PayPal objects to paykit results.

Pure functions over plain ``dict`` objects (the JSON PayPal sends and a webhook's
``resource``), shared by the synchronous and asynchronous calls and by webhooks.

How paykit's ids travel:

* ``provider_payment_id`` is always the PayPal **order** id. Captures, authorizations and
  refunds are found from the order when an operation needs them.
* the order's ``purchase_units[0].custom_id`` is paykit's payment id (PayPal copies it onto the
  captures and authorizations, so webhooks and disputes name the payment); a refund's
  ``custom_id`` is paykit's refund id, which is how a refund whose answer was lost is found.
* ``PayPal-Request-Id`` is derived from the request's ``idempotency_key`` (see
  :func:`request_id`), so every retry of one paykit request carries the same id.

Order to outcome (:func:`order_result`):

=================================  ===========================================================
PayPal order                       paykit
=================================  ===========================================================
a capture COMPLETED (or since      ``succeeded``, amount = the sum of those captures
refunded)
a capture PENDING                  ``pending``
an authorization CREATED           ``authorized``, amount = the authorization's
an authorization PENDING           ``pending``
a capture DECLINED / FAILED, an    ``declined`` with the processor's response code
authorization DENIED
an authorization VOIDED / EXPIRED  ``declined`` (``succeeded`` for a void)
CREATED, PAYER_ACTION_REQUIRED     ``requires_action``; ``next_action.redirect_url`` is the
                                   ``payer-action`` (or ``approve``) link
APPROVED                           ``pending``: the payer approved, paykit has not captured
                                   (``retrieve_payment`` captures it, see the gateway)
voided by paykit before approval   ``declined`` with code ``voided`` (``succeeded`` for a void)
=================================  ===========================================================
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from paykit.domain.payment import NextAction
from paykit.domain.payment_method import PaymentMethodType
from paykit.errors import UnsupportedPaymentMethodError, ValidationError
from paykit.gateways.base import (
    CaptureRequest,
    ChargeRequest,
    GatewayOutcome,
    GatewayResult,
    PaymentLookup,
    RefundRequest,
)
from paykit.gateways.paypal._amounts import from_paypal_money, paypal_money
from paykit.money import Money

__all__ = [
    "CHECKOUT_TOKEN",
    "LOOKUP_MARK",
    "VOID_MARK",
    "authorization_result",
    "capture_request_body",
    "capture_result",
    "find_authorization",
    "find_refund",
    "first_refundable_capture",
    "is_checkout_token",
    "is_lookup_probe",
    "is_voided",
    "order_request",
    "order_result",
    "paykit_payment_id",
    "paykit_refund_id",
    "probe_request",
    "redact",
    "refund_custom_id",
    "refund_request_body",
    "refund_result",
    "related_order_id",
    "request_id",
    "void_patch",
]

CHECKOUT_TOKEN: Final = "paypal:checkout"  # noqa: S105 - a token kind, not a credential
"""The payment-method token that sends the payer to PayPal to approve each payment.

``"paypal:checkout:<email>"`` does the same and pre-fills the payer's PayPal login with
``<email>``. Any other token is a PayPal vault id (a saved PayPal account or card), charged
without the payer.
"""
VOID_MARK: Final = "paykit-voided:"
"""Prefix of ``custom_id`` on an order paykit voided before it was paid."""
LOOKUP_MARK: Final = "paykit-lookup:"
"""Prefix of ``custom_id`` on the inert order a lookup creates when the charge never arrived."""

_MAX_REQUEST_ID: Final = 108
_MAX_CUSTOM_ID: Final = 127
_VAULT_ID: Final = re.compile(r"[0-9a-zA-Z_-]{1,255}")
_REFUND_CUSTOM_ID: Final = re.compile(r"[A-Za-z0-9_.,-]{1,127}")
_HASHED_REFUND_ID: Final = re.compile(r"paykit-[0-9a-f]{40}")
_EMAIL: Final = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}")
_SECRET_KEYS: Final = frozenset({"vault_id", "access_token", "client_secret"})
_DECLINED_MESSAGE: Final = "Your payment was declined."
_VOIDED_MESSAGE: Final = "The payment was cancelled."
_REFUND_FAILED_MESSAGE: Final = "The refund could not be made to the customer's account."
_CARD_TYPES: Final = frozenset({PaymentMethodType.CREDIT_CARD, PaymentMethodType.DEBIT_CARD})
_CHECKOUT_TYPES: Final = frozenset(
    {
        PaymentMethodType.PAYPAL,
        PaymentMethodType.CREDIT_CARD,
        PaymentMethodType.DEBIT_CARD,
        PaymentMethodType.DIGITAL_WALLET,
    }
)
_CAPTURED: Final = frozenset({"COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"})
_HOLDING: Final = frozenset({"CREATED", "PARTIALLY_CAPTURED"})


def request_id(idempotency_key: str, suffix: str = "") -> str:
    """The ``PayPal-Request-Id`` for ``idempotency_key`` (and an operation ``suffix``).

    The key itself when it fits PayPal's 108 printable ASCII characters, else ``paykit-`` and
    its SHA-256: the same key always gives the same id, so retries are recognised.
    """
    candidate = idempotency_key + suffix
    if 0 < len(candidate) <= _MAX_REQUEST_ID and candidate.isascii() and candidate.isprintable():
        return candidate
    return "paykit-" + hashlib.sha256(candidate.encode("utf-8")).hexdigest()


def redact(value: Any, *, _parent: str = "") -> Any:  # noqa: ANN401 - any JSON value
    """A deep copy of a PayPal object without vault ids or tokens (for ``raw``).

    A vault id charges the payer's saved account without them, so it is as sensitive as a
    card token: ``vault_id`` keys and the ``id`` of a ``vault`` attribute are dropped.
    """
    if isinstance(value, Mapping):
        return {
            str(key): redact(item, _parent=str(key))
            for key, item in value.items()
            if key not in _SECRET_KEYS and not (_parent == "vault" and key == "id")
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


# -- requests -> bodies ------------------------------------------------------------------------


def _custom_id(prefix: str, payment_id: str) -> str:
    value = prefix + payment_id
    if len(value) > _MAX_CUSTOM_ID:
        msg = f"must be at most {_MAX_CUSTOM_ID - len(prefix)} characters to fit PayPal's custom_id"
        raise ValidationError(msg, field="payment_id")
    return value


def is_checkout_token(token: str) -> bool:
    """Whether ``token`` sends the payer to PayPal to approve (rather than a vault id)."""
    return token == CHECKOUT_TOKEN or token.startswith(CHECKOUT_TOKEN + ":")


_MERCHANT_INITIATED: Final = {
    "payment_initiator": "MERCHANT",
    "payment_type": "UNSCHEDULED",
    "usage": "SUBSEQUENT",
}
"""``stored_credential`` of an off-session charge of a saved card: the merchant charges a
card the customer stored earlier, with the customer away."""


def _payment_source(
    request: ChargeRequest,
    *,
    return_url: str | None,
    cancel_url: str | None,
    brand_name: str | None,
) -> dict[str, Any]:
    if is_checkout_token(request.payment_method_token):
        return _checkout_source(
            request, return_url=return_url, cancel_url=cancel_url, brand_name=brand_name
        )
    return _vault_source(request)


def _checkout_source(
    request: ChargeRequest,
    *,
    return_url: str | None,
    cancel_url: str | None,
    brand_name: str | None,
) -> dict[str, Any]:
    """The payer approves at PayPal, then comes back to ``return_url``."""
    kind = request.payment_method_type
    if kind not in _CHECKOUT_TYPES:
        msg = f"PayPal checkout cannot take a {kind} payment"
        raise UnsupportedPaymentMethodError(msg)
    back = request.return_url or return_url
    if back is None:
        msg = (
            "PayPal sends the payer back to a return URL after approval; pass return_url "
            "to process_payment or configure PayPalGateway(return_url=...)"
        )
        raise ValidationError(msg, field="return_url")
    context: dict[str, Any] = {
        "return_url": back,
        "cancel_url": cancel_url or back,
        "user_action": "PAY_NOW",
        "shipping_preference": "NO_SHIPPING",
    }
    if brand_name:
        context["brand_name"] = brand_name[:127]
    wallet: dict[str, Any] = {"experience_context": context}
    email = request.payment_method_token[len(CHECKOUT_TOKEN) + 1 :]
    if email:
        if not _EMAIL.fullmatch(email):
            msg = "a checkout token may carry the payer's e-mail after 'paypal:checkout:'"
            raise ValidationError(msg, field="payment_method_token")
        wallet["email_address"] = email
    return {"paypal": wallet}


def _vault_source(request: ChargeRequest) -> dict[str, Any]:
    """A saved PayPal account or card, charged without the payer."""
    token, kind = request.payment_method_token, request.payment_method_type
    if not _VAULT_ID.fullmatch(token):
        msg = (
            f"is neither {CHECKOUT_TOKEN!r} nor a PayPal vault id (letters, digits, '-' and "
            "'_', at most 255)"
        )
        raise ValidationError(msg, field="payment_method_token")
    if kind is PaymentMethodType.PAYPAL:
        return {"paypal": {"vault_id": token}}
    if kind in _CARD_TYPES:
        card: dict[str, Any] = {"vault_id": token}
        if request.off_session:
            card["stored_credential"] = dict(_MERCHANT_INITIATED)
        return {"card": card}
    msg = f"PayPal vault ids are PayPal accounts or cards, not {kind}"
    raise UnsupportedPaymentMethodError(msg)


def order_request(
    request: ChargeRequest,
    *,
    return_url: str | None = None,
    cancel_url: str | None = None,
    brand_name: str | None = None,
) -> dict[str, Any]:
    """The create-order body for a purchase (intent CAPTURE) or an authorization (AUTHORIZE).

    Everything is checked here, before any request: the currency and amount against PayPal's
    rules, the token, the return URL of a checkout.
    """
    unit: dict[str, Any] = {
        "reference_id": "default",
        "custom_id": _custom_id("", request.payment_id),
        "amount": paypal_money(request.amount),
    }
    if request.description:
        unit["description"] = request.description[:127]
    return {
        "intent": "CAPTURE" if request.capture else "AUTHORIZE",
        "purchase_units": [unit],
        "payment_source": _payment_source(
            request, return_url=return_url, cancel_url=cancel_url, brand_name=brand_name
        ),
    }


def probe_request(lookup: PaymentLookup) -> dict[str, Any]:
    """The body a lookup without an order id replays under the charge's ``PayPal-Request-Id``.

    PayPal answers a known request id with the order that request created, whatever the body
    says. When the charge never arrived, this body creates an inert order instead -- no
    payment source, so nothing can be paid without a payer who never sees it, and PayPal
    expires it -- marked with :data:`LOOKUP_MARK` so the lookup knows it found nothing.
    """
    return {
        "intent": "CAPTURE",
        "purchase_units": [
            {
                "reference_id": "default",
                "custom_id": _custom_id(LOOKUP_MARK, lookup.payment_id),
                "amount": paypal_money(lookup.amount),
            }
        ],
    }


def capture_request_body(request: CaptureRequest) -> dict[str, Any]:
    """Capture ``request.amount`` of an authorization and release the rest (final capture)."""
    return {"amount": paypal_money(request.amount), "final_capture": True}


def refund_request_body(request: RefundRequest) -> dict[str, Any]:
    """Refund ``request.amount`` of a capture, tagged with paykit's refund id."""
    body: dict[str, Any] = {
        "amount": paypal_money(request.amount),
        "custom_id": refund_custom_id(request.refund_id),
    }
    if request.reason:
        body["note_to_payer"] = request.reason[:255]
    return body


def refund_custom_id(refund_id: str) -> str:
    """The refund's ``custom_id``: paykit's refund id, or its hash if PayPal cannot take it.

    A refund whose answer was lost is found among the order's refunds by this value, so it
    must always be there and always be the same for one refund id.
    """
    if _REFUND_CUSTOM_ID.fullmatch(refund_id):
        return refund_id
    return "paykit-" + hashlib.sha256(refund_id.encode("utf-8")).hexdigest()[:40]


def paykit_refund_id(custom_id: object) -> str | None:
    """The paykit refund id a refund's ``custom_id`` holds (see :func:`refund_custom_id`).

    ``None`` when there is none, or when it is the hash of a refund id PayPal could not take
    as it was: a hash names the refund only to a lookup that knows the id already.
    """
    text = _text(custom_id)
    if text is None or _HASHED_REFUND_ID.fullmatch(text):
        return None
    return text


def void_patch(payment_id: str) -> list[dict[str, Any]]:
    """The PATCH that marks an unpaid order voided (PayPal has no call to cancel an order)."""
    return [
        {
            "op": "replace",
            "path": "/purchase_units/@reference_id=='default'/custom_id",
            "value": _custom_id(VOID_MARK, payment_id),
        }
    ]


# -- objects -> results ------------------------------------------------------------------------


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _dicts(value: object) -> list[Mapping[str, Any]]:
    if isinstance(value, list):
        return [item for item in value if isinstance(item, Mapping)]
    return []


def _unit(order: Mapping[str, Any]) -> Mapping[str, Any]:
    units = _dicts(order.get("purchase_units"))
    return units[0] if units else {}


def _payments(order: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
    payments = _unit(order).get("payments")
    return _dicts(payments.get(kind)) if isinstance(payments, Mapping) else []


def _custom(order: Mapping[str, Any]) -> str:
    return _text(_unit(order).get("custom_id")) or ""


def paykit_payment_id(custom_id: object) -> str | None:
    """The paykit payment id in a ``custom_id``, without paykit's own marks."""
    text = _text(custom_id)
    if text is None:
        return None
    for mark in (VOID_MARK, LOOKUP_MARK):
        if text.startswith(mark):
            return text[len(mark) :] or None
    return text


def is_voided(order: Mapping[str, Any]) -> bool:
    """Whether paykit voided this order before it was paid."""
    return _custom(order).startswith(VOID_MARK)


def is_lookup_probe(order: Mapping[str, Any]) -> bool:
    """Whether this is the inert order a lookup created (the charge itself never arrived)."""
    return _custom(order).startswith(LOOKUP_MARK)


def _total(objects: Iterable[Mapping[str, Any]]) -> Money | None:
    total: Money | None = None
    for obj in objects:
        amount = from_paypal_money(obj.get("amount"))
        if amount is None:
            continue
        total = amount if total is None or total.currency != amount.currency else total + amount
    return total


def _payer_link(order: Mapping[str, Any]) -> str | None:
    links = {_text(link.get("rel")): _text(link.get("href")) for link in _dicts(order.get("links"))}
    return links.get("payer-action") or links.get("approve")


def _processor_code(obj: Mapping[str, Any]) -> str | None:
    response = obj.get("processor_response")
    return _text(response.get("response_code")) if isinstance(response, Mapping) else None


def find_authorization(order: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The authorization a capture or void acts on: the one still holding money, else the last."""
    authorizations = _payments(order, "authorizations")
    holding = [a for a in authorizations if a.get("status") in _HOLDING | {"PENDING"}]
    if holding:
        return holding[-1]
    return authorizations[-1] if authorizations else None


def first_refundable_capture(order: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The capture a refund goes to (paykit captures once, so there is one)."""
    for capture in _payments(order, "captures"):
        if capture.get("status") in _CAPTURED:
            return capture
    return None


def find_refund(order: Mapping[str, Any], refund_id: str) -> Mapping[str, Any] | None:
    """The order's refund whose ``custom_id`` is paykit's ``refund_id``."""
    wanted = refund_custom_id(refund_id)
    for refund in _payments(order, "refunds"):
        if refund.get("custom_id") == wanted:
            return refund
    return None


def order_result(  # noqa: PLR0911 - one branch per state of the table above
    order: Mapping[str, Any], *, operation: str
) -> GatewayResult:
    """The outcome a PayPal order reports (see the module docstring)."""
    order_id = _text(order.get("id"))
    common: dict[str, Any] = {"provider_id": order_id, "raw": redact(order)}
    captures = _payments(order, "captures")
    taken = [c for c in captures if c.get("status") in _CAPTURED]
    if taken:
        return GatewayResult(outcome=GatewayOutcome.SUCCEEDED, amount=_total(taken), **common)
    if any(c.get("status") == "PENDING" for c in captures):
        return GatewayResult(outcome=GatewayOutcome.PENDING, **common)
    authorization = find_authorization(order)
    if authorization is not None:
        result = authorization_result(authorization, operation=operation)
        return GatewayResult(
            outcome=result.outcome,
            amount=result.amount,
            decline_code=result.decline_code,
            message=result.message,
            **common,
        )
    if captures:  # only declined or failed captures
        last = captures[-1]
        return GatewayResult(
            outcome=GatewayOutcome.DECLINED,
            decline_code=_processor_code(last) or str(last.get("status") or "DECLINED"),
            message=_DECLINED_MESSAGE,
            **common,
        )
    status = order.get("status")
    if is_voided(order) or status == "VOIDED":
        if operation == "void":
            return GatewayResult(outcome=GatewayOutcome.SUCCEEDED, **common)
        return GatewayResult(
            outcome=GatewayOutcome.DECLINED,
            decline_code="voided",
            message=_VOIDED_MESSAGE,
            **common,
        )
    if status in ("CREATED", "PAYER_ACTION_REQUIRED"):
        link = _payer_link(order)
        return GatewayResult(
            outcome=GatewayOutcome.REQUIRES_ACTION,
            next_action=NextAction(type="redirect_to_url", redirect_url=link),
            **common,
        )
    if status in ("APPROVED", "SAVED"):
        return GatewayResult(
            outcome=GatewayOutcome.PENDING,
            message="The payer approved the payment; paykit captures it on the next lookup.",
            **common,
        )
    return GatewayResult(
        outcome=GatewayOutcome.UNKNOWN,
        message=f"PayPal reported order status {status!r} without a payment paykit knows.",
        **common,
    )


def authorization_result(authorization: Mapping[str, Any], *, operation: str) -> GatewayResult:
    """The outcome an authorization reports (``succeeded`` for a void that released it)."""
    status = authorization.get("status")
    amount = from_paypal_money(authorization.get("amount"))
    if status == "CREATED":
        return GatewayResult(outcome=GatewayOutcome.AUTHORIZED, amount=amount)
    if status == "PENDING":
        return GatewayResult(outcome=GatewayOutcome.PENDING, amount=amount)
    if status == "VOIDED" and operation == "void":
        return GatewayResult(outcome=GatewayOutcome.SUCCEEDED)
    if status in ("VOIDED", "DENIED"):
        code = "voided" if status == "VOIDED" else _processor_code(authorization) or "DENIED"
        message = _VOIDED_MESSAGE if status == "VOIDED" else _DECLINED_MESSAGE
        return GatewayResult(outcome=GatewayOutcome.DECLINED, decline_code=code, message=message)
    return GatewayResult(
        outcome=GatewayOutcome.UNKNOWN,
        message=f"PayPal reported authorization status {status!r}, unknown to paykit.",
    )


def capture_result(capture: Mapping[str, Any], *, order_id: str | None) -> GatewayResult:
    """The outcome of a capture: succeeded for the captured amount, pending, or declined."""
    status = capture.get("status")
    related = related_order_id(capture)
    common: dict[str, Any] = {
        "provider_id": related or order_id,
        "amount": from_paypal_money(capture.get("amount")),
        "raw": redact(capture),
    }
    if status in _CAPTURED:
        return GatewayResult(outcome=GatewayOutcome.SUCCEEDED, **common)
    if status == "PENDING":
        return GatewayResult(outcome=GatewayOutcome.PENDING, **common)
    if status in ("DECLINED", "FAILED"):
        return GatewayResult(
            outcome=GatewayOutcome.DECLINED,
            decline_code=_processor_code(capture) or str(status),
            message=_DECLINED_MESSAGE,
            **common,
        )
    return GatewayResult(
        outcome=GatewayOutcome.UNKNOWN,
        message=f"PayPal reported capture status {status!r}, unknown to paykit.",
        **common,
    )


def related_order_id(obj: Mapping[str, Any]) -> str | None:
    """The order id a capture or authorization names in ``supplementary_data``."""
    data = obj.get("supplementary_data")
    related = data.get("related_ids") if isinstance(data, Mapping) else None
    return _text(related.get("order_id")) if isinstance(related, Mapping) else None


def refund_result(refund: Mapping[str, Any]) -> GatewayResult:
    """The outcome a refund reports: succeeded, pending, or declined (failed / cancelled)."""
    status = refund.get("status")
    common: dict[str, Any] = {
        "provider_id": _text(refund.get("id")),
        "amount": from_paypal_money(refund.get("amount")),
        "raw": redact(refund),
    }
    if status == "COMPLETED":
        return GatewayResult(outcome=GatewayOutcome.SUCCEEDED, **common)
    if status == "PENDING":
        return GatewayResult(outcome=GatewayOutcome.PENDING, **common)
    if status in ("FAILED", "CANCELLED"):
        return GatewayResult(
            outcome=GatewayOutcome.DECLINED,
            decline_code=f"refund_{str(status).lower()}",
            message=_REFUND_FAILED_MESSAGE,
            **common,
        )
    return GatewayResult(
        outcome=GatewayOutcome.UNKNOWN,
        message=f"PayPal reported refund status {status!r}, unknown to paykit.",
        **common,
    )
