"""AsyncPaymentService: the sync service's operations, awaited, with the same results.

Every provider operation is one sequence of steps (``paykit.service._steps``) that both
services perform; these tests check that the async driver gives the same answers as the sync
one for the same inputs, that it awaits a gateway's ``*_async`` method (and calls a gateway
without one in a worker thread), that no unit of work is open during a provider call, that
the refund ceiling holds under concurrent tasks, and that ``worker_threads`` caps every
worker-thread call the service makes.
"""

from __future__ import annotations

import inspect
import itertools
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any, ClassVar, Final

import anyio
import anyio.lowlevel
import pytest

from paykit import (
    ALL_EVENTS,
    GatewayOutcome,
    GatewayResult,
    InMemoryStorage,
    InvalidRefundAmountError,
    InvalidStateTransition,
    LogType,
    Money,
    Payment,
    PaymentMethod,
    PaymentProcessingError,
    PaymentService,
    PaymentStatus,
    Refund,
    RefundStatus,
    SandboxGateway,
    SandboxToken,
)
from paykit.errors import GatewayConfigurationError, ValidationError
from paykit.gateways.base import ChargeRequest, Gateway, RefundRequest
from paykit.gateways.registry import Route, RouteKey
from paykit.gateways.stripe import StripeGateway
from paykit.service import AsyncPaymentService
from paykit.storage.memory import InMemoryUnitOfWork
from paykit.testing.fake_stripe import FakeStripe, FakeToken

pytestmark = pytest.mark.anyio

_P = PaymentStatus
_R = RefundStatus

NOW: Final = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
STRIPE_KEY: Final = "sk_test_51PaykitFAKEkey0123456789abcdefXYZ"


@pytest.fixture
def anyio_backend() -> str:
    """Only asyncio: the service does not depend on the backend, and trio is not installed."""
    return "asyncio"


def _ids() -> Callable[[str], str]:
    counter = itertools.count(1)
    return lambda prefix: f"{prefix}_{next(counter):04d}"


class World:
    """A sync service (for saving cards, and as the reference) and the service under test."""

    def __init__(
        self, gateway: Gateway, *, use_async: bool, storage: InMemoryStorage | None = None
    ) -> None:
        self.storage = storage if storage is not None else InMemoryStorage()
        self.gateway = gateway
        routes: dict[RouteKey, Route] = {"credit_card": gateway}
        options: dict[str, Any] = {"clock": lambda: NOW, "id_factory": _ids()}
        self.setup = PaymentService(self.storage, routes, **options)
        self.service: PaymentService | AsyncPaymentService = (
            AsyncPaymentService(self.storage, routes, **options)
            if use_async
            else PaymentService(self.storage, routes, **options)
        )

    @property
    def sandbox(self) -> SandboxGateway:
        """The gateway, when it is the sandbox."""
        assert isinstance(self.gateway, SandboxGateway)
        return self.gateway

    def card(self, token: str = SandboxToken.SUCCESS) -> PaymentMethod:
        """Save a card with ``token`` for ``cus_1`` through the sync service."""
        return self.setup.add_payment_method("cus_1", type="credit_card", token=token)

    async def do(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``service.<name>``, awaiting it when the service is async."""
        answer = getattr(self.service, name)(*args, **kwargs)
        return await answer if inspect.isawaitable(answer) else answer

    async def pay(
        self, token: str = SandboxToken.SUCCESS, amount: str = "100.00", *, capture: bool = True
    ) -> Payment:
        """Create and process a payment of ``amount``."""
        payment = await self.do(
            "create_payment",
            customer_id="cus_1",
            order_id="ord_1",
            payment_method_id=self.card(token).id,
            amount=amount,
            currency="USD",
            capture=capture,
        )
        processed: Payment = await self.do("process_payment", payment.id)
        return processed


def _seen(answer: object) -> tuple[object, ...]:
    """What a scenario observes of an answer: everything but the provider's own ids."""
    if isinstance(answer, Payment):
        return (
            answer.id,
            answer.status,
            answer.amount,
            answer.captured_amount,
            answer.refunded_amount,
            answer.refund_reserved_amount,
            answer.failure_code,
            answer.attempt_count,
            answer.next_action is not None,
        )
    if isinstance(answer, Refund):
        return (answer.id, answer.status, answer.amount, answer.failure_code)
    if isinstance(answer, BaseException):
        return (type(answer).__name__,)
    return (answer,)


Scenario = Callable[[World], Awaitable[list[object]]]


async def _attempt(call: Awaitable[object]) -> object:
    try:
        return await call
    except (PaymentProcessingError, InvalidStateTransition, InvalidRefundAmountError) as error:
        return error


async def _purchase(world: World) -> list[object]:
    return [await world.pay()]


async def _three_d_secure(world: World) -> list[object]:
    payment = await world.pay(SandboxToken.THREE_D_SECURE)
    return [payment, await world.do("cancel_payment", payment.id)]


async def _authorize_capture(world: World) -> list[object]:
    payment = await world.pay(capture=False)
    return [payment, await world.do("capture_payment", payment.id, "60.00")]


async def _authorize_void(world: World) -> list[object]:
    payment = await world.pay(capture=False)
    voided = await world.do("void_payment", payment.id)
    again = await _attempt(world.do("void_payment", payment.id))
    return [payment, voided, again]


async def _decline(world: World) -> list[object]:
    payment = await world.pay(SandboxToken.DECLINE)
    return [payment, await _attempt(world.do("process_payment", payment.id))]


async def _timeout_then_reconcile(world: World) -> list[object]:
    payment = await world.do(
        "create_payment",
        customer_id="cus_1",
        order_id="ord_1",
        payment_method_id=world.card(SandboxToken.TIMEOUT).id,
        amount="10.00",
        currency="USD",
    )
    failed = await _attempt(world.do("process_payment", payment.id))
    return [failed, await world.do("reconcile_payment", payment.id)]


async def _refunds(world: World) -> list[object]:
    payment = await world.pay()
    first = await world.do("create_refund", payment.id, "30.00", reason="damaged")
    seen: list[object] = [first, await world.do("process_refund", first.id)]
    rest = await world.do("create_refund", payment.id)
    seen += [rest, await world.do("process_refund", rest.id)]
    seen.append(await _attempt(world.do("create_refund", payment.id)))
    seen.append(await world.do("get_payment", payment.id))
    seen.append(await world.do("reconcile_refund", rest.id))
    return seen


async def _refund_cancelled(world: World) -> list[object]:
    payment = await world.pay()
    refund = await world.do("create_refund", payment.id, "40.00")
    return [await world.do("cancel_refund", refund.id), await world.do("get_payment", payment.id)]


async def _refund_fails(world: World) -> list[object]:
    payment = await world.pay(SandboxToken.REFUND_FAIL)
    refund = await world.do("create_refund", payment.id, "10.00")
    return [await world.do("process_refund", refund.id), await world.do("get_payment", payment.id)]


SCENARIOS: Final[dict[str, Scenario]] = {
    "purchase": _purchase,
    "three_d_secure": _three_d_secure,
    "authorize_capture": _authorize_capture,
    "authorize_void": _authorize_void,
    "decline": _decline,
    "timeout_then_reconcile": _timeout_then_reconcile,
    "refunds_partial_then_full": _refunds,
    "refund_cancelled": _refund_cancelled,
    "refund_fails": _refund_fails,
}


@pytest.mark.parametrize("name", SCENARIOS)
async def test_async_results_are_the_sync_results(name: str) -> None:
    """Same inputs, same answers, same audit log, whichever service runs them."""
    runs = []
    for use_async in (False, True):
        world = World(SandboxGateway(), use_async=use_async)
        answers = [_seen(answer) for answer in await SCENARIOS[name](world)]
        payments = world.setup.list_payments()
        logs = [
            [
                (e.id, e.log_type, e.previous_status, e.new_status, e.amount, e.refund_id)
                for e in world.setup.get_transaction_log(p.id)
            ]
            for p in payments
        ]
        runs.append((answers, logs, world.sandbox.calls))
    assert runs[0] == runs[1]


async def test_the_main_flows_end_where_they_should() -> None:
    """A spot check of the answers the comparison above holds equal."""
    world = World(SandboxGateway(), use_async=True)
    service = world.service
    assert isinstance(service, AsyncPaymentService)

    paid = await world.pay()
    assert paid.status is _P.COMPLETED
    challenged = await world.pay(SandboxToken.THREE_D_SECURE)
    assert challenged.status is _P.REQUIRES_ACTION
    assert challenged.next_action is not None
    held = await world.pay(capture=False)
    assert held.status is _P.AUTHORIZED
    captured = await service.payments.capture(held.id, "60.00")
    assert (captured.status, captured.captured_amount) == (_P.COMPLETED, Money.of("60.00", "USD"))
    declined = await world.pay(SandboxToken.DECLINE)
    assert (declined.status, declined.failure_code) == (_P.FAILED, "generic_decline")

    refund = await service.refunds.create(paid.id, "30.00")
    assert (await service.refunds.process(refund.id)).status is _R.COMPLETED
    full = await service.refunds.process((await service.refunds.create(paid.id)).id)
    assert full.amount == Money.of("70.00", "USD")
    assert (await service.get_payment(paid.id)).status is _P.REFUNDED
    assert [r.id for r in await service.list_refunds(paid.id)] == [refund.id, full.id]
    assert await service.get_payment_status(paid.id) is _P.REFUNDED
    assert len(await service.list_payments(customer_id="cus_1")) == 4
    assert await service.get_transaction_log(paid.id)
    assert world.sandbox.refunded_total(paid.id) == Money.of("100.00", "USD")


async def test_the_flat_names_are_the_parts_methods() -> None:
    """``create_payment`` and friends are the bound methods of the parts, one line each."""
    service = AsyncPaymentService(InMemoryStorage(), {"credit_card": SandboxGateway()})
    assert service.process_payment == service.payments.process
    assert service.reconcile_refund == service.refunds.reconcile


async def test_concurrent_refunds_never_exceed_the_payment() -> None:
    """16 tasks refund 30.00 of 100.00 at once: exactly 3 are accepted, and 90.00 moves."""
    world = World(SandboxGateway(latency=0.005), use_async=True)
    service = world.service
    assert isinstance(service, AsyncPaymentService)
    payment = await world.pay()
    accepted: list[Refund] = []
    refused: list[InvalidRefundAmountError] = []

    async def refund() -> None:
        try:
            created = await service.create_refund(payment.id, "30.00")
        except InvalidRefundAmountError as error:
            refused.append(error)
            return
        accepted.append(await service.process_refund(created.id))

    async with anyio.create_task_group() as tasks:
        for _ in range(16):
            tasks.start_soon(refund)

    assert (len(accepted), len(refused)) == (3, 13)
    assert all(r.status is _R.COMPLETED for r in accepted)
    assert world.sandbox.refunded_total(payment.id) == Money.of("90.00", "USD")
    final = await service.get_payment(payment.id)
    assert (final.refunded_amount, final.status) == (
        Money.of("90.00", "USD"),
        _P.PARTIALLY_REFUNDED,
    )


class AsyncSandbox(SandboxGateway):
    """The sandbox with an async face that records what was awaited, and checks the claim.

    While a charge or refund is "at the provider", the claim must already be committed and
    no unit of work open: the check reads the record in a unit of work of its own.
    """

    def __init__(self, storage: InMemoryStorage, *, fail_with: Exception | None = None) -> None:
        super().__init__()
        self.storage = storage
        self.awaited: list[str] = []
        self.fail_with = fail_with

    def charge(self, request: ChargeRequest) -> GatewayResult:
        """Never called: the async service awaits :meth:`charge_async`."""
        msg = "the async service must await charge_async"
        raise AssertionError(msg)

    async def charge_async(self, request: ChargeRequest) -> GatewayResult:
        """Check the claim is committed, then charge (or raise ``fail_with``)."""
        self.awaited.append("charge")
        with self.storage.unit_of_work() as uow:
            assert uow.payments.get(request.payment_id).status is _P.PROCESSING
        if self.fail_with is not None:
            raise self.fail_with
        await anyio.lowlevel.checkpoint()
        return super().charge(request)

    async def refund_async(self, request: RefundRequest) -> GatewayResult:
        """Check the claim is committed, then refund."""
        self.awaited.append("refund")
        with self.storage.unit_of_work() as uow:
            assert uow.refunds.get(request.refund_id).status is _R.PROCESSING
        return super().refund(request)


def _async_world(fail_with: Exception | None = None) -> tuple[World, AsyncSandbox]:
    storage = InMemoryStorage()
    gateway = AsyncSandbox(storage, fail_with=fail_with)
    return World(gateway, use_async=True, storage=storage), gateway


async def test_the_async_method_is_awaited_after_the_claim_is_committed() -> None:
    """``charge_async`` and ``refund_async`` are awaited; the sync ones are not called."""
    world, gateway = _async_world()
    payment = await world.pay()
    refund = await world.do("create_refund", payment.id, "10.00")
    await world.do("process_refund", refund.id)
    assert payment.status is _P.COMPLETED
    assert gateway.awaited == ["charge", "refund"]
    assert gateway.calls == ["charge", "refund"]  # the sync bodies super() delegates to


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (GatewayConfigurationError("bad key"), _P.FAILED),  # refused: nothing moved
        (RuntimeError("connection reset"), _P.PROCESSING),  # unknown: left for reconcile
    ],
)
async def test_an_async_call_that_raises_is_classified_like_a_sync_one(
    error: Exception, status: PaymentStatus
) -> None:
    """A refusal fails the payment; an unknown outcome leaves it ``processing``."""
    world, _ = _async_world(fail_with=error)
    with pytest.raises(PaymentProcessingError):
        await world.pay()
    [payment] = world.setup.list_payments()
    assert payment.status is status


async def test_errors_before_the_claim_leave_the_payment_alone() -> None:
    """Validation and state errors raise as in the sync service, with nothing sent."""
    world = World(SandboxGateway(), use_async=True)
    paid = await world.pay()
    with pytest.raises(InvalidStateTransition):
        await world.do("process_payment", paid.id)
    with pytest.raises(InvalidStateTransition):
        await world.do("capture_payment", paid.id)
    assert world.sandbox.calls == ["charge"]


@pytest.fixture
def stripe_world() -> Iterator[tuple[World, FakeStripe]]:
    """A world over a Stripe adapter whose sync provider methods must not be called."""
    fake = FakeStripe(api_key=STRIPE_KEY)
    gateway = StripeGateway(STRIPE_KEY, transport=fake.transport, max_network_retries=0)

    def forbidden(*_: object, **__: object) -> GatewayResult:
        msg = "the async service must use the adapter's async methods"
        raise AssertionError(msg)

    world = World(gateway, use_async=True)
    card = partial(world.setup.add_payment_method, "cus_1", type="credit_card")
    world.card = lambda token=FakeToken.SUCCESS: card(token=token)  # type: ignore[method-assign]
    for name in ("charge", "capture", "void", "refund", "retrieve_payment", "retrieve_refund"):
        setattr(gateway, name, forbidden)
    yield world, fake
    gateway.close()
    anyio.run(gateway.aclose)


async def test_the_stripe_adapter_is_awaited_through_fake_stripe(
    stripe_world: tuple[World, FakeStripe],
) -> None:
    """Purchase, authorize/capture, void, refund and reconcile over HTTP, asynchronously."""
    world, fake = stripe_world
    paid = await world.pay(FakeToken.SUCCESS)
    held = await world.pay(FakeToken.SUCCESS, capture=False)
    other = await world.pay(FakeToken.SUCCESS, capture=False)
    captured = await world.do("capture_payment", held.id, "20.00")
    voided = await world.do("void_payment", other.id)
    refund = await world.do("create_refund", paid.id, "25.00")
    refunded = await world.do("process_refund", refund.id)
    declined = await world.pay(FakeToken.DECLINE)
    challenged = await world.pay(FakeToken.AUTHENTICATION_REQUIRED)
    reconciled = await world.do("reconcile_payment", challenged.id)

    assert [paid.status, captured.status, voided.status, refunded.status] == [
        _P.COMPLETED,
        _P.COMPLETED,
        _P.CANCELLED,
        _R.COMPLETED,
    ]
    assert (declined.status, declined.failure_code) == (_P.FAILED, "generic_decline")
    assert challenged.status is _P.REQUIRES_ACTION
    assert reconciled.status is _P.REQUIRES_ACTION
    assert fake.charged_units(paid.id) == 10000
    assert fake.charged_units(held.id) == 2000
    assert fake.refunded_units(paid.id) == 2500
    keys = {r.idempotency_key for r in fake.requests if r.idempotency_key}
    assert f"paykit:{paid.id}:charge" in keys
    assert f"paykit:{refund.id}:refund" in keys


class Unavailable(SandboxGateway):
    """A gateway that cannot process any charge: a technical decline, nothing taken."""

    async def charge_async(self, request: ChargeRequest) -> GatewayResult:
        """Decline for a technical reason, so the next gateway of the route may be tried."""
        self.calls.append("charge")
        return GatewayResult(outcome=GatewayOutcome.DECLINED, decline_code="processing_error")


async def test_failover_along_the_route_is_the_sync_services() -> None:
    """A technical decline moves the payment to the next gateway, logged as in the sync run."""
    storage = InMemoryStorage()
    primary, backup = Unavailable(name="primary"), SandboxGateway(name="backup")
    routes: dict[RouteKey, Route] = {"credit_card": [primary, backup]}
    setup = PaymentService(storage, routes)
    service = AsyncPaymentService(storage, routes)
    card = setup.add_payment_method("cus_1", type="credit_card", token=SandboxToken.SUCCESS)
    payment = await service.create_payment(
        customer_id="cus_1", order_id="o", payment_method_id=card.id, amount="5", currency="USD"
    )

    done = await service.process_payment(payment.id)

    assert (done.status, done.provider) == (_P.COMPLETED, "backup")
    assert primary.calls == ["charge"]
    assert backup.charged_total(payment.id) == done.amount
    routed = [
        e for e in setup.get_transaction_log(payment.id) if e.log_type is LogType.PAYMENT_ROUTED
    ]
    assert len(routed) == 2  # why it moved, and where to


async def test_concurrent_processing_of_one_payment_charges_once() -> None:
    """Eight tasks process one payment: one claim wins, the others are refused, one charge."""
    world = World(SandboxGateway(latency=0.005), use_async=True)
    payment = await world.do(
        "create_payment",
        customer_id="cus_1",
        order_id="ord_1",
        payment_method_id=world.card().id,
        amount="10.00",
        currency="USD",
    )
    answers: list[object] = []

    async def process() -> None:
        answers.append(await _attempt(world.do("process_payment", payment.id)))

    async with anyio.create_task_group() as tasks:
        for _ in range(8):
            tasks.start_soon(process)

    assert sum(isinstance(a, Payment) for a in answers) == 1
    assert sum(isinstance(a, InvalidStateTransition) for a in answers) == 7
    assert world.sandbox.calls == ["charge"]


# -- worker_threads: one limiter for every worker-thread call ----------------------------------

PATIENCE: Final = 10.0
"""Seconds a gated unit of work waits before the test gives up: a guard, never reached."""


class GatedStorage(InMemoryStorage):
    """The in-memory store, but while ``armed`` each unit of work waits at a gate as it opens.

    It counts the units held at the gate at once (``most``) and signals each arrival, so a
    test can see how many worker threads reach the storage together without timing them.
    Waiting at the gate is blocking, so it says so: the async service then runs its units of
    work in worker threads, as it does a SQL storage's.
    """

    blocks_on_io: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        self.arrived = threading.Semaphore(0)
        self.opened = threading.Event()
        self.most = 0
        self._held = 0
        self._count = threading.Lock()

    def unit_of_work(self) -> InMemoryUnitOfWork:
        """Wait at the gate when armed (in the caller's worker thread), then begin."""
        if self.armed:
            with self._count:
                self._held += 1
                self.most = max(self.most, self._held)
            self.arrived.release()
            try:
                assert self.opened.wait(PATIENCE), "the gate was never opened"
            finally:
                with self._count:
                    self._held -= 1
        return super().unit_of_work()


async def _arrivals(storage: GatedStorage, count: int) -> None:
    """Wait (in a thread outside the service's limit) until ``count`` units reached the gate."""

    def wait() -> None:
        for _ in range(count):
            assert storage.arrived.acquire(timeout=PATIENCE), "a unit of work never arrived"

    await anyio.to_thread.run_sync(wait)


async def _three_reads_at_once(worker_threads: int | None) -> GatedStorage:
    """A steps operation, a whole-in-a-thread one and a fraud part's, started together.

    Returns the storage once all three answered, for its ``most``.
    """
    storage = GatedStorage()
    service = AsyncPaymentService(
        storage, {"credit_card": SandboxGateway()}, worker_threads=worker_threads
    )
    payment_id = (await World(SandboxGateway(), use_async=True, storage=storage).pay()).id
    storage.armed = True
    answers: list[object] = []

    async def ask(call: Callable[[], Awaitable[object]]) -> None:
        answers.append(await call())

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(ask, partial(service.get_payment, payment_id))
        tasks.start_soon(ask, partial(service.list_payments, customer_id="cus_1"))
        tasks.start_soon(ask, service.risk_lists.entries)
        try:
            if worker_threads is None:
                await _arrivals(storage, 3)  # all three in the storage together
            else:
                await _arrivals(storage, 1)
                # The other two wait for the thread (or, were the limit ignored, are on their
                # way in): give them every chance to arrive, then let the first one through.
                await anyio.wait_all_tasks_blocked()
                late = partial(storage.arrived.acquire, blocking=True, timeout=0.2)
                assert not await anyio.to_thread.run_sync(late)
        finally:
            storage.opened.set()  # a failing test fails now, not after PATIENCE
    assert len(answers) == 3
    return storage


async def test_one_worker_thread_runs_the_services_storage_work_one_call_at_a_time() -> None:
    """``worker_threads=1``: three concurrent operations never reach the storage together."""
    assert (await _three_reads_at_once(1)).most == 1


async def test_without_a_limit_the_same_calls_reach_the_storage_together() -> None:
    """With anyio's default limiter (40 threads) the same three operations overlap."""
    assert (await _three_reads_at_once(None)).most == 3


async def test_one_worker_thread_still_processes_concurrent_payments() -> None:
    """No deadlock and no lost work: 12 payments through one thread, sync-only gateway."""
    sandbox = SandboxGateway()
    world = World(sandbox, use_async=True)
    service = AsyncPaymentService(world.storage, {"credit_card": sandbox}, worker_threads=1)
    card = world.card()
    done: list[PaymentStatus] = []

    async def pay(index: int) -> None:
        payment = await service.create_payment(
            customer_id="cus_1",
            order_id=f"ord_{index}",
            payment_method_id=card.id,
            amount="10.00",
            currency="USD",
        )
        done.append((await service.process_payment(payment.id)).status)

    async with anyio.create_task_group() as tasks:
        for index in range(12):
            tasks.start_soon(pay, index)
    assert done == [_P.COMPLETED] * 12
    assert sandbox.calls == ["charge"] * 12
    assert service.worker_threads == 1


@pytest.mark.parametrize("value", [0, -1, True, 2.5, "4"])
def test_a_thread_limit_that_is_not_a_positive_whole_number_is_refused(value: Any) -> None:
    """A clear ``ValidationError`` naming ``worker_threads``, at construction."""
    with pytest.raises(ValidationError) as refused:
        AsyncPaymentService(InMemoryStorage(), {}, worker_threads=value)
    assert refused.value.field == "worker_threads"
    assert refused.value.code == "validation_error"
    assert repr(value) in refused.value.detail


# -- a storage without I/O: its units of work run on the event loop ----------------------------


class ThreadNoting(InMemoryStorage):
    """The in-memory store, noting the thread each unit of work begins in."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def unit_of_work(self) -> InMemoryUnitOfWork:
        """Note this thread, then begin."""
        self.threads.add(threading.get_ident())
        return super().unit_of_work()


class BlockingThreadNoting(ThreadNoting):
    """The same, saying its units of work may block (as a SQL storage's do)."""

    blocks_on_io: ClassVar[bool] = True


async def _create_and_process(service: AsyncPaymentService) -> None:
    method = await service.add_payment_method("cus_1", type="credit_card", token="tok_visa")
    payment = await service.create_payment(
        customer_id="cus_1",
        order_id="ord_1",
        payment_method_id=method.id,
        amount="10.00",
        currency="USD",
    )
    assert (await service.process_payment(payment.id)).status is PaymentStatus.COMPLETED


async def test_units_of_work_without_io_run_on_the_loop_and_others_in_threads() -> None:
    """A thread hop costs more than an in-memory unit: only blocking work leaves the loop.

    ``add_payment_method`` calls the provider, so it runs in a worker thread either way; the
    units of ``create_payment`` and ``process_payment`` run on the loop unless the storage
    blocks or a subscriber (the host's code, which may block) listens.
    """
    loop = threading.get_ident()
    quiet = ThreadNoting()
    await _create_and_process(AsyncPaymentService(quiet, {"credit_card": SandboxGateway()}))
    assert loop in quiet.threads
    assert len(quiet.threads) == 2  # the loop, and add_payment_method's worker thread

    blocking = BlockingThreadNoting()
    await _create_and_process(AsyncPaymentService(blocking, {"credit_card": SandboxGateway()}))
    assert loop not in blocking.threads

    heard = ThreadNoting()
    listened = AsyncPaymentService(heard, {"credit_card": SandboxGateway()})
    listened.events.subscribe(ALL_EVENTS, lambda _event: None)
    await _create_and_process(listened)
    assert loop not in heard.threads
