"""Edges of the service: failures before a claim, routing checks, idempotency, detached events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from paykit import (
    GatewayConfigurationError,
    GatewayError,
    GatewayRegistry,
    IdempotencyConflict,
    InMemoryStorage,
    LogType,
    NotFound,
    Payment,
    PaymentMethod,
    PaymentProcessingError,
    PaymentService,
    PaymentStatus,
    RefundProcessingError,
    RefundStatus,
    SandboxGateway,
    SandboxToken,
    UnsupportedPaymentMethodError,
    ValidationError,
)
from paykit.gateways import ChargeRequest, GatewayResult, RefundLookup
from paykit.money import Money

MakeCard = Callable[..., PaymentMethod]
PayWith = Callable[..., Payment]


def test_sandbox_lookup_of_an_unknown_refund_is_a_configuration_error(
    sandbox: SandboxGateway,
) -> None:
    """Asking the sandbox about a refund it never made raises a paykit error, not a KeyError."""
    lookup = RefundLookup(
        refund_id="re_x",
        provider_refund_id="re_sbx_missing",
        provider_payment_id="pi_sbx_missing",
        idempotency_key="paykit:re_x:refund",
        amount=Money.of("1.00", "USD"),
    )
    with pytest.raises(GatewayConfigurationError) as raised:
        sandbox.retrieve_refund(lookup)
    assert raised.value.gateway_code == "resource_missing"


def test_refund_is_not_claimed_when_its_gateway_is_gone(
    storage: InMemoryStorage, service: PaymentService, paid: PayWith
) -> None:
    """A refund whose gateway is no longer configured stays pending and keeps no stale claim."""
    payment = paid()
    refund = service.create_refund(payment.id, "10.00")
    other = SandboxGateway(name="other")
    reconfigured = PaymentService(storage, gateways={"credit_card": other})

    with pytest.raises(UnsupportedPaymentMethodError):
        reconfigured.process_refund(refund.id)

    assert service.get_refund(refund.id).status is RefundStatus.PENDING
    assert other.calls == []


def test_a_token_from_another_provider_is_unsupported(service: PaymentService) -> None:
    """A method saved for provider 'stripe' cannot be paid through the sandbox route."""
    method = service.add_payment_method(
        "cus_1", type="credit_card", token="pm_123", provider="stripe"
    )
    with pytest.raises(UnsupportedPaymentMethodError) as raised:
        service.create_payment(
            customer_id="cus_1",
            order_id="ord_1",
            payment_method_id=method.id,
            amount="5.00",
            currency="USD",
        )
    assert "'stripe'" in raised.value.message
    assert service.list_payments(customer_id="cus_1") == []


def test_two_gateways_with_one_name_are_refused() -> None:
    """Payments record their gateway by name, so two different gateways may not share one."""
    with pytest.raises(ValidationError) as raised:
        GatewayRegistry({"credit_card": SandboxGateway(), "paypal": SandboxGateway()})
    assert raised.value.field == "gateways"


def test_one_gateway_may_serve_several_method_types(sandbox: SandboxGateway) -> None:
    """The same gateway object routed for two types is one gateway, not a name clash."""
    registry = GatewayRegistry({"credit_card": sandbox, "digital_wallet": sandbox})
    assert registry.by_name("sandbox") is sandbox


def test_first_pending_answer_is_logged_as_awaiting_the_provider(
    service: PaymentService, paid: PayWith
) -> None:
    """An asynchronous method's first answer is 'awaiting_provider', not a reconciliation."""
    payment = paid(token=SandboxToken.PENDING)
    assert payment.status is PaymentStatus.PROCESSING
    log_types = [entry.log_type for entry in service.get_transaction_log(payment.id)]
    assert log_types[-1] is LogType.AWAITING_PROVIDER
    assert LogType.RECONCILED not in log_types


@pytest.mark.parametrize(
    "change", [{"description": "other"}, {"metadata": {"cart": "2"}}], ids=["description", "meta"]
)
def test_payment_idempotency_compares_every_parameter(
    service: PaymentService, make_card: MakeCard, change: dict[str, object]
) -> None:
    """Reusing a payment key with another description or metadata is a conflict."""
    card = make_card()
    params: dict[str, object] = {
        "customer_id": "cus_1",
        "order_id": "ord_1",
        "payment_method_id": card.id,
        "amount": "5.00",
        "currency": "USD",
        "description": "one",
        "metadata": {"cart": "1"},
        "idempotency_key": "k1",
    }
    first = service.create_payment(**params)  # type: ignore[arg-type]
    assert service.create_payment(**params).id == first.id  # type: ignore[arg-type]
    with pytest.raises(IdempotencyConflict):
        service.create_payment(**{**params, **change})  # type: ignore[arg-type]


def test_refund_idempotency_compares_metadata(service: PaymentService, paid: PayWith) -> None:
    """Reusing a refund key with other metadata is a conflict; the same metadata replays."""
    payment = paid()
    first = service.create_refund(payment.id, "5.00", metadata={"rma": "1"}, idempotency_key="r")
    again = service.create_refund(payment.id, "5.00", metadata={"rma": "1"}, idempotency_key="r")
    assert again.id == first.id
    with pytest.raises(IdempotencyConflict):
        service.create_refund(payment.id, "5.00", metadata={"rma": "2"}, idempotency_key="r")


def test_subscribers_get_a_detached_copy(service: PaymentService, make_card: MakeCard) -> None:
    """A subscriber that changes its event's payment changes neither the caller's nor storage's."""

    def vandal(event: object) -> None:
        event.payment.metadata["hacked"] = True  # type: ignore[attr-defined]
        event.payment.description = "changed"  # type: ignore[attr-defined]

    service.events.subscribe("payment.created", vandal)
    card = make_card()
    payment = service.create_payment(
        customer_id="cus_1", order_id="o", payment_method_id=card.id, amount="1.00", currency="USD"
    )
    assert payment.metadata == {}
    assert payment.description == ""
    assert service.get_payment(payment.id).metadata == {}


def test_not_found_never_echoes_a_card_number(service: PaymentService) -> None:
    """Looking up an id that is a card number does not repeat the number in the error."""
    with pytest.raises(NotFound) as raised:
        service.get_payment("4242 4242 4242 4242")
    assert "4242" not in str(raised.value)
    assert "redacted" in str(raised.value)


class _LookupRefusingSandbox(SandboxGateway):
    """A sandbox whose refund answers are lost and whose refund lookups are refused."""

    def retrieve_refund(self, lookup: RefundLookup) -> GatewayResult:
        raise GatewayConfigurationError("API key expired")


def test_a_refused_reconciliation_never_fails_a_refund() -> None:
    """A lookup refused for a reason of ours proves nothing: the refund stays processing."""
    gateway = _LookupRefusingSandbox()
    service = PaymentService(InMemoryStorage(), gateways={"credit_card": gateway})
    card = service.add_payment_method(
        "cus_1", type="credit_card", token=SandboxToken.REFUND_TIMEOUT
    )
    payment = service.process_payment(
        service.create_payment(
            customer_id="cus_1",
            order_id="o",
            payment_method_id=card.id,
            amount="10.00",
            currency="USD",
        ).id
    )
    refund = service.process_refund(service.create_refund(payment.id, "4.00").id)
    assert refund.status is RefundStatus.PROCESSING

    with pytest.raises(RefundProcessingError):
        service.reconcile_refund(refund.id)

    assert service.get_refund(refund.id).status is RefundStatus.PROCESSING
    assert service.get_payment(payment.id).refund_reserved_amount == Money.of("4.00", "USD")


class _LostRequestSandbox(SandboxGateway):
    """A sandbox whose charge requests are lost on the way: it never sees them."""

    def charge(self, request: ChargeRequest) -> GatewayResult:
        msg = "connection reset while sending"
        raise ConnectionResetError(msg)


def test_not_found_is_believed_only_after_the_grace() -> None:
    """A provider that never saw the charge fails the payment only once the grace is over."""
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    service = PaymentService(
        InMemoryStorage(),
        gateways={"credit_card": _LostRequestSandbox()},
        clock=lambda: now[0],
        in_flight_grace=timedelta(minutes=10),
    )
    card = service.add_payment_method("cus_1", type="credit_card", token=SandboxToken.SUCCESS)
    payment = service.create_payment(
        customer_id="cus_1", order_id="o", payment_method_id=card.id, amount="9.00", currency="USD"
    )
    with pytest.raises(PaymentProcessingError):
        service.process_payment(payment.id)
    assert service.get_payment(payment.id).submitted_at == now[0]

    now[0] += timedelta(minutes=9)
    assert service.reconcile_payment(payment.id).status is PaymentStatus.PROCESSING
    assert service.get_transaction_log(payment.id)[-1].log_type is LogType.OUTCOME_UNKNOWN

    now[0] += timedelta(minutes=2)
    failed = service.reconcile_payment(payment.id)
    assert failed.status is PaymentStatus.FAILED
    assert failed.failure_code == "not_found"


def test_a_refused_charge_keeps_the_providers_code(storage: InMemoryStorage) -> None:
    """A charge refused with a provider code (a rate limit) records that code on the payment."""

    class RateLimited(SandboxGateway):
        def charge(self, request: ChargeRequest) -> GatewayResult:
            msg = "too many requests"
            raise GatewayError(msg, gateway_code="rate_limit", retryable=True)

    service = PaymentService(storage, gateways={"credit_card": RateLimited()})
    card = service.add_payment_method("cus_1", type="credit_card", token=SandboxToken.SUCCESS)
    payment = service.create_payment(
        customer_id="cus_1", order_id="o", payment_method_id=card.id, amount="3.00", currency="USD"
    )
    with pytest.raises(PaymentProcessingError):
        service.process_payment(payment.id)
    assert service.get_payment(payment.id).failure_code == "rate_limit"
