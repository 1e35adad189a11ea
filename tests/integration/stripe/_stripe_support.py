"""Shared helpers for the Stripe adapter tests: fixtures, a fake Stripe, hand-made signatures.

Everything here works at the HTTP level: the real ``stripe`` SDK inside ``StripeGateway``
talks through ``httpx.MockTransport`` to either :class:`FakeStripe` (a scripted Stripe built
from the fixture shapes in ``fixtures/``) or a one-off handler that answers a fixture object
with a few fields overridden.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import httpx

from paykit.domain.payment_method import PaymentMethodType
from paykit.gateways.base import (
    CaptureRequest,
    ChargeRequest,
    PaymentLookup,
    RefundLookup,
    RefundRequest,
    VoidRequest,
)
from paykit.gateways.stripe import FakeStripe, FakeToken, StripeGateway
from paykit.money import Money

FIXTURES: Final = Path(__file__).parent / "fixtures"

API_KEY: Final = "sk_test_51PaykitFAKEkey0123456789abcdefXYZ"
"""A test-mode-shaped key that must never show up in a repr, a log or an error."""

WEBHOOK_SECRET: Final = "whsec_paykit_current_0123456789"
OLD_WEBHOOK_SECRET: Final = "whsec_paykit_previous_9876543210"
NOW: Final = 1_800_000_000


def fixture(name: str, **overrides: Any) -> dict[str, Any]:
    """A copy of Stripe's fixture object ``name`` with ``overrides`` applied on top."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    data.update(copy.deepcopy(overrides))
    return data


def templates() -> dict[str, dict[str, Any]]:
    """The fixture shapes the fake Stripe builds its objects from."""
    names = ("payment_intent", "refund", "payment_method", "dispute", "event")
    return {name: fixture(name) for name in names}


def make_fake() -> FakeStripe:
    """A fake Stripe answering with Stripe's fixture shapes, accepting only :data:`API_KEY`."""
    return FakeStripe(templates=templates(), api_key=API_KEY, clock=lambda: float(NOW))


def make_gateway(
    transport: httpx.BaseTransport, *, max_network_retries: int = 0, **options: Any
) -> StripeGateway:
    """A gateway over ``transport`` with the test key and both webhook secrets."""
    options.setdefault("webhook_secrets", [WEBHOOK_SECRET, OLD_WEBHOOK_SECRET])
    options.setdefault("clock", lambda: float(NOW))
    return StripeGateway(
        API_KEY, transport=transport, max_network_retries=max_network_retries, **options
    )


def answering(
    status: int,
    body: Mapping[str, Any],
    *,
    seen: list[httpx.Request] | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.MockTransport:
    """A transport that answers every request with ``status`` and the JSON ``body``."""

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(
            status, json=dict(body), headers={"request-id": "req_test123", **(headers or {})}
        )

    return httpx.MockTransport(handler)


def stripe_error(
    error_type: str, message: str, *, code: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A Stripe error body (``{"error": {...}}``)."""
    error: dict[str, Any] = {"type": error_type, "message": message, **extra}
    if code is not None:
        error["code"] = code
    return {"error": error}


def form_of(request: httpx.Request) -> dict[str, str]:
    """The form fields of a request the SDK sent."""
    from urllib.parse import parse_qsl  # noqa: PLC0415 - only this helper needs it

    return dict(parse_qsl(request.content.decode("utf-8"), keep_blank_values=True))


def sign(body: bytes, secret: str, timestamp: int = NOW) -> str:
    """A ``Stripe-Signature`` value computed by hand from the documented scheme."""
    signed = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def charge_request(  # noqa: PLR0913 - the fields a test varies
    *,
    amount: str = "25.00",
    currency: str = "USD",
    token: str = FakeToken.SUCCESS,
    capture: bool = True,
    payment_id: str = "pay_test_1",
    customer_id: str = "customer-42",
    return_url: str | None = None,
    description: str = "",
) -> ChargeRequest:
    """A charge request like ``PaymentService`` sends."""
    return ChargeRequest(
        payment_id=payment_id,
        amount=Money.of(amount, currency),
        payment_method_token=token,
        payment_method_type=PaymentMethodType.CREDIT_CARD,
        customer_id=customer_id,
        idempotency_key=f"paykit:{payment_id}:charge",
        capture=capture,
        description=description,
        return_url=return_url,
    )


def capture_request(provider_id: str, amount: str, *, currency: str = "USD") -> CaptureRequest:
    """A capture request like ``PaymentService`` sends."""
    return CaptureRequest(
        payment_id="pay_test_1",
        provider_payment_id=provider_id,
        amount=Money.of(amount, currency),
        idempotency_key="paykit:pay_test_1:capture",
    )


def void_request(provider_id: str) -> VoidRequest:
    """A void request like ``PaymentService`` sends."""
    return VoidRequest(
        payment_id="pay_test_1",
        provider_payment_id=provider_id,
        idempotency_key="paykit:pay_test_1:void",
    )


def refund_request(
    provider_id: str,
    amount: str,
    *,
    currency: str = "USD",
    refund_id: str = "ref_test_1",
    reason: str = "",
) -> RefundRequest:
    """A refund request like ``PaymentService`` sends."""
    return RefundRequest(
        refund_id=refund_id,
        payment_id="pay_test_1",
        provider_payment_id=provider_id,
        amount=Money.of(amount, currency),
        idempotency_key=f"paykit:{refund_id}:refund",
        reason=reason,
    )


def payment_lookup(
    provider_id: str | None, *, payment_id: str = "pay_test_1", amount: str = "25.00"
) -> PaymentLookup:
    """A reconciliation lookup like ``PaymentService`` sends."""
    return PaymentLookup(
        payment_id=payment_id,
        provider_payment_id=provider_id,
        idempotency_key=f"paykit:{payment_id}:charge",
        amount=Money.of(amount, "USD"),
    )


def refund_lookup(
    provider_payment_id: str, provider_refund_id: str | None, *, refund_id: str = "ref_test_1"
) -> RefundLookup:
    """A refund reconciliation lookup like ``PaymentService`` sends."""
    return RefundLookup(
        refund_id=refund_id,
        provider_refund_id=provider_refund_id,
        provider_payment_id=provider_payment_id,
        idempotency_key=f"paykit:{refund_id}:refund",
        amount=Money.of("10.00", "USD"),
    )


Handler = Callable[[httpx.Request], httpx.Response]
