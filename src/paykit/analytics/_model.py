"""The query, the group key and the figures: what both implementations answer with.

Both backends (memory and SQL) produce the same thing: for each group key, the sums of a
fixed list of additive columns (:data:`PAYMENT_COUNTS`, :data:`PAYMENT_AMOUNTS`). Every rate,
net and average is derived from those sums here, in one place, so the two backends cannot
disagree on a definition -- only on a sum, which the agreement tests check.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

import attrs

from paykit.domain.payment import PaymentStatus
from paykit.money import currency_exponent

__all__ = [
    "PAYMENT_AMOUNTS",
    "PAYMENT_COUNTS",
    "SUCCEEDED_STATUSES",
    "TIME_DIMENSIONS",
    "AnalyticsQuery",
    "DeclineFigures",
    "Dimension",
    "GroupKey",
    "PaymentFigures",
    "RawKey",
    "RefundReasonFigures",
    "build_payment_figures",
    "build_reason_figures",
    "ratio",
    "zone_named",
]

RATE_PLACES: Final = Decimal("0.000001")
"""Rates are fractions (0.5 is 50 %), rounded half-even to six places."""

SUCCEEDED_STATUSES: Final = frozenset(
    {PaymentStatus.COMPLETED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}
)
"""A payment "completed" for analytics: it took the money, whatever was refunded since."""


class Dimension(StrEnum):
    """What figures can be split by. Currency is always part of the key."""

    PROVIDER = "provider"
    METHOD = "method"
    CURRENCY = "currency"
    STATUS = "status"
    DECLINE_CODE = "decline_code"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


TIME_DIMENSIONS: Final = frozenset({Dimension.HOUR, Dimension.DAY, Dimension.WEEK, Dimension.MONTH})


def _dimensions(value: Sequence[Dimension | str]) -> tuple[Dimension, ...]:
    dims = tuple(dict.fromkeys(Dimension(item) for item in value))
    if len([d for d in dims if d in TIME_DIMENSIONS]) > 1:
        raise ValueError("split by at most one time bucket (hour, day, week or month)")
    return dims


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{value!r} is naive; give an aware datetime")
    return value


def zone_named(name: str) -> ZoneInfo:
    """The IANA time zone ``name``, or a ``ValueError`` that says how to name one.

    ZoneInfo refuses a bad name three ways: KeyError (unknown), ValueError (not a relative
    name), OSError (a folder of zones such as "America"). One error for all.
    """
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        msg = f"unknown time zone {name!r}; give an IANA name such as Europe/Paris"
        raise ValueError(msg) from None


def _zone(value: str) -> str:
    zone_named(value)
    return value


@attrs.frozen(kw_only=True)
class AnalyticsQuery:
    """Which payments to count and how to split them.

    Payments are chosen by their ``created_at``: ``since <= created_at < until``. Refunds and
    disputes are counted with the payment they belong to (a cohort view), so every figure of
    a row describes the same payments.
    """

    since: datetime | None = attrs.field(default=None, converter=_aware)
    until: datetime | None = attrs.field(default=None, converter=_aware)
    by: tuple[Dimension, ...] = attrs.field(default=(), converter=_dimensions)
    currency: str | None = None
    time_zone: str = attrs.field(default="UTC", converter=_zone)

    @property
    def time_dimension(self) -> Dimension | None:
        """The time bucket asked for, if any."""
        return next((d for d in self.by if d in TIME_DIMENSIONS), None)

    def splits(self, dimension: Dimension) -> bool:
        """Whether rows are split by ``dimension``."""
        return dimension in self.by


RawKey = tuple[str, str | None, str | None, str | None, str | None, datetime | None]
"""``(currency, provider, method, status, decline_code, bucket)``; bucket is naive local."""


@attrs.frozen
class GroupKey:
    """One row's place: a ``None`` field is one the query does not split by.

    ``bucket`` is the start of the time bucket, aware, in the query's time zone (its local
    wall-clock start: day buckets start at local midnight, weeks on Monday).
    """

    currency: str
    provider: str | None = None
    method: str | None = None
    status: str | None = None
    decline_code: str | None = None
    bucket: datetime | None = None

    @classmethod
    def from_raw(cls, raw: RawKey, zone: ZoneInfo) -> GroupKey:
        """The key of a backend's raw key."""
        currency, provider, method, status, code, bucket = raw
        return cls(
            currency,
            provider,
            method,
            status,
            code,
            None if bucket is None else bucket.replace(tzinfo=zone),
        )


PAYMENT_COUNTS: Final = (
    "created",
    "processed",
    "completed",
    "failed",
    "cancelled",
    "first_attempt_completed",
    "three_ds",
    "three_ds_completed",
    "three_ds_abandoned",
    "refund_count",
    "refund_seconds",
    "automated_refunds",
    "disputes",
    "disputes_won",
    "disputes_lost",
    "screened",
    "fraud_blocked",
    "fraud_reviewed",
    "reviews_approved",
    "reviews_rejected",
    "disputes_on_allowed",
)
"""The integer columns every backend sums per group, in this order."""

PAYMENT_AMOUNTS: Final = (
    "attempted_amount",
    "captured_amount",
    "failed_amount",
    "refunded_amount",
    "chargeback_amount",
    "dispute_lost_amount",
    "automated_refunded_amount",
)
"""The amount columns every backend sums per group (in the key's currency), in this order."""


def ratio(numerator: int | Decimal, denominator: int | Decimal) -> Decimal | None:
    """``numerator / denominator`` to six places; ``None`` (absent) when nothing to divide by."""
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATE_PLACES, ROUND_HALF_EVEN)


@functools.cache
def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-currency_exponent(currency))


def _in_currency(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(_quantum(currency), ROUND_HALF_EVEN)


@attrs.frozen(kw_only=True)
class PaymentFigures:
    """Every payment figure of one group, in the key's currency. See docs/analytics.md."""

    key: GroupKey
    created: int
    processed: int
    completed: int
    failed: int
    cancelled: int
    first_attempt_completed: int
    three_ds: int
    three_ds_completed: int
    three_ds_abandoned: int
    refund_count: int
    refund_seconds: int
    automated_refunds: int
    """Completed refunds an automated refund policy made (docs/automation.md)."""
    disputes: int
    disputes_won: int
    disputes_lost: int
    screened: int
    """Payments fraud screening decided on (see docs/fraud.md); 0 where it is not used."""
    fraud_blocked: int
    """Failed with ``failure_code="fraud_blocked"``: never sent to the provider."""
    fraud_reviewed: int
    """Held for a person by a ``review`` rule."""
    reviews_approved: int
    reviews_rejected: int
    disputes_on_allowed: int
    """Disputes on payments the rules allowed: the fraud that got through."""
    attempted_amount: Decimal
    captured_amount: Decimal
    failed_amount: Decimal
    refunded_amount: Decimal
    chargeback_amount: Decimal
    dispute_lost_amount: Decimal
    automated_refunded_amount: Decimal

    @property
    def success_rate(self) -> Decimal | None:
        """``completed / (completed + failed - fraud_blocked)``; absent when that is 0.

        As Stripe's glossary defines it: payments blocked by fraud rules never reached the
        provider, so they are not failures of the payment (abandoned 3-D Secure challenges
        end ``cancelled``, which is in neither term).
        """
        return ratio(self.completed, self._attempted_outcomes)

    @property
    def first_attempt_success_rate(self) -> Decimal | None:
        """Completed on the first attempt, over the success rate's denominator."""
        return ratio(self.first_attempt_completed, self._attempted_outcomes)

    @property
    def _attempted_outcomes(self) -> int:
        return self.completed + self.failed - self.fraud_blocked

    @property
    def block_rate(self) -> Decimal | None:
        """Screened payments that a rule blocked; absent when none was screened."""
        return ratio(self.fraud_blocked, self.screened)

    @property
    def review_rate(self) -> Decimal | None:
        """Screened payments that a rule held for review; absent when none was screened."""
        return ratio(self.fraud_reviewed, self.screened)

    @property
    def three_ds_rate(self) -> Decimal | None:
        """Processed payments that were asked for 3-D Secure (or a redirect)."""
        return ratio(self.three_ds, self.processed)

    @property
    def three_ds_completion_rate(self) -> Decimal | None:
        """Of the payments asked for 3-D Secure, those that completed."""
        return ratio(self.three_ds_completed, self.three_ds)

    @property
    def net_revenue(self) -> Decimal:
        """``captured - refunded - lost to chargebacks``."""
        return self.captured_amount - self.refunded_amount - self.chargeback_amount

    @property
    def average_order_value(self) -> Decimal | None:
        """``captured / completed`` in the currency's minor units; absent when none completed."""
        if not self.completed:
            return None
        return _in_currency(self.captured_amount / self.completed, self.key.currency)

    @property
    def refund_rate(self) -> Decimal | None:
        """``refunded / captured`` (amounts); absent when nothing was captured."""
        return ratio(self.refunded_amount, self.captured_amount)

    @property
    def manual_refunds(self) -> int:
        """Completed refunds a person (or the host's code) asked for: not a policy's."""
        return self.refund_count - self.automated_refunds

    @property
    def average_time_to_refund(self) -> timedelta | None:
        """Mean time from a payment's creation to the creation of its completed refunds."""
        if not self.refund_count:
            return None
        return timedelta(seconds=self.refund_seconds / self.refund_count)

    @property
    def dispute_rate(self) -> Decimal | None:
        """``disputes / completed``; absent when none completed."""
        return ratio(self.disputes, self.completed)


@attrs.frozen(kw_only=True)
class DeclineFigures:
    """Failed payments of one group with one decline code (``failure_code``)."""

    key: GroupKey
    count: int
    amount: Decimal
    share: Decimal | None
    """``count / failed`` of the same group without the decline split."""


@attrs.frozen(kw_only=True)
class RefundReasonFigures:
    """Completed refunds of one group with one reason."""

    key: GroupKey
    reason: str
    count: int
    amount: Decimal
    seconds: int

    @property
    def average_time_to_refund(self) -> timedelta | None:
        """Mean time from the payment's creation to the refund's creation."""
        return None if not self.count else timedelta(seconds=self.seconds / self.count)


def _sort_key(key: GroupKey) -> tuple[str, ...]:
    bucket = "" if key.bucket is None else key.bucket.replace(tzinfo=None).isoformat()
    return (
        bucket,
        key.currency,
        key.provider or "",
        key.method or "",
        key.status or "",
        key.decline_code or "",
    )


def build_payment_figures(
    sums: Mapping[RawKey, tuple[Sequence[int], Sequence[Decimal]]], query: AnalyticsQuery
) -> list[PaymentFigures]:
    """Records from the backends' sums, oldest bucket first, then by key."""
    zone = ZoneInfo(query.time_zone)
    rows = []
    for raw, (counts, amounts) in sums.items():
        key = GroupKey.from_raw(raw, zone)
        fields: dict[str, object] = dict(zip(PAYMENT_COUNTS, map(int, counts), strict=True))
        fields.update(
            (name, _in_currency(Decimal(value), key.currency))
            for name, value in zip(PAYMENT_AMOUNTS, amounts, strict=True)
        )
        rows.append(PaymentFigures(key=key, **fields))  # type: ignore[arg-type]
    rows.sort(key=lambda row: _sort_key(row.key))
    return rows


def build_reason_figures(
    sums: Mapping[tuple[RawKey, str], tuple[int, Decimal, int]], query: AnalyticsQuery
) -> list[RefundReasonFigures]:
    """Refund-reason records from the backends' sums, ordered like the payment rows."""
    zone = ZoneInfo(query.time_zone)
    rows = []
    for (raw, reason), (count, amount, seconds) in sums.items():
        key = GroupKey.from_raw(raw, zone)
        rows.append(
            RefundReasonFigures(
                key=key,
                reason=reason,
                count=int(count),
                amount=_in_currency(Decimal(amount), key.currency),
                seconds=int(seconds),
            )
        )
    rows.sort(key=lambda row: (*_sort_key(row.key), row.reason))
    return rows
