"""The storage contract with encryption on: sealing changes nothing a caller can see.

The whole suite runs on an encrypted SQLite file; on PostgreSQL, the concerns that read
and write every sealed field (round trips, encrypted fields, the audit log, the inbox, fraud
screening's assessments and lists).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from paykit.encryption import KeyRing
from paykit.storage import Storage
from paykit.storage.sql import SqlStorage
from paykit.testing import RepositoryContract
from paykit.testing.repository_contract import (
    AuditLogContract,
    EncryptedFieldContract,
    RepositoryContractBase,
    RiskContract,
    RoundTripContract,
    WebhookInboxContract,
)

RING = KeyRing([("contract", os.urandom(32))])


class TestEncryptedSqliteStorage(RepositoryContract):
    """Every contract test on an encrypted SQLite file of its own."""

    def make_storage(self) -> Storage:
        """Unused: the ``storage`` fixture below needs ``tmp_path``."""
        raise NotImplementedError

    @pytest.fixture
    def storage(self, migrated_sqlite_url: str) -> Iterator[Storage]:
        """A migrated SQLite file sealing under the contract's ring."""
        storage = SqlStorage(migrated_sqlite_url, encryption=RING)
        yield storage
        storage.dispose()


class TestEncryptedPostgresFields(
    WebhookInboxContract,
    AuditLogContract,
    EncryptedFieldContract,
    RiskContract,
    RoundTripContract,
    RepositoryContractBase,
):
    """The sealed fields' concerns in the session's migrated PostgreSQL schema, encrypted."""

    def make_storage(self) -> Storage:
        """Unused: the ``storage`` fixture below needs the PostgreSQL fixtures."""
        raise NotImplementedError

    @pytest.fixture
    def storage(self, postgres_engine: Engine, migrated_postgres_schema: str) -> Iterator[Storage]:
        """The session's migrated schema (emptied), sealing under the contract's ring."""
        storage = SqlStorage(
            engine=postgres_engine, schema=migrated_postgres_schema, encryption=RING
        )
        yield storage
        storage.dispose()
