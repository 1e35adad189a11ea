"""Migrations: an empty database upgraded to head has exactly the tables of the models.

The comparison is Alembic's own autogenerate (``compare_metadata``): tables, columns,
types, nullability, indexes and unique constraints. A control test removes one index and
checks the comparison notices, so "no differences" cannot pass by comparing nothing.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect
from sqlalchemy.schema import DropIndex

from paykit.storage.sql import SqlStorage, current_revision, head_revision, upgrade
from paykit.storage.sql._migrate import version_table


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
