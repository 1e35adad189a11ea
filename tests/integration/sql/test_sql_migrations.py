"""Migrations: an empty database upgraded to head has exactly the tables of the models.

The comparison is Alembic's own autogenerate (``compare_metadata``): tables, columns,
types, nullability, indexes and unique constraints. A control test removes one index and
checks the comparison notices, so "no differences" cannot pass by comparing nothing.

Databases made by an older revision are upgraded with their rows in them: a 0001 database
with payments, refunds and log entries becomes a head database whose records read back as
before, with the new fields at their defaults; the downgrade takes it back to 0001. A 0002
database gains only the idempotent requests table at 0003, and loses only it going back.
A 0009 database's risk assessments gain the provider's card checks at 0010, and lose only
them going back. At 0011 an assessment that was never decided (a context kept by
``create_payment`` before 0011) moves onto its pending payment and is deleted.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import attrs
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import DropIndex

from paykit import LogType, Money, Payment, PaymentStatus, Refund, RefundStatus
from paykit import TransactionLogEntry as LogEntry
from paykit.domain.dispute import Dispute, DisputeStatus
from paykit.domain.idempotent_request import IdempotentRequest, IdempotentRequestStatus
from paykit.domain.payment_method import PaymentMethodType
from paykit.domain.risk import RiskAction, RiskAssessment
from paykit.domain.risk_context import RiskContext
from paykit.domain.webhook_inbox import InboxEntry, InboxStatus
from paykit.storage.sql import SqlStorage, current_revision, head_revision, upgrade
from paykit.storage.sql import _codec as codec
from paykit.storage.sql._migrate import CONNECTION_KEY, _transaction, alembic_config, version_table

T0: Final = datetime(2024, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
NEW_IN_0010: Final = {"provider_cvc_check", "provider_address_check", "provider_seller_protection"}
NEW_IN_0002: Final = {
    "payments": {"chargeback_amount", "reconcile_attempts", "next_reconcile_at"},
    "refunds": {"reconcile_attempts", "next_reconcile_at"},
}
NEW_IN_0011: Final = "risk_context"


def _differences(storage: SqlStorage) -> list[Any]:
    """What Alembic would have to change to turn the database into the models."""
    schema = storage.schema
    with storage.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "version_table": version_table(storage.table_prefix),
                "version_table_schema": schema,
                "include_schemas": schema is not None,
                "include_name": lambda name, kind, _parent: kind != "schema" or name == schema,
                "compare_type": True,
            },
        )
        return list(compare_metadata(context, storage.tables.metadata))


@pytest.mark.parametrize("table_prefix", ["", "shop_paykit_abcdefghijkl"])
def test_upgrading_an_empty_database_gives_exactly_the_models(
    database: tuple[str, str | None], table_prefix: str
) -> None:
    """Upgrade to head, then Alembic finds no difference from the models, with or without prefix."""
    url, schema = database
    storage = SqlStorage(url, schema=schema, table_prefix=table_prefix)
    assert storage.current_revision() is None

    storage.upgrade()

    assert storage.current_revision() == head_revision()
    assert _differences(storage) == []
    names = set(inspect(storage.engine).get_table_names(schema=schema))
    assert names == {
        f"{table_prefix}{name}"
        for name in (
            "payment_methods",
            "payments",
            "refunds",
            "transaction_log",
            "disputes",
            "webhook_inbox",
            "idempotent_requests",
            "risk_assessments",
            "risk_list_entries",
            "automation_actions",
            "outbox",
            "customer_keys",
            "paykit_alembic_version",
        )
    }
    storage.dispose()


def test_the_comparison_notices_a_missing_index(database: tuple[str, str | None]) -> None:
    """Control: with one index dropped, the comparison reports exactly that index."""
    url, schema = database
    storage = SqlStorage(url, schema=schema)
    storage.upgrade()
    index = next(i for i in storage.tables.payments.indexes if i.name == "ix_payments_order")
    with storage.engine.begin() as connection:
        connection.execute(DropIndex(index))

    differences = _differences(storage)

    assert [(kind, item.name) for kind, item in differences] == [("add_index", index.name)]
    storage.dispose()


def test_upgrading_twice_is_harmless(sqlite_url: str) -> None:
    """A second upgrade at head changes nothing and keeps the data."""
    upgrade(sqlite_url)
    storage = SqlStorage(sqlite_url)
    with storage.unit_of_work() as uow:
        assert list(uow.payments.list()) == []
    upgrade(sqlite_url)
    assert current_revision(sqlite_url) == head_revision()
    assert _differences(storage) == []
    storage.dispose()


def test_paykit_keeps_its_own_version_table_beside_the_hosts(sqlite_url: str) -> None:
    """A host's own ``alembic_version`` table is left untouched by paykit's migrations."""
    engine: Engine = create_engine(sqlite_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32))")
        connection.exec_driver_sql("INSERT INTO alembic_version VALUES ('host_rev_42')")

    upgrade(engine, table_prefix="paykit_")

    with engine.connect() as connection:
        host = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    assert host == [("host_rev_42",)]
    assert current_revision(engine, table_prefix="paykit_") == head_revision()
    engine.dispose()


def test_the_command_line_upgrades_and_reports(sqlite_url: str) -> None:
    """``python -m paykit.storage.sql upgrade <url>`` creates the tables; ``current`` says so."""
    command = [sys.executable, "-m", "paykit.storage.sql"]
    before = subprocess.run(  # noqa: S603 - our own interpreter and module
        [*command, "current", sqlite_url], capture_output=True, text=True, check=True
    )
    upgraded = subprocess.run(  # noqa: S603
        [*command, "upgrade", sqlite_url, "--table-prefix", "pk_"],
        capture_output=True,
        text=True,
        check=True,
    )

    assert "revision None (empty)" in before.stdout
    assert f"revision {head_revision()} (head)" in upgraded.stdout
    assert current_revision(sqlite_url, table_prefix="pk_") == head_revision()
    assert current_revision(sqlite_url) is None  # the unprefixed tables were never created


def test_the_command_line_upgrades_a_postgres_schema(postgres_url: str) -> None:
    """The command line creates a missing PostgreSQL schema and upgrades it to head."""
    schema = "paykit_cli_" + __import__("uuid").uuid4().hex[:12]
    try:
        result = subprocess.run(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "paykit.storage.sql",
                "upgrade",
                postgres_url,
                "--schema",
                schema,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert f"revision {head_revision()} (head)" in result.stdout
        assert current_revision(postgres_url, schema=schema) == head_revision()
    finally:
        engine = create_engine(postgres_url)
        with engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


def test_the_command_line_refuses_a_bad_command() -> None:
    """An unknown subcommand exits with argparse's usage error (status 2)."""
    result = subprocess.run(
        [sys.executable, "-m", "paykit.storage.sql", "migrate", "sqlite:///x.db"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


# -- upgrading a database that holds data ----------------------------------------------------


def _downgrade(storage: SqlStorage, revision: str) -> None:
    """Run paykit's migrations down to ``revision``, in one transaction like an upgrade."""
    config = alembic_config(schema=storage.schema, table_prefix=storage.table_prefix)
    with _transaction(storage.engine) as connection:
        config.attributes[CONNECTION_KEY] = connection
        command.downgrade(config, revision)


def _v0001_records() -> tuple[Payment, Refund, LogEntry]:
    """A partly refunded JPY payment, its refund and a log entry, as revision 0001 knew them."""
    payment = Payment(
        id=f"pay_{uuid.uuid4().hex}",
        customer_id="cus_old",
        order_id="ord_old",
        payment_method_id="pm_old",
        payment_method_type=PaymentMethodType.CREDIT_CARD,
        provider="stripe",
        amount=Money.of("5000", "JPY"),
        status=PaymentStatus.PARTIALLY_REFUNDED,
        captured_amount=Money.of("5000", "JPY"),
        refunded_amount=Money.of("1200", "JPY"),
        refund_reserved_amount=Money.zero("JPY"),
        provider_payment_id="pi_old",
        metadata={"cart": {"items": [1, 2]}},
        created_at=T0,
        updated_at=T0,
        completed_at=T0,
    )
    refund = Refund(
        id=f"re_{uuid.uuid4().hex}",
        payment_id=payment.id,
        amount=Money.of("1200", "JPY"),
        status=RefundStatus.COMPLETED,
        provider_refund_id="re_old",
        created_at=T0,
        updated_at=T0,
        completed_at=T0,
    )
    entry = LogEntry(
        id=f"log_{uuid.uuid4().hex}",
        payment_id=payment.id,
        log_type=LogType.PAYMENT_CREATED,
        message="created before 0002",
        created_at=T0,
    )
    return payment, refund, entry


def _insert_as_0001(storage: SqlStorage, payment: Payment, refund: Refund, entry: LogEntry) -> None:
    """Write the records with the columns revision 0001 has, as paykit 0001 would have."""
    tables = storage.tables
    payment_row = codec.payment_row(payment, 1)
    refund_row = codec.refund_row(refund, 1)
    for row, table in ((payment_row, "payments"), (refund_row, "refunds")):
        for column in NEW_IN_0002[table]:
            del row[column]
    del payment_row[NEW_IN_0011]
    with storage.engine.begin() as connection:
        connection.execute(tables.payments.insert(), payment_row)
        connection.execute(tables.refunds.insert(), refund_row)
        connection.execute(tables.transaction_log.insert(), codec.entry_row(entry))


def _columns(storage: SqlStorage, table: str) -> set[str]:
    name = getattr(storage.tables, table).name
    return {column["name"] for column in inspect(storage.engine).get_columns(name, storage.schema)}


@pytest.mark.parametrize("table_prefix", ["", "shop_paykit_abcdefghijkl"])
def test_upgrading_a_0001_database_keeps_its_records(
    database: tuple[str, str | None], table_prefix: str
) -> None:
    """Rows written at 0001 read back equal at head: no chargeback, no sweep scheduled yet."""
    url, schema = database
    storage = SqlStorage(url, schema=schema, table_prefix=table_prefix)
    storage.upgrade("0001")
    assert storage.current_revision() == "0001"
    assert not NEW_IN_0002["payments"] & _columns(storage, "payments")
    payment, refund, entry = _v0001_records()
    _insert_as_0001(storage, payment, refund, entry)

    storage.upgrade()

    assert storage.current_revision() == head_revision()
    assert _differences(storage) == []
    with storage.unit_of_work() as uow:
        got = uow.payments.get(payment.id)
        got_refund = uow.refunds.get(refund.id)
        assert list(uow.transaction_log.list_for_payment(payment.id)) == [entry]
        assert uow.payments.find_by_provider_id("stripe", "pi_old") == got
        assert uow.refunds.find_by_provider_id("stripe", "re_old") == got_refund
    assert got == attrs.evolve(payment, version=1)
    assert got.chargeback_amount == Money.zero("JPY")
    assert str(got.chargeback_amount.amount) == "0"
    assert (got.reconcile_attempts, got.next_reconcile_at) == (0, None)
    assert got_refund == attrs.evolve(refund, version=1)
    assert (got_refund.reconcile_attempts, got_refund.next_reconcile_at) == (0, None)

    # The upgraded database takes the new records, and keeps the new rules.
    dispute = Dispute(
        id=f"dp_{uuid.uuid4().hex}",
        payment_id=payment.id,
        provider="stripe",
        provider_dispute_id="du_after_upgrade",
        amount=Money.of("3800", "JPY"),
        status=DisputeStatus.LOST,
        created_at=T0,
        updated_at=T0,
        closed_at=T0,
    )
    inbox_entry = InboxEntry(
        id=f"wh_{uuid.uuid4().hex}",
        provider="stripe",
        event_id="evt_after_upgrade",
        event_type="dispute.closed",
        provider_type="charge.dispute.closed",
        status=InboxStatus.APPLIED,
        payment_id=payment.id,
        received_at=T0,
        payload={"id": "evt_after_upgrade"},
    )
    with storage.unit_of_work() as uow:
        lost = uow.payments.get(payment.id)
        lost.chargeback_amount = Money.of("3800", "JPY")
        uow.payments.update(lost)
        uow.disputes.add(dispute)
        uow.webhook_inbox.add(inbox_entry)
        uow.commit()
    with storage.unit_of_work() as uow:
        assert uow.payments.get(payment.id).refundable_amount == Money.zero("JPY")
        assert list(uow.disputes.list_for_payment(payment.id)) == [dispute]
        assert list(uow.webhook_inbox.list_for_payment(payment.id)) == [inbox_entry]
    payments = storage.tables.payments
    negative = (
        payments.update().where(payments.c.id == payment.id).values(chargeback_amount=Decimal(-1))
    )
    with (
        pytest.raises(IntegrityError, match="chargeback_not_negative"),
        storage.engine.begin() as c,
    ):
        c.execute(negative)
    storage.dispose()


@pytest.mark.parametrize("table_prefix", ["", "pk_"])
def test_downgrading_to_0001_and_upgrading_again(
    database: tuple[str, str | None], table_prefix: str
) -> None:
    """The downgrade drops what 0002 added and keeps the 0001 rows; upgrading again works."""
    url, schema = database
    storage = SqlStorage(url, schema=schema, table_prefix=table_prefix)
    storage.upgrade()
    payment, refund, entry = _v0001_records()
    with storage.unit_of_work() as uow:
        uow.payments.add(attrs.evolve(payment, reconcile_attempts=3, next_reconcile_at=T0))
        uow.refunds.add(refund)
        uow.transaction_log.append(entry)
        uow.commit()

    _downgrade(storage, "0001")

    assert storage.current_revision() == "0001"
    names = set(inspect(storage.engine).get_table_names(schema=schema))
    assert f"{table_prefix}disputes" not in names
    assert f"{table_prefix}webhook_inbox" not in names
    assert f"{table_prefix}idempotent_requests" not in names
    for table, added in NEW_IN_0002.items():
        assert not added & _columns(storage, table), table
    indexes = inspect(storage.engine).get_indexes(storage.tables.payments.name, schema=schema)
    assert f"ix_{table_prefix}payments_reconcile" not in {index["name"] for index in indexes}

    storage.upgrade()

    assert storage.current_revision() == head_revision()
    assert _differences(storage) == []
    with storage.unit_of_work() as uow:
        got = uow.payments.get(payment.id)
        assert (got.reconcile_attempts, got.next_reconcile_at) == (0, None)  # dropped, reset
        assert got == attrs.evolve(payment, version=1)
        assert uow.refunds.get(refund.id) == attrs.evolve(refund, version=1)
        assert list(uow.transaction_log.list_for_payment(payment.id)) == [entry]
    storage.dispose()


def _idempotent_request() -> IdempotentRequest:
    """A completed request, as the API would remember it."""
    return IdempotentRequest(
        id=f"idem_{uuid.uuid4().hex}",
        owner="customer:cus_old",
        key="key-after-upgrade",
        fingerprint="sha256:abc",
        status=IdempotentRequestStatus.COMPLETED,
        response_status=201,
        response_body='{"id": "pay_1"}',
        created_at=T0,
        expires_at=T0,
    )


@pytest.mark.parametrize("table_prefix", ["", "pk_"])
def test_0003_adds_only_the_idempotent_requests_table_and_its_downgrade_drops_only_it(
    database: tuple[str, str | None], table_prefix: str
) -> None:
    """A 0002 database keeps its rows through 0003 and back; only the new table comes and goes."""
    url, schema = database
    storage = SqlStorage(url, schema=schema, table_prefix=table_prefix)
    storage.upgrade("0002")
    payment, refund, entry = _v0001_records()
    _insert_as_0001(storage, payment, refund, entry)  # valid at 0002: defaults for the rest
    payment, refund = attrs.evolve(payment, version=1), attrs.evolve(refund, version=1)
    before = set(inspect(storage.engine).get_table_names(schema=schema))
    assert f"{table_prefix}idempotent_requests" not in before

    storage.upgrade("0003")

    assert storage.current_revision() == "0003"
    after = set(inspect(storage.engine).get_table_names(schema=schema))
    assert after - before == {f"{table_prefix}idempotent_requests"}
    request = _idempotent_request()
    with storage.engine.connect() as connection:  # read raw: 0003 has no later column
        payments = storage.tables.payments
        ids = connection.execute(select(payments.c.id)).scalars().all()
    assert ids == [payment.id]
    with storage.unit_of_work() as uow:
        uow.idempotent_requests.add(request)
        uow.commit()

    _downgrade(storage, "0002")

    assert storage.current_revision() == "0002"
    assert set(inspect(storage.engine).get_table_names(schema=schema)) == before
    storage.upgrade()
    with storage.unit_of_work() as uow:
        assert uow.payments.get(payment.id) == payment
        assert uow.refunds.get(refund.id) == refund
        assert uow.idempotent_requests.find(request.owner, request.key) is None  # dropped
    storage.dispose()


@pytest.mark.parametrize("table_prefix", ["", "pk_"])
def test_0010_adds_only_the_provider_checks_and_its_downgrade_drops_only_them(
    database: tuple[str, str | None], table_prefix: str
) -> None:
    """An assessment keeps its other fields through 0010's downgrade; its checks are dropped."""
    url, schema = database
    storage = SqlStorage(url, schema=schema, table_prefix=table_prefix)
    storage.upgrade("0009")
    before = _columns(storage, "risk_assessments")
    assert not NEW_IN_0010 & before

    storage.upgrade("0010")

    assert _columns(storage, "risk_assessments") - before == NEW_IN_0010
    checked = RiskAssessment(
        id=f"pay_{uuid.uuid4().hex}",
        customer_id="cus_old",
        amount=Money.of("25.00", "EUR"),
        decision=RiskAction.ALLOW,
        provider_risk_level="normal",
        provider_risk_score=12,
        provider_cvc_check="fail",
        provider_address_check="pass",
        provider_seller_protection="not_eligible",
        created_at=T0,
        updated_at=T0,
    )
    with storage.unit_of_work() as uow:
        uow.risk_assessments.add(checked)
        uow.commit()

    _downgrade(storage, "0009")

    assert storage.current_revision() == "0009"
    assert _columns(storage, "risk_assessments") == before
    storage.upgrade()
    assert _differences(storage) == []
    with storage.unit_of_work() as uow:
        got = uow.risk_assessments.find(checked.id)
    assert got == attrs.evolve(
        checked,
        provider_cvc_check=None,
        provider_address_check=None,
        provider_seller_protection=None,
        version=1,
    )
    storage.dispose()


def _insert_pending_as_0010(storage: SqlStorage, payment_id: str) -> None:
    """A pending payment written with the columns revision 0010 has."""
    payment, _, _ = _v0001_records()
    payment = attrs.evolve(
        payment,
        id=payment_id,
        status=PaymentStatus.PENDING,
        captured_amount=Money.zero("JPY"),
        refunded_amount=Money.zero("JPY"),
        provider_payment_id=None,
        completed_at=None,
    )
    row = codec.payment_row(payment, 1)
    del row[NEW_IN_0011]
    with storage.engine.begin() as connection:
        connection.execute(storage.tables.payments.insert(), row)


def test_0011_moves_an_undecided_assessment_onto_its_pending_payment(
    database: tuple[str, str | None],
) -> None:
    """Its context (only the plain fields if sealed) goes to the payment; decided ones stay."""
    url, schema = database
    storage = SqlStorage(url, schema=schema)
    storage.upgrade("0010")
    plain, sealed, decided = (f"pay_{uuid.uuid4().hex}" for _ in range(3))
    for payment_id in (plain, sealed, decided):
        _insert_pending_as_0010(storage, payment_id)
    undecided = RiskAssessment(
        id=plain,
        customer_id="cus_old",
        amount=Money.of("5000", "JPY"),
        email="kept@example.com",
        email_domain="example.com",
        ip_address="192.0.2.7",
        ip_country="DE",
        billing_country="FR",
        device_id="dev_7",
        account_age_days=3,
        created_at=T0,
        updated_at=T0,
    )
    with storage.unit_of_work() as uow:
        uow.risk_assessments.add(undecided)
        uow.risk_assessments.add(attrs.evolve(undecided, id=decided, decision=RiskAction.ALLOW))
        uow.risk_assessments.add(attrs.evolve(undecided, id=sealed))
        uow.commit()
    table = storage.tables.risk_assessments
    with storage.engine.begin() as connection:  # as encryption at rest writes it
        connection.execute(table.update().where(table.c.id == sealed).values(personal="pk1:sealed"))

    storage.upgrade("0011")

    with storage.unit_of_work() as uow:
        moved = uow.payments.get(plain).risk_context
        plain_only = uow.payments.get(sealed).risk_context
        assert uow.payments.get(decided).risk_context is None
        assert uow.risk_assessments.find(plain) is None
        assert uow.risk_assessments.find(sealed) is None
        kept = uow.risk_assessments.find(decided)
    assert moved == RiskContext(
        email="kept@example.com",
        ip_address="192.0.2.7",
        ip_country="DE",
        billing_country="FR",
        device_id="dev_7",
        account_age=timedelta(days=3),
    )
    assert plain_only == RiskContext(
        ip_country="DE", billing_country="FR", account_age=timedelta(days=3)
    )
    assert kept is not None
    assert kept.decision is RiskAction.ALLOW

    _downgrade(storage, "0010")

    assert NEW_IN_0011 not in _columns(storage, "payments")
    storage.upgrade()
    assert _differences(storage) == []
    storage.dispose()
