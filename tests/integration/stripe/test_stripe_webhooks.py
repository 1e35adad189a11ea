"""Stripe webhooks: signatures computed here by hand, then paykit's normalised events.

The signing helper (``_stripe_support.sign``) follows Stripe's documented scheme on its
own -- ``HMAC-SHA256(secret, f"{t}." + body)`` as ``t=...,v1=...`` -- and shares no code with
the adapter, so a bug in one cannot hide a bug in the other.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from _stripe_support import (
    NOW,
    OLD_WEBHOOK_SECRET,
    WEBHOOK_SECRET,
    fixture,
    make_fake,
    make_gateway,
    sign,
)

from paykit.domain.dispute import DisputeStatus
from paykit.errors import WebhookSignatureError
from paykit.gateways import GatewayOutcome, WebhookEventType
from paykit.gateways.base import DisputeDetails
from paykit.gateways.stripe import StripeGateway
from paykit.money import Money

_E = WebhookEventType


def _event(event_type: str, obj: dict[str, Any]) -> bytes:
    event = fixture("event", id="evt_test_1", type=event_type, data={"object": obj})
    return json.dumps(event).encode()


def _intent(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "status": "succeeded",
        "amount": 2500,
        "amount_received": 2500,
        "metadata": {"paykit_payment_id": "pay_test_1"},
        "last_payment_error": None,
        "next_action": None,
    }
    fields.update(overrides)
    return fixture("payment_intent", **fields)


def _gateway(**options: Any) -> StripeGateway:
    return make_gateway(make_fake().transport, **options)


BODY = _event("payment_intent.succeeded", _intent())


def test_a_genuine_webhook_verifies_and_is_normalised() -> None:
    """A body signed with the endpoint secret becomes a payment.succeeded event."""
    event = _gateway().parse_webhook({"Stripe-Signature": sign(BODY, WEBHOOK_SECRET)}, BODY)

    assert event.type is _E.PAYMENT_SUCCEEDED
    assert event.provider == "stripe"
    assert event.provider_type == "payment_intent.succeeded"
    assert event.event_id == "evt_test_1"
    assert event.provider_payment_id == "pi_1PgafyB7WZ01zgkWSjxsAJo3"
    assert event.payment_id == "pay_test_1"
    assert event.created == datetime.fromtimestamp(1234567890, UTC)
    assert event.result is not None
    assert event.result.outcome is GatewayOutcome.SUCCEEDED
    assert str(event.result.amount) == "25.00 USD"


def test_the_raw_event_keeps_no_client_secret() -> None:
    """The stored copy of the event has the PaymentIntent's client secret removed."""
    secret = _intent()["client_secret"]
    event = _gateway().parse_webhook({"Stripe-Signature": sign(BODY, WEBHOOK_SECRET)}, BODY)

    assert secret not in json.dumps(event.raw)
    assert event.result is not None
    assert secret not in json.dumps(event.result.raw)


def test_a_tampered_body_is_refused() -> None:
    """Changing one byte of the body after signing breaks the signature."""
    header = sign(BODY, WEBHOOK_SECRET)
    tampered = BODY.replace(b"2500", b"9500", 1)

    with pytest.raises(WebhookSignatureError, match="does not match"):
        _gateway().parse_webhook({"Stripe-Signature": header}, tampered)


def test_a_signature_from_another_secret_is_refused() -> None:
    """A body signed with a secret the endpoint does not hold is refused."""
    header = sign(BODY, "whsec_someone_else")

    with pytest.raises(WebhookSignatureError, match="does not match"):
        _gateway().parse_webhook({"Stripe-Signature": header}, BODY)


@pytest.mark.parametrize("age", [301, 3600, 86400])
def test_a_stale_timestamp_is_refused(age: int) -> None:
    """A correctly signed event older than the 300 s tolerance is a replay: refused."""
    header = sign(BODY, WEBHOOK_SECRET, timestamp=NOW - age)

    with pytest.raises(WebhookSignatureError, match="old"):
        _gateway().parse_webhook({"Stripe-Signature": header}, BODY)


@pytest.mark.parametrize("ahead", [301, 3600])
def test_a_future_timestamp_is_refused(ahead: int) -> None:
    """A correctly signed event dated beyond the tolerance ahead is refused as well."""
    header = sign(BODY, WEBHOOK_SECRET, timestamp=NOW + ahead)

    with pytest.raises(WebhookSignatureError, match="future"):
        _gateway().parse_webhook({"Stripe-Signature": header}, BODY)


@pytest.mark.parametrize("offset", [-300, -1, 0, 1, 300])
def test_timestamps_within_the_tolerance_verify(offset: int) -> None:
    """Up to 300 s either way is accepted (clocks drift; deliveries take time)."""
    header = sign(BODY, WEBHOOK_SECRET, timestamp=NOW + offset)

    assert _gateway().parse_webhook({"Stripe-Signature": header}, BODY).event_id


def test_the_tolerance_is_configurable() -> None:
    """``webhook_tolerance`` narrows the accepted window."""
    header = sign(BODY, WEBHOOK_SECRET, timestamp=NOW - 120)

    with pytest.raises(WebhookSignatureError):
        _gateway(webhook_tolerance=60).parse_webhook({"Stripe-Signature": header}, BODY)


def test_an_event_signed_with_the_previous_secret_verifies_while_rotating() -> None:
    """With old and new secrets configured, an event signed with the old one still verifies."""
    header = sign(BODY, OLD_WEBHOOK_SECRET)

    assert _gateway().parse_webhook({"Stripe-Signature": header}, BODY).event_id == "evt_test_1"


def test_any_of_several_v1_signatures_may_match() -> None:
    """Stripe may send one v1 per secret it signs with; one match is enough."""
    unknown = sign(BODY, "whsec_rolled_elsewhere").split(",")[1]
    known = sign(BODY, WEBHOOK_SECRET).split(",")[1]
    header = f"t={NOW},{unknown},{known}"

    assert _gateway().parse_webhook({"Stripe-Signature": header}, BODY).event_id


def test_a_retired_secret_no_longer_verifies() -> None:
    """Once only the new secret is configured, an event signed with the old one is refused."""
    header = sign(BODY, OLD_WEBHOOK_SECRET)
    gateway = _gateway(webhook_secrets=[WEBHOOK_SECRET])

    with pytest.raises(WebhookSignatureError):
        gateway.parse_webhook({"Stripe-Signature": header}, BODY)


def test_a_missing_header_is_refused() -> None:
    """A body without any Stripe-Signature header is refused."""
    with pytest.raises(WebhookSignatureError, match="no Stripe-Signature"):
        _gateway().parse_webhook({"Content-Type": "application/json"}, BODY)


@pytest.mark.parametrize("name", ["stripe-signature", "STRIPE-SIGNATURE", "Stripe-Signature"])
def test_the_header_name_is_case_insensitive(name: str) -> None:
    """HTTP header names are case-insensitive, and frameworks spell them differently."""
    assert _gateway().parse_webhook({name: sign(BODY, WEBHOOK_SECRET)}, BODY).event_id


def _v1(timestamp: int = NOW, body: bytes = BODY, secret: str = WEBHOOK_SECRET) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        f"v1={_v1()}",
        f"t={NOW}",
        f"t=soon,v1={_v1()}",
        f"t=-{NOW},v1={_v1()}",
        f"t={NOW},t={NOW},v1={_v1()}",
        f"t={NOW},v1=",
        f"t={NOW};v1={_v1()}",
        f"t={NOW},v0={_v1()}",
        f"t={NOW},{_v1()}",
        "t=\uff11\uff18" + "\uff10" * 8 + ",v1=abc",
    ],
    ids=[
        "empty",
        "garbage",
        "no timestamp",
        "no signature",
        "word timestamp",
        "negative timestamp",
        "two timestamps",
        "empty signature",
        "semicolons",
        "only v0",
        "bare signature",
        "non-ascii digits",
    ],
)
def test_a_malformed_header_is_refused(header: str) -> None:
    """Headers that do not parse as ``t=<digits>,v1=<hex>`` are refused, never guessed at."""
    with pytest.raises(WebhookSignatureError):
        _gateway().parse_webhook({"Stripe-Signature": header}, BODY)


def test_refusals_never_show_a_secret_or_a_signature() -> None:
    """No refusal message contains a webhook secret or the signature it was given."""
    bad = sign(BODY, "whsec_someone_else")
    for header in (bad, sign(BODY, WEBHOOK_SECRET, timestamp=NOW - 999), "t=1,v1=zz"):
        with pytest.raises(WebhookSignatureError) as caught:
            _gateway().parse_webhook({"Stripe-Signature": header}, BODY)
        text = str(caught.value) + repr(caught.value)
        for secret_text in (WEBHOOK_SECRET, OLD_WEBHOOK_SECRET, header.split("v1=")[-1]):
            assert secret_text not in text


def test_a_signed_body_that_is_not_an_event_is_refused() -> None:
    """A correctly signed body that is not a Stripe event object is refused."""
    body = b'{"hello": "world"}'

    with pytest.raises(WebhookSignatureError, match="not a Stripe event"):
        _gateway().parse_webhook({"Stripe-Signature": sign(body, WEBHOOK_SECRET)}, body)


def test_without_a_configured_secret_nothing_verifies() -> None:
    """A gateway without webhook secrets refuses every webhook rather than trusting it."""
    gateway = _gateway(webhook_secrets=[])

    with pytest.raises(WebhookSignatureError, match="no webhook secret is configured"):
        gateway.parse_webhook({"Stripe-Signature": sign(BODY, WEBHOOK_SECRET)}, BODY)


def test_the_signature_covers_the_raw_utf8_bytes() -> None:
    """A body with non-ASCII text verifies over its exact bytes."""
    body = _event("payment_intent.succeeded", _intent(description="Café Ünïcode ☕"))

    event = _gateway().parse_webhook({"Stripe-Signature": sign(body, WEBHOOK_SECRET)}, body)

    assert event.type is _E.PAYMENT_SUCCEEDED


# -- normalisation ------------------------------------------------------------------------


def _parse(event_type: str, obj: dict[str, Any]) -> Any:
    body = _event(event_type, obj)
    return _gateway().parse_webhook({"Stripe-Signature": sign(body, WEBHOOK_SECRET)}, body)


@pytest.mark.parametrize(
    ("stripe_type", "status", "expected", "outcome"),
    [
        ("payment_intent.succeeded", "succeeded", _E.PAYMENT_SUCCEEDED, GatewayOutcome.SUCCEEDED),
        (
            "payment_intent.payment_failed",
            "requires_payment_method",
            _E.PAYMENT_FAILED,
            GatewayOutcome.DECLINED,
        ),
        (
            "payment_intent.requires_action",
            "requires_action",
            _E.PAYMENT_REQUIRES_ACTION,
            GatewayOutcome.REQUIRES_ACTION,
        ),
        ("payment_intent.canceled", "canceled", _E.PAYMENT_CANCELED, GatewayOutcome.DECLINED),
        ("payment_intent.processing", "processing", _E.PAYMENT_PROCESSING, GatewayOutcome.PENDING),
        (
            "payment_intent.amount_capturable_updated",
            "requires_capture",
            _E.PAYMENT_AUTHORIZED,
            GatewayOutcome.AUTHORIZED,
        ),
    ],
)
def test_payment_intent_events_are_normalised(
    stripe_type: str, status: str, expected: WebhookEventType, outcome: GatewayOutcome
) -> None:
    """Each PaymentIntent event becomes its paykit type, with the outcome it reports."""
    event = _parse(stripe_type, _intent(status=status, amount_capturable=2500))

    assert event.type is expected
    assert event.provider_payment_id == "pi_1PgafyB7WZ01zgkWSjxsAJo3"
    assert event.payment_id == "pay_test_1"
    assert event.result.outcome is outcome


def test_a_failed_payment_event_carries_the_decline() -> None:
    """payment_intent.payment_failed reports the decline code of the last payment error."""
    error = {"type": "card_error", "code": "card_declined", "decline_code": "stolen_card"}
    event = _parse(
        "payment_intent.payment_failed",
        _intent(status="requires_payment_method", last_payment_error=error),
    )

    assert event.result.decline_code == "stolen_card"


def test_a_requires_action_event_hands_out_no_client_secret() -> None:
    """The next action from a webhook is for the record: it carries no client secret."""
    event = _parse(
        "payment_intent.requires_action",
        _intent(status="requires_action", next_action={"type": "use_stripe_sdk"}),
    )

    assert event.result.next_action.type == "use_stripe_sdk"
    assert event.result.next_action.client_secret is None


@pytest.mark.parametrize(
    ("stripe_type", "status", "expected"),
    [
        ("refund.created", "succeeded", _E.REFUND_SUCCEEDED),
        ("refund.created", "pending", _E.REFUND_PENDING),
        ("refund.updated", "succeeded", _E.REFUND_SUCCEEDED),
        ("refund.updated", "failed", _E.REFUND_FAILED),
        ("refund.updated", "canceled", _E.REFUND_FAILED),
        ("refund.failed", "failed", _E.REFUND_FAILED),
        ("charge.refund.updated", "succeeded", _E.REFUND_SUCCEEDED),
    ],
)
def test_refund_events_are_normalised_by_the_refunds_status(
    stripe_type: str, status: str, expected: WebhookEventType
) -> None:
    """Refund events name the refund, its payment and paykit's ids, typed by the status."""
    refund = fixture(
        "refund",
        status=status,
        payment_intent="pi_123",
        metadata={"paykit_payment_id": "pay_test_1", "paykit_refund_id": "ref_test_1"},
    )

    event = _parse(stripe_type, refund)

    assert event.type is expected
    assert event.provider_refund_id == "re_1Pgc72B7WZ01zgkWqPvrRrPE"
    assert event.provider_payment_id == "pi_123"
    assert event.payment_id == "pay_test_1"
    assert event.refund_id == "ref_test_1"
    assert str(event.result.amount) == "1.00 USD"


def test_a_refund_paykit_did_not_make_names_no_paykit_refund() -> None:
    """A refund made in the Dashboard carries no paykit metadata: no refund id is made up."""
    event = _parse("refund.created", fixture("refund", payment_intent="pi_123"))

    assert event.type is _E.REFUND_SUCCEEDED
    assert event.provider_refund_id == "re_1Pgc72B7WZ01zgkWqPvrRrPE"
    assert event.refund_id is None
    assert event.payment_id is None


def test_charge_refunded_reports_the_total_refunded() -> None:
    """charge.refunded names the PaymentIntent and the charge's total refunded amount."""
    charge = fixture("charge", payment_intent="pi_123", amount_refunded=60, refunded=False)

    event = _parse("charge.refunded", charge)

    assert event.type is _E.PAYMENT_REFUNDED
    assert event.provider_payment_id == "pi_123"
    assert str(event.result.amount) == "0.60 USD"
    assert "client_secret" not in json.dumps(event.raw)


@pytest.mark.parametrize(
    ("stripe_type", "expected"),
    [
        ("charge.dispute.created", _E.DISPUTE_CREATED),
        ("charge.dispute.updated", _E.DISPUTE_UPDATED),
        ("charge.dispute.closed", _E.DISPUTE_CLOSED),
        ("charge.dispute.funds_withdrawn", _E.DISPUTE_UPDATED),
        ("charge.dispute.funds_reinstated", _E.DISPUTE_UPDATED),
    ],
)
def test_dispute_events_carry_the_dispute(stripe_type: str, expected: WebhookEventType) -> None:
    """Stripe's own Dispute fixture becomes a DisputeDetails: id, status, amount, deadline."""
    dispute = fixture("dispute", payment_intent="pi_123")

    event = _parse(stripe_type, dispute)

    assert event.type is expected
    assert event.provider_payment_id == "pi_123"
    assert event.payment_id is None  # a Dispute carries no paykit metadata
    assert event.result is None
    assert event.dispute == DisputeDetails(
        provider_dispute_id="dp_1Pgc71B7WZ01zgkWMevJiAUx",
        status=DisputeStatus.WARNING_NEEDS_RESPONSE,
        amount=Money.of("10.00", "USD"),
        reason="general",
        provider_status="warning_needs_response",
        evidence_due_by=datetime(2024, 8, 14, 23, 59, 59, tzinfo=UTC),
    )


def test_an_unknown_event_type_is_ignored_not_an_error() -> None:
    """Stripe's own event fixture (plan.created) verifies and comes back as ``ignored``."""
    body = json.dumps(fixture("event")).encode()

    event = _gateway().parse_webhook({"Stripe-Signature": sign(body, WEBHOOK_SECRET)}, body)

    assert event.type is _E.IGNORED
    assert event.provider_type == "plan.created"
    assert event.event_id == "evt_1Pgc76B7WZ01zgkWwyRHS12y"
    assert event.result is None
