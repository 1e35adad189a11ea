"""Fixtures shared by the whole suite: a service over the in-memory store and the sandbox.

PostgreSQL's fixtures (the server's URL, an engine, schemas) are in ``_postgres.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from _service_sides import SIDES, ServiceSide, service_side
from paykit import (
    ALL_EVENTS,
    Event,
    InMemoryStorage,
    Payment,
    PaymentMethod,
    PaymentService,
    SandboxGateway,
    SandboxToken,
)

pytest_plugins = ("_postgres",)


@pytest.fixture
def sandbox() -> SandboxGateway:
    """A fresh sandbox gateway with an empty ledger."""
    return SandboxGateway()


@pytest.fixture
def storage() -> InMemoryStorage:
    """A fresh in-memory store."""
    return InMemoryStorage()


@pytest.fixture
def events() -> list[Event]:
    """Every event the ``service`` fixture publishes, in order."""
    return []


@pytest.fixture
def service(
    storage: InMemoryStorage, sandbox: SandboxGateway, events: list[Event]
) -> PaymentService:
    """A service routing card, wallet, bank and crypto methods to the sandbox."""
    svc = PaymentService(
        storage,
        gateways={
            "credit_card": sandbox,
            "debit_card": sandbox,
            "digital_wallet": sandbox,
            "paypal": sandbox,
        },
    )
    svc.events.subscribe(ALL_EVENTS, events.append)
    return svc


@pytest.fixture(params=SIDES)
def side(request: pytest.FixtureRequest) -> Iterator[ServiceSide]:
    """Builds a PaymentService, then an AsyncPaymentService behind blocking calls (#16)."""
    with service_side(request.param) as built:
        yield built


MakeCard = Callable[..., PaymentMethod]


@pytest.fixture
def make_card(service: PaymentService) -> MakeCard:
    """Save a sandbox card (``token`` picks its behaviour) for a customer."""

    def make(customer_id: str = "cus_1", token: str = SandboxToken.SUCCESS) -> PaymentMethod:
        return service.add_payment_method(
            customer_id, type="credit_card", token=token, brand="visa", last4="4242"
        )

    return make


PayWith = Callable[..., Payment]


@pytest.fixture
def paid(service: PaymentService, make_card: MakeCard) -> PayWith:
    """Create and process a payment; returns it as ``process_payment`` left it."""

    def pay(
        amount: str = "100.00",
        currency: str = "USD",
        *,
        token: str = SandboxToken.SUCCESS,
        customer_id: str = "cus_1",
        capture: bool = True,
    ) -> Payment:
        card = make_card(customer_id, token)
        payment = service.create_payment(
            customer_id=customer_id,
            order_id="ord_1",
            payment_method_id=card.id,
            amount=amount,
            currency=currency,
            capture=capture,
        )
        return service.process_payment(payment.id)

    return pay
