"""``paykit report``: payment analytics as terminal tables, JSON, CSV and charts.

The storage is a SQLAlchemy URL (``--database``, default ``$PAYKIT_DATABASE_URL`` or
``sqlite:///paykit.db``) or the storage of the host's service (``--service
module:attribute``, as ``paykit reconcile`` takes it). Nothing is written to the database.
Charts (``--chart out.png``, ``--html out.html``) need the ``charts`` extra, imported only
then.

Exit codes: 0 when the report was printed; 2 for usage errors (a bad date, dimension or
time zone, a missing extra).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final, TextIO
from zoneinfo import ZoneInfo

from paykit.analytics._analytics import Analytics
from paykit.analytics._model import AnalyticsQuery, Dimension, zone_named
from paykit.analytics._report import build_report, report_csv, report_json
from paykit.storage.base import Storage

__all__ = ["DATABASE_ENV", "add_report_command", "build_query", "run_report"]

DATABASE_ENV: Final = "PAYKIT_DATABASE_URL"
_DEFAULT_DATABASE: Final = "sqlite:///paykit.db"
_EXIT_OK: Final = 0
_EXIT_USAGE: Final = 2


def add_report_command(subparsers: Any) -> argparse.ArgumentParser:  # noqa: ANN401 - argparse's private subparsers type
    """Add ``report`` to the ``paykit`` command's subparsers; returns its parser."""
    report: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="payment analytics: volume, success rate, revenue, refunds, disputes",
        description=(
            "Payment analytics per currency, computed in the database: volume, success rate, "
            "3-D Secure, revenue, refunds and disputes, split by --by. See docs/analytics.md."
        ),
    )
    source = report.add_mutually_exclusive_group()
    source.add_argument(
        "--database",
        metavar="URL",
        help=f"a SQLAlchemy URL (default: ${DATABASE_ENV} or {_DEFAULT_DATABASE})",
    )
    source.add_argument(
        "--service",
        metavar="MODULE:ATTRIBUTE",
        help="report on the storage of the application's configured PaymentService",
    )
    report.add_argument("--since", metavar="DATE", help="from this date or ISO datetime, inclusive")
    report.add_argument("--until", metavar="DATE", help="to this date or ISO datetime, exclusive")
    report.add_argument(
        "--by",
        default="",
        metavar="DIMENSIONS",
        help=(
            "comma-separated splits: provider, method, currency, status, decline_code and "
            "one of hour, day, week, month (e.g. --by method,provider,day)"
        ),
    )
    report.add_argument("--currency", help="only this ISO 4217 currency")
    report.add_argument(
        "--tz",
        default="UTC",
        metavar="ZONE",
        help="the time zone of dates and buckets, e.g. Europe/Paris (default: UTC)",
    )
    output = report.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the report as JSON")
    output.add_argument("--csv", action="store_true", help="print the payment rows as CSV")
    report.add_argument("--chart", type=Path, metavar="FILE", help="write charts (PNG or SVG)")
    report.add_argument("--html", type=Path, metavar="FILE", help="write charts as an HTML page")
    report.set_defaults(handler=run_report)
    return report


def _moment(text: str | None, zone: ZoneInfo, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{option} {text!r} is not an ISO date or datetime") from None
    if len(text) <= len("2024-01-01"):
        value = datetime.combine(date.fromisoformat(text), datetime.min.time())
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def build_query(args: argparse.Namespace) -> AnalyticsQuery:
    """The query the options ask for; ``ValueError`` says what is wrong with them."""
    try:
        zone = zone_named(args.tz)
    except ValueError:
        raise ValueError(f"--tz {args.tz!r} is not a known time zone") from None
    names = [name.strip() for name in args.by.split(",") if name.strip()]
    known = {str(d) for d in Dimension}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"--by {','.join(unknown)}: choose from {', '.join(sorted(known))}")
    return AnalyticsQuery(
        since=_moment(args.since, zone, "--since"),
        until=_moment(args.until, zone, "--until"),
        by=tuple(Dimension(name) for name in names),
        currency=args.currency.upper() if args.currency else None,
        time_zone=args.tz,
    )


def _storage(args: argparse.Namespace) -> tuple[Storage, Callable[[], None]]:
    if args.service:
        from paykit.cli import load_service  # noqa: PLC0415 - the CLI imports this module

        return load_service(args.service).storage, lambda: None
    from paykit.storage.sql import SqlStorage  # noqa: PLC0415 - the sql extra

    storage = SqlStorage(args.database or os.environ.get(DATABASE_ENV) or _DEFAULT_DATABASE)
    return storage, storage.dispose


def run_report(
    args: argparse.Namespace, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run ``paykit report`` with parsed options; the exit code."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        query = build_query(args)
    except ValueError as error:
        err.write(f"paykit: error: {error}\n")
        return _EXIT_USAGE
    storage, close = _storage(args)
    try:
        analytics = Analytics(storage)
        report = build_report(analytics, query)
        if args.json:
            out.write(report_json(report) + "\n")
        elif args.csv:
            out.write(report_csv(report))
        else:
            from rich.console import Console  # noqa: PLC0415 - only for tables

            from paykit.analytics._tables import print_report  # noqa: PLC0415

            print_report(report, Console(file=out, width=200))
        for path in (args.chart, args.html):
            if path is None:
                continue
            try:
                from paykit.analytics._charts import save_chart  # noqa: PLC0415 - the extra
            except ModuleNotFoundError as error:
                err.write(
                    f"paykit: error: charts need {error.name}: pip install 'paykit[charts]'\n"
                )
                return _EXIT_USAGE
            save_chart(analytics, query, path)
            err.write(f"wrote {path}\n")
    finally:
        close()
    return _EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """``python -m paykit.analytics._report_cli``: the report without the ``paykit`` command."""
    parser = argparse.ArgumentParser(prog="paykit")
    add_report_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
