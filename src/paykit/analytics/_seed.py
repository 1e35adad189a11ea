"""Histories for tests, the example and the benchmark: records as the service leaves them.

:class:`History` builds payments (with their 3-D Secure log entry), refunds and disputes
directly, and :meth:`History.save` stores them through one unit of work, so any storage
can be filled the same way. :func:`random_history` makes a seeded, realistic mix.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

import attrs

from paykit.domain.automation import ActionKind, ActionMode, ActionStatus, AutomationAction
from paykit.domain.dispute import Dispute, DisputeStatus
from paykit.domain.payment import Payment, PaymentStatus
from paykit.domain.payment_method import PaymentMethodType
from paykit.domain.refund import Refund, RefundStatus
from paykit.domain.risk import FRAUD_BLOCKED, ReviewState, RiskAction, RiskAssessment
from paykit.domain.transaction_log import LogType, TransactionLogEntry
from paykit.money import Money
from paykit.storage.base import Storage

__all__ = ["DECLINE_CODES", "REFUND_REASONS", "History", "random_history"]

_S = PaymentStatus
_SETTLED: Final = frozenset({_S.COMPLETED, _S.PARTIALLY_REFUNDED, _S.REFUNDED})
DECLINE_CODES: Final = ("card_declined", "insufficient_funds", "expired_card", "do_not_honor")
REFUND_REASONS: Final = ("requested_by_customer", "duplicate", "fraudulent", "damaged")
_MIX: Final = (
    ("sandbox", PaymentMethodType.CREDIT_CARD, 40),
    ("stripe", PaymentMethodType.CREDIT_CARD, 25),
    ("stripe", PaymentMethodType.DEBIT_CARD, 10),
    ("paypal", PaymentMethodType.PAYPAL, 15),
    ("manual", PaymentMethodType.BANK_TRANSFER, 10),
)
_CURRENCIES: Final = (("USD", 60, 2), ("EUR", 30, 2), ("JPY", 10, 0))
_STATUSES: Final = (_S.COMPLETED, _S.FAILED, _S.CANCELLED, _S.PENDING, _S.AUTHORIZED, _S.PROCESSING)
_STATUS_WEIGHTS: Final = (78, 14, 4, 2, 1, 1)
_P_THREE_DS: Final = 0.2
_P_ABANDON: Final = 0.1
_P_FIRST_TRY: Final = 0.9
_P_REFUND: Final = 0.08
_P_FULL_REFUND: Final = 0.5
_P_DISPUTE: Final = 0.01
_P_AUTOMATED: Final = 0.3
_P_SCREENED: Final = 0.5
_P_BLOCKED: Final = 0.03
_P_REVIEWED: Final = 0.05


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


@attrs.define
class History:
    """Records to store together."""

    payments: list[Payment] = attrs.field(factory=list)
    refunds: list[Refund] = attrs.field(factory=list)
    disputes: list[Dispute] = attrs.field(factory=list)
    log: list[TransactionLogEntry] = attrs.field(factory=list)
    screenings: list[RiskAssessment] = attrs.field(factory=list)
    actions: list[AutomationAction] = attrs.field(factory=list)

    def payment(  # noqa: PLR0913 - one keyword per fact a figure depends on
        self,
        *,
        created_at: datetime,
        status: PaymentStatus = _S.COMPLETED,
        amount: str = "100.00",
        currency: str = "USD",
        provider: str = "sandbox",
        method: PaymentMethodType = PaymentMethodType.CREDIT_CARD,
        attempts: int = 1,
        decline_code: str | None = None,
        three_ds: bool = False,
    ) -> Payment:
        """Add a payment; a settled one has its whole amount captured."""
        money = Money.of(amount, currency)
        zero = Money.zero(currency)
        settled = status in _SETTLED
        payment = Payment(
            id=_id("pay"),
            customer_id="cus_analytics",
            order_id=_id("ord"),
            payment_method_id=_id("pm"),
            payment_method_type=method,
            provider=provider,
            amount=money,
            status=status,
            captured_amount=money if settled else zero,
            refunded_amount=zero,
            refund_reserved_amount=zero,
            attempt_count=0 if status is _S.PENDING else attempts,
            failure_code=decline_code if status is _S.FAILED else None,
            created_at=created_at,
            updated_at=created_at,
            completed_at=created_at if settled else None,
        )
        self.payments.append(payment)
        if three_ds:
            self.log.append(
                TransactionLogEntry(
                    id=_id("log"),
                    payment_id=payment.id,
                    log_type=LogType.PAYMENT_REQUIRES_ACTION,
                    message="3-D Secure asked",
                    created_at=created_at,
                    previous_status=str(_S.PROCESSING),
                    new_status=str(_S.REQUIRES_ACTION),
                )
            )
        return payment

    def refund(
        self,
        payment: Payment,
        amount: str,
        *,
        after: timedelta,
        reason: str = "requested_by_customer",
        status: RefundStatus = RefundStatus.COMPLETED,
    ) -> Refund:
        """Add a refund of ``payment``; a completed one is booked on the payment."""
        money = Money.of(amount, payment.currency)
        at = payment.created_at + after
        refund = Refund(
            id=_id("re"),
            payment_id=payment.id,
            amount=money,
            reason=reason,
            status=status,
            created_at=at,
            updated_at=at,
            completed_at=at if status is RefundStatus.COMPLETED else None,
        )
        if status is RefundStatus.COMPLETED:
            payment.refunded_amount += money
            full = payment.refunded_amount == payment.captured_amount
            payment.status = _S.REFUNDED if full else _S.PARTIALLY_REFUNDED
        self.refunds.append(refund)
        return refund

    def dispute(self, payment: Payment, amount: str, status: DisputeStatus) -> Dispute:
        """Add a dispute of ``payment``; a lost one is booked as a chargeback."""
        money = Money.of(amount, payment.currency)
        dispute = Dispute(
            id=_id("dp"),
            payment_id=payment.id,
            provider=payment.provider,
            provider_dispute_id=_id("dp"),
            amount=money,
            status=status,
            reason="fraudulent",
            created_at=payment.created_at,
            updated_at=payment.created_at,
        )
        if status is DisputeStatus.LOST:
            payment.chargeback_amount += money
        self.disputes.append(dispute)
        return dispute

    def automate(self, refund: Refund, policy: str) -> AutomationAction:
        """Record that the automated refund policy ``policy`` made ``refund``."""
        action = AutomationAction(
            id=_id("act"),
            policy=policy,
            payment_id=refund.payment_id,
            mode=ActionMode.AUTO,
            status=ActionStatus.DONE,
            kind=ActionKind.REFUND,
            amount=refund.amount,
            reason=refund.reason,
            actor="automation",
            refund_id=refund.id,
            created_at=refund.created_at,
            updated_at=refund.created_at,
        )
        self.actions.append(action)
        return action

    def screen(
        self, payment: Payment, decision: RiskAction, review: ReviewState = ReviewState.NONE
    ) -> RiskAssessment:
        """Record the fraud screening of ``payment``: the rules' decision and its review."""
        assessment = RiskAssessment(
            id=payment.id,
            customer_id=payment.customer_id,
            amount=payment.amount,
            decision=decision,
            review_state=review,
            declined=payment.status is _S.FAILED,
            created_at=payment.created_at,
            updated_at=payment.created_at,
        )
        self.screenings.append(assessment)
        return assessment

    def save(self, storage: Storage) -> None:
        """Store every record in one unit of work."""
        with storage.unit_of_work() as uow:
            for payment in self.payments:
                uow.payments.add(payment)
            for refund in self.refunds:
                uow.refunds.add(refund)
            for dispute in self.disputes:
                uow.disputes.add(dispute)
            for entry in self.log:
                uow.transaction_log.append(entry)
            for assessment in self.screenings:
                uow.risk_assessments.add(assessment)
            for action in self.actions:
                uow.automation_actions.add(action)
            uow.commit()


def random_history(seed: int, payments: int, start: datetime, *, days: int = 30) -> History:
    """A seeded mix: mostly completed, some failed, cancelled, pending, refunds and disputes."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    history = History()
    span = days * 86400
    for _ in range(payments):
        provider, method, _weight = rng.choices(_MIX, weights=[m[2] for m in _MIX])[0]
        currency, _w, exponent = rng.choices(_CURRENCIES, weights=[c[1] for c in _CURRENCIES])[0]
        status = rng.choices(_STATUSES, weights=_STATUS_WEIGHTS)[0]
        units = rng.randint(100, 50_000) if exponent else rng.randint(100, 30_000)
        amount = Decimal(units).scaleb(-exponent)
        three_ds = method is PaymentMethodType.CREDIT_CARD and rng.random() < _P_THREE_DS
        if three_ds and status is _S.COMPLETED and rng.random() < _P_ABANDON:
            status = _S.CANCELLED  # an abandoned challenge
        created = start + timedelta(seconds=rng.randrange(span))
        payment = history.payment(
            created_at=created,
            status=status,
            amount=str(amount),
            currency=currency,
            provider=provider,
            method=method,
            attempts=1 if rng.random() < _P_FIRST_TRY else 2,
            decline_code=rng.choice(DECLINE_CODES),
            three_ds=three_ds,
        )
        _screen_at_random(history, payment, rng, may_block=not three_ds)
        if payment.status is not _S.COMPLETED:
            continue
        if rng.random() < _P_REFUND:
            part = (
                amount
                if rng.random() < _P_FULL_REFUND
                else max(amount / 2, Decimal(1).scaleb(-exponent))
            )
            part = part.quantize(Decimal(1).scaleb(-exponent))
            refund = history.refund(
                payment,
                str(part),
                after=timedelta(hours=rng.randint(1, 24 * 14)),
                reason=rng.choice(REFUND_REASONS),
            )
            if rng.random() < _P_AUTOMATED:
                history.automate(refund, "duplicate_charge")
        elif rng.random() < _P_DISPUTE:
            outcome = rng.choice(
                (DisputeStatus.WON, DisputeStatus.LOST, DisputeStatus.UNDER_REVIEW)
            )
            history.dispute(payment, str(amount), outcome)
    return history


def _screen_at_random(
    history: History, payment: Payment, rng: random.Random, *, may_block: bool
) -> None:
    """Screen about half the payments: allowed mostly, some held for review, a few blocked.

    A blocked one becomes what screening leaves: failed, ``fraud_blocked``, never attempted.
    """
    if rng.random() >= _P_SCREENED:
        return
    draw = rng.random()
    if draw < _P_BLOCKED and may_block:
        payment.status = _S.FAILED
        payment.failure_code = FRAUD_BLOCKED
        payment.attempt_count = 0
        payment.captured_amount = Money.zero(payment.currency)
        payment.completed_at = None
        history.screen(payment, RiskAction.BLOCK)
    elif draw < _P_BLOCKED + _P_REVIEWED and payment.status is not _S.FAILED:
        review = rng.choice((ReviewState.PENDING, ReviewState.APPROVED, ReviewState.REJECTED))
        history.screen(payment, RiskAction.REVIEW, review)
    else:
        history.screen(payment, RiskAction.ALLOW)
