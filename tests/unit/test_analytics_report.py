"""``paykit report``: the table, JSON and CSV of a hand-built history, and the charts."""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import pytest
from test_analytics import hand_history

from paykit.analytics import Analytics, AnalyticsQuery
from paykit.analytics._report_cli import add_report_command, main
from paykit.storage.sql import SqlStorage


@pytest.fixture
def database(tmp_path: Path) -> str:
    """A SQLite file holding the hand-built history of test_analytics.py."""
    url = f"sqlite:///{tmp_path / 'report.db'}"
    storage = SqlStorage(url)
    storage.upgrade()
    hand_history().save(storage)
    storage.dispose()
    return url


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["report", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_has_the_exact_figures(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Amounts and rates are exact strings; absent rates are null."""
    code, out, _ = _run(capsys, "--database", database, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["query"] == {
        "since": None,
        "until": None,
        "by": [],
        "currency": None,
        "time_zone": "UTC",
    }
    eur, gbp, usd = report["payments"]
    assert (eur["currency"], gbp["currency"], usd["currency"]) == ("EUR", "GBP", "USD")
    assert usd["success_rate"] == "0.500000"
    assert usd["net_revenue"] == "70.00"
    assert usd["average_order_value"] == "75.00"
    assert usd["average_time_to_refund"] == 7200.0
    assert gbp["success_rate"] is None
    assert report["declines"] == [
        {
            "currency": "USD",
            "decline_code": "card_declined",
            "count": 1,
            "amount": "80.00",
            "share": "0.500000",
        },
        {
            "currency": "USD",
            "decline_code": "insufficient_funds",
            "count": 1,
            "amount": "20.00",
            "share": "0.500000",
        },
    ]
    assert report["refunds_by_reason"] == [
        {
            "currency": "USD",
            "reason": "duplicate",
            "count": 1,
            "amount": "30.00",
            "average_time_to_refund": 7200.0,
        }
    ]


def test_csv_has_a_row_per_group(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    """One line per currency and provider; absent figures are empty cells."""
    code, out, _ = _run(capsys, "--database", database, "--csv", "--by", "provider")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["currency"], r["provider"], r["success_rate"]) for r in rows] == [
        ("EUR", "paypal", "1.000000"),
        ("GBP", "sandbox", ""),
        ("USD", "paypal", "0.000000"),
        ("USD", "sandbox", "1.000000"),
        ("USD", "stripe", "0.500000"),
    ]
    assert rows[4]["chargeback_amount"] == "50.00"


def test_table(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Three tables; rates in per cent, absent ones as a dash."""
    code, out, _ = _run(capsys, "--database", database, "--currency", "usd", "--by", "method,day")
    assert code == 0
    assert "Payments" in out
    assert "Declines" in out
    assert "Refunds by reason" in out
    assert "50.0 %" in out
    assert "2024-03-20" in out
    assert "credit_card" in out
    assert "GBP" not in out


def test_the_range_and_zone_options(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Dates are local midnight in --tz; the range is half open."""
    code, out, _ = _run(
        capsys, "--database", database, "--json", "--since", "2024-03-21", "--tz", "Asia/Tokyo"
    )
    assert code == 0
    assert json.loads(out)["payments"] == []  # 12:00 UTC on the 20th is 21:00 in Tokyo
    code, out, _ = _run(
        capsys, "--database", database, "--json", "--since", "2024-03-20", "--tz", "Asia/Tokyo"
    )
    assert len(json.loads(out)["payments"]) == 3


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--by", "fortnight"], "--by fortnight"),
        (["--tz", "Mars/Base"], "--tz 'Mars/Base'"),
        (["--since", "yesterday"], "--since 'yesterday'"),
    ],
)
def test_usage_errors(
    database: str, capsys: pytest.CaptureFixture[str], option: list[str], message: str
) -> None:
    """A bad option is one line on stderr and exit code 2."""
    code, out, err = _run(capsys, "--database", database, *option)
    assert code == 2
    assert out == ""
    assert message in err


def test_the_command_plugs_into_a_parser() -> None:
    """``add_report_command`` adds ``report`` with its runner as the handler."""
    parser = argparse.ArgumentParser()
    add_report_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", "--by", "provider,day", "--json"])
    assert args.command == "report"
    assert args.by == "provider,day"
    assert callable(args.handler)


def test_png_and_html_are_written(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A valid PNG (signature, header chunk, real size) and an HTML page."""
    png, html = tmp_path / "report.png", tmp_path / "report.html"
    code, _, err = _run(capsys, "--database", database, "--chart", str(png), "--html", str(html))
    assert code == 0
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20]), int.from_bytes(data[20:24])
    assert width > 400
    assert height > 300
    assert len(data) > 10_000
    assert "<html" in html.read_text(encoding="utf-8").lower()
    assert f"wrote {png}" in err


def test_the_chart_spec() -> None:
    """Each chart is a Vega-Lite spec over the report's own figures."""
    pytest.importorskip("altair")
    from paykit.analytics._charts import chart_spec  # noqa: PLC0415 - the charts extra
    from paykit.storage.memory import InMemoryStorage  # noqa: PLC0415

    storage = InMemoryStorage()
    hand_history().save(storage)
    spec = chart_spec(Analytics(storage), AnalyticsQuery(currency="USD"))
    (top, bottom) = spec["vconcat"]
    success, net = top["hconcat"]
    declines, reasons = bottom["hconcat"]
    assert success["title"] == "Success rate"
    assert success["mark"] == {"type": "line", "point": True}
    assert success["encoding"]["x"]["field"] == "bucket"
    assert success["data"]["values"] == [
        {
            "bucket": "2024-03-20T00:00:00+00:00",
            "currency": "USD",
            "success_rate": 0.5,
            "net_revenue": 70.0,
        }
    ]
    assert net["encoding"]["y"]["field"] == "net_revenue"
    assert declines["data"]["values"] == [
        {"code": "card_declined", "currency": "USD", "count": 1},
        {"code": "insufficient_funds", "currency": "USD", "count": 1},
    ]
    assert reasons["data"]["values"] == [{"reason": "duplicate", "currency": "USD", "count": 1}]
