"""How :class:`~paykit.service.AsyncPaymentService` runs the sync service's work on an event loop.

Storage is synchronous, so every unit of work -- and every sync call a part makes whole
(:meth:`AsyncDriver.awaitable`) -- runs in a worker thread (``anyio.to_thread``) and the
event loop never blocks on the database. (A storage that does no I/O says so with
``blocks_on_io = False``, as ``InMemoryStorage`` does: its units of work run on the loop, a
thread hop costing more than they do, unless a subscriber listens.) A provider operation is
the sync service's own generator of steps (``_steps``), performed by :meth:`AsyncDriver.run`:
its units of work in a worker thread, its provider calls on the gateway's ``*_async`` method,
awaited natively (a gateway without one is called in a worker thread).

Every worker-thread call of one service goes through one place, :meth:`AsyncDriver.in_thread`,
so ``worker_threads`` caps them all with one ``anyio.CapacityLimiter``: SQLite serialises
writers (one thread does best), a PostgreSQL server takes a few at once, and neither gains
from anyio's default of 40 threads shared with the rest of the host.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from functools import partial, wraps
from inspect import getdoc
from typing import Any, NoReturn, ParamSpec, TypeVar, cast

import anyio
import anyio.to_thread

from paykit.errors import ValidationError
from paykit.gateways.base import GatewayResult
from paykit.service._context import ProviderFailure, ServiceContext, call_provider
from paykit.service._steps import Consult, Read, Step, Steps, Transact

__all__ = ["AsyncDriver"]

P = ParamSpec("P")
T = TypeVar("T")


class AsyncDriver:
    """Runs an async service's work: steps on the loop, blocking calls in worker threads.

    ``worker_threads`` caps the worker threads the service's calls occupy at once (one
    ``anyio.CapacityLimiter`` for the service and all its parts); ``None`` uses anyio's
    default limiter (40 threads per event loop, shared with whatever else the host runs in
    threads). A call waiting for a thread waits on the event loop, blocking nothing.
    """

    def __init__(self, context: ServiceContext, worker_threads: int | None = None) -> None:
        # type() rather than isinstance(): True is an int, and not a number of threads.
        if worker_threads is not None and (type(worker_threads) is not int or worker_threads < 1):
            msg = f"must be a whole number of threads, at least 1 (or None), not {worker_threads!r}"
            raise ValidationError(msg, field="worker_threads")
        self.context = context
        self.worker_threads = worker_threads
        # A storage whose units of work never wait on I/O (InMemoryStorage) has them run on
        # the loop itself: a thread hop would cost more than the unit. Unknown storages block.
        self._units_block = bool(getattr(context.storage, "blocks_on_io", True))
        # Made on first use, on the event loop: early anyio 4 releases can only make a
        # limiter inside one (4.16 defers it itself), and a service may be built before.
        self._limiter: anyio.CapacityLimiter | None = None

    def _thread_limiter(self) -> anyio.CapacityLimiter | None:
        if self.worker_threads is not None and self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.worker_threads)
        return self._limiter

    async def in_thread(self, call: Callable[[], T]) -> T:
        """``call()`` in a worker thread, within the service's limit."""
        return await anyio.to_thread.run_sync(call, limiter=self._thread_limiter())

    async def _unit(self, call: Callable[[], T]) -> T:
        """A unit of work: in a worker thread, or on the loop when nothing in it can block.

        Nothing can when the storage does no I/O and no subscriber listens: subscribers are
        the host's code, called after the commit, and may block.
        """
        if self._units_block or self.context.events.has_subscribers:
            return await self.in_thread(call)
        return call()

    def awaitable(self, method: Callable[P, T]) -> Callable[P, Coroutine[Any, Any, T]]:
        """``method`` as a coroutine function that runs it whole in a worker thread.

        Same parameters (``inspect.signature`` follows ``__wrapped__``) and documentation.
        That thread does what the sync service's caller does -- a unit of work is committed
        before any provider call, a new one records the answer -- so the guarantees are the
        sync method's; the cost is one thread for the call's duration.
        """

        @wraps(method)
        async def awaited(*args: P.args, **kwargs: P.kwargs) -> T:
            return await self.in_thread(partial(method, *args, **kwargs))

        awaited.__doc__ = (
            f"Same as :meth:`{method.__qualname__}`, run in a worker thread.\n\n"
            f"{getdoc(method) or ''}"
        )
        return awaited

    async def run(self, steps: Steps[T]) -> T:
        """Perform ``steps``: units of work in worker threads, provider calls awaited."""
        answer: object = None
        try:
            while True:
                try:
                    step = steps.send(answer)
                except StopIteration as done:
                    return cast("T", done.value)
                answer = await self._perform(step)
        finally:
            steps.close()

    async def _perform(self, step: Step) -> object:
        context = self.context
        if isinstance(step, Transact):
            return await self._unit(partial(context.transact, step.work))
        if isinstance(step, Read):
            return await self._unit(partial(context.read, step.work))
        if isinstance(step, Consult):
            return await self.in_thread(step.work)
        native: Callable[[object], Awaitable[GatewayResult]] | None = getattr(
            step.gateway, f"{step.operation}_async", None
        )
        method: Callable[[object], GatewayResult] = getattr(step.gateway, step.operation)
        if native is None:
            return await self.in_thread(partial(call_provider, partial(method, step.argument)))
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
