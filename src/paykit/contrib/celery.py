"""paykit's background work as Celery tasks on the host's own Celery app (``paykit[celery]``).

::

    from celery import Celery
    from paykit.contrib.celery import register_tasks

    app = Celery("shop", broker="amqp://guest:guest@127.0.0.1:5672//")
    tasks = register_tasks(app, build_service)  # a function returning the PaymentService
    app.conf.beat_schedule = tasks.beat_schedule()

    tasks.process_payment.delay(payment.id)  # from a view: the worker charges

The tasks (named ``paykit.<task>``):

* ``process_payment(payment_id)`` and ``process_refund(refund_id)`` submit a ``pending``
  payment or refund to its gateway;
* ``apply_webhook(provider, event_id)`` applies a webhook that the endpoint stored with
  :meth:`PaykitTasks.handle_webhook` (which answers the provider at once);
* ``reconcile()`` runs a reconciliation sweep, for Celery beat;
* ``dispatch_events()`` delivers the outbox's pending events (:mod:`paykit.outbox`), after
  each commit when :func:`register_tasks` is given ``deliver_events=True``, and on beat.

Every task is safe to run twice, which is what at-least-once delivery gives: the tasks are
``acks_late`` and ``reject_on_worker_lost``, so a worker killed mid-task leaves its message
to another worker, and each retries ``ConcurrencyConflict`` (and a storage outage) with
exponential backoff and jitter. Running twice changes nothing because paykit's claims do
the deduplicating: only one ``pending -> processing`` claim can succeed, so a second
``process_payment`` finds the payment claimed and returns its status without calling the
gateway; a payment whose worker died after the claim is settled by the ``reconcile`` sweep,
which asks the provider -- the charge carried the payment's own idempotency key, so it was
made at most once. Webhooks are deduplicated by the inbox, sweeps by their leases, events by
the outbox's leases and ids.

The service: pass a function that builds it (called once in each worker process, after the
fork, so no database connection is shared between processes), or the service itself for a
worker with a single process (``--pool=solo``, threads) and for eager mode in tests.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Final

import attrs
from celery import Celery, Task

from paykit.errors import ConcurrencyConflict, InvalidStateTransition, NotFound
from paykit.outbox import DispatchReport
from paykit.service import PaymentService, ReconcilePolicy, WebhookOutcome, WebhookResult

__all__ = ["RETRYABLE_ERRORS", "PaykitTasks", "register_tasks"]

_log = logging.getLogger("paykit.celery")


def _retryable_errors() -> tuple[type[Exception], ...]:
    """The retryable paykit errors, and a database briefly unreachable (SQLAlchemy's)."""
    errors: list[type[Exception]] = [ConcurrencyConflict]
    try:
        from sqlalchemy.exc import OperationalError  # noqa: PLC0415 - SQL storage is optional
    except ImportError:  # pragma: no cover - the sql extra is not installed
        pass
    else:
        errors.append(OperationalError)
    return tuple(errors)


RETRYABLE_ERRORS: Final = _retryable_errors()
"""What the tasks retry (with backoff): a unit of work that kept losing races, a database
that does not answer. Anything else -- a payment that is not ``pending`` any more, a record
that does not exist -- is an answer, not a failure."""

_TASK_OPTIONS: Final[dict[str, Any]] = {
    "shared": False,  # this app's tasks, bound to this service; not every app's
    "acks_late": True,  # a message is acknowledged after the task ran, not when it starts
    "reject_on_worker_lost": True,  # a killed worker's message goes back to the queue
    "autoretry_for": RETRYABLE_ERRORS,
    "retry_backoff": 2,  # 2 s, 4 s, 8 s ... with jitter, at most retry_backoff_max
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 10,
}


class _ServiceHolder:
    """The service of this process: built on first use, and again after a fork."""

    def __init__(
        self,
        service: PaymentService | Callable[[], PaymentService],
        configure: Callable[[PaymentService], None],
    ) -> None:
        self._given = service
        self._configure = configure
        self._lock = threading.Lock()
        self._service: PaymentService | None = None
        self._pid = 0

    def get(self) -> PaymentService:
        with self._lock:
            if self._service is None or (
                self._pid != os.getpid() and not isinstance(self._given, PaymentService)
            ):
                built = self._given if isinstance(self._given, PaymentService) else self._given()
                self._configure(built)
                self._service, self._pid = built, os.getpid()
            return self._service


@attrs.frozen
class PaykitTasks:
    """The tasks :func:`register_tasks` put on the host's Celery app, and their helpers."""

    app: Celery
    process_payment: Task[Any, Any]
    """``process_payment(payment_id) -> status``: submit a pending payment."""
    process_refund: Task[Any, Any]
    """``process_refund(refund_id) -> status``: submit a pending refund."""
    apply_webhook: Task[Any, Any]
    """``apply_webhook(provider, event_id) -> outcome``: apply a stored webhook."""
    reconcile: Task[Any, Any]
    """``reconcile() -> report``: one reconciliation sweep (for beat)."""
    dispatch_events: Task[Any, Any]
    """``dispatch_events() -> counts``: deliver the outbox's due events (after commits, beat)."""
    _holder: _ServiceHolder = attrs.field(repr=False, alias="holder")

    @property
    def service(self) -> PaymentService:
        """This process's service (built by the factory on first use)."""
        return self._holder.get()

    def handle_webhook(
        self, provider: str, headers: Mapping[str, str], raw_body: bytes
    ) -> WebhookResult:
        """Verify and store a webhook, queue ``apply_webhook``, and say what to answer.

        For the host's webhook endpoint: the answer needs one short unit of work and no
        provider call. If the broker cannot take the task, the stored event is still
        applied by the next ``reconcile`` sweep (it waits as ``unmatched``).
        """
        result = self.service.webhooks.store(provider, headers, raw_body)
        if result.outcome is WebhookOutcome.UNMATCHED and result.event_id is not None:
            try:
                self.apply_webhook.delay(provider, result.event_id)
            except Exception:  # noqa: BLE001 - the event is stored; the sweep applies it
                _log.exception("could not queue %s event %s", provider, result.event_id)
        return result

    def beat_schedule(
        self,
        *,
        reconcile_every: timedelta = timedelta(minutes=5),
        dispatch_every: timedelta = timedelta(seconds=30),
    ) -> dict[str, dict[str, Any]]:
        """Entries for ``app.conf.beat_schedule``: the sweep and the outbox's safety net."""
        return {
            "paykit-reconcile": {
                "task": self.reconcile.name,
                "schedule": reconcile_every.total_seconds(),
            },
            "paykit-dispatch-events": {
                "task": self.dispatch_events.name,
                "schedule": dispatch_every.total_seconds(),
            },
        }


def register_tasks(
    app: Celery,
    service: PaymentService | Callable[[], PaymentService],
    *,
    deliver_events: bool = False,
    reconcile_policy: ReconcilePolicy | None = None,
    prefix: str = "paykit",
) -> PaykitTasks:
    """Register paykit's tasks on ``app``, run with ``service``; return them.

    ``service`` is the host's configured :class:`~paykit.PaymentService` or, better, a
    function building it (see the module docstring). With ``deliver_events=True`` the
    service's events are delivered by the ``dispatch_events`` task on a worker -- to the
    subscribers the worker's service has -- instead of in the caller's thread: each commit
    queues the task, and beat runs it as a safety net. ``reconcile_policy`` tunes the
    sweep. Task names are ``<prefix>.<task>``.
    """
    policy = reconcile_policy or ReconcilePolicy()

    def configure(built: PaymentService) -> None:
        if deliver_events:
            built.outbox.deliver_after_commit = False
            built.outbox.on_commit = lambda _ids: _queue(dispatch_events)

    holder = _ServiceHolder(service, configure)

    @app.task(name=f"{prefix}.process_payment", **_TASK_OPTIONS)
    def process_payment(payment_id: str) -> str:
        """Submit a pending payment; a payment already claimed is left as it is."""
        return _process_payment(holder.get(), payment_id)

    @app.task(name=f"{prefix}.process_refund", **_TASK_OPTIONS)
    def process_refund(refund_id: str) -> str:
        """Submit a pending refund; a refund already claimed is left as it is."""
        return _process_refund(holder.get(), refund_id)

    @app.task(name=f"{prefix}.apply_webhook", **_TASK_OPTIONS)
    def apply_webhook(provider: str, event_id: str) -> str:
        """Apply a stored webhook event; one applied already is a ``duplicate``."""
        return _apply_webhook(holder.get(), provider, event_id)

    @app.task(name=f"{prefix}.reconcile", **_TASK_OPTIONS)
    def reconcile() -> dict[str, Any]:
        """One reconciliation sweep; safe beside other sweeps (records are leased)."""
        return attrs.asdict(holder.get().reconciler.run(policy))

    @app.task(name=f"{prefix}.dispatch_events", **_TASK_OPTIONS)
    def dispatch_events() -> dict[str, int]:
        """Deliver the outbox's due events, batch after batch, until none is left."""
        return _dispatch_events(holder.get())

    return PaykitTasks(
        app=app,
        process_payment=process_payment,
        process_refund=process_refund,
        apply_webhook=apply_webhook,
        reconcile=reconcile,
        dispatch_events=dispatch_events,
        holder=holder,
    )


def _process_payment(service: PaymentService, payment_id: str) -> str:
    try:
        return str(service.process_payment(payment_id).status)
    except InvalidStateTransition:
        # Claimed before: by an earlier delivery of this task, or by another worker. The
        # claim's owner -- or, if it died, the reconcile sweep -- settles it.
        return str(service.get_payment(payment_id).status)


def _process_refund(service: PaymentService, refund_id: str) -> str:
    try:
        return str(service.process_refund(refund_id).status)
    except InvalidStateTransition:
        return str(service.get_refund(refund_id).status)


def _apply_webhook(service: PaymentService, provider: str, event_id: str) -> str:
    try:
        return str(service.webhooks.apply_stored(provider, event_id))
    except NotFound:
        _log.warning("no stored %s event %s to apply", provider, event_id)
        return "not_found"


def _dispatch_events(service: PaymentService) -> dict[str, int]:
    total = DispatchReport()
    while True:
        report = service.outbox.dispatch()
        total += report
        if report == DispatchReport():  # nothing was due any more
            return attrs.asdict(total)


def _queue(task: Task[Any, Any]) -> None:
    """Queue a dispatch after a commit; if the broker is down, beat's dispatch delivers."""
    try:
        task.delay()
    except Exception:  # noqa: BLE001 - the events are stored; a later dispatch delivers them
        _log.exception("could not queue %s; the next one delivers these events", task.name)
