"""The webhook inbox's rules: record an event once, apply it, and apply it late if need be.

:func:`receive` runs inside one unit of work: it looks the event up by ``(provider,
event_id)``, applies it to the payment, refund or dispute it concerns, and stores it -- so
either both happen or neither does, and a duplicate delivery finds the stored entry and
changes nothing. An event about a payment or refund paykit does not know yet is stored as
``unmatched``; :func:`apply_waiting_events` applies it once its record turns up (called when
a charge or refund answer records the provider's id, and by reconciliation sweeps).

Entries keep the normalised event (``paykit.gateways._event_codec``), not the raw request:
its signature could not be checked again later, and the normalised form is what paykit
applies.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Final, NamedTuple

from paykit.domain.payment import Payment
from paykit.domain.refund import Refund
from paykit.domain.transaction_log import LogType
from paykit.domain.webhook_inbox import InboxEntry, InboxStatus
from paykit.gateways._event_codec import event_from_payload, event_to_payload
from paykit.gateways.base import (
    GatewayResult,
    WebhookEvent,
    WebhookEventType,
)
from paykit.service._rules.disputes import apply_dispute
from paykit.service._rules.matching import Match, match_payment, match_refund
from paykit.service._rules.provider_keys import Operation
from paykit.service._rules.settlement import (
    apply_payment_result,
    apply_refund_result,
    learn_provider_payment_id,
    learn_provider_refund_id,
    result_data,
)
from paykit.service._rules.transaction import Transaction

__all__ = [
    "Receipt",
    "RetryCounts",
    "apply_stored",
    "apply_waiting_events",
    "receive",
    "retry_unmatched",
    "settle_payment",
    "settle_refund",
    "store",
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
    entry = _new_entry(tx, event)
    if event.type is _W.IGNORED:
        entry.status = InboxStatus.IGNORED
        inbox.add(entry)
        return Receipt.IGNORED
    payment = _settle_entry(tx, entry, event)
    inbox.add(entry)
    _apply_what_waited(tx, entry, event, payment)
    return Receipt(str(entry.status))


def store(tx: Transaction, event: WebhookEvent) -> Receipt:
    """Record ``event`` in the inbox without applying it, unless it was received before.

    For a host that applies events in the background (``paykit.contrib.celery``): the
    endpoint stores and answers at once, and :func:`apply_stored` applies the entry later.
    Until then it is ``unmatched``, so an unmatched sweep applies it too if the background
    task never runs.
    """
    inbox = tx.uow.webhook_inbox
    if inbox.find(event.provider, event.event_id) is not None:
        return Receipt.DUPLICATE
    entry = _new_entry(tx, event)
    if event.type is _W.IGNORED:
        entry.status = InboxStatus.IGNORED
    inbox.add(entry)
    return Receipt(str(entry.status))


def apply_stored(tx: Transaction, entry: InboxEntry, event: WebhookEvent) -> Receipt:
    """Apply a stored ``unmatched`` entry (``event`` is its event, completed if need be).

    What :func:`receive` does after storing; an entry applied meanwhile (by a sweep, or a
    second delivery of the task) is a duplicate and changes nothing.
    """
    if entry.status is not InboxStatus.UNMATCHED:
        return Receipt.DUPLICATE
    payment = _settle_entry(tx, entry, event)
    if _settled(entry):
        tx.uow.webhook_inbox.update(entry)
    _apply_what_waited(tx, entry, event, payment)
    return Receipt(str(entry.status))


def _settled(entry: InboxEntry) -> bool:
    """Whether applying ``entry`` got anywhere (a function: mypy cannot see the change)."""
    return entry.status is not InboxStatus.UNMATCHED


def _new_entry(tx: Transaction, event: WebhookEvent) -> InboxEntry:
    return InboxEntry(
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


def _apply_what_waited(
    tx: Transaction, entry: InboxEntry, event: WebhookEvent, payment: Payment | None
) -> None:
    if entry.status is InboxStatus.APPLIED and payment is not None:
        # Applying it may have taught paykit the provider's id earlier events waited for.
        apply_waiting_events(
            tx,
            event.provider,
            payment_id=payment.id,
            provider_payment_id=payment.provider_payment_id,
        )


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
        _settle_entry(tx, entry, event_from_payload(entry.payload))
        if entry.status is not InboxStatus.UNMATCHED:
            tx.uow.webhook_inbox.update(entry)
            applied += entry.status is InboxStatus.APPLIED
    return applied


def settle_payment(
    tx: Transaction,
    payment: Payment,
    result: GatewayResult,
    operation: Operation,
    *,
    events_waiting: bool = True,
) -> None:
    """Apply the answer to a call paykit made (or a lookup), then the events that waited.

    The one path for every answer that is not a webhook: charge, capture, void and
    reconciliation. If the answer teaches paykit the provider's id, the webhooks that
    overtook it -- stored unmatched, naming only that id -- are applied right after it.
    ``events_waiting=False`` says none wait (the payment was read with
    ``get_noting_waiting_events``), so the inbox is not asked again. (A webhook learns its
    ids through :func:`receive`, which applies the waiting events once for the whole
    delivery.)
    """
    learned = learn_provider_payment_id(tx, payment, result.provider_id)
    apply_payment_result(tx, payment, result, operation)
    if learned and events_waiting:
        apply_waiting_events(tx, payment.provider, provider_payment_id=payment.provider_payment_id)


def settle_refund(
    tx: Transaction, refund_id: str, result: GatewayResult, operation: Operation
) -> Refund:
    """Apply the answer to a refund call or lookup, then the events that waited for its id.

    The refund, its payment and whether events wait for the refund id the answer gives are
    one read where the storage can.
    """
    refund, payment, waiting = tx.uow.refunds.get_with_payment_noting_waiting_events(
        refund_id, result.provider_id
    )
    learned = learn_provider_refund_id(tx, refund, result.provider_id)
    apply_refund_result(tx, refund, payment, result, operation)
    if learned and waiting:
        apply_waiting_events(tx, payment.provider, provider_refund_id=refund.provider_refund_id)
    return refund


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
        _settle_entry(tx, entry, event_from_payload(entry.payload))
        if entry.status is not InboxStatus.UNMATCHED:
            applied += entry.status is InboxStatus.APPLIED
        elif expire_before is not None and entry.received_at < expire_before:
            entry.status = InboxStatus.EXPIRED
            expired += 1
        else:
            continue
        inbox.update(entry)
    return RetryCounts(applied, expired, len(inbox.list_unmatched()))


def _settle_entry(tx: Transaction, entry: InboxEntry, event: WebhookEvent) -> Payment | None:
    """Apply ``event`` and record on ``entry`` what became of it; return the payment it names.

    The entry ends ``applied``, ``ignored`` (its ids named two records: flagged for review,
    applied to neither) or stays ``unmatched`` (paykit does not know its record yet).
    """
    match = _match(tx, event)
    if match.contradiction:
        named: list[Payment | Refund | None] = [match.named_by_provider, match.named_by_paykit]
        payments = _flag_contradiction(tx, event, named)
        entry.status = InboxStatus.IGNORED
        entry.payment_id = payments[0].id
        return payments[0]
    payment = None if match.record is None else _apply(tx, event, match.record)
    if payment is not None:
        entry.status = InboxStatus.APPLIED
        entry.payment_id = payment.id
        entry.applied_at = tx.now
    return payment


def _match(tx: Transaction, event: WebhookEvent) -> Match[Payment] | Match[Refund]:
    if event.type in _REFUND_EVENTS:
        return match_refund(tx, event)
    return match_payment(tx, event)


def _flag_contradiction(
    tx: Transaction, event: WebhookEvent, named: list[Payment | Refund | None]
) -> list[Payment]:
    """Flag each payment an event with crossed ids names (that of each refund it names)."""
    ids = ", ".join(record.id for record in named if record is not None)
    message = (
        f"{event.provider} event {event.event_id} ({event.provider_type}) names {ids} by its "
        "provider id and by paykit's id: not applied, needs review"
    )
    flagged: list[Payment] = []
    for record in named:
        if record is None:
            continue
        refund_id = record.id if isinstance(record, Refund) else None
        payment = record if isinstance(record, Payment) else tx.uow.payments.get(record.payment_id)
        if payment.id not in {done.id for done in flagged}:
            tx.flag_for_review(payment, message, refund_id=refund_id)
            flagged.append(payment)
    return flagged


def _apply(tx: Transaction, event: WebhookEvent, record: Payment | Refund) -> Payment:
    """Apply ``event`` to the payment or refund it was matched to; return the payment."""
    if isinstance(record, Refund):
        return _apply_to_refund(tx, event, record)
    payment = record
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
    learn_provider_payment_id(tx, payment, event.provider_payment_id)
    if event.type is _W.PAYMENT_REFUNDED:
        _check_refunded_total(tx, payment, event.result)
    elif event.result is not None:
        apply_payment_result(tx, payment, event.result, Operation.WEBHOOK)


def _apply_to_refund(tx: Transaction, event: WebhookEvent, refund: Refund) -> Payment:
    payment = tx.uow.payments.get(refund.payment_id)
    _log_received(tx, payment, event, refund_id=refund.id)
    if event.result is not None:
        learn_provider_refund_id(tx, refund, event.result.provider_id)
        apply_refund_result(tx, refund, payment, event.result, Operation.WEBHOOK)
    return payment


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
    known = payment.committed_return_amount
    if reported > known:
        tx.flag_for_review(
            payment,
            f"{payment.provider} reports {reported} refunded but paykit knows of {known}: "
            "refunded outside paykit? needs review",
        )
