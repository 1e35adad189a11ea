"""Reconciliation sweeps: settle what was left waiting for a provider answer.

A payment stays ``processing`` when its charge's answer never came (timeout, 5xx, dropped
connection) and ``requires_action`` when the webhook that would have finished it was lost; a
refund stays ``processing`` likewise. :meth:`Reconciler.sweep` finds those older
than ``older_than``, asks each one's gateway for the truth and settles it through the same
rules as every other path, then retries the webhooks still waiting for their payment.

Several workers may sweep one database at once. Before asking about a record a worker
*claims* it: one short unit of work sets ``next_reconcile_at`` to the end of a lease and
bumps the record's version. Two workers claiming the same record conflict, and the loser
re-reads it, sees the lease and skips it -- so no record is reconciled twice concurrently.
A record whose truth is still unknown gets ``next_reconcile_at`` pushed out by an
exponential backoff, so a provider that cannot answer is not asked on every sweep.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Final

import attrs

from paykit.domain.payment import Payment, PaymentStatus
from paykit.domain.refund import Refund, RefundStatus
from paykit.errors import PaykitError, ValidationError
from paykit.service._context import ServiceContext
from paykit.service._payments import RECONCILABLE_STATUSES, Payments
from paykit.service._refunds import Refunds
from paykit.service._rules.inbox import retry_unmatched
from paykit.service._rules.transaction import Transaction

__all__ = [
    "DEFAULT_GIVE_UP_AFTER",
    "DEFAULT_POLICY",
    "DEFAULT_SWEPT_STATUSES",
    "ReconcilePolicy",
    "ReconcileProgress",
    "ReconcileReport",
    "Reconciler",
    "SweepCounts",
    "SweepOutcome",
]

_P = PaymentStatus

DEFAULT_SWEPT_STATUSES: Final = (_P.PROCESSING, _P.REQUIRES_ACTION)
"""Payments a sweep asks about unless told otherwise: outcome unknown, or a lost webhook."""

DEFAULT_GIVE_UP_AFTER: Final = timedelta(days=7)
"""How long an unmatched webhook event is retried: longer than Stripe and PayPal go on
redelivering (about three days), so an event whose payment is merely late still matches."""

_log = logging.getLogger("paykit.reconcile")


class SweepOutcome(StrEnum):
    """What a sweep did with one record."""

    SETTLED = "settled"
    """The provider's answer moved it (completed, failed, cancelled...)."""
    STILL_UNKNOWN = "still_unknown"
    """Still waiting (no answer, or the provider is still deciding): asked again later."""
    SKIPPED = "skipped"
    """Another worker holds it, or it settled since the sweep listed it."""
    ERROR = "error"
    """Asking the provider failed (or its gateway is not configured); asked again later."""


@attrs.frozen(kw_only=True)
class SweepCounts:
    """How many records of one kind a sweep looked at, and what became of them."""

    examined: int = 0
    settled: int = 0
    still_unknown: int = 0
    skipped: int = 0
    errors: int = 0


@attrs.frozen(kw_only=True)
class ReconcileProgress:
    """One step of a sweep, for progress bars: ``done`` of ``total`` records."""

    done: int
    total: int
    kind: str
    """``"payment"`` or ``"refund"``."""
    record_id: str
    outcome: SweepOutcome


@attrs.frozen(kw_only=True)
class ReconcileReport:
    """What one sweep did."""

    payments: SweepCounts
    refunds: SweepCounts
    webhooks_applied: int
    """Stored events that found their payment or refund during this sweep."""
    webhooks_waiting: int
    """Stored events still waiting for a payment or refund paykit does not know."""
    webhooks_expired: int = 0
    """Stored events given up on during this sweep (unmatched for over ``give_up_after``)."""

    @property
    def unsettled(self) -> int:
        """Records still waiting after the sweep (unknown or errored)."""
        return sum(counts.still_unknown + counts.errors for counts in (self.payments, self.refunds))


ProgressCallback = Callable[[ReconcileProgress], None]


def _sweepable(statuses: Iterable[PaymentStatus | str]) -> tuple[PaymentStatus, ...]:
    return tuple(_payment_status(status) for status in statuses)


def _payment_status(value: PaymentStatus | str) -> PaymentStatus:
    try:
        status = PaymentStatus(value)
    except ValueError:
        status = None
    if status not in RECONCILABLE_STATUSES:
        choices = ", ".join(sorted(RECONCILABLE_STATUSES))
        msg = f"{value!r} cannot be swept; sweep payments that are {choices}"
        raise ValidationError(msg, field="statuses")
    return status


@attrs.frozen(kw_only=True)
class ReconcilePolicy:
    """How a reconciliation sweep runs: the one set of defaults for the service and the CLI.

    ``older_than``: only records unchanged for at least this long (a younger one may still
    get its answer or webhook). ``limit``: at most this many payments and this many refunds
    per sweep. ``statuses``: which payments to sweep. ``lease``: how long a worker's claim on
    a record lasts. ``backoff`` doubles after each still-unknown answer, up to
    ``max_backoff``. Unmatched webhook events received more than ``give_up_after`` ago that
    still match nothing are marked ``expired`` (``None``: never give up).
    """

    older_than: timedelta = timedelta(minutes=15)
    limit: int = 1000
    statuses: tuple[PaymentStatus, ...] = attrs.field(
        default=DEFAULT_SWEPT_STATUSES, converter=_sweepable
    )
    lease: timedelta = timedelta(minutes=5)
    backoff: timedelta = timedelta(minutes=1)
    max_backoff: timedelta = timedelta(hours=6)
    give_up_after: timedelta | None = DEFAULT_GIVE_UP_AFTER

    def __attrs_post_init__(self) -> None:
        if self.older_than < timedelta(0):
            raise ValidationError("must not be negative", field="older_than")
        if self.limit < 1:
            raise ValidationError("must be at least 1", field="limit")
        if self.give_up_after is not None and self.give_up_after <= timedelta(0):
            msg = "must be positive (or None to retry unmatched events forever)"
            raise ValidationError(msg, field="give_up_after")

    def delay(self, attempts: int) -> timedelta:
        """``backoff`` doubled for every earlier attempt, at most ``max_backoff``."""
        doublings = min(attempts - 1, 32)  # 2**32 minutes is past any sane maximum
        return min(self.backoff * (1 << doublings), self.max_backoff)


DEFAULT_POLICY: Final = ReconcilePolicy()
"""The sweep's defaults, as :class:`ReconcilePolicy` states them."""


class Reconciler:
    """Reconciliation sweeps over payments and refunds (``service.reconciler``)."""

    def __init__(self, context: ServiceContext, payments: Payments, refunds: Refunds) -> None:
        self._context = context
        self._payments = payments
        self._refunds = refunds

    def sweep(  # noqa: PLR0913 - each knob is a separate, optional policy
        self,
        *,
        older_than: timedelta = DEFAULT_POLICY.older_than,
        limit: int = DEFAULT_POLICY.limit,
        statuses: Sequence[PaymentStatus | str] = DEFAULT_POLICY.statuses,
        lease: timedelta = DEFAULT_POLICY.lease,
        backoff: timedelta = DEFAULT_POLICY.backoff,
        max_backoff: timedelta = DEFAULT_POLICY.max_backoff,
        give_up_after: timedelta | None = DEFAULT_POLICY.give_up_after,
        progress: ProgressCallback | None = None,
    ) -> ReconcileReport:
        """Ask the providers about payments and refunds left waiting; settle what they say.

        The knobs are those of :class:`ReconcilePolicy` (their defaults are its defaults).
        After the records, the oldest ``limit`` unmatched webhook events are tried again.
        ``progress`` is called after each record. Safe to run from several workers at once.
        """
        policy = ReconcilePolicy(
            older_than=older_than,
            limit=limit,
            statuses=tuple(statuses),
            lease=lease,
            backoff=backoff,
            max_backoff=max_backoff,
            give_up_after=give_up_after,
        )
        return self.run(policy, progress=progress)

    def run(
        self, policy: ReconcilePolicy, *, progress: ProgressCallback | None = None
    ) -> ReconcileReport:
        """One sweep as ``policy`` says (see :meth:`sweep`)."""
        swept, limit = policy.statuses, policy.limit
        now = self._context.clock()
        cutoff = now - policy.older_than
        payments, refunds = self._context.read(
            partial(_due, statuses=swept, updated_before=cutoff, now=now, limit=limit)
        )
        total = len(payments) + len(refunds)
        tallies: dict[str, Counter[SweepOutcome]] = {"payment": Counter(), "refund": Counter()}
        work: list[tuple[str, str, Callable[[], SweepOutcome]]] = [
            ("payment", p.id, partial(self._sweep_payment, p.id, policy)) for p in payments
        ]
        work += [("refund", r.id, partial(self._sweep_refund, r.id, policy)) for r in refunds]
        for done, (kind, record_id, sweep) in enumerate(work, start=1):
            outcome = sweep()
            tallies[kind][outcome] += 1
            if progress is not None:
                progress(
                    ReconcileProgress(
                        done=done, total=total, kind=kind, record_id=record_id, outcome=outcome
                    )
                )
        give_up_after = policy.give_up_after
        expire_before = None if give_up_after is None else now - give_up_after
        retried = self._context.transact(
            partial(retry_unmatched, limit=limit, expire_before=expire_before)
        )
        if retried.expired:
            _log.warning(
                "gave up on %d webhook event(s) unmatched for over %s (inbox status 'expired')",
                retried.expired,
                give_up_after,
            )
        return ReconcileReport(
            payments=_counts(tallies["payment"]),
            refunds=_counts(tallies["refund"]),
            webhooks_applied=retried.applied,
            webhooks_waiting=retried.waiting,
            webhooks_expired=retried.expired,
        )

    def _sweep_payment(self, payment_id: str, policy: ReconcilePolicy) -> SweepOutcome:
        swept = policy.statuses
        claimed = self._context.transact(
            partial(_claim, kind="payment", record_id=payment_id, swept=swept, lease=policy.lease)
        )
        if claimed is None:
            return SweepOutcome.SKIPPED
        try:
            payment = self._payments.reconcile(payment_id)
        except PaykitError:  # the provider failed, or its gateway is no longer configured
            outcome = SweepOutcome.ERROR
        else:
            if payment.status not in swept:
                return SweepOutcome.SETTLED
            outcome = SweepOutcome.STILL_UNKNOWN
        self._context.transact(
            partial(_schedule, kind="payment", record_id=payment_id, delay=policy.delay(claimed))
        )
        return outcome

    def _sweep_refund(self, refund_id: str, policy: ReconcilePolicy) -> SweepOutcome:
        claimed = self._context.transact(
            partial(_claim, kind="refund", record_id=refund_id, swept=(), lease=policy.lease)
        )
        if claimed is None:
            return SweepOutcome.SKIPPED
        try:
            refund = self._refunds.reconcile(refund_id)
        except PaykitError:
            outcome = SweepOutcome.ERROR
        else:
            if refund.status is not RefundStatus.PROCESSING:
                return SweepOutcome.SETTLED
            outcome = SweepOutcome.STILL_UNKNOWN
        self._context.transact(
            partial(_schedule, kind="refund", record_id=refund_id, delay=policy.delay(claimed))
        )
        return outcome


def _due(
    tx: Transaction,
    *,
    statuses: tuple[PaymentStatus, ...],
    updated_before: datetime,
    now: datetime,
    limit: int,
) -> tuple[list[Payment], list[Refund]]:
    payments = tx.uow.payments.list_due_for_reconciliation(
        statuses, updated_before=updated_before, due_by=now, limit=limit
    )
    refunds = tx.uow.refunds.list_due_for_reconciliation(
        updated_before=updated_before, due_by=now, limit=limit
    )
    return list(payments), list(refunds)


def _claim(
    tx: Transaction,
    *,
    kind: str,
    record_id: str,
    swept: tuple[PaymentStatus, ...],
    lease: timedelta,
) -> int | None:
    """Take the record for this worker until the lease ends; the attempt number, or ``None``.

    ``None`` when another worker's lease is running or the record settled meanwhile. The
    version bump makes a concurrent claim of the same record conflict and re-read.
    """
    record: Payment | Refund
    if kind == "payment":
        record = tx.uow.payments.get(record_id)
        waiting = record.status in swept
    else:
        record = tx.uow.refunds.get(record_id)
        waiting = record.status is RefundStatus.PROCESSING
    held = record.next_reconcile_at is not None and record.next_reconcile_at > tx.now
    if not waiting or held:
        return None
    record.reconcile_attempts += 1
    record.next_reconcile_at = tx.now + lease
    _stage(tx, record)
    return record.reconcile_attempts


def _schedule(tx: Transaction, *, kind: str, record_id: str, delay: timedelta) -> None:
    """Ask again after ``delay``: the provider had no settled answer this time."""
    record: Payment | Refund = (
        tx.uow.payments.get(record_id) if kind == "payment" else tx.uow.refunds.get(record_id)
    )
    record.next_reconcile_at = tx.now + delay
    _stage(tx, record)


def _stage(tx: Transaction, record: Payment | Refund) -> None:
    if isinstance(record, Payment):
        tx.uow.payments.update(record)
    else:
        tx.uow.refunds.update(record)


def _counts(tally: Counter[SweepOutcome]) -> SweepCounts:
    return SweepCounts(
        examined=sum(tally.values()) - tally[SweepOutcome.SKIPPED],
        settled=tally[SweepOutcome.SETTLED],
        still_unknown=tally[SweepOutcome.STILL_UNKNOWN],
        skipped=tally[SweepOutcome.SKIPPED],
        errors=tally[SweepOutcome.ERROR],
    )
