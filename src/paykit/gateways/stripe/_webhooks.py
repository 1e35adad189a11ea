"""Stripe webhooks: verify the ``Stripe-Signature`` header ourselves, then normalise the event.

Verification is Stripe's documented timestamped HMAC-SHA256 scheme, implemented once in
``paykit.gateways._signatures`` (rotation across several secrets, a 300 s tolerance in both
directions, constant-time comparison). Every failure raises
:class:`~paykit.errors.WebhookSignatureError` (answer HTTP 400) with a
message that names the problem and never a secret or a signature. A verified event of a type
paykit has no use for is returned as ``ignored``, never raised.

Dispute events (``charge.dispute.*``) carry a :class:`~paykit.gateways.base.DisputeDetails`.
Stripe's dispute statuses are paykit's :class:`~paykit.domain.dispute.DisputeStatus` word for
word, plus the appeal stage, which reads as the chargeback it continues:

==========================================  ================================================
Stripe ``status``                           ``DisputeDetails.status``
==========================================  ================================================
``warning_needs_response``                  ``warning_needs_response``
``warning_under_review``                    ``warning_under_review``
``warning_closed``                          ``warning_closed``
``needs_response``                          ``needs_response``
``under_review``                            ``under_review``
``appeal_needs_response``                   ``needs_response`` (``provider_status`` keeps
                                            ``appeal_needs_response``)
``appeal_under_review``                     ``under_review`` (likewise)
``won`` / ``lost`` / ``prevented``          ``won`` / ``lost`` / ``prevented``
==========================================  ================================================

A dispute event paykit cannot describe -- a status not in this table, no dispute id, no
amount -- is returned as ``ignored`` rather than guessed at or raised (an error would only
make Stripe deliver it again, unchanged): its ``raw`` says why under
``paykit_ignored_reason``, and a warning is logged. The next event about the dispute carries
its whole state again.

An amount paykit reads from an event -- a PaymentIntent's ``amount``, ``amount_received``
and ``amount_capturable``, a Refund's or Dispute's ``amount``, a Charge's
``amount_refunded`` -- must be Stripe money when it is there: an integer count of units in
a currency paykit knows (``usd``), not negative and not above paykit's maximum. Anything
else (``"NaN"``, ``12.5``, currency ``"zzz"``) is not an amount paykit will book or guess
at: the event is refused with the :class:`~paykit.errors.ValidationError` naming the field
(``data.object.amount``), which the service answers with 400 and nothing stored, as it
answers a body that is not an event. An amount that is missing or null stays missing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import SecretStr

from paykit.domain.dispute import DisputeStatus
from paykit.errors import WebhookSignatureError
from paykit.gateways._signatures import DEFAULT_TOLERANCE, TimestampedSignature
from paykit.gateways.base import (
    DisputeDetails,
    GatewayOutcome,
    GatewayResult,
    WebhookEvent,
    WebhookEventType,
)
from paykit.gateways.stripe._amounts import from_stripe_amount
from paykit.gateways.stripe._mapping import (
    PAYKIT_PAYMENT_ID,
    PAYKIT_REFUND_ID,
    payment_intent_result,
    redact,
    refund_result,
    stripe_money,
)

__all__ = [
    "DEFAULT_TOLERANCE",
    "DISPUTE_STATUSES",
    "IGNORED_REASON",
    "StripeWebhookVerifier",
    "normalise_event",
]

_LOG = logging.getLogger("paykit.gateways.stripe")

_E = WebhookEventType
_PAYMENT_INTENT_EVENTS: Final = {
    "payment_intent.succeeded": _E.PAYMENT_SUCCEEDED,
    "payment_intent.payment_failed": _E.PAYMENT_FAILED,
    "payment_intent.requires_action": _E.PAYMENT_REQUIRES_ACTION,
    "payment_intent.canceled": _E.PAYMENT_CANCELED,
    "payment_intent.processing": _E.PAYMENT_PROCESSING,
    "payment_intent.amount_capturable_updated": _E.PAYMENT_AUTHORIZED,
}
_REFUND_EVENTS: Final = frozenset(
    {"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"}
)
_DISPUTE_EVENTS: Final = {
    "charge.dispute.created": _E.DISPUTE_CREATED,
    "charge.dispute.updated": _E.DISPUTE_UPDATED,
    "charge.dispute.closed": _E.DISPUTE_CLOSED,
    # Money moving because of a dispute: the dispute object they carry is its current
    # state, as fresh as an update, so they are read as one.
    "charge.dispute.funds_withdrawn": _E.DISPUTE_UPDATED,
    "charge.dispute.funds_reinstated": _E.DISPUTE_UPDATED,
}
_D = DisputeStatus
DISPUTE_STATUSES: Final[dict[str, DisputeStatus]] = {
    **{status.value: status for status in DisputeStatus},
    "appeal_needs_response": _D.NEEDS_RESPONSE,
    "appeal_under_review": _D.UNDER_REVIEW,
}
"""Stripe's dispute ``status`` to paykit's (see the module docstring)."""
IGNORED_REASON: Final = "paykit_ignored_reason"
"""The key of ``raw`` that says why a dispute event was returned as ``ignored``."""
_REFUND_TYPES: Final = {
    GatewayOutcome.SUCCEEDED: _E.REFUND_SUCCEEDED,
    GatewayOutcome.DECLINED: _E.REFUND_FAILED,
    GatewayOutcome.PENDING: _E.REFUND_PENDING,
}


class StripeWebhookVerifier:
    """Checks ``Stripe-Signature`` against one or more endpoint secrets (for rotation)."""

    def __init__(
        self,
        secrets: Sequence[SecretStr],
        *,
        tolerance: int = DEFAULT_TOLERANCE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._signature = TimestampedSignature(
            "Stripe-Signature", secrets, tolerance=tolerance, clock=clock
        )

    def __repr__(self) -> str:
        return f"StripeWebhookVerifier({self._signature!r})"

    def verify(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """Return the event ``body`` holds once its signature and timestamp verify."""
        self._signature.verify(headers, body)
        return _parse_event(body)


def _parse_event(body: bytes) -> dict[str, Any]:
    try:
        event = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        event = None
    if (
        not isinstance(event, dict)
        or event.get("object") != "event"
        or not isinstance(event.get("id"), str)
        or not isinstance(event.get("type"), str)
        or not isinstance(event.get("data"), dict)
    ):
        msg = "the signed body is not a Stripe event"
        raise WebhookSignatureError(msg)
    return event


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _created(value: object) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return None


def normalise_event(event: Mapping[str, Any], *, provider: str) -> WebhookEvent:
    """Normalise a verified Stripe event (``ignored`` for the types paykit has no use for)."""
    event_type = str(event["type"])
    data = event.get("data") or {}
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping):
        obj = {}
    metadata = obj.get("metadata") or {}
    common: dict[str, Any] = {
        "provider": provider,
        "event_id": str(event["id"]),
        "provider_type": event_type,
        "created": _created(event.get("created")),
        "payment_id": _text(metadata.get(PAYKIT_PAYMENT_ID)),
        "raw": redact(event),
    }
    if event_type in _PAYMENT_INTENT_EVENTS and obj.get("object") == "payment_intent":
        _check_money(obj, "amount", "amount_received", "amount_capturable")
        return WebhookEvent(
            type=_PAYMENT_INTENT_EVENTS[event_type],
            provider_payment_id=_text(obj.get("id")),
            result=payment_intent_result(obj, operation="webhook", include_secret=False),
            **common,
        )
    if event_type in _REFUND_EVENTS and obj.get("object") == "refund":
        _check_money(obj, "amount")
        result = refund_result(obj)
        kind = (
            _E.REFUND_FAILED
            if event_type == "refund.failed"
            else _REFUND_TYPES.get(result.outcome, _E.REFUND_PENDING)
        )
        return WebhookEvent(
            type=kind,
            provider_payment_id=_text(obj.get("payment_intent")),
            provider_refund_id=_text(obj.get("id")),
            refund_id=_text(metadata.get(PAYKIT_REFUND_ID)),
            result=result,
            **common,
        )
    if event_type == "charge.refunded" and obj.get("object") == "charge":
        _check_money(obj, "amount_refunded")
        return WebhookEvent(
            type=_E.PAYMENT_REFUNDED,
            provider_payment_id=_text(obj.get("payment_intent")),
            result=_charge_refunded(obj),
            **common,
        )
    if event_type in _DISPUTE_EVENTS and obj.get("object") == "dispute":
        _check_money(obj, "amount")
        dispute, problem = _dispute(obj)
        if dispute is None:
            _LOG.warning(
                "Stripe event %s (%s) is ignored: %s", common["event_id"], event_type, problem
            )
            common["raw"][IGNORED_REASON] = problem
            return WebhookEvent(
                type=_E.IGNORED,
                provider_payment_id=_text(obj.get("payment_intent")),
                **common,
            )
        return WebhookEvent(
            type=_DISPUTE_EVENTS[event_type],
            provider_payment_id=_text(obj.get("payment_intent")),
            dispute=dispute,
            **common,
        )
    return WebhookEvent(
        type=_E.IGNORED,
        provider_payment_id=_text(obj.get("id")) if obj.get("object") == "payment_intent" else None,
        **common,
    )


def _check_money(obj: Mapping[str, Any], *amount_fields: str) -> None:
    """Refuse an object whose amounts paykit reads are there but are not Stripe money.

    Raises the :class:`~paykit.errors.ValidationError` naming the event's field; the lenient
    readers the mapping shares with API answers would only have dropped the amount.
    """
    for name in amount_fields:
        units = obj.get(name)
        if units is not None:
            from_stripe_amount(
                units,
                obj.get("currency"),
                field=f"data.object.{name}",
                currency_field="data.object.currency",
            )


def _charge_refunded(charge: Mapping[str, Any]) -> GatewayResult:
    """``charge.refunded``: ``amount`` is the charge's *total* refunded so far."""
    amount = stripe_money(charge.get("amount_refunded"), charge.get("currency"))
    return GatewayResult(
        outcome=GatewayOutcome.SUCCEEDED,
        provider_id=_text(charge.get("payment_intent")),
        amount=amount,
        raw=redact(charge),
    )


def _dispute(dispute: Mapping[str, Any]) -> tuple[DisputeDetails | None, str]:
    """The dispute, normalised; or ``None`` and why it cannot be described."""
    dispute_id = _text(dispute.get("id"))
    if dispute_id is None:
        return None, "the dispute has no id"
    provider_status = _text(dispute.get("status")) or ""
    status = DISPUTE_STATUSES.get(provider_status)
    if status is None:
        return None, f"dispute {dispute_id} has status {provider_status!r}, unknown to paykit"
    amount = stripe_money(dispute.get("amount"), dispute.get("currency"))
    if amount is None:
        return None, f"dispute {dispute_id} has no amount paykit can read"
    details = dispute.get("evidence_details")
    due_by = _created(details.get("due_by")) if isinstance(details, Mapping) else None
    return DisputeDetails(
        provider_dispute_id=dispute_id,
        status=status,
        amount=amount,
        reason=_text(dispute.get("reason")) or "",
        provider_status=provider_status,
        evidence_due_by=due_by,
    ), ""
