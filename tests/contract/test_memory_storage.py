"""The in-memory reference storage against the shipped storage contract suite."""

from __future__ import annotations

from paykit.storage import InMemoryStorage, Storage
from paykit.testing import RepositoryContract


class TestInMemoryStorage(RepositoryContract):
    """Every contract test, run against :class:`InMemoryStorage`."""

    def make_storage(self) -> Storage:
        """A new, empty in-memory storage."""
        return InMemoryStorage()
