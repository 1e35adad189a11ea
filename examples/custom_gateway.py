"""A complete gateway adapter for an imaginary provider, Acme Pay, and paykit running on it.

The file has three parts:

1. ``AcmeGateway`` -- the adapter, what an integrator writes. It speaks HTTP+JSON to Acme
   through ``httpx`` and turns every answer into a paykit ``GatewayResult``: declines and lost
   answers are values, only refusals of our own request are exceptions. It also verifies and
   normalises Acme's webhooks.
2. ``AcmeServer`` -- a stand-in for Acme's servers: a small ledger of charges and refunds,
   reached through ``httpx.MockTransport``, so the adapter really sends requests and parses
   responses. Test tokens pick its behaviour, like a provider's test cards.
3. ``main`` -- paykit's ``PaymentService`` with the adapter and in-memory storage: a payment,
   a refund, a decline, a lost answer and its reconciliation, and a webhook::

    python examples/custom_gateway.py

``tests/contract/test_custom_gateway_example.py`` runs paykit's gateway conformance suite
against this adapter; ``docs/writing-a-gateway.md`` explains it step by step.

Acme Pay's API (imaginary): ``POST /v1/charges``, ``POST /v1/charges/{id}/capture``,
``POST /v1/charges/{id}/cancel``, ``POST /v1/refunds``, ``GET /v1/charges/{id}``,
``GET /v1/charges?reference=...``, ``GET /v1/refunds/{id}``, ``GET /v1/refunds?reference=...``.
Amounts are integers in minor units, except that Acme counts ISK in hundredths. Every POST
needs an ``Idempotency-Key``; a declined card is ``402`` (``authentication_required`` for an
off-session charge of a card that wants 3-D Secure); webhooks carry ``Acme-Timestamp`` and
``Acme-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Self

import httpx
from pydantic import SecretStr

from paykit import (
    GatewayConfigurationError,
    GatewayError,
    GatewayOutcome,
    GatewayResult,
    IdempotencyConflict,
    InMemoryStorage,
    Money,
    NextAction,
    PaymentService,
    WebhookSignatureError,
    from_minor_units,
    to_minor_units,
)
from paykit.gateways import (
    CaptureRequest,
    ChargeRequest,
    PaymentLookup,
    RefundLookup,
    RefundRequest,
    VoidRequest,
    WebhookEvent,
    WebhookEventType,
)

# ---------------------------------------------------------------------------------------------
# Part 1: the adapter
# ---------------------------------------------------------------------------------------------

ACME_EXPONENTS: Final = {"ISK": 2}
"""Where Acme counts differently from ISO 4217: it sends ISK (ISO exponent 0) in hundredths."""

WEBHOOK_TOLERANCE: Final = 300
"""Seconds a webhook's timestamp may be away from now (replayed or forged-late events)."""

_O = GatewayOutcome

_CHARGE_OUTCOMES: Final = {
    "succeeded": _O.SUCCEEDED,
    "authorized": _O.AUTHORIZED,
    "action_required": _O.REQUIRES_ACTION,
    "processing": _O.PENDING,
    "failed": _O.DECLINED,
    "canceled": _O.DECLINED,
}
_REFUND_OUTCOMES: Final = {
    "succeeded": _O.SUCCEEDED,
    "pending": _O.PENDING,
    "failed": _O.DECLINED,
}
_EVENT_TYPES: Final = {
    "charge.succeeded": WebhookEventType.PAYMENT_SUCCEEDED,
    "charge.authorized": WebhookEventType.PAYMENT_AUTHORIZED,
    "charge.action_required": WebhookEventType.PAYMENT_REQUIRES_ACTION,
    "charge.failed": WebhookEventType.PAYMENT_FAILED,
    "charge.canceled": WebhookEventType.PAYMENT_CANCELED,
    "refund.succeeded": WebhookEventType.REFUND_SUCCEEDED,
    "refund.failed": WebhookEventType.REFUND_FAILED,
}

Json = dict[str, Any]


def to_acme_units(money: Money) -> int:
    """Paykit money to Acme's integer amount (refuses, never rounds, what Acme cannot hold)."""
    return to_minor_units(money, exponent=ACME_EXPONENTS.get(money.currency))


def from_acme_units(units: int, currency: str) -> Money:
    """Acme's integer amount back to paykit money."""
    return from_minor_units(units, currency, exponent=ACME_EXPONENTS.get(currency))


class AcmeGateway:
    """Acme Pay behind paykit's ``Gateway`` protocol (and ``WebhookGateway``).

    ``transport`` is any ``httpx`` transport: leave it out for the real network, or pass
    ``AcmeServer.transport()`` (or your own ``httpx.MockTransport``) in tests.
    """

    def __init__(  # noqa: PLR0913 - configuration, all keyword-only
        self,
        *,
        api_key: str | SecretStr,
        webhook_secret: str | SecretStr | None = None,
        base_url: str = "https://api.acme-pay.example",
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        name: str = "acme",
    ) -> None:
        # Secrets live in SecretStr: no repr, log line or traceback can show them.
        self._api_key = SecretStr(api_key) if isinstance(api_key, str) else api_key
        self._webhook_secret = (
            SecretStr(webhook_secret) if isinstance(webhook_secret, str) else webhook_secret
        )
        self._client = httpx.Client(base_url=base_url, transport=transport, timeout=timeout)
        self._clock = clock
        self._name = name

    @property
    def name(self) -> str:
        """The provider name paykit stores on payment methods and payments."""
        return self._name

    def __repr__(self) -> str:
        return f"AcmeGateway(name={self._name!r}, base_url={str(self._client.base_url)!r})"

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the Gateway protocol ---------------------------------------------------------------

    def charge(self, request: ChargeRequest) -> GatewayResult:
        """Create an Acme charge: captured now, or only authorized for ``capture=False``."""
        body = {
            "amount": to_acme_units(request.amount),
            "currency": request.amount.currency,
            "source": request.payment_method_token,
            "capture": request.capture,
            "reference": request.payment_id,  # lets us find the charge if the answer is lost
            "description": request.description,
            "return_url": request.return_url,
            "metadata": request.metadata,
            "off_session": request.off_session,  # the customer is away: Acme must not ask them
        }
        answer = self._send("POST", "/v1/charges", body=body, key=request.idempotency_key)
        return answer if isinstance(answer, GatewayResult) else self._charge_result(answer)

    def capture(self, request: CaptureRequest) -> GatewayResult:
        """Capture all or part of an authorized charge."""
        answer = self._send(
            "POST",
            f"/v1/charges/{request.provider_payment_id}/capture",
            body={"amount": to_acme_units(request.amount)},
            key=request.idempotency_key,
        )
        return answer if isinstance(answer, GatewayResult) else self._charge_result(answer)

    def void(self, request: VoidRequest) -> GatewayResult:
        """Cancel an authorization, or a charge still waiting for the customer."""
        answer = self._send(
            "POST",
            f"/v1/charges/{request.provider_payment_id}/cancel",
            body={},
            key=request.idempotency_key,
        )
        if isinstance(answer, GatewayResult):
            return answer
        if answer["status"] == "canceled":  # for a void, "canceled" is the success
            return GatewayResult(outcome=_O.SUCCEEDED, provider_id=answer["id"], raw=_safe(answer))
        return self._charge_result(answer)

    def refund(self, request: RefundRequest) -> GatewayResult:
        """Refund all or part of a captured charge."""
        body = {
            "charge": request.provider_payment_id,
            "amount": to_acme_units(request.amount),
            "reference": request.refund_id,
            "reason": request.reason,
        }
        answer = self._send("POST", "/v1/refunds", body=body, key=request.idempotency_key)
        return answer if isinstance(answer, GatewayResult) else self._refund_result(answer)

    def retrieve_payment(self, lookup: PaymentLookup) -> GatewayResult:
        """Acme's truth about a payment, by its id or, after a lost answer, by our reference."""
        if lookup.provider_payment_id is not None:
            answer = self._send("GET", f"/v1/charges/{lookup.provider_payment_id}")
            return answer if isinstance(answer, GatewayResult) else self._charge_result(answer)
        found = self._send("GET", "/v1/charges", params={"reference": lookup.payment_id})
        if isinstance(found, GatewayResult):
            return found
        if not found["data"]:  # the request never arrived: nothing was charged
            return GatewayResult(
                outcome=_O.DECLINED,
                decline_code="not_found",
                message="Acme Pay never received this payment.",
            )
        return self._charge_result(found["data"][-1])

    def retrieve_refund(self, lookup: RefundLookup) -> GatewayResult:
        """Acme's truth about a refund, by its id or, after a lost answer, by our reference."""
        if lookup.provider_refund_id is not None:
            answer = self._send("GET", f"/v1/refunds/{lookup.provider_refund_id}")
            return answer if isinstance(answer, GatewayResult) else self._refund_result(answer)
        found = self._send("GET", "/v1/refunds", params={"reference": lookup.refund_id})
        if isinstance(found, GatewayResult):
            return found
        if not found["data"]:
            return GatewayResult(
                outcome=_O.DECLINED,
                decline_code="not_found",
                message="Acme Pay never received this refund.",
            )
        return self._refund_result(found["data"][-1])

    # -- webhooks (the optional WebhookGateway capability) ----------------------------------

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Verify an Acme webhook's signature and timestamp, then normalise the event."""
        self._verify(headers, body)
        event = json.loads(body)
        obj: Json = event["data"]["object"]
        provider_type: str = event["type"]
        is_refund = obj.get("object") == "refund"
        return WebhookEvent(
            provider=self._name,
            event_id=event["id"],
            type=_EVENT_TYPES.get(provider_type, WebhookEventType.IGNORED),
            provider_type=provider_type,
            created=datetime.fromtimestamp(event["created"], UTC),
            provider_payment_id=obj["charge"] if is_refund else obj["id"],
            provider_refund_id=obj["id"] if is_refund else None,
            payment_id=None if is_refund else obj.get("reference"),
            result=self._refund_result(obj) if is_refund else self._charge_result(obj),
            raw=_safe(event),
        )

    def _verify(self, headers: Mapping[str, str], body: bytes) -> None:
        if self._webhook_secret is None:
            msg = "AcmeGateway needs webhook_secret to verify webhooks"
            raise GatewayConfigurationError(msg)
        lowered = {name.lower(): value for name, value in headers.items()}
        timestamp = lowered.get("acme-timestamp", "")
        signatures = [
            part.removeprefix("v1=")
            for part in lowered.get("acme-signature", "").split(",")
            if part.startswith("v1=")
        ]
        if not timestamp.isdigit() or not signatures:
            msg = "the webhook has no valid Acme-Timestamp and Acme-Signature headers"
            raise WebhookSignatureError(msg)
        if abs(self._clock() - int(timestamp)) > WEBHOOK_TOLERANCE:
            msg = "the webhook's timestamp is outside the tolerance; it may be a replay"
            raise WebhookSignatureError(msg)
        key = self._webhook_secret.get_secret_value().encode()
        expected = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not any(hmac.compare_digest(expected, signature) for signature in signatures):
            msg = "the webhook's signature does not match its body"
            raise WebhookSignatureError(msg)

    # -- talking to Acme ------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: Json | None = None,
        params: dict[str, str] | None = None,
        key: str | None = None,
    ) -> Json | GatewayResult:
        """Send one request; Acme's JSON on success, else the outcome its failure means.

        A decline is a ``declined`` result; no answer, a 5xx or a 409 is ``unknown``;
        a request Acme refuses for a reason of ours raises a ``PaykitError`` (nothing moved).
        """
        headers = {"Authorization": f"Bearer {self._api_key.get_secret_value()}"}
        if key is not None:
            headers["Idempotency-Key"] = key  # the same on every retry of this operation
        try:
            response = self._client.request(method, path, json=body, params=params, headers=headers)
        except httpx.TransportError as error:
            # The request may have reached Acme: unknown, never "failed". A retry with the
            # same key, or retrieve_payment, learns what happened.
            return GatewayResult(outcome=_O.UNKNOWN, message=f"no answer from Acme: {error!r}")
        if response.is_success:
            answer: Json = response.json()
            return answer
        problem = _error_of(response)
        code, message = problem.get("code"), problem.get("message", "")
        if response.status_code == httpx.codes.PAYMENT_REQUIRED:
            return GatewayResult(
                outcome=_O.DECLINED,
                provider_id=problem.get("charge"),
                decline_code=code or "declined",
                message=message or "The payment was declined.",
                raw=_safe(problem),
            )
        request_id = response.headers.get("Acme-Request-Id")
        if code == "idempotency_key_reused":
            raise IdempotencyConflict(f"Acme Pay: {message} (request {request_id})")
        if response.status_code == httpx.codes.TOO_MANY_REQUESTS:
            raise GatewayError(
                "Acme Pay is rate limiting us; nothing was done, try again later",
                gateway_code=code,
                gateway_message=message,
                request_id=request_id,
                retryable=True,
            )
        if response.status_code < httpx.codes.INTERNAL_SERVER_ERROR and (
            response.status_code != httpx.codes.CONFLICT
        ):
            raise GatewayConfigurationError(
                f"Acme Pay refused the request: {message}",
                gateway_code=code,
                gateway_message=message,
                request_id=request_id,
            )
        return GatewayResult(
            outcome=_O.UNKNOWN, message=f"Acme answered {response.status_code}", raw=_safe(problem)
        )

    def _charge_result(self, charge: Json) -> GatewayResult:
        status = charge["status"]
        outcome = _CHARGE_OUTCOMES.get(status, _O.UNKNOWN)
        currency = charge["currency"]
        if outcome is _O.REQUIRES_ACTION:
            action = charge["action"]
            return GatewayResult(
                outcome=outcome,
                provider_id=charge["id"],
                next_action=NextAction(
                    type="redirect_to_url",
                    redirect_url=action["url"],
                    client_secret=SecretStr(action["client_secret"]),
                ),
                raw=_safe(charge),
            )
        if outcome is _O.DECLINED:
            return GatewayResult(
                outcome=outcome,
                provider_id=charge["id"],
                decline_code=charge.get("failure_code") or status,
                message=charge.get("failure_message") or f"The payment was {status}.",
                raw=_safe(charge),
            )
        units = charge["amount_captured"] if outcome is _O.SUCCEEDED else charge["amount"]
        return GatewayResult(
            outcome=outcome,
            provider_id=charge["id"],
            amount=from_acme_units(units, currency),
            raw=_safe(charge),
        )

    def _refund_result(self, refund: Json) -> GatewayResult:
        outcome = _REFUND_OUTCOMES.get(refund["status"], _O.UNKNOWN)
        if outcome is _O.DECLINED:
            return GatewayResult(
                outcome=outcome,
                provider_id=refund["id"],
                decline_code=refund.get("failure_code") or "refund_failed",
                message="The refund could not be made to the customer's card.",
                raw=_safe(refund),
            )
        return GatewayResult(
            outcome=outcome,
            provider_id=refund["id"],
            amount=from_acme_units(refund["amount"], refund["currency"]),
            raw=_safe(refund),
        )


def _error_of(response: httpx.Response) -> Json:
    """The ``error`` object of an Acme error response (empty if the body is not one)."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return {}
    return error if isinstance(error, dict) else {}


_SECRET_FIELDS: Final = frozenset({"client_secret"})


def _safe(data: Json) -> Json:
    """A copy of Acme's JSON without secrets, for paykit's audit log."""
    return {
        key: _safe(value) if isinstance(value, dict) else value
        for key, value in data.items()
        if key not in _SECRET_FIELDS
    }


# ---------------------------------------------------------------------------------------------
# Part 2: a stand-in for Acme's servers (in a real project, the provider's sandbox)
# ---------------------------------------------------------------------------------------------


class AcmeTestToken:
    """Payment-method tokens that make the stand-in server behave so (any other succeeds)."""

    OK: Final = "acme_tok_ok"
    DECLINE: Final = "acme_tok_decline"
    THREE_D_SECURE: Final = "acme_tok_3ds"
    LOST_ANSWER: Final = "acme_tok_lost_answer"
    """The charge happens, but the answer never reaches the adapter (a read timeout)."""
    REFUND_FAIL: Final = "acme_tok_refund_fail"


class AcmeServer:
    """Acme Pay's side of the wire, in process: its ledger and its HTTP+JSON API.

    ``requests`` lists every request received as ``(method, path, idempotency key)``.
    ``complete_action`` plays the customer passing 3-D Secure; ``webhook`` makes the signed
    webhook Acme would send about a charge or refund.
    """

    def __init__(self, *, api_key: str, webhook_secret: str) -> None:
        self._api_key = api_key
        self._webhook_secret = webhook_secret
        self.charges: dict[str, Json] = {}
        self.refunds: dict[str, Json] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self._replies: dict[str, tuple[bytes, int, Json]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def transport(self) -> httpx.MockTransport:
        """An ``httpx`` transport that delivers requests to this server."""
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one HTTP request, replaying answers for idempotency keys already seen."""
        key = request.headers.get("Idempotency-Key")
        path = request.url.path
        with self._lock:
            self.requests.append((request.method, path, key))
            if request.headers.get("Authorization") != f"Bearer {self._api_key}":
                return _acme_error(401, "invalid_api_key", "Invalid API key provided.")
            if request.method == "GET":
                status, body = self._get(path, dict(request.url.params))
                return httpx.Response(status, json=body)
            if key is None:
                return _acme_error(400, "idempotency_key_missing", "Send an Idempotency-Key.")
            fingerprint = path.encode() + b" " + request.content
            if key in self._replies:
                first, status, body = self._replies[key]
                if first != fingerprint:
                    return _acme_error(
                        422, "idempotency_key_reused", "Keys are for one request only."
                    )
                return httpx.Response(status, json=body)
            status, body, lose_answer = self._post(path, json.loads(request.content))
            self._replies[key] = (fingerprint, status, body)
        if lose_answer:
            msg = "Acme made the charge, but its answer was lost on the way back"
            raise httpx.ReadTimeout(msg, request=request)
        return httpx.Response(status, json=body)

    def complete_action(self, charge_id: str) -> None:
        """The customer passes 3-D Secure on Acme's page: the charge takes (or holds) money."""
        with self._lock:
            charge = self.charges[charge_id]
            if charge["status"] != "action_required":
                msg = f"charge {charge_id} is {charge['status']}, not action_required"
                raise ValueError(msg)
            charge["action"] = None
            self._take_money(charge)

    def webhook(self, event_type: str, object_id: str) -> tuple[dict[str, str], bytes]:
        """The headers and body Acme sends for ``event_type`` about a charge or refund."""
        with self._lock:
            obj = self.charges.get(object_id) or self.refunds[object_id]
            event = {
                "id": self._new_id("evt"),
                "type": event_type,
                "created": int(time.time()),
                "data": {"object": obj},
            }
        body = json.dumps(event).encode()
        timestamp = str(event["created"])
        signature = hmac.new(
            self._webhook_secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        return {"Acme-Timestamp": timestamp, "Acme-Signature": f"v1={signature}"}, body

    # -- the API --------------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_acme_{next(self._ids):06d}"

    def _get(self, path: str, params: dict[str, str]) -> tuple[int, Json]:
        match path.strip("/").split("/"):
            case ["v1", "charges"]:
                return 200, _listing(self.charges, params.get("reference"))
            case ["v1", "refunds"]:
                return 200, _listing(self.refunds, params.get("reference"))
            case ["v1", "charges", charge_id] if charge_id in self.charges:
                return 200, self.charges[charge_id]
            case ["v1", "refunds", refund_id] if refund_id in self.refunds:
                return 200, self.refunds[refund_id]
        return 404, _error_body("resource_missing", f"No such object: {path}")

    def _post(self, path: str, data: Json) -> tuple[int, Json, bool]:
        match path.strip("/").split("/"):
            case ["v1", "charges"]:
                status, body = self._create_charge(data)
                return status, body, data["source"] == AcmeTestToken.LOST_ANSWER
            case ["v1", "charges", charge_id, "capture"] if charge_id in self.charges:
                return (*self._capture(self.charges[charge_id], int(data["amount"])), False)
            case ["v1", "charges", charge_id, "cancel"] if charge_id in self.charges:
                return (*self._cancel(self.charges[charge_id]), False)
            case ["v1", "refunds"] if data.get("charge") in self.charges:
                return (*self._create_refund(self.charges[data["charge"]], data), False)
        return 404, _error_body("resource_missing", f"No such object: {path}"), False

    def _create_charge(self, data: Json) -> tuple[int, Json]:
        charge: Json = {
            "id": self._new_id("ch"),
            "object": "charge",
            "amount": int(data["amount"]),
            "amount_captured": 0,
            "amount_refunded": 0,
            "currency": data["currency"],
            "capture": bool(data["capture"]),
            "source": data["source"],
            "reference": data["reference"],
            "status": "processing",
            "failure_code": None,
            "failure_message": None,
            "action": None,
        }
        self.charges[charge["id"]] = charge
        if data["source"] == AcmeTestToken.DECLINE:
            message = "The card was declined."
            charge.update(status="failed", failure_code="card_declined", failure_message=message)
            return 402, _error_body("card_declined", message, charge=charge["id"])
        if data["source"] == AcmeTestToken.THREE_D_SECURE and data.get("off_session"):
            message = "The card needs the customer to authenticate."
            charge.update(
                status="failed", failure_code="authentication_required", failure_message=message
            )
            return 402, _error_body("authentication_required", message, charge=charge["id"])
        if data["source"] == AcmeTestToken.THREE_D_SECURE:
            charge["status"] = "action_required"
            charge["action"] = {
                "url": f"https://pay.acme-pay.example/3ds/{charge['id']}",
                "client_secret": f"{charge['id']}_secret_{secrets.token_hex(8)}",
            }
            return 200, charge
        self._take_money(charge)
        return 200, charge

    @staticmethod
    def _take_money(charge: Json) -> None:
        if charge["capture"]:
            charge.update(status="succeeded", amount_captured=charge["amount"])
        else:
            charge["status"] = "authorized"

    @staticmethod
    def _capture(charge: Json, amount: int) -> tuple[int, Json]:
        if charge["status"] != "authorized":
            return 400, _error_body("charge_not_capturable", f"The charge is {charge['status']}.")
        if amount > charge["amount"]:
            return 402, _error_body("amount_too_large", "Above the authorized amount.")
        charge.update(status="succeeded", amount_captured=amount)
        return 200, charge

    @staticmethod
    def _cancel(charge: Json) -> tuple[int, Json]:
        if charge["status"] not in {"authorized", "action_required"}:
            return 400, _error_body("charge_not_cancelable", f"The charge is {charge['status']}.")
        charge.update(status="canceled", action=None)
        return 200, charge

    def _create_refund(self, charge: Json, data: Json) -> tuple[int, Json]:
        amount = int(data["amount"])
        if charge["status"] != "succeeded":
            return 400, _error_body("charge_not_captured", "Only captured charges refund.")
        if charge["amount_refunded"] + amount > charge["amount_captured"]:
            return 402, _error_body("amount_too_large", "Above what is left to refund.")
        fails = charge["source"] == AcmeTestToken.REFUND_FAIL
        refund: Json = {
            "id": self._new_id("rf"),
            "object": "refund",
            "charge": charge["id"],
            "amount": amount,
            "currency": charge["currency"],
            "reference": data["reference"],
            "status": "failed" if fails else "succeeded",
            "failure_code": "card_closed" if fails else None,
        }
        self.refunds[refund["id"]] = refund
        if not fails:
            charge["amount_refunded"] += amount
        return 200, refund


def _listing(objects: dict[str, Json], reference: str | None) -> Json:
    return {"object": "list", "data": [o for o in objects.values() if o["reference"] == reference]}


def _error_body(code: str, message: str, **extra: str) -> Json:
    return {"error": {"code": code, "message": message, **extra}}


def _acme_error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json=_error_body(code, message))


# ---------------------------------------------------------------------------------------------
# Part 3: paykit on Acme Pay
# ---------------------------------------------------------------------------------------------

DEMO_API_KEY: Final = "acme_test_key_not_a_secret"
DEMO_WEBHOOK_SECRET: Final = "acme_whsec_not_a_secret"  # noqa: S105 - a stand-in's secret


def main() -> None:
    """Run a payment, a refund, a decline and a lost answer through paykit on Acme Pay."""
    acme = AcmeServer(api_key=DEMO_API_KEY, webhook_secret=DEMO_WEBHOOK_SECRET)
    with AcmeGateway(
        api_key=DEMO_API_KEY, webhook_secret=DEMO_WEBHOOK_SECRET, transport=acme.transport()
    ) as gateway:
        service = PaymentService(InMemoryStorage(), gateways={"credit_card": gateway})
        print(f"1. {gateway!r} is paykit's gateway for cards (its repr shows no key)")

        card = service.add_payment_method(
            "cus_ada", type="credit_card", token=AcmeTestToken.OK, brand="visa", last4="4242"
        )
        payment = service.create_payment(
            customer_id="cus_ada",
            order_id="ord_1001",
            payment_method_id=card.id,
            amount="80.00",
            currency="USD",
        )
        payment = service.process_payment(payment.id)
        print(
            f"2. payment of {payment.amount}: {payment.status}, "
            f"Acme charge {payment.provider_payment_id}"
        )

        refund = service.process_refund(service.create_refund(payment.id, "25.00").id)
        payment = service.get_payment(payment.id)
        print(
            f"3. refund of {refund.amount}: {refund.status} (Acme refund "
            f"{refund.provider_refund_id}); payment is {payment.status}, "
            f"{payment.refundable_amount} left to refund"
        )

        declined_card = service.add_payment_method(
            "cus_bob", type="credit_card", token=AcmeTestToken.DECLINE
        )
        declined = service.process_payment(
            service.create_payment(
                customer_id="cus_bob",
                order_id="ord_1002",
                payment_method_id=declined_card.id,
                amount="12.00",
                currency="USD",
            ).id
        )
        print(f"4. a declined card: {declined.status}, {declined.failure_code}")

        lost_card = service.add_payment_method(
            "cus_cy", type="credit_card", token=AcmeTestToken.LOST_ANSWER
        )
        lost = service.process_payment(
            service.create_payment(
                customer_id="cus_cy",
                order_id="ord_1003",
                payment_method_id=lost_card.id,
                amount="5000",
                currency="ISK",
            ).id
        )
        print(f"5. Acme's answer was lost: the payment stays {lost.status}, never failed")
        lost = service.reconcile_payment(lost.id)
        units = acme.charges[str(lost.provider_payment_id)]["amount"]
        print(
            f"   reconciled: {lost.status}, captured {lost.captured_amount} "
            f"(sent to Acme as {units} hundredths)"
        )

        headers, body = acme.webhook("charge.succeeded", str(payment.provider_payment_id))
        event = gateway.parse_webhook(headers, body)
        print(f"6. webhook {event.provider_type} verified: {event.type} for {event.payment_id}")
        try:
            gateway.parse_webhook(headers, body.replace(b"succeeded", b"SUCCEEDED"))
        except WebhookSignatureError as error:
            print(f"   a tampered copy is refused [{error.code}]")

        charges = sum(
            1 for method, path, _ in acme.requests if (method, path) == ("POST", "/v1/charges")
        )
        print(f"7. Acme received {len(acme.requests)} requests, {charges} of them charges")


if __name__ == "__main__":
    main()
