"""Deterministic race tests: run a competing action just before a unit of work commits.

Saleor's ``RunBefore`` pattern: wrap any storage in :class:`RunBeforeCommit`, give the
wrapped storage to the service under test, and the competing action -- another refund,
another processing attempt, a barrier shared with other processes -- runs at the worst
moment, after the unit of work has read and before it commits. Nothing is patched; the
wrapper is a storage like any other.

::

    rival = PaymentService(storage, gateways)         # competes over the plain storage
    racer = RunBeforeCommit(storage, lambda: rival.create_refund(payment_id, "60.00"))
    PaymentService(racer, gateways).create_refund(payment_id, "60.00")  # retried, refused
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Self

from paykit.errors import ConcurrencyConflict
from paykit.storage.base import (
    DisputeRepository,
    IdempotentRequestRepository,
    PaymentMethodRepository,
    PaymentRepository,
    RefundRepository,
    Storage,
    TransactionLogRepository,
    UnitOfWork,
    WebhookInboxRepository,
)

__all__ = ["RunBeforeCommit"]


class RunBeforeCommit:
    """A storage that runs ``action`` once, just before its first unit of work commits.

    ``units`` counts the units of work begun through it and ``conflicts`` the commits that
    lost to another unit of work (and were retried by the service).
    """

    def __init__(self, inner: Storage, action: Callable[[], object]) -> None:
        self.inner = inner
        self._action = action
        self.fired = False
        self.units = 0
        self.conflicts = 0

    def unit_of_work(self) -> UnitOfWork:
        """Begin a unit of work of the inner storage whose commit runs the action first."""
        self.units += 1
        return _HookedUnitOfWork(self.inner.unit_of_work(), self)

    def before_commit(self) -> None:
        """Run the competing action, the first time only."""
        if not self.fired:
            self.fired = True
            self._action()


class _HookedUnitOfWork:
    """The inner unit of work, with :meth:`RunBeforeCommit.before_commit` before its commit."""

    def __init__(self, inner: UnitOfWork, owner: RunBeforeCommit) -> None:
        self._inner = inner
        self._owner = owner

    @property
    def payment_methods(self) -> PaymentMethodRepository:
        return self._inner.payment_methods

    @property
    def payments(self) -> PaymentRepository:
        return self._inner.payments

    @property
    def refunds(self) -> RefundRepository:
        return self._inner.refunds

    @property
    def transaction_log(self) -> TransactionLogRepository:
        return self._inner.transaction_log

    @property
    def disputes(self) -> DisputeRepository:
        return self._inner.disputes

    @property
    def webhook_inbox(self) -> WebhookInboxRepository:
        return self._inner.webhook_inbox

    @property
    def idempotent_requests(self) -> IdempotentRequestRepository:
        return self._inner.idempotent_requests

    def has_stale_reads(self) -> bool:
        return self._inner.has_stale_reads()

    def commit(self) -> None:
        self._owner.before_commit()
        try:
            self._inner.commit()
        except ConcurrencyConflict:
            self._owner.conflicts += 1
            raise

    def rollback(self) -> None:
        self._inner.rollback()

    def __enter__(self) -> Self:
        self._inner.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._inner.__exit__(exc_type, exc, tb)
