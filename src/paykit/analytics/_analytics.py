"""``Analytics(storage)``: the typed queries, answered by the storage's own backend."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from paykit.analytics._memory import MemorySums, PaymentSums, ReasonSums, memory_sums
from paykit.analytics._model import (
    PAYMENT_COUNTS,
    AnalyticsQuery,
    DeclineFigures,
    Dimension,
    PaymentFigures,
    RawKey,
    RefundReasonFigures,
    build_payment_figures,
    build_reason_figures,
    ratio,
)
from paykit.storage.base import Storage
from paykit.storage.memory import InMemoryStorage

__all__ = ["Analytics", "Overview"]


class Analytics:
    """Payment analytics over a storage: in the database for SQL, in Python for memory.

    Every method takes the same filters and splits (see :class:`AnalyticsQuery`) and returns
    attrs records, one per currency and group: amounts are never added across currencies.
    """

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def _sums(self, query: AnalyticsQuery) -> MemorySums:
        storage: Any = self._storage
        if isinstance(storage, InMemoryStorage):
            return memory_sums(storage, query)
        from paykit.analytics._sql import sql_sums  # noqa: PLC0415 - SQLAlchemy is an extra
        from paykit.storage.sql import SqlStorage  # noqa: PLC0415

        if isinstance(storage, SqlStorage):
            return sql_sums(storage, query)
        raise TypeError(f"analytics needs InMemoryStorage or SqlStorage, not {type(storage)}")

    @staticmethod
    def query(
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        by: Sequence[Dimension | str] = (),
        currency: str | None = None,
        time_zone: str = "UTC",
    ) -> AnalyticsQuery:
        """Build an :class:`AnalyticsQuery` (the same keywords the methods take)."""
        return AnalyticsQuery(
            since=since, until=until, by=tuple(by), currency=currency, time_zone=time_zone
        )

    def payments(self, query: AnalyticsQuery | None = None) -> list[PaymentFigures]:
        """Volume, success, 3-D Secure, revenue, refund and dispute figures per group."""
        query = query or AnalyticsQuery()
        return build_payment_figures(self._sums(query)[0], query)

    def declines(self, query: AnalyticsQuery | None = None) -> list[DeclineFigures]:
        """Failed payments per group and decline code, with each code's share of failures."""
        return self.overview(query).declines

    def refunds_by_reason(self, query: AnalyticsQuery | None = None) -> list[RefundReasonFigures]:
        """Completed refunds per group and reason: count, amount, time from the payment."""
        query = query or AnalyticsQuery()
        return build_reason_figures(self._sums(query)[1], query)

    def overview(self, query: AnalyticsQuery | None = None) -> Overview:
        """Payments, declines and refunds by reason, from one pass over the storage.

        The pass is split by decline code too, then rolled up in Python over the groups
        (never over payments).
        """
        query = query or AnalyticsQuery()
        split = attrs.evolve(query, by=(*query.by, Dimension.DECLINE_CODE))
        sums, reasons = self._sums(split)
        keep_code = query.splits(Dimension.DECLINE_CODE)
        rolled: PaymentSums = {}
        rolled_reasons: ReasonSums = {}
        for key, (counts, amounts) in sums.items():
            whole = key if keep_code else (*key[:4], None, key[5])
            target = rolled.get(whole)
            if target is None:
                rolled[whole] = (list(counts), list(amounts))
                continue
            for index, value in enumerate(counts):
                target[0][index] += value
            for index, amount in enumerate(amounts):
                target[1][index] += amount
        for (key, reason), (count, amount, seconds) in reasons.items():
            whole = key if keep_code else (*key[:4], None, key[5])
            old = rolled_reasons.get((whole, reason), (0, Decimal(0), 0))
            rolled_reasons[whole, reason] = (old[0] + count, old[1] + amount, old[2] + seconds)
        failed_of = {key: entry[0][_FAILED] for key, entry in rolled.items()}
        declines = [
            DeclineFigures(
                key=row.key,
                count=row.failed,
                amount=row.failed_amount,
                share=ratio(
                    row.failed,
                    failed_of.get(_raw_of(row, keep_code=keep_code), 0),
                ),
            )
            for row in build_payment_figures(sums, split)
            if row.failed
        ]
        return Overview(
            payments=build_payment_figures(rolled, query),
            declines=declines,
            refunds_by_reason=build_reason_figures(rolled_reasons, query),
        )


_FAILED = PAYMENT_COUNTS.index("failed")


def _raw_of(row: PaymentFigures, *, keep_code: bool) -> RawKey:
    key = row.key
    bucket = None if key.bucket is None else key.bucket.replace(tzinfo=None)
    code = key.decline_code if keep_code else None
    return (key.currency, key.provider, key.method, key.status, code, bucket)


@attrs.frozen
class Overview:
    """What ``paykit report`` shows: the three kinds of rows for one query."""

    payments: list[PaymentFigures]
    declines: list[DeclineFigures]
    refunds_by_reason: list[RefundReasonFigures]
