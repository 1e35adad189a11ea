"""The manual review queue: approve (capture) or reject (void, or refund) a held payment.

A payment screening sent to ``review`` is authorized, not captured, and its assessment's
``review_state`` is ``pending``. :meth:`Reviews.approve` captures it (when the host asked
for a capture); :meth:`Reviews.reject` voids it, or refunds it in full if it was captured
meanwhile (a reject after an approval). Both write a ``fraud_review`` audit entry naming
who decided. Each is a sequence of steps, so the sync and async services share it.
"""

from __future__ import annotations

from functools import partial
from typing import Final

from paykit.domain.payment import Payment, PaymentStatus
from paykit.domain.risk import ReviewState, RiskAssessment
from paykit.domain.transaction_log import LogType
from paykit.errors import InvalidStateTransition
from paykit.service._context import ServiceContext
from paykit.service._payments import Payments
from paykit.service._refunds import Refunds
from paykit.service._rules.transaction import Transaction
from paykit.service._rules.validation import checked_id, checked_text
from paykit.service._steps import Steps, consult, run_sync, transact

__all__ = ["FRAUD_REFUND_REASON", "Reviews"]

FRAUD_REFUND_REASON: Final = "fraudulent"
"""The ``reason`` of a refund made by rejecting a captured payment in review."""

_P = PaymentStatus
_REFUNDABLE: Final = frozenset({_P.COMPLETED, _P.PARTIALLY_REFUNDED})


class Reviews:
    """Payments held for fraud review (``service.reviews``; flat: ``approve_review``...)."""

    def __init__(self, context: ServiceContext, payments: Payments, refunds: Refunds) -> None:
        self._context = context
        self._payments = payments
        self._refunds = refunds

    def list(self, *, limit: int | None = None) -> list[RiskAssessment]:
        """The review queue: assessments of payments waiting for a person, oldest first."""
        return list(
            self._context.read(
                lambda tx: tx.uow.risk_assessments.list_by_review_state(
                    ReviewState.PENDING, limit=limit
                )
            )
        )

    def get(self, payment_id: str) -> RiskAssessment | None:
        """The fraud assessment of one payment, if it was screened."""
        payment_id = checked_id(payment_id, "payment_id")
        return self._context.read(lambda tx: tx.uow.risk_assessments.find(payment_id))

    def approve(self, payment_id: str, *, by: str) -> Payment:
        """Approve a held payment: log who did, then capture it if the host asked to capture."""
        return run_sync(self._context, self.approve_steps(payment_id, by=by))

    def approve_steps(self, payment_id: str, *, by: str) -> Steps[Payment]:
        """:meth:`approve` as steps, for either driver."""
        payment_id = checked_id(payment_id, "payment_id")
        by = checked_text(by, "by", max_length=255)
        payment = yield from transact(
            partial(_decide, payment_id=payment_id, by=by, state=ReviewState.APPROVED)
        )
        if payment.status is _P.AUTHORIZED and payment.capture:
            return (yield from self._payments.capture_steps(payment_id))
        return payment

    def reject(self, payment_id: str, *, by: str) -> Payment:
        """Reject a held (or approved) payment: void it, or refund it if it was captured."""
        return run_sync(self._context, self.reject_steps(payment_id, by=by))

    def reject_steps(self, payment_id: str, *, by: str) -> Steps[Payment]:
        """:meth:`reject` as steps, for either driver."""
        payment_id = checked_id(payment_id, "payment_id")
        by = checked_text(by, "by", max_length=255)
        payment = yield from transact(
            partial(_decide, payment_id=payment_id, by=by, state=ReviewState.REJECTED)
        )
        if payment.status is _P.AUTHORIZED:
            return (yield from self._payments.void_steps(payment_id))
        if payment.status in _REFUNDABLE and not payment.refundable_amount.is_zero():
            refund = yield from consult(
                partial(
                    self._refunds.create,
                    payment_id,
                    reason=FRAUD_REFUND_REASON,
                    metadata={"fraud_review_by": by},
                    idempotency_key=f"fraud-review-reject:{payment_id}",
                )
            )
            yield from self._refunds.process_steps(refund.id)
            return (yield from self._payments.get_steps(payment_id))
        return payment


_FROM: Final = {
    ReviewState.APPROVED: frozenset({ReviewState.PENDING}),
    ReviewState.REJECTED: frozenset({ReviewState.PENDING, ReviewState.APPROVED}),
}


def _decide(tx: Transaction, *, payment_id: str, by: str, state: ReviewState) -> Payment:
    payment = tx.uow.payments.get(payment_id)
    assessment = tx.uow.risk_assessments.find(payment_id)
    current = ReviewState.NONE if assessment is None else assessment.review_state
    if assessment is None or current not in _FROM[state]:
        verb = "approve" if state is ReviewState.APPROVED else "reject"
        msg = f"cannot {verb} payment {payment_id}: its fraud review is {current}"
        raise InvalidStateTransition(msg, current=str(current), requested=str(state))
    assessment.review_state = state
    assessment.reviewed_by = by
    assessment.reviewed_at = tx.now
    assessment.updated_at = tx.now
    tx.uow.risk_assessments.update(assessment)
    tx.log(
        payment.id,
        LogType.FRAUD_REVIEW,
        f"fraud review {state} by {by}",
        data={"review_state": str(state), "previous_state": str(current), "by": by},
    )
    return payment
