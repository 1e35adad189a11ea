"""One test, both services: the ``side`` fixture's PaymentService or AsyncPaymentService.

Issue #16 asks that the fault-injection suite and the race tests run through the async service
too. Those tests are synchronous code -- loops, ``threading`` racers, storage wrappers that run
a competing action mid-commit -- so rather than write them twice, a :class:`ServiceSide` builds
the service they drive:

* ``sync``: a :class:`~paykit.PaymentService`, as before;
* ``async``: an :class:`~paykit.service.AsyncPaymentService` running on an event loop in a
  thread of its own (an anyio blocking portal), behind :class:`BlockingAsyncService`, whose
  every flat operation is ``portal.call(async_service.<operation>, ...)``. So the test's
  threads block as a host's request handlers would, while the async service does the work the
  way it does in production: units of work in the loop's worker threads, provider calls
  awaited on the loop (``*_async``) or run in a worker thread, and every caller's coroutines
  interleaved on the one loop.

The facade forwards to the async service and to nothing else: it holds no PaymentService,
and ``tests/unit/test_service_sides.py`` checks that each of its operations wraps the async
service's coroutine function of the same name and runs on the portal's loop.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from functools import partial, wraps
from typing import Any, Final, Literal, ParamSpec, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from paykit import PaymentService, Storage
from paykit.gateways.registry import GatewayRegistry, Route, RouteKey
from paykit.service import AsyncPaymentService

__all__ = [
    "SIDES",
    "AnyService",
    "BlockingAsyncService",
    "OnTheEventLoopError",
    "ServiceSide",
    "SideName",
    "service_side",
]

P = ParamSpec("P")
T = TypeVar("T")

SideName = Literal["sync", "async"]
SIDES: Final[tuple[SideName, ...]] = ("sync", "async")
"""The ``side`` fixture's parameters, in the order tests run."""

Gateways = Mapping[RouteKey, Route] | GatewayRegistry


class OnTheEventLoopError(RuntimeError):
    """A blocking call made from the event loop's own thread, which it would block forever.

    ``portal.call`` waits for the loop to run the coroutine; made on the loop's thread, it
    would wait for itself (anyio refuses it with a bare ``RuntimeError``). It happens when
    code the loop runs synchronously -- a gateway's ``*_async`` method doing its work inline --
    calls back into the service, as a sandbox delivering a webhook from inside a charge does.
    Such a caller must hand the work to another thread or defer it (see
    ``tests/integration/test_fault_injection.py``, ``AwaitedGateway``).
    """


class BlockingAsyncService:
    """An :class:`AsyncPaymentService` behind blocking calls, one portal call per operation.

    Same flat operations as :class:`~paykit.PaymentService`, same parameters and answers;
    each call runs the async service's coroutine on the portal's event loop and waits for
    it, re-raising what it raised. ``wrapped`` is the async service; ``storage`` and
    ``events`` are its own.
    """

    def __init__(self, portal: BlockingPortal, service: AsyncPaymentService) -> None:
        self.portal = portal
        self.wrapped = service
        self.storage = service.storage
        self.events = service.events
        self.loop_thread: int = portal.call(_thread_id)

        blocking = self._blocking
        self.add_payment_method = blocking(service.add_payment_method)
        self.get_payment_method = blocking(service.get_payment_method)
        self.list_payment_methods = blocking(service.list_payment_methods)
        self.update_payment_method = blocking(service.update_payment_method)
        self.set_default_payment_method = blocking(service.set_default_payment_method)
        self.deactivate_payment_method = blocking(service.deactivate_payment_method)
        self.remove_payment_method = blocking(service.remove_payment_method)

        self.create_payment = blocking(service.create_payment)
        self.process_payment = blocking(service.process_payment)
        self.capture_payment = blocking(service.capture_payment)
        self.void_payment = blocking(service.void_payment)
        self.cancel_payment = blocking(service.cancel_payment)
        self.get_payment = blocking(service.get_payment)
        self.get_payment_status = blocking(service.get_payment_status)
        self.list_payments = blocking(service.list_payments)
        self.get_transaction_log = blocking(service.get_transaction_log)
        self.reconcile_payment = blocking(service.reconcile_payment)

        self.create_refund = blocking(service.create_refund)
        self.process_refund = blocking(service.process_refund)
        self.cancel_refund = blocking(service.cancel_refund)
        self.get_refund = blocking(service.get_refund)
        self.list_refunds = blocking(service.list_refunds)
        self.reconcile_refund = blocking(service.reconcile_refund)

        self.handle_webhook = blocking(service.handle_webhook)
        self.list_disputes = blocking(service.list_disputes)
        self.get_dispute = blocking(service.get_dispute)
        self.list_webhook_events = blocking(service.list_webhook_events)
        self.list_unmatched_webhook_events = blocking(service.list_unmatched_webhook_events)

        self.reconcile = blocking(service.reconcile)
        self.order_cancelled = blocking(service.order_cancelled)
        self.erase_customer = blocking(service.erase_customer)

        self.approve_review = blocking(service.approve_review)
        self.reject_review = blocking(service.reject_review)
        self.list_reviews = blocking(service.list_reviews)

    def __repr__(self) -> str:
        return f"BlockingAsyncService({self.wrapped!r})"

    def _blocking(self, operation: Callable[P, Awaitable[T]]) -> Callable[P, T]:
        """``operation`` run on the portal's loop, waited for (``__wrapped__`` is it)."""
        portal, loop_thread = self.portal, self.loop_thread

        @wraps(operation)
        def call(*args: P.args, **kwargs: P.kwargs) -> T:
            # Checked here, with a message saying what to do, rather than left to anyio's
            # refusal (or, were it not refused, a loop waiting on itself).
            if threading.get_ident() == loop_thread:
                msg = (
                    f"{operation.__qualname__} was called on the event loop's thread: a blocking "
                    "call there would wait for the loop it blocks; defer it to another thread"
                )
                raise OnTheEventLoopError(msg)
            return portal.call(partial(operation, *args, **kwargs))

        return call


AnyService = PaymentService | BlockingAsyncService
"""What a side builds: the two share every flat operation, with the same signatures."""


class ServiceSide:
    """Builds services of one side; the ``async`` side's all run on one event loop.

    ``service(storage, gateways, **options)`` takes PaymentService's arguments.
    """

    def __init__(self, name: SideName, portal: BlockingPortal | None = None) -> None:
        if (name == "async") != (portal is not None):
            msg = "the async side needs a portal, and only it"
            raise ValueError(msg)
        self.name: SideName = name
        self.portal = portal

    def __repr__(self) -> str:
        return f"ServiceSide({self.name!r})"

    @property
    def is_async(self) -> bool:
        """Whether this side builds the async service."""
        return self.portal is not None

    def service(self, storage: Storage, gateways: Gateways, **options: Any) -> AnyService:
        """A PaymentService, or an AsyncPaymentService behind its blocking facade."""
        if self.portal is None:
            return PaymentService(storage, gateways, **options)

        async def build() -> AsyncPaymentService:
            # Built on the loop, as an async host builds it: anything the service binds to
            # the running loop (a limiter, a lock) binds to the portal's.
            return AsyncPaymentService(storage, gateways, **options)

        return BlockingAsyncService(self.portal, self.portal.call(build))


@contextmanager
def service_side(name: SideName) -> Iterator[ServiceSide]:
    """A side to build services with; the ``async`` side's event loop stops on exit."""
    with ExitStack() as stack:
        portal = stack.enter_context(start_blocking_portal("asyncio")) if name == "async" else None
        yield ServiceSide(name, portal)


async def _thread_id() -> int:
    return threading.get_ident()
