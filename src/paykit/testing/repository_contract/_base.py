"""The abstract base of the storage contract suite: how a test gets its storage.

Every mixin's tests take a ``storage`` fixture; :class:`RepositoryContractBase` provides it
from :meth:`~RepositoryContractBase.make_storage`, which the integrator implements.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator

import pytest

from paykit.storage.base import Storage


class RepositoryContractBase(abc.ABC):
    """Builds and disposes of one storage per test; subclass it with the mixins to run."""

    @abc.abstractmethod
    def make_storage(self) -> Storage:
        """Return a new, empty storage (schema created) for one test."""

    def dispose_storage(self, storage: Storage) -> None:
        """Release what :meth:`make_storage` created; by default there is nothing to release."""
        del storage

    @pytest.fixture
    def storage(self) -> Iterator[Storage]:
        """A fresh storage from :meth:`make_storage`, disposed of after the test."""
        storage = self.make_storage()
        try:
            yield storage
        finally:
            self.dispose_storage(storage)
