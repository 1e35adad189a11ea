"""Each provider operation written once, as steps that a sync and an async driver perform.

An operation that calls a provider (``process``, ``capture``, ``void``, ``reconcile``, ...) is
a generator: it runs the pure steps itself (validate, decide, build the request) and *yields*
what it needs done outside -- a unit of work to commit (:class:`Transact`), one to read
(:class:`Read`), a provider call (:class:`Call`), or another outside call such as a fraud
scorer (:class:`Consult`) -- and receives the answer. The claim and
the recording of the outcome are work functions handed to :class:`Transact`, so a unit of
work is over before a :class:`Call` is yielded: none can span a provider call.

:func:`run_sync` performs the steps in the calling thread (``PaymentService``);
``paykit.service._async_driver.AsyncDriver.run`` runs the units of work off the event loop and
awaits the gateway's ``*_async`` method (``AsyncPaymentService``). The business rules exist
once, here and in ``_rules/``; the drivers only perform.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from functools import partial
from typing import Any, Final, TypeAlias, TypeVar, cast

import attrs

from paykit.gateways.base import Gateway, GatewayResult
from paykit.service._context import ProviderFailure, ServiceContext, call_provider
from paykit.service._rules.transaction import Transaction

__all__ = [
    "GATEWAY_OPERATIONS",
    "Call",
    "Consult",
    "Read",
    "Step",
    "Steps",
    "Transact",
    "call",
    "consult",
    "read",
    "run_sync",
    "transact",
]

T = TypeVar("T")

GATEWAY_OPERATIONS: Final = frozenset(
    {"charge", "capture", "void", "refund", "retrieve_payment", "retrieve_refund"}
)
"""The :class:`~paykit.gateways.base.Gateway` methods a :class:`Call` may name; an async
driver awaits ``<name>_async`` when the gateway has it."""


@attrs.frozen
class Transact:
    """Run ``work`` in a unit of work and commit it (``ServiceContext.transact``)."""

    work: Callable[[Transaction], Any]


@attrs.frozen
class Read:
    """Run read-only ``work`` in a unit of work that is rolled back (``ServiceContext.read``)."""

    work: Callable[[Transaction], Any]


@attrs.frozen
class Call:
    """Call ``gateway.<operation>(argument)``; the answer is a result or a ProviderFailure."""

    gateway: Gateway
    operation: str = attrs.field(validator=attrs.validators.in_(GATEWAY_OPERATIONS))
    argument: object


@attrs.frozen
class Consult:
    """Run ``work`` outside any unit of work (a fraud scorer); its exceptions propagate.

    The sync driver calls it in place; the async driver in a worker thread.
    """

    work: Callable[[], Any]


Step: TypeAlias = Transact | Read | Call | Consult
Steps: TypeAlias = Generator[Step, Any, T]
"""An operation: yields steps, receives their answers, returns ``T``."""


def transact(work: Callable[[Transaction], T]) -> Steps[T]:
    """Commit ``work`` in a unit of work; ``yield from`` this gets what it returned."""
    return cast("T", (yield Transact(work)))


def read(work: Callable[[Transaction], T]) -> Steps[T]:
    """Run read-only ``work``; ``yield from`` this gets what it returned."""
    return cast("T", (yield Read(work)))


def call(
    gateway: Gateway, operation: str, argument: object
) -> Steps[GatewayResult | ProviderFailure]:
    """Ask the provider; ``yield from`` this gets its result or a ProviderFailure."""
    return cast("GatewayResult | ProviderFailure", (yield Call(gateway, operation, argument)))


def consult(work: Callable[[], T]) -> Steps[T]:
    """Run ``work`` outside any unit of work; ``yield from`` this gets what it returned."""
    return cast("T", (yield Consult(work)))


def run_sync(context: ServiceContext, steps: Steps[T]) -> T:
    """Perform ``steps`` in this thread and return what the operation returns."""
    answer: object = None
    try:
        while True:
            try:
                step = steps.send(answer)
            except StopIteration as done:
                return cast("T", done.value)
            answer = _perform(context, step)
    finally:
        steps.close()


def _perform(context: ServiceContext, step: Step) -> object:
    if isinstance(step, Transact):
        return context.transact(step.work)
    if isinstance(step, Read):
        return context.read(step.work)
    if isinstance(step, Consult):
        return step.work()
    method: Callable[[object], GatewayResult] = getattr(step.gateway, step.operation)
    return call_provider(partial(method, step.argument))
