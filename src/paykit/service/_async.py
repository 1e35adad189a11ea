"""AsyncPaymentService: PaymentService's parts and operations for an event loop.

The operations are not written again: each async part (``_async_parts``) wraps the sync part
the sync service would use, over the same :class:`ServiceContext`. A provider operation is
the sync service's own generator of steps, performed by the :class:`AsyncDriver`: units of
work in worker threads, the gateway's ``*_async`` method awaited. Every other operation runs
the sync method whole in a worker thread, which keeps the same order of commits and provider
calls. As in the sync service, a unit of work is committed before a provider call starts and
a new one records the answer: none spans a provider call. ``worker_threads`` caps the worker
threads the service occupies at once (see ``_async_driver``).

Needs ``anyio`` (installed with ``paykit[stripe]`` or ``paykit[paypal]``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from paykit._defaults import new_id, utc_now
from paykit.analytics import Analytics
from paykit.automation._automation import Automation
from paykit.automation._settings import AutomationSettings
from paykit.event_bus import EventBus
from paykit.gateways.registry import GatewayRegistry, Route, RouteKey
from paykit.service._async_driver import AsyncDriver
from paykit.service._async_parts import (
    AsyncAnalytics,
    AsyncAutomation,
    AsyncErasure,
    AsyncPaymentMethods,
    AsyncPayments,
    AsyncReconciler,
    AsyncRefunds,
    AsyncWebhooks,
)
from paykit.service._context import Screening, ServiceContext
from paykit.service._erasure import Erasure
from paykit.service._payment_methods import PaymentMethods
from paykit.service._payments import Payments
from paykit.service._reconciliation import Reconciler
from paykit.service._refunds import Refunds
from paykit.service._webhooks import Webhooks
from paykit.storage.base import Storage

__all__ = ["AsyncDriver", "AsyncPaymentService", "AsyncPayments", "AsyncRefunds"]


class AsyncPaymentService:
    """:class:`~paykit.service.PaymentService`, awaitable, for async hosts.

    Same constructor arguments, same parts (``service.payments``, ``service.analytics``, ...)
    with the same methods, same flat operations, same guarantees; each method is awaited
    (but ``analytics.query``, ``automation.settings`` and ``automation.configure``, which
    touch no storage). Event subscribers run in a worker thread, after the commit, as they
    do in the sync service's thread.

    ``worker_threads`` caps the worker threads the service and its parts occupy at once
    (one ``anyio.CapacityLimiter``): units of work, the operations run whole in a thread,
    and calls to a gateway without ``*_async`` methods. ``None`` (the default) uses anyio's
    default limiter, 40 threads per event loop shared with the rest of the host. Measured
    (``bench/concurrency.py``): SQLite does best with 1 (it serialises writers), PostgreSQL
    with about 4. Anything but ``None`` or a whole number from 1 raises ``ValidationError``.
    """

    def __init__(  # noqa: PLR0913, PLR0915 - optional seams; a line per flat name
        self,
        storage: Storage,
        gateways: Mapping[RouteKey, Route] | GatewayRegistry,
        *,
        events: EventBus | None = None,
        clock: Callable[[], datetime] = utc_now,
        id_factory: Callable[[str], str] = new_id,
        conflict_attempts: int = 50,
        in_flight_grace: timedelta = timedelta(minutes=10),
        automation: AutomationSettings | None = None,
        fraud: Screening | None = None,
        worker_threads: int | None = None,
    ) -> None:
        self.context = ServiceContext(
            storage,
            gateways,
            events=events,
            clock=clock,
            id_factory=id_factory,
            conflict_attempts=conflict_attempts,
            in_flight_grace=in_flight_grace,
            screening=fraud,
        )
        driver = AsyncDriver(self.context, worker_threads)
        self.worker_threads = driver.worker_threads
        self.storage = self.context.storage
        self.gateways = self.context.gateways
        self.events = self.context.events
        # The same outbox as PaymentService's: each unit's events, delivered at least once.
        self.outbox = self.context.outbox
        # PaymentService's parts, each behind its async twin.
        payments, refunds = Payments(self.context), Refunds(self.context)
        self.payment_methods = AsyncPaymentMethods(driver, PaymentMethods(self.context))
        self.payments = AsyncPayments(driver, payments)
        self.refunds = AsyncRefunds(driver, refunds)
        self.webhooks = AsyncWebhooks(driver, Webhooks(self.context))
        self.reconciler = AsyncReconciler(driver, Reconciler(self.context, payments, refunds))
        self.analytics = AsyncAnalytics(driver, Analytics(self.storage))
        # Automated refund policies: all off unless ``automation`` turns some on.
        self.automation = AsyncAutomation(
            driver, Automation(self.context, payments, refunds, automation)
        )
        self.erasure = AsyncErasure(driver, Erasure(self.context))
        # Fraud screening's review queue and lists (fraud sits above the service: imported here).
        from paykit.fraud._async_parts import async_service_parts  # noqa: PLC0415 - fraud imports the service

        self.reviews, self.risk_lists = async_service_parts(driver, payments, refunds)

        # PaymentService's flat names, one line each: same methods, same signatures.
        self.add_payment_method = self.payment_methods.add
        self.get_payment_method = self.payment_methods.get
        self.list_payment_methods = self.payment_methods.list_for_customer
        self.update_payment_method = self.payment_methods.update
        self.set_default_payment_method = self.payment_methods.set_default
        self.deactivate_payment_method = self.payment_methods.deactivate
        self.remove_payment_method = self.payment_methods.remove

        self.create_payment = self.payments.create
        self.process_payment = self.payments.process
        self.capture_payment = self.payments.capture
        self.void_payment = self.payments.void
        self.cancel_payment = self.payments.cancel
        self.get_payment = self.payments.get
        self.get_payment_status = self.payments.get_status
        self.list_payments = self.payments.find
        self.get_transaction_log = self.payments.transaction_log
        self.reconcile_payment = self.payments.reconcile

        self.create_refund = self.refunds.create
        self.process_refund = self.refunds.process
        self.cancel_refund = self.refunds.cancel
        self.get_refund = self.refunds.get
        self.list_refunds = self.refunds.list_for_payment
        self.reconcile_refund = self.refunds.reconcile

        self.handle_webhook = self.webhooks.handle
        self.list_disputes = self.webhooks.list_disputes
        self.get_dispute = self.webhooks.get_dispute
        self.list_webhook_events = self.webhooks.list_events
        self.list_unmatched_webhook_events = self.webhooks.list_unmatched

        self.reconcile = self.reconciler.sweep

        self.order_cancelled = self.automation.order_cancelled

        self.erase_customer = self.erasure.erase_customer

        self.approve_review = self.reviews.approve
        self.reject_review = self.reviews.reject
        self.list_reviews = self.reviews.list
