"""Payment analytics: volume, success, revenue, refunds and disputes, per currency.

``Analytics(storage).payments(query)`` answers from the storage itself: ``GROUP BY`` in the
database for :class:`~paykit.storage.sql.SqlStorage`, plain Python for
:class:`~paykit.storage.memory.InMemoryStorage`; both give the same records. See
docs/analytics.md for each figure's definition.
"""

from __future__ import annotations

from paykit.analytics._analytics import Analytics, Overview
from paykit.analytics._model import (
    AnalyticsQuery,
    DeclineFigures,
    Dimension,
    GroupKey,
    PaymentFigures,
    RefundReasonFigures,
)

__all__ = [
    "Analytics",
    "AnalyticsQuery",
    "DeclineFigures",
    "Dimension",
    "GroupKey",
    "Overview",
    "PaymentFigures",
    "RefundReasonFigures",
]
