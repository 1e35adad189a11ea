"""Values stored exactly: money at the maximum, aware datetimes, JSON, no secrets.

Run on SQLite and PostgreSQL. Besides the round trips, the tests look at what the database
really holds: an integer (never a float) on SQLite, ``numeric`` on PostgreSQL, fixed-width
UTC text for SQLite datetimes, plain JSON for the audit log's frozen data.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import pytest
from pydantic import SecretStr
from sqlalchemy.exc import StatementError

from paykit import (
    MAX_MINOR_UNITS,
    LogType,
    Money,
    NextAction,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    TransactionLogEntry,
    from_minor_units,
)
from paykit.domain.dispute import Dispute, DisputeStatus
from paykit.domain.payment_method import PaymentMethodType
from paykit.domain.webhook_inbox import InboxEntry, InboxStatus
from paykit.storage.sql import SqlStorage
from paykit.storage.sql import _codec as codec
from paykit.storage.sql._schema import build_tables

T0 = datetime(2024, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def _payment(currency: str = "USD", **changes: Any) -> Payment:
    zero = Money.zero(currency)
    payment = Payment(
        id=f"pay_{uuid.uuid4().hex}",
        customer_id="cus_codec",
        order_id="ord_codec",
        payment_method_id="pm_codec",
        payment_method_type=PaymentMethodType.CREDIT_CARD,
        provider="sandbox",
        amount=Money.of("1", currency),
        status=PaymentStatus.COMPLETED,
        captured_amount=Money.of("1", currency),
        refunded_amount=zero,
        refund_reserved_amount=zero,
        created_at=T0,
        updated_at=T0,
    )
    return attrs.evolve(payment, **changes)


def _entry(payment_id: str, **changes: Any) -> TransactionLogEntry:
    entry = TransactionLogEntry(
        id=f"log_{uuid.uuid4().hex}",
        payment_id=payment_id,
        log_type=LogType.PAYMENT_CREATED,
        message="created",
        created_at=T0,
    )
    return attrs.evolve(entry, **changes)


def _dispute(payment: Payment, **changes: Any) -> Dispute:
    dispute = Dispute(
        id=f"dp_{uuid.uuid4().hex}",
        payment_id=payment.id,
        provider="stripe",
        provider_dispute_id=f"du_{uuid.uuid4().hex}",
        amount=payment.amount,
        status=DisputeStatus.NEEDS_RESPONSE,
        created_at=T0,
        updated_at=T0,
    )
    return attrs.evolve(dispute, **changes)


def _inbox_entry(**changes: Any) -> InboxEntry:
    entry = InboxEntry(
        id=f"wh_{uuid.uuid4().hex}",
        provider="stripe",
        event_id=f"evt_{uuid.uuid4().hex}",
        event_type="payment.completed",
        provider_type="payment_intent.succeeded",
        status=InboxStatus.UNMATCHED,
        received_at=T0,
    )
    return attrs.evolve(entry, **changes)


Saved = Payment | Refund | TransactionLogEntry | Dispute | InboxEntry


def _save(storage: SqlStorage, *records: Saved) -> None:
    with storage.unit_of_work() as uow:
        for record in records:
            if isinstance(record, Payment):
                uow.payments.add(record)
            elif isinstance(record, Refund):
                uow.refunds.add(record)
            elif isinstance(record, Dispute):
                uow.disputes.add(record)
            elif isinstance(record, InboxEntry):
                uow.webhook_inbox.add(record)
            else:
                uow.transaction_log.append(record)
        uow.commit()


def _raw(storage: SqlStorage, table: str, column: str, record_id: str) -> Any:
    """The value the database holds, as the driver returns it, without paykit's types."""
    return _scalar(storage, column, table, record_id)


def _stored_type(storage: SqlStorage, table: str, column: str, record_id: str) -> str:
    """The database's own name for the type of the stored value."""
    function = "typeof" if storage.engine.dialect.name == "sqlite" else "pg_typeof"
    return str(_scalar(storage, f"{function}({column})", table, record_id))


def _scalar(storage: SqlStorage, expression: str, table: str, record_id: str) -> Any:
    name = getattr(storage.tables, table).name
    where = f"{storage.schema}.{name}" if storage.schema else name
    sql = f"SELECT {expression} FROM {where} WHERE id = '{record_id}'"  # noqa: S608 - test-made
    with storage.engine.connect() as connection:
        return connection.exec_driver_sql(sql).scalar_one()


@pytest.mark.parametrize("currency", ["USD", "JPY", "KWD", "CLF"])
def test_money_round_trips_exactly_at_the_maximum(sql_storage: SqlStorage, currency: str) -> None:
    """The largest amount, and one minor unit, of each exponent (0, 2, 3, 4) come back exact."""
    largest = from_minor_units(MAX_MINOR_UNITS, currency)
    one_unit = from_minor_units(1, currency)
    below = from_minor_units(MAX_MINOR_UNITS - 1, currency)
    payment = _payment(
        currency,
        amount=largest,
        captured_amount=largest,
        refunded_amount=below,
        refund_reserved_amount=one_unit,
        chargeback_amount=largest,
    )
    refund = Refund(
        id=f"re_{uuid.uuid4().hex}",
        payment_id=payment.id,
        amount=largest,
        created_at=T0,
        updated_at=T0,
    )
    entry = _entry(payment.id, amount=largest)
    dispute = _dispute(payment, amount=largest)
    small_dispute = _dispute(payment, amount=one_unit)
    _save(sql_storage, payment, refund, entry, dispute, small_dispute)

    with sql_storage.unit_of_work() as uow:
        got = uow.payments.get(payment.id)
        got_refund = uow.refunds.get(refund.id)
        [got_entry] = uow.transaction_log.list_for_payment(payment.id)
        got_dispute = uow.disputes.get(dispute.id)
        got_small_dispute = uow.disputes.get(small_dispute.id)
    assert got == payment
    assert got_dispute == dispute
    for stored, expected in (
        (got.amount, largest),
        (got.captured_amount, largest),
        (got.refunded_amount, below),
        (got.refund_reserved_amount, one_unit),
        (got.chargeback_amount, largest),
        (got_refund.amount, largest),
        (got_entry.amount, largest),
        (got_dispute.amount, largest),
        (got_small_dispute.amount, one_unit),
    ):
        assert stored is not None
        assert type(stored.amount) is Decimal
        assert str(stored.amount) == str(expected.amount)
        assert stored == expected
    exact = "integer" if sql_storage.engine.dialect.name == "sqlite" else "numeric"
    assert _stored_type(sql_storage, "payments", "amount", payment.id) == exact
    assert _stored_type(sql_storage, "payments", "chargeback_amount", payment.id) == exact
    assert _stored_type(sql_storage, "disputes", "amount", dispute.id) == exact


@pytest.fixture
def far_east_storage(database: tuple[str, str | None]) -> Iterator[SqlStorage]:
    """A storage whose PostgreSQL sessions run in Asia/Kolkata (UTC+05:30), not UTC."""
    url, schema = database
    options: dict[str, Any] = {}
    if url.startswith("postgresql"):
        options["connect_args"] = {"options": "-c timezone=Asia/Kolkata"}
    storage = SqlStorage(url, schema=schema, **options)
    storage.upgrade()
    yield storage
    storage.dispose()


def test_aware_datetimes_round_trip_in_utc_with_microseconds(far_east_storage: SqlStorage) -> None:
    """Datetimes in any zone come back as the same instant, in UTC, to the microsecond."""
    kolkata = timezone(timedelta(hours=5, minutes=30))
    created = datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=kolkata)
    payment = _payment(
        created_at=created,
        updated_at=datetime(2025, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        submitted_at=datetime(1999, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
        completed_at=None,
    )
    _save(far_east_storage, payment)

    with far_east_storage.unit_of_work() as uow:
        got = uow.payments.get(payment.id)
    assert got.created_at == created
    assert got.created_at.tzinfo is UTC
    assert got.created_at.microsecond == 999999
    assert got.created_at.hour == 18  # 23:59 in Kolkata is 18:29 in UTC
    assert got.updated_at == payment.updated_at
    assert got.updated_at.microsecond == 1
    assert got.submitted_at == payment.submitted_at
    assert got.completed_at is None


def test_sqlite_stores_datetimes_as_sortable_utc_text(sqlite_url: str) -> None:
    """On SQLite a datetime is fixed-width ISO 8601 text in UTC, so text order is time order."""
    storage = SqlStorage(sqlite_url)
    storage.upgrade()
    early = _payment(created_at=datetime(2024, 1, 1, 0, 0, 0, 5, tzinfo=UTC))
    late = _payment(created_at=datetime(2024, 1, 1, 0, 0, 0, 40, tzinfo=UTC))
    _save(storage, late, early)

    assert _raw(storage, "payments", "created_at", early.id) == "2024-01-01 00:00:00.000005+00:00"
    assert _raw(storage, "payments", "created_at", late.id) == "2024-01-01 00:00:00.000040+00:00"
    with storage.unit_of_work() as uow:
        assert [p.id for p in uow.payments.list()] == [early.id, late.id]
    storage.dispose()


def test_a_naive_datetime_is_refused_and_nothing_is_written(sql_storage: SqlStorage) -> None:
    """A datetime without a time zone cannot be stored; the commit writes nothing."""
    payment = _payment(created_at=datetime(2024, 1, 1, 12, 0))  # noqa: DTZ001 - the point of the test
    with pytest.raises(StatementError, match="naive"):
        _save(sql_storage, payment)

    with sql_storage.unit_of_work() as uow:
        assert list(uow.payments.list()) == []


def test_the_next_actions_client_secret_is_never_stored(sql_storage: SqlStorage) -> None:
    """A next action keeps its type and URL in the database, never its client secret."""
    action = NextAction(
        type="redirect_to_url",
        redirect_url="https://example.com/3ds",
        client_secret=SecretStr("pi_123_secret_topsecret"),
    )
    payment = _payment(status=PaymentStatus.REQUIRES_ACTION, next_action=action)
    _save(sql_storage, payment)

    raw = _raw(sql_storage, "payments", "next_action", payment.id)
    assert "topsecret" not in json.dumps(raw)
    with sql_storage.unit_of_work() as uow:
        stored = uow.payments.get(payment.id).next_action
    assert stored == action.without_secret()


def test_log_data_is_plain_json_in_the_database_and_frozen_when_read(
    sql_storage: SqlStorage,
) -> None:
    """Frozen log data is written as plain JSON and read back frozen and equal."""
    payment = _payment()
    data = {"gateway": {"codes": [1, 2, {"deep": [True, None, 1.5]}], "id": "req_1"}}
    entry = _entry(payment.id, data=data)
    _save(sql_storage, payment, entry)

    raw = _raw(sql_storage, "transaction_log", "data", entry.id)
    assert (json.loads(raw) if isinstance(raw, str) else raw) == data
    with sql_storage.unit_of_work() as uow:
        [stored] = uow.transaction_log.list_for_payment(payment.id)
    assert stored == entry
    assert stored.data["gateway"]["codes"][2]["deep"] == (True, None, 1.5)
    with pytest.raises(TypeError):
        stored.data["gateway"]["forged"] = 1


def test_log_data_that_is_not_json_is_refused_by_name(sql_storage: SqlStorage) -> None:
    """Log data holding a non-JSON value fails with the type's name, and nothing is written."""
    payment = _payment()
    _save(sql_storage, payment)
    with pytest.raises(TypeError, match="Decimal"):
        _save(sql_storage, _entry(payment.id, data={"amount": Decimal("1.00")}))

    with sql_storage.unit_of_work() as uow:
        assert list(uow.transaction_log.list_for_payment(payment.id)) == []


def test_an_inbox_payload_is_plain_json_in_the_database_and_frozen_when_read(
    sql_storage: SqlStorage,
) -> None:
    """A frozen payload is written as plain JSON and read back frozen and equal."""
    payload = {"data": {"object": {"refunds": [{"id": "re_1"}, 2, None], "paid": True}}}
    entry = _inbox_entry(payload=payload)
    _save(sql_storage, entry)

    raw = _raw(sql_storage, "webhook_inbox", "payload", entry.id)
    assert (json.loads(raw) if isinstance(raw, str) else raw) == payload
    with sql_storage.unit_of_work() as uow:
        stored = uow.webhook_inbox.find(entry.provider, entry.event_id)
    assert stored == entry
    assert stored is not None
    assert stored.payload["data"]["object"]["refunds"] == ({"id": "re_1"}, 2, None)
    with pytest.raises(TypeError):
        stored.payload["data"]["forged"] = 1


def test_a_payload_that_is_not_json_is_refused_by_name(sql_storage: SqlStorage) -> None:
    """A payload holding a non-JSON value fails naming the payload and the type; no row."""
    entry = _inbox_entry(payload={"amount": Decimal("1.00")})
    with pytest.raises(TypeError, match=r"webhook payload must be JSON-like; Decimal"):
        _save(sql_storage, entry)

    with sql_storage.unit_of_work() as uow:
        assert uow.webhook_inbox.find(entry.provider, entry.event_id) is None


@pytest.mark.parametrize(
    ("record_type", "encode", "table"),
    [
        (PaymentMethod, lambda r: codec.method_row(r, 1), "payment_methods"),
        (Payment, lambda r: codec.payment_row(r, 1), "payments"),
        (Refund, lambda r: codec.refund_row(r, 1), "refunds"),
        (TransactionLogEntry, codec.entry_row, "transaction_log"),
        (Dispute, lambda r: codec.dispute_row(r, 1), "disputes"),
        (InboxEntry, lambda r: codec.inbox_entry_row(r, 1), "webhook_inbox"),
    ],
)
def test_every_field_of_every_record_has_a_column(
    record_type: type[Any], encode: Any, table: str
) -> None:
    """A field added to a record without a column fails here instead of being silently lost."""
    samples: dict[type[Any], Any] = {
        PaymentMethod: PaymentMethod(
            id="pm_1",
            customer_id="c",
            type=PaymentMethodType.CREDIT_CARD,
            provider="sandbox",
            provider_payment_method_id="tok",
            created_at=T0,
            updated_at=T0,
        ),
        Payment: _payment(),
        Refund: Refund(
            id="re_1", payment_id="p", amount=Money.of("1", "USD"), created_at=T0, updated_at=T0
        ),
        TransactionLogEntry: _entry("p"),
        Dispute: _dispute(_payment()),
        InboxEntry: _inbox_entry(),
    }
    row = encode(samples[record_type])
    columns = set(getattr(build_tables(), table).c.keys())

    assert {field.name for field in attrs.fields(record_type)} <= set(row)
    assert set(row) <= columns
