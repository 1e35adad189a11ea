"""How fast is ``paykit report`` in the database, against loading the rows into Python?

Seeds N payments (default 20,000; ``--payments 1000000`` for the issue's figure) with
refunds, disputes, failures and 3-D Secure log entries, by bulk insert (Core ``insert()``
with 1,000 rows at a time: one multi-row ``VALUES`` statement on SQLite, SQLAlchemy's
batched multi-row ``VALUES`` (insertmanyvalues) on PostgreSQL; a seeded RNG, a
realistic mix of currencies, providers and methods over 90 days), into a SQLite file and
-- when ``PAYKIT_TEST_POSTGRES_URL`` is set -- into PostgreSQL (a schema of its own, dropped
at the end). Then, each in a fresh process so its peak RSS (``resource.getrusage``) is its
own, it times:

* the full report ``--by day,method`` (payments, declines, refunds by reason);
* one success-rate-by-provider query;
* loading every payment, refund, dispute and 3-D Secure log row into Python (through
  paykit's own codec) and computing the same report there;

and prints the times, the ratio and the peak RSS. Run::

    python bench/analytics.py [--payments N] [--repeat R] [--only sqlite|postgresql]

The transaction log is seeded with the 3-D Secure entries only (the ones the report reads);
a production log has several entries per payment, which the 3-D Secure subquery scans.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from _databases import run_on_each_database
from sqlalchemy import insert, select

from paykit.analytics import Analytics, AnalyticsQuery
from paykit.analytics._memory import sums_from_records
from paykit.analytics._model import build_payment_figures, build_reason_figures
from paykit.analytics._report import build_report
from paykit.analytics._seed import DECLINE_CODES, REFUND_REASONS
from paykit.storage.sql import SqlStorage
from paykit.storage.sql._codec import (
    dispute_from_row,
    payment_from_row,
    refund_from_row,
    risk_assessment_from_row,
)

START: Final = datetime(2024, 1, 1, tzinfo=UTC)
DAYS: Final = 90
BATCH: Final = 1000
MIX: Final = (
    ("sandbox", "credit_card", 40),
    ("stripe", "credit_card", 25),
    ("stripe", "debit_card", 10),
    ("paypal", "paypal", 15),
    ("manual", "bank_transfer", 10),
)
CURRENCIES: Final = (("USD", 60, 2), ("EUR", 30, 2), ("JPY", 10, 0))
STATUSES: Final = ("completed", "failed", "cancelled", "pending", "authorized", "processing")
STATUS_WEIGHTS: Final = (78, 14, 4, 2, 1, 1)
REPORT: Final = AnalyticsQuery(by=("day", "method"))
SUCCESS: Final = AnalyticsQuery(by=("provider",))


def _rows(n: int, seed: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(table, row)`` pairs: each payment, then its refund, dispute or 3-D Secure entry."""
    rng = random.Random(seed)
    mix_weights = [m[2] for m in MIX]
    currency_weights = [c[1] for c in CURRENCIES]
    zero = Decimal(0)
    for i in range(n):
        provider, method, _ = rng.choices(MIX, weights=mix_weights)[0]
        currency, _, exponent = rng.choices(CURRENCIES, weights=currency_weights)[0]
        status = rng.choices(STATUSES, weights=STATUS_WEIGHTS)[0]
        amount = Decimal(rng.randint(100, 50_000)).scaleb(-exponent)
        three_ds = method == "credit_card" and rng.random() < 0.2
        if three_ds and status == "completed" and rng.random() < 0.1:
            status = "cancelled"
        created = START + timedelta(seconds=rng.randrange(DAYS * 86400))
        payment_id = f"pay_{i:010d}"
        captured = amount if status == "completed" else zero
        refunded = chargeback = zero
        extra: list[tuple[str, dict[str, Any]]] = []
        if status == "completed" and rng.random() < 0.08:
            refunded = (
                amount
                if rng.random() < 0.5
                else (amount / 2).quantize(Decimal(1).scaleb(-exponent))
            )
            status = "refunded" if refunded == amount else "partially_refunded"
            at = created + timedelta(hours=rng.randint(1, 24 * 14))
            extra.append(("refunds", {
                "id": f"re_{i:010d}", "payment_id": payment_id, "currency": currency,
                "amount": refunded, "reason": rng.choice(REFUND_REASONS), "status": "completed",
                "metadata": {}, "attempt_count": 1, "created_at": at, "updated_at": at,
                "completed_at": at, "version": 1,
            }))  # fmt: skip
        elif status == "completed" and rng.random() < 0.01:
            outcome = rng.choice(("won", "lost", "under_review"))
            chargeback = amount if outcome == "lost" else zero
            extra.append(("disputes", {
                "id": f"dp_{i:010d}", "payment_id": payment_id, "provider": provider,
                "provider_dispute_id": f"dp_{i:010d}", "currency": currency, "amount": amount,
                "reason": "fraudulent", "status": outcome, "provider_status": outcome,
                "created_at": created, "updated_at": created, "version": 1,
            }))  # fmt: skip
        if three_ds:
            extra.append(("transaction_log", {
                "id": f"log_{i:010d}", "payment_id": payment_id,
                "log_type": "payment_requires_action", "message": "3-D Secure",
                "previous_status": "processing", "new_status": "requires_action",
                "data": {}, "created_at": created,
            }))  # fmt: skip
        yield "payments", {
            "id": payment_id, "customer_id": f"cus_{i % 50_000}", "order_id": f"ord_{i}",
            "payment_method_id": f"pm_{i % 70_000}", "payment_method_type": method,
            "provider": provider, "currency": currency, "amount": amount, "capture": True,
            "status": status, "captured_amount": captured, "refunded_amount": refunded,
            "refund_reserved_amount": zero, "chargeback_amount": chargeback,
            "description": "", "metadata": {}, "attempt_count": 0 if status == "pending" else
            (1 if rng.random() < 0.9 else 2),
            "failure_code": rng.choice(DECLINE_CODES) if status == "failed" else None,
            "created_at": created, "updated_at": created, "version": 1,
        }  # fmt: skip
        yield from extra


def seed(storage: SqlStorage, n: int, seed_value: int) -> float:
    """Bulk-insert ``n`` payments and their records; the seconds it took."""
    tables = storage.tables._asdict()
    began = time.perf_counter()
    pending: dict[str, list[dict[str, Any]]] = {
        "payments": [],
        "refunds": [],
        "disputes": [],
        "transaction_log": [],
    }
    order = ("payments", "refunds", "disputes", "transaction_log")
    sqlite = storage.engine.dialect.name == "sqlite"

    def flush(connection: Any) -> None:  # noqa: ANN401 - a SQLAlchemy connection
        for name in order:
            if pending[name]:
                if sqlite:  # one multi-row VALUES statement (its executemany is far slower)
                    connection.execute(insert(tables[name]).values(pending[name]))
                else:  # insertmanyvalues: multi-row VALUES statements, compiled once
                    connection.execute(insert(tables[name]), pending[name])
                pending[name] = []

    with storage.engine.begin() as connection:
        for table, row in _rows(n, seed_value):
            pending[table].append(row)
            if len(pending["payments"]) >= BATCH:
                flush(connection)
        flush(connection)
    return time.perf_counter() - began


def _best(repeat: int, run: Any) -> float:  # noqa: ANN401
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def _in_python(storage: SqlStorage) -> None:
    """Load every row the report needs into records, then aggregate in Python."""
    t = storage.tables
    with storage.engine.connect() as connection:
        payments = [payment_from_row(r) for r in connection.execute(select(t.payments)).mappings()]
        refunds = [refund_from_row(r) for r in connection.execute(select(t.refunds)).mappings()]
        disputes = [dispute_from_row(r) for r in connection.execute(select(t.disputes)).mappings()]
        risks = connection.execute(select(t.risk_assessments)).mappings()
        assessments = {row["id"]: risk_assessment_from_row(row) for row in risks}
        actions = t.automation_actions
        automated = set(
            connection.execute(
                select(actions.c.refund_id).where(actions.c.refund_id.is_not(None))
            ).scalars()
        )
        three_ds = set(
            connection.execute(
                select(t.transaction_log.c.payment_id).where(
                    t.transaction_log.c.new_status == "requires_action"
                )
            ).scalars()
        )
    for query in (REPORT, AnalyticsQuery(by=(*REPORT.by, "decline_code"))):
        sums, reasons = sums_from_records(
            payments,
            refunds,
            disputes,
            three_ds,
            query,
            assessments=assessments,
            automated_refund_ids=automated,
        )
        build_payment_figures(sums, query)
        build_reason_figures(reasons, query)


def measure(url: str, schema: str | None, what: str, repeat: int) -> dict[str, float]:
    """In this (fresh) process: time one thing, and the peak RSS."""
    storage = SqlStorage(url, schema=schema)
    analytics = Analytics(storage)
    runs = {
        "report": lambda: build_report(analytics, REPORT),
        "success": lambda: analytics.payments(SUCCESS),
        "python": lambda: _in_python(storage),
    }
    seconds = _best(repeat, runs[what])
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    storage.dispose()
    return {"seconds": seconds, "rss_mb": rss_mb}


def _child(url: str, schema: str | None, what: str, repeat: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--measure", what, "--url", url, "--repeat", str(repeat)]
    if schema:
        command += ["--schema", schema]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout  # noqa: S603
    result: dict[str, float] = json.loads(out)
    return result


def run(name: str, url: str, schema: str | None, args: argparse.Namespace) -> None:
    """Seed one database and print its figures."""
    storage = SqlStorage(url, schema=schema)
    storage.upgrade()
    seconds = seed(storage, args.payments, args.seed)
    storage.dispose()
    print(f"{name}: seeded {args.payments:,} payments in {seconds:.1f} s")
    report = _child(url, schema, "report", args.repeat)
    success = _child(url, schema, "success", args.repeat)
    python = _child(url, schema, "python", 1)
    print(
        f"  full report --by day,method: {report['seconds']:.3f} s "
        f"(peak RSS {report['rss_mb']:.0f} MB)"
    )
    print(
        f"  success rate by provider:    {success['seconds']:.3f} s "
        f"(peak RSS {success['rss_mb']:.0f} MB)"
    )
    print(
        f"  rows loaded into Python:     {python['seconds']:.3f} s "
        f"(peak RSS {python['rss_mb']:.0f} MB)"
    )
    print(f"  ratio: the database is {python['seconds'] / report['seconds']:.1f}x faster")


def main() -> None:
    """Parse the options; seed and measure, or (``--measure``) measure one thing."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--payments", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="one database only")
    parser.add_argument("--measure", choices=("report", "success", "python"))
    parser.add_argument("--url")
    parser.add_argument("--schema")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.url, args.schema, args.measure, args.repeat)))
        return
    run_on_each_database(
        args.only, "analytics.db", lambda name, url, schema: run(name, url, schema, args)
    )


if __name__ == "__main__":
    main()
