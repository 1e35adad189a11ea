"""Test helpers that ship with paykit: the storage contract suite.

Every storage -- the in-memory reference, paykit's SQL storage, or one an integrator writes --
must behave the same way (``paykit.storage.base``). :class:`RepositoryContract` is that
promise as a pytest suite: subclass it, say how to build your storage, and pytest runs every
contract test against it::

    from paykit.storage import Storage
    from paykit.testing import RepositoryContract


    class TestMyStorage(RepositoryContract):
        def make_storage(self) -> Storage:
            return MyStorage(url="postgresql://localhost/paykit_test")

        def dispose_storage(self, storage: Storage) -> None:
            storage.drop_schema()  # optional: runs after each test, even a failed one

Each test gets a fresh storage from ``make_storage``. When building the storage needs other
pytest fixtures (``tmp_path``, a database server), override the ``storage`` fixture itself::

    class TestMySqliteStorage(RepositoryContract):
        def make_storage(self) -> Storage:
            raise NotImplementedError  # the fixture below builds it instead

        @pytest.fixture
        def storage(self, tmp_path: Path) -> Iterator[Storage]:
            storage = MyStorage(url=f"sqlite:///{tmp_path / 'paykit.db'}")
            yield storage
            storage.close()

The suite includes thread tests (the refund ceiling under eight racing units of work), so a
storage shared between threads must be safe to share.

This package needs pytest installed (it is a development dependency, not a runtime one).
``import paykit`` never imports it, so applications do not pay for it.
"""

import pytest

# Registered before the import below so that pytest rewrites the suite's asserts and a
# failing contract test explains itself (``assert 2 == 3``) like a test in your own tree.
pytest.register_assert_rewrite("paykit.testing.repository_contract")

from paykit.testing.repository_contract import RepositoryContract  # noqa: E402 - see above

__all__ = ["RepositoryContract"]
