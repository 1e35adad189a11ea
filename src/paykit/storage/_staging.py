"""The staged writes of one kind of record in a unit of work, shared by every storage.

The rules are part of the storage contract: an update of a record added in the same unit
keeps it an addition, a removal cancels an earlier addition or update, nothing staged is
visible outside the unit until its commit, and a record whose ``metadata`` breaks the rules of
:mod:`paykit.domain.metadata` is refused when it is staged, with the same
``ValidationError`` on every storage (rather than a driver's error at commit on one and
silence on another).
"""

from __future__ import annotations

from typing import Generic, TypeVar

from paykit.domain.automation import AutomationAction
from paykit.domain.dispute import Dispute
from paykit.domain.idempotent_request import IdempotentRequest
from paykit.domain.metadata import check_metadata
from paykit.domain.outbox import OutboxMessage
from paykit.domain.payment import Payment
from paykit.domain.payment_method import PaymentMethod
from paykit.domain.refund import Refund
from paykit.domain.risk import RiskAssessment, RiskListEntry
from paykit.domain.webhook_inbox import InboxEntry

__all__ = ["StagedWrites", "StoredRecord"]

StoredRecord = (
    PaymentMethod
    | Payment
    | Refund
    | Dispute
    | InboxEntry
    | IdempotentRequest
    | AutomationAction
    | RiskAssessment
    | RiskListEntry
    | OutboxMessage
)
"""Every kind of record a repository stores under a version (the audit log is append-only)."""

R = TypeVar("R", bound=StoredRecord)


class StagedWrites(Generic[R]):
    """Records added, changed and removed in one unit of work, by id."""

    def __init__(self) -> None:
        self.added: dict[str, R] = {}
        self.changed: dict[str, R] = {}
        self.removed: dict[str, R] = {}

    def staged(self, record_id: str) -> R | None:
        """The unit's own version of a record it added or changed, if any."""
        return self.added.get(record_id) or self.changed.get(record_id)

    def add(self, record: R) -> None:
        """Stage a new record."""
        _check_storable(record)
        self.added[record.id] = record

    def update(self, record: R) -> None:
        """Stage a change (a record added in this unit is already staged)."""
        _check_storable(record)
        if record.id not in self.added:
            self.changed[record.id] = record

    def remove(self, record: R) -> None:
        """Stage a deletion."""
        self.added.pop(record.id, None)
        self.changed.pop(record.id, None)
        self.removed[record.id] = record

    def has_writes(self) -> bool:
        """Whether anything is staged."""
        return bool(self.added or self.changed or self.removed)

    def clear(self) -> None:
        """Forget the staged writes."""
        if self.added:
            self.added.clear()
        if self.changed:
            self.changed.clear()
        if self.removed:
            self.removed.clear()


def _check_storable(
    record: PaymentMethod
    | Payment
    | Refund
    | Dispute
    | InboxEntry
    | IdempotentRequest
    | AutomationAction
    | RiskAssessment
    | RiskListEntry
    | OutboxMessage,
) -> None:
    """Refuse metadata that not every storage could keep unchanged."""
    metadata = getattr(record, "metadata", None)
    if metadata:
        check_metadata(metadata)
