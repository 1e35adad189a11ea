"""Charts of a report, with Vega-Altair; PNG through vl-convert (no browser).

Imported only when a chart is asked for (the ``charts`` extra). Each chart is a Vega-Lite
JSON spec (:func:`chart_spec`), so a test can compare it as data. Altair over matplotlib:
the spec is data a test can assert on, the same spec renders to PNG, SVG and a standalone
HTML page, and vl-convert bundles its renderer, so nothing else needs installing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import altair as alt
import attrs

from paykit.analytics._analytics import Analytics
from paykit.analytics._model import AnalyticsQuery, Dimension

__all__ = ["chart_spec", "report_chart", "save_chart"]

_WIDTH = 360
_HEIGHT = 180


def _over_time(query: AnalyticsQuery) -> AnalyticsQuery:
    """The query by its time bucket alone (by day if it had none)."""
    time = query.time_dimension or Dimension.DAY
    return attrs.evolve(query, by=(time,))


def report_chart(analytics: Analytics, query: AnalyticsQuery) -> alt.VConcatChart:
    """Success rate and net revenue over time, declines by code, refunds by reason."""
    timeline = [
        {
            "bucket": row.key.bucket.isoformat() if row.key.bucket else None,
            "currency": row.key.currency,
            "success_rate": None if row.success_rate is None else float(row.success_rate),
            "net_revenue": float(row.net_revenue),
        }
        for row in analytics.payments(_over_time(query))
    ]
    plain = attrs.evolve(query, by=())
    declines = [
        {"code": row.key.decline_code or "(none)", "currency": row.key.currency, "count": row.count}
        for row in analytics.declines(plain)
    ]
    reasons = [
        {"reason": row.reason, "currency": row.key.currency, "count": row.count}
        for row in analytics.refunds_by_reason(plain)
    ]

    def base(values: list[dict[str, Any]], title: str) -> alt.Chart:
        data = alt.Data(values=values)  # type: ignore[no-untyped-call]
        return alt.Chart(data, title=title).properties(width=_WIDTH, height=_HEIGHT)

    color = alt.Color("currency:N", title="Currency")
    success = (
        base(timeline, "Success rate")
        .mark_line(point=True)
        .encode(
            x=alt.X("bucket:T", title=None),
            y=alt.Y(
                "success_rate:Q",
                title="completed / (completed + failed)",
                axis=alt.Axis(format="%"),
            ),
            color=color,
        )
    )
    net = (
        base(timeline, "Net revenue (per currency, not converted)")
        .mark_line(point=True)
        .encode(x=alt.X("bucket:T", title=None), y=alt.Y("net_revenue:Q", title="net"), color=color)
    )
    decline_chart = (
        base(declines, "Declines by code")
        .mark_bar()
        .encode(
            x=alt.X("count:Q", title="failed payments"), y=alt.Y("code:N", title=None), color=color
        )
    )
    reason_chart = (
        base(reasons, "Refunds by reason")
        .mark_bar()
        .encode(x=alt.X("count:Q", title="refunds"), y=alt.Y("reason:N", title=None), color=color)
    )
    return alt.vconcat(alt.hconcat(success, net), alt.hconcat(decline_chart, reason_chart))


def chart_spec(analytics: Analytics, query: AnalyticsQuery) -> dict[str, Any]:
    """The report chart's Vega-Lite spec, as JSON-ready data."""
    spec: dict[str, Any] = report_chart(analytics, query).to_dict()
    return spec


def save_chart(analytics: Analytics, query: AnalyticsQuery, path: Path) -> None:
    """Write the chart to ``path``: PNG, SVG or (self-contained) HTML by its suffix."""
    chart = report_chart(analytics, query)
    if path.suffix.lower() == ".html":
        chart.save(str(path), inline=True)
    else:
        chart.save(str(path), scale_factor=1.0)
