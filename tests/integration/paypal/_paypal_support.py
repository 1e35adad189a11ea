"""Shared helpers for the PayPal adapter tests: PayPal's schemas, a validating fake, requests.

Everything works at the HTTP level. :class:`Schemas` reads PayPal's OpenAPI excerpts in
``schemas/`` and hands out a ``jsonschema`` validator for an operation's request body or
response (``$ref`` s resolved through a ``referencing`` registry). :func:`validating` wraps a
:class:`~paykit.gateways.paypal.FakePayPal` in an ``httpx.MockTransport`` that validates
every request body the adapter sends and every response the fake returns against them --
and fails the test on the first mismatch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Final

import attrs
import httpx
import jsonschema
import referencing
import referencing.jsonschema

from paykit.domain.payment_method import PaymentMethodType
from paykit.gateways.base import (
    CaptureRequest,
    ChargeRequest,
    PaymentLookup,
    RefundLookup,
    RefundRequest,
    VoidRequest,
)
from paykit.gateways.paypal import CHECKOUT_TOKEN, FakePayPal, FakeVault, PayPalGateway
from paykit.money import Money

SCHEMAS: Final = Path(__file__).parent / "schemas"
SPECS: Final = (
    "checkout_orders_v2.json",
    "payments_payment_v2.json",
    "notifications_webhooks_v1.json",
    "customer_disputes_v1.json",
)
CLIENT_ID: Final = "paykit-test-client-id"
CLIENT_SECRET: Final = "EPaykitTestSECRET-0123456789abcdefXYZ"
"""A secret-shaped client secret that must never show up in a repr, a log or an error."""
WEBHOOK_ID: Final = "7PAYKIT1WEBHOOK2ID"
NOW: Final = 1_800_000_000.0
RETURN_URL: Final = "https://shop.example/paypal/return"


@attrs.frozen
class Operation:
    """One operation of PayPal's API, as its OpenAPI excerpt describes it."""

    spec: str
    method: str
    template: str
    pattern: re.Pattern[str]
    definition: Mapping[str, Any]

    @property
    def operation_id(self) -> str:
        """PayPal's ``operationId`` (``orders.create``)."""
        return str(self.definition["operationId"])


class Schemas:
    """PayPal's OpenAPI excerpts, with validators for request and response bodies."""

    def __init__(self) -> None:
        self.documents = {
            name: json.loads((SCHEMAS / name).read_text(encoding="utf-8")) for name in SPECS
        }
        resources = [
            (f"urn:paypal:{name}", referencing.jsonschema.DRAFT4.create_resource(document))
            for name, document in self.documents.items()
        ]
        self.registry: referencing.Registry[Any] = referencing.Registry().with_resources(resources)
        self.operations: list[Operation] = []
        for name, document in self.documents.items():
            for template, item in document["paths"].items():
                pattern = re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)))
                for method, definition in item.items():
                    self.operations.append(
                        Operation(name, method.upper(), template, pattern, definition)
                    )

    def operation(self, method: str, path: str) -> Operation:
        """The operation ``method path`` is (``KeyError`` if paykit's excerpts lack it)."""
        for operation in self.operations:
            if operation.method == method and operation.pattern.fullmatch(path):
                return operation
        raise KeyError(f"{method} {path}")

    def validator(self, spec: str, pointer: str) -> Any:
        """A draft-4 validator (OpenAPI 3.0's dialect) for the schema at ``pointer`` of ``spec``."""
        schema = {"$ref": f"urn:paypal:{spec}#{pointer}"}
        return jsonschema.Draft4Validator(schema, registry=self.registry)

    def component(self, spec: str, name: str) -> Any:
        """A validator for ``components/schemas/<name>`` of ``spec``."""
        return self.validator(spec, f"/components/schemas/{name}")

    def request_validator(self, operation: Operation) -> Any | None:
        """The validator of the operation's JSON request body (``None`` if it takes none)."""
        base = f"/paths/{_escape(operation.template)}/{operation.method.lower()}"
        pointer = self._schema_pointer(operation.spec, f"{base}/requestBody")
        return None if pointer is None else self.validator(operation.spec, pointer)

    def response_validator(self, operation: Operation, status: int) -> Any | None:
        """The validator for a ``status`` answer (the operation's ``default`` if it has none)."""
        base = f"/paths/{_escape(operation.template)}/{operation.method.lower()}/responses"
        pointer = self._schema_pointer(operation.spec, f"{base}/{status}")
        if pointer is None:
            pointer = self._schema_pointer(operation.spec, f"{base}/default")
        return None if pointer is None else self.validator(operation.spec, pointer)

    def _schema_pointer(self, spec: str, pointer: str) -> str | None:
        """The pointer of the JSON schema of the request body or response at ``pointer``."""
        entry = _at(self.documents[spec], pointer)
        if not isinstance(entry, Mapping):
            return None
        if "$ref" in entry:
            pointer = str(entry["$ref"]).removeprefix("#")
            entry = _at(self.documents[spec], pointer)
        media = (entry.get("content") or {}).get("application/json")
        if not isinstance(media, Mapping) or "schema" not in media:
            return None
        return f"{pointer}/content/application~1json/schema"


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _at(document: Mapping[str, Any], pointer: str) -> Any:
    node: Any = document
    for raw in pointer.removeprefix("/").split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


@cache
def schemas() -> Schemas:
    """The schemas, read once per test session."""
    return Schemas()


def check(validator: Any, instance: Any, what: str) -> None:
    """Fail with every schema violation of ``instance`` listed."""
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{what} does not match PayPal's schema:"]
        lines += [f"  at /{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors]
        raise AssertionError("\n".join(lines))


@attrs.define
class Validation:
    """What the validating transport checked, per operation id."""

    requests: dict[str, int] = attrs.field(factory=dict)
    responses: dict[str, int] = attrs.field(factory=dict)


def validating(fake: FakePayPal) -> tuple[httpx.MockTransport, Validation]:
    """A transport over ``fake`` that validates each request body and response against PayPal."""
    seen = Validation()
    found = schemas()

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        operation: Operation | None = None
        if path != "/v1/oauth2/token" and not path.startswith("/v1/notifications/certs/"):
            operation = found.operation(request.method, path)
            content = request.read()
            validator = found.request_validator(operation)
            if content and validator is not None:
                check(validator, json.loads(content), f"the {operation.operation_id} request")
                seen.requests[operation.operation_id] = (
                    seen.requests.get(operation.operation_id, 0) + 1
                )
            elif validator is not None and operation.method != "POST":
                raise AssertionError(f"{operation.operation_id} needs a request body")
        response = fake._handle(request)
        if operation is not None and response.content:
            validator = found.response_validator(operation, response.status_code)
            assert validator is not None, (
                f"no schema for {operation.operation_id} {response.status_code}"
            )
            check(
                validator,
                json.loads(response.content),
                f"the fake's {response.status_code} answer to {operation.operation_id}",
            )
            seen.responses[operation.operation_id] = (
                seen.responses.get(operation.operation_id, 0) + 1
            )
        return response

    return httpx.MockTransport(handle), seen


def make_fake(**kw: Any) -> FakePayPal:
    """A fake PayPal accepting only the test credentials, on the test clock."""
    kw.setdefault("clock", lambda: NOW)
    return FakePayPal(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, webhook_id=WEBHOOK_ID, **kw)


def make_gateway(
    transport: httpx.BaseTransport | None = None, *, fake: FakePayPal | None = None, **kw: Any
) -> PayPalGateway:
    """A gateway with the test credentials over ``transport`` (or a validating ``fake``)."""
    if transport is None:
        transport, _ = validating(fake or make_fake())
    kw.setdefault("clock", lambda: NOW)
    kw.setdefault("max_retries", 0)
    kw.setdefault("backoff", 0.0)
    kw.setdefault("webhook_id", WEBHOOK_ID)
    kw.setdefault("sleep", lambda _seconds: None)
    return PayPalGateway(CLIENT_ID, CLIENT_SECRET, transport=transport, **kw)


def usd(value: str) -> Money:
    """``value`` US dollars."""
    return Money.of(value, "USD")


def charge_request(  # noqa: PLR0913 - a test builder with defaults
    token: str = CHECKOUT_TOKEN,
    *,
    payment_id: str = "pay_test_1",
    amount: str = "100.00",
    currency: str = "USD",
    capture: bool = True,
    kind: PaymentMethodType = PaymentMethodType.PAYPAL,
    return_url: str | None = RETURN_URL,
    description: str = "Order 1001",
) -> ChargeRequest:
    """A charge as ``PaymentService`` builds it."""
    return ChargeRequest(
        payment_id=payment_id,
        amount=Money.of(amount, currency),
        payment_method_token=token,
        payment_method_type=kind,
        customer_id="cus_1",
        idempotency_key=f"paykit:{payment_id}:charge",
        capture=capture,
        description=description,
        return_url=return_url,
    )


def vault_charge(token: str = FakeVault.SUCCESS, **kw: Any) -> ChargeRequest:
    """A charge of a saved PayPal account."""
    return charge_request(token, **kw)


def payment_lookup(
    provider_payment_id: str | None, *, payment_id: str = "pay_test_1", amount: str = "100.00"
) -> PaymentLookup:
    """A reconciliation lookup as ``PaymentService`` builds it."""
    return PaymentLookup(
        payment_id=payment_id,
        provider_payment_id=provider_payment_id,
        idempotency_key=f"paykit:{payment_id}:charge",
        amount=usd(amount),
    )


def capture_request(
    order_id: str, amount: str, *, payment_id: str = "pay_test_1"
) -> CaptureRequest:
    """A capture as ``PaymentService`` builds it."""
    return CaptureRequest(
        payment_id=payment_id,
        provider_payment_id=order_id,
        amount=usd(amount),
        idempotency_key=f"paykit:{payment_id}:capture",
    )


def void_request(order_id: str, *, payment_id: str = "pay_test_1") -> VoidRequest:
    """A void as ``PaymentService`` builds it."""
    return VoidRequest(
        payment_id=payment_id,
        provider_payment_id=order_id,
        idempotency_key=f"paykit:{payment_id}:void",
    )


def refund_request(
    order_id: str, amount: str, *, refund_id: str = "re_test_1", reason: str = ""
) -> RefundRequest:
    """A refund as ``PaymentService`` builds it."""
    return RefundRequest(
        refund_id=refund_id,
        payment_id="pay_test_1",
        provider_payment_id=order_id,
        amount=usd(amount),
        idempotency_key=f"paykit:{refund_id}:refund",
        reason=reason,
    )


def refund_lookup(
    order_id: str, provider_refund_id: str | None, *, refund_id: str = "re_test_1"
) -> RefundLookup:
    """A refund reconciliation lookup."""
    return RefundLookup(
        refund_id=refund_id,
        provider_refund_id=provider_refund_id,
        provider_payment_id=order_id,
        idempotency_key=f"paykit:{refund_id}:refund",
        amount=usd("30.00"),
    )


def answering(
    *answers: httpx.Response | Callable[[httpx.Request], httpx.Response],
) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport that serves a token, then ``answers`` in order; it records every request."""
    sent: list[httpx.Request] = []
    queue: Iterator[httpx.Response | Callable[[httpx.Request], httpx.Response]] = iter(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        request.read()
        sent.append(request)
        if request.url.path == "/v1/oauth2/token":
            return httpx.Response(
                200,
                json={
                    "access_token": "A21AAPaykitToken0123456789abcdefghij",
                    "token_type": "Bearer",
                    "expires_in": 32400,
                },
            )
        answer = next(queue)
        return answer(request) if callable(answer) else answer

    return httpx.MockTransport(handle), sent


def paypal_error(
    status: int, issue: str | None = None, description: str | None = None, **extra: Any
) -> httpx.Response:
    """A PayPal error answer with ``issue`` in ``details``."""
    from paykit.gateways.paypal import Fault  # noqa: PLC0415

    body = dict(Fault.error(status, issue, description).body)
    body.update(extra)
    return httpx.Response(status, json=body, headers={"Paypal-Debug-Id": "f00dfeed1234"})
