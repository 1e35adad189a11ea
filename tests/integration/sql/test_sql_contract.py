"""SqlStorage on SQLite and PostgreSQL against the shipped storage contract suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from paykit.storage import Storage
from paykit.storage.sql import SqlStorage
from paykit.testing import RepositoryContract


class TestSqliteStorage(RepositoryContract):
    """Every contract test on a SQLite file of its own, created by the migrations."""

    def make_storage(self) -> Storage:
        """Unused: the ``storage`` fixture below needs ``tmp_path``."""
        raise NotImplementedError

    @pytest.fixture
    def storage(self, migrated_sqlite_url: str) -> Iterator[Storage]:
        """A migrated SQLite file, its engine disposed of after the test."""
        storage = SqlStorage(migrated_sqlite_url)
        yield storage
        storage.dispose()


class TestPostgresStorage(RepositoryContract):
    """Every contract test in the session's migrated PostgreSQL schema, emptied first."""

    def make_storage(self) -> Storage:
        """Unused: the ``storage`` fixture below needs the PostgreSQL fixtures."""
        raise NotImplementedError

    @pytest.fixture
    def storage(self, postgres_engine: Engine, migrated_postgres_schema: str) -> Iterator[Storage]:
        """The migrated schema on the session's engine (a host's engine)."""
        storage = SqlStorage(engine=postgres_engine, schema=migrated_postgres_schema)
        yield storage
        storage.dispose()
