"""SqlStorage itself: how it is built, how it talks to the database, what the database refuses.

The contract suite checks behaviour any storage must have; these tests check the SQL
choices behind it -- short transactions only at commit, ``BEGIN IMMEDIATE`` on SQLite, the
statement count of a lifecycle, insertion order on equal timestamps, and the constraints
the database keeps on its own (provider ids, foreign keys, the refund ceiling).
"""

from __future__ import annotations

import contextlib
import gc
import re
import threading
import uuid
import weakref
from datetime import UTC, datetime
from typing import Any, Final

import attrs
import pytest
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError

from paykit import (
    InvalidRefundAmountError,
    Money,
    NotFound,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from paykit.domain.payment_method import PaymentMethodType
from paykit.domain.risk import ReviewState
from paykit.storage.sql import SqlStorage
from paykit.storage.sql._uow import is_conflict

from ._sql_support import completed_payment, make_service, pending_payment

T0: Final = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
CONTROL: Final = frozenset({"BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"})


def _payment(**changes: Any) -> Payment:
    usd = Money.of("100.00", "USD")
    zero = Money.zero("USD")
    payment = Payment(
        id=f"pay_{uuid.uuid4().hex}",
        customer_id="cus_storage",
        order_id="ord_storage",
        payment_method_id="pm_storage",
        payment_method_type=PaymentMethodType.CREDIT_CARD,
        provider="sandbox",
        amount=usd,
        status=PaymentStatus.COMPLETED,
        captured_amount=usd,
        refunded_amount=zero,
        refund_reserved_amount=zero,
        created_at=T0,
        updated_at=T0,
    )
    return attrs.evolve(payment, **changes)


class Statements:
    """The statements an engine sends, in order, by their first word (pragmas apart)."""

    def __init__(self, engine: Engine) -> None:
        self.sent: list[str] = []
        self.pragmas = 0
        """SQLite's per-connection settings, sent once per new pooled connection."""
        self.texts: list[str] = []
        """The whole text of every statement in ``sent``."""
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, *args: Any) -> None:
        statement: str = args[2]
        if statement.startswith("PRAGMA"):
            self.pragmas += 1
        else:
            self.sent.append(statement if statement in CONTROL else statement.split(maxsplit=1)[0])
            self.texts.append(statement)

    @property
    def data(self) -> list[str]:
        """The statements other than transaction control."""
        return [s for s in self.sent if s not in CONTROL]


@pytest.fixture
def counted(sql_storage: SqlStorage) -> Statements:
    """Every statement ``sql_storage`` sends from now on."""
    return Statements(sql_storage.engine)


# -- building it -----------------------------------------------------------------------------


def test_a_url_or_an_engine_but_not_both_nor_neither(sqlite_url: str) -> None:
    """The constructor wants exactly one of a URL and an engine."""
    engine = create_engine(sqlite_url)
    with pytest.raises(TypeError, match="not both"):
        SqlStorage(sqlite_url, engine=engine)
    with pytest.raises(TypeError, match="not both"):
        SqlStorage()
    with pytest.raises(TypeError, match="engine options"):
        SqlStorage(engine=engine, pool_size=3)
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("sqlite://", {}, "in-memory"),
        ("sqlite:///:memory:", {}, "in-memory"),
        ("sqlite:///paykit.db", {"schema": "payments"}, "no schemas"),
        ("sqlite:///paykit.db", {"table_prefix": "bad-prefix"}, "letters, digits"),
        ("sqlite:///paykit.db", {"table_prefix": "p" * 25}, "at most 24"),
    ],
)
def test_setups_paykit_cannot_make_safe_are_refused(
    url: str, options: dict[str, Any], message: str
) -> None:
    """In-memory SQLite, schemas on SQLite and unusable prefixes are refused with a reason."""
    with pytest.raises(ValueError, match=message):
        SqlStorage(url, **options)


def test_the_repr_hides_the_password() -> None:
    """The storage's repr shows where it stores, never the database password."""
    engine = create_engine("postgresql+psycopg://app:hunter2@db.example/shop")
    storage = SqlStorage(engine=engine, schema="payments", table_prefix="pk_")
    assert "hunter2" not in repr(storage)
    assert "schema='payments'" in repr(storage)
    assert "table_prefix='pk_'" in repr(storage)


def test_postgres_engines_get_paykits_pool_settings(postgres_url: str) -> None:
    """An engine made from a URL has a bounded, recycled pool; options override it.

    paykit pings idle connections itself (the next test), so SQLAlchemy's ping at every
    checkout is off unless asked for.
    """
    storage = SqlStorage(postgres_url)
    tuned = SqlStorage(postgres_url, pool_size=2, pool_pre_ping=True)
    pool: Any = storage.engine.pool
    assert (pool.size(), pool._max_overflow, pool._pre_ping, pool._recycle) == (5, 10, False, 1800)
    assert (tuned.engine.pool.size(), tuned.engine.pool._pre_ping) == (2, True)  # type: ignore[attr-defined]
    storage.dispose()
    tuned.dispose()


def test_a_pooled_connection_the_server_closed_is_replaced_before_use(
    postgres_url: str, postgres_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that sat idle is pinged at checkout; a dead one never reaches a unit.

    The server ends the pooled connection (as a restart or a proxy's idle timeout would);
    the next unit of work gets a new one and its read succeeds. A connection used a
    moment ago is handed out without the ping: no round trip per unit of work.
    """
    storage = SqlStorage(postgres_url, pool_size=1, max_overflow=0)
    pings: list[object] = []
    ping = storage.engine.dialect.do_ping

    def counted_ping(connection: Any) -> bool:
        pings.append(connection)
        return ping(connection)

    monkeypatch.setattr(storage.engine.dialect, "do_ping", counted_ping)

    def backend_pid() -> int:
        with storage.engine.connect() as connection:
            return int(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())

    first = backend_pid()
    assert backend_pid() == first
    assert pings == []  # used a moment ago: no ping
    with postgres_engine.connect() as admin:
        admin.exec_driver_sql(f"SELECT pg_terminate_backend({first})")
    monkeypatch.setattr("paykit.storage.sql._storage.IDLE_BEFORE_PING", 0.0)
    replacement = backend_pid()  # would raise "terminating connection" without the ping
    assert replacement != first
    assert len(pings) == 1
    storage.dispose()


def test_two_prefixes_in_one_database_are_separate_stores(sqlite_url: str) -> None:
    """Tables under different prefixes on one host engine never see each other's records."""
    engine = create_engine(sqlite_url)
    shop = SqlStorage(engine=engine, table_prefix="shop_")
    other = SqlStorage(engine=engine, table_prefix="other_")
    shop.upgrade()
    other.upgrade()
    payment = _payment()
    with shop.unit_of_work() as uow:
        uow.payments.add(payment)
        uow.commit()

    with shop.unit_of_work() as uow:
        assert uow.payments.get(payment.id) == payment
    with other.unit_of_work() as uow:
        assert list(uow.payments.list()) == []
    shop.dispose()  # the host's engine is the host's: still usable afterwards
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM shop_payments").scalar() == 1
    engine.dispose()


# -- how it uses the database ----------------------------------------------------------------


def test_sqlite_writes_take_the_write_lock_up_front(sqlite_url: str) -> None:
    """A multi-statement SQLite commit is ``BEGIN IMMEDIATE`` ... ``COMMIT``; reads start none."""
    storage = SqlStorage(sqlite_url)
    storage.upgrade()
    statements = Statements(storage.engine)
    payment = _payment()
    with storage.unit_of_work() as uow:
        uow.payments.list()
        uow.payments.add(payment)
        uow.refunds.add(
            Refund(
                id="re_1",
                payment_id=payment.id,
                amount=payment.amount,
                created_at=T0,
                updated_at=T0,
            )
        )
        uow.commit()

    assert statements.sent == [
        "SELECT",
        "BEGIN IMMEDIATE",
        "INSERT",
        "INSERT",
        "COMMIT",
    ]
    assert statements.pragmas == 3  # WAL, foreign keys, busy timeout: once per connection
    storage.dispose()


def test_a_single_row_commit_needs_no_transaction(
    sql_storage: SqlStorage, counted: Statements
) -> None:
    """A commit of one row is one statement: atomic by itself, without ``BEGIN``/``COMMIT``."""
    with sql_storage.unit_of_work() as uow:
        uow.payments.add(_payment())
        uow.commit()
    assert counted.sent == ["INSERT"]


def test_no_transaction_stays_open_between_reads(sql_storage: SqlStorage) -> None:
    """Inside a unit of work that has read, the connection holds no open transaction."""
    payment = _payment()
    with sql_storage.unit_of_work() as uow:
        uow.payments.add(payment)
        uow.commit()
    with sql_storage.unit_of_work() as uow:
        uow.payments.get(payment.id)
        uow.payments.list(customer_id="cus_storage")
        connection = uow._connection
        assert connection is not None
        dbapi: Any = connection.connection.dbapi_connection
        if sql_storage.engine.dialect.name == "sqlite":
            assert dbapi.in_transaction is False
        else:
            assert dbapi.info.transaction_status.name == "IDLE"
    assert uow._connection is None, "the connection went back to the pool"


def test_a_lifecycle_takes_the_documented_number_of_statements(
    sql_storage: SqlStorage, counted: Statements
) -> None:
    """Add a card, create, process, refund twice: 32 data statements in 9 transactions + 1.

    Recording a charge's or refund's answer also asks whether unmatched webhook events
    wait for the provider's id it learned (events that overtook the API response are
    applied then), inside the read of the payment or refund: an ``EXISTS`` on the inbox,
    not a statement of its own (35 statements when it was one, three in all). No inbox
    row is written. 40 until a payment and its method, and a refund and its payment,
    were read in one joined statement where a unit needs both (five reads fewer).
    """
    service = make_service(sql_storage)
    payment = completed_payment(service)
    for amount in ("30.00", "20.00"):
        service.process_refund(service.create_refund(payment.id, amount).id)

    assert len(counted.data) == 32
    assert counted.sent.count("BEGIN" if "BEGIN" in counted.sent else "BEGIN IMMEDIATE") == 9
    assert counted.sent.count("COMMIT") == 9
    assert len(counted.sent) == 50
    inbox = sql_storage.tables.webhook_inbox.name
    disputes = sql_storage.tables.disputes.name
    reads_inbox = re.compile(rf"^SELECT\s+(\S+\.)?{inbox}\.")  # its rows, on their own
    asks_inbox = re.compile(rf"\bEXISTS\s*\(SELECT\s.*\sFROM\s(\S+\.)?{inbox}\b", re.DOTALL)
    assert not [text for text in counted.texts if reads_inbox.match(text)]
    assert len([text for text in counted.texts if asks_inbox.search(text)]) == 3
    assert not [text for text in counted.texts if not text.startswith("SELECT") and inbox in text]
    assert not [text for text in counted.texts if disputes in text]
    assert service.get_payment(payment.id).refunded_amount == Money.of("50.00", "USD")


def test_listings_keep_insertion_order_for_equal_timestamps(sql_storage: SqlStorage) -> None:
    """Records with one ``created_at`` are listed in the order written, staged changes included."""
    first, second, third = (_payment() for _ in range(3))
    for payment in (first, second, third):
        with sql_storage.unit_of_work() as uow:
            uow.payments.add(payment)
            uow.commit()
    with sql_storage.unit_of_work() as uow:
        changed = uow.payments.get(second.id)
        changed.description = "changed in this unit"
        uow.payments.update(changed)
        fourth = _payment()
        uow.payments.add(fourth)
        listed = uow.payments.list(customer_id="cus_storage")
    assert [p.id for p in listed] == [first.id, second.id, third.id, fourth.id]
    assert listed[1].description == "changed in this unit"


def test_threads_refunding_through_the_service_keep_the_ceiling(sql_storage: SqlStorage) -> None:
    """Eight threads refunding 30.00 of 100.00 through the service: three refunds, 90.00."""
    service = make_service(sql_storage)
    payment = completed_payment(service)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def refund() -> None:
        barrier.wait()
        try:
            created = service.create_refund(payment.id, "30.00")
            outcomes.append(str(service.process_refund(created.id).status))
        except InvalidRefundAmountError:
            outcomes.append("refused")

    threads = [threading.Thread(target=refund) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(outcomes) == [str(RefundStatus.COMPLETED)] * 3 + ["refused"] * 5
    after = service.get_payment(payment.id)
    assert after.refunded_amount == Money.of("90.00", "USD")
    assert after.refund_reserved_amount.is_zero()


# -- what the database refuses on its own ------------------------------------------------------


def test_a_provider_id_taken_twice_is_an_integrity_error_not_a_conflict(
    sql_storage: SqlStorage,
) -> None:
    """Two payments claiming one provider payment: an error to investigate, not a race to retry."""
    with sql_storage.unit_of_work() as uow:
        uow.payments.add(_payment(provider_payment_id="pi_same"))
        uow.commit()
    twin = _payment(provider_payment_id="pi_same")
    with sql_storage.unit_of_work() as uow:
        uow.payments.add(twin)
        with pytest.raises(IntegrityError, match="provider"):
            uow.commit()
    with sql_storage.unit_of_work() as uow:
        assert len(uow.payments.list()) == 1


def test_a_sandbox_restarted_against_the_same_database_records_its_charges(
    sqlite_url: str,
) -> None:
    """A new sandbox on a SQLite file with earlier charges (a restarted demo) records its own.

    The database keeps provider ids unique per provider; sandbox ids carry a random part per
    instance, so a restarted sandbox never hands out an id an earlier payment holds.
    """
    storage = SqlStorage(sqlite_url)
    storage.upgrade()
    completed_payment(make_service(storage))  # the first run of the demo

    restarted = make_service(storage)  # the same demo, run again: a fresh "sandbox"
    payment = restarted.process_payment(pending_payment(restarted).id)

    assert payment.status is PaymentStatus.COMPLETED
    storage.dispose()


def test_a_refund_of_an_unknown_payment_breaks_the_foreign_key(sql_storage: SqlStorage) -> None:
    """The database refuses a refund whose payment does not exist, and writes nothing."""
    orphan = Refund(
        id="re_orphan",
        payment_id="pay_missing",
        amount=Money.of("1.00", "USD"),
        created_at=T0,
        updated_at=T0,
    )
    with sql_storage.unit_of_work() as uow:
        uow.refunds.add(orphan)
        with pytest.raises(IntegrityError):
            uow.commit()


def test_the_database_itself_refuses_refunds_beyond_the_capture(sql_storage: SqlStorage) -> None:
    """Even code that skips the domain's checks cannot store refunds above the captured amount."""
    breach = _payment(
        refunded_amount=Money.of("60.00", "USD"), refund_reserved_amount=Money.of("40.01", "USD")
    )
    with sql_storage.unit_of_work() as uow:
        uow.payments.add(breach)
        with pytest.raises(IntegrityError, match="refund_ceiling"):
            uow.commit()


class _FakeDriverError(Exception):
    """A driver exception with the attributes psycopg or sqlite3 would give it."""

    def __init__(self, message: str, **attributes: Any) -> None:
        super().__init__(message)
        for name, value in attributes.items():
            setattr(self, name, value)


@pytest.mark.parametrize(
    ("driver_error", "conflict"),
    [
        (_FakeDriverError("dup", sqlstate="23505", diag=None), True),
        (_FakeDriverError("deadlock detected", sqlstate="40P01"), True),
        (_FakeDriverError("could not serialize access", sqlstate="40001"), True),
        (
            _FakeDriverError(
                "dup", sqlstate="23505", diag=type("D", (), {"constraint_name": "uq_p_provider_id"})
            ),
            False,
        ),
        (_FakeDriverError("fk", sqlstate="23503"), False),
        (
            _FakeDriverError(
                "UNIQUE constraint failed: t.id", sqlite_errorname="SQLITE_CONSTRAINT_UNIQUE"
            ),
            True,
        ),
        (
            _FakeDriverError(
                "UNIQUE constraint failed: payments.provider, payments.provider_payment_id",
                sqlite_errorname="SQLITE_CONSTRAINT_UNIQUE",
            ),
            False,
        ),
        (_FakeDriverError("locked", sqlite_errorname="SQLITE_BUSY"), False),
        # One provider's dispute or event recorded twice: two deliveries racing, retried.
        (
            _FakeDriverError(
                "dup",
                sqlstate="23505",
                diag=type("D", (), {"constraint_name": "uq_p_disputes_provider_dispute"}),
            ),
            True,
        ),
        (
            _FakeDriverError(
                "dup",
                sqlstate="23505",
                diag=type("D", (), {"constraint_name": "uq_p_webhook_inbox_event"}),
            ),
            True,
        ),
        (
            _FakeDriverError(
                "UNIQUE constraint failed: disputes.provider, disputes.provider_dispute_id",
                sqlite_errorname="SQLITE_CONSTRAINT_UNIQUE",
            ),
            True,
        ),
        (
            _FakeDriverError(
                "UNIQUE constraint failed: webhook_inbox.event_id, webhook_inbox.provider",
                sqlite_errorname="SQLITE_CONSTRAINT_UNIQUE",
            ),
            True,
        ),
    ],
)
def test_which_driver_errors_are_conflicts(driver_error: Exception, conflict: bool) -> None:
    """Unique keys, deadlocks and serialization failures are retried; the rest is raised."""
    error = DBAPIError("UPDATE ...", {}, driver_error)
    assert is_conflict(error) is conflict


# -- the indexes the new queries need --------------------------------------------------------


def _found_or_not(read: Any, *ids: str) -> None:
    """Run a read of a record by id for its plan; the empty test tables have no such record."""
    with contextlib.suppress(NotFound):
        read(*ids)


class QueryPlans:
    """Turns every ``SELECT`` into its query plan, and keeps the plans (the reads find nothing).

    On PostgreSQL sequential scans are switched off first: on the empty tables of a test the
    planner would otherwise prefer them, and the question is which index it *can* use.
    """

    def __init__(self, engine: Engine) -> None:
        self.plans: list[str] = []
        self._postgres = engine.dialect.name == "postgresql"
        event.listen(engine, "before_cursor_execute", self._explain, retval=True)
        event.listen(engine, "after_cursor_execute", self._keep)

    def _explain(self, *args: Any) -> tuple[str, Any]:
        cursor, statement, parameters = args[1], args[2], args[3]
        if not statement.startswith("SELECT"):
            return statement, parameters
        if self._postgres:
            cursor.execute("SET enable_seqscan = off")
            return f"EXPLAIN {statement}", parameters
        return f"EXPLAIN QUERY PLAN {statement}", parameters

    def _keep(self, *args: Any) -> None:
        cursor, statement = args[1], args[2]
        if statement.startswith("EXPLAIN"):
            self.plans.append("\n".join(str(row[-1]) for row in cursor.fetchall()))


_PROCESSING: Final = [PaymentStatus.PROCESSING]


@pytest.mark.parametrize(
    ("read", "index"),
    [
        (lambda uow: uow.webhook_inbox.list_unmatched(limit=10), "ix_webhook_inbox_unmatched"),
        (
            lambda uow: uow.webhook_inbox.list_unmatched(provider="stripe", limit=10),
            "ix_webhook_inbox_unmatched",
        ),
        (
            lambda uow: uow.webhook_inbox.list_unmatched(
                provider="stripe", provider_payment_id="pi_1"
            ),
            "ix_webhook_inbox_unmatched",
        ),
        (
            lambda uow: uow.webhook_inbox.list_unmatched(
                provider="stripe",
                payment_id="pay_1",
                provider_payment_id="pi_1",
                provider_refund_id="re_1",
            ),
            "ix_webhook_inbox_unmatched",
        ),
        (
            lambda uow: _found_or_not(uow.payments.get_noting_waiting_events, "pay_1", "pi_1"),
            "ix_webhook_inbox_unmatched",  # a partial index: unmatched rows only
        ),
        (
            lambda uow: _found_or_not(
                uow.refunds.get_with_payment_noting_waiting_events, "re_1", "re_1"
            ),
            "ix_webhook_inbox_unmatched",
        ),
        (lambda uow: uow.webhook_inbox.find("stripe", "evt_1"), "uq_webhook_inbox_event"),
        (lambda uow: uow.webhook_inbox.list_for_payment("pay_1"), "ix_webhook_inbox_payment"),
        (
            lambda uow: uow.disputes.find_by_provider_id("stripe", "du_1"),
            "uq_disputes_provider_dispute",
        ),
        (lambda uow: uow.disputes.list_for_payment("pay_1"), "ix_disputes_payment"),
        (
            lambda uow: uow.payments.find_by_provider_id("stripe", "pi_1"),
            "uq_payments_provider_id",
        ),
        (lambda uow: uow.refunds.find_by_provider_id("stripe", "re_1"), "uq_refunds_provider_id"),
        (
            lambda uow: uow.risk_assessments.list_by_review_state(ReviewState.PENDING, limit=10),
            "ix_risk_assessments_held",  # a partial index: held payments only
        ),
        (
            lambda uow: uow.payments.list_due_for_reconciliation(
                _PROCESSING, updated_before=T0, due_by=T0, limit=10
            ),
            "ix_payments_reconcile",
        ),
        (
            lambda uow: uow.refunds.list_due_for_reconciliation(
                updated_before=T0, due_by=T0, limit=10
            ),
            "ix_refunds_reconcile",
        ),
    ],
)
def test_lookups_by_provider_ids_sweeps_and_the_inbox_use_their_indexes(
    sql_storage_of_its_own: SqlStorage, read: Any, index: str
) -> None:
    """Each new read can use the index made for it; unmatched entries need the literal status."""
    plans = QueryPlans(sql_storage_of_its_own.engine)
    with sql_storage_of_its_own.unit_of_work() as uow:
        read(uow)

    [plan] = plans.plans
    assert index in plan, plan


def test_unmatched_listings_state_the_status_literally(
    sql_storage: SqlStorage, counted: Statements
) -> None:
    """The partial indexes need ``status = 'unmatched'`` in the text, not as a parameter.

    PostgreSQL's generic plan of a prepared statement (psycopg prepares a query after five
    runs) can use a partial index only if the query itself implies its condition.
    """
    with sql_storage.unit_of_work() as uow:
        uow.webhook_inbox.list_unmatched(limit=1)
        uow.webhook_inbox.list_unmatched(provider="stripe", provider_payment_id="pi_1")

    assert len(counted.texts) == 2
    for text in counted.texts:
        assert re.search(r"\.status = 'unmatched'", text), text


def test_a_storage_no_longer_used_is_freed_with_its_tables(sqlite_url: str) -> None:
    """Nothing paykit keeps at module level holds a storage's tables once it is gone.

    A process that builds storages as it goes (a test suite, a host with one storage per
    tenant) would otherwise keep every one's schema objects: the whole suite once held
    1,153 of them, 1.4 GB that the interpreter took a minute to collect at exit.
    """
    storage = SqlStorage(sqlite_url)
    storage.upgrade()
    with storage.unit_of_work() as uow:
        uow.outbox.list_pending(limit=1)
    payments_table = weakref.ref(storage.tables.payments)
    storage.dispose()
    del storage, uow
    gc.collect()
    assert payments_table() is None
