"""The timestamped HMAC signature scheme, checked against signatures computed here by hand."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from pydantic import SecretStr

from paykit import PaymentMethodType, SandboxGateway, SandboxToken, WebhookSignatureError
from paykit.gateways import ChargeRequest, WebhookEventType
from paykit.gateways._signatures import TimestampedSignature, signature_header
from paykit.money import Money

SECRET = SecretStr("whsec_test")
BODY = b'{"id":"evt_1"}'
NOW = 1_800_000_000


def verify(header: str | None, body: bytes, secrets: list[SecretStr], *, now: int) -> int:
    """Verify as a receiver whose clock reads ``now`` would, with the header under test."""
    headers = {} if header is None else {"X-Signature": header}
    return TimestampedSignature("X-Signature", secrets, clock=lambda: now).verify(headers, body)


def _by_hand(secret: str, timestamp: int, body: bytes) -> str:
    """The documented scheme, written out independently of the code under test."""
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def test_a_valid_signature_verifies_and_returns_its_timestamp() -> None:
    """A header signed by hand with the shared secret verifies."""
    header = f"t={NOW},v1={_by_hand('whsec_test', NOW, BODY)}"
    assert verify(header, BODY, [SECRET], now=NOW) == NOW


def test_our_header_matches_the_hand_computed_one() -> None:
    """``signature_header`` produces exactly the documented header."""
    assert signature_header(SECRET, BODY, NOW) == f"t={NOW},v1={_by_hand('whsec_test', NOW, BODY)}"


@pytest.mark.parametrize(
    ("header", "body", "now"),
    [
        pytest.param(None, BODY, NOW, id="missing"),
        pytest.param("", BODY, NOW, id="empty"),
        pytest.param("v1=abc", BODY, NOW, id="no-timestamp"),
        pytest.param(f"t={NOW}", BODY, NOW, id="no-signature"),
        pytest.param("garbage", BODY, NOW, id="malformed"),
        pytest.param(f"t={NOW},v1={_by_hand('whsec_test', NOW, BODY)}", b"{}", NOW, id="tampered"),
        pytest.param(f"t={NOW},v1={_by_hand('whsec_other', NOW, BODY)}", BODY, NOW, id="wrong"),
        pytest.param(
            f"t={NOW},v1={_by_hand('whsec_test', NOW, BODY)}", BODY, NOW + 301, id="stale"
        ),
        pytest.param(
            f"t={NOW},v1={_by_hand('whsec_test', NOW, BODY)}", BODY, NOW - 301, id="future"
        ),
    ],
)
def test_bad_signatures_are_refused(header: str | None, body: bytes, now: int) -> None:
    """Missing, malformed, tampered, wrong-secret, stale and future signatures are refused."""
    with pytest.raises(WebhookSignatureError) as raised:
        verify(header, body, [SECRET], now=now)
    assert raised.value.code == "webhook_signature_invalid"
    assert "whsec" not in raised.value.message


def test_rotated_secrets_verify_with_either() -> None:
    """During a rotation, a signature by the old or the new secret verifies."""
    old, new = SecretStr("whsec_old"), SecretStr("whsec_new")
    both = f"t={NOW},v1={_by_hand('whsec_new', NOW, BODY)},v1={_by_hand('whsec_old', NOW, BODY)}"
    assert verify(both, BODY, [old], now=NOW) == NOW
    assert verify(signature_header(old, BODY, NOW), BODY, [new, old], now=NOW) == NOW


def test_the_sandbox_webhook_round_trip_reports_the_payment() -> None:
    """A sandbox webhook verifies and carries the payment's ids, outcome and amount."""
    sandbox = SandboxGateway()
    amount = Money.of("12.50", "EUR")
    charged = sandbox.charge(
        ChargeRequest(
            payment_id="pay_1",
            amount=amount,
            payment_method_token=SandboxToken.SUCCESS,
            payment_method_type=PaymentMethodType.CREDIT_CARD,
            customer_id="cus_1",
            idempotency_key="paykit:pay_1:charge",
        )
    )
    assert charged.provider_id is not None
    headers, body = sandbox.webhook_for(WebhookEventType.PAYMENT_SUCCEEDED, charged.provider_id)

    event = sandbox.parse_webhook({k.lower(): v for k, v in headers.items()}, body)

    assert event.type is WebhookEventType.PAYMENT_SUCCEEDED
    assert (event.payment_id, event.provider_payment_id) == ("pay_1", charged.provider_id)
    assert event.result is not None
    assert event.result.amount == amount
    unknown_headers, unknown_body = sandbox.webhook_for("customer.updated", charged.provider_id)
    assert sandbox.parse_webhook(unknown_headers, unknown_body).type is WebhookEventType.IGNORED
