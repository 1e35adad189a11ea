"""PostgreSQL for the tests (a pytest plugin, see conftest.py): its URL, one engine, schemas.

Tests read ``PAYKIT_TEST_POSTGRES_URL`` (``.ci/run`` sets it to the local server) and are
skipped, with that reason shown, when it is unset. A test that changes the schema itself
(migrations, table prefixes) takes :func:`postgres_schema`, a schema of its own with a
random name, created before and dropped after it. A test that only needs paykit's tables,
empty, takes :func:`migrated_postgres_schema`: one schema per session, migrated once and
emptied before each test. Either way runs in parallel on one server never see each other's
rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.schema import CreateSchema, DropSchema

from paykit.storage.sql import SqlStorage

POSTGRES_URL_VARIABLE = "PAYKIT_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test server's URL, or a skip saying how to provide one."""
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        pytest.skip(
            f"{POSTGRES_URL_VARIABLE} is not set; set it to a PostgreSQL URL such as "
            "postgresql+psycopg://postgres@127.0.0.1:5432/test to run the PostgreSQL tests"
        )
    return url


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    """One engine for the session, shared by the per-test storages (a host's engine)."""
    engine = create_engine(postgres_url, pool_size=10, max_overflow=10)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_schema(postgres_engine: Engine) -> Iterator[str]:
    """A fresh, randomly named schema, dropped with everything in it after the test."""
    with _schema(postgres_engine) as name:
        yield name


@pytest.fixture(scope="session")
def _migrated_postgres(postgres_engine: Engine) -> Iterator[SqlStorage]:
    """A schema of the session's, migrated to the head revision once."""
    with _schema(postgres_engine) as name:
        storage = SqlStorage(engine=postgres_engine, schema=name)
        storage.upgrade()
        yield storage


@pytest.fixture
def migrated_postgres_schema(postgres_engine: Engine, _migrated_postgres: SqlStorage) -> str:
    """The session's migrated schema, every table emptied: as good as a fresh one.

    Migrating a schema for each test took about 0.3 s of setup, 96 s of the SQL tests'
    216; emptying the tables takes a few milliseconds (``DELETE``, children first:
    ``TRUNCATE`` rewrites every table's and index's files and took 0.12 s). A lock wait
    longer than ten seconds means a test left a transaction open: it fails, not hangs.
    """
    metadata = _migrated_postgres.tables.payments.metadata
    with postgres_engine.begin() as connection:
        connection.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())
    schema = _migrated_postgres.tables.payments.schema
    assert schema is not None
    return schema


@contextmanager
def _schema(engine: Engine) -> Iterator[str]:
    """A randomly named schema, created on entry and dropped with its contents on exit."""
    name = f"paykit_test_{uuid.uuid4().hex[:16]}"
    with engine.begin() as connection:
        connection.execute(CreateSchema(name))
    try:
        yield name
    finally:
        with engine.begin() as connection:
            connection.execute(DropSchema(name, cascade=True, if_exists=True))
