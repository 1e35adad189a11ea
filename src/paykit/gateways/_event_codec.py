"""The stored form of a normalised :class:`~paykit.gateways.base.WebhookEvent`, both ways.

The webhook inbox keeps the normalised event, not the raw request (its signature could not
be checked again later, and the normalised form is what paykit applies): plain JSON that
any storage holds, with amounts as decimal strings and never a client secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from paykit.domain.dispute import DisputeStatus
from paykit.domain.payment import NextAction
from paykit.domain.transaction_log import thaw
from paykit.gateways.base import (
    DisputeDetails,
    GatewayOutcome,
    GatewayResult,
    WebhookEvent,
    WebhookEventType,
)
from paykit.money import Money

__all__ = ["event_from_payload", "event_to_payload"]


def event_to_payload(event: WebhookEvent) -> dict[str, Any]:
    """The JSON-safe form of a normalised event that the inbox keeps."""
    return {
        "provider": event.provider,
        "event_id": event.event_id,
        "type": str(event.type),
        "provider_type": event.provider_type,
        "created": _when(event.created),
        "provider_payment_id": event.provider_payment_id,
        "provider_refund_id": event.provider_refund_id,
        "payment_id": event.payment_id,
        "refund_id": event.refund_id,
        "result": None if event.result is None else _result_payload(event.result),
        "dispute": None if event.dispute is None else _dispute_payload(event.dispute),
        "raw": event.raw,
    }


def event_from_payload(payload: Mapping[str, Any]) -> WebhookEvent:
    """The event :func:`event_to_payload` stored."""
    result = payload.get("result")
    dispute = payload.get("dispute")
    return WebhookEvent(
        provider=payload["provider"],
        event_id=payload["event_id"],
        type=WebhookEventType(payload["type"]),
        provider_type=payload["provider_type"],
        created=_parse_when(payload.get("created")),
        provider_payment_id=payload.get("provider_payment_id"),
        provider_refund_id=payload.get("provider_refund_id"),
        payment_id=payload.get("payment_id"),
        refund_id=payload.get("refund_id"),
        result=None if result is None else _result_from(result),
        dispute=None if dispute is None else _dispute_from(dispute),
        raw=thaw(payload.get("raw") or {}, "webhook payload"),
    )


def _money_payload(money: Money | None) -> dict[str, str] | None:
    return None if money is None else {"amount": str(money.amount), "currency": money.currency}


def _money_from(value: Mapping[str, str] | None) -> Money | None:
    return None if value is None else Money.of(value["amount"], value["currency"])


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _parse_when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _result_payload(result: GatewayResult) -> dict[str, Any]:
    action = result.next_action
    return {
        "outcome": str(result.outcome),
        "provider_id": result.provider_id,
        "amount": _money_payload(result.amount),
        "decline_code": result.decline_code,
        "message": result.message,
        "next_action": None
        if action is None
        else {  # never the client secret: it is not stored anywhere
            "type": action.type,
            "redirect_url": action.redirect_url,
            "instructions": dict(action.instructions),
        },
    }


def _result_from(value: Mapping[str, Any]) -> GatewayResult:
    action = value.get("next_action")
    return GatewayResult(
        outcome=GatewayOutcome(value["outcome"]),
        provider_id=value.get("provider_id"),
        amount=_money_from(value.get("amount")),
        decline_code=value.get("decline_code"),
        message=value.get("message"),
        next_action=None
        if action is None
        else NextAction(
            type=action["type"],
            redirect_url=action.get("redirect_url"),
            instructions=dict(action.get("instructions") or {}),
        ),
    )


def _dispute_payload(details: DisputeDetails) -> dict[str, Any]:
    return {
        "provider_dispute_id": details.provider_dispute_id,
        "status": str(details.status),
        "amount": _money_payload(details.amount),
        "reason": details.reason,
        "provider_status": details.provider_status,
        "evidence_due_by": _when(details.evidence_due_by),
    }


def _dispute_from(value: Mapping[str, Any]) -> DisputeDetails:
    amount = _money_from(value["amount"])
    if amount is None:  # pragma: no cover - _dispute_payload always writes it
        msg = "a stored dispute has no amount"
        raise ValueError(msg)
    return DisputeDetails(
        provider_dispute_id=value["provider_dispute_id"],
        status=DisputeStatus(value["status"]),
        amount=amount,
        reason=value.get("reason") or "",
        provider_status=value.get("provider_status") or "",
        evidence_due_by=_parse_when(value.get("evidence_due_by")),
    )
