"""An event whose paykit id and provider id name two different payments is never applied.

paykit's id travels in metadata the host (or anyone with API access) can write; the
provider's id is the provider's. When they point at different records the event is a
contradiction: both payments are flagged for review, neither moves, and the webhook path
does not look either up at the provider. Run on memory, SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _scripted_webhooks import ScriptedWebhooks, delivery

from paykit import (
    InMemoryStorage,
    LogType,
    Payment,
    PaymentService,
    PaymentStatus,
    SandboxGateway,
    SandboxToken,
    Storage,
    WebhookOutcome,
)
from paykit.storage.sql import SqlStorage

_P = PaymentStatus


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def any_storage(request: pytest.FixtureRequest) -> Iterator[Storage]:
    """An empty storage of each kind: in memory, a SQLite file, a PostgreSQL schema."""
    if request.param == "memory":
        yield InMemoryStorage()
        return
    if request.param == "sqlite":
        storage = SqlStorage(request.getfixturevalue("sqlite_url"))
    else:
        url = request.getfixturevalue("postgres_url")
        storage = SqlStorage(url, schema=request.getfixturevalue("postgres_schema"))
    storage.upgrade()
    yield storage
    storage.dispose()


@pytest.fixture
def sandbox() -> SandboxGateway:
    """The sandbox behind the scripted webhooks."""
    return SandboxGateway()


@pytest.fixture
def service(any_storage: Storage, sandbox: SandboxGateway) -> PaymentService:
    """A service whose webhooks are scripted events, over each storage."""
    return PaymentService(any_storage, {"credit_card": ScriptedWebhooks(sandbox)})


def _pay(service: PaymentService, token: str) -> Payment:
    card = service.add_payment_method("cus_1", type="credit_card", token=token)
    payment = service.create_payment(
        customer_id="cus_1",
        order_id="ord_1",
        payment_method_id=card.id,
        amount="40.00",
        currency="USD",
    )
    return service.process_payment(payment.id)


def _review_flags(service: PaymentService, payment_id: str) -> int:
    return sum(
        entry.log_type is LogType.NEEDS_REVIEW for entry in service.get_transaction_log(payment_id)
    )


@pytest.mark.parametrize("with_outcome", [False, True], ids=["no-outcome", "outcome"])
def test_an_event_naming_two_payments_is_flagged_and_applied_to_neither(
    service: PaymentService, sandbox: SandboxGateway, with_outcome: bool
) -> None:
    """Payment A's id with B's provider id completes neither B (waiting for 3-D Secure) nor A."""
    completed = _pay(service, SandboxToken.SUCCESS)
    waiting = _pay(service, SandboxToken.THREE_D_SECURE)
    assert waiting.status is _P.REQUIRES_ACTION
    assert waiting.provider_payment_id is not None
    calls = len(sandbox.calls)
    fields: dict[str, object] = {
        "event_id": "evt_crossed",
        "type": "payment.succeeded",
        "payment_id": completed.id,
        "provider_payment_id": waiting.provider_payment_id,
    }
    if with_outcome:
        fields["result"] = {"outcome": "succeeded", "provider_id": waiting.provider_payment_id}

    answer = service.handle_webhook("sandbox", {}, delivery(**fields))

    assert answer.status_code == 200
    assert answer.outcome is WebhookOutcome.IGNORED
    assert sandbox.calls[calls:] == []  # neither payment was looked up at the provider
    assert service.get_payment(waiting.id).status is _P.REQUIRES_ACTION
    assert service.get_payment(completed.id).status is _P.COMPLETED
    assert _review_flags(service, waiting.id) == 1
    assert _review_flags(service, completed.id) == 1
    assert service.list_unmatched_webhook_events() == []
    assert service.handle_webhook("sandbox", {}, delivery(**fields)).outcome is (
        WebhookOutcome.DUPLICATE
    )


def test_a_refund_event_naming_two_refunds_is_flagged_and_applied_to_neither(
    service: PaymentService,
) -> None:
    """Refund A's id with refund B's provider id settles neither refund."""
    payment = _pay(service, SandboxToken.SUCCESS)
    first = service.process_refund(service.create_refund(payment.id, "10.00").id)
    second = service.create_refund(payment.id, "5.00")
    second = service.process_refund(second.id)
    assert first.provider_refund_id is not None
    assert second.provider_refund_id is not None
    body = delivery(
        event_id="evt_crossed_refund",
        type="refund.failed",
        refund_id=first.id,
        provider_refund_id=second.provider_refund_id,
        result={"outcome": "declined", "provider_id": second.provider_refund_id},
    )

    answer = service.handle_webhook("sandbox", {}, body)

    assert answer.outcome is WebhookOutcome.IGNORED
    assert (
        service.get_refund(first.id).status == second.status == service.get_refund(second.id).status
    )
    assert _review_flags(service, payment.id) == 1
