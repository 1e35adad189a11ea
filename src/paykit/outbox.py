"""Host events that survive a crash: the outbox and its dispatcher.

Each event the service emits is written to the outbox (``uow.outbox``) in the unit of work
that caused it, so the change and its event are committed together or not at all. The
:class:`OutboxDispatcher` then delivers it to the :class:`~paykit.EventBus` subscribers at
least once:

* **right after the commit, in the caller's thread** (the default, as paykit always did).
  A short lease keeps every other dispatcher off the unit's messages meanwhile; the
  acknowledgements are written in batches, with a later unit of work;
* **by** :meth:`OutboxDispatcher.dispatch`: everything still pending and due -- messages
  whose subscribers raised (retried after a growing delay), and messages whose process
  died before it could deliver them (once their lease has run out). Run it periodically:
  from a thread (:meth:`OutboxDispatcher.dispatch_forever`), a cron job, or Celery beat
  (``paykit.contrib.celery``). With ``deliver_after_commit=False`` the caller's thread
  delivers nothing and ``dispatch`` does it all -- on a Celery worker, for instance.

A payment's events are delivered in the order they were committed: ``dispatch`` holds a
message back while an older one of its payment is pending (failing, or being delivered
elsewhere), and the caller's thread does not deliver a payment's new events while this
process knows an older one of it is failing. (A message failing in *another* process does
not hold back this one's in-process delivery: where several processes serve one payment and
order across them matters, use ``deliver_after_commit=False``.) After the
schedule's last attempt a message is ``dead``: it is set aside, listed by
:meth:`OutboxDispatcher.list`, and no longer holds back its payment's later events;
:meth:`OutboxDispatcher.retry` puts it back in the queue.

"At least once" means a subscriber may see an event twice (a process killed between the
delivery and its acknowledgement; one subscriber of two raising, so both get it again):
skip an event whose :attr:`~paykit.Event.id` you have handled.

When the bus has no subscriber at all and delivery is in-process, nothing is written: there
is nobody to deliver to, and paykit's own records are the history.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Final

import attrs

from paykit._card_numbers import redact_card_numbers
from paykit.domain.events import Event
from paykit.domain.outbox import OutboxMessage, OutboxStatus
from paykit.errors import ConcurrencyConflict, NotFound
from paykit.event_bus import EventBus
from paykit.storage.base import Storage, UnitOfWork

__all__ = [
    "DispatchReport",
    "OutboxDispatcher",
    "OutboxMessage",
    "OutboxStatus",
    "RetrySchedule",
    "Staged",
]

_log = logging.getLogger("paykit.events")

_ERROR_LENGTH: Final = 500
"""Characters of a subscriber's exception kept in ``last_error``."""


@attrs.frozen(kw_only=True)
class RetrySchedule:
    """How often, and how long apart, a failed delivery is tried again.

    The ``n``-th retry waits ``first_delay * multiplier ** (n - 1)``, at most ``max_delay``,
    less a random part of up to ``jitter`` of it (so that many failures at once do not all
    come back at once). After ``max_attempts`` failed deliveries the message is ``dead``.
    """

    max_attempts: int = attrs.field(default=10, validator=attrs.validators.ge(1))
    first_delay: timedelta = timedelta(seconds=5)
    multiplier: float = 2.0
    max_delay: timedelta = timedelta(hours=1)
    jitter: float = attrs.field(
        default=0.2, validator=[attrs.validators.ge(0), attrs.validators.le(1)]
    )

    def delay(self, attempts: int) -> timedelta:
        """How long to wait after the ``attempts``-th failed delivery."""
        full = min(self.first_delay * self.multiplier ** (attempts - 1), self.max_delay)
        return full * (1 - self.jitter * random.random())  # noqa: S311 - spreading retries, not a secret


@attrs.frozen
class DispatchReport:
    """What one :meth:`OutboxDispatcher.dispatch` did."""

    delivered: int = 0
    """Messages every subscriber took."""
    retrying: int = 0
    """Messages a subscriber raised on, due again later."""
    dead: int = 0
    """Messages that failed their last attempt."""

    def __add__(self, other: DispatchReport) -> DispatchReport:
        return DispatchReport(
            self.delivered + other.delivered,
            self.retrying + other.retrying,
            self.dead + other.dead,
        )


@attrs.frozen
class Staged:
    """What :meth:`OutboxDispatcher.stage` put in a unit of work."""

    messages: tuple[OutboxMessage, ...]
    acked: tuple[str, ...]


_NOTHING: Final = Staged((), ())


class OutboxDispatcher:
    """Writes the service's events to the outbox and delivers them to the bus's subscribers.

    ``PaymentService`` builds one (``service.outbox``). ``lease`` is how long a dispatcher
    may take over a delivery before another may try it (so a subscriber should finish well
    within it). ``deliver_after_commit=False`` leaves every delivery to :meth:`dispatch`;
    ``on_commit``, if set, is then called with the ids of each unit's new messages after
    its commit (the Celery glue queues a dispatch task there).
    """

    def __init__(  # noqa: PLR0913 - each setting is a separate, optional seam
        self,
        storage: Storage,
        events: EventBus,
        *,
        clock: Callable[[], datetime],
        schedule: RetrySchedule | None = None,
        lease: timedelta = timedelta(minutes=1),
        deliver_after_commit: bool = True,
        on_commit: Callable[[Sequence[str]], None] | None = None,
        batch_size: int = 500,
    ) -> None:
        self.storage = storage
        self.events = events
        self.clock = clock
        self.schedule = schedule if schedule is not None else RetrySchedule()
        self.lease = lease
        self.deliver_after_commit = deliver_after_commit
        self.on_commit = on_commit
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._acks: dict[str, datetime] = {}
        """Messages delivered in-process whose acknowledgement is not written yet."""
        self._behind: set[str] = set()
        """Payments with a message this process could not deliver: later ones wait."""
        self.acknowledge_every = 32
        """In-process deliveries acknowledged together, in the unit of work that follows."""

    # -- the service's side: write with the change, deliver after the commit -------------

    def stage(self, uow: UnitOfWork, events: Sequence[Event], now: datetime) -> Staged:
        """Add a message per event to ``uow``, and the acknowledgements waiting to be written.

        Called by the service just before it commits a unit of work. A message to be
        delivered in this process after the commit is leased for :attr:`lease`. One whose
        payment has a message this process could not deliver (failing, or held behind a
        failing one) is due at once, for :meth:`dispatch`, and is not delivered here, so
        that the older one goes first.
        """
        nothing_to_add = not events or (
            self.deliver_after_commit and not self.events.has_subscribers
        )
        if nothing_to_add and not self._acks_due(now):
            return _NOTHING  # the common case: nothing to write, no lock taken
        with self._lock:
            acked = dict(self._acks) if self._acks_due(now) else {}
            behind = frozenset(self._behind)
        outbox = uow.outbox
        if acked:
            outbox.acknowledge(acked)
        if nothing_to_add:
            return Staged((), tuple(acked))
        leased = now + self.lease if self.deliver_after_commit else now
        messages = []
        for event in events:
            payment_id = event.payment.id
            message = OutboxMessage(
                id=event.id,
                payment_id=payment_id,
                event=event,
                created_at=now,
                next_attempt_at=now if payment_id in behind else leased,
            )
            outbox.add(message)
            messages.append(message)
        return Staged(tuple(messages), tuple(acked))

    def committed(self, events: Sequence[Event], staged: Staged) -> None:
        """After the commit: deliver the unit's messages here, or hand them to ``on_commit``.

        Deliveries that every subscriber took are acknowledged together, in a later unit
        of work once :attr:`acknowledge_every` have gathered or the oldest is a quarter
        of the lease old (:meth:`stage`), or by :meth:`flush` and :meth:`dispatch`; a
        failure is written at once, with its retry time.
        """
        if staged.acked:
            self._forget_acks(staged.acked)
        messages = staged.messages
        if not messages:
            if self.deliver_after_commit:
                for event in events:  # nothing was written: nobody listens
                    self.events.publish(event)
            return
        if not self.deliver_after_commit:
            if self.on_commit is not None:
                self.on_commit([message.id for message in messages])
            return
        now = self.clock()
        mine = [message for message in messages if message.next_attempt_at > now]
        if mine:
            self._deliver_here(mine, now)

    def _deliver_here(self, mine: Sequence[OutboxMessage], now: datetime) -> None:
        """Deliver a unit's leased messages in this thread; note or write what became of them."""
        self._deliver_in_order(mine, now)
        undelivered = [m for m in mine if m.status is not OutboxStatus.DELIVERED]
        with self._lock:
            for message in mine:
                if message.status is OutboxStatus.DELIVERED:
                    self._acks[message.id] = now
                elif message.status is OutboxStatus.PENDING:
                    self._behind.add(message.payment_id)
        if undelivered:
            self._record(undelivered)

    def flush(self) -> None:
        """Write the acknowledgements of in-process deliveries now, in a unit of their own.

        :meth:`dispatch` does it first; call it before a process stops, or its last
        deliveries are made again by the next dispatcher once their lease has run out.
        """
        with self._lock:
            acked = dict(self._acks)
        if not acked:
            return
        with self.storage.unit_of_work() as uow:
            uow.outbox.acknowledge(acked)
            uow.commit()
        self._forget_acks(acked)

    def _acks_due(self, now: datetime) -> bool:
        """Whether the acknowledgements waiting go with this unit: enough, or old enough."""
        acks = self._acks
        if not acks:
            return False
        if len(acks) >= self.acknowledge_every:
            return True
        oldest = next(iter(acks.values()), now)  # insertion order: the first is the oldest
        return oldest <= now - self.lease / 4

    def _forget_acks(self, written: Iterable[str]) -> None:
        with self._lock:
            for message_id in written:
                self._acks.pop(message_id, None)

    # -- the dispatcher's side: whatever is pending and due ------------------------------

    def dispatch(self, *, limit: int | None = None) -> DispatchReport:
        """Deliver every pending message that is due, oldest first, in order per payment.

        Writes this process's acknowledgements, reads up to ``limit`` (default
        ``batch_size``) pending messages, leases the due ones (of two dispatchers leasing
        the same ones, the second loses and leaves them), delivers them and records the
        outcome. Returns what it did; call it again for the next batch.
        """
        self.flush()
        now = self.clock()
        with self.storage.unit_of_work() as uow:
            pending = list(uow.outbox.list_pending(limit=limit or self.batch_size))
        due: list[OutboxMessage] = []
        held: set[str] = set()  # payments whose oldest message is leased or waiting to retry
        for message in pending:
            if message.payment_id in held:
                continue
            if message.next_attempt_at > now:
                held.add(message.payment_id)
                continue
            due.append(message)
        if not due or not self._lease(due, now):
            return DispatchReport()
        report = self._deliver_in_order(due, now)
        if not self._record(due):
            return DispatchReport()
        failing = {m.payment_id for m in due if m.status is OutboxStatus.PENDING}
        with self._lock:
            self._behind -= {m.payment_id for m in due} - failing - held
        return report

    def dispatch_forever(self, *, interval: float = 5.0, stop: threading.Event) -> None:
        """Call :meth:`dispatch` every ``interval`` seconds until ``stop`` is set.

        For a host delivering in-process: run it in a daemon thread, so that retries and the
        messages of a process that died are delivered. A failing round is logged, not raised.
        """
        while not stop.is_set():
            try:
                while self.dispatch().delivered:
                    pass  # a full batch: there may be more
            except Exception:  # noqa: BLE001 - a database hiccup must not end the loop
                _log.exception("outbox dispatch failed; trying again in %s s", interval)
            stop.wait(interval)

    # -- looking after the outbox ---------------------------------------------------------

    def list(
        self,
        *,
        status: OutboxStatus | str | None = None,
        payment_id: str | None = None,
        limit: int | None = 100,
    ) -> list[OutboxMessage]:
        """Messages by status (``dead`` lists the dead letters) and payment, oldest first."""
        wanted = None if status is None else OutboxStatus(status)
        self.flush()
        with self.storage.unit_of_work() as uow:
            return list(uow.outbox.list(status=wanted, payment_id=payment_id, limit=limit))

    def retry(self, message_id: str) -> OutboxMessage:
        """Put a message (a dead letter, say) back in the queue, due now, with no attempts."""
        with self.storage.unit_of_work() as uow:
            message = uow.outbox.get(message_id)
            message.status = OutboxStatus.PENDING
            message.attempts = 0
            message.next_attempt_at = self.clock()
            message.delivered_at = None
            uow.outbox.update(message)
            uow.commit()
        return message

    def purge(self, *, delivered_before: datetime, limit: int = 1000) -> int:
        """Delete up to ``limit`` messages delivered before ``delivered_before``; say how many."""
        self.flush()
        with self.storage.unit_of_work() as uow:
            old = [
                message
                for message in uow.outbox.list(status=OutboxStatus.DELIVERED, limit=limit)
                if message.delivered_at is not None and message.delivered_at < delivered_before
            ]
            for message in old:
                uow.outbox.remove(message)
            uow.commit()
        return len(old)

    # -- delivering -----------------------------------------------------------------------

    def _lease(self, messages: Sequence[OutboxMessage], now: datetime) -> bool:
        """Take ``messages`` for :attr:`lease`; ``False`` if another dispatcher got there first."""
        until = now + self.lease
        try:
            with self.storage.unit_of_work() as uow:
                for message in messages:
                    message.next_attempt_at = until
                    uow.outbox.update(message)
                uow.commit()
        except ConcurrencyConflict:
            return False
        return True

    def _deliver_in_order(self, messages: Sequence[OutboxMessage], now: datetime) -> DispatchReport:
        """Deliver ``messages`` (commit order); a payment whose message fails stops there.

        Sets each message's outcome: delivered, retrying, dead, or -- for a payment's later
        messages after a failure -- due again at once, behind the failed one.
        """
        delivered = retrying = dead = 0
        stopped: set[str] = set()
        for message in messages:
            if message.payment_id in stopped:
                message.next_attempt_at = now
                continue
            failures = self.events.deliver(message.event)
            message.attempts += 1
            if not failures:
                message.status = OutboxStatus.DELIVERED
                message.delivered_at = now
                message.last_error = None
                delivered += 1
                continue
            error = failures[0]
            message.last_error = redact_card_numbers(f"{type(error).__name__}: {error}")[
                :_ERROR_LENGTH
            ]
            if message.attempts >= self.schedule.max_attempts:
                message.status = OutboxStatus.DEAD
                dead += 1
                _log.error(
                    "event %s (%s) is dead after %d attempts",
                    message.id,
                    message.event.type,
                    message.attempts,
                )
            else:
                message.next_attempt_at = now + self.schedule.delay(message.attempts)
                retrying += 1
                stopped.add(message.payment_id)
        return DispatchReport(delivered, retrying, dead)

    def _record(self, messages: Sequence[OutboxMessage]) -> bool:
        """Write what became of ``messages``; ``False`` if a dispatcher took them over meanwhile.

        That happens only when a delivery outlasted its lease; the other dispatcher's record
        stands, and these subscribers may have seen the events twice.
        """
        try:
            with self.storage.unit_of_work() as uow:
                for message in messages:
                    uow.outbox.update(message)
                uow.commit()
        except (ConcurrencyConflict, NotFound):
            _log.warning(
                "outbox messages were taken over by another dispatcher before being recorded"
            )
            return False
        return True
