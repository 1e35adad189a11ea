"""The analytics over :class:`~paykit.storage.memory.InMemoryStorage`: plain Python sums."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from paykit.analytics._buckets import bucket_start
from paykit.analytics._model import (
    PAYMENT_AMOUNTS,
    PAYMENT_COUNTS,
    SUCCEEDED_STATUSES,
    AnalyticsQuery,
    Dimension,
    RawKey,
)
from paykit.domain.dispute import Dispute, DisputeStatus
from paykit.domain.payment import Payment, PaymentStatus
from paykit.domain.refund import Refund, RefundStatus
from paykit.domain.risk import FRAUD_BLOCKED, ReviewState, RiskAction, RiskAssessment
from paykit.storage.memory import InMemoryStorage

__all__ = ["MemorySums", "memory_sums", "sums_from_records"]

_REQUIRES_ACTION = str(PaymentStatus.REQUIRES_ACTION)

PaymentSums = dict[RawKey, tuple[list[int], list[Decimal]]]
ReasonSums = dict[tuple[RawKey, str], tuple[int, Decimal, int]]
MemorySums = tuple[PaymentSums, ReasonSums]


def _epoch(instant: datetime) -> int:
    return math.floor(instant.timestamp())


def _key(payment: Payment, query: AnalyticsQuery, zone: ZoneInfo) -> RawKey:
    time = query.time_dimension
    return (
        payment.currency,
        payment.provider if query.splits(Dimension.PROVIDER) else None,
        str(payment.payment_method_type) if query.splits(Dimension.METHOD) else None,
        str(payment.status) if query.splits(Dimension.STATUS) else None,
        payment.failure_code if query.splits(Dimension.DECLINE_CODE) else None,
        None if time is None else bucket_start(payment.created_at, time, zone),
    )


def _chosen(payment: Payment, query: AnalyticsQuery) -> bool:
    if query.currency is not None and payment.currency != query.currency:
        return False
    if query.since is not None and payment.created_at < query.since:
        return False
    return query.until is None or payment.created_at < query.until


def sums_from_records(  # noqa: PLR0913 - one argument per kind of record the figures use
    payments: Iterable[Payment],
    refunds: Iterable[Refund],
    disputes: Iterable[Dispute],
    three_ds_payment_ids: set[str],
    query: AnalyticsQuery,
    *,
    assessments: Mapping[str, RiskAssessment] | None = None,
    automated_refund_ids: AbstractSet[str] = frozenset(),
) -> MemorySums:
    """Sum every figure per group over records already in memory.

    ``assessments`` are the fraud screenings by payment id (none: screening not used);
    ``automated_refund_ids`` the refunds automated refund policies made.
    """
    assessments = assessments or {}
    zone = ZoneInfo(query.time_zone)
    refunds_of: defaultdict[str, list[Refund]] = defaultdict(list)
    for refund in refunds:
        if refund.status is RefundStatus.COMPLETED:
            refunds_of[refund.payment_id].append(refund)
    disputes_of: defaultdict[str, list[Dispute]] = defaultdict(list)
    for dispute in disputes:
        disputes_of[dispute.payment_id].append(dispute)

    sums: PaymentSums = {}
    reasons: ReasonSums = {}
    for payment in payments:
        if not _chosen(payment, query):
            continue
        key = _key(payment, query, zone)
        status = payment.status
        completed = status in SUCCEEDED_STATUSES
        failed = status is PaymentStatus.FAILED
        processed = payment.attempt_count > 0
        three_ds = payment.id in three_ds_payment_ids
        created_epoch = _epoch(payment.created_at)
        its_refunds = refunds_of.get(payment.id, [])
        its_disputes = disputes_of.get(payment.id, [])
        lost = [d for d in its_disputes if d.status is DisputeStatus.LOST]
        automated = [r for r in its_refunds if r.id in automated_refund_ids]
        risk = assessments.get(payment.id)
        review = ReviewState.NONE if risk is None else risk.review_state
        allowed = risk is not None and risk.decision is RiskAction.ALLOW
        counts = (
            1,
            int(processed),
            int(completed),
            int(failed),
            int(status is PaymentStatus.CANCELLED),
            int(completed and payment.attempt_count == 1),
            int(three_ds),
            int(three_ds and completed),
            int(three_ds and status is PaymentStatus.CANCELLED),
            len(its_refunds),
            sum(_epoch(r.created_at) - created_epoch for r in its_refunds),
            len(automated),
            len(its_disputes),
            sum(1 for d in its_disputes if d.status is DisputeStatus.WON),
            len(lost),
            int(risk is not None and risk.decision is not None),
            int(failed and payment.failure_code == FRAUD_BLOCKED),
            int(review is not ReviewState.NONE),
            int(review is ReviewState.APPROVED),
            int(review is ReviewState.REJECTED),
            len(its_disputes) if allowed else 0,
        )
        amounts = (
            payment.amount.amount if processed else Decimal(0),
            payment.captured_amount.amount,
            payment.amount.amount if failed else Decimal(0),
            payment.refunded_amount.amount,
            payment.chargeback_amount.amount,
            sum((d.amount.amount for d in lost), Decimal(0)),
            sum((r.amount.amount for r in automated), Decimal(0)),
        )
        entry = sums.get(key)
        if entry is None:
            sums[key] = ([0] * len(PAYMENT_COUNTS), [Decimal(0)] * len(PAYMENT_AMOUNTS))
            entry = sums[key]
        for index, value in enumerate(counts):
            entry[0][index] += value
        for index, amount in enumerate(amounts):
            entry[1][index] += amount
        for refund in its_refunds:
            count, total, seconds = reasons.get((key, refund.reason), (0, Decimal(0), 0))
            reasons[key, refund.reason] = (
                count + 1,
                total + refund.amount.amount,
                seconds + _epoch(refund.created_at) - created_epoch,
            )
    return sums, reasons


def memory_sums(storage: InMemoryStorage, query: AnalyticsQuery) -> MemorySums:
    """Sum every figure per group over a consistent snapshot of the store."""
    with storage.lock:
        payments = list(storage.payments.values())
        refunds = list(storage.refunds.values())
        disputes = list(storage.disputes.values())
        three_ds = {
            payment_id
            for payment_id, entries in storage.log.items()
            if any(str(entry.new_status) == _REQUIRES_ACTION for entry in entries)
        }
        assessments = dict(storage.risk_assessments)
        automated = {
            action.refund_id
            for action in storage.automation_actions.values()
            if action.refund_id is not None
        }
    return sums_from_records(
        payments,
        refunds,
        disputes,
        three_ds,
        query,
        assessments=assessments,
        automated_refund_ids=automated,
    )
