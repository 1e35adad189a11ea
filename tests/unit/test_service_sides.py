"""The ``side`` seam (tests/_service_sides.py): the async side really is AsyncPaymentService.

The fault-injection and race suites trust the async side to drive AsyncPaymentService and
nothing else; these tests hold the facade to that.
"""

from __future__ import annotations

import inspect
import threading

import pytest

from _service_sides import BlockingAsyncService, OnTheEventLoopError, service_side
from paykit import (
    GatewayResult,
    InMemoryStorage,
    PaymentService,
    PaymentStatus,
    SandboxGateway,
    SandboxToken,
)
from paykit.gateways.base import ChargeRequest
from paykit.gateways.registry import Route, RouteKey
from paykit.service import AsyncPaymentService


class LoopSandbox(SandboxGateway):
    """A sandbox whose charge must be awaited; it notes the thread that awaited it."""

    def __init__(self) -> None:
        super().__init__()
        self.charged_on: list[int] = []

    def charge(self, request: ChargeRequest) -> GatewayResult:
        """Never called: the async service awaits :meth:`charge_async`."""
        msg = "the async service must await charge_async"
        raise AssertionError(msg)

    async def charge_async(self, request: ChargeRequest) -> GatewayResult:
        """Note the thread, then charge."""
        self.charged_on.append(threading.get_ident())
        return super().charge(request)


def _flat_operations(service: object) -> set[str]:
    """The public methods set on ``service`` itself: its flat names, not its parts."""
    return {
        name
        for name, value in vars(service).items()
        if not name.startswith("_") and inspect.ismethod(value)
    }


def test_the_async_side_forwards_every_flat_operation_to_the_async_service() -> None:
    """Each of PaymentService's flat names wraps AsyncPaymentService's coroutine of that name."""
    storage = InMemoryStorage()
    gateways: dict[RouteKey, Route] = {"credit_card": SandboxGateway()}
    expected = _flat_operations(PaymentService(storage, gateways))

    with service_side("async") as side:
        facade = side.service(storage, gateways)

        assert isinstance(facade, BlockingAsyncService)
        assert isinstance(facade.wrapped, AsyncPaymentService)
        assert not any(isinstance(value, PaymentService) for value in vars(facade).values())
        forwarded = {name for name, value in vars(facade).items() if hasattr(value, "__wrapped__")}
        assert forwarded == expected
        for name in sorted(forwarded):
            operation = getattr(facade.wrapped, name)
            assert inspect.iscoroutinefunction(operation), name
            assert getattr(facade, name).__wrapped__ == operation, name


def test_the_async_service_runs_on_the_portals_loop() -> None:
    """A payment processed through the facade is charged by ``charge_async``, on the loop."""
    gateway = LoopSandbox()
    with service_side("async") as side:
        facade = side.service(InMemoryStorage(), {"credit_card": gateway})
        assert isinstance(facade, BlockingAsyncService)
        card = facade.add_payment_method("cus_1", type="credit_card", token=SandboxToken.SUCCESS)
        payment = facade.create_payment(
            customer_id="cus_1",
            order_id="ord_1",
            payment_method_id=card.id,
            amount="12.50",
            currency="USD",
        )

        processed = facade.process_payment(payment.id)

    assert processed.status is PaymentStatus.COMPLETED
    assert gateway.charged_on == [facade.loop_thread]
    assert facade.loop_thread != threading.get_ident()


def test_a_blocking_call_on_the_loops_thread_is_refused_instead_of_hanging() -> None:
    """Code the loop runs inline cannot wait for the loop: it gets a clear error at once."""
    with service_side("async") as side:
        facade = side.service(InMemoryStorage(), {"credit_card": SandboxGateway()})
        assert isinstance(facade, BlockingAsyncService)

        async def inline() -> object:
            return facade.list_payments()

        with pytest.raises(OnTheEventLoopError, match="was called on the event loop"):
            facade.portal.call(inline)
        assert facade.list_payments() == []  # from this thread, the same call is fine


def test_the_sync_side_builds_payment_service() -> None:
    """The sync side is PaymentService itself, with no event loop."""
    with service_side("sync") as side:
        service = side.service(InMemoryStorage(), {"credit_card": SandboxGateway()})
        assert type(service) is PaymentService
        assert (side.is_async, side.portal) == (False, None)
