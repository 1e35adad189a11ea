"""PaymentService: refunds, their reservations against the balance, and reconciliation."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from paykit import (
    IdempotencyConflict,
    InMemoryStorage,
    InvalidAmountError,
    InvalidRefundAmountError,
    InvalidStateTransition,
    LogType,
    Money,
    Payment,
    PaymentMethod,
    PaymentNotRefundableError,
    PaymentService,
    PaymentStatus,
    RefundStatus,
    SandboxGateway,
    SandboxToken,
)
from paykit.gateways import LedgerKind

MakeCard = Callable[..., PaymentMethod]
PayWith = Callable[..., Payment]

_P = PaymentStatus
_R = RefundStatus


def _usd(amount: str) -> Money:
    return Money.of(amount, "USD")


def _refund_ledger(sandbox: SandboxGateway, payment_id: str) -> list[Money]:
    return [e.amount for e in sandbox.ledger_for(payment_id) if e.kind is LedgerKind.REFUND]


def test_full_refund_refunds_the_balance(
    service: PaymentService, sandbox: SandboxGateway, paid: PayWith
) -> None:
    """A refund without an amount refunds everything captured and marks the payment refunded."""
    payment = paid("100.00")

    refund = service.create_refund(payment.id, reason="customer request")
    assert refund.status is _R.PENDING
    assert refund.amount == _usd("100.00")
    done = service.process_refund(refund.id)

    assert done.status is _R.COMPLETED
    assert done.provider_refund_id is not None
    stored = service.get_payment(payment.id)
    assert stored.status is _P.REFUNDED
    assert stored.refunded_amount == _usd("100.00")
    assert stored.refund_reserved_amount.is_zero()
    assert stored.refundable_amount.is_zero()
    assert _refund_ledger(sandbox, payment.id) == [_usd("100.00")]


def test_two_partial_refunds_reach_refunded_at_the_exact_total(
    service: PaymentService, sandbox: SandboxGateway, paid: PayWith
) -> None:
    """A first partial refund leaves the payment partially refunded; the rest refunds it."""
    payment = paid("100.00")

    service.process_refund(service.create_refund(payment.id, "30.00").id)
    middle = service.get_payment(payment.id)
    assert middle.status is _P.PARTIALLY_REFUNDED
    assert middle.refunded_amount == _usd("30.00")
    assert middle.refundable_amount == _usd("70.00")

    service.process_refund(service.create_refund(payment.id, "70.00").id)
    final = service.get_payment(payment.id)
    assert final.status is _P.REFUNDED
    assert final.refunded_amount == _usd("100.00")
    assert _refund_ledger(sandbox, payment.id) == [_usd("30.00"), _usd("70.00")]
    assert [r.status for r in service.list_refunds(payment.id)] == [_R.COMPLETED, _R.COMPLETED]


def test_refund_above_balance_writes_nothing(
    service: PaymentService, storage: InMemoryStorage, paid: PayWith
) -> None:
    """A refund above the refundable balance is refused and leaves storage and log untouched."""
    payment = paid("100.00")
    service.process_refund(service.create_refund(payment.id, "40.00").id)
    log_length = len(service.get_transaction_log(payment.id))
    commits = storage.commits
    before = service.get_payment(payment.id)

    with pytest.raises(InvalidRefundAmountError) as caught:
        service.create_refund(payment.id, "60.01")

    assert caught.value.field == "amount"
    assert caught.value.code == "invalid_refund_amount"
    assert len(service.get_transaction_log(payment.id)) == log_length
    assert storage.commits == commits
    assert service.get_payment(payment.id) == before
    assert len(service.list_refunds(payment.id)) == 1


def test_pending_refunds_reserve_the_balance(
    service: PaymentService, storage: InMemoryStorage, paid: PayWith
) -> None:
    """Two pending refunds of 60 on a 100 payment: the second is refused by the reservation."""
    payment = paid("100.00")
    first = service.create_refund(payment.id, "60.00")
    assert service.get_payment(payment.id).refund_reserved_amount == _usd("60.00")
    commits = storage.commits

    with pytest.raises(InvalidRefundAmountError):
        service.create_refund(payment.id, "60.00")

    assert storage.commits == commits
    assert [r.id for r in service.list_refunds(payment.id)] == [first.id]
    assert service.get_payment(payment.id).refundable_amount == _usd("40.00")


def test_processing_refunds_also_reserve(service: PaymentService, paid: PayWith) -> None:
    """A refund whose outcome is unknown keeps its reservation until reconciled."""
    payment = paid("100.00", token=SandboxToken.REFUND_TIMEOUT)
    service.process_refund(service.create_refund(payment.id, "60.00").id)

    with pytest.raises(InvalidRefundAmountError):
        service.create_refund(payment.id, "60.00")

    assert service.get_payment(payment.id).refundable_amount == _usd("40.00")


def test_cancel_refund_releases_the_reservation(
    service: PaymentService, sandbox: SandboxGateway, paid: PayWith
) -> None:
    """Cancelling a pending refund frees its amount for another refund and moves no money."""
    payment = paid("100.00")
    first = service.create_refund(payment.id, "60.00")

    cancelled = service.cancel_refund(first.id)

    assert cancelled.status is _R.CANCELLED
    assert service.get_refund(first.id).status is _R.CANCELLED
    stored = service.get_payment(payment.id)
    assert stored.refund_reserved_amount.is_zero()
    assert stored.status is _P.COMPLETED
    second = service.create_refund(payment.id, "100.00")
    assert second.amount == _usd("100.00")
    assert _refund_ledger(sandbox, payment.id) == []
    with pytest.raises(InvalidStateTransition):
        service.process_refund(first.id)


def test_cancel_of_processed_refund_is_refused(service: PaymentService, paid: PayWith) -> None:
    """A completed refund cannot be cancelled and the payment's balance stays as it is."""
    payment = paid("100.00")
    refund = service.process_refund(service.create_refund(payment.id, "10.00").id)

    with pytest.raises(InvalidStateTransition):
        service.cancel_refund(refund.id)

    stored = service.get_payment(payment.id)
    assert stored.refunded_amount == _usd("10.00")
    assert stored.refund_reserved_amount.is_zero()


@pytest.mark.parametrize(
    ("token", "cancel"),
    [(SandboxToken.SUCCESS, False), (SandboxToken.DECLINE, False), (SandboxToken.SUCCESS, True)],
    ids=["pending", "failed", "cancelled"],
)
def test_refund_of_unsettled_payment_is_refused(
    service: PaymentService,
    storage: InMemoryStorage,
    make_card: MakeCard,
    token: str,
    cancel: bool,
) -> None:
    """A payment that is pending, failed or cancelled cannot be refunded; nothing is written."""
    payment = service.create_payment(
        customer_id="cus_1",
        order_id="ord_1",
        payment_method_id=make_card(token=token).id,
        amount="100.00",
        currency="USD",
    )
    if token == SandboxToken.DECLINE:
        service.process_payment(payment.id)
    if cancel:
        service.cancel_payment(payment.id)
    commits = storage.commits

    for amount in (None, "10.00"):
        with pytest.raises(PaymentNotRefundableError) as caught:
            service.create_refund(payment.id, amount)
        assert caught.value.code == "payment_not_refundable"

    assert storage.commits == commits
    assert storage.refunds == {}


def test_refund_of_fully_refunded_payment_is_refused(
    service: PaymentService, paid: PayWith
) -> None:
    """Once everything is refunded, another refund is refused."""
    payment = paid("20.00")
    service.process_refund(service.create_refund(payment.id).id)

    with pytest.raises(PaymentNotRefundableError):
        service.create_refund(payment.id)
    with pytest.raises(PaymentNotRefundableError):
        service.create_refund(payment.id, "1.00")


def test_declined_refund_fails_and_releases(
    service: PaymentService, sandbox: SandboxGateway, paid: PayWith
) -> None:
    """A refund the provider declines fails, frees its reservation and moves no money."""
    payment = paid("100.00", token=SandboxToken.REFUND_FAIL)
    refund = service.create_refund(payment.id, "25.00")

    result = service.process_refund(refund.id)

    assert result.status is _R.FAILED
    stored_refund = service.get_refund(refund.id)
    assert stored_refund.status is _R.FAILED
    assert stored_refund.failure_code == "refund_failed"
    assert stored_refund.failure_message
    stored = service.get_payment(payment.id)
    assert stored.status is _P.COMPLETED
    assert stored.refund_reserved_amount.is_zero()
    assert stored.refunded_amount.is_zero()
    assert stored.refundable_amount == _usd("100.00")
    assert _refund_ledger(sandbox, payment.id) == []
    log = service.get_transaction_log(payment.id)
    assert log[-1].log_type is LogType.REFUND_FAILED
    assert log[-1].refund_id == refund.id


def test_refund_timeout_reconciles_to_one_refund(
    service: PaymentService, sandbox: SandboxGateway, paid: PayWith
) -> None:
    """A refund whose answer is lost stays processing; reconciling completes it, refunded once."""
    payment = paid("100.00", token=SandboxToken.REFUND_TIMEOUT)
    refund = service.create_refund(payment.id, "40.00")

    result = service.process_refund(refund.id)

    assert result.status is _R.PROCESSING
    assert service.get_refund(refund.id).status is _R.PROCESSING
    assert service.get_payment(payment.id).refund_reserved_amount == _usd("40.00")
    assert LogType.OUTCOME_UNKNOWN in [e.log_type for e in service.get_transaction_log(payment.id)]
    with pytest.raises(InvalidStateTransition):
        service.process_refund(refund.id)

    reconciled = service.reconcile_refund(refund.id)

    assert reconciled.status is _R.COMPLETED
    stored = service.get_payment(payment.id)
    assert stored.status is _P.PARTIALLY_REFUNDED
    assert stored.refunded_amount == _usd("40.00")
    assert stored.refund_reserved_amount.is_zero()
    assert _refund_ledger(sandbox, payment.id) == [_usd("40.00")]
    assert sandbox.refunded_total(payment.id) == _usd("40.00")


def test_reconciling_a_settled_refund_does_not_ask_the_provider(
    service: PaymentService, sandbox: SandboxGateway, paid: PayWith
) -> None:
    """Reconciling a completed refund returns it as is without a gateway call."""
    payment = paid()
    refund = service.process_refund(service.create_refund(payment.id, "5.00").id)
    calls = list(sandbox.calls)

    assert service.reconcile_refund(refund.id).status is _R.COMPLETED
    assert sandbox.calls == calls


def test_refund_idempotency_key(
    service: PaymentService, storage: InMemoryStorage, paid: PayWith
) -> None:
    """The same key returns the same refund; the same key with another amount conflicts."""
    payment = paid("100.00")
    first = service.create_refund(payment.id, "10.00", idempotency_key="rf-1")

    again = service.create_refund(payment.id, "10.00", idempotency_key="rf-1")
    assert again.id == first.id
    with pytest.raises(IdempotencyConflict):
        service.create_refund(payment.id, "11.00", idempotency_key="rf-1")
    with pytest.raises(IdempotencyConflict):
        service.create_refund(payment.id, "10.00", reason="other", idempotency_key="rf-1")

    assert [r.id for r in service.list_refunds(payment.id)] == [first.id]
    assert service.get_payment(payment.id).refund_reserved_amount == _usd("10.00")
    assert len(storage.refunds) == 1


def test_refund_idempotency_key_replays_after_completion(
    service: PaymentService, sandbox: SandboxGateway, paid: PayWith
) -> None:
    """Retrying a completed refund's key returns it without refunding again."""
    payment = paid("100.00")
    first = service.create_refund(payment.id, "10.00", idempotency_key="rf-1")
    service.process_refund(first.id)

    again = service.create_refund(payment.id, "10.00", idempotency_key="rf-1")

    assert again.id == first.id
    assert again.status is _R.COMPLETED
    assert _refund_ledger(sandbox, payment.id) == [_usd("10.00")]


def test_processing_a_completed_refund_again_is_refused(
    service: PaymentService, sandbox: SandboxGateway, paid: PayWith
) -> None:
    """A completed refund cannot be processed again, and no second refund reaches the provider."""
    payment = paid("100.00")
    refund = service.process_refund(service.create_refund(payment.id, "10.00").id)

    with pytest.raises(InvalidStateTransition) as caught:
        service.process_refund(refund.id)

    assert caught.value.current == "completed"
    assert service.get_refund(refund.id).attempt_count == 1
    assert sandbox.calls.count("refund") == 1
    assert _refund_ledger(sandbox, payment.id) == [_usd("10.00")]


@pytest.mark.parametrize(
    ("charged", "currency", "refunded", "minor_units"),
    [("5000", "JPY", "1234", 1234), ("10.500", "KWD", "1.234", 1234), ("10", "KWD", "0.005", 5)],
)
def test_refund_in_other_exponents(  # noqa: PLR0913, PLR0917 - fixtures and table
    service: PaymentService,
    sandbox: SandboxGateway,
    paid: PayWith,
    charged: str,
    currency: str,
    refunded: str,
    minor_units: int,
) -> None:
    """Refunds in zero- and three-decimal currencies keep their exact minor units."""
    payment = paid(charged, currency)

    refund = service.process_refund(service.create_refund(payment.id, refunded).id)

    assert refund.status is _R.COMPLETED
    assert refund.amount == Money.of(refunded, currency)
    assert refund.amount.minor_units == minor_units
    stored = service.get_payment(payment.id)
    assert stored.refunded_amount == Money.of(refunded, currency)
    assert stored.refundable_amount == Money.of(charged, currency) - Money.of(refunded, currency)
    assert _refund_ledger(sandbox, payment.id) == [Money.of(refunded, currency)]


@pytest.mark.parametrize(
    ("currency", "charged", "refunded"),
    [("USD", "100.00", "10.001"), ("JPY", "5000", "12.5"), ("KWD", "10.000", "1.2345")],
)
def test_refund_with_too_many_decimals_is_refused(  # noqa: PLR0913, PLR0917
    service: PaymentService,
    storage: InMemoryStorage,
    paid: PayWith,
    currency: str,
    charged: str,
    refunded: str,
) -> None:
    """A refund more precise than its currency is refused, never rounded, and writes nothing."""
    payment = paid(charged, currency)
    commits = storage.commits

    with pytest.raises(InvalidAmountError) as caught:
        service.create_refund(payment.id, refunded)

    assert caught.value.field == "amount"
    assert storage.commits == commits
    assert storage.refunds == {}
