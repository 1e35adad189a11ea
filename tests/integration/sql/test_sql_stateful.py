"""The hypothesis state machine of the service lifecycle, run over SqlStorage on SQLite.

The machine (``tests/unit/test_lifecycle_stateful.py``) drives ``PaymentService`` through
random lifecycles and checks every paykit invariant after every step; here each example
gets a fresh, migrated SQLite file instead of the in-memory store. Fewer examples than the
in-memory run, to keep it fast; the in-memory run explores the rules, this one the storage.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import test_lifecycle_stateful as lifecycle
from hypothesis import settings

from paykit import PaymentService, SandboxGateway, Storage
from paykit.storage.sql import SqlStorage


class SqliteLifecycleMachine(lifecycle.PaymentLifecycleMachine):
    """The lifecycle machine over a SQLite file of its own per example."""

    def build_service(self) -> tuple[PaymentService, SandboxGateway, Storage]:
        """A service like the in-memory machine's, over a freshly migrated SQLite file."""
        self.folder = Path(tempfile.mkdtemp(prefix="paykit-stateful-"))
        self.sql_storage = SqlStorage(f"sqlite:///{self.folder / 'paykit.db'}")
        self.sql_storage.upgrade()
        sandbox = SandboxGateway()
        service = PaymentService(
            self.sql_storage,
            {"credit_card": sandbox, "debit_card": sandbox},
            id_factory=lifecycle.sequential_ids(),
        )
        return service, sandbox, self.sql_storage

    def teardown(self) -> None:
        """Close the example's connections and delete its database file."""
        self.sql_storage.dispose()
        shutil.rmtree(self.folder, ignore_errors=True)


TestSqliteLifecycle = SqliteLifecycleMachine.TestCase
TestSqliteLifecycle.settings = settings(
    max_examples=60, stateful_step_count=50, deadline=None, database=None
)
TestSqliteLifecycle.__doc__ = "Random payment lifecycles keep every invariant on SQLite."
