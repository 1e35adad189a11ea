"""Running paykit's Alembic migrations from Python (the CLI in ``__main__`` calls these).

The migrations ship inside the package (``paykit/storage/sql/migrations``) and keep their
own version table, ``<table_prefix>paykit_alembic_version``, so they never touch the
version table of an application that uses Alembic for its own tables.

An upgrade is one transaction, DDL included: ``BEGIN`` on PostgreSQL, holding an advisory
lock so that two processes upgrading at once take turns, and ``BEGIN IMMEDIATE`` on SQLite.
A failed upgrade leaves the database as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection, Engine, create_engine, make_url
from sqlalchemy.pool import NullPool

from paykit.storage.sql._schema import check_table_prefix

__all__ = [
    "MIGRATIONS",
    "alembic_config",
    "current_revision",
    "head_revision",
    "placement",
    "upgrade",
    "version_table",
]

MIGRATIONS: Final = Path(__file__).with_name("migrations")
"""The Alembic script directory shipped with the package."""

SCHEMA_KEY: Final = "paykit_schema"
PREFIX_KEY: Final = "paykit_table_prefix"
CONNECTION_KEY: Final = "connection"


def version_table(table_prefix: str) -> str:
    """The name of paykit's Alembic version table for ``table_prefix``."""
    return f"{table_prefix}paykit_alembic_version"


def placement() -> tuple[str | None, str]:
    """The schema and table prefix of the running upgrade; for env.py and the migrations."""
    attributes = context.config.attributes
    return attributes.get(SCHEMA_KEY), attributes.get(PREFIX_KEY, "")


def alembic_config(*, schema: str | None = None, table_prefix: str = "") -> Config:
    """An Alembic ``Config`` for paykit's migrations, placing the tables as given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.attributes[SCHEMA_KEY] = schema
    config.attributes[PREFIX_KEY] = table_prefix
    return config


def head_revision() -> str:
    """The newest migration paykit ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None  # noqa: S101 - the package ships at least one migration
    return head


@contextmanager
def _engine_for(bind: Engine | str | URL) -> Iterator[Engine]:
    """``bind`` itself, or a short-lived engine for a URL that logs no bound values.

    ``hide_parameters``, as for the engines ``SqlStorage`` creates: the version table's
    rows are no secret, but the migrations may copy or check stored data one day.
    """
    if isinstance(bind, Engine):
        yield bind
        return
    engine = create_engine(make_url(bind), poolclass=NullPool, hide_parameters=True)
    try:
        yield engine
    finally:
        engine.dispose()


def upgrade(
    bind: Engine | str | URL,
    *,
    schema: str | None = None,
    table_prefix: str = "",
    revision: str = "head",
) -> None:
    """Create paykit's tables or bring them up to ``revision``, in one transaction.

    ``bind`` is an ``Engine`` (build it with ``hide_parameters=True``, see ``SqlStorage``)
    or a database URL. On PostgreSQL a missing ``schema`` is created.
    """
    check_table_prefix(table_prefix)
    config = alembic_config(schema=schema, table_prefix=table_prefix)
    with _engine_for(bind) as engine, _transaction(engine) as connection:
        config.attributes[CONNECTION_KEY] = connection
        command.upgrade(config, revision)


def current_revision(
    bind: Engine | str | URL, *, schema: str | None = None, table_prefix: str = ""
) -> str | None:
    """The revision the tables are at, or ``None`` if paykit's migrations never ran."""
    with _engine_for(bind) as engine, engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "version_table": version_table(table_prefix),
                "version_table_schema": schema,
            },
        )
        return context.get_current_revision()


@contextmanager
def _transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction for a whole upgrade, DDL included, on either database.

    Opened by hand on an autocommit connection: SQLite's Python driver would otherwise
    commit before each DDL statement, and an engine paykit created is in autocommit mode.
    """
    begin = "BEGIN IMMEDIATE" if engine.dialect.name == "sqlite" else "BEGIN"
    with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
        connection.exec_driver_sql(begin)
        try:
            yield connection
        except BaseException:
            connection.exec_driver_sql("ROLLBACK")
            raise
        connection.exec_driver_sql("COMMIT")
