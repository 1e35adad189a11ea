"""PaymentService: creating, processing, capturing, cancelling and reconciling payments."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from decimal import Decimal

import pytest
from pytest_mock import MockerFixture

from paykit import (
    PAYMENT_TRANSITIONS,
    Event,
    GatewayConfigurationError,
    GatewayResult,
    IdempotencyConflict,
    InMemoryStorage,
    InvalidAmountError,
    InvalidRefundAmountError,
    InvalidStateTransition,
    LogType,
    Money,
    Payment,
    PaymentMethod,
    PaymentMethodInactiveError,
    PaymentMethodOwnershipError,
    PaymentProcessingError,
    PaymentService,
    PaymentStatus,
    SandboxGateway,
    SandboxToken,
    TransactionLogEntry,
)
from paykit.gateways import ChargeRequest, LedgerKind

MakeCard = Callable[..., PaymentMethod]
PayWith = Callable[..., Payment]

_P = PaymentStatus


def _create(  # noqa: PLR0913 - the fields of a payment
    service: PaymentService,
    method: PaymentMethod,
    amount: str = "100.00",
    currency: str = "USD",
    *,
    capture: bool = True,
    order_id: str = "ord_1",
    idempotency_key: str | None = None,
) -> Payment:
    return service.create_payment(
        customer_id=method.customer_id,
        order_id=order_id,
        payment_method_id=method.id,
        amount=amount,
        currency=currency,
        capture=capture,
        idempotency_key=idempotency_key,
    )


def _kinds(sandbox: SandboxGateway, payment_id: str) -> list[LedgerKind]:
    return [entry.kind for entry in sandbox.ledger_for(payment_id)]


def _log_types(service: PaymentService, payment_id: str) -> list[LogType]:
    return [entry.log_type for entry in service.get_transaction_log(payment_id)]


def _status_moves(log: list[TransactionLogEntry]) -> list[tuple[str | None, str]]:
    """The payment's own status changes in the log (refund moves carry a ``refund_id``)."""
    return [
        (entry.previous_status, entry.new_status)
        for entry in log
        if entry.refund_id is None and entry.new_status is not None
    ]


class ExplodingGateway(SandboxGateway):
    """A sandbox whose ``charge`` raises ``error`` instead of answering."""

    def __init__(self, error: Exception) -> None:
        super().__init__(name="exploding")
        self.error = error

    def charge(self, request: ChargeRequest) -> GatewayResult:
        """Record the call, then raise."""
        del request
        self.calls.append("charge")
        raise self.error


# -- purchase ------------------------------------------------------------------------------


def test_purchase_succeeds_and_charges_once(
    service: PaymentService, sandbox: SandboxGateway, make_card: MakeCard
) -> None:
    """A good card completes with the amount captured, a provider id and one ledger charge."""
    payment = _create(service, make_card(), "42.50")
    assert payment.status is _P.PENDING

    result = service.process_payment(payment.id)

    stored = service.get_payment(payment.id)
    assert result.status is stored.status is _P.COMPLETED
    assert stored.captured_amount == Money.of("42.50", "USD")
    assert stored.provider_payment_id is not None
    assert stored.completed_at is not None
    assert stored.attempt_count == 1
    assert stored.failure_code is None
    ledger = sandbox.ledger_for(payment.id)
    assert [(e.kind, e.amount, e.provider_id) for e in ledger] == [
        (LedgerKind.CHARGE, Money.of("42.50", "USD"), stored.provider_payment_id)
    ]


def test_charge_carries_a_stable_idempotency_key(
    service: PaymentService, sandbox: SandboxGateway, make_card: MakeCard, mocker: MockerFixture
) -> None:
    """The charge is sent with the key ``paykit:<payment id>:charge`` and the payment's amount."""
    spy = mocker.spy(sandbox, "charge")
    payment = _create(service, make_card(), "10.00")

    service.process_payment(payment.id)

    assert spy.call_count == 1
    request = spy.call_args.args[0]
    assert isinstance(request, ChargeRequest)
    assert request.idempotency_key == f"paykit:{payment.id}:charge"
    assert request.amount == Money.of("10.00", "USD")
    assert request.payment_method_token == SandboxToken.SUCCESS
    assert request.capture is True


@pytest.mark.parametrize(
    ("token", "code", "message"),
    [
        (
            SandboxToken.INSUFFICIENT_FUNDS,
            "insufficient_funds",
            "Your card has insufficient funds.",
        ),
        (SandboxToken.DECLINE, "generic_decline", "Your card was declined."),
        (
            SandboxToken.PROCESSING_ERROR,
            "processing_error",
            "An error occurred while processing your card. Try again in a little bit.",
        ),
    ],
)
def test_decline_fails_the_payment_and_moves_no_money(  # noqa: PLR0913, PLR0917
    service: PaymentService,
    sandbox: SandboxGateway,
    make_card: MakeCard,
    token: str,
    code: str,
    message: str,
) -> None:
    """A decline fails the payment with the provider's code and a customer-safe message."""
    payment = _create(service, make_card(token=token))

    result = service.process_payment(payment.id)

    stored = service.get_payment(payment.id)
    assert result.status is stored.status is _P.FAILED
    assert stored.failure_code == code
    assert stored.failure_message == message
    assert payment.id not in (stored.failure_message or "")
    assert "sbx" not in (stored.failure_message or "")
    assert stored.captured_amount.is_zero()
    assert sandbox.ledger_for(payment.id) == []
    assert _log_types(service, payment.id)[-1] is LogType.PAYMENT_FAILED


# -- 3-D Secure ----------------------------------------------------------------------------


def test_three_d_secure_hands_the_secret_to_the_caller_only(
    service: PaymentService, sandbox: SandboxGateway, make_card: MakeCard
) -> None:
    """A 3-D Secure charge returns the redirect and client secret, but never stores the secret."""
    payment = _create(service, make_card(token=SandboxToken.THREE_D_SECURE))

    result = service.process_payment(payment.id, return_url="https://shop.example/back")

    assert result.status is _P.REQUIRES_ACTION
    assert result.next_action is not None
    assert result.next_action.redirect_url is not None
    assert result.next_action.redirect_url.startswith("https://")
    assert result.next_action.client_secret is not None
    secret = result.next_action.client_secret.get_secret_value()
    assert secret
    assert secret not in repr(result)
    stored = service.get_payment(payment.id)
    assert stored.status is _P.REQUIRES_ACTION
    assert stored.next_action is not None
    assert stored.next_action.redirect_url == result.next_action.redirect_url
    assert stored.next_action.client_secret is None
    for entry in service.get_transaction_log(payment.id):
        assert secret not in repr(entry)
        assert secret not in repr(entry.data)
        assert secret not in entry.message
    assert sandbox.ledger_for(payment.id) == []


def test_off_session_a_card_that_needs_authentication_fails_instead_of_waiting(
    service: PaymentService, sandbox: SandboxGateway, make_card: MakeCard
) -> None:
    """Nobody is there to pass 3-D Secure: ``authentication_required``, nothing charged."""
    card = make_card(token=SandboxToken.THREE_D_SECURE)
    payment = _create(service, card)

    result = service.process_payment(payment.id, off_session=True)

    assert result.status is _P.FAILED
    assert result.failure_code == "authentication_required"
    assert result.next_action is None
    assert sandbox.ledger_for(payment.id) == []
    [submitted] = [
        entry
        for entry in service.get_transaction_log(payment.id)
        if entry.log_type is LogType.PAYMENT_PROCESSING
    ]
    assert submitted.message.endswith("(attempt 1, customer not present)")
    # The customer comes back: a new payment on-session gets the challenge as usual.
    again = service.process_payment(_create(service, card, order_id="ord_2").id)
    assert again.status is _P.REQUIRES_ACTION


def test_off_session_a_card_that_needs_nothing_is_charged(
    service: PaymentService, sandbox: SandboxGateway, make_card: MakeCard
) -> None:
    """A renewal on a card that asks for nothing goes through like any charge."""
    payment = _create(service, make_card(token=SandboxToken.SUCCESS))

    result = service.process_payment(payment.id, off_session=True)

    assert result.status is _P.COMPLETED
    assert _kinds(sandbox, payment.id) == [LedgerKind.CHARGE]


def test_three_d_secure_completed_then_reconciled(
    service: PaymentService, sandbox: SandboxGateway, make_card: MakeCard
) -> None:
    """After the customer passes 3-D Secure, reconciling completes the payment."""
    payment = service.process_payment(
        _create(service, make_card(token=SandboxToken.THREE_D_SECURE)).id
    )
    assert payment.provider_payment_id is not None

    sandbox.complete_action(payment.provider_payment_id)
    result = service.reconcile_payment(payment.id)

    stored = service.get_payment(payment.id)
    assert result.status is stored.status is _P.COMPLETED
    assert stored.next_action is None
    assert stored.captured_amount == payment.amount
    assert _kinds(sandbox, payment.id) == [LedgerKind.CHARGE]


def test_three_d_secure_failed_then_reconciled(
    service: PaymentService, sandbox: SandboxGateway, make_card: MakeCard
) -> None:
    """A customer who fails 3-D Secure leaves the payment failed with nothing charged."""
    payment = service.process_payment(
        _create(service, make_card(token=SandboxToken.THREE_D_SECURE)).id
    )
    assert payment.provider_payment_id is not None

    sandbox.complete_action(payment.provider_payment_id, succeed=False)
    service.reconcile_payment(payment.id)

    stored = service.get_payment(payment.id)
    assert stored.status is _P.FAILED
    assert stored.failure_code == "authentication_failed"
    assert stored.next_action is None
    assert sandbox.ledger_for(payment.id) == []


# -- unknown and asynchronous outcomes -----------------------------------------------------


def test_timeout_stays_processing_and_reconciles_without_charging_twice(
    service: PaymentService, sandbox: SandboxGateway, make_card: MakeCard, mocker: MockerFixture
) -> None:
    """A lost answer keeps the payment processing; reconciliation completes it with one charge."""
    payment = _create(service, make_card(token=SandboxToken.TIMEOUT), "75.00")

    result = service.process_payment(payment.id)

    assert result.status is _P.PROCESSING
    assert service.get_payment_status(payment.id) is _P.PROCESSING
    assert LogType.OUTCOME_UNKNOWN in _log_types(service, payment.id)
    assert _kinds(sandbox, payment.id) == [LedgerKind.CHARGE]

    spy = mocker.spy(sandbox, "retrieve_payment")
    reconciled = service.reconcile_payment(payment.id)

    assert reconciled.status is _P.COMPLETED
    assert spy.call_args.args[0].idempotency_key == f"paykit:{payment.id}:charge"
    stored = service.get_payment(payment.id)
    assert stored.status is _P.COMPLETED
    assert stored.captured_amount == Money.of("75.00", "USD")
    assert _kinds(sandbox, payment.id) == [LedgerKind.CHARGE]
    assert sandbox.charged_total(payment.id) == Money.of("75.00", "USD")


def test_reconciling_a_settled_payment_does_not_ask_the_provider(
    service: PaymentService, sandbox: SandboxGateway, paid: PayWith
) -> None:
    """Reconciling a completed payment returns it unchanged without a gateway call."""
    payment = paid()
    calls = list(sandbox.calls)

    result = service.reconcile_payment(payment.id)

    assert result.status is _P.COMPLETED
    assert sandbox.calls == calls


def test_pending_method_settles_later(
    service: PaymentService, sandbox: SandboxGateway, make_card: MakeCard
) -> None:
    """An asynchronous method stays processing until the provider settles it."""
    payment = service.process_payment(_create(service, make_card(token=SandboxToken.PENDING)).id)

    assert payment.status is _P.PROCESSING
    assert payment.provider_payment_id is not None
    assert service.reconcile_payment(payment.id).status is _P.PROCESSING
    assert sandbox.ledger_for(payment.id) == []

    sandbox.settle(payment.provider_payment_id)
    result = service.reconcile_payment(payment.id)

    assert result.status is _P.COMPLETED
    assert service.get_payment_status(payment.id) is _P.COMPLETED
    assert _kinds(sandbox, payment.id) == [LedgerKind.CHARGE]


# -- authorize and capture -----------------------------------------------------------------


def test_authorize_holds_without_capturing(
    service: PaymentService, sandbox: SandboxGateway, paid: PayWith
) -> None:
    """``capture=False`` leaves the payment authorized with nothing captured yet."""
    payment = paid(capture=False)

    stored = service.get_payment(payment.id)
    assert stored.status is _P.AUTHORIZED
    assert stored.captured_amount.is_zero()
    assert stored.refundable_amount.is_zero()
    assert _kinds(sandbox, payment.id) == [LedgerKind.AUTHORIZATION]


def test_full_capture_completes(
    service: PaymentService, sandbox: SandboxGateway, paid: PayWith
) -> None:
    """Capturing without an amount captures the whole authorization."""
    payment = paid("80.00", capture=False)

    result = service.capture_payment(payment.id)

    stored = service.get_payment(payment.id)
    assert result.status is stored.status is _P.COMPLETED
    assert stored.captured_amount == Money.of("80.00", "USD")
    assert _kinds(sandbox, payment.id) == [LedgerKind.AUTHORIZATION, LedgerKind.CAPTURE]
    assert _log_types(service, payment.id)[-1] is LogType.PAYMENT_CAPTURED


def test_partial_capture_bounds_refunds(
    service: PaymentService, sandbox: SandboxGateway, paid: PayWith
) -> None:
    """A partial capture records only the captured part, which also caps what can be refunded."""
    payment = paid("100.00", capture=False)

    service.capture_payment(payment.id, "60.00")

    stored = service.get_payment(payment.id)
    assert stored.status is _P.COMPLETED
    assert stored.captured_amount == Money.of("60.00", "USD")
    assert stored.refundable_amount == Money.of("60.00", "USD")
    assert sandbox.charged_total(payment.id) == Money.of("60.00", "USD")
    with pytest.raises(InvalidRefundAmountError):
        service.create_refund(payment.id, "60.01")
    refund = service.create_refund(payment.id)
    assert refund.amount == Money.of("60.00", "USD")


def test_capture_above_authorized_is_refused(
    service: PaymentService, sandbox: SandboxGateway, paid: PayWith
) -> None:
    """Capturing more than was authorized raises before calling the gateway."""
    payment = paid("50.00", capture=False)
    calls = list(sandbox.calls)

    with pytest.raises(InvalidAmountError) as caught:
        service.capture_payment(payment.id, "50.01")

    assert caught.value.field == "amount"
    assert sandbox.calls == calls
    assert service.get_payment_status(payment.id) is _P.AUTHORIZED


def test_capture_of_completed_payment_is_refused(service: PaymentService, paid: PayWith) -> None:
    """Only an authorized payment can be captured."""
    payment = paid()

    with pytest.raises(InvalidStateTransition):
        service.capture_payment(payment.id)


def test_void_cancels_the_authorization(
    service: PaymentService, sandbox: SandboxGateway, paid: PayWith
) -> None:
    """Voiding an authorization cancels the payment, captures nothing and leaves a ledger void."""
    payment = paid("30.00", capture=False)

    result = service.void_payment(payment.id)

    stored = service.get_payment(payment.id)
    assert result.status is _P.CANCELLED
    assert stored.status is _P.CANCELLED
    assert stored.captured_amount.is_zero()
    assert _kinds(sandbox, payment.id) == [LedgerKind.AUTHORIZATION, LedgerKind.VOID]
    assert sandbox.charged_total(payment.id) is None


def test_void_of_completed_payment_is_refused(
    service: PaymentService, sandbox: SandboxGateway, paid: PayWith
) -> None:
    """Only an authorized payment can be voided; nothing is sent to the gateway otherwise."""
    payment = paid()
    calls = list(sandbox.calls)

    with pytest.raises(InvalidStateTransition):
        service.void_payment(payment.id)

    assert sandbox.calls == calls


def test_cancel_pending_does_not_call_the_gateway(
    service: PaymentService, sandbox: SandboxGateway, make_card: MakeCard
) -> None:
    """Cancelling a pending payment is local: it is cancelled and the sandbox hears nothing."""
    payment = _create(service, make_card())

    result = service.cancel_payment(payment.id)

    assert result.status is _P.CANCELLED
    assert service.get_payment_status(payment.id) is _P.CANCELLED
    assert sandbox.calls == []
    with pytest.raises(InvalidStateTransition):
        service.process_payment(payment.id)


def test_cancel_requires_action_cancels(
    service: PaymentService, sandbox: SandboxGateway, make_card: MakeCard
) -> None:
    """Cancelling a payment waiting for 3-D Secure cancels it without taking money."""
    payment = service.process_payment(
        _create(service, make_card(token=SandboxToken.THREE_D_SECURE)).id
    )

    result = service.cancel_payment(payment.id)

    stored = service.get_payment(payment.id)
    assert result.status is _P.CANCELLED
    assert stored.status is _P.CANCELLED
    assert stored.captured_amount.is_zero()
    assert sandbox.charged_total(payment.id) is None


def test_cancel_of_completed_payment_is_refused(service: PaymentService, paid: PayWith) -> None:
    """A completed payment cannot be cancelled (refund it instead)."""
    payment = paid()

    with pytest.raises(InvalidStateTransition):
        service.cancel_payment(payment.id)

    assert service.get_payment_status(payment.id) is _P.COMPLETED


# -- state and method guards ---------------------------------------------------------------


def test_processing_twice_is_refused(
    service: PaymentService, sandbox: SandboxGateway, paid: PayWith
) -> None:
    """A payment is processed once; a second attempt raises and charges nothing more."""
    payment = paid()

    with pytest.raises(InvalidStateTransition) as caught:
        service.process_payment(payment.id)

    assert caught.value.current == "completed"
    assert _kinds(sandbox, payment.id) == [LedgerKind.CHARGE]


def test_processing_a_payment_in_processing_is_refused(
    service: PaymentService, sandbox: SandboxGateway, make_card: MakeCard
) -> None:
    """A payment whose outcome is unknown is reconciled, never charged again by processing."""
    payment = service.process_payment(_create(service, make_card(token=SandboxToken.TIMEOUT)).id)

    with pytest.raises(InvalidStateTransition):
        service.process_payment(payment.id)

    assert sandbox.calls.count("charge") == 1


def test_processing_with_deactivated_method_is_refused(
    service: PaymentService,
    sandbox: SandboxGateway,
    storage: InMemoryStorage,
    make_card: MakeCard,
) -> None:
    """A method deactivated after the payment was created blocks processing; it stays pending."""
    method = make_card()
    payment = _create(service, method)
    service.deactivate_payment_method(method.id)
    commits = storage.commits

    with pytest.raises(PaymentMethodInactiveError):
        service.process_payment(payment.id)

    stored = service.get_payment(payment.id)
    assert stored.status is _P.PENDING
    assert stored.attempt_count == 0
    assert storage.commits == commits
    assert sandbox.calls == []


def test_method_of_another_customer_is_refused(
    service: PaymentService, storage: InMemoryStorage, make_card: MakeCard
) -> None:
    """Paying with someone else's payment method raises and records nothing."""
    theirs = make_card("cus_2")

    with pytest.raises(PaymentMethodOwnershipError):
        service.create_payment(
            customer_id="cus_1",
            order_id="ord_1",
            payment_method_id=theirs.id,
            amount="10.00",
            currency="USD",
        )

    assert storage.payments == {}


# -- caller idempotency --------------------------------------------------------------------


def test_same_idempotency_key_returns_the_same_payment(
    service: PaymentService, storage: InMemoryStorage, make_card: MakeCard
) -> None:
    """Retrying create_payment with the same key and parameters returns the first payment."""
    method = make_card()
    first = _create(service, method, "10.00", idempotency_key="order-1-try")

    second = _create(service, method, "10.00", idempotency_key="order-1-try")

    assert second.id == first.id
    assert list(storage.payments) == [first.id]


def test_same_idempotency_key_with_other_amount_conflicts(
    service: PaymentService, storage: InMemoryStorage, make_card: MakeCard
) -> None:
    """Reusing a key with a different amount is an ``IdempotencyConflict``, not a new payment."""
    method = make_card()
    first = _create(service, method, "10.00", idempotency_key="k1")

    with pytest.raises(IdempotencyConflict):
        _create(service, method, "10.01", idempotency_key="k1")
    with pytest.raises(IdempotencyConflict):
        _create(service, method, "10.00", capture=False, idempotency_key="k1")

    assert list(storage.payments) == [first.id]


def test_idempotency_keys_are_per_customer(service: PaymentService, make_card: MakeCard) -> None:
    """Two customers may use the same key and each get their own payment."""
    mine = _create(service, make_card("cus_1"), idempotency_key="shared")
    theirs = _create(service, make_card("cus_2"), idempotency_key="shared")

    assert mine.id != theirs.id
    assert service.get_payment(theirs.id).customer_id == "cus_2"


# -- listing and reading -------------------------------------------------------------------


def test_list_payments_filters(service: PaymentService, make_card: MakeCard) -> None:
    """Payments can be listed by customer, by order and by status (enum or string)."""
    good = make_card("cus_1")
    declined = make_card("cus_1", SandboxToken.DECLINE)
    other = make_card("cus_2")
    a = service.process_payment(_create(service, good, order_id="ord_a").id)
    b = service.process_payment(_create(service, declined, order_id="ord_b").id)
    c = _create(service, other, order_id="ord_a")

    assert [p.id for p in service.list_payments(customer_id="cus_1")] == [a.id, b.id]
    assert [p.id for p in service.list_payments(order_id="ord_a")] == [a.id, c.id]
    assert [p.id for p in service.list_payments(status="failed")] == [b.id]
    assert [p.id for p in service.list_payments(status=_P.PENDING)] == [c.id]
    assert [p.id for p in service.list_payments(customer_id="cus_2", order_id="ord_b")] == []
    assert [p.id for p in service.list_payments()] == [a.id, b.id, c.id]


def test_get_payment_status(service: PaymentService, make_card: MakeCard) -> None:
    """``get_payment_status`` follows the stored payment through its life."""
    payment = _create(service, make_card())
    assert service.get_payment_status(payment.id) is _P.PENDING

    service.process_payment(payment.id)

    assert service.get_payment_status(payment.id) is _P.COMPLETED


def test_amounts_are_normalised_to_the_currency(
    service: PaymentService, make_card: MakeCard
) -> None:
    """An int or short decimal amount is stored at the currency's exponent."""
    usd = _create(service, make_card(), "5")
    jpy = service.create_payment(
        customer_id="cus_1",
        order_id="ord_1",
        payment_method_id=make_card().id,
        amount=Decimal(1500),
        currency="JPY",
    )

    assert str(service.get_payment(usd.id).amount) == "5.00 USD"
    assert service.get_payment(jpy.id).amount.minor_units == 1500


# -- gateways that raise -------------------------------------------------------------------


def test_gateway_refusal_fails_the_payment(storage: InMemoryStorage) -> None:
    """A gateway raising a PaykitError fails the payment and raises PaymentProcessingError."""
    gateway = ExplodingGateway(GatewayConfigurationError("invalid API key"))
    service = PaymentService(storage, {"credit_card": gateway})
    method = service.add_payment_method("cus_1", type="credit_card", token=SandboxToken.SUCCESS)
    payment = _create(service, method)

    with pytest.raises(PaymentProcessingError) as caught:
        service.process_payment(payment.id)

    assert caught.value.payment_id == payment.id
    assert isinstance(caught.value.__cause__, GatewayConfigurationError)
    stored = service.get_payment(payment.id)
    assert stored.status is _P.FAILED
    assert stored.failure_code == "gateway_configuration_error"
    assert LogType.ERROR in _log_types(service, payment.id)
    assert _log_types(service, payment.id)[-1] is LogType.PAYMENT_FAILED


@pytest.mark.parametrize(
    "error", [RuntimeError("connection reset"), TimeoutError("read timed out")], ids=type
)
def test_gateway_crash_leaves_the_payment_processing(
    storage: InMemoryStorage, error: Exception
) -> None:
    """An exception of unknown meaning keeps the payment processing with an error log entry."""
    service = PaymentService(storage, {"credit_card": ExplodingGateway(error)})
    method = service.add_payment_method("cus_1", type="credit_card", token=SandboxToken.SUCCESS)
    payment = _create(service, method)

    with pytest.raises(PaymentProcessingError) as caught:
        service.process_payment(payment.id)

    assert caught.value.payment_id == payment.id
    assert caught.value.__cause__ is error
    assert service.get_payment_status(payment.id) is _P.PROCESSING
    errors = [e for e in service.get_transaction_log(payment.id) if e.log_type is LogType.ERROR]
    assert len(errors) == 1
    assert errors[0].data["error_type"] == type(error).__name__


# -- the audit log -------------------------------------------------------------------------


def _run_scenario(
    name: str, service: PaymentService, sandbox: SandboxGateway, card: MakeCard
) -> str:
    """Drive one payment through a scenario and return its id."""
    flows: dict[str, tuple[str, bool]] = {
        "purchase": (SandboxToken.SUCCESS, True),
        "decline": (SandboxToken.DECLINE, True),
        "threeds": (SandboxToken.THREE_D_SECURE, True),
        "threeds_fail": (SandboxToken.THREE_D_SECURE, True),
        "timeout": (SandboxToken.TIMEOUT, True),
        "pending": (SandboxToken.PENDING, True),
        "capture": (SandboxToken.SUCCESS, False),
        "cancel": (SandboxToken.SUCCESS, True),
        "refunds": (SandboxToken.SUCCESS, True),
    }
    token, capture = flows[name]
    payment = _create(service, card(token=token), capture=capture)
    if name == "cancel":
        service.cancel_payment(payment.id)
        return payment.id
    processed = service.process_payment(payment.id)
    provider_id = processed.provider_payment_id
    if name in {"threeds", "threeds_fail"}:
        assert provider_id is not None
        sandbox.complete_action(provider_id, succeed=name == "threeds")
        service.reconcile_payment(payment.id)
    elif name == "timeout":
        service.reconcile_payment(payment.id)
    elif name == "pending":
        assert provider_id is not None
        sandbox.settle(provider_id)
        service.reconcile_payment(payment.id)
    elif name == "capture":
        service.capture_payment(payment.id, "40.00")
    elif name == "refunds":
        service.process_refund(service.create_refund(payment.id, "30.00").id)
        service.process_refund(service.create_refund(payment.id).id)
    return payment.id


@pytest.mark.parametrize(
    ("scenario", "final"),
    [
        ("purchase", _P.COMPLETED),
        ("decline", _P.FAILED),
        ("threeds", _P.COMPLETED),
        ("threeds_fail", _P.FAILED),
        ("timeout", _P.COMPLETED),
        ("pending", _P.COMPLETED),
        ("capture", _P.COMPLETED),
        ("cancel", _P.CANCELLED),
        ("refunds", _P.REFUNDED),
    ],
)
def test_every_status_change_is_logged_once(  # noqa: PLR0913, PLR0917
    service: PaymentService,
    sandbox: SandboxGateway,
    make_card: MakeCard,
    events: list[Event],
    scenario: str,
    final: PaymentStatus,
) -> None:
    """The log's status entries chain from created to the final status, one per change."""
    payment_id = _run_scenario(scenario, service, sandbox, make_card)

    moves = _status_moves(service.get_transaction_log(payment_id))
    assert moves[0] == (None, _P.PENDING)
    for (_, reached), (previous, new) in itertools.pairwise(moves):
        assert previous == reached
        assert previous is not None
        assert PaymentStatus(new) in PAYMENT_TRANSITIONS[PaymentStatus(previous)]
    assert moves[-1][1] == final
    assert service.get_payment_status(payment_id) is final
    payment_events = [
        e for e in events if e.payment.id == payment_id and e.type.startswith("payment.")
    ]
    assert len(payment_events) == len(moves)
