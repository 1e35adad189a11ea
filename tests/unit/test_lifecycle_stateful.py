"""A hypothesis state machine driving ``PaymentService`` through random payment lifecycles.

The machine adds sandbox cards, creates, processes, captures, voids and cancels payments,
plays the customer (3-D Secure) and the bank (settling a pending payment) in the sandbox,
creates, processes and cancels refunds, and reconciles. Each rule predicts what paykit must
answer -- the status it reaches, or the one paykit error it must raise and why -- and after
every step the invariants are checked over *all* payments: the refund ceiling, the
reservation bookkeeping, no backward status move, an audit entry for every status change,
and agreement between paykit and the sandbox's ledger.

The machine builds its service with :meth:`PaymentLifecycleMachine.build_service`, which
calls the module-level :func:`make_service`; a storage backend (e.g. SQL) reuses the whole
machine by subclassing it and overriding that one method.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Final, TypeVar

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from paykit import (
    PAYMENT_TRANSITIONS,
    REFUND_TRANSITIONS,
    GatewayConfigurationError,
    GatewayOutcome,
    InMemoryStorage,
    InvalidAmountError,
    InvalidRefundAmountError,
    InvalidStateTransition,
    Money,
    Payment,
    PaymentNotRefundableError,
    PaymentProcessingError,
    PaymentService,
    PaymentStatus,
    Refund,
    RefundStatus,
    SandboxGateway,
    SandboxToken,
    Storage,
    TransactionLogEntry,
    from_minor_units,
)
from paykit.domain._transitions import reachable_from
from paykit.gateways.base import PaymentLookup
from paykit.gateways.sandbox import LedgerKind

_P = PaymentStatus
_R = RefundStatus

S = TypeVar("S", PaymentStatus, RefundStatus)

CUSTOMER: Final = "cus_stateful"

# Few cards and payments per run, so that the steps go into their lifecycles.
MAX_CARDS: Final = 4
MAX_PAYMENTS: Final = 5

TOKENS: Final = (
    SandboxToken.SUCCESS,
    SandboxToken.DECLINE,
    SandboxToken.INSUFFICIENT_FUNDS,
    SandboxToken.THREE_D_SECURE,
    SandboxToken.TIMEOUT,
    SandboxToken.PROCESSING_ERROR,
    SandboxToken.REFUND_FAIL,
    SandboxToken.REFUND_TIMEOUT,
    SandboxToken.PENDING,
)

_DECLINING_TOKENS: Final = frozenset(
    {SandboxToken.DECLINE, SandboxToken.INSUFFICIENT_FUNDS, SandboxToken.PROCESSING_ERROR}
)

MAX_MINOR_UNITS_BY_CURRENCY: Final = {"USD": 1_000_000, "JPY": 1_000_000, "KWD": 10_000_000}
"""Amounts up to 10,000.00 USD, 1,000,000 JPY and 10,000.000 KWD, in minor units."""

amounts: st.SearchStrategy[Money] = st.sampled_from(sorted(MAX_MINOR_UNITS_BY_CURRENCY)).flatmap(
    lambda currency: st.integers(1, MAX_MINOR_UNITS_BY_CURRENCY[currency]).map(
        lambda units: from_minor_units(units, currency)
    )
)

_RECONCILABLE: Final = frozenset({_P.PROCESSING, _P.REQUIRES_ACTION, _P.AUTHORIZED})
_REFUNDABLE: Final = frozenset({_P.COMPLETED, _P.PARTIALLY_REFUNDED})
_MONEY_TAKEN: Final = frozenset({_P.COMPLETED, _P.PARTIALLY_REFUNDED, _P.REFUNDED})
_NOTHING_CHARGED: Final = frozenset({_P.PENDING, _P.FAILED, _P.CANCELLED, _P.AUTHORIZED})

# What the sandbox's own record of a payment (its "intent") says, as the machine models it.
REQUIRES_ACTION: Final = "requires_action"
PENDING: Final = "pending"
AUTHORIZED: Final = "authorized"
SUCCEEDED: Final = "succeeded"
CANCELLED: Final = "cancelled"
FAILED: Final = "failed"

_STATUS_OF_INTENT: Final = {
    REQUIRES_ACTION: _P.REQUIRES_ACTION,
    PENDING: _P.PROCESSING,
    AUTHORIZED: _P.AUTHORIZED,
    SUCCEEDED: _P.COMPLETED,
    CANCELLED: _P.CANCELLED,
    FAILED: _P.FAILED,
}
"""Where reconciliation must move a reconcilable payment, given the sandbox's truth."""


def sequential_ids() -> Callable[[str], str]:
    """An id factory giving ``pay_000001``-style ids, so failing examples read the same twice."""
    counter = itertools.count(1)
    return lambda prefix: f"{prefix}_{next(counter):06d}"


def make_service() -> tuple[PaymentService, SandboxGateway, Storage]:
    """A service over fresh in-memory storage, routing card payments to a fresh sandbox."""
    sandbox = SandboxGateway()
    storage = InMemoryStorage()
    service = PaymentService(
        storage,
        {"credit_card": sandbox, "debit_card": sandbox},
        id_factory=sequential_ids(),
    )
    return service, sandbox, storage


def fraction_of(money: Money, permille: int) -> Money:
    """``permille``/1000 of ``money``, rounded down, but never below one minor unit."""
    return from_minor_units(max(1, money.minor_units * permille // 1000), money.currency)


def money_sum(currency: str, values: list[Money]) -> Money:
    """The total of ``values`` (zero in ``currency`` when empty)."""
    total = Money.zero(currency)
    for value in values:
        total += value
    return total


def sandbox_outcome(sandbox: SandboxGateway, payment: Payment) -> GatewayOutcome:
    """What the sandbox says about ``payment`` right now, through the public Gateway API."""
    lookup = PaymentLookup(
        payment_id=payment.id,
        provider_payment_id=payment.provider_payment_id,
        idempotency_key=f"paykit:{payment.id}:charge",
        amount=payment.amount,
    )
    return sandbox.retrieve_payment(lookup).outcome


@attrs.define
class Expected:
    """The machine's model of one payment: how it was made and what the sandbox holds."""

    token: str
    capture: bool
    amount: Money
    intent: str | None = None
    """The sandbox intent's state, or ``None`` while no charge has reached the sandbox."""

    @property
    def money_taken(self) -> str:
        """The intent state after the sandbox takes the money: held or captured."""
        return SUCCEEDED if self.capture else AUTHORIZED

    def charge(self) -> PaymentStatus:
        """Play the sandbox's charge (see its token table); return paykit's expected status."""
        if self.token in _DECLINING_TOKENS:
            return _P.FAILED
        if self.token == SandboxToken.THREE_D_SECURE:
            self.intent = REQUIRES_ACTION
            return _P.REQUIRES_ACTION
        if self.token == SandboxToken.PENDING:
            self.intent = PENDING
            return _P.PROCESSING
        self.intent = self.money_taken
        if self.token == SandboxToken.TIMEOUT:
            return _P.PROCESSING  # the money moved but the answer was lost
        return _P.COMPLETED if self.capture else _P.AUTHORIZED

    def refund_outcome(self) -> RefundStatus:
        """Where ``process_refund`` leaves a refund of this payment."""
        if self.token == SandboxToken.REFUND_FAIL:
            return _R.FAILED
        if self.token == SandboxToken.REFUND_TIMEOUT:
            return _R.PROCESSING  # refunded at the sandbox, answer lost
        return _R.COMPLETED


class PaymentLifecycleMachine(RuleBasedStateMachine):
    """Random payment and refund lifecycles; every rule predicts paykit's answer."""

    def __init__(self) -> None:
        super().__init__()
        self.service, self.sandbox, self.storage = self.build_service()
        self.cards: list[tuple[str, str]] = []
        self.expected: dict[str, Expected] = {}
        self.refund_payment: dict[str, str] = {}
        self.payment_status: dict[str, PaymentStatus] = {}
        self.refund_status: dict[str, RefundStatus] = {}

    def build_service(self) -> tuple[PaymentService, SandboxGateway, Storage]:
        """Build the service under test; override to run the machine over another storage."""
        return make_service()

    # -- choosing what to act on ---------------------------------------------------------

    @staticmethod
    def _pick(data: st.DataObject, pool: list[str], matching: list[str], what: str) -> str:
        """Mostly an id from ``matching`` (where the rule can succeed), sometimes any id."""
        if matching and data.draw(st.integers(0, 3), label=f"{what} in a fitting state") > 0:
            return data.draw(st.sampled_from(matching), label=what)
        return data.draw(st.sampled_from(pool), label=what)

    def _pick_payment(self, data: st.DataObject, statuses: frozenset[PaymentStatus]) -> str:
        pool = list(self.expected)
        matching = [pid for pid in pool if self.payment_status[pid] in statuses]
        return self._pick(data, pool, matching, "payment")

    def _pick_refund(self, data: st.DataObject, status: RefundStatus) -> str:
        pool = list(self.refund_payment)
        matching = [rid for rid in pool if self.refund_status[rid] is status]
        return self._pick(data, pool, matching, "refund")

    def _some_payment(self, *statuses: PaymentStatus) -> bool:
        """Whether some payment is in one of ``statuses`` (a rule can succeed on it)."""
        return any(status in statuses for status in self.payment_status.values())

    def _some_refund(self, status: RefundStatus) -> bool:
        return any(current is status for current in self.refund_status.values())

    def _some_intent(self, intent: str) -> bool:
        return any(expected.intent == intent for expected in self.expected.values())

    def _refused(self, payment_id: str, error: type[Exception], call: Callable[[], object]) -> None:
        """``call`` must raise ``error`` and leave the payment's status as it was."""
        before = self.service.get_payment(payment_id).status
        with pytest.raises(error):
            call()
        assert self.service.get_payment(payment_id).status is before

    # -- payment methods and payments ----------------------------------------------------

    @initialize(token=st.sampled_from(TOKENS), amount=amounts, capture=st.booleans())
    def first_payment(self, token: str, amount: Money, capture: bool) -> None:
        """Start every run with one card and one pending payment, to reach deeper states."""
        self.add_card(token)
        self._create_payment(self.cards[0], amount, capture)

    @precondition(lambda self: len(self.cards) < MAX_CARDS)
    @rule(token=st.sampled_from(TOKENS))
    def add_card(self, token: str) -> None:
        """Save a sandbox card whose token scripts the sandbox's behaviour."""
        method = self.service.add_payment_method(
            CUSTOMER, type="credit_card", token=token, brand="visa", last4="4242"
        )
        assert method.provider == self.sandbox.name
        self.cards.append((method.id, token))

    @precondition(lambda self: self.cards and len(self.expected) < MAX_PAYMENTS)
    @rule(data=st.data(), amount=amounts, capture=st.booleans())
    def create_payment(self, data: st.DataObject, amount: Money, capture: bool) -> None:
        """Create a pending payment with one of the saved cards."""
        self._create_payment(data.draw(st.sampled_from(self.cards), label="card"), amount, capture)

    def _create_payment(self, card: tuple[str, str], amount: Money, capture: bool) -> None:
        card_id, token = card
        payment = self.service.create_payment(
            customer_id=CUSTOMER,
            order_id=f"ord_{len(self.expected) + 1}",
            payment_method_id=card_id,
            amount=str(amount.amount),
            currency=amount.currency,
            capture=capture,
        )
        assert payment.status is _P.PENDING
        assert payment.amount == amount
        assert payment.captured_amount.is_zero()
        self.expected[payment.id] = Expected(token=token, capture=capture, amount=amount)
        self.payment_status[payment.id] = payment.status

    @precondition(lambda self: self._some_payment(_P.PENDING))
    @rule(data=st.data())
    def process_payment(self, data: st.DataObject) -> None:
        """Process a payment: the token decides the outcome; only a pending one may go."""
        payment_id = self._pick_payment(data, frozenset({_P.PENDING}))
        if self.service.get_payment(payment_id).status is not _P.PENDING:
            # Only pending payments are submitted; a second submission could charge twice.
            self._refused(
                payment_id,
                InvalidStateTransition,
                lambda: self.service.process_payment(payment_id),
            )
            return
        expected = self.expected[payment_id]
        status = expected.charge()
        payment = self.service.process_payment(payment_id)
        assert payment.status is status
        if status is _P.COMPLETED:
            assert payment.captured_amount == payment.amount
        if status is _P.REQUIRES_ACTION:
            assert payment.next_action is not None

    @precondition(lambda self: self._some_payment(_P.AUTHORIZED))
    @rule(data=st.data(), permille=st.integers(0, 1100))
    def capture_payment(self, data: st.DataObject, permille: int) -> None:
        """Capture an authorized payment fully (``permille`` 0) or partly (maybe too much)."""
        payment_id = self._pick_payment(data, frozenset({_P.AUTHORIZED}))
        payment = self.service.get_payment(payment_id)
        amount = None if permille == 0 else fraction_of(payment.amount, permille)

        def capture() -> Payment:
            return self.service.capture_payment(
                payment_id, None if amount is None else str(amount.amount)
            )

        if payment.status is not _P.AUTHORIZED:
            # Only an authorization can be captured.
            self._refused(payment_id, InvalidStateTransition, capture)
            return
        if amount is not None and amount > payment.amount:
            # A capture cannot take more than was authorized.
            self._refused(payment_id, InvalidAmountError, capture)
            return
        captured = capture()
        assert captured.status is _P.COMPLETED
        assert captured.captured_amount == (payment.amount if amount is None else amount)
        self.expected[payment_id].intent = SUCCEEDED

    @precondition(lambda self: self._some_payment(_P.AUTHORIZED, _P.REQUIRES_ACTION))
    @rule(data=st.data(), how=st.sampled_from(["void", "cancel"]))
    def void_or_cancel(self, data: st.DataObject, how: str) -> None:
        """Void an authorization, or cancel a payment that has not taken money."""
        fitting = {_P.AUTHORIZED} if how == "void" else {_P.PENDING, _P.AUTHORIZED}
        payment_id = self._pick_payment(data, frozenset({*fitting, _P.REQUIRES_ACTION}))
        expected = self.expected[payment_id]
        status = self.service.get_payment(payment_id).status
        operation = self.service.void_payment if how == "void" else self.service.cancel_payment

        def call() -> Payment:
            return operation(payment_id)

        if (
            status is _P.REQUIRES_ACTION
            and how == "cancel"
            and expected.intent not in (REQUIRES_ACTION, AUTHORIZED)
        ):
            # The customer already paid or failed 3-D Secure, so the sandbox declines the
            # void, and paykit keeps the payment for reconciliation. (A finished 3-D Secure
            # on an authorize-only payment left a hold, which the sandbox can still void.)
            self._refused(payment_id, PaymentProcessingError, call)
            return
        if status not in fitting and not (status is _P.REQUIRES_ACTION and how == "cancel"):
            # Money taken, final, or in processing: nothing to void or cancel.
            self._refused(payment_id, InvalidStateTransition, call)
            return
        payment = call()
        if expected.intent is not None:
            expected.intent = CANCELLED
        assert payment.status is _P.CANCELLED, f"{how} of a {status} payment left it {payment}"
        assert payment.captured_amount.is_zero()

    # -- the sandbox's side: the customer and the bank -----------------------------------

    @precondition(lambda self: self._some_intent(REQUIRES_ACTION))
    @rule(data=st.data(), succeed=st.booleans())
    def complete_action(self, data: st.DataObject, succeed: bool) -> None:
        """Play the customer finishing (or failing) 3-D Secure in the sandbox."""
        pool = [pid for pid, e in self.expected.items() if e.intent is not None]
        matching = [pid for pid in pool if self.expected[pid].intent == REQUIRES_ACTION]
        payment_id = self._pick(data, pool, matching, "payment")
        expected = self.expected[payment_id]
        provider_id = self.service.get_payment(payment_id).provider_payment_id
        assert provider_id is not None
        if expected.intent != REQUIRES_ACTION:
            # The sandbox only plays 3-D Secure for an intent that waits for it.
            with pytest.raises(GatewayConfigurationError):
                self.sandbox.complete_action(provider_id, succeed=succeed)
            return
        self.sandbox.complete_action(provider_id, succeed=succeed)
        expected.intent = expected.money_taken if succeed else FAILED

    @precondition(lambda self: self._some_intent(PENDING))
    @rule(data=st.data())
    def settle(self, data: st.DataObject) -> None:
        """Play the bank settling a pending (asynchronous) payment in the sandbox."""
        pool = [pid for pid, e in self.expected.items() if e.intent is not None]
        matching = [pid for pid in pool if self.expected[pid].intent == PENDING]
        payment_id = self._pick(data, pool, matching, "payment")
        expected = self.expected[payment_id]
        provider_id = self.service.get_payment(payment_id).provider_payment_id
        assert provider_id is not None
        if expected.intent != PENDING:
            # Only a pending intent can settle.
            with pytest.raises(GatewayConfigurationError):
                self.sandbox.settle(provider_id)
            return
        self.sandbox.settle(provider_id)
        expected.intent = expected.money_taken

    @precondition(lambda self: bool(self.expected))
    @rule(data=st.data())
    def reconcile_payment(self, data: st.DataObject) -> None:
        """Reconcile a payment: one whose truth may differ must take the sandbox's truth."""
        payment_id = self._pick_payment(data, _RECONCILABLE)
        before = self.service.get_payment(payment_id).status
        payment = self.service.reconcile_payment(payment_id)
        assert payment.status is self.service.get_payment(payment_id).status
        if before not in _RECONCILABLE:
            assert payment.status is before
            return
        intent = self.expected[payment_id].intent
        assert intent is not None, "a reconcilable payment must have reached the sandbox"
        assert payment.status is _STATUS_OF_INTENT[intent]

    # -- refunds -------------------------------------------------------------------------

    @precondition(lambda self: self._some_payment(*_REFUNDABLE))
    @rule(data=st.data(), permille=st.integers(-1, 1300))
    def create_refund(self, data: st.DataObject, permille: int) -> None:
        """Refund part of a payment, maybe more than its balance.

        ``permille`` -1 asks for the default (everything refundable), 0 for exactly the
        balance, and otherwise for that share of the captured amount.
        """
        payment_id = self._pick_payment(data, _REFUNDABLE)
        payment = self.service.get_payment(payment_id)
        balance = payment.refundable_amount
        base = payment.amount if payment.captured_amount.is_zero() else payment.captured_amount
        if permille == -1:
            amount = balance
        elif permille == 0:
            amount = base if balance.is_zero() else balance
        else:
            amount = fraction_of(base, permille)

        def refund() -> Refund:
            return self.service.create_refund(
                payment_id, None if permille == -1 else str(amount.amount)
            )

        if payment.status not in _REFUNDABLE:
            # Only a payment that took money can be refunded.
            self._refused(payment_id, PaymentNotRefundableError, refund)
            return
        if amount > balance or amount.is_zero():
            # Completed plus in-flight refunds may never exceed what was captured (and a
            # default refund of a fully reserved payment has nothing left to take).
            self._refused(payment_id, InvalidRefundAmountError, refund)
            return
        created = refund()
        assert created.status is _R.PENDING
        assert created.amount == amount
        self.refund_payment[created.id] = payment_id
        self.refund_status[created.id] = created.status

    @precondition(lambda self: self._some_refund(_R.PENDING))
    @rule(data=st.data())
    def process_refund(self, data: st.DataObject) -> None:
        """Send a pending refund to the sandbox; the payment's token decides the outcome."""
        refund_id = self._pick_refund(data, _R.PENDING)
        payment_id = self.refund_payment[refund_id]
        if self.service.get_refund(refund_id).status is not _R.PENDING:
            # Only a pending refund is sent; sending one twice could pay out twice.
            self._refused(
                payment_id, InvalidStateTransition, lambda: self.service.process_refund(refund_id)
            )
            return
        refund = self.service.process_refund(refund_id)
        assert refund.status is self.expected[payment_id].refund_outcome()

    @precondition(lambda self: self._some_refund(_R.PENDING))
    @rule(data=st.data())
    def cancel_refund(self, data: st.DataObject) -> None:
        """Cancel a pending refund, releasing its reservation."""
        refund_id = self._pick_refund(data, _R.PENDING)
        payment_id = self.refund_payment[refund_id]
        if self.service.get_refund(refund_id).status is not _R.PENDING:
            # A refund that was sent to the provider cannot be taken back.
            self._refused(
                payment_id, InvalidStateTransition, lambda: self.service.cancel_refund(refund_id)
            )
            return
        assert self.service.cancel_refund(refund_id).status is _R.CANCELLED

    @precondition(lambda self: bool(self.refund_payment))
    @rule(data=st.data())
    def reconcile_refund(self, data: st.DataObject) -> None:
        """Reconcile a refund: a processing one takes the sandbox's truth (it refunded)."""
        refund_id = self._pick_refund(data, _R.PROCESSING)
        before = self.service.get_refund(refund_id).status
        refund = self.service.reconcile_refund(refund_id)
        if before is _R.PROCESSING:
            # Only tok_refund_timeout leaves a refund processing, and its money did move.
            assert refund.status is _R.COMPLETED
        else:
            assert refund.status is before

    @precondition(lambda self: bool(self.expected))
    @rule()
    def reconcile_everything(self) -> None:
        """Reconcile all: only a genuinely pending intent may leave a payment in processing."""
        for payment_id in self.expected:
            self.service.reconcile_payment(payment_id)
        for refund_id in self.refund_payment:
            self.service.reconcile_refund(refund_id)
        for payment_id, expected in self.expected.items():
            payment = self.service.get_payment(payment_id)
            if payment.status is _P.PROCESSING:
                assert expected.intent == PENDING
                assert sandbox_outcome(self.sandbox, payment) is GatewayOutcome.PENDING
        for refund_id in self.refund_payment:
            assert self.service.get_refund(refund_id).status is not _R.PROCESSING

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def invariants_hold_for_every_payment(self) -> None:
        """Money, history, audit log and sandbox ledger agree for every payment."""
        for payment_id, expected in self.expected.items():
            payment = self.service.get_payment(payment_id)
            assert payment.amount == expected.amount
            self._check_money(payment)
            self._check_history(payment)
            self._check_ledger(payment)

    def _check_money(self, payment: Payment) -> None:
        refunds = self.service.list_refunds(payment.id)
        assert {r.id for r in refunds} == {
            rid for rid, pid in self.refund_payment.items() if pid == payment.id
        }
        assert payment.captured_amount <= payment.amount
        assert payment.refunded_amount + payment.refund_reserved_amount <= payment.captured_amount
        completed = [r.amount for r in refunds if r.status is _R.COMPLETED]
        in_flight = [r.amount for r in refunds if r.status in (_R.PENDING, _R.PROCESSING)]
        assert payment.refunded_amount == money_sum(payment.currency, completed)
        assert payment.refund_reserved_amount == money_sum(payment.currency, in_flight)
        if payment.status in _MONEY_TAKEN:
            fully = payment.refunded_amount == payment.captured_amount
            assert (payment.status is _P.REFUNDED) == fully
            assert (payment.status is _P.COMPLETED) == payment.refunded_amount.is_zero()
        for refund in refunds:
            _check_moved_forward(self.refund_status, refund.id, refund.status, REFUND_TRANSITIONS)
        settled_refunds = all(r.status is not _R.PROCESSING for r in refunds)
        if settled_refunds:
            ledger_refunded = self.sandbox.refunded_total(payment.id)
            zero = Money.zero(payment.currency)
            assert (ledger_refunded or zero) == payment.refunded_amount

    def _check_history(self, payment: Payment) -> None:
        _check_moved_forward(self.payment_status, payment.id, payment.status, PAYMENT_TRANSITIONS)
        log = self.service.get_transaction_log(payment.id)
        own = [e for e in log if e.refund_id is None]
        check_status_chain(own, _P.PENDING, payment.status, PAYMENT_TRANSITIONS, _P)
        for refund_id in (rid for rid, pid in self.refund_payment.items() if pid == payment.id):
            chain = [e for e in log if e.refund_id == refund_id]
            current = self.refund_status[refund_id]
            check_status_chain(chain, _R.PENDING, current, REFUND_TRANSITIONS, _R)

    def _check_ledger(self, payment: Payment) -> None:
        entries = self.sandbox.ledger_for(payment.id)
        money_in = [e for e in entries if e.kind in (LedgerKind.CHARGE, LedgerKind.CAPTURE)]
        assert len(money_in) <= 1, f"payment {payment.id} was charged twice: {money_in}"
        charged = self.sandbox.charged_total(payment.id)
        if payment.status in _MONEY_TAKEN:
            assert charged == payment.captured_amount, (
                f"{payment.status} payment {payment.id} holds {payment.captured_amount} but "
                f"the sandbox charged {charged}"
            )
        elif payment.status in _NOTHING_CHARGED:
            assert charged is None or charged.is_zero(), (
                f"{payment.status} payment {payment.id}, yet the sandbox charged {charged}"
            )
        refunded = self.sandbox.refunded_total(payment.id)
        if refunded is not None:
            assert charged is not None
            assert refunded <= charged


def _check_moved_forward(
    seen: dict[str, S], record_id: str, status: S, table: Mapping[S, frozenset[S]]
) -> None:
    """Record ``status`` for ``record_id``; it must equal or be reachable from the last one."""
    previous = seen.get(record_id)
    if previous is not None and status != previous:
        assert status in reachable_from(table, previous), (
            f"{record_id} moved backwards: {previous} -> {status}"
        )
    seen[record_id] = status


def check_status_chain(
    entries: list[TransactionLogEntry],
    first: S,
    current: S,
    table: Mapping[S, frozenset[S]],
    parse: Callable[[str], S],
) -> None:
    """The status changes in ``entries`` chain allowed moves from ``first`` to ``current``."""
    moves = [(e.previous_status, e.new_status) for e in entries if e.new_status is not None]
    assert moves, "the creation is logged"
    assert moves[0] == (None, first)
    status = first
    for previous, new in moves[1:]:
        assert previous == status, f"logged move {previous} -> {new} does not start at {status}"
        assert new is not None
        target = parse(new)
        assert target in table[status], f"logged move {status} -> {target} is not allowed"
        status = target
    assert status == current, f"the log ends at {status} but the record is {current}"


LIFECYCLE_SETTINGS: Final = settings(
    max_examples=300, stateful_step_count=50, deadline=None, database=None
)

TestPaymentLifecycle = PaymentLifecycleMachine.TestCase
TestPaymentLifecycle.settings = LIFECYCLE_SETTINGS
TestPaymentLifecycle.__doc__ = "Random payment lifecycles keep every paykit invariant."


def test_final_reconcile_leaves_only_genuinely_pending_payments_in_processing() -> None:
    """After reconciling every payment, only those the sandbox holds as pending stay processing."""
    service, sandbox, _ = make_service()
    payments: dict[tuple[str, bool], Payment] = {}
    for token in TOKENS:
        for capture in (True, False):
            card = service.add_payment_method(CUSTOMER, type="credit_card", token=token)
            created = service.create_payment(
                customer_id=CUSTOMER,
                order_id=f"ord_{token}_{capture}",
                payment_method_id=card.id,
                amount="12.34",
                currency="USD",
                capture=capture,
            )
            payments[token, capture] = service.process_payment(created.id)
    for capture in (True, False):  # the customer passes 3-D Secure on one, fails the other
        provider_id = payments[SandboxToken.THREE_D_SECURE, capture].provider_payment_id
        assert provider_id is not None
        sandbox.complete_action(provider_id, succeed=capture)

    reconciled = {key: service.reconcile_payment(p.id) for key, p in payments.items()}

    processing = {key for key, p in reconciled.items() if p.status is _P.PROCESSING}
    assert processing == {(SandboxToken.PENDING, True), (SandboxToken.PENDING, False)}
    for key in processing:
        assert sandbox_outcome(sandbox, reconciled[key]) is GatewayOutcome.PENDING
    assert reconciled[SandboxToken.TIMEOUT, True].status is _P.COMPLETED
    assert reconciled[SandboxToken.TIMEOUT, False].status is _P.AUTHORIZED
    assert reconciled[SandboxToken.THREE_D_SECURE, True].status is _P.COMPLETED
    assert reconciled[SandboxToken.THREE_D_SECURE, False].status is _P.FAILED
    for key in processing:  # the bank settles; the next reconciliation finishes them
        provider_id = reconciled[key].provider_payment_id
        assert provider_id is not None
        sandbox.settle(provider_id)
        settled = service.reconcile_payment(reconciled[key].id)
        assert settled.status is (_P.COMPLETED if key[1] else _P.AUTHORIZED)
