"""Fixtures of the SQL storage tests: a SQLite file per test, or a PostgreSQL schema.

The PostgreSQL schemas come from ``tests/_postgres.py``.

The hypothesis state machine of ``tests/unit/test_lifecycle_stateful.py`` is reused here,
so its folder is put on ``sys.path`` (as pytest does when it collects that folder).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from paykit.storage.sql import SqlStorage

POSTGRES_URL_VARIABLE = "PAYKIT_TEST_POSTGRES_URL"

_UNIT_TESTS = str(Path(__file__).resolve().parents[2] / "unit")
if _UNIT_TESTS not in sys.path:
    sys.path.append(_UNIT_TESTS)


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


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_storage(request: pytest.FixtureRequest) -> Iterator[SqlStorage]:
    """A migrated, empty ``SqlStorage``, disposed of after the test.

    On SQLite a file of this test's own (a copy of the session's migrated one); on
    PostgreSQL the session's migrated schema, emptied. A child process opens the same
    database with ``_sql_support.address``.
    """
    if request.param == "sqlite":
        storage = SqlStorage(request.getfixturevalue("migrated_sqlite_url"))
    else:
        url = request.getfixturevalue("postgres_url")
        storage = SqlStorage(url, schema=request.getfixturevalue("migrated_postgres_schema"))
    yield storage
    storage.dispose()


@pytest.fixture
def sql_storage_of_its_own(database: tuple[str, str | None]) -> Iterator[SqlStorage]:
    """A migrated ``SqlStorage`` in a database no other test has used.

    On PostgreSQL :func:`sql_storage` shares the session's schema, whose tables' statistics
    earlier tests' rows shaped; a test that reads the planner's choices needs new tables.
    """
    url, schema = database
    storage = SqlStorage(url, schema=schema)
    storage.upgrade()
    yield storage
    storage.dispose()
