"""Backtesting a rule set over a seeded history: per-rule and total confusion matrices, the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from paykit import InMemoryStorage, PaymentService, SandboxGateway
from paykit.cli import main
from paykit.domain.dispute import Dispute, DisputeStatus
from paykit.fraud import FraudScreening, RiskContext, RuleSet, backtest
from paykit.storage.base import Storage

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)

RULES = """\
[[rules]]
name = "big"
condition = ":amount: >= 500"
action = "review"

[[rules]]
name = "bad_domain"
condition = ":email_domain: = 'bad.io'"
action = "block"

[[rules]]
name = "repeat"
condition = ":payments_per_email_1h: >= 1"
action = "review"
shadow = true
"""

# (email, amount, what happened)
HISTORY = [
    ("fraud1@bad.io", "900.00", "refund_fraud"),
    ("fraud2@bad.io", "50.00", "dispute_lost"),
    ("fraud3@ok.io", "30.00", "dispute_fraudulent_won"),
    ("good1@ok.io", "20.00", ""),
    ("good2@ok.io", "800.00", ""),
    ("good3@ok.io", "40.00", ""),
    ("good3@ok.io", "45.00", ""),  # ten minutes later: the shadow ``repeat`` rule's case
]


class Clock:
    """A clock the seeding moves on."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        """The time the seeding set."""
        return self.now


def seed(storage: Storage) -> None:
    """Record the history above through the service (screening on, no rules: all allowed)."""
    clock = Clock()
    sandbox = SandboxGateway()
    service = PaymentService(
        storage, {"credit_card": sandbox}, clock=clock, fraud=FraudScreening([])
    )
    card = service.add_payment_method("cus_1", type="credit_card", token="tok_visa")
    declined = service.add_payment_method("cus_1", type="credit_card", token="tok_decline")
    for number, (email, amount, outcome) in enumerate(HISTORY):
        clock.now = T0 + timedelta(minutes=10 * number)
        payment = service.create_payment(
            customer_id="cus_1",
            order_id=f"ord_{number}",
            payment_method_id=card.id,
            amount=amount,
            currency="USD",
            risk=RiskContext(email=email),
        )
        service.process_payment(payment.id)
        if outcome == "refund_fraud":
            refund = service.create_refund(payment.id, reason="fraudulent")
            service.process_refund(refund.id)
        elif outcome.startswith("dispute"):
            lost = outcome == "dispute_lost"
            _dispute(
                storage, payment.id, amount, "fraudulent" if not lost else "general", lost=lost
            )
    # A declined payment was never charged: a backtest leaves it out.
    failed = service.create_payment(
        customer_id="cus_1",
        order_id="x",
        payment_method_id=declined.id,
        amount="999.00",
        currency="USD",
    )
    service.process_payment(failed.id, risk=RiskContext(email="x@bad.io"))


def _dispute(storage: Storage, payment_id: str, amount: str, reason: str, *, lost: bool) -> None:
    from paykit.money import Money  # noqa: PLC0415 - used here only

    with storage.unit_of_work() as uow:
        uow.disputes.add(
            Dispute(
                id=f"dp_{payment_id}",
                payment_id=payment_id,
                provider="sandbox",
                provider_dispute_id=f"sandbox_dp_{payment_id}",
                amount=Money.of(amount, "USD"),
                reason=reason,
                status=DisputeStatus.LOST if lost else DisputeStatus.WON,
                provider_status="lost" if lost else "won",
                created_at=T0,
                updated_at=T0,
            )
        )
        uow.commit()


@pytest.fixture
def storage() -> Storage:
    """A store holding the seeded history."""
    memory = InMemoryStorage()
    seed(memory)
    return memory


def test_backtest_figures_per_rule_and_in_total(storage: Storage) -> None:
    """Each rule's and the set's confusion matrix over the seven charged payments."""
    report = backtest(storage, RuleSet.from_text(RULES))
    assert (report.payments, report.fraud) == (7, 3)
    assert (report.fraud_refunds, report.disputes_lost, report.fraudulent_disputes) == (1, 1, 1)
    big, bad_domain, repeat = report.rules
    assert (big.true_positives, big.false_positives, big.false_negatives) == (1, 1, 2)
    assert big.true_negatives == 3
    assert (big.reviewed, big.blocked) == (2, 0)
    assert (bad_domain.true_positives, bad_domain.false_positives) == (2, 0)
    assert bad_domain.precision == Decimal("1.000")
    assert bad_domain.recall == Decimal("0.667")
    # Shadow rules act in a backtest: the second good3 payment repeats its email.
    assert (repeat.true_positives, repeat.false_positives) == (0, 1)
    total = report.total
    assert (total.blocked, total.reviewed) == (2, 2)
    assert (total.true_positives, total.false_positives, total.false_negatives) == (2, 2, 1)
    assert total.precision == Decimal("0.500")
    assert total.recall == Decimal("0.667")


def test_backtest_windows_by_creation_time(storage: Storage) -> None:
    """``since``/``until`` bound the payments replayed by their creation time."""
    report = backtest(
        storage,
        RuleSet.from_text(RULES),
        since=T0 + timedelta(minutes=10),
        until=T0 + timedelta(minutes=30),
    )
    assert report.payments == 2


def test_the_table_prints_every_rule_and_the_total(storage: Storage) -> None:
    """The rich table names each rule, the totals, precision and recall."""
    text = backtest(storage, RuleSet.from_text(RULES)).table()
    assert "7 charged payments replayed; 3 fraud" in text
    for name in ("big", "bad_domain", "repeat", "all rules", "precision", "50.0%", "66.7%"):
        assert name in text


def test_no_fraud_no_flags_gives_no_ratios() -> None:
    """With nothing flagged and no fraud, precision and recall are undefined ("-")."""
    report = backtest(InMemoryStorage(), RuleSet.from_text(RULES))
    assert report.total.precision is None
    assert report.total.recall is None
    assert "-" in report.table()


def test_the_cli_backtests_a_sql_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``paykit fraud backtest --rules FILE --database URL`` prints the report, exit 0."""
    from paykit.storage.sql import SqlStorage  # noqa: PLC0415 - the sql extra

    url = f"sqlite:///{tmp_path / 'paykit.db'}"
    storage = SqlStorage(url)
    storage.upgrade()
    seed(storage)
    storage.dispose()
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)

    code = main(["fraud", "backtest", "--rules", str(rules), "--database", url])

    out = capsys.readouterr().out
    assert code == 0
    assert "7 charged payments replayed; 3 fraud" in out
    assert "bad_domain" in out


def test_the_cli_names_the_rule_and_line_of_a_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rule file that does not load is a usage error (2) naming the rule and the line."""
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES.replace(":email_domain:", ":email_domian:"))
    code = main(["fraud", "backtest", "--rules", str(rules), "--database", "sqlite:///unused.db"])
    err = capsys.readouterr().err
    assert code == 2
    assert "rules.toml, line 8: rule 'bad_domain': unknown attribute :email_domian:" in err
