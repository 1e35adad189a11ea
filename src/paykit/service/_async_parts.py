"""The parts of :class:`~paykit.service.AsyncPaymentService`: PaymentService's parts, awaited.

Each async part has the sync part's public methods, with the same names and parameters
(``tests/unit/test_async_service_parts.py`` compares them). A provider operation with a
steps generator (``Payments.process_steps``, ...) is written out here and performed by
:meth:`AsyncDriver.run`; every other method is the sync method run whole in a worker thread,
bound in ``__init__`` with :meth:`AsyncDriver.awaitable`, one line each, so its signature is
the sync one's by construction. Three members touch no storage and stay synchronous:
``analytics.query`` (builds a query), ``automation.settings`` and ``automation.configure``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from paykit.analytics import Analytics
from paykit.automation._automation import Automation
from paykit.automation._settings import AutomationSettings
from paykit.domain.payment import Payment, PaymentStatus
from paykit.domain.refund import Refund
from paykit.money import AmountLike
from paykit.service._async_driver import AsyncDriver
from paykit.service._erasure import Erasure
from paykit.service._payment_methods import PaymentMethods
from paykit.service._payments import Payments
from paykit.service._reconciliation import Reconciler
from paykit.service._refunds import Refunds
from paykit.service._webhooks import Webhooks

if TYPE_CHECKING:
    from paykit.fraud import RiskContext

__all__ = [
    "AsyncAnalytics",
    "AsyncAutomation",
    "AsyncErasure",
    "AsyncPaymentMethods",
    "AsyncPayments",
    "AsyncReconciler",
    "AsyncRefunds",
    "AsyncWebhooks",
]


class AsyncPayments:
    """``PaymentService.payments``, awaited (``service.payments``); same documentation."""

    def __init__(self, driver: AsyncDriver, payments: Payments) -> None:
        self._driver = driver
        self._payments = payments
        self.find = driver.awaitable(payments.find)
        self.transaction_log = driver.awaitable(payments.transaction_log)

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
        """Same as :meth:`Payments.create`: record a ``pending`` payment (one unit of work)."""
        steps = self._payments.create_steps(
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
        return await self._driver.run(steps)

    async def process(
        self,
        payment_id: str,
        *,
        return_url: str | None = None,
        off_session: bool = False,
        risk: RiskContext | None = None,
    ) -> Payment:
        """Same as :meth:`Payments.process`: submit a ``pending`` payment to its gateway."""
        steps = self._payments.process_steps(
            payment_id, return_url=return_url, off_session=off_session, risk=risk
        )
        return await self._driver.run(steps)

    async def capture(self, payment_id: str, amount: AmountLike | None = None) -> Payment:
        """Same as :meth:`Payments.capture`: capture an ``authorized`` payment."""
        return await self._driver.run(self._payments.capture_steps(payment_id, amount))

    async def void(self, payment_id: str) -> Payment:
        """Same as :meth:`Payments.void`: release the hold of an ``authorized`` payment."""
        return await self._driver.run(self._payments.void_steps(payment_id))

    async def cancel(self, payment_id: str) -> Payment:
        """Same as :meth:`Payments.cancel`: cancel a payment that has not taken money."""
        return await self._driver.run(self._payments.cancel_steps(payment_id))

    async def get(self, payment_id: str) -> Payment:
        """Same as :meth:`Payments.get`: one payment (``NotFound`` if there is none)."""
        return await self._driver.run(self._payments.get_steps(payment_id))

    async def get_status(self, payment_id: str) -> PaymentStatus:
        """Same as :meth:`Payments.get_status`: the status of one payment."""
        return (await self.get(payment_id)).status

    async def reconcile(self, payment_id: str) -> Payment:
        """Same as :meth:`Payments.reconcile`: ask the provider about a payment in doubt."""
        return await self._driver.run(self._payments.reconcile_steps(payment_id))


class AsyncRefunds:
    """``PaymentService.refunds``, awaited (``service.refunds``); same documentation."""

    def __init__(self, driver: AsyncDriver, refunds: Refunds) -> None:
        self._driver = driver
        self._refunds = refunds
        self.create = driver.awaitable(refunds.create)
        self.cancel = driver.awaitable(refunds.cancel)
        self.list_for_payment = driver.awaitable(refunds.list_for_payment)

    async def process(self, refund_id: str) -> Refund:
        """Same as :meth:`Refunds.process`: send a ``pending`` refund to the gateway."""
        return await self._driver.run(self._refunds.process_steps(refund_id))

    async def get(self, refund_id: str) -> Refund:
        """Same as :meth:`Refunds.get`: one refund (``NotFound`` if there is none)."""
        return await self._driver.run(self._refunds.get_steps(refund_id))

    async def reconcile(self, refund_id: str) -> Refund:
        """Same as :meth:`Refunds.reconcile`: ask the provider about a ``processing`` refund."""
        return await self._driver.run(self._refunds.reconcile_steps(refund_id))


class AsyncPaymentMethods:
    """``PaymentService.payment_methods``, awaited; each method runs in a worker thread."""

    def __init__(self, driver: AsyncDriver, payment_methods: PaymentMethods) -> None:
        self.add = driver.awaitable(payment_methods.add)
        self.get = driver.awaitable(payment_methods.get)
        self.list_for_customer = driver.awaitable(payment_methods.list_for_customer)
        self.update = driver.awaitable(payment_methods.update)
        self.set_default = driver.awaitable(payment_methods.set_default)
        self.deactivate = driver.awaitable(payment_methods.deactivate)
        self.remove = driver.awaitable(payment_methods.remove)


class AsyncWebhooks:
    """``PaymentService.webhooks``, awaited; each method runs in a worker thread.

    A provider lookup that completes an event happens in that thread, between units of
    work, as in the sync service.
    """

    def __init__(self, driver: AsyncDriver, webhooks: Webhooks) -> None:
        self.handle = driver.awaitable(webhooks.handle)
        self.store = driver.awaitable(webhooks.store)
        self.apply_stored = driver.awaitable(webhooks.apply_stored)
        self.list_disputes = driver.awaitable(webhooks.list_disputes)
        self.get_dispute = driver.awaitable(webhooks.get_dispute)
        self.list_events = driver.awaitable(webhooks.list_events)
        self.list_unmatched = driver.awaitable(webhooks.list_unmatched)


class AsyncReconciler:
    """``PaymentService.reconciler``, awaited: a sweep runs whole in one worker thread.

    ``progress`` is called in that thread, after each record, as the sync sweep calls it.
    """

    def __init__(self, driver: AsyncDriver, reconciler: Reconciler) -> None:
        self.sweep = driver.awaitable(reconciler.sweep)
        self.run = driver.awaitable(reconciler.run)


class AsyncAnalytics:
    """``PaymentService.analytics``, awaited: each figure is read in a worker thread."""

    def __init__(self, driver: AsyncDriver, analytics: Analytics) -> None:
        self.query = Analytics.query  # builds a query, reads nothing: not awaited
        self.payments = driver.awaitable(analytics.payments)
        self.declines = driver.awaitable(analytics.declines)
        self.refunds_by_reason = driver.awaitable(analytics.refunds_by_reason)
        self.overview = driver.awaitable(analytics.overview)


class AsyncAutomation:
    """``PaymentService.automation``, awaited: each policy runs in a worker thread.

    ``settings`` and ``configure`` touch no storage and stay synchronous. The policies
    subscribed to events run where the events are delivered: in the worker thread that
    committed them.
    """

    def __init__(self, driver: AsyncDriver, automation: Automation) -> None:
        self._automation = automation
        self.configure = automation.configure
        self.order_cancelled = driver.awaitable(automation.order_cancelled)
        self.run = driver.awaitable(automation.run)
        self.sweep = driver.awaitable(automation.sweep)
        self.proposals = driver.awaitable(automation.proposals)
        self.actions = driver.awaitable(automation.actions)
        self.get_action = driver.awaitable(automation.get_action)
        self.approve = driver.awaitable(automation.approve)
        self.dismiss = driver.awaitable(automation.dismiss)

    @property
    def settings(self) -> AutomationSettings:
        """Same as :attr:`Automation.settings`: the policies' current settings."""
        return self._automation.settings


class AsyncErasure:
    """``PaymentService.erasure``, awaited: the erasure runs in a worker thread."""

    def __init__(self, driver: AsyncDriver, erasure: Erasure) -> None:
        self.erase_customer = driver.awaitable(erasure.erase_customer)
