"""Thousands of random lifecycles through an unreliable network, then a reconcile: what holds.

The sandbox sits behind ``FaultyGateway``: connections refused before sending, timeouts after
the provider acted, 5xx, 429 and dropped responses on every kind of call, and webhooks that
arrive twice, out of order, before the API response, or never. A seeded ``FaultPlan`` picks
them, so a failure replays exactly with ``PAYKIT_FAULT_SEED``; ``PAYKIT_FAULT_LIFECYCLES``
sets the size of the run. Customers act at random too (3-D Secure passed or failed, async
payments settled, captures, voids, partial refunds, disputes won and lost).

After the run, the customers finish what they started and reconciliation sweeps until
nothing is left waiting. Then, with the sandbox's ledger as the judge:

* no payment was charged twice;
* no payment paykit calls failed or cancelled was charged, and every payment paykit calls
  completed was charged exactly what paykit recorded;
* every payment and refund is settled;
* refunded (and charged back) never exceeds captured, and the ledger's refunds equal paykit's;
* every status change has its log entry, in an unbroken chain of allowed moves;
* the webhook inbox holds each delivered event exactly once.

The test prints the faults injected and the invariants checked, so a run shows what it proved.

Each test runs on both sides of ``tests/_service_sides.py`` (#16): through PaymentService, then
through AsyncPaymentService on an event loop, whose provider calls are awaited (the faulty
sandbox behind :class:`AwaitedGateway`'s ``*_async`` methods). A thread hop per unit of work
and a portal call per customer action make an async lifecycle about three times slower, so
the async runs are smaller: ``PAYKIT_FAULT_ASYNC_LIFECYCLES`` (default 1000) lifecycles in
memory and a tenth of that on SQLite, against 3000 and 300 for the sync service. From one
seed, both services meet the same faults in the same order and end with the same statuses:
a test checks that too.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Final

import anyio.to_thread
import attrs
import pytest

from _service_sides import AnyService, OnTheEventLoopError, ServiceSide, service_side
from paykit import (
    PAYMENT_TRANSITIONS,
    REFUND_TRANSITIONS,
    DisputeStatus,
    InMemoryStorage,
    Money,
    Payment,
    PaymentProcessingError,
    PaymentStatus,
    Refund,
    RefundProcessingError,
    RefundStatus,
    SandboxGateway,
    SandboxToken,
    Storage,
    TransactionLogEntry,
    WebhookOutcome,
)
from paykit.errors import GatewayConfigurationError
from paykit.gateways.base import (
    CaptureRequest,
    ChargeRequest,
    GatewayResult,
    PaymentLookup,
    RefundLookup,
    RefundRequest,
    VoidRequest,
    WebhookEvent,
)
from paykit.gateways.sandbox import LedgerKind
from paykit.storage.sql import SqlStorage
from paykit.testing import FaultPlan, FaultyGateway
from paykit.testing.faults import FAULTY_GATEWAY_FAULTS

_P = PaymentStatus
_R = RefundStatus

SEED: Final = int(os.environ.get("PAYKIT_FAULT_SEED", "20261127"))
LIFECYCLES: Final = int(os.environ.get("PAYKIT_FAULT_LIFECYCLES", "3000"))
ASYNC_LIFECYCLES: Final = int(os.environ.get("PAYKIT_FAULT_ASYNC_LIFECYCLES", "1000"))

SETTLED: Final = frozenset(
    {_P.COMPLETED, _P.PARTIALLY_REFUNDED, _P.REFUNDED, _P.FAILED, _P.CANCELLED}
)
CHARGED: Final = frozenset({_P.COMPLETED, _P.PARTIALLY_REFUNDED, _P.REFUNDED})
SCENARIOS: Final = {
    "purchase": 30,
    "decline": 8,
    "threeds_passed": 10,
    "threeds_failed": 4,
    "async": 8,
    "authorize_capture": 10,
    "authorize_void": 5,
    "refund_declined": 5,
    "dispute": 8,
}
_TOKENS: Final = {
    "decline": SandboxToken.DECLINE,
    "threeds_passed": SandboxToken.THREE_D_SECURE,
    "threeds_failed": SandboxToken.THREE_D_SECURE,
    "async": SandboxToken.PENDING,
    "refund_declined": SandboxToken.REFUND_FAIL,
}


class Clock:
    """paykit's clock, moved by the run (the sandbox signs webhooks with the real time)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        """The run's time."""
        return self.now


class AwaitedGateway:
    """The faulty sandbox with ``*_async`` methods, so the async service awaits its calls.

    Each ``*_async`` method does the faulty sandbox's work inline, on the event loop, as an
    async adapter does its own (the sandbox keeps its ledger in memory: there is no I/O to
    wait for, and in this one-customer-at-a-time run no other thread holds the sandbox's
    locks while it waits for the loop). The sync methods, which the async service's sweep
    and webhook inbox call in worker threads, are the faulty sandbox's own.

    An ``early_webhook`` fault delivers the provider's webhooks from inside the call, before
    its answer: here, on the loop's thread, where the blocking service facade refuses to
    wait for the loop it would block (``OnTheEventLoopError``). FaultyGateway treats a
    delivery that raised as a failed delivery the provider retries, as it would a 503. So
    when a call's deliveries were refused that way, its ``*_async`` method delivers them
    again from a worker thread -- awaited, while the loop is free to run them -- before it
    returns the answer: the webhooks still overtake the answer, in the order the fault plan
    drew, and the plan draws nothing more (the sandbox's queue is empty by then).
    """

    def __init__(self, faulty: FaultyGateway) -> None:
        self.faulty = faulty
        self.charge = faulty.charge
        self.capture = faulty.capture
        self.void = faulty.void
        self.refund = faulty.refund
        self.retrieve_payment = faulty.retrieve_payment
        self.retrieve_refund = faulty.retrieve_refund
        self.redelivered = 0
        """How many calls had their early webhooks delivered again off the loop."""

    @property
    def name(self) -> str:
        """The sandbox's name."""
        return self.faulty.name

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """The sandbox verifies and normalises its own webhooks."""
        return self.faulty.parse_webhook(headers, body)

    async def charge_async(self, request: ChargeRequest) -> GatewayResult:
        """The faulty charge, on the loop."""
        return await self._on_the_loop(partial(self.faulty.charge, request))

    async def capture_async(self, request: CaptureRequest) -> GatewayResult:
        """The faulty capture, on the loop."""
        return await self._on_the_loop(partial(self.faulty.capture, request))

    async def void_async(self, request: VoidRequest) -> GatewayResult:
        """The faulty void, on the loop."""
        return await self._on_the_loop(partial(self.faulty.void, request))

    async def refund_async(self, request: RefundRequest) -> GatewayResult:
        """The faulty refund, on the loop."""
        return await self._on_the_loop(partial(self.faulty.refund, request))

    async def retrieve_payment_async(self, lookup: PaymentLookup) -> GatewayResult:
        """The faulty payment lookup, on the loop."""
        return await self._on_the_loop(partial(self.faulty.retrieve_payment, lookup))

    async def retrieve_refund_async(self, lookup: RefundLookup) -> GatewayResult:
        """The faulty refund lookup, on the loop."""
        return await self._on_the_loop(partial(self.faulty.retrieve_refund, lookup))

    async def _on_the_loop(self, call: Callable[[], GatewayResult]) -> GatewayResult:
        errors = self.faulty.delivery_errors
        before = len(errors)
        try:
            return call()
        finally:
            if any(isinstance(error, OnTheEventLoopError) for error in errors[before:]):
                self.redelivered += 1
                await anyio.to_thread.run_sync(self._deliver_again)

    def _deliver_again(self) -> None:
        # As in the sync early delivery, a delivery that fails now never reaches the caller:
        # it waits, with the provider's other retries, for the next deliver_webhooks.
        with contextlib.suppress(Exception):
            self.faulty.deliver_webhooks()


@attrs.define
class FaultRun:
    """One seeded run: the service, the faulty sandbox, and what happened."""

    service: AnyService
    sandbox: SandboxGateway
    faulty: FaultyGateway
    plan: FaultPlan
    clock: Clock
    customers: random.Random
    awaited: AwaitedGateway | None
    scenarios: Counter[str] = attrs.field(factory=Counter)
    answers: Counter[str] = attrs.field(factory=Counter)
    accepted_events: set[str] = attrs.field(factory=set)
    duplicate_answers: list[str] = attrs.field(factory=list)
    checks: Counter[str] = attrs.field(factory=Counter)
    sweeps: int = 0

    @classmethod
    def start(cls, storage: Storage, seed: int, side: ServiceSide) -> FaultRun:
        """Wire a ``side`` service to the sandbox through the faults; webhooks go to the inbox.

        The async service awaits the faulty sandbox through :class:`AwaitedGateway`.
        """
        sandbox = SandboxGateway(send_webhooks=True)
        plan = FaultPlan(seed)
        faulty = FaultyGateway(sandbox, plan, max_attempts=50)
        awaited = AwaitedGateway(faulty) if side.is_async else None
        clock = Clock()
        service = side.service(storage, {"credit_card": awaited or faulty}, clock=clock)
        run = cls(
            service=service,
            sandbox=sandbox,
            faulty=faulty,
            plan=plan,
            clock=clock,
            customers=random.Random(seed + 1),  # noqa: S311 - reproducible test choices
            awaited=awaited,
        )
        faulty.deliver = run.receive
        return run

    def receive(self, headers: dict[str, str], body: bytes) -> object:
        """Hand one delivery to the inbox, as the host's web route would; note the answer."""
        result = self.service.handle_webhook("sandbox", headers, body)
        event_id = json.loads(body)["id"]
        self.answers[str(result.outcome)] += 1
        if result.outcome is WebhookOutcome.DUPLICATE:
            self.duplicate_answers.append(event_id)
        elif result.ok:
            assert event_id not in self.accepted_events, f"{event_id} accepted twice"
            self.accepted_events.add(event_id)
        return result

    # -- the customers' side ------------------------------------------------------------------

    def lifecycle(self, number: int) -> None:
        """One customer's payment, from checkout to refunds, chosen at random."""
        rng = self.customers
        scenario = rng.choices(list(SCENARIOS), weights=list(SCENARIOS.values()))[0]
        self.scenarios[scenario] += 1
        customer = f"cus_{number}"
        method = self.service.add_payment_method(
            customer, type="credit_card", token=_TOKENS.get(scenario, SandboxToken.SUCCESS)
        )
        payment = self.service.create_payment(
            customer_id=customer,
            order_id=f"ord_{number}",
            payment_method_id=method.id,
            amount=Decimal(rng.randint(100, 50_000)) / 100,
            currency="USD",
            capture=not scenario.startswith("authorize"),
        )
        _attempt(lambda: self.service.process_payment(payment.id))
        self.maybe_deliver()
        current = self.service.get_payment(payment.id)
        if scenario.startswith("threeds"):
            self.finish_action(current, succeed=scenario == "threeds_passed")
        elif scenario == "async":
            self.settle_at_the_bank(current)
        elif scenario.startswith("authorize"):
            self.capture_or_void(current, capture=scenario == "authorize_capture")
        self.maybe_deliver()
        self.refund_some(payment.id)
        if scenario == "dispute":
            self.dispute(payment.id)
        self.clock.now += timedelta(seconds=1)
        self.maybe_deliver()

    def maybe_deliver(self) -> None:
        """Providers deliver when they like: often right away, sometimes in a later batch."""
        if self.customers.random() < 0.6:
            self.faulty.deliver_webhooks()

    def finish_action(self, payment: Payment, *, succeed: bool) -> None:
        """The customer passes or fails 3-D Secure (if their redirect ever reached them)."""
        if payment.provider_payment_id is not None and payment.status is _P.REQUIRES_ACTION:
            _at_the_provider(
                lambda: self.sandbox.complete_action(
                    str(payment.provider_payment_id), succeed=succeed
                )
            )

    def settle_at_the_bank(self, payment: Payment) -> None:
        """The bank pays an asynchronous payment, some days later."""
        if payment.provider_payment_id is not None and self.customers.random() < 0.7:
            _at_the_provider(lambda: self.sandbox.settle(str(payment.provider_payment_id)))

    def capture_or_void(self, payment: Payment, *, capture: bool) -> None:
        """The merchant captures (sometimes only part) or releases an authorization."""
        if payment.status is not _P.AUTHORIZED:
            return
        if capture:
            part = payment.amount.amount * Decimal(self.customers.choice([1, 1, 0.5]))
            amount = part.quantize(Decimal("0.01"))
            _attempt(lambda: self.service.capture_payment(payment.id, amount))
        else:
            _attempt(lambda: self.service.void_payment(payment.id))

    def refund_some(self, payment_id: str) -> None:
        """Zero to two partial (or full) refunds of whatever is refundable."""
        for _ in range(self.customers.choice([0, 0, 1, 1, 2])):
            payment = self.service.get_payment(payment_id)
            balance = payment.refundable_amount
            if payment.status not in CHARGED or balance.is_zero():
                return
            cents = self.customers.randint(1, balance.minor_units)
            refund_id = self.service.create_refund(payment_id, Decimal(cents) / 100).id
            _attempt(partial(self.service.process_refund, refund_id))
            self.maybe_deliver()

    def dispute(self, payment_id: str) -> None:
        """The customer's bank disputes the payment; the network decides it."""
        payment = self.service.get_payment(payment_id)
        if payment.provider_payment_id is None or payment.status not in CHARGED:
            return
        dispute_id = _at_the_provider(
            lambda: self.sandbox.open_dispute(str(payment.provider_payment_id))
        )
        if dispute_id is None:
            return
        self.maybe_deliver()
        if self.customers.random() < 0.5:
            self.sandbox.update_dispute(dispute_id, DisputeStatus.UNDER_REVIEW)
        decision = self.customers.choice([DisputeStatus.WON, DisputeStatus.LOST])
        self.sandbox.update_dispute(dispute_id, decision)

    # -- the end of the run ---------------------------------------------------------------

    def finish(self, max_rounds: int = 30) -> None:
        """Customers finish what they started; sweeps run until nothing is left waiting."""
        for _ in range(max_rounds):
            self.deliver_everything()
            self.clock.now += timedelta(hours=7)  # past the in-flight grace and any backoff
            report = self.service.reconcile(
                older_than=timedelta(0),
                limit=1_000_000,
                statuses=(_P.PROCESSING, _P.REQUIRES_ACTION, _P.AUTHORIZED),
            )
            self.sweeps += 1
            waiting = self.unsettled()
            if not waiting and report.unsettled == 0 and not self.faulty.awaiting_retry:
                self.deliver_everything()
                if not self.unsettled():
                    return
            for payment in waiting:
                self.nudge(payment)
        pytest.fail(f"still waiting after {max_rounds} sweeps: {self.unsettled()[:5]}")

    def deliver_everything(self) -> None:
        """Deliver every queued webhook, retries included (lost ones stay lost)."""
        for _ in range(100):
            self.faulty.deliver_webhooks()
            if not self.faulty.awaiting_retry:
                return

    def nudge(self, payment: Payment) -> None:
        """What a customer or the merchant does with a payment still open at the end."""
        provider_id = payment.provider_payment_id
        if payment.status is _P.REQUIRES_ACTION and provider_id is not None:
            succeed = self.customers.random() < 0.5
            _at_the_provider(lambda: self.sandbox.complete_action(provider_id, succeed=succeed))
        elif payment.status is _P.PROCESSING and provider_id is not None:
            _at_the_provider(lambda: self.sandbox.settle(provider_id))
        elif payment.status is _P.AUTHORIZED:
            _attempt(lambda: self.service.void_payment(payment.id))

    def unsettled(self) -> list[Payment]:
        """Payments not settled yet, or with a refund still in flight."""
        return [
            payment
            for payment in self.service.list_payments()
            if payment.status not in SETTLED
            or any(
                refund.status in (_R.PENDING, _R.PROCESSING)
                for refund in self.service.list_refunds(payment.id)
            )
        ]

    # -- the invariants -------------------------------------------------------------------

    def check(self, name: str, holds: bool, detail: Callable[[], str]) -> None:
        """Assert one invariant for one record, counting it."""
        assert holds, f"{name}: {detail()} (seed {self.plan.seed})"
        self.checks[name] += 1

    def check_everything(self) -> None:
        """Every invariant, for every payment and refund."""
        inbox_ids: list[str] = [
            entry.event_id for entry in self.service.list_unmatched_webhook_events()
        ]
        for payment in self.service.list_payments():
            self.check_payment(payment)
            inbox_ids += [entry.event_id for entry in self.service.list_webhook_events(payment.id)]
        self.check(
            "inbox holds each event once",
            len(inbox_ids) == len(set(inbox_ids)),
            lambda: f"{len(inbox_ids) - len(set(inbox_ids))} stored twice",
        )
        self.check(
            "inbox holds every accepted delivery",
            set(inbox_ids) == self.accepted_events,
            lambda: f"{len(self.accepted_events ^ set(inbox_ids))} differ",
        )
        self.check(
            "duplicates were received before",
            set(self.duplicate_answers) <= self.accepted_events,
            lambda: "a duplicate answer for an event never accepted",
        )

    def check_payment(self, payment: Payment) -> None:
        """The ledger and the log agree with the payment."""
        pid = payment.id
        ledger = self.sandbox.ledger_for(pid)
        kinds = Counter(entry.kind for entry in ledger)
        zero = Money.zero(payment.currency)
        charged = self.sandbox.charged_total(pid) or zero
        self.check("settled", payment.status in SETTLED, lambda: f"{pid} is {payment.status}")
        self.check(
            "never charged twice",
            kinds[LedgerKind.CHARGE] + kinds[LedgerKind.AUTHORIZATION] <= 1
            and kinds[LedgerKind.CAPTURE] <= 1,
            lambda: f"{pid} ledger {ledger}",
        )
        if payment.status in CHARGED:
            self.check(
                "completed means charged, exactly",
                not charged.is_zero() and charged == payment.captured_amount,
                lambda: f"{pid} captured {payment.captured_amount}, ledger {charged}",
            )
        else:
            self.check(
                "failed or cancelled means not charged",
                charged.is_zero(),
                lambda: f"{pid} is {payment.status} but the ledger charged {charged}",
            )
        returned = payment.refunded_amount + payment.chargeback_amount
        self.check(
            "refunded never above captured",
            returned <= payment.captured_amount,
            lambda: f"{pid} returned {returned} of {payment.captured_amount}",
        )
        ledger_refunds = self.sandbox.refunded_total(pid) or zero
        self.check(
            "ledger refunds equal paykit's",
            ledger_refunds == payment.refunded_amount,
            lambda: f"{pid} paykit {payment.refunded_amount}, ledger {ledger_refunds}",
        )
        lost = self.sandbox.charged_back_total(pid) or zero
        self.check(
            "chargebacks never above the provider's",
            payment.chargeback_amount <= lost,
            lambda: f"{pid} paykit {payment.chargeback_amount}, ledger {lost}",
        )
        self.check_log(payment)

    def check_log(self, payment: Payment) -> None:
        """Each status change of the payment and its refunds is logged, in an unbroken chain."""
        log = self.service.get_transaction_log(payment.id)
        moves = [
            (entry.previous_status, entry.new_status)
            for entry in log
            if entry.refund_id is None and entry.new_status is not None
        ]
        self.check(
            "every payment move is logged",
            _is_chain(moves, str(_P.PENDING), str(payment.status), PAYMENT_TRANSITIONS),
            lambda: f"{payment.id} moves {moves} end at {payment.status}",
        )
        completed = zero = Money.zero(payment.currency)
        for refund in self.service.list_refunds(payment.id):
            self.check_refund(refund, log)
            if refund.status is _R.COMPLETED:
                completed += refund.amount
        self.check(
            "completed refunds add up to the payment's",
            completed == payment.refunded_amount and payment.refund_reserved_amount == zero,
            lambda: f"{payment.id}: refunds {completed}, payment {payment.refunded_amount}",
        )

    def check_refund(self, refund: Refund, log: list[TransactionLogEntry]) -> None:
        """The refund is settled and each of its moves is logged."""
        moves = [
            (entry.previous_status, entry.new_status)
            for entry in log
            if entry.refund_id == refund.id and entry.new_status is not None
        ]
        self.check(
            "every refund move is logged",
            _is_chain(moves, str(_R.PENDING), str(refund.status), REFUND_TRANSITIONS),
            lambda: f"{refund.id} moves {moves} end at {refund.status}",
        )
        self.check(
            "refunds settled",
            refund.status in (_R.COMPLETED, _R.FAILED, _R.CANCELLED),
            lambda: f"{refund.id} is {refund.status}",
        )

    def summary(self) -> str:
        """What the run injected and proved."""
        faults = ", ".join(f"{kind}={self.plan.counts[kind]}" for kind in FAULTY_GATEWAY_FAULTS)
        lines = [
            (
                f"fault injection, seed {self.plan.seed}: "
                f"{sum(self.scenarios.values())} lifecycles, {self.sweeps} reconcile sweeps"
            ),
            f"  scenarios: {dict(sorted(self.scenarios.items()))}",
            f"  faults injected: {faults}",
            f"  webhook answers: {dict(sorted(self.answers.items()))}",
            "  invariants checked:",
            *(f"    {count:6} x {name}" for name, count in sorted(self.checks.items())),
        ]
        return "\n".join(lines)


def _attempt(call: Callable[[], object]) -> None:
    """Make a service call the way a host does: an unknown outcome is not the caller's crash."""
    with contextlib.suppress(PaymentProcessingError, RefundProcessingError):
        call()


def _at_the_provider(call: Callable[[], str | None]) -> str | None:
    """A customer or bank acting at the provider; a move the provider refuses is no move."""
    try:
        return call()
    except GatewayConfigurationError:
        return None


def _is_chain(
    moves: Sequence[tuple[str | None, str]],
    start: str,
    end: str,
    table: dict[PaymentStatus, frozenset[PaymentStatus]]
    | dict[RefundStatus, frozenset[RefundStatus]],
) -> bool:
    """Whether ``moves`` lead from creation in ``start`` to ``end``, each allowed by ``table``."""
    allowed = {(str(src), str(dst)) for src, targets in table.items() for dst in targets}
    if not moves or moves[0] != (None, start):
        return False
    position = start
    for previous, new in moves[1:]:
        if previous != position or (previous, new) not in allowed:
            return False
        position = new
    return position == end


def _size(side: ServiceSide) -> int:
    """How many lifecycles run in memory on ``side`` (a tenth of that on SQLite)."""
    return ASYNC_LIFECYCLES if side.is_async else LIFECYCLES


def _report(run: FaultRun, side: ServiceSide, storage: str = "") -> str:
    label = f"fault injection ({', '.join(filter(None, [storage, f'{side.name} service']))})"
    return run.summary().replace("fault injection", label, 1)


@pytest.mark.parametrize("seed", [SEED])
def test_lifecycles_under_faults_keep_every_invariant(
    seed: int, side: ServiceSide, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole run, then every invariant for every record; prints what it proved."""
    run = FaultRun.start(InMemoryStorage(), seed, side)

    for number in range(_size(side)):
        run.lifecycle(number)
    run.finish()
    run.check_everything()

    with capsys.disabled():
        print("\n" + _report(run, side))  # noqa: T201 - the run's report is the point
    assert all(run.plan.counts[kind] > 0 for kind in FAULTY_GATEWAY_FAULTS), run.plan.summary()
    assert run.answers[str(WebhookOutcome.DUPLICATE)] > 0
    if run.awaited is not None:
        assert run.awaited.redelivered > 0, "no early webhook was delivered from the event loop"


def test_lifecycles_under_faults_on_sqlite(
    tmp_path: Path, side: ServiceSide, capsys: pytest.CaptureFixture[str]
) -> None:
    """A smaller run on SQL storage: the inbox's unique keys and the sweeps' leases in SQL."""
    storage = SqlStorage(f"sqlite:///{tmp_path / 'faults.db'}")
    storage.upgrade()
    run = FaultRun.start(storage, SEED + 2, side)
    lifecycles = _size(side) // 10

    for number in range(lifecycles):
        run.lifecycle(number)
    run.finish()
    run.check_everything()

    with capsys.disabled():
        print("\n" + _report(run, side, "SQLite"))  # noqa: T201
    assert run.checks["never charged twice"] == lifecycles
    storage.dispose()


def _short_run(side: ServiceSide) -> FaultRun:
    """Sixty lifecycles from ``SEED``, finished."""
    run = FaultRun.start(InMemoryStorage(), SEED, side)
    for number in range(60):
        run.lifecycle(number)
    run.finish()
    return run


def _path(run: FaultRun) -> tuple[object, ...]:
    """What a run went through: the faults met, the choices made, how each payment ended."""
    statuses = sorted(str(payment.status) for payment in run.service.list_payments())
    return run.plan.history, run.scenarios, run.answers, statuses


def test_a_run_replays_exactly_from_its_seed(side: ServiceSide) -> None:
    """The same seed gives the same faults, the same choices and the same outcome."""
    assert _path(_short_run(side)) == _path(_short_run(side))


def test_both_services_meet_the_same_faults_and_end_the_same() -> None:
    """The async service takes the sync service's path through the faults, step for step.

    Both perform the same steps (``paykit.service._steps``), so from one seed they make the
    same provider calls in the same order, meet the same faults, receive the same webhooks
    with the same answers, and leave every payment in the same status -- early webhooks
    included, which the async run delivers from inside calls awaited on the loop.
    """
    with service_side("sync") as side:
        sync_path = _path(_short_run(side))
    with service_side("async") as side:
        async_run = _short_run(side)
        async_path = _path(async_run)

    assert async_path == sync_path
    assert async_run.awaited is not None
    assert async_run.awaited.redelivered > 0
