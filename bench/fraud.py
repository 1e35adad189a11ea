"""What does fraud screening cost per payment, with 20 rules and velocity counters?

Seeds N risk assessments (default 1,000,000: the issue's figure) through the driver
(SQLite ``executemany``, PostgreSQL ``COPY``), spread over the last 30 days across 100,000
customers, 200,000 emails, 150,000 card fingerprints and 100,000 IP addresses, into a
SQLite file and -- when ``PAYKIT_TEST_POSTGRES_URL`` is set -- into PostgreSQL (a schema of
its own, dropped at the end). Assessments are the table velocity counters read; payments
are looked up by id only, so they are created for the screened payments alone.

Then it screens P pending payments (default 1,000) with :data:`RULES` -- 20 rules: 11
velocity counters over the four keys and three windows each, two list lookups, amounts,
countries and the account's age -- and prints the mean and the 50th/95th/99th percentile
of one screening as the claim's unit of work runs it: the read that gathers the facts (the
velocity counters and the lists in one query) and the decision. It also times a payment's
``create_payment`` and ``process_payment`` through the sandbox three ways: without
screening, screened with the context given to ``process_payment``, and screened with it
given to ``create_payment`` (the payment then keeps it until the claim, which writes the
assessment) -- the differences are all that screening adds, its writes included. Run::

    python bench/fraud.py [--assessments N] [--payments P] [--only sqlite|postgresql]

Figures from the machine this was written on (2 cores, a virtual machine; SQLite on local
disk, PostgreSQL on the same host over TCP), 1,000,000 assessments, 1,000 payments,
2026-12-05, SQLite at 09:43, PostgreSQL at 09:49::

    SQLite: seeded 1,000,000 risk assessments in 50.6 s
      screening (20 rules, ...): mean 0.241 ms, p50 0.230 ms, p95 0.302 ms, p99 0.356 ms
      create_payment + process_payment (median): 1.874 ms without screening
        screened, the context given to process_payment: 2.419 ms: screening adds 0.544 ms
        screened, the context given to create_payment: 2.459 ms: screening adds 0.585 ms
      one statement's floor (SELECT 1 through SQLAlchemy, median): 0.019 ms
    PostgreSQL: seeded 1,000,000 risk assessments in 27.8 s
      screening (20 rules, ...): mean 0.438 ms, p50 0.418 ms, p95 0.502 ms, p99 0.718 ms
      create_payment + process_payment (median): 3.912 ms without screening
        screened, the context given to process_payment: 4.755 ms: screening adds 0.842 ms
        screened, the context given to create_payment: 4.828 ms: screening adds 0.916 ms
      one statement's floor (SELECT 1 through SQLAlchemy, median): 0.146 ms

The virtual machine's CPU is shared (a plain Python loop took 0.67 s one minute and 1.43 s
a few later) and every figure moves with it, ``without`` included. Seven PostgreSQL runs
between 09:37 and 09:49 added 0.76-0.95 ms (context at process_payment) and 0.82-0.99 ms
(at create_payment), the larger figures where ``without`` took 3.9-4.0 ms rather than
3.65-3.80; one run in a slower stretch (09:46, 5.0 ms without screening, 0.19 ms for
``SELECT 1``) added 1.23 and 1.30 ms. docs/fraud.md breaks the PostgreSQL figure down.

Screening runs in the claim's unit of work, which reads the payment (with the context
``create_payment`` kept) and its method anyway: one more read (every velocity counter and
every list in one query) and the rules in Python (about 0.05 ms for 20). What
``process_payment`` adds beyond that is the assessment's row (seven indexes to update) and
a larger audit entry in the claim's commit -- on PostgreSQL sent with the ``COMMIT`` in one
pipelined round trip.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from _databases import run_on_each_database
from sqlalchemy import text

from paykit import (
    Payment,
    PaymentMethod,
    PaymentMethodType,
    PaymentService,
    PaymentStatus,
    SandboxGateway,
)
from paykit.fraud import FraudScreening, RiskContext, Rule
from paykit.service._context import Decide
from paykit.service._rules.transaction import Transaction
from paykit.service._steps import run_sync
from paykit.storage.sql import SqlStorage

NOW: Final = datetime.now(UTC).replace(microsecond=0)
SANDBOX_CARD: Final = "tok_visa"
"""The sandbox's token of a card that charges (a provider token, never a card number)."""
CUSTOMERS: Final = 100_000
EMAILS: Final = 200_000
CARDS: Final = 150_000
IPS: Final = 100_000

SIDES: Final = ("none", "at_process", "at_create")
"""No screening; screened with the context given to process_payment; or to create_payment."""

RULES: Final = [
    Rule(name="listed_email", condition=":email: in @blocked_emails", action="block", score=100),
    Rule(name="listed_card", condition=":card_fingerprint: in @blocked_cards", action="block"),
    Rule(name="big", condition=":amount: >= 2000", action="review", score=30),
    Rule(name="huge", condition=":amount: >= 9000", action="block", score=60),
    Rule(
        name="cross_border",
        condition=":amount: >= 500 and :ip_country: != :billing_country:",
        action="review",
        score=25,
    ),
    Rule(
        name="new_account", condition=":account_age_days: < 2 and :amount: > 300", action="review"
    ),
    Rule(name="sanctioned", condition=":ip_country: in ('KP', 'IR', 'SY')", action="block"),
    Rule(name="card_burst", condition=":payments_per_card_10m: >= 4", action="block", score=50),
    Rule(name="card_hourly", condition=":payments_per_card_1h: >= 8", action="review"),
    Rule(name="card_daily", condition=":payments_per_card_24h: >= 30", action="review"),
    Rule(name="card_declines", condition=":declines_per_card_1h: >= 3", action="block"),
    Rule(name="email_burst", condition=":payments_per_email_10m: >= 4", action="review"),
    Rule(name="email_amount", condition=":amount_per_email_24h: >= 5000", action="review"),
    Rule(name="email_declines", condition=":declines_per_email_24h: >= 5", action="block"),
    Rule(name="ip_burst", condition=":payments_per_ip_10m: >= 10", action="review"),
    Rule(name="ip_declines", condition=":declines_per_ip_1h: >= 6", action="block"),
    Rule(name="customer_hourly", condition=":payments_per_customer_1h: >= 10", action="review"),
    Rule(name="customer_amount", condition=":amount_per_customer_24h: >= 20000", action="review"),
    Rule(name="trusted", condition=":email_domain: = 'trusted.example'", action="allow"),
    Rule(
        name="watch_device",
        condition=":device_id: = 'dev_watch' or :shipping_country: != :billing_country:",
        action="review",
        shadow=True,
    ),
]


def _rows(n: int, seed: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    countries = ("US", "GB", "DE", "FR", "BR", "IN", "NG", "JP")
    for number in range(n):
        created = NOW - timedelta(seconds=rng.randrange(30 * 86400))
        yield {
            "id": f"pay_bench_{number:08d}",
            "customer_id": f"cus_{rng.randrange(CUSTOMERS)}",
            "currency": "USD",
            "amount": Decimal(rng.randrange(100, 50_000)).scaleb(-2),
            "email": f"user{rng.randrange(EMAILS)}@example.com",
            "email_domain": "example.com",
            "ip_address": _ip(rng.randrange(IPS)),
            "ip_country": rng.choice(countries),
            "billing_country": rng.choice(countries),
            "shipping_country": None,
            "device_id": None,
            "personal": None,  # sealed personal fields: only with encryption on
            "account_age_days": rng.randrange(1000),
            "card_fingerprint": f"fp_{rng.randrange(CARDS)}",
            "card_country": rng.choice(countries),
            "wallet": None,
            "decision": "allow",
            "three_d_secure": False,
            "score": 0,
            "fired_rules": [],
            "shadow_rules": [],
            "declined": rng.random() < 0.08,  # an 8% decline rate
            "review_state": "none",
            "reviewed_by": None,
            "reviewed_at": None,
            "provider_risk_level": None,
            "provider_risk_score": None,
            "provider_cvc_check": None,
            "provider_address_check": None,
            "provider_seller_protection": None,
            "created_at": created,
            "updated_at": created,
            "version": 1,
        }


def _ip(number: int) -> str:
    return f"10.{number // 65536}.{number // 256 % 256}.{number % 256}"


def seed(storage: SqlStorage, n: int) -> float:
    """Load ``n`` risk assessments through the driver (SQLite executemany, PostgreSQL COPY).

    Values are encoded as paykit's column types store them (see ``storage.sql._codec``):
    amounts scaled to ten-thousandths and times as fixed-width UTC text on SQLite.
    """
    table = storage.tables.risk_assessments
    name = f"{table.schema}.{table.name}" if table.schema else table.name
    columns = [column.name for column in table.columns if column.name != "seq"]
    sqlite = storage.engine.dialect.name == "sqlite"
    began = time.perf_counter()
    with storage.engine.begin() as connection:
        driver = connection.connection.driver_connection
        assert driver is not None  # noqa: S101 - an open connection
        cursor = driver.cursor()
        rows = (_encoded(row, columns, sqlite=sqlite) for row in _rows(n, 14))
        # Names from paykit's own table definition, no outside input: nothing to inject.
        listed = ", ".join(columns)
        if sqlite:  # the storage's connections autocommit: one explicit transaction
            marks = ", ".join("?" for _ in columns)
            cursor.execute("BEGIN")
            cursor.executemany(f"INSERT INTO {name} ({listed}) VALUES ({marks})", rows)  # noqa: S608
            cursor.execute("COMMIT")
        else:
            with cursor.copy(f"COPY {name} ({listed}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        # Statistics, as autovacuum (PostgreSQL) or a periodic ANALYZE (SQLite) would keep
        # them on a table this size: without them the planner guesses.
        cursor.execute(f"ANALYZE {name}")
    return time.perf_counter() - began


def _encoded(row: dict[str, Any], columns: list[str], *, sqlite: bool) -> tuple[Any, ...]:
    values = []
    for column in columns:
        value = row[column]
        if column == "amount":
            value = round(value * 10_000) if sqlite else f"{value:.2f}"
        elif isinstance(value, datetime):
            value = value.isoformat(sep=" ", timespec="microseconds") if sqlite else value
        elif isinstance(value, list):
            value = "[]"
        elif isinstance(value, bool) and sqlite:
            value = int(value)
        values.append(value)
    return tuple(values)


def _service(
    storage: SqlStorage, *, screening: bool, tag: str, count: int
) -> tuple[PaymentService, list[PaymentMethod]]:
    """A service on ``storage``, and ``count`` cards of new customers, fingerprints seeded.

    One customer per payment: the benchmark measures what screening costs, so its payments
    must not trip the velocity rules themselves (a review costs a hold, not a capture).
    """
    fraud = FraudScreening(RULES) if screening else None
    service = PaymentService(storage, {"credit_card": SandboxGateway()}, fraud=fraud)
    rng = random.Random(3)
    cards = [
        PaymentMethod(
            id=f"pm_bench_{tag}_{number}",
            customer_id=f"cus_bench_{tag}_{number}",
            type=PaymentMethodType.CREDIT_CARD,
            provider="sandbox",
            provider_payment_method_id=SANDBOX_CARD,
            card_country="US",
            card_fingerprint=f"fp_{rng.randrange(CARDS)}",
            created_at=NOW,
            updated_at=NOW,
        )
        for number in range(count)
    ]
    with storage.unit_of_work() as uow:
        for card in cards:
            uow.payment_methods.add(card)
        uow.commit()
    return service, cards


def _context(rng: random.Random) -> RiskContext:
    return RiskContext(
        email=f"user{rng.randrange(EMAILS)}@example.com",
        ip_address=f"10.0.{rng.randrange(256)}.{rng.randrange(256)}",
        ip_country="US",
        billing_country=rng.choice(("US", "GB")),
        account_age=timedelta(days=rng.randrange(1000)),
    )


def measure(storage: SqlStorage, payments: int) -> dict[str, float]:
    """Screening alone, per payment; then a payment's creation and processing, each side."""
    rng = random.Random(7)
    service, cards = _service(storage, screening=True, tag="screen", count=payments)
    screening = service.context.screening
    assert screening is not None  # noqa: S101 - built just above
    ids = [
        service.create_payment(
            customer_id=card.customer_id,
            order_id=f"ord_{number}",
            payment_method_id=card.id,
            amount=f"{rng.randrange(100, 300_000) / 100:.2f}",
            currency="USD",
        ).id
        for number, card in enumerate(cards)
    ]
    times = []
    for payment_id in ids:
        decide = run_sync(service.context, screening.screen(payment_id, _context(rng)))

        def screen_in_claim(
            tx: Transaction, payment_id: str = payment_id, decide: Decide = decide
        ) -> float:
            # The claim reads the payment and its method whether or not it screens; what
            # screening adds to its unit of work is the decision: its reads and rules.
            payment, method = tx.uow.payments.get_with_method(payment_id)
            began = time.perf_counter()
            decide(tx, payment, method)
            return time.perf_counter() - began

        times.append(service.context.read(screen_in_claim))
    figures = {
        "screen_mean_ms": statistics.fmean(times) * 1000,
        "screen_p50_ms": statistics.median(times) * 1000,
        "screen_p95_ms": statistics.quantiles(times, n=100)[94] * 1000,
        "screen_p99_ms": statistics.quantiles(times, n=100)[98] * 1000,
    }
    # A payment created and processed without screening, screened with the context given to
    # process_payment, and screened with it given to create_payment (docs/fraud.md's way:
    # the payment keeps it until the claim). Interleaved
    # payment by payment, the order turning each time, so all three see the same disk, the
    # same neighbours and the same place after one another's commits; the differences of
    # their medians are what screening costs (the commits' fsync dominates all three and
    # moves with the machine's load).
    services = {
        side: _service(storage, screening=side != "none", tag=side, count=payments)
        for side in SIDES
    }
    spent: dict[str, list[float]] = {side: [] for side in SIDES}
    for number in range(payments):
        turn = number % len(SIDES)
        for side in SIDES[turn:] + SIDES[:turn]:
            service, cards = services[side]
            card = cards[number]
            risk = None if side == "none" else _context(rng)
            began = time.perf_counter()
            payment = service.create_payment(
                customer_id=card.customer_id,
                order_id=f"ord_{side}_{number}",
                payment_method_id=card.id,
                amount="25.00",
                currency="USD",
                risk=risk if side == "at_create" else None,
            )
            processed = service.process_payment(
                payment.id, risk=risk if side == "at_process" else None
            )
            spent[side].append(time.perf_counter() - began)
            _check_charged(processed, side)
    for side in SIDES:
        figures[f"{side}_ms"] = statistics.median(spent[side]) * 1000
    return figures


def _check_charged(payment: Payment, side: str) -> None:
    """Stop unless ``payment`` was charged: a blocked or held one costs less, not the same."""
    if payment.status is not PaymentStatus.COMPLETED:
        msg = (
            f"{side}: payment {payment.id} ended {payment.status} ({payment.failure_message}); "
            "the benchmark times charges, so its payments must pass the rules"
        )
        raise SystemExit(msg)


def statement_floor(storage: SqlStorage, runs: int = 500) -> float:
    """The median cost of the cheapest statement (``SELECT 1``) through SQLAlchemy, in ms.

    Screening adds one read to the claim (the velocity counters and the lists): this is what
    it costs before doing any work. (The assessment's ``INSERT`` adds a statement too; on
    PostgreSQL it goes with the ``COMMIT``, in the same round trip.)
    """
    spent = []
    with storage.engine.connect() as connection:
        for _ in range(runs):
            began = time.perf_counter()
            connection.execute(text("SELECT 1")).all()
            spent.append(time.perf_counter() - began)
    return statistics.median(spent) * 1000


def run(name: str, url: str, schema: str | None, args: argparse.Namespace) -> None:
    """Seed one database and print its figures."""
    storage = SqlStorage(url, schema=schema)
    storage.upgrade()
    seconds = seed(storage, args.assessments)
    print(f"{name}: seeded {args.assessments:,} risk assessments in {seconds:.1f} s")
    figures = measure(storage, args.payments)
    floor = statement_floor(storage)
    storage.dispose()
    print(
        f"  screening ({len(RULES)} rules, 11 velocity counters on 4 keys, 2 lists): "
        f"mean {figures['screen_mean_ms']:.3f} ms, p50 {figures['screen_p50_ms']:.3f} ms, "
        f"p95 {figures['screen_p95_ms']:.3f} ms, p99 {figures['screen_p99_ms']:.3f} ms"
    )
    none = figures["none_ms"]
    print(f"  create_payment + process_payment (median): {none:.3f} ms without screening")
    for side, where in (("at_process", "process_payment"), ("at_create", "create_payment")):
        print(
            f"    screened, the context given to {where}: {figures[f'{side}_ms']:.3f} ms: "
            f"screening adds {figures[f'{side}_ms'] - none:.3f} ms"
        )
    print(f"  one statement's floor (SELECT 1 through SQLAlchemy, median): {floor:.3f} ms")


def main() -> None:
    """Parse the options, then seed and measure each database."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--assessments", type=int, default=1_000_000)
    parser.add_argument("--payments", type=int, default=1000)
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="one database only")
    args = parser.parse_args()
    run_on_each_database(
        args.only, "fraud.db", lambda name, url, schema: run(name, url, schema, args)
    )


if __name__ == "__main__":
    main()
