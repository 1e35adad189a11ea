"""AsyncPaymentService: PaymentService's payments and refunds for an event loop.

The operations are not written again: each provider operation is the same generator of steps
the sync service runs (``_steps``), performed here by :func:`run_async`. Storage is
synchronous, so every unit of work runs in a worker thread (``anyio.to_thread``) and the
event loop never blocks on the database; the provider call is the gateway's ``*_async``
method, awaited natively (a gateway without one is called in a worker thread). As in the
sync service, a unit of work is committed before the provider call starts and a new one
records the answer: none spans a provider call.

Needs ``anyio`` (installed with ``paykit[stripe]`` or ``paykit[paypal]``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

import anyio.to_thread

from paykit._defaults import new_id, utc_now
from paykit.domain.payment import Payment, PaymentStatus
from paykit.domain.refund import Refund
from paykit.domain.transaction_log import TransactionLogEntry
from paykit.event_bus import EventBus
from paykit.gateways.base import GatewayResult
from paykit.gateways.registry import GatewayRegistry, Route, RouteKey
from paykit.money import AmountLike
from paykit.service._context import ProviderFailure, Screening, ServiceContext, call_provider
from paykit.service._payments import Payments
from paykit.service._refunds import Refunds
from paykit.service._steps import Consult, Read, Step, Steps, Transact
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
    """:class:`~paykit.service.PaymentService`'s payments and refunds, for async hosts.

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
        self.payments = AsyncPayments(self.context, Payments(self.context))
        self.refunds = AsyncRefunds(self.context, Refunds(self.context))
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
