"""The report as terminal tables, with rich."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from rich.console import Console
from rich.table import Table

from paykit.analytics._report import Report

__all__ = ["print_report"]

ABSENT: Final = "-"
"""What an absent figure (a rate with nothing to divide by) shows as."""

_PAYMENT_TABLE: Final = (
    ("created", "Created"),
    ("completed", "Completed"),
    ("failed", "Failed"),
    ("success_rate", "Success"),
    ("first_attempt_success_rate", "1st try"),
    ("three_ds_rate", "3DS"),
    ("three_ds_completion_rate", "3DS done"),
    ("captured_amount", "Captured"),
    ("refunded_amount", "Refunded"),
    ("chargeback_amount", "Chargebacks"),
    ("net_revenue", "Net"),
    ("average_order_value", "AOV"),
    ("refund_rate", "Refund rate"),
    ("disputes", "Disputes"),
    ("dispute_rate", "Dispute rate"),
    ("fraud_blocked", "Blocked"),
    ("fraud_reviewed", "Reviewed"),
)
_RATES: Final = frozenset(name for name, _ in _PAYMENT_TABLE if name.endswith("rate"))


def _cell(name: str, value: object) -> str:
    if value is None:
        return ABSENT
    if name in _RATES or name == "share":
        return f"{Decimal(str(value)) * 100:.1f} %"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M") if value.hour else value.strftime("%Y-%m-%d")
    if isinstance(value, timedelta):
        return f"{value.total_seconds() / 3600:.1f} h"
    return str(value)


def _table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]], keys: int) -> Table:
    table = Table(title=title, title_justify="left")
    for index, header in enumerate(headers):
        table.add_column(header, justify="left" if index < keys else "right")
    for row in rows:
        table.add_row(*row)
    return table


def print_report(report: Report, console: Console) -> None:
    """Print the payments, declines and refunds-by-reason tables."""
    keys = report.key_columns()
    payment_rows = [
        [
            *(_cell(k, getattr(row.key, k)) for k in keys),
            *(_cell(name, getattr(row, name)) for name, _ in _PAYMENT_TABLE),
        ]
        for row in report.payments
    ]
    headers = [*keys, *(header for _, header in _PAYMENT_TABLE)]
    if not report.payments:
        console.print("No payments in this range.")
        return
    console.print(_table("Payments", headers, payment_rows, len(keys)))
    if report.declines:
        decline_keys = keys if "decline_code" in keys else [*keys, "decline_code"]
        decline_rows = [
            [
                *(_cell(k, getattr(row.key, k)) for k in decline_keys),
                str(row.count),
                str(row.amount),
                _cell("share", row.share),
            ]
            for row in report.declines
        ]
        console.print(
            _table(
                "Declines",
                [*decline_keys, "Count", "Amount", "Share"],
                decline_rows,
                len(decline_keys),
            )
        )
    if report.refunds_by_reason:
        refund_rows = [
            [
                *(_cell(k, getattr(row.key, k)) for k in keys),
                row.reason,
                str(row.count),
                str(row.amount),
                _cell("time", row.average_time_to_refund),
            ]
            for row in report.refunds_by_reason
        ]
        console.print(
            _table(
                "Refunds by reason",
                [*keys, "Reason", "Count", "Amount", "Avg time to refund"],
                refund_rows,
                len(keys) + 1,
            )
        )
