"""Staff-only ``GET /analytics/...``: the figures of ``paykit report``, over HTTP.

The bodies are the report's own JSON (:func:`paykit.analytics._report.report_dict`), so the
CLI's ``--json`` and the API answer with the same rows: one per currency and group, with
the key columns (those the query does not split by are ``null`` here), amounts and rates
as exact decimal strings (absent figures are ``null``, never 0), times in RFC 3339. The
models below describe that shape for the OpenAPI document and check every answer against it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict

from paykit.analytics import AnalyticsQuery, Dimension
from paykit.analytics._report import build_report, report_dict
from paykit.api._routing import principal_of
from paykit.api._schemas import DateTime
from paykit.api._scope import require_staff
from paykit.errors import ValidationError
from paykit.service import PaymentService

__all__ = [
    "AnalyticsReportOut",
    "DeclineRowOut",
    "PaymentRowOut",
    "RefundReasonRowOut",
    "add_analytics_routes",
    "analytics_query",
]

_DIMENSIONS: Final = "|".join(dimension.value for dimension in Dimension)
_BY_PATTERN: Final = f"^(({_DIMENSIONS})(,({_DIMENSIONS}))*)?$"


class _Row(BaseModel):
    """The group a row describes: currency always, the other columns when split by them."""

    model_config = ConfigDict(extra="forbid")

    currency: str
    provider: str | None = None
    method: str | None = None
    status: str | None = None
    decline_code: str | None = None
    bucket: datetime | None = None


class PaymentRowOut(_Row):
    """Every payment figure of one group (docs/analytics.md defines each)."""

    created: int
    processed: int
    completed: int
    failed: int
    cancelled: int
    success_rate: str | None
    first_attempt_success_rate: str | None
    three_ds: int
    three_ds_rate: str | None
    three_ds_completion_rate: str | None
    three_ds_abandoned: int
    attempted_amount: str
    captured_amount: str
    refunded_amount: str
    chargeback_amount: str
    net_revenue: str
    average_order_value: str | None
    refund_count: int
    automated_refunds: int
    manual_refunds: int
    automated_refunded_amount: str
    refund_rate: str | None
    average_time_to_refund: float | None
    """Seconds, or ``null`` when nothing was refunded."""
    disputes: int
    disputes_won: int
    disputes_lost: int
    dispute_lost_amount: str
    dispute_rate: str | None
    screened: int
    fraud_blocked: int
    block_rate: str | None
    fraud_reviewed: int
    review_rate: str | None
    reviews_approved: int
    reviews_rejected: int
    disputes_on_allowed: int


class DeclineRowOut(_Row):
    """Failed payments of one group and decline code, and the code's share of the failures."""

    count: int
    amount: str
    share: str | None


class RefundReasonRowOut(_Row):
    """Completed refunds of one group and reason."""

    reason: str
    count: int
    amount: str
    average_time_to_refund: float | None


class QueryOut(BaseModel):
    """The query the figures answer."""

    since: datetime | None
    until: datetime | None
    by: list[str]
    currency: str | None
    time_zone: str


class AnalyticsReportOut(BaseModel):
    """What ``paykit report --json`` prints: payments, declines and refunds by reason."""

    query: QueryOut
    payments: list[PaymentRowOut]
    declines: list[DeclineRowOut]
    refunds_by_reason: list[RefundReasonRowOut]


By = Annotated[
    str,
    Query(
        max_length=200,
        pattern=_BY_PATTERN,
        description=f"Comma-separated splits: {', '.join(d.value for d in Dimension)}",
        examples=["day,method"],
    ),
]
TimeZone = Annotated[str, Query(max_length=64, description="IANA zone of the time buckets")]
CurrencyFilter = Annotated[str | None, Query(min_length=3, max_length=3, examples=["USD"])]


def analytics_query(
    since: DateTime | None = None,
    until: DateTime | None = None,
    by: By = "",
    currency: CurrencyFilter = None,
    time_zone: TimeZone = "UTC",
) -> AnalyticsQuery:
    """The query string as an :class:`AnalyticsQuery`, or a 422 naming the bad parameter."""
    try:
        AnalyticsQuery(time_zone=time_zone)
    except ValueError as error:
        raise ValidationError(str(error), field="time_zone") from None
    try:
        dimensions = tuple(part for part in by.split(",") if part)
        return AnalyticsQuery(
            since=since, until=until, by=dimensions, currency=currency, time_zone=time_zone
        )
    except ValueError as error:
        raise ValidationError(str(error), field="by") from None


Figures = Annotated[AnalyticsQuery, Depends(analytics_query)]


def add_analytics_routes(router: APIRouter, service: PaymentService, responses: Any) -> None:  # noqa: ANN401 - FastAPI's responses table
    """Register ``GET /analytics/`` and its three parts; staff only (403 for a customer)."""

    def report(request: Request, query: AnalyticsQuery) -> dict[str, Any]:
        require_staff(principal_of(request), "read analytics")
        return report_dict(build_report(service.analytics, query))

    @router.get("/analytics/", response_model=AnalyticsReportOut, responses=responses)
    def get_report(request: Request, query: Figures) -> AnalyticsReportOut:
        """Payments, declines and refunds by reason, for payments created in ``[since, until)``."""
        return AnalyticsReportOut.model_validate(report(request, query))

    @router.get("/analytics/payments/", response_model=list[PaymentRowOut], responses=responses)
    def get_payment_figures(request: Request, query: Figures) -> list[PaymentRowOut]:
        """The payment figures only: volume, success, revenue, refunds and disputes."""
        return [PaymentRowOut.model_validate(row) for row in report(request, query)["payments"]]

    @router.get("/analytics/declines/", response_model=list[DeclineRowOut], responses=responses)
    def get_declines(request: Request, query: Figures) -> list[DeclineRowOut]:
        """Failed payments by decline code."""
        return [DeclineRowOut.model_validate(row) for row in report(request, query)["declines"]]

    @router.get("/analytics/refunds/", response_model=list[RefundReasonRowOut], responses=responses)
    def get_refund_reasons(request: Request, query: Figures) -> list[RefundReasonRowOut]:
        """Completed refunds by reason, with the time from payment to refund."""
        rows = report(request, query)["refunds_by_reason"]
        return [RefundReasonRowOut.model_validate(row) for row in rows]
