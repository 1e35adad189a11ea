"""A commit's last writes and its COMMIT go in one batch (psycopg's pipeline on PostgreSQL).

The batch must change nothing a caller sees: a unique key taken inside it is the same
``ConcurrencyConflict`` or ``IntegrityError`` as before, nothing of the unit is written, the
error names the statements and not their values, and the connection serves the next unit.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from pytest_mock import MockerFixture
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from paykit import Payment, PaymentService, SandboxGateway
from paykit.errors import ConcurrencyConflict
from paykit.fraud import FraudScreening, RiskContext, Rule
from paykit.storage.sql import SqlStorage
from paykit.testing.repository_contract._records import _entry

from .test_sql_storage import _payment


def _ids(storage: SqlStorage) -> set[str]:
    with storage.unit_of_work() as uow:
        return {payment.id for payment in uow.payments.list()}


def test_a_provider_id_taken_in_a_batch_is_an_integrity_error(sql_storage: SqlStorage) -> None:
    """Two inserts in one commit, the second breaking a unique key: nothing is written."""
    _save(sql_storage, _payment(provider_payment_id="pi_taken"))
    before = _ids(sql_storage)
    fresh, twin = _payment(provider_payment_id="pi_fresh"), _payment(provider_payment_id="pi_taken")
    with sql_storage.unit_of_work() as uow:
        uow.payments.add(fresh)
        uow.payments.add(twin)
        with pytest.raises(IntegrityError, match="provider") as raised:
            uow.commit()
    message = str(raised.value)
    assert "INSERT INTO" in message  # the statements are named ...
    assert "pi_fresh" not in message  # ... never the values bound to them
    assert _ids(sql_storage) == before
    _save(sql_storage, fresh)  # the connection serves the next unit
    assert fresh.id in _ids(sql_storage)


def test_an_id_taken_in_a_batch_is_a_conflict(sql_storage: SqlStorage) -> None:
    """A record id another unit committed first: ``ConcurrencyConflict``, nothing written."""
    first = _payment()
    _save(sql_storage, first)
    again, other = _payment(id=first.id, provider_payment_id="pi_again"), _payment()
    with sql_storage.unit_of_work() as uow:
        uow.payments.add(other)
        uow.payments.add(again)
        with pytest.raises(ConcurrencyConflict):
            uow.commit()
    assert other.id not in _ids(sql_storage)


def test_postgresql_sends_a_commits_inserts_and_commit_in_one_pipeline(
    postgres_url: str, postgres_schema: str, mocker: MockerFixture
) -> None:
    """Checked writes wait for their row counts; the inserts after them and COMMIT do not."""
    claim, sent, pipelines = _claim_as_sent(
        postgres_url, postgres_schema, mocker, fraud=None, risk=None
    )
    assert claim == [
        "SELECT waited",  # the payment and its method
        "BEGIN waited",
        "UPDATE waited",  # the payment's version is checked: its row count is awaited
        "INSERT pipelined",  # the audit entry
        "COMMIT pipelined",
    ]
    assert pipelines == sent.count("COMMIT pipelined") == 2


def test_postgresql_sends_the_assessment_of_a_kept_context_with_the_commit(
    postgres_url: str, postgres_schema: str, mocker: MockerFixture
) -> None:
    """The context create_payment kept comes with the payment; its assessment is an insert."""
    fraud = FraudScreening([Rule(name="big", condition=":amount: >= 500", action="review")])
    risk = RiskContext(email="a@example.com")
    claim, _, _ = _claim_as_sent(postgres_url, postgres_schema, mocker, fraud=fraud, risk=risk)
    assert claim == [
        "SELECT waited",  # the payment (the kept context on it) and its method
        "BEGIN waited",
        "UPDATE waited",  # the payment's version is checked: its row count is awaited
        "INSERT pipelined",  # the assessment, the payment's one
        "INSERT pipelined",  # the audit entries
        "COMMIT pipelined",
    ]


def _claim_as_sent(
    url: str,
    schema: str,
    mocker: MockerFixture,
    *,
    fraud: FraudScreening | None,
    risk: RiskContext | None,
) -> tuple[list[str], list[str], int]:
    """The claim's statements as ``process_payment`` sends them, all it sent, its pipelines.

    The payment is created with ``risk`` (the context create_payment remembers).
    """
    storage = SqlStorage(url, schema=schema)
    storage.upgrade()
    service = PaymentService(storage, {"credit_card": SandboxGateway()}, fraud=fraud)
    card = service.add_payment_method("cus_1", type="credit_card", token="tok_visa")
    payment = service.create_payment(
        customer_id="cus_1",
        order_id="ord_1",
        payment_method_id=card.id,
        amount="10.00",
        currency="USD",
        risk=risk,
    )
    pipelines = mocker.spy(psycopg.Connection, "pipeline")
    order: list[str] = []

    def sent(*args: Any) -> None:
        connection = args[1].connection
        mode = "pipelined" if connection.pgconn.pipeline_status else "waited"
        order.append(f"{str(args[2]).split(None, 1)[0].upper()} {mode}")

    event.listen(storage.engine, "before_cursor_execute", sent)
    try:
        service.process_payment(payment.id)
    finally:
        event.remove(storage.engine, "before_cursor_execute", sent)
        storage.dispose()
    return order[: order.index("COMMIT pipelined") + 1], order, pipelines.call_count


def _save(storage: SqlStorage, *payments: Payment) -> None:
    with storage.unit_of_work() as uow:
        for payment in payments:
            uow.payments.add(payment)
        uow.commit()


def test_a_failed_batch_leaves_no_statement_half_prepared(sql_storage: SqlStorage) -> None:
    """Commits keep working after batches that failed, whenever psycopg prepares a statement.

    psycopg prepares a statement on its fifth run. When that run fell in a batch that an
    earlier statement had already failed, the server skipped the preparation while psycopg
    noted it as done, and every later commit on that connection failed with ``prepared
    statement "_pg3_5" does not exist`` (found by two automation sweeps racing). Failed
    batches at each count around the fifth run cover the case whatever the count.
    """
    for attempt in range(10):
        payment = _payment()
        with sql_storage.unit_of_work() as uow:
            uow.payments.add(payment)
            uow.transaction_log.append(_entry(payment.id))
            uow.commit()
        if 2 <= attempt <= 6:  # around psycopg's prepare threshold of 5
            with sql_storage.unit_of_work() as uow:
                uow.payments.add(_payment(id=payment.id))  # taken: the batch's first insert fails
                uow.transaction_log.append(_entry(payment.id))
                with pytest.raises(ConcurrencyConflict):
                    uow.commit()
    with sql_storage.unit_of_work() as uow:
        assert len(uow.payments.list()) == 10
