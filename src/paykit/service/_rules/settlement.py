"""Applying a provider's answer to a payment or refund.

Shared by processing, reconciliation and webhooks, so that every path obeys the same rules:
the state machine never moves backwards, an answer that settles nothing is logged and
changes nothing, a late answer (a ``payment_failed`` event after ``completed``) is logged as
ignored, and a contradiction -- the provider moved money where paykit says none moved, or
the other way round -- is flagged for review (a log entry and a ``payment.needs_review``
event) rather than silently overwriting what paykit knows.
"""

from __future__ import annotations

from typing import Any, Final

from paykit.domain.events import EventType
from paykit.domain.payment import PAYMENT_TRANSITIONS, Payment, PaymentStatus
from paykit.domain.refund import Refund, RefundStatus
from paykit.domain.transaction_log import LogType
from paykit.gateways.base import EXPIRED, GatewayOutcome, GatewayResult
from paykit.service._rules.provider_keys import Operation
from paykit.service._rules.transaction import Transaction

__all__ = [
    "apply_payment_result",
    "apply_refund_result",
    "fail_refund",
    "learn_provider_payment_id",
    "learn_provider_refund_id",
    "result_data",
]

_P = PaymentStatus
_R = RefundStatus
_O = GatewayOutcome

_TARGETS: Final = {
    _O.SUCCEEDED: _P.COMPLETED,
    _O.AUTHORIZED: _P.AUTHORIZED,
    _O.DECLINED: _P.FAILED,
    _O.REQUIRES_ACTION: _P.REQUIRES_ACTION,
}

_LOG_TYPES: Final = {
    _P.COMPLETED: LogType.PAYMENT_PROCESSED,
    _P.AUTHORIZED: LogType.PAYMENT_AUTHORIZED,
    _P.FAILED: LogType.PAYMENT_FAILED,
    _P.REQUIRES_ACTION: LogType.PAYMENT_REQUIRES_ACTION,
    _P.PROCESSING: LogType.PAYMENT_PROCESSING,
    _P.CANCELLED: LogType.PAYMENT_CANCELLED,
}


_STILL_WAITING: Final = frozenset({_O.PENDING, _O.REQUIRES_ACTION})
_MONEY_TAKEN: Final = frozenset({_P.COMPLETED, _P.AUTHORIZED})
_NOTHING_TAKEN: Final = frozenset({_P.FAILED, _P.CANCELLED})


def result_data(result: GatewayResult) -> dict[str, Any]:
    """What the audit log keeps of a provider answer (adapters strip secrets from ``raw``)."""
    data: dict[str, Any] = {"outcome": str(result.outcome)}
    if result.provider_id:
        data["provider_id"] = result.provider_id
    if result.decline_code:
        data["decline_code"] = result.decline_code
    if result.raw:
        data["provider_response"] = result.raw
    return data


def learn_provider_payment_id(tx: Transaction, payment: Payment, provider_id: str | None) -> bool:
    """Record the provider's id of ``payment`` if paykit did not know it; say whether it did.

    The first id a provider gives is kept: a later answer never renames the payment.
    """
    if not provider_id or payment.provider_payment_id is not None:
        return False
    payment.provider_payment_id = provider_id
    tx.uow.payments.update(payment)
    return True


def learn_provider_refund_id(tx: Transaction, refund: Refund, provider_id: str | None) -> bool:
    """Record the provider's id of ``refund`` (see :func:`learn_provider_payment_id`)."""
    if not provider_id or refund.provider_refund_id is not None:
        return False
    refund.provider_refund_id = provider_id
    tx.uow.refunds.update(refund)
    return True


def _unchanged_log_type(outcome: GatewayOutcome, operation: Operation) -> LogType:
    """How to log an answer that moves nothing: unknown, still waiting, or a confirmation.

    ``reconciled`` is a reconciliation's answer, or any answer that only confirms what paykit
    already has (a second success event for a completed payment).
    """
    if outcome is _O.UNKNOWN:
        return LogType.OUTCOME_UNKNOWN
    if operation is Operation.RECONCILE or outcome not in _STILL_WAITING:
        return LogType.RECONCILED
    return LogType.AWAITING_PROVIDER


def _payment_target(
    payment: Payment, result: GatewayResult, operation: Operation
) -> PaymentStatus | None:
    """The status the provider's answer points to, or ``None`` if it settles nothing."""
    outcome, code = result.outcome, result.decline_code
    if operation is Operation.VOID and outcome is _O.SUCCEEDED:
        return _P.CANCELLED  # the void went through: the hold (or the pending payment) is gone
    if outcome is _O.DECLINED and payment.status is _P.REQUIRES_ACTION and code == EXPIRED:
        return _P.CANCELLED  # the payer let it lapse (an unpaid transfer): nothing failed
    if outcome is _O.DECLINED and payment.status is _P.AUTHORIZED:
        return _P.CANCELLED  # an authorization the provider no longer holds was voided
    if outcome is _O.PENDING and payment.status is _P.REQUIRES_ACTION:
        return _P.PROCESSING  # the customer finished; the provider is still deciding
    return _TARGETS.get(outcome)


def apply_payment_result(
    tx: Transaction, payment: Payment, result: GatewayResult, operation: Operation
) -> None:
    """Move ``payment`` to where the provider's answer says it is.

    An answer that settles nothing (``pending``, ``unknown``) is logged and the payment stays.
    An answer that would move the payment backwards (a late decline after ``completed``) is
    logged as an error and ignored: the state machine never moves back.
    """
    data = result_data(result)
    target = _payment_target(payment, result, operation)
    if target is None or target == payment.status:
        tx.log(
            payment.id,
            _unchanged_log_type(result.outcome, operation),
            f"{operation}: provider says {result.outcome}; payment stays {payment.status}",
            data=data,
        )
        return
    if target not in PAYMENT_TRANSITIONS[payment.status]:
        said = f"{operation}: provider says {result.outcome} but the payment is {payment.status}"
        if target in _MONEY_TAKEN and payment.status in _NOTHING_TAKEN:
            tx.flag_for_review(payment, f"{said}; nothing changed, needs review", data=data)
        else:
            tx.log(payment.id, LogType.EVENT_IGNORED, f"{said}; a late answer, ignored", data=data)
        return
    if target is _P.COMPLETED:
        payment.captured_amount = result.amount or payment.amount
    elif target is _P.FAILED:
        payment.failure_code = result.decline_code
        payment.failure_message = result.message
    elif target is _P.REQUIRES_ACTION:
        action = result.next_action
        payment.next_action = None if action is None else action.without_secret()
    if target is not _P.REQUIRES_ACTION:
        payment.next_action = None
    log_type = _LOG_TYPES[target]
    if payment.status is _P.AUTHORIZED:
        log_type = LogType.PAYMENT_CAPTURED if target is _P.COMPLETED else LogType.PAYMENT_VOIDED
    message = f"{operation}: {result.outcome}"
    if result.message:
        message += f" ({result.message})"
    tx.move_payment(payment, target, log_type, message, data=data)


def apply_refund_result(
    tx: Transaction, refund: Refund, payment: Payment, result: GatewayResult, operation: Operation
) -> None:
    """Settle a ``processing`` refund as the provider's answer says, booking it on ``payment``.

    The caller learns the provider's refund id first (:func:`learn_provider_refund_id`).
    """
    data = result_data(result)
    contradiction = _refund_contradiction(refund, result)
    if contradiction is not None:
        tx.flag_for_review(payment, f"{operation}: {contradiction}", refund_id=refund.id, data=data)
        return
    if refund.status is not _R.PROCESSING or result.outcome in (_O.PENDING, _O.UNKNOWN):
        tx.log(
            payment.id,
            _unchanged_log_type(result.outcome, operation),
            f"refund: provider says {result.outcome}; refund stays {refund.status}",
            refund_id=refund.id,
            data=data,
        )
        return
    if result.outcome is _O.SUCCEEDED:
        tx.move_refund(
            refund, payment, _R.COMPLETED, LogType.REFUND_PROCESSED, "refund completed", data=data
        )
        previous = payment.status
        moved_to = payment.settle_refund(refund.amount, tx.now)
        tx.uow.payments.update(payment)
        if moved_to is not None:
            tx.log(
                payment.id,
                LogType.STATUS_CHANGED,
                f"{payment.refunded_amount} of {payment.captured_amount} refunded",
                amount=payment.refunded_amount,
                previous_status=previous,
                new_status=moved_to,
            )
            tx.emit(
                EventType.PAYMENT_REFUNDED
                if moved_to is _P.REFUNDED
                else EventType.PAYMENT_PARTIALLY_REFUNDED,
                payment,
            )
        return
    fail_refund(tx, refund, payment, result.decline_code, result.message, data)


def _refund_contradiction(refund: Refund, result: GatewayResult) -> str | None:
    """Say how the provider contradicts a settled refund, or ``None`` if it does not."""
    if result.outcome is _O.SUCCEEDED and refund.status in (_R.FAILED, _R.CANCELLED):
        return f"provider says the refund succeeded but it is {refund.status}; needs review"
    if result.outcome is _O.DECLINED and refund.status is _R.COMPLETED:
        return "provider says the refund failed but it is completed; needs review"
    return None


def fail_refund(  # noqa: PLR0913, PLR0917 - the facts of a failure
    tx: Transaction,
    refund: Refund,
    payment: Payment,
    code: str | None,
    message: str | None,
    data: dict[str, Any] | None = None,
) -> None:
    """Mark a processing refund failed and release its reservation on the payment."""
    refund.failure_code = code
    refund.failure_message = message
    tx.move_refund(
        refund,
        payment,
        _R.FAILED,
        LogType.REFUND_FAILED,
        f"refund failed: {message or code}",
        data=data,
    )
    payment.release_refund(refund.amount)
    tx.uow.payments.update(payment)
