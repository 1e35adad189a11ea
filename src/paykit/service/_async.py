"""AsyncPaymentService: PaymentService's operations for an event loop.

The operations are not written again: each provider operation is the same generator of steps
the sync service runs (``_steps``), performed here by :func:`run_async`. Storage is
synchronous, so every unit of work runs in a worker thread (``anyio.to_thread``) and the
event loop never blocks on the database; the provider call is the gateway's ``*_async``
method, awaited natively (a gateway without one is called in a worker thread). As in the
sync service, a unit of work is committed before the provider call starts and a new one
records the answer: none spans a provider call. The operations without a steps generator
(payment methods, the webhook inbox, the sweep, automation, erasure) run the sync operation
whole in a worker thread, which keeps the same order of commits and provider calls.

Needs ``anyio`` (installed with ``paykit[stripe]`` or ``paykit[paypal]``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

import anyio.to_thread

from paykit._defaults import new_id, utc_now
from paykit.automation._automation import Automation
from paykit.automation._settings import AutomationSettings
from paykit.domain.automation import AutomationAction
from paykit.domain.dispute import Dispute
from paykit.domain.payment import Payment, PaymentStatus
from paykit.domain.payment_method import PaymentMethod, PaymentMethodType
from paykit.domain.refund import Refund
from paykit.domain.transaction_log import TransactionLogEntry
from paykit.domain.webhook_inbox import InboxEntry
from paykit.event_bus import EventBus
from paykit.gateways.base import GatewayResult
from paykit.gateways.registry import GatewayRegistry, Route, RouteKey
from paykit.money import AmountLike
from paykit.service._context import ProviderFailure, Screening, ServiceContext, call_provider
from paykit.service._erasure import Erasure, ErasureReport
from paykit.service._payment_methods import PaymentMethods
from paykit.service._payments import Payments
from paykit.service._reconciliation import (
    DEFAULT_POLICY,
    ProgressCallback,
    Reconciler,
    ReconcileReport,
)
from paykit.service._refunds import Refunds
from paykit.service._steps import Consult, Read, Step, Steps, Transact
from paykit.service._webhooks import WebhookResult, Webhooks
from paykit.storage.base import Storage

if TYPE_CHECKING:
    from paykit.fraud import RiskContext

__all__ = ["AsyncPaymentService", "AsyncPayments", "AsyncRefunds", "run_async"]

T = TypeVar("T")


async def run_async(context: ServiceContext, steps: Steps[T]) -> T:
    """Perform ``steps`` on the event loop: units of work in a thread, provider calls awaited."""
    answer: object = None
    try:
        while True:
            try:
                step = steps.send(answer)
            except StopIteration as done:
                return cast("T", done.value)
            answer = await _perform(context, step)
    finally:
        steps.close()


async def _perform(context: ServiceContext, step: Step) -> object:
    if isinstance(step, Transact):
        return await anyio.to_thread.run_sync(context.transact, step.work)
    if isinstance(step, Read):
        return await anyio.to_thread.run_sync(context.read, step.work)
    if isinstance(step, Consult):
        return await anyio.to_thread.run_sync(step.work)
    native: Callable[[object], Awaitable[GatewayResult]] | None = getattr(
        step.gateway, f"{step.operation}_async", None
    )
    method: Callable[[object], GatewayResult] = getattr(step.gateway, step.operation)
    if native is None:
        return await anyio.to_thread.run_sync(call_provider, partial(method, step.argument))
    try:
        return await native(step.argument)
    except Exception as error:  # noqa: BLE001 - classified by call_provider, as in the sync driver
        return _classify(error)


def _classify(error: Exception) -> ProviderFailure:
    """The sync driver's verdict on ``error`` (refused or unknown): one rule, in call_provider."""
    outcome = call_provider(partial(_raise, error))
    assert isinstance(outcome, ProviderFailure)  # noqa: S101 - _raise never answers
    return outcome


def _raise(error: Exception) -> NoReturn:
    raise error


async def _in_thread(call: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(call)


class AsyncPayments:
    """``PaymentService.payments``, awaited (``service.payments``); same documentation."""

    def __init__(self, context: ServiceContext, payments: Payments) -> None:
        self._context = context
        self._payments = payments

    async def create(  # noqa: PLR0913 - the fields of a payment
        self,
        *,
        customer_id: str,
        order_id: str,
        payment_method_id: str,
        amount: AmountLike,
        currency: str,
        capture: bool = True,
        description: str = "",
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        risk: RiskContext | None = None,
    ) -> Payment:
        """Record a ``pending`` payment (see :meth:`Payments.create`): one unit of work."""
        return await _in_thread(
            partial(
                self._payments.create,
                customer_id=customer_id,
                order_id=order_id,
                payment_method_id=payment_method_id,
                amount=amount,
                currency=currency,
                capture=capture,
                description=description,
                metadata=metadata,
                idempotency_key=idempotency_key,
                risk=risk,
            )
        )

    async def process(
        self,
        payment_id: str,
        *,
        return_url: str | None = None,
        off_session: bool = False,
        risk: RiskContext | None = None,
    ) -> Payment:
        """Submit a ``pending`` payment to its gateway (see :meth:`Payments.process`)."""
        steps = self._payments.process_steps(
            payment_id, return_url=return_url, off_session=off_session, risk=risk
        )
        return await run_async(self._context, steps)

    async def capture(self, payment_id: str, amount: AmountLike | None = None) -> Payment:
        """Capture an ``authorized`` payment (see :meth:`Payments.capture`)."""
        return await run_async(self._context, self._payments.capture_steps(payment_id, amount))

    async def void(self, payment_id: str) -> Payment:
        """Release the hold of an ``authorized`` payment (see :meth:`Payments.void`)."""
        return await run_async(self._context, self._payments.void_steps(payment_id))

    async def cancel(self, payment_id: str) -> Payment:
        """Cancel a payment that has not taken money (see :meth:`Payments.cancel`)."""
        return await run_async(self._context, self._payments.cancel_steps(payment_id))

    async def get(self, payment_id: str) -> Payment:
        """Return one payment (``NotFound`` if there is none)."""
        return await run_async(self._context, self._payments.get_steps(payment_id))

    async def get_status(self, payment_id: str) -> PaymentStatus:
        """Return the status of one payment."""
        return (await self.get(payment_id)).status

    async def find(
        self,
        *,
        customer_id: str | None = None,
        order_id: str | None = None,
        status: PaymentStatus | str | None = None,
    ) -> list[Payment]:
        """Payments matching every given filter, oldest first."""
        return await _in_thread(
            partial(self._payments.find, customer_id=customer_id, order_id=order_id, status=status)
        )

    async def transaction_log(self, payment_id: str) -> list[TransactionLogEntry]:
        """The payment's audit log, oldest entry first."""
        return await _in_thread(partial(self._payments.transaction_log, payment_id))

    async def reconcile(self, payment_id: str) -> Payment:
        """Ask the provider about a payment in doubt (see :meth:`Payments.reconcile`)."""
        return await run_async(self._context, self._payments.reconcile_steps(payment_id))


class AsyncRefunds:
    """``PaymentService.refunds``, awaited (``service.refunds``); same documentation."""

    def __init__(self, context: ServiceContext, refunds: Refunds) -> None:
        self._context = context
        self._refunds = refunds

    async def create(
        self,
        payment_id: str,
        amount: AmountLike | None = None,
        *,
        reason: str = "",
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Refund:
        """Record a ``pending`` refund, reserving its amount (see :meth:`Refunds.create`)."""
        return await _in_thread(
            partial(
                self._refunds.create,
                payment_id,
                amount,
                reason=reason,
                metadata=metadata,
                idempotency_key=idempotency_key,
            )
        )

    async def process(self, refund_id: str) -> Refund:
        """Send a ``pending`` refund to the gateway (see :meth:`Refunds.process`)."""
        return await run_async(self._context, self._refunds.process_steps(refund_id))

    async def cancel(self, refund_id: str) -> Refund:
        """Cancel a ``pending`` refund and release its reservation."""
        return await _in_thread(partial(self._refunds.cancel, refund_id))

    async def get(self, refund_id: str) -> Refund:
        """Return one refund (``NotFound`` if there is none)."""
        return await run_async(self._context, self._refunds.get_steps(refund_id))

    async def list_for_payment(self, payment_id: str) -> list[Refund]:
        """Every refund of a payment, oldest first."""
        return await _in_thread(partial(self._refunds.list_for_payment, payment_id))

    async def reconcile(self, refund_id: str) -> Refund:
        """Ask the provider about a ``processing`` refund (see :meth:`Refunds.reconcile`)."""
        return await run_async(self._context, self._refunds.reconcile_steps(refund_id))


class AsyncPaymentService:
    """:class:`~paykit.service.PaymentService`'s flat operations, awaitable, for async hosts.

    Same constructor arguments, same operations, same guarantees: each provider operation is
    the sync service's own sequence of steps, with the units of work run in worker threads
    and the gateway's ``*_async`` method awaited. Event subscribers run in a worker thread,
    after the commit, as they do in the sync service's thread.
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
        # The same outbox as PaymentService's: each unit's events, delivered at least once.
        self.outbox = self.context.outbox
        sync_payments = Payments(self.context)
        sync_refunds = Refunds(self.context)
        self.payments = AsyncPayments(self.context, sync_payments)
        self.refunds = AsyncRefunds(self.context, sync_refunds)
        # The parts without steps generators yet: their sync operations, run in a worker
        # thread by the flat names below (see the comment above add_payment_method).
        self._payment_methods = PaymentMethods(self.context)
        self._webhooks = Webhooks(self.context)
        self._reconciler = Reconciler(self.context, sync_payments, sync_refunds)
        self._automation = Automation(self.context, sync_payments, sync_refunds, automation)
        self._erasure = Erasure(self.context)
        # Fraud screening's review queue (fraud sits above the service: imported here).
        from paykit.fraud._async_reviews import async_reviews  # noqa: PLC0415 - fraud imports this

        self.reviews = async_reviews(self.context)

        # The flat names of PaymentService, one line each.
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

        self.approve_review = self.reviews.approve
        self.reject_review = self.reviews.reject
        self.list_reviews = self.reviews.list

    # Operations without a steps generator. Each runs the sync operation whole in a worker
    # thread: that thread does what PaymentService's caller thread does -- a unit of work is
    # committed before any provider call and a new one records the answer -- so the
    # guarantees are the sync service's, and the event loop never blocks on the database or
    # a provider. The cost is one thread for the call's duration instead of a native await.

    async def add_payment_method(  # noqa: PLR0913 - mirrors the record's fields
        self,
        customer_id: str,
        *,
        type: PaymentMethodType | str,  # noqa: A002 - the domain's own word
        token: str,
        provider: str | None = None,
        brand: str | None = None,
        last4: str | None = None,
        exp_month: int | None = None,
        exp_year: int | None = None,
        is_default: bool = False,
        metadata: Mapping[str, Any] | None = None,
        provider_customer_id: str | None = None,
    ) -> PaymentMethod:
        """Store a tokenized payment method (see :meth:`PaymentMethods.add`)."""
        return await _in_thread(
            partial(
                self._payment_methods.add,
                customer_id,
                type=type,
                token=token,
                provider=provider,
                brand=brand,
                last4=last4,
                exp_month=exp_month,
                exp_year=exp_year,
                is_default=is_default,
                metadata=metadata,
                provider_customer_id=provider_customer_id,
            )
        )

    async def get_payment_method(self, payment_method_id: str) -> PaymentMethod:
        """Return one payment method (see :meth:`PaymentMethods.get`)."""
        return await _in_thread(partial(self._payment_methods.get, payment_method_id))

    async def list_payment_methods(
        self, customer_id: str, *, include_inactive: bool = False
    ) -> list[PaymentMethod]:
        """The customer's payment methods (see :meth:`PaymentMethods.list_for_customer`)."""
        return await _in_thread(
            partial(
                self._payment_methods.list_for_customer,
                customer_id,
                include_inactive=include_inactive,
            )
        )

    async def update_payment_method(
        self,
        payment_method_id: str,
        *,
        exp_month: int | None = None,
        exp_year: int | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> PaymentMethod:
        """Change expiry or metadata (see :meth:`PaymentMethods.update`)."""
        return await _in_thread(
            partial(
                self._payment_methods.update,
                payment_method_id,
                exp_month=exp_month,
                exp_year=exp_year,
                metadata=metadata,
            )
        )

    async def set_default_payment_method(self, payment_method_id: str) -> PaymentMethod:
        """Make one method the customer's default (see :meth:`PaymentMethods.set_default`)."""
        return await _in_thread(partial(self._payment_methods.set_default, payment_method_id))

    async def deactivate_payment_method(self, payment_method_id: str) -> PaymentMethod:
        """Deactivate a method (see :meth:`PaymentMethods.deactivate`)."""
        return await _in_thread(partial(self._payment_methods.deactivate, payment_method_id))

    async def remove_payment_method(self, payment_method_id: str) -> None:
        """Remove a method (see :meth:`PaymentMethods.remove`)."""
        await _in_thread(partial(self._payment_methods.remove, payment_method_id))

    async def handle_webhook(
        self, provider: str, headers: Mapping[str, str], raw_body: bytes
    ) -> WebhookResult:
        """Verify, store and apply a provider's event (see :meth:`Webhooks.handle`)."""
        return await _in_thread(partial(self._webhooks.handle, provider, headers, raw_body))

    async def list_disputes(self, payment_id: str) -> list[Dispute]:
        """A payment's disputes (see :meth:`Webhooks.list_disputes`)."""
        return await _in_thread(partial(self._webhooks.list_disputes, payment_id))

    async def get_dispute(self, dispute_id: str) -> Dispute:
        """Return one dispute (see :meth:`Webhooks.get_dispute`)."""
        return await _in_thread(partial(self._webhooks.get_dispute, dispute_id))

    async def list_webhook_events(self, payment_id: str) -> list[InboxEntry]:
        """A payment's webhook events (see :meth:`Webhooks.list_events`)."""
        return await _in_thread(partial(self._webhooks.list_events, payment_id))

    async def list_unmatched_webhook_events(self, *, limit: int | None = None) -> list[InboxEntry]:
        """Events not yet matched to a record (see :meth:`Webhooks.list_unmatched`)."""
        return await _in_thread(partial(self._webhooks.list_unmatched, limit=limit))

    async def reconcile(  # noqa: PLR0913 - each knob is a separate, optional policy
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
        """The reconciliation sweep (see :meth:`Reconciler.sweep`), in a worker thread."""
        return await _in_thread(
            partial(
                self._reconciler.sweep,
                older_than=older_than,
                limit=limit,
                statuses=statuses,
                lease=lease,
                backoff=backoff,
                max_backoff=max_backoff,
                give_up_after=give_up_after,
                progress=progress,
            )
        )

    async def order_cancelled(self, order_id: str, reason: str = "") -> list[AutomationAction]:
        """Apply the order-cancelled policy (see :meth:`Automation.order_cancelled`)."""
        return await _in_thread(partial(self._automation.order_cancelled, order_id, reason))

    async def erase_customer(self, customer_id: str) -> ErasureReport:
        """Erase a customer's personal data (see :meth:`Erasure.erase_customer`)."""
        return await _in_thread(partial(self._erasure.erase_customer, customer_id))
