"""The bad-input table of ``tests/unit/test_bad_input.py`` on SQLite and PostgreSQL.

The in-memory store accepts anything Python can hold, so a check that only the database
would make (NUL in text, a NaN in JSON, a lone surrogate) can only be proved on the real
databases: every row must raise the same ``PaykitError`` as on memory -- never a driver's
``DataError`` or ``UnicodeEncodeError`` -- and leave every table as it was.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from test_bad_input import ROWS, Row, World, assert_no_card_number

from paykit import PaykitError, PaymentService, SandboxGateway, SandboxToken, ValidationError
from paykit.storage.sql import SqlStorage


def _world(service: PaymentService) -> World:
    """A saved card, a completed and an authorized 100.00 USD payment, as the unit table's."""
    card = service.add_payment_method("cus_1", type="credit_card", token=SandboxToken.SUCCESS)

    def pay(*, capture: bool) -> str:
        payment = service.create_payment(
            customer_id="cus_1",
            order_id="ord_1",
            payment_method_id=card.id,
            amount="100.00",
            currency="USD",
            capture=capture,
        )
        return service.process_payment(payment.id).id

    return World(
        service=service,
        card_id=card.id,
        completed_id=pay(capture=True),
        authorized_id=pay(capture=False),
    )


def _snapshot(storage: SqlStorage) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every paykit table."""
    tables = storage.tables
    with storage.engine.connect() as connection:
        return {
            table.name: [tuple(row) for row in connection.execute(select(table))]
            for table in tables[1:]
        }


@pytest.fixture
def world(sql_storage: SqlStorage) -> World:
    """The unit table's world on a migrated SQL storage."""
    return _world(PaymentService(sql_storage, {"credit_card": SandboxGateway()}))


@pytest.mark.parametrize("row", list(ROWS.values()), ids=list(ROWS))
def test_bad_input_is_refused_the_same_way_on_sql(
    world: World, sql_storage: SqlStorage, row: Row
) -> None:
    """Each bad call raises the same error as on memory and leaves every SQL table unchanged."""
    before = _snapshot(sql_storage)

    with pytest.raises(PaykitError) as caught:
        row.call(world)

    error = caught.value
    assert type(error) is row.error
    assert error.code == row.code
    if isinstance(error, ValidationError):
        assert error.field == row.field
    assert_no_card_number(error)
    assert _snapshot(sql_storage) == before
