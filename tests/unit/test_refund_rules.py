"""The refund rules of DESIGN.md section 4, on ``Payment`` alone: reserve, release, settle."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from paykit.domain import Payment, PaymentMethodType, PaymentStatus
from paykit.errors import (
    CurrencyMismatchError,
    InvalidRefundAmountError,
    InvalidStateTransition,
    PaymentNotRefundableError,
)
from paykit.money import Money, from_minor_units

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
T1 = datetime(2025, 1, 2, 4, 0, 0, tzinfo=UTC)

REFUNDABLE = {PaymentStatus.COMPLETED, PaymentStatus.PARTIALLY_REFUNDED}


def usd(amount: str) -> Money:
    """Shorthand for a USD amount."""
    return Money.of(amount, "USD")


def make_payment(
    amount: str = "100.00",
    *,
    currency: str = "USD",
    captured: str | None = None,
    status: PaymentStatus = PaymentStatus.COMPLETED,
) -> Payment:
    """Build a payment with ``captured`` (default: all of ``amount``) and nothing refunded."""
    return Payment(
        id="pay_1",
        customer_id="cus_1",
        order_id="ord_1",
        payment_method_id="pm_1",
        payment_method_type=PaymentMethodType.CREDIT_CARD,
        provider="sandbox",
        amount=Money.of(amount, currency),
        status=status,
        captured_amount=Money.of(amount if captured is None else captured, currency),
        refunded_amount=Money.zero(currency),
        refund_reserved_amount=Money.zero(currency),
        created_at=T0,
        updated_at=T0,
    )


def status_of(payment: Payment) -> PaymentStatus:
    """Read the status through a call, so the type checker does not pin it between steps."""
    return payment.status


# --------------------------------------------------------------------------- who can be refunded


@pytest.mark.parametrize("status", sorted(set(PaymentStatus) - REFUNDABLE))
def test_only_completed_payments_can_be_refunded(status: PaymentStatus) -> None:
    """Every status but completed/partially_refunded raises ``PaymentNotRefundableError``."""
    payment = make_payment(status=status)
    before = attrs.asdict(payment)
    with pytest.raises(PaymentNotRefundableError) as info:
        payment.reserve_refund(usd("1.00"))
    assert isinstance(info.value, InvalidStateTransition)
    assert info.value.code == "payment_not_refundable"
    assert info.value.current == str(status)
    assert attrs.asdict(payment) == before


@pytest.mark.parametrize("status", sorted(REFUNDABLE))
def test_completed_and_partially_refunded_can_be_refunded(status: PaymentStatus) -> None:
    """A completed or partially refunded payment accepts a refund within its balance."""
    payment = make_payment(status=status)
    payment.reserve_refund(usd("1.00"))
    assert payment.refund_reserved_amount == usd("1.00")
    assert payment.refundable_amount == usd("99.00")


# --------------------------------------------------------------------------- amount checks


def test_refund_in_another_currency_is_refused() -> None:
    """A EUR refund of a USD payment raises ``CurrencyMismatchError`` and changes nothing."""
    payment = make_payment()
    before = attrs.asdict(payment)
    with pytest.raises(CurrencyMismatchError) as info:
        payment.reserve_refund(Money.of("1.00", "EUR"))
    assert info.value.field == "amount"
    assert attrs.asdict(payment) == before


def test_zero_refund_is_refused() -> None:
    """A refund of zero raises ``InvalidRefundAmountError`` and changes nothing."""
    payment = make_payment()
    before = attrs.asdict(payment)
    with pytest.raises(InvalidRefundAmountError) as info:
        payment.reserve_refund(usd("0"))
    assert info.value.code == "invalid_refund_amount"
    assert info.value.field == "amount"
    assert attrs.asdict(payment) == before


def test_refund_above_balance_is_refused_and_names_the_balance() -> None:
    """Asking for more than the balance is refused, and the message states the balance."""
    payment = make_payment()
    payment.reserve_refund(usd("30.00"))
    before = attrs.asdict(payment)
    with pytest.raises(InvalidRefundAmountError) as info:
        payment.reserve_refund(usd("70.01"))
    assert "balance of 70.00 USD" in str(info.value)
    assert attrs.asdict(payment) == before


def test_refund_of_exactly_the_balance_is_accepted() -> None:
    """The whole remaining balance can be refunded, leaving zero refundable."""
    payment = make_payment()
    payment.reserve_refund(usd("100.00"))
    assert payment.refundable_amount == usd("0.00")
    assert payment.refundable_amount.is_zero()


def test_in_flight_refunds_count_against_the_balance() -> None:
    """Two pending refunds can never together exceed the payment."""
    payment = make_payment()
    payment.reserve_refund(usd("60.00"))
    with pytest.raises(InvalidRefundAmountError):
        payment.reserve_refund(usd("60.00"))
    payment.reserve_refund(usd("40.00"))
    with pytest.raises(InvalidRefundAmountError):
        payment.reserve_refund(usd("0.01"))
    assert payment.refund_reserved_amount == usd("100.00")
    assert payment.refunded_amount == usd("0")


def test_release_gives_the_amount_back() -> None:
    """Releasing a failed or cancelled refund makes its amount refundable again."""
    payment = make_payment()
    payment.reserve_refund(usd("60.00"))
    payment.reserve_refund(usd("40.00"))
    payment.release_refund(usd("60.00"))
    assert payment.refund_reserved_amount == usd("40.00")
    assert payment.refundable_amount == usd("60.00")
    payment.reserve_refund(usd("60.00"))
    assert payment.refundable_amount.is_zero()
    assert payment.status is PaymentStatus.COMPLETED


# --------------------------------------------------------------------------- settling


def test_settle_moves_completed_to_partially_refunded_to_refunded() -> None:
    """Settling returns the new status when it moves and ``None`` when it stays put."""
    payment = make_payment()

    payment.reserve_refund(usd("30.00"))
    assert payment.settle_refund(usd("30.00"), T1) is PaymentStatus.PARTIALLY_REFUNDED
    assert status_of(payment) is PaymentStatus.PARTIALLY_REFUNDED
    assert payment.refunded_amount == usd("30.00")
    assert payment.refund_reserved_amount.is_zero()

    payment.reserve_refund(usd("20.00"))
    assert payment.settle_refund(usd("20.00"), T1) is None
    assert status_of(payment) is PaymentStatus.PARTIALLY_REFUNDED
    assert payment.refunded_amount == usd("50.00")

    payment.reserve_refund(usd("50.00"))
    assert payment.settle_refund(usd("50.00"), T1) is PaymentStatus.REFUNDED
    assert status_of(payment) is PaymentStatus.REFUNDED
    assert payment.refunded_amount == usd("100.00")
    assert payment.refundable_amount.is_zero()

    with pytest.raises(PaymentNotRefundableError):
        payment.reserve_refund(usd("0.01"))


def test_full_refund_goes_straight_to_refunded() -> None:
    """One refund of the whole payment moves completed directly to refunded."""
    payment = make_payment("500", currency="JPY")
    payment.reserve_refund(Money.of(500, "JPY"))
    assert payment.settle_refund(Money.of(500, "JPY"), T1) is PaymentStatus.REFUNDED
    assert payment.updated_at == T1


def test_settle_keeps_other_reservations() -> None:
    """Settling one refund leaves the other in-flight refunds reserved."""
    payment = make_payment()
    payment.reserve_refund(usd("10.00"))
    payment.reserve_refund(usd("25.00"))
    payment.settle_refund(usd("10.00"), T1)
    assert payment.refund_reserved_amount == usd("25.00")
    assert payment.refunded_amount == usd("10.00")
    assert payment.refundable_amount == usd("65.00")


def test_partial_capture_bounds_refunds_by_captured() -> None:
    """With 60 of 100 captured, at most 60 can be refunded, and 60 refunded is ``refunded``."""
    payment = make_payment("100.00", captured="60.00")
    assert payment.refundable_amount == usd("60.00")
    with pytest.raises(InvalidRefundAmountError) as info:
        payment.reserve_refund(usd("60.01"))
    assert "60.00 USD" in str(info.value)
    payment.reserve_refund(usd("60.00"))
    assert payment.settle_refund(usd("60.00"), T1) is PaymentStatus.REFUNDED


# --------------------------------------------------------------------------- property

STATUS_RANK = {
    PaymentStatus.COMPLETED: 0,
    PaymentStatus.PARTIALLY_REFUNDED: 1,
    PaymentStatus.REFUNDED: 2,
}


class RefundLedger(RuleBasedStateMachine):
    """Random reserve/release/settle sequences against a simple model of the ledger."""

    def __init__(self) -> None:
        super().__init__()
        self.payment = make_payment()
        self.currency = self.payment.currency
        self.captured_units = self.payment.captured_amount.minor_units
        self.in_flight: list[Money] = []
        self.settled_units = 0
        self.last_refunded = self.payment.refunded_amount
        self.last_rank = 0

    @initialize(
        currency=st.sampled_from(["USD", "JPY", "KWD"]),
        amount_units=st.integers(min_value=1, max_value=100_000),
        uncaptured_units=st.integers(min_value=0, max_value=100_000),
    )
    def start(self, currency: str, amount_units: int, uncaptured_units: int) -> None:
        """Start from a completed payment, possibly only partly captured."""
        captured_units = amount_units - min(uncaptured_units, amount_units - 1)
        self.currency = currency
        self.captured_units = captured_units
        self.payment = attrs.evolve(
            make_payment("1", currency=currency),
            amount=from_minor_units(amount_units, currency),
            captured_amount=from_minor_units(captured_units, currency),
        )
        self.last_refunded = self.payment.refunded_amount

    def _balance_units(self) -> int:
        reserved = sum(m.minor_units for m in self.in_flight)
        return self.captured_units - self.settled_units - reserved

    def _try_reserve(self, units: int) -> None:
        amount = from_minor_units(units, self.currency)
        before = attrs.asdict(self.payment)
        refundable = self.payment.status in REFUNDABLE
        expect_ok = refundable and 0 < units <= self._balance_units()
        try:
            self.payment.reserve_refund(amount)
        except PaymentNotRefundableError:
            assert not refundable
            assert attrs.asdict(self.payment) == before
        except InvalidRefundAmountError:
            assert refundable
            assert not expect_ok
            assert attrs.asdict(self.payment) == before
        else:
            assert expect_ok
            self.in_flight.append(amount)

    @rule(units=st.integers(min_value=0, max_value=120_000))
    def reserve(self, units: int) -> None:
        """Reserve a random amount; it succeeds exactly when the model says it fits."""
        self._try_reserve(units)

    @rule()
    def reserve_the_rest(self) -> None:
        """Reserve exactly the remaining balance (so full refunds are reached often)."""
        self._try_reserve(self._balance_units())

    @precondition(lambda self: bool(self.in_flight))
    @rule(pick=st.integers(min_value=0, max_value=1_000))
    def release(self, pick: int) -> None:
        """Release one in-flight refund (it failed or was cancelled)."""
        amount = self.in_flight.pop(pick % len(self.in_flight))
        status = self.payment.status
        self.payment.release_refund(amount)
        assert self.payment.status is status

    @precondition(lambda self: bool(self.in_flight))
    @rule(pick=st.integers(min_value=0, max_value=1_000))
    def settle(self, pick: int) -> None:
        """Settle one in-flight refund; the return value reports a status change or ``None``."""
        amount = self.in_flight.pop(pick % len(self.in_flight))
        old_status = self.payment.status
        self.settled_units += amount.minor_units
        expected = (
            PaymentStatus.REFUNDED
            if self.settled_units == self.captured_units
            else PaymentStatus.PARTIALLY_REFUNDED
        )
        result = self.payment.settle_refund(amount, T1)
        assert self.payment.status is expected
        assert result == (None if expected == old_status else expected)

    @invariant()
    def never_over_refunded(self) -> None:
        """Refunded plus reserved never exceeds what was captured."""
        payment = self.payment
        assert payment.refunded_amount + payment.refund_reserved_amount <= payment.captured_amount

    @invariant()
    def matches_the_model(self) -> None:
        """Reserved and refunded equal the model's in-flight and settled sums."""
        assert self.payment.refund_reserved_amount.minor_units == sum(
            m.minor_units for m in self.in_flight
        )
        assert self.payment.refunded_amount.minor_units == self.settled_units
        assert self.payment.refundable_amount.minor_units == self._balance_units()

    @invariant()
    def only_moves_forward(self) -> None:
        """The refunded sum never decreases and the status never moves backwards."""
        assert self.payment.refunded_amount >= self.last_refunded
        rank = STATUS_RANK[self.payment.status]
        assert rank >= self.last_rank
        self.last_refunded = self.payment.refunded_amount
        self.last_rank = rank


TestRefundLedger = RefundLedger.TestCase


# --------------------------------------------------------------------------- the payment's sums


@pytest.mark.parametrize(
    ("refunded", "reserved", "charged_back", "returned", "committed", "unreturned", "refundable"),
    [
        ("0.00", "0.00", "0.00", "0.00", "0.00", "100.00", "100.00"),
        ("30.00", "20.00", "0.00", "30.00", "50.00", "70.00", "50.00"),
        ("30.00", "0.00", "40.00", "70.00", "70.00", "30.00", "30.00"),
        ("60.00", "10.00", "100.00", "160.00", "170.00", "0.00", "0.00"),
    ],
)
def test_the_payments_sums_of_money_going_back(  # noqa: PLR0913, PLR0917 - a column a sum
    refunded: str,
    reserved: str,
    charged_back: str,
    returned: str,
    committed: str,
    unreturned: str,
    refundable: str,
) -> None:
    """Returned, committed, unreturned and refundable add up as documented, never below zero."""
    payment = attrs.evolve(
        make_payment(),
        refunded_amount=Money.of(refunded, "USD"),
        refund_reserved_amount=Money.of(reserved, "USD"),
        chargeback_amount=Money.of(charged_back, "USD"),
    )

    assert payment.returned_amount == Money.of(returned, "USD")
    assert payment.committed_return_amount == Money.of(committed, "USD")
    assert payment.unreturned_amount == Money.of(unreturned, "USD")
    assert payment.refundable_amount == Money.of(refundable, "USD")
