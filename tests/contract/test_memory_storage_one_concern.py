"""One concern of the storage contract run alone: a mixin plus the base, on the memory store.

This is how an integrator runs a single concern (``paykit.testing.repository_contract``):
subclass that concern's mixin and :class:`RepositoryContractBase`, and implement
``make_storage`` only. It collects that concern's tests and no others.
"""

from __future__ import annotations

from paykit.storage import InMemoryStorage, Storage
from paykit.testing.repository_contract import RepositoryContractBase, WebhookInboxContract


class TestInMemoryWebhookInbox(WebhookInboxContract, RepositoryContractBase):
    """The webhook inbox's contract tests alone, run against :class:`InMemoryStorage`."""

    def make_storage(self) -> Storage:
        """A new, empty in-memory storage."""
        return InMemoryStorage()
