"""The webhook inbox's rules: record an event once, apply it, and apply it late if need be.

:func:`receive` runs inside one unit of work: it looks the event up by ``(provider,
event_id)``, applies it to the payment, refund or dispute it concerns, and stores it -- so
either both happen or neither does, and a duplicate delivery finds the stored entry and
changes nothing. An event about a payment or refund paykit does not know yet is stored as
``unmatched``; :func:`apply_waiting_events` applies it once its record turns up (called when
a charge or refund answer records the provider's id, and by reconciliation sweeps).

Entries keep the normalised event (:func:`event_to_payload`), not the raw request: its
signature could not be checked again later, and the normalised form is what paykit applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, NamedTuple

from paykit._disputes import apply_dispute
from paykit._settlement import apply_payment_result, apply_refund_result, result_data
from paykit._transaction import Transaction
from paykit.domain.dispute import DisputeStatus
from paykit.domain.payment import NextAction, Payment
from paykit.domain.refund import Refund
from paykit.domain.transaction_log import LogType, thaw
from paykit.domain.webhook_inbox import InboxEntry, InboxStatus
from paykit.errors import NotFound
from paykit.gateways.base import (
    DisputeDetails,
    GatewayOutcome,
    GatewayResult,
    WebhookEvent,
    WebhookEventType,
)
from paykit.money import Money

__all__ = [
    "Receipt",
    "RetryCounts",
    "apply_waiting_events",
    "event_from_payload",
    "event_to_payload",
    "receive",
    "retry_unmatched",
]

_W = WebhookEventType

_REFUND_EVENTS: Final = frozenset({_W.REFUND_SUCCEEDED, _W.REFUND_FAILED, _W.REFUND_PENDING})
_DISPUTE_EVENTS: Final = frozenset({_W.DISPUTE_CREATED, _W.DISPUTE_UPDATED, _W.DISPUTE_CLOSED})


class Receipt(StrEnum):
    """What receiving one delivery did."""

    APPLIED = "applied"
    UNMATCHED = "unmatched"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


def receive(tx: Transaction, event: WebhookEvent) -> Receipt:
    """Record ``event`` in the inbox and apply it, unless it was received before."""
    inbox = tx.uow.webhook_inbox
    if inbox.find(event.provider, event.event_id) is not None:
        return Receipt.DUPLICATE
    entry = InboxEntry(
        id=tx.new_id("whk"),
        provider=event.provider,
        event_id=event.event_id,
        event_type=str(event.type),
        provider_type=event.provider_type,
        status=InboxStatus.UNMATCHED,
        payment_id=event.payment_id,
        provider_payment_id=event.provider_payment_id,
        provider_refund_id=event.provider_refund_id,
        received_at=tx.now,
        payload=event_to_payload(event),
    )
    if event.type is _W.IGNORED:
        entry.status = InboxStatus.IGNORED
        inbox.add(entry)
        return Receipt.IGNORED
    payment = _apply(tx, event)
    if payment is not None:
        _mark_applied(tx, entry, payment)
    inbox.add(entry)
    if payment is None:
        return Receipt.UNMATCHED
    # Applying it may have taught paykit the provider's id that earlier events waited for.
    apply_waiting_events(
        tx, event.provider, payment_id=payment.id, provider_payment_id=payment.provider_payment_id
    )
    return Receipt.APPLIED


def apply_waiting_events(  # noqa: PLR0913 - the ids an event may name
    tx: Transaction,
    provider: str,
    *,
    payment_id: str | None = None,
    provider_payment_id: str | None = None,
    provider_refund_id: str | None = None,
    limit: int | None = None,
) -> int:
    """Apply the unmatched events that name any of these ids and now match; return how many.

    With no id at all, every unmatched event of ``provider`` (up to ``limit``) is tried.
    """
    if payment_id is provider_payment_id is provider_refund_id is None and limit is None:
        return 0  # nothing to look for: never scan the whole inbox by accident
    waiting = tx.uow.webhook_inbox.list_unmatched(
        provider=provider,
        payment_id=payment_id,
        provider_payment_id=provider_payment_id,
        provider_refund_id=provider_refund_id,
        limit=limit,
    )
    applied = 0
    for entry in waiting:
        payment = _apply(tx, event_from_payload(entry.payload))
        if payment is not None:
            _mark_applied(tx, entry, payment)
            tx.uow.webhook_inbox.update(entry)
            applied += 1
    return applied


class RetryCounts(NamedTuple):
    """What one retry of the unmatched events did."""

    applied: int
    expired: int
    waiting: int
    """Still unmatched afterwards (this unit's own updates included)."""


def retry_unmatched(tx: Transaction, *, limit: int, expire_before: datetime | None) -> RetryCounts:
    """Try the oldest ``limit`` unmatched events again; give up on the old ones still unmatched.

    For events whose payment appeared without a charge answer teaching paykit the
    provider's id (a payment created by reconciliation, a host that imported records). An
    event received before ``expire_before`` that still matches nothing is marked
    ``expired``: without that, events that can never match (refunds made in the provider's
    dashboard) would fill the oldest ``limit`` for good and newer ones would never be retried.
    """
    inbox = tx.uow.webhook_inbox
    applied = expired = 0
    for entry in inbox.list_unmatched(limit=limit):
        payment = _apply(tx, event_from_payload(entry.payload))
        if payment is not None:
            _mark_applied(tx, entry, payment)
            applied += 1
        elif expire_before is not None and entry.received_at < expire_before:
            entry.status = InboxStatus.EXPIRED
            expired += 1
        else:
            continue
        inbox.update(entry)
    return RetryCounts(applied, expired, len(inbox.list_unmatched()))


def _mark_applied(tx: Transaction, entry: InboxEntry, payment: Payment) -> None:
    entry.status = InboxStatus.APPLIED
    entry.payment_id = payment.id
    entry.applied_at = tx.now


def _apply(tx: Transaction, event: WebhookEvent) -> Payment | None:
    """Apply ``event`` to the record it concerns; ``None`` if paykit does not know it yet."""
    if event.type in _REFUND_EVENTS:
        return _apply_to_refund(tx, event)
    payment = _find_payment(tx, event)
    if payment is None:
        return None
    _log_received(tx, payment, event)
    if payment.provider != event.provider:
        # The payment failed over to another gateway: what the first one says is history.
        tx.log(
            payment.id,
            LogType.EVENT_IGNORED,
            f"event from {event.provider}, which no longer serves this payment; ignored",
        )
    elif event.type in _DISPUTE_EVENTS:
        if event.dispute is not None:
            apply_dispute(tx, payment, event.dispute)
    else:
        _apply_to_payment(tx, payment, event)
    return payment


def _apply_to_payment(tx: Transaction, payment: Payment, event: WebhookEvent) -> None:
    if event.provider_payment_id and payment.provider_payment_id is None:
        payment.provider_payment_id = event.provider_payment_id
        tx.uow.payments.update(payment)
    if event.type is _W.PAYMENT_REFUNDED:
        _check_refunded_total(tx, payment, event.result)
    elif event.result is not None:
        apply_payment_result(tx, payment, event.result, "webhook")


def _apply_to_refund(tx: Transaction, event: WebhookEvent) -> Payment | None:
    refund = _find_refund(tx, event)
    if refund is None:
        return None
    payment = tx.uow.payments.get(refund.payment_id)
    _log_received(tx, payment, event, refund_id=refund.id)
    if event.result is not None:
        apply_refund_result(tx, refund.id, event.result, "webhook")
    return tx.uow.payments.get(refund.payment_id)


def _find_payment(tx: Transaction, event: WebhookEvent) -> Payment | None:
    payments = tx.uow.payments
    if event.payment_id is not None:
        try:
            payment = payments.get(event.payment_id)
        except NotFound:
            payment = None
        # Metadata is the host's to set: trust the id only if the provider ids agree too.
        if payment is not None and (
            event.provider_payment_id is None
            or payment.provider_payment_id in (None, event.provider_payment_id)
        ):
            return payment
    if event.provider_payment_id is not None:
        return payments.find_by_provider_id(event.provider, event.provider_payment_id)
    return None


def _find_refund(tx: Transaction, event: WebhookEvent) -> Refund | None:
    refunds = tx.uow.refunds
    if event.refund_id is not None:
        try:
            refund = refunds.get(event.refund_id)
        except NotFound:
            refund = None
        if refund is not None and refund.provider_refund_id in (None, event.provider_refund_id):
            return refund
    if event.provider_refund_id is not None:
        return refunds.find_by_provider_id(event.provider, event.provider_refund_id)
    return None


def _log_received(
    tx: Transaction, payment: Payment, event: WebhookEvent, *, refund_id: str | None = None
) -> None:
    tx.log(
        payment.id,
        LogType.WEBHOOK_RECEIVED,
        f"{event.provider} event {event.provider_type} ({event.event_id})",
        refund_id=refund_id,
        data={
            "event_id": event.event_id,
            "type": str(event.type),
            "provider_type": event.provider_type,
            **({} if event.result is None else result_data(event.result)),
        },
    )


def _check_refunded_total(tx: Transaction, payment: Payment, result: GatewayResult | None) -> None:
    """A provider reporting more refunded than paykit knows of was refunded behind its back."""
    reported = None if result is None else result.amount
    if reported is None or reported.currency != payment.currency:
        return
    known = payment.refunded_amount + payment.refund_reserved_amount + payment.chargeback_amount
    if reported > known:
        tx.flag_for_review(
            payment,
            f"{payment.provider} reports {reported} refunded but paykit knows of {known}: "
            "refunded outside paykit? needs review",
        )


# -- the stored form of an event ---------------------------------------------------------------


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
