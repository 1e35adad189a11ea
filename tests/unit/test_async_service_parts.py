"""AsyncPaymentService's public surface is PaymentService's, and the added operations work.

The surface test compares the flat operations of both services by name and by parameters
(``inspect.signature``), so a parameter added to one and not the other fails here. The
behaviour tests run the operations that have no steps generator (payment methods, the
webhook inbox, disputes, the sweep, the order-cancelled policy, erasure) through the async
service and check their effect in storage.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import pytest

from paykit import InMemoryStorage, PaymentService, PaymentStatus, SandboxGateway, SandboxToken
from paykit.automation import ActionMode, AutomationSettings, Policy
from paykit.encryption import KeyRing
from paykit.errors import NotFound
from paykit.gateways.registry import Route, RouteKey
from paykit.service import AsyncPaymentService
from paykit.storage.sql import SqlStorage

pytestmark = pytest.mark.anyio

KEY: Final = ("k1", os.urandom(32))

# Parts that PaymentService exposes as objects (service.payments.create ...): compared by
# their flat names, which are the documented operations.
_PARTS: Final = frozenset(
    {
        "context", "storage", "gateways", "events", "outbox", "payment_methods", "payments",
        "refunds", "webhooks", "reconciler", "analytics", "automation", "erasure", "reviews",
        "risk_lists",
    }
)  # fmt: skip


@pytest.fixture
def anyio_backend() -> str:
    """Only asyncio: the service does not depend on the backend, and trio is not installed."""
    return "asyncio"


def _flat_operations(service: object) -> dict[str, Callable[..., Any]]:
    return {
        name: value
        for name, value in vars(service).items()
        if callable(value) and not name.startswith("_") and name not in _PARTS
    } | {
        name: getattr(service, name)
        for name, value in vars(type(service)).items()
        if callable(value) and not name.startswith("_")
    }


def _services(
    automation: AutomationSettings | None = None,
) -> tuple[PaymentService, AsyncPaymentService]:
    routes: dict[RouteKey, Route] = {"credit_card": SandboxGateway()}
    return (
        PaymentService(InMemoryStorage(), routes, automation=automation),
        AsyncPaymentService(InMemoryStorage(), routes, automation=automation),
    )


def test_the_async_service_has_every_flat_operation_of_the_sync_one() -> None:
    """A flat operation added to one service and not the other fails here."""
    sync, async_ = _services()
    assert sorted(_flat_operations(async_)) == sorted(_flat_operations(sync))


def test_the_flat_operations_take_the_same_parameters() -> None:
    """Same names, kinds and defaults, in the same order; every async one is awaitable."""
    sync, async_ = _services()
    sync_operations = _flat_operations(sync)
    for name, operation in _flat_operations(async_).items():
        assert inspect.iscoroutinefunction(operation), name
        expected = inspect.signature(sync_operations[name]).parameters
        actual = inspect.signature(operation).parameters
        assert [(p.name, p.kind, p.default) for p in actual.values()] == [
            (p.name, p.kind, p.default) for p in expected.values()
        ], name


def test_the_constructors_take_the_same_parameters() -> None:
    """A host switches service without changing its constructor call."""
    assert inspect.signature(AsyncPaymentService).parameters.keys() == (
        inspect.signature(PaymentService).parameters.keys()
    )


async def test_payment_methods_round_trip_through_the_async_service() -> None:
    """Add, read, update, default, deactivate, list and remove, each awaited."""
    _, service = _services()
    card = await service.add_payment_method("cus_1", type="credit_card", token=SandboxToken.SUCCESS)
    second = await service.add_payment_method(
        "cus_1", type="credit_card", token=SandboxToken.SUCCESS
    )
    assert (await service.get_payment_method(card.id)).id == card.id
    updated = await service.update_payment_method(card.id, exp_month=1, exp_year=2040)
    assert (updated.exp_month, updated.exp_year) == (1, 2040)
    assert (await service.set_default_payment_method(second.id)).is_default
    assert not (await service.deactivate_payment_method(card.id)).is_active
    assert [m.id for m in await service.list_payment_methods("cus_1")] == [second.id]
    everything = await service.list_payment_methods("cus_1", include_inactive=True)
    assert {m.id for m in everything} == {card.id, second.id}
    await service.remove_payment_method(second.id)
    with pytest.raises(NotFound):
        await service.get_payment_method(second.id)


async def test_the_inbox_the_sweep_and_the_policies_answer_through_the_async_service() -> None:
    """Disputes, inbox, sweep and the order-cancelled policy act on the same storage."""
    _, service = _services(AutomationSettings(order_cancelled=Policy(mode=ActionMode.AUTO)))
    card = await service.add_payment_method("cus_1", type="credit_card", token=SandboxToken.SUCCESS)
    payment = await service.create_payment(
        customer_id="cus_1",
        order_id="ord_1",
        payment_method_id=card.id,
        amount="10.00",
        currency="USD",
    )
    payment = await service.process_payment(payment.id)
    assert payment.status is PaymentStatus.COMPLETED
    assert await service.list_disputes(payment.id) == []
    assert await service.list_webhook_events(payment.id) == []
    assert await service.list_unmatched_webhook_events(limit=5) == []
    report = await service.reconcile()
    assert report == await service.reconcile()  # nothing left waiting: the same empty sweep
    [action] = await service.order_cancelled("ord_1", "customer changed their mind")
    assert action.payment_id == payment.id
    assert (await service.get_payment(payment.id)).status is PaymentStatus.REFUNDED


async def test_erasing_a_customer_through_the_async_service(tmp_path: Path) -> None:
    """Erasure needs an encrypting storage: SQLite with a key ring."""
    storage = SqlStorage(f"sqlite:///{tmp_path / 'paykit.db'}", encryption=KeyRing([KEY]))
    storage.upgrade()
    try:
        service = AsyncPaymentService(storage, {"credit_card": SandboxGateway()})
        card = await service.add_payment_method(
            "cus_1", type="credit_card", token=SandboxToken.SUCCESS
        )
        await service.create_payment(
            customer_id="cus_1",
            order_id="ord_1",
            payment_method_id=card.id,
            amount="10.00",
            currency="USD",
        )
        erased = await service.erase_customer("cus_1")
        assert (erased.customer_id, erased.keys_destroyed, erased.payments_logged) == (
            "cus_1",
            1,
            1,
        )
        again = await service.erase_customer("cus_1")
        assert again.keys_destroyed == 0
    finally:
        storage.dispose()
