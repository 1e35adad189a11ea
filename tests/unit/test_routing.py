"""Routing: ordered gateways per method type and currency, and failover only when safe."""

from __future__ import annotations

import pytest

from paykit import (
    GatewayConfigurationError,
    GatewayRegistry,
    InMemoryStorage,
    LogType,
    PaymentProcessingError,
    PaymentService,
    PaymentStatus,
    SandboxGateway,
    SandboxToken,
    UnsupportedPaymentMethodError,
    ValidationError,
)
from paykit.domain import Payment, PaymentMethodType
from paykit.gateways import ChargeRequest, GatewayOutcome, GatewayResult


class _Unavailable(SandboxGateway):
    """A gateway that cannot process any charge: a technical decline, nothing taken."""

    def charge(self, request: ChargeRequest) -> GatewayResult:
        self.calls.append("charge")
        return GatewayResult(outcome=GatewayOutcome.DECLINED, decline_code="processing_error")


class _Refusing(SandboxGateway):
    """A gateway that refuses every request (its credentials were revoked)."""

    def charge(self, request: ChargeRequest) -> GatewayResult:
        self.calls.append("charge")
        msg = "invalid API key"
        raise GatewayConfigurationError(msg)


class _Silent(SandboxGateway):
    """A gateway whose answer never arrives: the charge may have happened."""

    def charge(self, request: ChargeRequest) -> GatewayResult:
        self.calls.append("charge")
        return GatewayResult(outcome=GatewayOutcome.UNKNOWN)


def _pay(service: PaymentService, token: str = SandboxToken.SUCCESS) -> Payment:
    method = service.add_payment_method("cus_1", type="credit_card", token=token)
    payment = service.create_payment(
        customer_id="cus_1",
        order_id="o",
        payment_method_id=method.id,
        amount="20.00",
        currency="EUR",
    )
    try:
        return service.process_payment(payment.id)
    except PaymentProcessingError:
        return service.get_payment(payment.id)


def _routed(service: PaymentService, payment: Payment) -> list[str]:
    return [
        e.message
        for e in service.get_transaction_log(payment.id)
        if e.log_type is LogType.PAYMENT_ROUTED
    ]


def test_a_currency_route_wins_over_the_method_route() -> None:
    """A (type, currency) route is used for that currency; other currencies use the type's."""
    eur, usd = SandboxGateway(name="eu"), SandboxGateway(name="us")
    registry = GatewayRegistry({"credit_card": [eur], ("credit_card", "USD"): [usd, eur]})
    assert registry.route(PaymentMethodType.CREDIT_CARD, "USD") == (usd, eur)
    assert registry.route(PaymentMethodType.CREDIT_CARD, "EUR") == (eur,)
    assert registry.for_method_type(PaymentMethodType.CREDIT_CARD) is eur
    with pytest.raises(UnsupportedPaymentMethodError):
        registry.route(PaymentMethodType.CRYPTO)


@pytest.mark.parametrize("route", [[], ("credit_card", "usd")], ids=["empty", "bad-currency"])
def test_bad_routes_are_refused(route: object) -> None:
    """An empty route or a route for an unknown currency is a configuration error."""
    routes: dict[object, object] = {"credit_card": []} if route == [] else {route: SandboxGateway()}
    with pytest.raises(ValidationError) as raised:
        GatewayRegistry(routes)  # type: ignore[arg-type]
    assert raised.value.field == "gateways"


@pytest.mark.parametrize("primary", [_Unavailable(name="primary"), _Refusing(name="primary")])
def test_failover_when_the_first_gateway_definitely_did_not_take_the_money(
    primary: SandboxGateway,
) -> None:
    """A technical decline or a refused request moves the payment to the next gateway."""
    backup = SandboxGateway(name="backup")
    service = PaymentService(InMemoryStorage(), gateways={"credit_card": [primary, backup]})
    payment = _pay(service)

    assert payment.status is PaymentStatus.COMPLETED
    assert payment.provider == "backup"
    assert primary.calls == ["charge"]
    assert backup.charged_total(payment.id) == payment.amount
    assert len(_routed(service, payment)) == 2  # why it moved, and where to


def test_no_failover_after_an_unknown_outcome() -> None:
    """A charge that may have happened is never retried elsewhere: it waits for reconcile."""
    primary, backup = _Silent(name="primary"), SandboxGateway(name="backup")
    service = PaymentService(InMemoryStorage(), gateways={"credit_card": [primary, backup]})
    payment = _pay(service)

    assert payment.status is PaymentStatus.PROCESSING
    assert payment.provider == "primary"
    assert backup.calls == []


def test_no_failover_after_a_customer_decline() -> None:
    """A card its bank refused is not tried at another gateway."""
    primary, backup = SandboxGateway(name="primary"), SandboxGateway(name="backup")
    service = PaymentService(InMemoryStorage(), gateways={"credit_card": [primary, backup]})
    payment = _pay(service, SandboxToken.INSUFFICIENT_FUNDS)

    assert payment.status is PaymentStatus.FAILED
    assert payment.failure_code == "insufficient_funds"
    assert backup.calls == []
    assert _routed(service, payment) == []


def test_the_last_gateway_decides_when_every_gateway_fails() -> None:
    """When the whole route is unavailable, the payment fails with the last gateway's code."""
    first, last = _Unavailable(name="first"), _Unavailable(name="last")
    service = PaymentService(InMemoryStorage(), gateways={"credit_card": [first, last]})
    payment = _pay(service)

    assert payment.status is PaymentStatus.FAILED
    assert payment.failure_code == "processing_error"
    assert (first.calls, last.calls) == (["charge"], ["charge"])


def test_the_creation_log_names_the_route() -> None:
    """Where a payment was routed is written to its log when it is created."""
    primary, backup = SandboxGateway(name="primary"), SandboxGateway(name="backup")
    service = PaymentService(InMemoryStorage(), gateways={"credit_card": [primary, backup]})
    payment = _pay(service)
    created = service.get_transaction_log(payment.id)[0]
    assert created.data["route"] == ("primary", "backup")
    assert "routed to primary" in created.message


def test_digital_wallets_go_to_the_card_gateways_by_default() -> None:
    """Without a route of their own, wallet payments take the credit card route."""
    cards, wallets = SandboxGateway(name="cards"), SandboxGateway(name="wallets")
    registry = GatewayRegistry({"credit_card": [cards], ("credit_card", "JPY"): [wallets]})
    assert registry.route(PaymentMethodType.DIGITAL_WALLET) == (cards,)
    assert registry.route(PaymentMethodType.DIGITAL_WALLET, "JPY") == (wallets,)
    own = GatewayRegistry({"credit_card": cards, "digital_wallet": wallets})
    assert own.route(PaymentMethodType.DIGITAL_WALLET) == (wallets,)
