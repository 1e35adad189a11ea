"""Payment analytics: seed a few thousand payments in a SQLite file and print the report.

Run it as it is (a temporary database, deleted afterwards), or give a path to keep the
chart of the report (needs ``pip install 'paykit[charts]'``)::

    python examples/analytics_report.py [--chart docs/analytics-chart.png]

The same report from the command line, on your own database::

    paykit report --database sqlite:///paykit.db --by method,provider --since 2024-03-01
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from paykit.analytics import Analytics, AnalyticsQuery
from paykit.analytics._report import build_report
from paykit.analytics._seed import random_history
from paykit.analytics._tables import print_report
from paykit.storage.sql import SqlStorage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--chart", type=Path, help="also write the charts (PNG, SVG or HTML)")
    parser.add_argument("--payments", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        storage = SqlStorage(f"sqlite:///{Path(folder) / 'shop.db'}")
        storage.upgrade()
        # 30 days of a shop's payments: cards, PayPal, bank transfers; USD, EUR and JPY.
        random_history(
            seed=15, payments=args.payments, start=datetime(2024, 3, 1, tzinfo=UTC)
        ).save(storage)
        analytics = Analytics(storage)
        console = Console(width=180)

        # The whole report, split by payment method: every amount stays in its currency.
        print_report(build_report(analytics, AnalyticsQuery(by=("method",))), console)

        # One figure, typed: the success rate of each provider in USD.
        query = AnalyticsQuery(by=("provider",), currency="USD")
        for row in analytics.payments(query):
            rate = "-" if row.success_rate is None else f"{row.success_rate:.1%}"
            print(f"{row.key.provider:>8}: success {rate}, net {row.net_revenue} USD")

        if args.chart:
            from paykit.analytics._charts import save_chart  # noqa: PLC0415 - the extra

            save_chart(analytics, AnalyticsQuery(by=("week",)), args.chart)
            print(f"wrote {args.chart}")
        storage.dispose()


if __name__ == "__main__":
    main()
