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

:class:`RunBetweenReads` runs the action between a unit's read of a refund and of its
payment instead: the moment where a unit can hold one record from before a rival's commit
and one from after it (``UnitOfWork.has_stale_reads`` exists for that).
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from paykit.domain.payment import Payment
from paykit.domain.refund import Refund
from paykit.errors import ConcurrencyConflict
from paykit.storage.base import (
    AutomationActionRepository,
    DisputeRepository,
    IdempotentRequestRepository,
    OutboxRepository,
    PaymentMethodRepository,
    PaymentRepository,
    RefundRepository,
    RiskAssessmentRepository,
    RiskListRepository,
    Storage,
    TransactionLogRepository,
    UnitOfWork,
    WebhookInboxRepository,
    events_wait,
)

__all__ = ["DelegatingUnitOfWork", "RunBeforeCommit", "RunBetweenReads"]


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


class DelegatingUnitOfWork:
    """A unit of work that hands every call to ``inner``: the base of the racing wrappers.

    A subclass overrides the one step it races on (a commit, a read) and keeps the rest.
    """

    def __init__(self, inner: UnitOfWork) -> None:
        self._inner = inner

    @property
    def payment_methods(self) -> PaymentMethodRepository:
        """The inner unit's payment methods."""
        return self._inner.payment_methods

    @property
    def payments(self) -> PaymentRepository:
        """The inner unit's payments."""
        return self._inner.payments

    @property
    def refunds(self) -> RefundRepository:
        """The inner unit's refunds."""
        return self._inner.refunds

    @property
    def transaction_log(self) -> TransactionLogRepository:
        """The inner unit's audit log."""
        return self._inner.transaction_log

    @property
    def disputes(self) -> DisputeRepository:
        """The inner unit's disputes."""
        return self._inner.disputes

    @property
    def webhook_inbox(self) -> WebhookInboxRepository:
        """The inner unit's webhook inbox."""
        return self._inner.webhook_inbox

    @property
    def idempotent_requests(self) -> IdempotentRequestRepository:
        """The inner unit's idempotent requests."""
        return self._inner.idempotent_requests

    @property
    def automation_actions(self) -> AutomationActionRepository:
        """The inner unit's automated-refund actions."""
        return self._inner.automation_actions

    @property
    def risk_assessments(self) -> RiskAssessmentRepository:
        """The inner unit's fraud screenings."""
        return self._inner.risk_assessments

    @property
    def risk_lists(self) -> RiskListRepository:
        """The inner unit's fraud block and allow lists."""
        return self._inner.risk_lists

    @property
    def outbox(self) -> OutboxRepository:
        """The inner unit's event outbox."""
        return self._inner.outbox

    def has_stale_reads(self) -> bool:
        """Ask the inner unit."""
        return self._inner.has_stale_reads()

    def commit(self) -> None:
        """Commit the inner unit."""
        self._inner.commit()

    def rollback(self) -> None:
        """Roll the inner unit back."""
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


class _HookedUnitOfWork(DelegatingUnitOfWork):
    """The inner unit of work, with :meth:`RunBeforeCommit.before_commit` before its commit."""

    def __init__(self, inner: UnitOfWork, owner: RunBeforeCommit) -> None:
        super().__init__(inner)
        self._owner = owner

    def commit(self) -> None:
        self._owner.before_commit()
        try:
            self._inner.commit()
        except ConcurrencyConflict:
            self._owner.conflicts += 1
            raise


class RunBetweenReads:
    """A storage that runs ``action`` once, between a unit's read of a refund and of a payment.

    ``RunBeforeCommit`` runs its action after every read of the unit; this one runs it between
    two reads, where a settlement that commits leaves the unit holding one record from before
    and one from after it. ``skip`` passes over that many such moments first (a webhook reads
    the refund and its payment twice). ``units`` counts the units of work begun through it.
    """

    def __init__(self, inner: Storage, action: Callable[[], object], *, skip: int = 0) -> None:
        self.inner = inner
        self._action = action
        self._skip = skip
        self.fired = False
        self.units = 0

    def unit_of_work(self) -> UnitOfWork:
        """A unit of work of the inner storage that may run the action between two reads."""
        self.units += 1
        return _ReadHookedUnitOfWork(self.inner.unit_of_work(), self)

    def between_reads(self) -> None:
        """Run the action at the first moment not skipped, and never again."""
        if self.fired:
            return
        if self._skip:
            self._skip -= 1
            return
        self.fired = True
        self._action()


class _RefundReads:
    """A unit's refunds, noting each ``get`` (every other method is the inner one's)."""

    def __init__(self, inner: RefundRepository, unit: _ReadHookedUnitOfWork) -> None:
        self._inner = inner
        self._unit = unit

    def get(self, refund_id: str) -> Refund:
        refund = self._inner.get(refund_id)
        self._unit.read_a_refund = True
        return refund

    def get_with_payment(self, refund_id: str) -> tuple[Refund, Payment]:
        # Read as a storage without a joined read would (one statement each), so that the
        # competing settlement can commit between the two; SQL's own joined read cannot
        # straddle a commit, but the retry must hold for every storage.
        refund = self.get(refund_id)
        return refund, self._unit.payments.get(refund.payment_id)

    def get_with_payment_noting_waiting_events(
        self, refund_id: str, provider_refund_id: str | None
    ) -> tuple[Refund, Payment, bool]:
        refund, payment = self.get_with_payment(refund_id)  # two reads, as above
        inbox = self._unit.webhook_inbox
        waiting = events_wait(inbox, payment.provider, provider_refund_id=provider_refund_id)
        return refund, payment, waiting

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - whatever the inner one has
        return getattr(self._inner, name)


class _PaymentReads:
    """A unit's payments, whose ``get`` right after a refund read runs the owner's action."""

    def __init__(self, inner: PaymentRepository, unit: _ReadHookedUnitOfWork) -> None:
        self._inner = inner
        self._unit = unit

    def get(self, payment_id: str) -> Payment:
        if self._unit.read_a_refund:
            self._unit.read_a_refund = False
            self._unit.owner.between_reads()
        return self._inner.get(payment_id)

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - whatever the inner one has
        return getattr(self._inner, name)


class _ReadHookedUnitOfWork(DelegatingUnitOfWork):
    """The inner unit of work, with :meth:`RunBetweenReads.between_reads` between two reads."""

    def __init__(self, inner: UnitOfWork, owner: RunBetweenReads) -> None:
        super().__init__(inner)
        self.owner = owner
        self.read_a_refund = False
        self._refunds = _RefundReads(inner.refunds, self)
        self._payments = _PaymentReads(inner.payments, self)

    @property
    def payments(self) -> PaymentRepository:
        return self._payments

    @property
    def refunds(self) -> RefundRepository:
        return self._refunds
