"""Fixtures of the SQL storage tests: a SQLite file per test, a PostgreSQL schema per test.

The hypothesis state machine of ``tests/unit/test_lifecycle_stateful.py`` is reused here,
so its folder is put on ``sys.path`` (as pytest does when it collects that folder).

PostgreSQL tests read ``PAYKIT_TEST_POSTGRES_URL`` (``.ci/run`` sets it to the local
server) and are skipped, with that reason shown, when it is unset. Every test that uses
PostgreSQL gets a schema of its own with a random name, created before and dropped after
it, so runs in parallel on one server never see each other's rows.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.schema import CreateSchema, DropSchema

from paykit.storage.sql import SqlStorage

POSTGRES_URL_VARIABLE = "PAYKIT_TEST_POSTGRES_URL"

_UNIT_TESTS = str(Path(__file__).resolve().parents[2] / "unit")
if _UNIT_TESTS not in sys.path:
    sys.path.append(_UNIT_TESTS)


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
    name = f"paykit_test_{uuid.uuid4().hex[:16]}"
    with postgres_engine.begin() as connection:
        connection.execute(CreateSchema(name))
    try:
        yield name
    finally:
        with postgres_engine.begin() as connection:
            connection.execute(DropSchema(name, cascade=True, if_exists=True))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of a SQLite file of this test's own."""
    return f"sqlite:///{tmp_path / 'paykit.db'}"


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the head revision once per session, for tests to copy."""
    path = tmp_path_factory.mktemp("migrated") / "paykit.db"
    storage = SqlStorage(f"sqlite:///{path}")
    storage.upgrade()
    storage.dispose()  # the last connection closed: the WAL is checkpointed into the file
    assert not path.with_name("paykit.db-wal").exists()
    return path


@pytest.fixture
def migrated_sqlite_url(migrated_sqlite_template: Path, tmp_path: Path) -> str:
    """The URL of a SQLite file of this test's own, already migrated to the head revision.

    A copy of :func:`migrated_sqlite_template`: running the migrations takes a tenth of a
    second, and the contract suites build a database for each of their hundreds of tests.
    """
    path = tmp_path / "paykit.db"
    shutil.copyfile(migrated_sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """``(url, schema)`` of an empty database: a SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url"), None
    return request.getfixturevalue("postgres_url"), request.getfixturevalue("postgres_schema")


@pytest.fixture
def sql_storage(
    database: tuple[str, str | None], request: pytest.FixtureRequest
) -> Iterator[SqlStorage]:
    """A migrated ``SqlStorage`` on :func:`database`, disposed of after the test."""
    url, schema = database
    if schema is None:  # SQLite: this test's file, a copy of the session's migrated one
        storage = SqlStorage(request.getfixturevalue("migrated_sqlite_url"))
    else:
        storage = SqlStorage(url, schema=schema)
        storage.upgrade()
    yield storage
    storage.dispose()
