"""What SqlStorage lets SQLAlchemy log and raise: statements, never the values bound to them.

A card number passed where an id belongs (``get_payment("4242424242424242")``) is bound
to the SQL statement as a parameter. The engines paykit creates are built with
``hide_parameters=True``, so SQLAlchemy's INFO log shows the statements and a placeholder
instead of the parameters, and its exceptions leave the parameters out of their messages.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import attrs
import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError, StatementError

from paykit import NotFound, PaymentService, SandboxGateway
from paykit.storage.sql import SqlStorage, current_revision, upgrade

from ._sql_support import completed_payment, make_service

PAN = "4242424242424242"
HIDDEN = "[SQL parameters hidden due to hide_parameters=True]"


@pytest.fixture
def engine_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """SQLAlchemy's engine log at INFO (statements and their parameters), captured."""
    with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
        yield caplog


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured record: its formatted message, its raw message and its arguments."""
    return "\n".join(
        f"{record.getMessage()}\n{record.msg}\n{record.args!r}" for record in caplog.records
    )


def test_a_card_number_looked_up_as_an_id_is_never_logged(
    sql_storage: SqlStorage, engine_log: pytest.LogCaptureFixture
) -> None:
    """``get_payment(<card number>)`` logs its SELECT at INFO but not the number bound to it."""
    service = PaymentService(sql_storage, {"credit_card": SandboxGateway()})
    engine_log.clear()
    with pytest.raises(NotFound):
        service.get_payment(PAN)
    logged = _logged(engine_log)
    assert "SELECT" in logged  # the statements are logged, so the check below means something
    assert PAN not in logged
    assert HIDDEN in logged


def test_the_migration_engines_hide_parameters(
    sqlite_url: str, engine_log: pytest.LogCaptureFixture
) -> None:
    """The short-lived engines ``upgrade`` and ``current_revision`` build for a URL hide them."""
    upgrade(sqlite_url)
    assert current_revision(sqlite_url) is not None
    logged = _logged(engine_log)
    assert "paykit_alembic_version" in logged
    assert HIDDEN in logged


def test_a_storage_error_paykit_raises_leaves_the_values_out(
    sql_storage: SqlStorage, engine_log: pytest.LogCaptureFixture
) -> None:
    """The ``IntegrityError`` a commit re-raises names the SQL, not the values bound to it."""
    paid = completed_payment(make_service(sql_storage))
    twin = attrs.evolve(paid, id="pay_twin", order_id=PAN)  # one provider id, twice
    with sql_storage.unit_of_work() as uow:
        uow.payments.add(twin)
        with pytest.raises(IntegrityError) as raised:
            uow.commit()
    message = str(raised.value)
    assert "INSERT INTO" in message  # the statement is there, so the check below means something
    assert "[parameters:" not in message
    assert PAN not in message
    assert PAN not in _logged(engine_log)


def test_a_statement_sqlalchemy_cannot_bind_raises_without_the_values(
    sql_storage: SqlStorage,
) -> None:
    """A ``StatementError`` raised while binding, before the driver, leaves the values out too."""
    table = sql_storage.tables.payments
    naive = datetime(2024, 3, 1, 9, 30)  # noqa: DTZ001 - the column type refuses it, on purpose
    statement = select(table.c.id).where(
        table.c.id == bindparam("id"), table.c.created_at == bindparam("at")
    )
    with sql_storage.engine.connect() as connection, pytest.raises(StatementError) as raised:
        connection.execute(statement, {"id": PAN, "at": naive})
    message = str(raised.value)
    assert "SELECT" in message
    assert "[parameters:" not in message
    assert PAN not in message


def test_a_host_may_still_show_parameters_by_asking_for_them(tmp_path: Path) -> None:
    """``hide_parameters=False`` passed explicitly wins: a visible choice, e.g. for debugging."""
    storage = SqlStorage(f"sqlite:///{tmp_path / 'debug.db'}", hide_parameters=False)
    try:
        assert storage.engine.hide_parameters is False
    finally:
        storage.dispose()
    default = SqlStorage(f"sqlite:///{tmp_path / 'default.db'}")
    try:
        assert default.engine.hide_parameters is True
    finally:
        default.dispose()
