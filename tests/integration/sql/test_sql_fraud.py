"""Fraud screening over SQL storage: block, hold, approve and reject, lists and backtest."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event

from paykit import PaymentService, PaymentStatus, SandboxGateway
from paykit.fraud import FRAUD_BLOCKED, FraudScreening, RiskContext, Rule, RuleSet, backtest
from paykit.storage.sql import SqlStorage

_P = PaymentStatus
RULES = [
    Rule(name="listed", condition=":email: in @blocked", action="block", score=90),
    Rule(name="big", condition=":amount: >= 500", action="review", score=30),
    Rule(name="burst", condition=":payments_per_email_1h: >= 3", action="review"),
]


@pytest.fixture
def storage(database: tuple[str, str | None]) -> Iterator[SqlStorage]:
    """A migrated SQLite file or PostgreSQL schema."""
    url, schema = database
    sql = SqlStorage(url, schema=schema)
    sql.upgrade()
    yield sql
    sql.dispose()


def test_screening_blocks_holds_and_reviews_over_sql(storage: SqlStorage) -> None:
    """The whole flow on SQL: a listed email blocked, a large payment held, approved, rejected."""
    sandbox = SandboxGateway()
    service = PaymentService(storage, {"credit_card": sandbox}, fraud=FraudScreening(RULES))
    service.risk_lists.add("blocked", "thief@example.com", by="ops")
    card = service.add_payment_method("cus_1", type="credit_card", token="tok_visa")

    def pay(amount: str, email: str, *, at_create: bool = False) -> str:
        risk = RiskContext(email=email, ip_country="FR")
        payment = service.create_payment(
            customer_id="cus_1",
            order_id="ord",
            payment_method_id=card.id,
            amount=amount,
            currency="USD",
            risk=risk if at_create else None,
        )
        return service.process_payment(payment.id, risk=None if at_create else risk).id

    blocked = service.get_payment(pay("10.00", "thief@example.com", at_create=True))
    assert blocked.failure_code == FRAUD_BLOCKED
    assert sandbox.calls == []
    approved, rejected = pay("600.00", "a@example.com"), pay("700.00", "b@example.com")
    assert [a.id for a in service.list_reviews()] == [approved, rejected]
    assert service.approve_review(approved, by="alice").status is _P.COMPLETED
    assert service.reject_review(rejected, by="bob").status is _P.CANCELLED
    assert service.list_reviews() == []
    for _ in range(4):
        last = pay("5.00", "c@example.com")
    assert service.get_payment(last).status is _P.AUTHORIZED  # three before it: held

    report = backtest(storage, RuleSet(RULES))
    assert report.payments == 4  # the approved one and the first three small ones
    assert report.rules[1].reviewed == 1


def test_screening_reads_its_facts_in_the_claims_unit_of_work(storage: SqlStorage) -> None:
    """No scorer: no unit of work of its own, no second read of the payment, three reads.

    The claim reads the payment (with any context create_payment kept) and its method in
    one join; the velocity counters and the lists are read beside it, in one query; the
    assessment is written in the claim's transaction.
    """
    sandbox = SandboxGateway()
    screened = PaymentService(storage, {"credit_card": sandbox}, fraud=FraudScreening(RULES))
    plain = PaymentService(storage, {"credit_card": sandbox})
    card = plain.add_payment_method("cus_1", type="credit_card", token="tok_visa")
    statements: list[str] = []

    def sent(*args: object) -> None:
        statements.append(str(args[2]).split(None, 1)[0].upper())

    def process(service: PaymentService) -> list[str]:
        payment = service.create_payment(
            customer_id="cus_1",
            order_id="ord",
            payment_method_id=card.id,
            amount="10.00",
            currency="USD",
        )
        statements.clear()
        event.listen(storage.engine, "before_cursor_execute", sent)
        try:
            service.process_payment(payment.id, risk=RiskContext(email="a@example.com"))
        finally:
            event.remove(storage.engine, "before_cursor_execute", sent)
        return list(statements)

    without, with_screening = process(plain), process(screened)
    assert with_screening.count("BEGIN") == without.count("BEGIN")  # no transaction added
    assert with_screening.count("SELECT") == without.count("SELECT") + 1
    assert with_screening.count("INSERT") == without.count("INSERT") + 1  # the assessment
    assert len(with_screening) == len(without) + 2


def test_a_counter_looked_up_on_a_list_reads_the_counts_first(storage: SqlStorage) -> None:
    """A list test on a velocity counter needs the count before the lookup: two reads."""
    rule = Rule(name="odd", condition=":payments_per_customer_1h: in @odd_counts", action="block")
    service = PaymentService(
        storage, {"credit_card": SandboxGateway()}, fraud=FraudScreening([rule])
    )
    service.risk_lists.add("odd_counts", "1", by="ops")
    card = service.add_payment_method("cus_1", type="credit_card", token="tok_visa")

    def pay() -> str:
        payment = service.create_payment(
            customer_id="cus_1",
            order_id="ord",
            payment_method_id=card.id,
            amount="5.00",
            currency="USD",
        )
        return str(service.process_payment(payment.id).failure_code)

    assert [pay(), pay(), pay()] == ["None", FRAUD_BLOCKED, "None"]  # counts 0, 1, 2 before
