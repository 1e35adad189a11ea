"""The storage contract: repositories grouped in a unit of work.

A :class:`UnitOfWork` is one short database transaction. Reads see the unit's own writes;
nothing is visible to others until :meth:`UnitOfWork.commit`, which is atomic: everything
or nothing. Leaving the ``with`` block without committing rolls back.

Concurrency control is part of the contract (DESIGN.md section 6). Records carry a
``version``. ``update`` records the version the caller read; ``commit`` raises
:class:`~paykit.errors.ConcurrencyConflict` -- and writes nothing -- if another unit of work
committed a change to any of those records first, or if a unique key (idempotency key per
customer or payment, one default method per customer, one record per API idempotency key
and owner) would be taken twice. After a
successful commit each written record's ``version`` is the stored one. The service retries
a conflicting unit of work from the start, which is what makes the refund ceiling hold under
concurrency: the check and the reservation change the payment record.

Reads are not a snapshot: each read sees what is committed when it runs, so a unit of work
that reads a refund and then its payment may get one record from before another unit's
commit and one from after it -- a pair that never existed together. A unit that computes on
such a pair may hit a rule that the true state would not break (a reservation already
released) before its commit's version check can say "retry". :meth:`UnitOfWork.has_stale_reads`
tells that case apart: when a unit's work raises, the service asks it, and retries the unit
from the start, as after a conflict, if another unit has changed or removed a record it read.

Never hold a unit of work open across a call to a payment provider.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from paykit.domain.automation import ActionStatus, AutomationAction
from paykit.domain.dispute import Dispute
from paykit.domain.idempotent_request import IdempotentRequest
from paykit.domain.outbox import OutboxMessage, OutboxStatus
from paykit.domain.payment import Payment, PaymentStatus
from paykit.domain.payment_method import PaymentMethod
from paykit.domain.refund import Refund
from paykit.domain.risk import ReviewState, RiskAssessment, RiskListEntry, VelocityCount
from paykit.domain.transaction_log import TransactionLogEntry
from paykit.domain.webhook_inbox import InboxEntry

__all__ = [
    "AutomationActionRepository",
    "DisputeRepository",
    "IdempotentRequestRepository",
    "OutboxRepository",
    "PaymentMethodRepository",
    "PaymentRepository",
    "RefundRepository",
    "RiskAssessmentRepository",
    "RiskListRepository",
    "Storage",
    "TransactionLogRepository",
    "UnitOfWork",
    "WebhookInboxRepository",
    "events_wait",
]


class PaymentMethodRepository(Protocol):
    """Saved payment methods."""

    def get(self, payment_method_id: str) -> PaymentMethod:
        """Return the method or raise ``NotFound``."""
        ...

    def add(self, method: PaymentMethod) -> None:
        """Stage a new method."""
        ...

    def update(self, method: PaymentMethod) -> None:
        """Stage a change to a method read in this unit of work."""
        ...

    def remove(self, method: PaymentMethod) -> None:
        """Stage the deletion of a method read in this unit of work."""
        ...

    def list_for_customer(self, customer_id: str) -> Sequence[PaymentMethod]:
        """Every method of ``customer_id``, oldest first."""
        ...


class PaymentRepository(Protocol):
    """Payments."""

    def get(self, payment_id: str) -> Payment:
        """Return the payment or raise ``NotFound``."""
        ...

    def get_with_method(self, payment_id: str) -> tuple[Payment, PaymentMethod]:
        """The payment and its payment method, as two ``get`` calls would return them.

        A storage may read both at once (SQL joins them). ``NotFound`` names whichever is
        missing.
        """
        ...

    def get_noting_waiting_events(
        self, payment_id: str, provider_payment_id: str | None
    ) -> tuple[Payment, bool]:
        """The payment, and whether unmatched webhook events of its provider wait for it.

        Waiting events are the unmatched inbox entries of the payment's provider that name
        ``provider_payment_id`` (events that overtook a provider's answer naming that id,
        and will match once paykit learns it); never any when it is ``None``. Recording an
        answer needs both: a storage reads them at once where it can (SQL: one statement),
        so that the common case -- nothing waits -- costs no read of the inbox.
        """
        ...

    def add(self, payment: Payment) -> None:
        """Stage a new payment."""
        ...

    def update(self, payment: Payment) -> None:
        """Stage a change to a payment read in this unit of work."""
        ...

    def find_by_idempotency_key(self, customer_id: str, key: str) -> Payment | None:
        """The payment ``customer_id`` created with ``key``, if any."""
        ...

    def list(
        self,
        *,
        customer_id: str | None = None,
        order_id: str | None = None,
        status: PaymentStatus | None = None,
    ) -> Sequence[Payment]:
        """Payments matching every given filter, oldest first."""
        ...

    def find_by_provider_id(self, provider: str, provider_payment_id: str) -> Payment | None:
        """The payment ``provider`` knows as ``provider_payment_id``, if any."""
        ...

    def list_due_for_reconciliation(
        self,
        statuses: Sequence[PaymentStatus],
        *,
        updated_before: datetime,
        due_by: datetime,
        limit: int,
    ) -> Sequence[Payment]:
        """Up to ``limit`` payments a reconciliation sweep should ask about now.

        Those in one of ``statuses``, unchanged since before ``updated_before``, whose
        ``next_reconcile_at`` is unset or not after ``due_by``; least recently updated first.
        """
        ...


class RefundRepository(Protocol):
    """Refunds."""

    def get(self, refund_id: str) -> Refund:
        """Return the refund or raise ``NotFound``."""
        ...

    def get_with_payment(self, refund_id: str) -> tuple[Refund, Payment]:
        """The refund and its payment, as two ``get`` calls would return them.

        As :meth:`PaymentRepository.get_with_method`: one read where the storage can.
        """
        ...

    def get_with_payment_noting_waiting_events(
        self, refund_id: str, provider_refund_id: str | None
    ) -> tuple[Refund, Payment, bool]:
        """The refund, its payment, and whether events wait for ``provider_refund_id``.

        As :meth:`PaymentRepository.get_noting_waiting_events`: unmatched inbox entries of
        the payment's provider that name ``provider_refund_id``.
        """
        ...

    def add(self, refund: Refund) -> None:
        """Stage a new refund."""
        ...

    def update(self, refund: Refund) -> None:
        """Stage a change to a refund read in this unit of work."""
        ...

    def find_by_idempotency_key(self, payment_id: str, key: str) -> Refund | None:
        """The refund of ``payment_id`` created with ``key``, if any."""
        ...

    def list_for_payment(self, payment_id: str) -> Sequence[Refund]:
        """Every refund of ``payment_id``, oldest first."""
        ...

    def find_by_provider_id(self, provider: str, provider_refund_id: str) -> Refund | None:
        """The refund ``provider`` knows as ``provider_refund_id`` (of one of its payments)."""
        ...

    def list_due_for_reconciliation(
        self, *, updated_before: datetime, due_by: datetime, limit: int
    ) -> Sequence[Refund]:
        """Up to ``limit`` ``processing`` refunds a sweep should ask about now (as for payments)."""
        ...


class DisputeRepository(Protocol):
    """Disputes (chargebacks), unique by ``(provider, provider_dispute_id)``."""

    def get(self, dispute_id: str) -> Dispute:
        """Return the dispute or raise ``NotFound``."""
        ...

    def add(self, dispute: Dispute) -> None:
        """Stage a new dispute; a second one with the same provider id conflicts at commit."""
        ...

    def update(self, dispute: Dispute) -> None:
        """Stage a change to a dispute read in this unit of work."""
        ...

    def find_by_provider_id(self, provider: str, provider_dispute_id: str) -> Dispute | None:
        """The dispute ``provider`` knows as ``provider_dispute_id``, if any."""
        ...

    def list_for_payment(self, payment_id: str) -> Sequence[Dispute]:
        """Every dispute of ``payment_id``, oldest first."""
        ...


class WebhookInboxRepository(Protocol):
    """Received provider events, unique by ``(provider, event_id)``."""

    def add(self, entry: InboxEntry) -> None:
        """Stage a received event; the same ``(provider, event_id)`` twice conflicts at commit."""
        ...

    def update(self, entry: InboxEntry) -> None:
        """Stage a change to an entry read in this unit of work (an unmatched one applied)."""
        ...

    def find(self, provider: str, event_id: str) -> InboxEntry | None:
        """The entry of ``provider``'s event ``event_id``, if it was received."""
        ...

    def list_unmatched(
        self,
        *,
        provider: str | None = None,
        payment_id: str | None = None,
        provider_payment_id: str | None = None,
        provider_refund_id: str | None = None,
        limit: int | None = None,
    ) -> Sequence[InboxEntry]:
        """Unmatched entries, oldest first.

        With ``provider``, only that provider's. With any of the three ids, only entries
        naming at least one of them (the events waiting for that payment or refund).
        """
        ...

    def list_for_payment(self, payment_id: str) -> Sequence[InboxEntry]:
        """Every entry matched to ``payment_id``, oldest first."""
        ...


class IdempotentRequestRepository(Protocol):
    """Requests remembered by their API ``Idempotency-Key``, unique by ``(owner, key)``.

    A second record for a pair already stored -- two concurrent requests with one key
    both claiming it -- makes its commit raise ``ConcurrencyConflict`` and write nothing;
    the loser's retry finds the winner's record. ``owner`` and ``key`` do not change.
    """

    def get(self, record_id: str) -> IdempotentRequest:
        """Return the record or raise ``NotFound``."""
        ...

    def find(self, owner: str, key: str) -> IdempotentRequest | None:
        """The record of ``owner``'s ``key``, if any (another owner's same key is not it)."""
        ...

    def add(self, request: IdempotentRequest) -> None:
        """Stage a new record; a second one for the same ``(owner, key)`` conflicts at commit."""
        ...

    def update(self, request: IdempotentRequest) -> None:
        """Stage a change to a record read in this unit of work (the answer, a new claim)."""
        ...

    def remove(self, request: IdempotentRequest) -> None:
        """Stage the deletion of a record read in this unit of work (expired, or abandoned)."""
        ...

    def list_expired(self, now: datetime, *, limit: int) -> Sequence[IdempotentRequest]:
        """Up to ``limit`` records whose ``expires_at`` is not after ``now``, for the sweep.

        Longest expired first (by ``expires_at``, ties in the order they were added).
        """
        ...


class AutomationActionRepository(Protocol):
    """What automated refund policies did, unique by ``(policy, payment_id)``.

    A second record for a pair already stored -- two workers deciding about one payment --
    makes its commit raise ``ConcurrencyConflict`` and write nothing. ``policy`` and
    ``payment_id`` do not change.
    """

    def get(self, action_id: str) -> AutomationAction:
        """Return the action or raise ``NotFound``."""
        ...

    def find(self, policy: str, payment_id: str) -> AutomationAction | None:
        """The action ``policy`` recorded about ``payment_id``, if any."""
        ...

    def add(self, action: AutomationAction) -> None:
        """Stage a new action; a second one for the same ``(policy, payment_id)`` conflicts."""
        ...

    def update(self, action: AutomationAction) -> None:
        """Stage a change to an action read in this unit of work."""
        ...

    def list(
        self,
        *,
        policy: str | None = None,
        payment_id: str | None = None,
        statuses: Sequence[ActionStatus] | None = None,
        created_since: datetime | None = None,
        limit: int | None = None,
    ) -> Sequence[AutomationAction]:
        """Actions matching every given filter, oldest first (by ``created_at``), at most ``limit``.

        ``created_since`` is inclusive: the daily caps count from it.
        """
        ...


class TransactionLogRepository(Protocol):
    """The append-only audit log: there is no update and no delete."""

    def append(self, entry: TransactionLogEntry) -> None:
        """Stage a new entry."""
        ...

    def list_for_payment(self, payment_id: str) -> Sequence[TransactionLogEntry]:
        """Every entry of ``payment_id`` in the order written."""
        ...


VELOCITY_KEYS = ("customer_id", "email", "card_fingerprint", "ip_address")
"""What fraud velocity counters group by: the :class:`RiskAssessment` fields indexed for it."""


class RiskAssessmentRepository(Protocol):
    """Fraud screening records, one per payment (``id`` is the payment's id)."""

    def find(self, payment_id: str) -> RiskAssessment | None:
        """The assessment of ``payment_id``, if it has one."""
        ...

    def add(self, assessment: RiskAssessment) -> None:
        """Stage a new assessment; a second one for the same payment conflicts at commit."""
        ...

    def update(self, assessment: RiskAssessment) -> None:
        """Stage a change to an assessment read in this unit of work."""
        ...

    def list_by_review_state(
        self, state: ReviewState, *, limit: int | None = None
    ) -> Sequence[RiskAssessment]:
        """Assessments in review ``state``, oldest first (the review queue for ``pending``)."""
        ...

    def list_created_between(
        self, start: datetime | None, end: datetime | None
    ) -> Sequence[RiskAssessment]:
        """Assessments created in ``[start, end)`` (either end open when ``None``), oldest first."""
        ...

    def velocity(
        self,
        values: Mapping[str, str],
        *,
        windows: Sequence[datetime],
        until: datetime,
        currency: str,
        exclude_id: str | None = None,
    ) -> dict[str, list[VelocityCount]]:
        """Per ``key: value`` and window start, the assessments created in ``[start, until]``.

        Each key of ``values`` is one of :data:`VELOCITY_KEYS`; the answer has, for each key,
        one count per window, in the order of ``windows``. ``exclude_id`` (the payment being
        screened) is not counted. Amounts are summed for assessments in ``currency`` only.
        A storage should answer every key in one read: screening asks once per payment.
        """
        ...

    def velocity_and_members(  # noqa: PLR0913 - velocity's arguments, and the lists
        self,
        values: Mapping[str, str],
        *,
        windows: Sequence[datetime],
        until: datetime,
        currency: str,
        exclude_id: str | None = None,
        lists: Mapping[str, Sequence[str]],
    ) -> tuple[dict[str, list[VelocityCount]], dict[str, set[str]]]:
        """``velocity(values, ...)`` and ``risk_lists.members(lists)``, as the two answer.

        Screening asks both for every payment; a storage may read them at once (SQL: one
        statement), since a read's round trip costs more than its work on a server.
        """
        ...


class RiskListRepository(Protocol):
    """The host's named block and allow lists, unique by ``(list_name, value)``."""

    def add(self, entry: RiskListEntry) -> None:
        """Stage a new entry; the same ``(list_name, value)`` twice conflicts at commit."""
        ...

    def remove(self, entry: RiskListEntry) -> None:
        """Stage the deletion of an entry read in this unit of work."""
        ...

    def find(self, list_name: str, value: str) -> RiskListEntry | None:
        """The entry of ``value`` on ``list_name``, if it is there."""
        ...

    def members(self, wanted: Mapping[str, Sequence[str]]) -> dict[str, set[str]]:
        """Per list name of ``wanted``, which of its values are on that list (one read)."""
        ...

    def list(self, list_name: str | None = None) -> Sequence[RiskListEntry]:
        """Entries of ``list_name`` (every list when ``None``), oldest first."""
        ...


class OutboxRepository(Protocol):
    """Host events waiting for delivery (see :mod:`paykit.domain.outbox`), unique by ``id``.

    Listings are in the order the messages were committed -- a unit's own messages in the
    order it added them, after every stored one -- which is the order a payment's events
    are delivered in. An update writes the delivery bookkeeping only; the event of a
    message never changes.
    """

    def get(self, message_id: str) -> OutboxMessage:
        """Return the message or raise ``NotFound``."""
        ...

    def add(self, message: OutboxMessage) -> None:
        """Stage a new message (a unit's messages are written together, at its commit)."""
        ...

    def update(self, message: OutboxMessage) -> None:
        """Stage a change to a message read or added in this unit of work (a delivery)."""
        ...

    def remove(self, message: OutboxMessage) -> None:
        """Stage the deletion of a message read in this unit of work (a purge)."""
        ...

    def acknowledge(self, deliveries: Mapping[str, datetime]) -> None:
        """Stage marking messages (id -> when) ``delivered``, one attempt more, if still pending.

        Never a conflict: a message that is no longer pending (delivered or dead meanwhile)
        or not there is left as it is. The dispatcher acknowledges in-process deliveries
        this way, in the next unit of work the service commits anyway.
        """
        ...

    def list_pending(
        self, *, payment_id: str | None = None, limit: int | None = None
    ) -> Sequence[OutboxMessage]:
        """``pending`` messages (of ``payment_id`` only, if given), in commit order."""
        ...

    def list(
        self,
        *,
        status: OutboxStatus | None = None,
        payment_id: str | None = None,
        limit: int | None = None,
    ) -> Sequence[OutboxMessage]:
        """Messages matching every given filter, in commit order, at most ``limit``."""
        ...


class UnitOfWork(Protocol):
    """One atomic transaction over all repositories."""

    @property
    def payment_methods(self) -> PaymentMethodRepository:
        """Saved payment methods."""
        ...

    @property
    def payments(self) -> PaymentRepository:
        """Payments."""
        ...

    @property
    def refunds(self) -> RefundRepository:
        """Refunds."""
        ...

    @property
    def transaction_log(self) -> TransactionLogRepository:
        """The append-only audit log."""
        ...

    @property
    def disputes(self) -> DisputeRepository:
        """Disputes (chargebacks)."""
        ...

    @property
    def webhook_inbox(self) -> WebhookInboxRepository:
        """Received provider events."""
        ...

    @property
    def idempotent_requests(self) -> IdempotentRequestRepository:
        """API requests remembered by their idempotency key."""
        ...

    @property
    def automation_actions(self) -> AutomationActionRepository:
        """What automated refund policies did."""
        ...

    @property
    def risk_assessments(self) -> RiskAssessmentRepository:
        """Fraud screening records, one per screened payment."""
        ...

    @property
    def risk_lists(self) -> RiskListRepository:
        """The host's fraud block and allow lists."""
        ...

    @property
    def outbox(self) -> OutboxRepository:
        """Host events waiting for delivery, written with the change they describe."""
        ...

    def has_stale_reads(self) -> bool:
        """Whether another unit of work has committed a change to, or removed, a record read here.

        Every record a read returned counts (``get``, ``find_*``, ``list_*``), at the version
        first read in this unit; the unit's own staged writes do not. Cheap enough to call
        when the unit's work fails, not meant for every unit: it asks the storage again.
        """
        ...

    def commit(self) -> None:
        """Write everything staged at once, or raise ``ConcurrencyConflict`` and write nothing."""
        ...

    def rollback(self) -> None:
        """Discard everything staged."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class Storage(Protocol):
    """Where paykit keeps its records; hands out units of work."""

    def unit_of_work(self) -> UnitOfWork:
        """Begin a new unit of work."""
        ...


def events_wait(
    inbox: WebhookInboxRepository,
    provider: str,
    *,
    provider_payment_id: str | None = None,
    provider_refund_id: str | None = None,
) -> bool:
    """Whether an unmatched event of ``provider`` names the given provider id.

    The ``*_noting_waiting_events`` reads, for a storage that cannot fold the question into
    the read of the record (or when the record is staged in the unit).
    """
    if provider_payment_id is None and provider_refund_id is None:
        return False
    waiting = inbox.list_unmatched(
        provider=provider,
        provider_payment_id=provider_payment_id,
        provider_refund_id=provider_refund_id,
        limit=1,
    )
    return bool(waiting)
