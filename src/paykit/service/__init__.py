"""PaymentService: the application layer, the only place that knows storage, domain and gateways.

Each operation loads records in a short unit of work, asks the domain whether the step is
allowed, and commits. Calls to a provider happen *between* units of work, never inside one:
the service claims the work (``pending -> processing``) and commits, calls the gateway, then
records the outcome in a second unit of work. An unknown outcome (timeout, 5xx) leaves the
payment in ``processing``; :meth:`PaymentService.reconcile_payment` asks the provider later.

The class is assembled from one part per aggregate or job, each in its own module:
``_payment_methods``, ``_payments``, ``_refunds``, ``_webhooks`` (the inbox) and
``_reconciliation`` (sweeps, which build on the payment and refund parts), over the shared
``_core``.
"""

from __future__ import annotations

from paykit.service._payment_methods import PaymentMethodOperations
from paykit.service._payments import RECONCILABLE_STATUSES
from paykit.service._reconciliation import (
    ReconcileOperations,
    ReconcileProgress,
    ReconcileReport,
    SweepCounts,
)
from paykit.service._webhooks import WebhookOperations, WebhookOutcome, WebhookResult

__all__ = [
    "RECONCILABLE_STATUSES",
    "PaymentService",
    "ReconcileProgress",
    "ReconcileReport",
    "SweepCounts",
    "WebhookOutcome",
    "WebhookResult",
]


class PaymentService(PaymentMethodOperations, WebhookOperations, ReconcileOperations):
    """Payment methods, payments, refunds and their audit log, over any storage and gateways.

    ``PaymentService(storage, gateways, *, events=None, clock=utc_now, id_factory=new_id,
    conflict_attempts=50, in_flight_grace=timedelta(minutes=10))``

    ``gateways`` maps each payment method type to the gateway that serves it, e.g.
    ``{"credit_card": sandbox, "debit_card": sandbox, "digital_wallet": sandbox}``.
    ``events`` is the bus host subscribers listen on (a new one by default).
    ``clock`` and ``id_factory`` can be replaced to make tests and demos deterministic.
    ``conflict_attempts`` bounds the retries of a unit of work that lost a race.
    ``in_flight_grace`` is how long after submitting a request paykit waits before it
    believes a provider that says it has never heard of it (see ``gateways.base.NOT_FOUND``).
    """
