"""The report: payment figures, declines and refunds by reason, as tables, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import attrs

from paykit.analytics._analytics import Analytics
from paykit.analytics._model import (
    AnalyticsQuery,
    DeclineFigures,
    Dimension,
    GroupKey,
    PaymentFigures,
    RefundReasonFigures,
)

__all__ = [
    "PAYMENT_COLUMNS",
    "Report",
    "build_report",
    "payment_row",
    "report_csv",
    "report_dict",
    "report_json",
]

PAYMENT_COLUMNS: Final = (
    "created",
    "processed",
    "completed",
    "failed",
    "cancelled",
    "success_rate",
    "first_attempt_success_rate",
    "three_ds",
    "three_ds_rate",
    "three_ds_completion_rate",
    "three_ds_abandoned",
    "attempted_amount",
    "captured_amount",
    "refunded_amount",
    "chargeback_amount",
    "net_revenue",
    "average_order_value",
    "refund_count",
    "automated_refunds",
    "manual_refunds",
    "automated_refunded_amount",
    "refund_rate",
    "average_time_to_refund",
    "disputes",
    "disputes_won",
    "disputes_lost",
    "dispute_lost_amount",
    "dispute_rate",
    "screened",
    "fraud_blocked",
    "block_rate",
    "fraud_reviewed",
    "review_rate",
    "reviews_approved",
    "reviews_rejected",
    "disputes_on_allowed",
)
"""The payment figures a report shows, in order (see docs/analytics.md)."""

_KEY_FIELDS: Final = {
    Dimension.PROVIDER: "provider",
    Dimension.METHOD: "method",
    Dimension.STATUS: "status",
    Dimension.DECLINE_CODE: "decline_code",
}


@attrs.frozen
class Report:
    """Everything ``paykit report`` shows, for one query."""

    query: AnalyticsQuery
    payments: list[PaymentFigures]
    declines: list[DeclineFigures]
    refunds_by_reason: list[RefundReasonFigures]

    def key_columns(self) -> list[str]:
        """The key's columns this report splits by, currency first, bucket last."""
        columns = ["currency"]
        columns += [name for dim, name in _KEY_FIELDS.items() if self.query.splits(dim)]
        if self.query.time_dimension is not None:
            columns.append("bucket")
        return columns


def build_report(analytics: Analytics, query: AnalyticsQuery) -> Report:
    """Payments, declines and refunds by reason, from one pass (``Analytics.overview``)."""
    overview = analytics.overview(query)
    return Report(query, overview.payments, overview.declines, overview.refunds_by_reason)


def _plain(value: object) -> object:
    """A JSON-ready value: amounts and rates as exact strings, times in ISO 8601, seconds."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


def _key(key: GroupKey, columns: Sequence[str]) -> dict[str, object]:
    values = attrs.asdict(key, recurse=False)
    return {name: _plain(values[name]) for name in columns}


def payment_row(row: PaymentFigures, columns: Sequence[str]) -> dict[str, object]:
    """One payment row as plain values: its key columns, then :data:`PAYMENT_COLUMNS`."""
    plain = _key(row.key, columns)
    plain.update((name, _plain(getattr(row, name))) for name in PAYMENT_COLUMNS)
    return plain


def report_dict(report: Report) -> dict[str, Any]:
    """The report as one JSON-ready object."""
    query = report.query
    columns = report.key_columns()
    return {
        "query": {
            "since": _plain(query.since),
            "until": _plain(query.until),
            "by": [str(d) for d in query.by],
            "currency": query.currency,
            "time_zone": query.time_zone,
        },
        "payments": [payment_row(row, columns) for row in report.payments],
        "declines": [
            {
                **_key(row.key, [*columns, "decline_code"]),
                "count": row.count,
                "amount": _plain(row.amount),
                "share": _plain(row.share),
            }
            for row in report.declines
        ],
        "refunds_by_reason": [
            {
                **_key(row.key, columns),
                "reason": row.reason,
                "count": row.count,
                "amount": _plain(row.amount),
                "average_time_to_refund": _plain(row.average_time_to_refund),
            }
            for row in report.refunds_by_reason
        ],
    }


def report_json(report: Report) -> str:
    """The report as indented JSON (amounts and rates are strings, so they stay exact)."""
    return json.dumps(report_dict(report), indent=2)


def report_csv(report: Report) -> str:
    """The payment rows as CSV, one line per group; absent figures are empty cells."""
    columns = report.key_columns()
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*columns, *PAYMENT_COLUMNS], lineterminator="\n")
    writer.writeheader()
    for row in report.payments:
        writer.writerow(payment_row(row, columns))
    return out.getvalue()
