"""Concurrency: threads racing on one payment, and races injected deterministically.

The thread tests start every thread at a ``threading.Barrier``, run with a short GIL switch
interval and a sandbox that sleeps a little on every call, and repeat each scenario, to
shake out interleavings. The deterministic tests use Saleor's ``RunBefore`` pattern
(STYLE.md point 9): :class:`RunBeforeCommit` wraps the storage and runs the competing action
just before the first unit of work commits, so the race happens the same way on every run;
:class:`RunBeforeProvider` does the same at the provider, while paykit's request is in flight.

Every test runs through PaymentService and through AsyncPaymentService (the ``side`` fixture,
``tests/_service_sides.py``): the racing threads then call the async service on one event
loop, whose units of work run in its worker threads (#16).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from typing import Final, NamedTuple, TypeVar

import anyio.to_thread
import pytest

from _service_sides import AnyService, ServiceSide
from paykit import (
    GatewayResult,
    InMemoryStorage,
    InvalidRefundAmountError,
    InvalidStateTransition,
    LogType,
    Money,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    SandboxGateway,
    SandboxToken,
)
from paykit.gateways.base import ChargeRequest, RefundRequest
from paykit.gateways.sandbox import LedgerKind
from paykit.testing.races import RunBeforeCommit

T = TypeVar("T")

CUSTOMER: Final = "cus_race"
REPEATS: Final = 20
"""How many times each threaded scenario runs, each time on fresh storage and sandbox."""


@pytest.fixture(autouse=True)
def _switch_threads_often() -> Iterator[None]:
    """Make the interpreter switch threads far more often, so that races show up."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(previous)


class World(NamedTuple):
    """A service of one side with the storage and the sandbox it runs on."""

    service: AnyService
    sandbox: SandboxGateway
    storage: InMemoryStorage
    side: ServiceSide


def make_world(
    side: ServiceSide, sandbox: SandboxGateway | None = None, *, latency: float = 0.0
) -> World:
    """A ``side`` service over fresh in-memory storage and ``sandbox`` (default: a fresh one).

    The default sandbox sleeps ``latency`` seconds on every call.
    """
    sandbox = SandboxGateway(latency=latency) if sandbox is None else sandbox
    storage = InMemoryStorage()
    return World(side.service(storage, {"credit_card": sandbox}), sandbox, storage, side)


def pending_payment(world: World, amount: str = "100.00") -> Payment:
    """A pending USD payment with a card that always succeeds."""
    card = world.service.add_payment_method(
        CUSTOMER, type="credit_card", token=SandboxToken.SUCCESS
    )
    return world.service.create_payment(
        customer_id=CUSTOMER,
        order_id="ord_race",
        payment_method_id=card.id,
        amount=amount,
        currency="USD",
    )


def completed_payment(world: World, amount: str = "100.00") -> Payment:
    """A completed USD payment of ``amount``, charged in the sandbox."""
    payment = world.service.process_payment(pending_payment(world, amount).id)
    assert payment.status is PaymentStatus.COMPLETED
    return payment


def usd(amount: str) -> Money:
    """``amount`` US dollars."""
    return Money.of(amount, "USD")


def run_together(count: int, work: Callable[[int], T]) -> list[T | Exception]:
    """Run ``work(0)`` .. ``work(count - 1)`` in threads released at once; return each outcome."""
    barrier = threading.Barrier(count)
    outcomes: dict[int, T | Exception] = {}

    def run(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = work(index)
        except Exception as error:  # noqa: BLE001 - every outcome is checked by the caller
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return [outcomes[index] for index in range(count)]


# -- threads ---------------------------------------------------------------------------------


def test_sixteen_concurrent_refunds_never_exceed_the_payment(side: ServiceSide) -> None:
    """Sixteen threads refunding 30.00 of one 100.00 payment at once get exactly three refunds."""
    for _ in range(REPEATS):
        world = make_world(side, latency=0.0002)
        payment = completed_payment(world)

        def refund(_: int, payment_id: str = payment.id, world: World = world) -> Refund:
            created = world.service.create_refund(payment_id, "30.00")
            return world.service.process_refund(created.id)

        outcomes = run_together(16, refund)

        accepted = [outcome for outcome in outcomes if isinstance(outcome, Refund)]
        refused = [outcome for outcome in outcomes if not isinstance(outcome, Refund)]
        assert len(accepted) == 3
        assert all(refund.status is RefundStatus.COMPLETED for refund in accepted)
        assert len(refused) == 13
        assert all(isinstance(error, InvalidRefundAmountError) for error in refused), refused
        after = world.service.get_payment(payment.id)
        assert after.refunded_amount == usd("90.00")
        assert world.sandbox.refunded_total(payment.id) == usd("90.00")
        assert after.refund_reserved_amount.is_zero()
        assert after.status is PaymentStatus.PARTIALLY_REFUNDED
        assert world.sandbox.calls.count("refund") == len(accepted)
        assert len(world.service.list_refunds(payment.id)) == len(accepted)


@pytest.mark.parametrize("threads", [2, 8])
def test_concurrent_processing_charges_once(threads: int, side: ServiceSide) -> None:
    """Threads processing one pending payment at once: one charges it, the others are refused."""
    for _ in range(REPEATS):
        world = make_world(side, latency=0.0002)
        payment = pending_payment(world)

        def process(_: int, payment_id: str = payment.id, world: World = world) -> Payment:
            return world.service.process_payment(payment_id)

        outcomes = run_together(threads, process)

        won = [outcome for outcome in outcomes if isinstance(outcome, Payment)]
        lost = [outcome for outcome in outcomes if not isinstance(outcome, Payment)]
        assert len(won) == 1
        assert won[0].status is PaymentStatus.COMPLETED
        assert len(lost) == threads - 1
        assert all(isinstance(error, InvalidStateTransition) for error in lost), lost
        ledger = world.sandbox.ledger_for(payment.id)
        assert [entry.kind for entry in ledger] == [LedgerKind.CHARGE]
        assert world.sandbox.calls.count("charge") == 1
        assert world.service.get_payment(payment.id).attempt_count == 1


def test_same_idempotency_key_from_eight_threads_creates_one_payment(side: ServiceSide) -> None:
    """Eight threads creating a payment with one idempotency key all get the one stored payment."""
    for _ in range(REPEATS):
        world = make_world(side)
        card = world.service.add_payment_method(
            CUSTOMER, type="credit_card", token=SandboxToken.SUCCESS
        )

        def create(_: int, card_id: str = card.id, world: World = world) -> Payment:
            return world.service.create_payment(
                customer_id=CUSTOMER,
                order_id="ord_race",
                payment_method_id=card_id,
                amount="25.00",
                currency="USD",
                idempotency_key="checkout-42",
            )

        outcomes = run_together(8, create)

        assert all(isinstance(outcome, Payment) for outcome in outcomes), outcomes
        assert len({outcome.id for outcome in outcomes if isinstance(outcome, Payment)}) == 1
        stored = world.service.list_payments(customer_id=CUSTOMER)
        assert len(stored) == 1
        assert len(world.storage.payments) == 1
        log = world.service.get_transaction_log(stored[0].id)
        assert [entry.log_type for entry in log] == [LogType.PAYMENT_CREATED]


# -- deterministic races (Saleor's RunBefore) ------------------------------------------------


def hooked_service(
    world: World, action: Callable[[], object]
) -> tuple[AnyService, RunBeforeCommit]:
    """A second service over the same storage and sandbox, whose first commit runs ``action``.

    On the async side, that commit happens in a worker thread of the event loop, and
    ``action`` calls the world's service from there, as another request would.
    """
    storage = RunBeforeCommit(world.storage, action)
    return world.side.service(storage, {"credit_card": world.sandbox}), storage


def test_refund_that_loses_the_race_is_retried_and_refused(side: ServiceSide) -> None:
    """A refund committed just before another's commit makes it retry and fail the ceiling check."""
    world = make_world(side)
    payment = completed_payment(world)
    competing: list[Refund] = []
    loser, hook = hooked_service(
        world, lambda: competing.append(world.service.create_refund(payment.id, "60.00"))
    )

    with pytest.raises(InvalidRefundAmountError):
        loser.create_refund(payment.id, "60.00")

    assert hook.fired
    assert hook.conflicts == 1  # the first attempt lost to the competing refund ...
    assert hook.units == 2  # ... and was run again, against the competitor's reservation
    assert [r.id for r in world.service.list_refunds(payment.id)] == [competing[0].id]
    assert world.service.get_payment(payment.id).refund_reserved_amount == usd("60.00")
    world.service.process_refund(competing[0].id)
    after = world.service.get_payment(payment.id)
    assert after.refunded_amount == usd("60.00") == world.sandbox.refunded_total(payment.id)
    assert after.refund_reserved_amount.is_zero()


def test_refund_that_loses_the_race_still_fits_after_its_retry(side: ServiceSide) -> None:
    """A retried refund that still fits the balance is accepted, and both refunds are paid."""
    world = make_world(side)
    payment = completed_payment(world)
    competing: list[Refund] = []
    loser, hook = hooked_service(
        world, lambda: competing.append(world.service.create_refund(payment.id, "40.00"))
    )

    mine = loser.create_refund(payment.id, "60.00")

    assert hook.conflicts == 1
    assert hook.units == 2
    assert world.service.get_payment(payment.id).refund_reserved_amount == usd("100.00")
    for refund in (competing[0], mine):
        assert world.service.process_refund(refund.id).status is RefundStatus.COMPLETED
    after = world.service.get_payment(payment.id)
    assert after.status is PaymentStatus.REFUNDED
    assert after.refunded_amount == usd("100.00") == world.sandbox.refunded_total(payment.id)


def test_processing_that_loses_the_claim_is_refused_and_charges_nothing(side: ServiceSide) -> None:
    """A payment processed just before another claim commits makes that claim retry and refuse."""
    world = make_world(side)
    payment = pending_payment(world)
    loser, hook = hooked_service(world, lambda: world.service.process_payment(payment.id))

    with pytest.raises(InvalidStateTransition):
        loser.process_payment(payment.id)

    assert hook.conflicts == 1
    assert world.service.get_payment(payment.id).status is PaymentStatus.COMPLETED
    assert [e.kind for e in world.sandbox.ledger_for(payment.id)] == [LedgerKind.CHARGE]
    assert world.sandbox.calls.count("charge") == 1


def test_refund_cancelled_before_its_claim_commits_is_never_sent(side: ServiceSide) -> None:
    """A refund cancelled just before its processing claim commits is refused and never sent."""
    world = make_world(side)
    payment = completed_payment(world)
    refund = world.service.create_refund(payment.id, "10.00")
    loser, hook = hooked_service(world, lambda: world.service.cancel_refund(refund.id))

    with pytest.raises(InvalidStateTransition):
        loser.process_refund(refund.id)

    assert hook.conflicts == 1
    assert world.service.get_refund(refund.id).status is RefundStatus.CANCELLED
    assert "refund" not in world.sandbox.calls
    assert world.service.get_payment(payment.id).refund_reserved_amount.is_zero()


def test_payment_created_with_the_same_key_just_before_commit_is_returned(
    side: ServiceSide,
) -> None:
    """A payment created with our idempotency key just before our commit is the one returned."""
    world = make_world(side)
    card = world.service.add_payment_method(
        CUSTOMER, type="credit_card", token=SandboxToken.SUCCESS
    )

    def create(service: AnyService) -> Payment:
        return service.create_payment(
            customer_id=CUSTOMER,
            order_id="ord_race",
            payment_method_id=card.id,
            amount="25.00",
            currency="USD",
            idempotency_key="checkout-7",
        )

    competing: list[Payment] = []
    loser, hook = hooked_service(world, lambda: competing.append(create(world.service)))

    mine = create(loser)

    assert hook.conflicts == 1
    assert mine.id == competing[0].id
    assert len(world.service.list_payments(customer_id=CUSTOMER)) == 1


# -- reconciliation racing with a request in flight ------------------------------------------


class RunBeforeProvider(SandboxGateway):
    """A sandbox that runs a competing action once, just before it handles an operation.

    The action runs while paykit's request is in flight: paykit has committed its claim
    (``processing``) and is waiting for the provider's answer. The async service awaits
    ``charge_async`` / ``refund_async``, which run the action in a worker thread (it calls a
    blocking service, which must not block the event loop it needs) and wait for it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._actions: dict[str, Callable[[], object]] = {}
        self.awaited: list[str] = []

    def run_before(self, operation: str, action: Callable[[], object]) -> None:
        """Run ``action`` when the next ``operation`` ("charge" or "refund") arrives."""
        self._actions[operation] = action

    def _fire(self, operation: str) -> None:
        action = self._actions.pop(operation, None)
        if action is not None:
            action()

    def charge(self, request: ChargeRequest) -> GatewayResult:
        """Run the pending action for ``charge``, then charge."""
        self._fire("charge")
        return super().charge(request)

    def refund(self, request: RefundRequest) -> GatewayResult:
        """Run the pending action for ``refund``, then refund."""
        self._fire("refund")
        return super().refund(request)

    async def charge_async(self, request: ChargeRequest) -> GatewayResult:
        """Await the pending action for ``charge``, then charge."""
        self.awaited.append("charge")
        await anyio.to_thread.run_sync(self._fire, "charge")
        return super().charge(request)

    async def refund_async(self, request: RefundRequest) -> GatewayResult:
        """Await the pending action for ``refund``, then refund."""
        self.awaited.append("refund")
        await anyio.to_thread.run_sync(self._fire, "refund")
        return super().refund(request)


def test_reconcile_while_the_charge_is_in_flight_does_not_fail_the_payment(
    side: ServiceSide,
) -> None:
    """Reconciling a payment while its charge is in flight must not fail the charged payment."""
    sandbox = RunBeforeProvider()
    world = make_world(side, sandbox)
    payment = pending_payment(world)
    seen: list[PaymentStatus] = []
    sandbox.run_before(
        "charge", lambda: seen.append(world.service.reconcile_payment(payment.id).status)
    )

    final = world.service.process_payment(payment.id)

    assert sandbox.charged_total(payment.id) == usd("100.00")  # the charge did go through
    # The provider has not seen the request *yet*: that is no decline. The reconciler may
    # leave the payment processing (or settle it itself), but never fail it.
    assert seen in ([PaymentStatus.PROCESSING], [PaymentStatus.COMPLETED])
    assert final.status is PaymentStatus.COMPLETED
    assert final.captured_amount == usd("100.00")
    assert sandbox.awaited == (["charge"] if side.is_async else [])


def test_reconcile_while_the_refund_is_in_flight_does_not_fail_a_paid_refund(
    side: ServiceSide,
) -> None:
    """Reconciling a refund while its request is in flight must not fail the paid refund."""
    sandbox = RunBeforeProvider()
    world = make_world(side, sandbox)
    payment = completed_payment(world)
    refund = world.service.create_refund(payment.id, "30.00")
    seen: list[RefundStatus] = []
    sandbox.run_before(
        "refund", lambda: seen.append(world.service.reconcile_refund(refund.id).status)
    )

    final = world.service.process_refund(refund.id)

    assert sandbox.refunded_total(payment.id) == usd("30.00")  # the refund did go through
    # Failing it would release its 30.00 to be refunded a second time.
    assert seen in ([RefundStatus.PROCESSING], [RefundStatus.COMPLETED])
    assert final.status is RefundStatus.COMPLETED
    after = world.service.get_payment(payment.id)
    assert after.refunded_amount == usd("30.00")
    assert after.refund_reserved_amount.is_zero()
    assert sandbox.awaited == (["charge", "refund"] if side.is_async else [])
