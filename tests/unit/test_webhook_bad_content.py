"""Authentic sandbox webhooks whose content paykit cannot read: 400, nothing stored, no raise.

Each event is one the sandbox really sends, altered and then signed again with the sandbox's
secret, so the signature verifies and only the content is wrong. ``handle_webhook`` promises
never to raise for anything a provider sent; an amount or currency it cannot read is answered
like a body that is not an event at all: 400, nothing applied, nothing in the inbox.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final, NamedTuple

import pytest
from pydantic import SecretStr

from paykit import (
    InMemoryStorage,
    PaymentService,
    PaymentStatus,
    RefundStatus,
    SandboxGateway,
    SandboxToken,
    ValidationError,
    WebhookOutcome,
)
from paykit.gateways import WebhookEventType
from paykit.gateways._signatures import signature_header
from paykit.gateways.sandbox import SIGNATURE_HEADER

_W = WebhookEventType
SECRET: Final = "whsec_sandbox"
"""The sandbox's default webhook secret: what makes an altered event verify."""


class Shop(NamedTuple):
    """A service over the sandbox with a payment waiting for 3-D Secure and one paid in full.

    The paid one has a 25.00 refund whose answer was lost (still ``processing``) and an open
    dispute, so every kind of event has a record it could change.
    """

    service: PaymentService
    sandbox: SandboxGateway
    waiting_id: str
    waiting_provider_id: str
    paid_id: str
    paid_provider_id: str
    refund_id: str
    provider_refund_id: str
    provider_dispute_id: str


@pytest.fixture
def shop() -> Shop:
    """Payments, a refund and a dispute in every state an event could move."""
    sandbox = SandboxGateway()
    service = PaymentService(InMemoryStorage(), {"credit_card": sandbox})

    def pay(token: str) -> tuple[str, str]:
        card = service.add_payment_method("cus_1", type="credit_card", token=token)
        created = service.create_payment(
            customer_id="cus_1",
            order_id="ord_1",
            payment_method_id=card.id,
            amount="40.00",
            currency="USD",
        )
        payment = service.process_payment(created.id)
        assert payment.provider_payment_id is not None
        return payment.id, payment.provider_payment_id

    waiting_id, waiting_provider_id = pay(SandboxToken.THREE_D_SECURE)
    sandbox.complete_action(waiting_provider_id)
    paid_id, paid_provider_id = pay(SandboxToken.REFUND_TIMEOUT)
    refund = service.process_refund(service.create_refund(paid_id, "25.00").id)
    assert refund.status is RefundStatus.PROCESSING
    assert refund.provider_refund_id is not None
    return Shop(
        service,
        sandbox,
        waiting_id,
        waiting_provider_id,
        paid_id,
        paid_provider_id,
        refund.id,
        refund.provider_refund_id,
        sandbox.open_dispute(paid_provider_id),
    )


def payment_event(shop: Shop) -> dict[str, Any]:
    """``payment.succeeded`` for the payment whose customer just passed 3-D Secure."""
    return _event(shop.sandbox.webhook_for(_W.PAYMENT_SUCCEEDED, shop.waiting_provider_id))


def refund_event(shop: Shop) -> dict[str, Any]:
    """``refund.succeeded`` for the refund left processing."""
    return _event(
        shop.sandbox.webhook_for(
            _W.REFUND_SUCCEEDED, shop.paid_provider_id, provider_refund_id=shop.provider_refund_id
        )
    )


def dispute_event(shop: Shop) -> dict[str, Any]:
    """``dispute.created`` for the open dispute."""
    return _event(
        shop.sandbox.webhook_for(
            _W.DISPUTE_CREATED, shop.paid_provider_id, provider_dispute_id=shop.provider_dispute_id
        )
    )


def _event(delivery: tuple[dict[str, str], bytes]) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(delivery[1])
    return event


def signed(event: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """``event`` as the sandbox would deliver it: a body and a valid signature over it."""
    body = json.dumps(event).encode()
    return {SIGNATURE_HEADER: signature_header(SecretStr(SECRET), body)}, body


def assert_nothing_changed(shop: Shop, log_before: dict[str, Any]) -> None:
    """No payment, refund or dispute moved, no log entry was written, the inbox is empty."""
    service = shop.service
    assert service.get_payment_status(shop.waiting_id) is PaymentStatus.REQUIRES_ACTION
    assert service.get_payment_status(shop.paid_id) is PaymentStatus.COMPLETED
    assert service.get_refund(shop.refund_id).status is RefundStatus.PROCESSING
    assert service.list_disputes(shop.paid_id) == []
    for payment_id, log in log_before.items():
        assert service.get_transaction_log(payment_id) == log
        assert service.list_webhook_events(payment_id) == []
    assert service.list_unmatched_webhook_events() == []


EventOf = Callable[[Shop], dict[str, Any]]

UNREADABLE: Final[list[tuple[EventOf, str, str, object]]] = [
    (payment_event, "payment", "amount", "NaN"),
    (payment_event, "payment", "amount", "Infinity"),
    (payment_event, "payment", "amount", "-40.00"),
    (payment_event, "payment", "amount", "40.001"),
    (payment_event, "payment", "amount", 40.0),
    (payment_event, "payment", "currency", "usd"),
    (payment_event, "payment", "currency", "XXY"),
    (refund_event, "refund", "amount", "NaN"),
    (refund_event, "payment", "currency", "usd"),
    (dispute_event, "dispute", "amount", "NaN"),
    (dispute_event, "payment", "currency", "usd"),
]


@pytest.mark.parametrize(
    ("event_of", "part", "key", "value"),
    UNREADABLE,
    ids=[f"{e.__name__}-{p}.{k}={v!r}" for e, p, k, v in UNREADABLE],
)
def test_a_signed_event_with_an_unreadable_amount_or_currency_is_answered_400(
    shop: Shop, event_of: EventOf, part: str, key: str, value: object
) -> None:
    """An authentic event whose amount or currency is not valid money changes nothing: 400."""
    event = event_of(shop)
    event[part][key] = value
    log_before = {p: shop.service.get_transaction_log(p) for p in (shop.waiting_id, shop.paid_id)}

    result = shop.service.handle_webhook("sandbox", *signed(event))

    assert (result.status_code, result.outcome) == (400, WebhookOutcome.REJECTED)
    assert not result.ok
    assert f"{part}.{key}" in result.body  # says which field is wrong
    assert SECRET not in result.body
    assert_nothing_changed(shop, log_before)


def test_the_sandbox_refuses_an_unreadable_amount_as_a_validation_error(shop: Shop) -> None:
    """``parse_webhook`` raises paykit's ValidationError naming the event's own field."""
    event = refund_event(shop)
    event["refund"]["amount"] = "NaN"

    with pytest.raises(ValidationError) as raised:
        shop.sandbox.parse_webhook(*signed(event))

    assert raised.value.field == "refund.amount"


MALFORMED: Final[list[tuple[str, Callable[[dict[str, Any]], object]]]] = [
    ("no event id", lambda event: event.pop("id")),
    ("a creation time that is not a timestamp", lambda event: event.update(created="today")),
    ("a refund that is not an object", lambda event: event.update(refund=["re_1"])),
    ("a payment id that is not a string", lambda event: event["payment"].update(id=7)),
]


@pytest.mark.parametrize(
    "alter", [alter for _, alter in MALFORMED], ids=[name for name, _ in MALFORMED]
)
def test_a_signed_event_of_the_wrong_shape_is_answered_400(
    shop: Shop, alter: Callable[[dict[str, Any]], object]
) -> None:
    """Missing fields and wrong types anywhere in an authentic event are a 400, never a raise."""
    event = refund_event(shop)
    alter(event)
    log_before = {p: shop.service.get_transaction_log(p) for p in (shop.waiting_id, shop.paid_id)}

    result = shop.service.handle_webhook("sandbox", *signed(event))

    assert (result.status_code, result.outcome) == (400, WebhookOutcome.REJECTED)
    assert "not a sandbox event" in result.body
    assert_nothing_changed(shop, log_before)


def test_the_same_event_with_readable_content_is_applied(shop: Shop) -> None:
    """The altered events above differ from an applied one only in the field they break."""
    for event in (payment_event(shop), refund_event(shop), dispute_event(shop)):
        result = shop.service.handle_webhook("sandbox", *signed(event))
        assert (result.status_code, result.outcome) == (200, WebhookOutcome.APPLIED)
    assert shop.service.get_payment_status(shop.waiting_id) is PaymentStatus.COMPLETED
    assert shop.service.get_refund(shop.refund_id).status is RefundStatus.COMPLETED
    assert len(shop.service.list_disputes(shop.paid_id)) == 1
