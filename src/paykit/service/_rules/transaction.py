"""One unit of work as the service uses it: status moves, their log entries and their events.

Every status change of a payment or refund goes through :meth:`Transaction.move_payment` or
:meth:`Transaction.move_refund`, which ask the state machine, write the log entry and queue
the host event -- so no change can happen without its audit record. :func:`run_in_transaction`
writes the events to the outbox in the same commit and delivers them only after it succeeded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, TypeVar

import attrs

from paykit.domain.dispute import Dispute
from paykit.domain.events import Event, EventType
from paykit.domain.payment import Payment, PaymentStatus
from paykit.domain.refund import Refund, RefundStatus
from paykit.domain.transaction_log import NO_DATA, LogType, TransactionLogEntry
from paykit.errors import ConcurrencyConflict, PaykitError
from paykit.money import Money
from paykit.outbox import OutboxDispatcher
from paykit.storage.base import Storage, UnitOfWork

__all__ = ["Transaction", "run_in_transaction"]

T = TypeVar("T")
A = TypeVar("A", bound=attrs.AttrsInstance)

_P = PaymentStatus
_R = RefundStatus

_PAYMENT_EVENTS: Final = {
    _P.PROCESSING: EventType.PAYMENT_PROCESSING,
    _P.REQUIRES_ACTION: EventType.PAYMENT_REQUIRES_ACTION,
    _P.AUTHORIZED: EventType.PAYMENT_AUTHORIZED,
    _P.COMPLETED: EventType.PAYMENT_COMPLETED,
    _P.FAILED: EventType.PAYMENT_FAILED,
    _P.CANCELLED: EventType.PAYMENT_CANCELLED,
    _P.PARTIALLY_REFUNDED: EventType.PAYMENT_PARTIALLY_REFUNDED,
    _P.REFUNDED: EventType.PAYMENT_REFUNDED,
}

_REFUND_EVENTS: Final = {
    _R.COMPLETED: EventType.REFUND_COMPLETED,
    _R.FAILED: EventType.REFUND_FAILED,
    _R.CANCELLED: EventType.REFUND_CANCELLED,
}


class Transaction:
    """A unit of work plus the clock, the id factory and the events waiting for the commit."""

    def __init__(self, uow: UnitOfWork, now: datetime, new_id: Callable[[str], str]) -> None:
        self.uow = uow
        self.now = now
        self.new_id = new_id
        self.events: list[Event] = []

    def log(  # noqa: PLR0913 - an audit entry has this many facts
        self,
        payment_id: str,
        log_type: LogType,
        message: str,
        *,
        refund_id: str | None = None,
        amount: Money | None = None,
        previous_status: str | None = None,
        new_status: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Append an audit entry."""
        entry = TransactionLogEntry(
            id=self.new_id("log"),
            payment_id=payment_id,
            log_type=log_type,
            message=message,
            created_at=self.now,
            refund_id=refund_id,
            amount=amount,
            previous_status=previous_status,
            new_status=new_status,
            data=data or NO_DATA,
        )
        self.uow.transaction_log.append(entry)

    def emit(
        self,
        event_type: EventType,
        payment: Payment,
        refund: Refund | None = None,
        *,
        dispute: Dispute | None = None,
        detail: str = "",
    ) -> None:
        """Queue a host event: written to the outbox with the unit, delivered after its commit."""
        self.events.append(
            Event(
                id=self.new_id("evt"),
                type=event_type,
                payment=payment,
                refund=refund,
                dispute=dispute,
                detail=detail,
                occurred_at=self.now,
            )
        )

    def flag_for_review(
        self,
        payment: Payment,
        message: str,
        *,
        refund_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Log a contradiction between the provider and paykit and tell the host; change nothing."""
        self.log(payment.id, LogType.NEEDS_REVIEW, message, refund_id=refund_id, data=data)
        self.emit(EventType.PAYMENT_NEEDS_REVIEW, payment, detail=message)

    def move_payment(
        self,
        payment: Payment,
        target: PaymentStatus,
        log_type: LogType,
        message: str,
        *,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Change the payment's status (state machine permitting), log it and queue its event."""
        previous = payment.status
        payment.transition_to(target, self.now)
        self.uow.payments.update(payment)
        self.log(
            payment.id,
            log_type,
            message,
            amount=payment.amount,
            previous_status=previous,
            new_status=target,
            data=data,
        )
        if target in _PAYMENT_EVENTS:
            self.emit(_PAYMENT_EVENTS[target], payment)

    def move_refund(  # noqa: PLR0913 - a refund move also names its payment
        self,
        refund: Refund,
        payment: Payment,
        target: RefundStatus,
        log_type: LogType,
        message: str,
        *,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Change the refund's status (state machine permitting), log it and queue its event."""
        previous = refund.status
        refund.transition_to(target, self.now)
        self.uow.refunds.update(refund)
        self.log(
            refund.payment_id,
            log_type,
            message,
            refund_id=refund.id,
            amount=refund.amount,
            previous_status=previous,
            new_status=target,
            data=data,
        )
        if target in _REFUND_EVENTS:
            self.emit(_REFUND_EVENTS[target], payment, refund)


def run_in_transaction(  # noqa: PLR0913 - the service passes its whole context
    storage: Storage,
    work: Callable[[Transaction], T],
    *,
    clock: Callable[[], datetime],
    new_id: Callable[[str], str],
    outbox: OutboxDispatcher,
    attempts: int,
) -> T:
    """Run ``work`` in a fresh unit of work and commit; retry it from scratch on a conflict.

    A conflict means another unit of work committed first, so every retry re-reads the
    records and re-checks the rules against the winner's result. The unit's events are
    written to the outbox in its commit, and delivered (:class:`OutboxDispatcher`) only
    after it succeeded.

    A rule that ``work`` finds broken is a conflict too when what it read has moved since:
    reads are not a snapshot (see ``paykit.storage.base``), so the unit may have judged a
    pair of records that never existed together -- a refund still processing next to a
    payment that another unit already booked it on. The error stands only if every record
    the unit read is still as it read it; after the last attempt, a rule broken on a stale
    view is raised as a :class:`ConcurrencyConflict`, which is safe to retry.
    """
    for attempt in range(1, attempts + 1):
        with storage.unit_of_work() as uow:
            transaction = Transaction(uow, clock(), new_id)
            try:
                result = work(transaction)
            except PaykitError as error:
                if not uow.has_stale_reads():
                    raise  # judged on records that are all still current: a true refusal
                if attempt == attempts:
                    msg = f"other units of work kept changing what this one read ({error})"
                    raise ConcurrencyConflict(msg) from error
                continue
            staged = outbox.stage(uow, transaction.events, transaction.now)
            try:
                uow.commit()
            except ConcurrencyConflict:
                if attempt == attempts:
                    raise
                continue
        outbox.committed(transaction.events, staged)
        return result
    msg = "unreachable: attempts must be at least 1"  # pragma: no cover
    raise AssertionError(msg)  # pragma: no cover
