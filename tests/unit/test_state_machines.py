"""The payment and refund state machines (DESIGN.md section 3), checked pair by pair."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from graphlib import CycleError, TopologicalSorter
from typing import Any

import attrs
import pytest

from paykit.domain import (
    PAYMENT_TRANSITIONS,
    REFUND_TRANSITIONS,
    Payment,
    PaymentMethodType,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from paykit.errors import InvalidStateTransition
from paykit.money import Money

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
T1 = datetime(2025, 1, 2, 4, 0, 0, tzinfo=UTC)

# Written out from DESIGN.md section 3, plus the one documented extra edge
# ``requires_action -> authorized`` (3-D Secure finished on an authorize-only payment).
# Plain strings, so this test does not lean on the implementation's own table.
EXPECTED_PAYMENT_TRANSITIONS: dict[str, set[str]] = {
    "pending": {"processing", "cancelled"},
    "processing": {"completed", "failed", "requires_action", "authorized"},
    "requires_action": {"processing", "completed", "failed", "cancelled", "authorized"},
    "authorized": {"completed", "cancelled"},
    "completed": {"partially_refunded", "refunded"},
    "partially_refunded": {"refunded"},
    "refunded": set(),
    "failed": set(),
    "cancelled": set(),
}

EXPECTED_REFUND_TRANSITIONS: dict[str, set[str]] = {
    "pending": {"processing", "cancelled"},
    "processing": {"completed", "failed"},
    "completed": set(),
    "failed": set(),
    "cancelled": set(),
}

PAYMENT_FINAL = {"refunded", "failed", "cancelled"}
REFUND_FINAL = {"completed", "failed", "cancelled"}

# The one loop DESIGN.md draws on purpose: a payment sent back to the customer for
# 3-D Secure (processing -> requires_action) returns to processing once they finish.
THREE_DS_LOOP = ("processing", "requires_action")


def _as_strings(table: Any) -> dict[str, set[str]]:
    return {str(k): {str(v) for v in targets} for k, targets in table.items()}


def make_payment(status: PaymentStatus) -> Payment:
    """Build a payment in ``status`` with every required field set to a fixed value."""
    return Payment(
        id="pay_1",
        customer_id="cus_1",
        order_id="ord_1",
        payment_method_id="pm_1",
        payment_method_type=PaymentMethodType.CREDIT_CARD,
        provider="sandbox",
        amount=Money.of("100.00", "USD"),
        status=status,
        captured_amount=Money.of("100.00", "USD"),
        refunded_amount=Money.zero("USD"),
        refund_reserved_amount=Money.zero("USD"),
        metadata={"k": "v"},
        created_at=T0,
        updated_at=T0,
    )


def make_refund(status: RefundStatus) -> Refund:
    """Build a refund in ``status`` with every required field set to a fixed value."""
    return Refund(
        id="re_1",
        payment_id="pay_1",
        amount=Money.of("10.00", "USD"),
        status=status,
        metadata={"k": "v"},
        created_at=T0,
        updated_at=T0,
    )


# --------------------------------------------------------------------------- the tables


def test_payment_table_matches_design() -> None:
    """The payment transition table is exactly DESIGN.md's drawing plus the documented edge."""
    assert {str(s) for s in PaymentStatus} == set(EXPECTED_PAYMENT_TRANSITIONS)
    assert _as_strings(PAYMENT_TRANSITIONS) == EXPECTED_PAYMENT_TRANSITIONS


def test_refund_table_matches_design() -> None:
    """The refund transition table is exactly DESIGN.md's drawing."""
    assert {str(s) for s in RefundStatus} == set(EXPECTED_REFUND_TRANSITIONS)
    assert _as_strings(REFUND_TRANSITIONS) == EXPECTED_REFUND_TRANSITIONS


# --------------------------------------------------------------------------- every pair

PAYMENT_PAIRS = list(itertools.product(PaymentStatus, PaymentStatus))
REFUND_PAIRS = list(itertools.product(RefundStatus, RefundStatus))


@pytest.mark.parametrize(
    ("current", "target"), PAYMENT_PAIRS, ids=[f"{a}->{b}" for a, b in PAYMENT_PAIRS]
)
def test_every_payment_pair(current: PaymentStatus, target: PaymentStatus) -> None:
    """An allowed payment move changes the status; a forbidden one raises and changes nothing."""
    payment = make_payment(current)
    before = attrs.asdict(payment)
    if str(target) in EXPECTED_PAYMENT_TRANSITIONS[str(current)]:
        payment.transition_to(target, T1)
        assert payment.status is target
        assert payment.updated_at == T1
        after = attrs.asdict(payment)
        changed = {key for key in before if before[key] != after[key]}
        assert changed <= {"status", "updated_at", "completed_at"}
    else:
        with pytest.raises(InvalidStateTransition) as info:
            payment.transition_to(target, T1)
        assert type(info.value) is InvalidStateTransition
        assert info.value.code == "invalid_state_transition"
        assert info.value.current == str(current)
        assert info.value.requested == str(target)
        assert attrs.asdict(payment) == before


@pytest.mark.parametrize(
    ("current", "target"), REFUND_PAIRS, ids=[f"{a}->{b}" for a, b in REFUND_PAIRS]
)
def test_every_refund_pair(current: RefundStatus, target: RefundStatus) -> None:
    """An allowed refund move changes the status; a forbidden one raises and changes nothing."""
    refund = make_refund(current)
    before = attrs.asdict(refund)
    if str(target) in EXPECTED_REFUND_TRANSITIONS[str(current)]:
        refund.transition_to(target, T1)
        assert refund.status is target
        assert refund.updated_at == T1
        after = attrs.asdict(refund)
        changed = {key for key in before if before[key] != after[key]}
        assert changed <= {"status", "updated_at", "completed_at"}
    else:
        with pytest.raises(InvalidStateTransition) as info:
            refund.transition_to(target, T1)
        assert type(info.value) is InvalidStateTransition
        assert info.value.code == "invalid_state_transition"
        assert info.value.current == str(current)
        assert info.value.requested == str(target)
        assert attrs.asdict(refund) == before


@pytest.mark.parametrize("target", ["completed", "failed", "cancelled"])
def test_payment_outcome_records_completed_at(target: str) -> None:
    """Reaching an outcome (completed, failed, cancelled) stamps ``completed_at``."""
    payment = make_payment(PaymentStatus.REQUIRES_ACTION)
    payment.transition_to(PaymentStatus(target), T1)
    assert payment.completed_at == T1


@pytest.mark.parametrize("target", sorted(REFUND_FINAL))
def test_refund_outcome_records_completed_at(target: str) -> None:
    """A refund that reaches a final state has ``completed_at`` stamped."""
    refund = make_refund(RefundStatus.PENDING if target == "cancelled" else RefundStatus.PROCESSING)
    refund.transition_to(RefundStatus(target), T1)
    assert refund.completed_at == T1


# --------------------------------------------------------------------------- final states


@pytest.mark.parametrize("status", sorted(PAYMENT_FINAL))
def test_final_payment_states_have_no_way_out(status: str) -> None:
    """A refunded, failed or cancelled payment cannot move anywhere."""
    assert PAYMENT_TRANSITIONS[PaymentStatus(status)] == frozenset()
    payment = make_payment(PaymentStatus(status))
    for target in PaymentStatus:
        with pytest.raises(InvalidStateTransition):
            payment.transition_to(target, T1)
    assert payment.status == status


@pytest.mark.parametrize("status", sorted(REFUND_FINAL))
def test_final_refund_states_have_no_way_out(status: str) -> None:
    """A completed, failed or cancelled refund cannot move anywhere."""
    assert REFUND_TRANSITIONS[RefundStatus(status)] == frozenset()
    refund = make_refund(RefundStatus(status))
    for target in RefundStatus:
        with pytest.raises(InvalidStateTransition):
            refund.transition_to(target, T1)
    assert refund.status == status


# --------------------------------------------------------------------------- no cycles


def _reachable(table: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    frontier = [start]
    while frontier:
        for nxt in table[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return seen


def _topological_order(table: dict[str, set[str]]) -> list[str]:
    # TopologicalSorter takes predecessors; feed it the reversed edges.
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for source, targets in table.items():
        sorter.add(source)
        for target in targets:
            sorter.add(target, source)
    return list(sorter.static_order())


def test_refund_graph_is_acyclic() -> None:
    """No refund state can ever be reached again once left."""
    table = _as_strings(REFUND_TRANSITIONS)
    order = _topological_order(table)
    assert set(order) == set(table)
    for state in table:
        assert state not in _reachable(table, state)


def test_payment_graph_only_cycle_is_the_3ds_loop() -> None:
    """The only payment cycle is processing <-> requires_action; without it the graph is a DAG."""
    table = _as_strings(PAYMENT_TRANSITIONS)
    with pytest.raises(CycleError) as info:
        _topological_order(table)
    assert set(info.value.args[1]) == set(THREE_DS_LOOP)

    self_reaching = {state for state in table if state in _reachable(table, state)}
    assert self_reaching == set(THREE_DS_LOOP)

    without_loop = {k: set(v) for k, v in table.items()}
    without_loop["requires_action"].discard("processing")
    order = _topological_order(without_loop)
    position = {state: index for index, state in enumerate(order)}
    for source, targets in without_loop.items():
        for target in targets:
            assert position[source] < position[target]


@pytest.mark.parametrize(
    "state", ["authorized", "completed", "partially_refunded", "refunded", "failed", "cancelled"]
)
def test_payment_never_moves_back_once_past_processing(state: str) -> None:
    """Once authorized or decided, a payment can never return to pending, processing or itself."""
    reachable = _reachable(_as_strings(PAYMENT_TRANSITIONS), state)
    assert state not in reachable
    assert not reachable & {"pending", "processing", "requires_action"}
