"""AsyncPaymentService's public surface is PaymentService's, and every part works awaited.

The surface tests compare both services by name and by parameters (``inspect.signature``):
the flat operations, and every part's public methods, so a parameter added to one and not
the other fails here. The behaviour tests run each part through the async service and check
its effect in storage, or compare it with the sync service's answer over the same storage.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import pytest

from paykit import (
    InMemoryStorage,
    PaymentService,
    PaymentStatus,
    SandboxGateway,
    SandboxToken,
    WebhookOutcome,
)
from paykit.analytics import Dimension
from paykit.analytics._seed import random_history
from paykit.automation import ActionMode, ActionStatus, AutomationSettings, Policy
from paykit.domain.risk import ReviewState
from paykit.encryption import KeyRing
from paykit.errors import NotFound
from paykit.fraud import FraudScreening, Rule
from paykit.gateways.base import WebhookEventType
from paykit.gateways.registry import Route, RouteKey
from paykit.service import AsyncPaymentService, ReconcilePolicy
from paykit.storage.sql import SqlStorage

pytestmark = pytest.mark.anyio

KEY: Final = ("k1", os.urandom(32))

# What both services carry besides their parts and flat operations (worker_threads: the
# async service's thread limit).
_SHARED: Final = frozenset({"context", "storage", "gateways", "events", "outbox", "worker_threads"})
# Members of a part that touch no storage, so the async part keeps them synchronous.
_NOT_AWAITED: Final = frozenset({("analytics", "query"), ("automation", "configure")})
START: Final = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    """Only asyncio: the service does not depend on the backend, and trio is not installed."""
    return "asyncio"


def _parts(service: object) -> dict[str, object]:
    """The service's parts: its public attributes that are objects with methods."""
    return {
        name: value
        for name, value in vars(service).items()
        if not name.startswith("_") and not callable(value) and name not in _SHARED
    }


def _flat_operations(service: object) -> dict[str, Callable[..., Any]]:
    return {
        name: value
        for name, value in vars(service).items()
        if callable(value) and not name.startswith("_")
    } | {
        name: getattr(service, name)
        for name, value in vars(type(service)).items()
        if callable(value) and not name.startswith("_")
    }


def _members(part: object) -> dict[str, object]:
    """A part's public methods and properties, less the ``*_steps`` generators drivers run.

    A property is given as the ``property`` object, anything else as ``getattr`` answers it
    (a bound method, or a coroutine function the async part set on itself).
    """
    members: dict[str, object] = {}
    for name in dir(part):
        if name.startswith("_") or name.endswith("_steps"):
            continue
        found = inspect.getattr_static(type(part), name, None)
        members[name] = found if isinstance(found, property) else getattr(part, name)
    return members


def _parameters(operation: Callable[..., Any]) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(operation).parameters.values()]


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
        assert _parameters(operation) == _parameters(sync_operations[name]), name


def test_the_async_service_has_every_part_of_the_sync_one() -> None:
    """A part added to PaymentService and not to AsyncPaymentService fails here."""
    sync, async_ = _services()
    assert sorted(_parts(async_)) == sorted(_parts(sync))
    assert "analytics" in _parts(sync)  # the helper finds the parts, not nothing


def test_every_part_has_the_sync_parts_methods_with_the_same_parameters() -> None:
    """Each part: the same public methods and properties, same parameters, awaitable."""
    sync, async_ = _services()
    for part_name, sync_part in _parts(sync).items():
        async_part = getattr(async_, part_name)
        expected, actual = _members(sync_part), _members(async_part)
        assert sorted(actual) == sorted(expected), part_name
        for name, member in actual.items():
            where = f"{part_name}.{name}"
            if isinstance(expected[name], property):
                assert isinstance(member, property), where
                continue
            assert callable(member), where
            sync_method = expected[name]
            assert callable(sync_method), where
            awaited = (part_name, name) not in _NOT_AWAITED
            assert inspect.iscoroutinefunction(member) is awaited, where
            assert _parameters(member) == _parameters(sync_method), where


def test_the_flat_names_are_the_async_parts_methods_as_in_the_sync_service() -> None:
    """``service.<flat>`` is ``service.<part>.<method>`` on both sides, the same pairs."""
    sync, async_ = _services()

    def pairs(service: object) -> dict[str, tuple[str, str]]:
        found: dict[str, tuple[str, str]] = {}
        for flat, operation in _flat_operations(service).items():
            for part_name, part in _parts(service).items():
                for name, member in _members(part).items():
                    if member is operation or (callable(member) and member == operation):
                        found[flat] = (part_name, name)
        return found

    expected = pairs(sync)
    assert set(expected) == set(_flat_operations(sync))  # every flat name is a part's method
    assert pairs(async_) == expected


def test_the_constructors_take_the_same_parameters_and_the_thread_limit() -> None:
    """A host switches service without changing its constructor call."""
    assert list(inspect.signature(AsyncPaymentService).parameters) == [
        *inspect.signature(PaymentService).parameters,
        "worker_threads",
    ]


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


# -- each part, awaited ------------------------------------------------------------------------


def _same_storage(
    storage: InMemoryStorage, sandbox: SandboxGateway, **options: Any
) -> tuple[PaymentService, AsyncPaymentService]:
    """Both services over one storage and one sandbox: the sync one is the reference."""
    routes: dict[RouteKey, Route] = {"credit_card": sandbox}
    return (
        PaymentService(storage, routes, **options),
        AsyncPaymentService(storage, routes, **options),
    )


async def _paid(service: AsyncPaymentService, token: str = SandboxToken.SUCCESS) -> str:
    """A payment of 10.00 USD through the async service, processed; its id."""
    card = await service.payment_methods.add("cus_1", type="credit_card", token=token)
    payment = await service.payments.create(
        customer_id="cus_1",
        order_id="ord_1",
        payment_method_id=card.id,
        amount="10.00",
        currency="USD",
    )
    await service.payments.process(payment.id)
    return payment.id


async def test_analytics_gives_the_sync_services_figures_over_a_seeded_storage() -> None:
    """Each figure, awaited, equals PaymentService's over the same seeded history."""
    storage = InMemoryStorage()
    random_history(16, 150, START, days=5).save(storage)
    sync, async_ = _same_storage(storage, SandboxGateway())
    query = async_.analytics.query(by=[Dimension.PROVIDER, Dimension.STATUS])
    assert query == sync.analytics.query(by=[Dimension.PROVIDER, Dimension.STATUS])
    figures = await async_.analytics.payments(query)
    assert figures == sync.analytics.payments(query)
    assert sum(row.created for row in figures) == 150  # the seeded history, every payment
    assert await async_.analytics.declines(query) == sync.analytics.declines(query)
    reasons = await async_.analytics.refunds_by_reason()
    assert reasons == sync.analytics.refunds_by_reason()
    assert reasons  # the seed refunds some payments: a real comparison
    assert await async_.analytics.overview(query) == sync.analytics.overview(query)


async def test_risk_lists_add_read_and_remove_through_the_async_service() -> None:
    """An entry added awaited is stored: the sync service over the same storage sees it."""
    sync, async_ = _same_storage(InMemoryStorage(), SandboxGateway())
    entry = await async_.risk_lists.add("blocked_emails", " Thief@Example.com", by="alice")
    assert (entry.value, entry.created_by) == ("thief@example.com", "alice")
    assert await async_.risk_lists.contains("blocked_emails", "THIEF@example.com")
    assert [e.id for e in await async_.risk_lists.entries("blocked_emails")] == [entry.id]
    assert sync.risk_lists.contains("blocked_emails", "thief@example.com")
    assert await async_.risk_lists.remove("blocked_emails", "thief@example.com")
    assert not await async_.risk_lists.remove("blocked_emails", "thief@example.com")
    assert await async_.risk_lists.entries() == []


async def test_the_review_queue_reads_a_held_payments_assessment() -> None:
    """``reviews.get`` and ``reviews.list`` answer the assessment screening stored."""
    big = Rule(name="big", condition=":amount: >= 5", action="review", score=30)
    _, service = _same_storage(InMemoryStorage(), SandboxGateway(), fraud=FraudScreening([big]))
    payment_id = await _paid(service)
    assessment = await service.reviews.get(payment_id)
    assert assessment is not None
    assert assessment.review_state is ReviewState.PENDING
    assert [a.payment_id for a in await service.reviews.list(limit=5)] == [payment_id]
    approved = await service.reviews.approve(payment_id, by="alice")
    assert approved.status is PaymentStatus.COMPLETED
    assert await service.reviews.list() == []


async def test_the_reconciler_settles_a_timed_out_payment() -> None:
    """``sweep`` and ``run`` ask the provider about a payment left ``processing``."""
    _, service = _same_storage(InMemoryStorage(), SandboxGateway())
    payment_id = await _paid(service, SandboxToken.TIMEOUT)
    assert (await service.payments.get(payment_id)).status is PaymentStatus.PROCESSING
    seen: list[str] = []
    nothing = await service.reconciler.run(ReconcilePolicy(older_than=timedelta(hours=1)))
    assert nothing.payments.examined == 0  # too recent for this policy
    report = await service.reconciler.sweep(
        older_than=timedelta(0), progress=lambda step: seen.append(step.record_id)
    )
    assert (report.payments.examined, report.payments.settled) == (1, 1)
    assert seen == [payment_id]
    assert (await service.payments.get(payment_id)).status is PaymentStatus.COMPLETED


async def test_webhooks_handle_store_and_apply_through_the_async_service() -> None:
    """A 3-D Secure payment completed by its webhook, recorded once; store then apply."""
    sandbox = SandboxGateway()
    _, service = _same_storage(InMemoryStorage(), sandbox)
    payment_id = await _paid(service, SandboxToken.THREE_D_SECURE)
    waiting = await service.payments.get(payment_id)
    assert waiting.status is PaymentStatus.REQUIRES_ACTION
    assert waiting.provider_payment_id is not None
    sandbox.complete_action(waiting.provider_payment_id)
    headers, body = sandbox.webhook_for(
        WebhookEventType.PAYMENT_SUCCEEDED, waiting.provider_payment_id
    )
    assert (await service.webhooks.handle("sandbox", headers, body)).outcome is (
        WebhookOutcome.APPLIED
    )
    assert (await service.webhooks.handle("sandbox", headers, body)).outcome is (
        WebhookOutcome.DUPLICATE
    )
    assert (await service.payments.get(payment_id)).status is PaymentStatus.COMPLETED
    [event] = await service.webhooks.list_events(payment_id)

    headers, body = sandbox.webhook_for(  # the same news again, as a new event
        WebhookEventType.PAYMENT_SUCCEEDED, waiting.provider_payment_id
    )
    stored = await service.webhooks.store("sandbox", headers, body)
    assert stored.outcome is WebhookOutcome.UNMATCHED
    assert stored.event_id is not None
    assert stored.event_id != event.event_id
    assert await service.webhooks.list_unmatched() != []  # stored, not applied yet
    applied = await service.webhooks.apply_stored("sandbox", stored.event_id)
    assert applied is WebhookOutcome.APPLIED
    again = await service.webhooks.apply_stored("sandbox", stored.event_id)
    assert again is WebhookOutcome.DUPLICATE
    assert len(await service.webhooks.list_events(payment_id)) == 2
    assert await service.webhooks.list_unmatched() == []
    with pytest.raises(NotFound):
        await service.webhooks.get_dispute("dp_missing")


async def test_automation_proposes_then_a_person_approves_through_the_async_service() -> None:
    """A proposal made awaited is listed, read, approved: the payment is refunded."""
    settings = AutomationSettings(order_cancelled=Policy(mode=ActionMode.PROPOSE))
    _, service = _same_storage(InMemoryStorage(), SandboxGateway(), automation=settings)
    assert service.automation.settings == settings
    payment_id = await _paid(service)
    [proposal] = await service.automation.order_cancelled("ord_1", "out of stock")
    assert proposal.status is ActionStatus.PROPOSED
    assert [a.id for a in await service.automation.proposals()] == [proposal.id]
    assert (await service.automation.get_action(proposal.id)).payment_id == payment_id
    done = await service.automation.approve(proposal.id, by="alice")
    assert done.status is ActionStatus.DONE
    assert (await service.payments.get(payment_id)).status is PaymentStatus.REFUNDED
    assert [a.id for a in await service.automation.actions(payment_id=payment_id)] == [done.id]
    assert (await service.automation.sweep(limit=10)).count(ActionStatus.DONE) == 0
    assert await service.automation.run("order_cancelled", payment_id) is None  # acted once
    service.automation.configure(AutomationSettings())
    assert not service.automation.settings.any_on


async def test_erasure_through_its_part(tmp_path: Path) -> None:
    """``erasure.erase_customer`` awaited destroys the customer's key (SQLite, a key ring)."""
    storage = SqlStorage(f"sqlite:///{tmp_path / 'paykit.db'}", encryption=KeyRing([KEY]))
    storage.upgrade()
    try:
        service = AsyncPaymentService(storage, {"credit_card": SandboxGateway()})
        await _paid(service)
        report = await service.erasure.erase_customer("cus_1")
        assert (report.keys_destroyed, report.payments_logged) == (1, 1)
    finally:
        storage.dispose()
