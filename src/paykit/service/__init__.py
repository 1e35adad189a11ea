"""PaymentService: the application layer, the only place that knows storage, domain and gateways.

Each operation loads records in a short unit of work, asks the domain whether the step is
allowed, and commits. Calls to a provider happen *between* units of work, never inside one:
the service claims the work (``pending -> processing``) and commits, calls the gateway, then
records the outcome in a second unit of work. An unknown outcome (timeout, 5xx) leaves the
payment in ``processing``; :meth:`PaymentService.reconcile_payment` asks the provider later.

The service is composed, as stripe-python's client is (``client.refunds.create``): one
:class:`~paykit.service._context.ServiceContext` shared by small parts, each in its own
module -- ``payment_methods``, ``payments``, ``refunds``, ``webhooks`` (the inbox) and
``reconciler`` (sweeps, which use the payments and refunds parts). The rules they share
live in ``_rules/``. The seed's flat names (``create_payment``, ``process_refund``, ...) are
kept on the service as one-line delegates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from paykit._defaults import new_id, utc_now
from paykit.analytics import Analytics
from paykit.automation._automation import Automation
from paykit.automation._settings import AutomationSettings
from paykit.event_bus import EventBus
from paykit.gateways.registry import GatewayRegistry, Route, RouteKey
from paykit.service._context import Screening, ServiceContext
from paykit.service._erasure import Erasure, ErasureReport
from paykit.service._payment_methods import PaymentMethods
from paykit.service._payments import RECONCILABLE_STATUSES, Payments
from paykit.service._reconciliation import (
    DEFAULT_POLICY,
    ReconcilePolicy,
    ReconcileProgress,
    Reconciler,
    ReconcileReport,
    SweepCounts,
)
from paykit.service._refunds import Refunds
from paykit.service._webhooks import WebhookOutcome, WebhookResult, Webhooks
from paykit.storage.base import Storage

if TYPE_CHECKING:
    from paykit.service._async import AsyncPaymentService as AsyncPaymentService


def __getattr__(name: str) -> object:
    """``AsyncPaymentService`` on first use: it needs anyio, which the core does not."""
    if name == "AsyncPaymentService":
        from paykit.service._async import AsyncPaymentService  # noqa: PLC0415 - needs anyio

        return AsyncPaymentService
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = [
    "DEFAULT_POLICY",
    "RECONCILABLE_STATUSES",
    "AsyncPaymentService",
    "Erasure",
    "ErasureReport",
    "PaymentMethods",
    "PaymentService",
    "Payments",
    "ReconcilePolicy",
    "ReconcileProgress",
    "ReconcileReport",
    "Reconciler",
    "Refunds",
    "ServiceContext",
    "SweepCounts",
    "WebhookOutcome",
    "WebhookResult",
    "Webhooks",
]


class PaymentService:
    """Payment methods, payments, refunds and their audit log, over any storage and gateways.

    ``gateways`` maps each payment method type to the gateway that serves it, e.g.
    ``{"credit_card": sandbox, "debit_card": sandbox, "digital_wallet": sandbox}``.
    ``events`` is the bus host subscribers listen on (a new one by default).
    ``clock`` and ``id_factory`` can be replaced to make tests and demos deterministic.
    ``conflict_attempts`` bounds the retries of a unit of work that lost a race.
    ``in_flight_grace`` is how long after submitting a request paykit waits before it
    believes a provider that says it has never heard of it (see ``gateways.base.NOT_FOUND``).
    ``automation`` turns automated refund policies on (:attr:`automation`; all off by default).
    ``fraud`` turns fraud screening on (a :class:`~paykit.fraud.FraudScreening`; off by
    default): ``reviews`` is then the manual review queue (``approve_review``,
    ``reject_review``, ``list_reviews``) and ``risk_lists`` the block and allow lists its
    rules read (see docs/fraud.md).

    The work is done by its parts -- :attr:`payment_methods`, :attr:`payments`,
    :attr:`refunds`, :attr:`webhooks`, :attr:`reconciler` and :attr:`analytics` (figures
    over the same storage, see :class:`~paykit.analytics.Analytics`) -- whose methods carry the
    documentation; the flat names below are the same methods.
    """

    def __init__(  # noqa: PLR0913 - each collaborator is a separate, optional seam
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
        self.storage = self.context.storage
        self.gateways = self.context.gateways
        self.events = self.context.events
        # Each unit's events, written with it and delivered at least once (paykit.outbox).
        self.outbox = self.context.outbox
        self.payment_methods = PaymentMethods(self.context)
        self.payments = Payments(self.context)
        self.refunds = Refunds(self.context)
        self.webhooks = Webhooks(self.context)
        self.reconciler = Reconciler(self.context, self.payments, self.refunds)
        self.analytics = Analytics(self.storage)
        # Automated refund policies: all off unless ``automation`` turns some on.
        self.automation = Automation(self.context, self.payments, self.refunds, automation)
        self.erasure = Erasure(self.context)
        # Fraud screening's review queue and lists (fraud sits above the service: imported here).
        from paykit.fraud._parts import service_parts  # noqa: PLC0415 - fraud imports the service

        self.reviews, self.risk_lists = service_parts(self.context, self.payments, self.refunds)

        # The seed's vocabulary, one line each: same methods, same signatures.
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
