"""Applying a provider's dispute event to paykit's dispute record and its payment.

A dispute is created by the first event that names it, whatever its type (the
``dispute.created`` delivery may be the one that got lost), and then follows the provider's
status through the dispute table. A lost dispute books its amount on the payment's
``chargeback_amount``, once, which takes it out of the refundable balance.
"""

from __future__ import annotations

from paykit.domain.dispute import DISPUTE_TRANSITIONS, Dispute, DisputeStatus
from paykit.domain.events import EventType
from paykit.domain.payment import Payment
from paykit.domain.transaction_log import LogType
from paykit.gateways.base import DisputeDetails
from paykit.service._rules.transaction import Transaction

__all__ = ["apply_dispute"]


def apply_dispute(tx: Transaction, payment: Payment, details: DisputeDetails) -> Dispute:
    """Create or move the dispute ``details`` describes, on ``payment``."""
    disputes = tx.uow.disputes
    dispute = disputes.find_by_provider_id(payment.provider, details.provider_dispute_id)
    if dispute is None:
        return _open(tx, payment, details)
    dispute.provider_status = details.provider_status or dispute.provider_status
    dispute.evidence_due_by = details.evidence_due_by or dispute.evidence_due_by
    if details.status is dispute.status:
        dispute.updated_at = tx.now
        disputes.update(dispute)
        _log(tx, LogType.DISPUTE_UPDATED, dispute, f"dispute still {dispute.status}")
        return dispute
    if details.status not in DISPUTE_TRANSITIONS[dispute.status]:
        said = f"provider says dispute {dispute.provider_dispute_id} is {details.status}"
        if dispute.is_closed and details.status in _DECIDED and dispute.status in _DECIDED:
            tx.flag_for_review(payment, f"{said} but it was {dispute.status}; needs review")
        else:
            _log(tx, LogType.EVENT_IGNORED, dispute, f"{said}; it is {dispute.status}, ignored")
        return dispute
    dispute.transition_to(details.status, tx.now)
    disputes.update(dispute)
    if dispute.is_closed:
        _log(tx, LogType.DISPUTE_CLOSED, dispute, f"dispute {dispute.status}")
        _book_if_lost(tx, payment, dispute)
        tx.emit(EventType.DISPUTE_CLOSED, payment, dispute=dispute)
    else:
        _log(tx, LogType.DISPUTE_UPDATED, dispute, f"dispute now {dispute.status}")
        tx.emit(EventType.DISPUTE_UPDATED, payment, dispute=dispute)
    return dispute


_DECIDED = frozenset({DisputeStatus.WON, DisputeStatus.LOST})


def _open(tx: Transaction, payment: Payment, details: DisputeDetails) -> Dispute:
    dispute = Dispute(
        id=tx.new_id("dp"),
        payment_id=payment.id,
        provider=payment.provider,
        provider_dispute_id=details.provider_dispute_id,
        amount=details.amount,
        reason=details.reason,
        status=details.status,
        provider_status=details.provider_status,
        evidence_due_by=details.evidence_due_by,
        created_at=tx.now,
        updated_at=tx.now,
    )
    if dispute.is_closed:
        dispute.closed_at = tx.now
    tx.uow.disputes.add(dispute)
    due = "" if dispute.evidence_due_by is None else f", evidence due {dispute.evidence_due_by}"
    _log(
        tx,
        LogType.DISPUTE_OPENED,
        dispute,
        f"dispute opened: {dispute.amount} for {dispute.reason or 'no reason given'} "
        f"({dispute.status}{due})",
    )
    tx.emit(EventType.DISPUTE_CREATED, payment, dispute=dispute)
    if dispute.is_closed:  # the provider's earlier events never reached us
        _log(tx, LogType.DISPUTE_CLOSED, dispute, f"dispute {dispute.status}")
        _book_if_lost(tx, payment, dispute)
        tx.emit(EventType.DISPUTE_CLOSED, payment, dispute=dispute)
    return dispute


def _book_if_lost(tx: Transaction, payment: Payment, dispute: Dispute) -> None:
    """Take a lost dispute's amount out of the payment's refundable balance."""
    if dispute.status is not DisputeStatus.LOST:
        return
    if dispute.amount.currency != payment.currency:
        tx.flag_for_review(
            payment,
            f"lost dispute {dispute.provider_dispute_id} is in {dispute.amount.currency} but the "
            f"payment is in {payment.currency}; not booked, needs review",
        )
        return
    room = payment.unreturned_amount
    taken = min(dispute.amount, room)
    payment.chargeback_amount += taken
    payment.updated_at = tx.now
    tx.uow.payments.update(payment)
    tx.log(
        payment.id,
        LogType.DISPUTE_CLOSED,
        f"{taken} taken back by the lost dispute; {payment.refundable_amount} still refundable",
        amount=taken,
        data={"dispute_id": dispute.id, "provider_dispute_id": dispute.provider_dispute_id},
    )
    if taken != dispute.amount or payment.refund_reserved_amount > room - taken:
        tx.flag_for_review(
            payment,
            f"lost dispute of {dispute.amount} on a payment with {room} not yet returned and "
            f"{payment.refund_reserved_amount} of refunds in flight: the customer may be paid "
            "twice; needs review",
        )


def _log(tx: Transaction, log_type: LogType, dispute: Dispute, message: str) -> None:
    tx.log(
        dispute.payment_id,
        log_type,
        message,
        amount=dispute.amount,
        data={  # the entry's own status fields are the payment's; the dispute's go here
            "dispute_id": dispute.id,
            "provider_dispute_id": dispute.provider_dispute_id,
            "dispute_status": str(dispute.status),
            "provider_status": dispute.provider_status,
        },
    )
