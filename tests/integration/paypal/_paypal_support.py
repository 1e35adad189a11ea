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
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Final, Self

import attrs
import httpx
import jsonschema
import referencing
import referencing.jsonschema

from _webhook_shop import Delivery, Naming, Shop
from paykit import (
    InboxStatus,
    InMemoryStorage,
    Payment,
    PaymentService,
    PaymentStatus,
    WebhookOutcome,
)
from paykit.domain.payment_method import PaymentMethodType
from paykit.gateways import WebhookEvent, WebhookEventType
from paykit.gateways.base import (
    CaptureRequest,
    ChargeRequest,
    PaymentLookup,
    RefundLookup,
    RefundRequest,
    VoidRequest,
)
from paykit.gateways.paypal import CHECKOUT_TOKEN, PayPalGateway
from paykit.gateways.paypal._webhooks import IGNORED_REASON
from paykit.money import Money
from paykit.testing.fake_paypal import FakePayPal, FakeVault, Fault, WebhookSigner

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
    from paykit.testing.fake_paypal import Fault  # noqa: PLC0415

    body = dict(Fault.error(status, issue, description).body)
    body.update(extra)
    return httpx.Response(status, json=body, headers={"Paypal-Debug-Id": "f00dfeed1234"})


# -- the webhook contracts' harness (tests/_webhook_shop.py) --------------------------------

_RESOURCE_TYPES: Final = (
    ("CHECKOUT.ORDER.", "checkout-order"),
    ("PAYMENT.CAPTURE.REFUNDED", "refund"),
    ("PAYMENT.CAPTURE.REVERSED", "refund"),
    ("PAYMENT.CAPTURE.", "capture"),
    ("CUSTOMER.DISPUTE.", "dispute"),
)


def resource_type(event_type: str) -> str:
    """The ``resource_type`` PayPal gives an event of ``event_type``."""
    return next(kind for prefix, kind in _RESOURCE_TYPES if event_type.startswith(prefix))


def _order_id(payment: Payment) -> str:
    assert payment.provider_payment_id is not None
    return payment.provider_payment_id


@attrs.define(kw_only=True)
class PayPalShop(Shop):
    """A service selling through the PayPal adapter over a fake PayPal: the contracts' harness.

    Every request and answer is checked against PayPal's schemas; every delivery is a PayPal
    event about the fake's own objects, signed with the fake's certificate the way PayPal
    signs it, and verified the ``mode`` way: asking PayPal (``"api"``) or here (``"offline"``).
    """

    fake: FakePayPal
    gateway: PayPalGateway
    validation: Validation

    provider = "paypal"
    modes: ClassVar[Sequence[str]] = ("api", "offline")
    method_type = "paypal"
    return_url = RETURN_URL
    success_token = FakeVault.SUCCESS
    action_token = CHECKOUT_TOKEN
    types: ClassVar[Mapping[WebhookEventType, str]] = {
        WebhookEventType.PAYMENT_SUCCEEDED: "PAYMENT.CAPTURE.COMPLETED",
        WebhookEventType.REFUND_SUCCEEDED: "PAYMENT.CAPTURE.REFUNDED",
        WebhookEventType.REFUND_FAILED: "PAYMENT.CAPTURE.REFUNDED",
        WebhookEventType.DISPUTE_CREATED: "CUSTOMER.DISPUTE.CREATED",
        WebhookEventType.DISPUTE_UPDATED: "CUSTOMER.DISPUTE.UPDATED",
        WebhookEventType.DISPUTE_CLOSED: "CUSTOMER.DISPUTE.RESOLVED",
    }
    forgeries: ClassVar[Sequence[str]] = ("key", "webhook_id")
    secrets: ClassVar[Sequence[str]] = (CLIENT_SECRET,)
    now = datetime.fromtimestamp(NOW, UTC)
    evidence_window = timedelta(days=10)
    opened_status = "OPEN"
    default_reason = "MERCHANDISE_OR_SERVICE_NOT_RECEIVED"
    other_reason = "UNAUTHORISED"
    dispute_naming = Naming(payment_id=True, provider_payment_id=False)
    refund_naming = Naming(payment_id=False, provider_payment_id=False)
    logger = "paykit.gateways.paypal"
    ignored_reason = IGNORED_REASON

    @classmethod
    def open(cls, mode: str | None = None) -> Self:
        """A fresh fake PayPal, validating adapter and service."""
        fake = make_fake()
        transport, validation = validating(fake)
        gateway = make_gateway(
            transport,
            webhook_verification=mode or "api",
            webhook_trust_roots=[fake.signer.root_pem],
        )
        service = PaymentService(InMemoryStorage(), gateways={"paypal": gateway})
        return cls(service=service, fake=fake, gateway=gateway, validation=validation)

    def signed(
        self, event_type: str, resource: Mapping[str, Any], *, forgery: str | None = None
    ) -> Delivery:
        """A PayPal event about ``resource`` (forged: another ``key`` or ``webhook_id``)."""
        sign: dict[str, Any] = {}
        if forgery == "key":
            sign["signer"] = WebhookSigner.generate(cert_url=self.fake.signer.cert_url)
        elif forgery == "webhook_id":
            sign["webhook_id"] = "9SOMEONE0ELSES0WEBHOOK"
        event = self.fake.event(event_type, resource, resource_type=resource_type(event_type))
        headers, body = self.fake.sign_webhook(event, **sign)
        return Delivery(event_type, headers, body)

    def taken_but_untold(self, waiting: Payment) -> dict[str, Any]:
        """The payer approves; paykit's capture answer is lost, but PayPal captured."""
        order_id = _order_id(waiting)
        approved = self.handle(self.customer_acts(waiting))
        assert approved.outcome is WebhookOutcome.APPLIED
        entries = self.service.list_webhook_events(waiting.id)
        assert [(e.provider_type, e.status) for e in entries] == [
            ("CHECKOUT.ORDER.APPROVED", InboxStatus.APPLIED)
        ]
        assert self.service.get_payment_status(waiting.id) is PaymentStatus.PROCESSING
        self.fake.inject(Fault.lose_answer(), path=f"/v2/checkout/orders/{order_id}/capture")
        assert self.service.reconcile_payment(waiting.id).status is PaymentStatus.PROCESSING
        assert self.fake.charged(order_id) == waiting.amount.amount  # PayPal took it
        return self.fake.capture_of(order_id)

    def customer_acts(self, waiting: Payment) -> Delivery:
        """The payer approves the checkout: CHECKOUT.ORDER.APPROVED."""
        order_id = _order_id(waiting)
        self.fake.approve(order_id)
        return self.signed("CHECKOUT.ORDER.APPROVED", self.fake.order(order_id))

    def tamper(self, body: bytes) -> bytes:
        """The order's amount a hundredth of itself."""
        return body.replace(b'"100.00"', b'"1.00"', 1)

    def lookups_since(self, mark: int) -> list[str]:
        """The order and payment lookups since ``mark`` (not the signature check)."""
        return [r.path for r in self.fake.requests[mark:] if r.path.startswith("/v2/")]

    def charged(self, payment: Payment) -> Money:
        """Everything PayPal charged or captured for the payment's order."""
        return Money.of(self.fake.charged(_order_id(payment)), payment.amount.currency)

    def refunded(self, payment: Payment) -> Money:
        """Everything PayPal refunded for the payment's order."""
        return Money.of(self.fake.refunded(_order_id(payment)), payment.amount.currency)

    def charged_back(self, payment: Payment) -> Money | None:
        """``None``: the fake describes disputes but books no chargebacks."""
        return None

    def lose_next_refund_answer(self) -> None:
        """The next capture refund refunds, but its answer is lost."""
        self.fake.inject(Fault.lose_answer(), method="POST", path="/v2/payments/captures/")

    def refund_resource(self, provider_refund_id: str) -> dict[str, Any]:
        """The refund, checked against PayPal's refund schema."""
        resource = super().refund_resource(provider_refund_id)
        check(schemas().component("payments_payment_v2.json", "refund"), resource, "the refund")
        return resource

    def echoed_refund_id(self, resource: Mapping[str, Any]) -> str | None:
        """The refund's ``custom_id``."""
        refund_id = resource.get("custom_id")
        return None if refund_id is None else str(refund_id)

    def disputed_amount(self, amount: Money) -> str:
        """PayPal's decimal string."""
        return str(amount.amount)

    def decide_dispute(
        self, provider_payment_id: str, opened: Mapping[str, Any], *, won: bool
    ) -> dict[str, Any]:
        """The dispute ``RESOLVED`` in the seller's (``won``) or the buyer's favour."""
        return self.dispute(
            provider_payment_id,
            status="RESOLVED",
            outcome="RESOLVED_SELLER_FAVOUR" if won else "RESOLVED_BUYER_FAVOUR",
            amount=opened["dispute_amount"]["value"],
            reason=opened["reason"],
            dispute_id=opened["dispute_id"],
        )

    def dispute_id(self, dispute: Mapping[str, Any]) -> str:
        """The dispute's ``dispute_id``."""
        return str(dispute["dispute_id"])

    def unreadable_money(
        self, provider_payment_id: str, provider_refund_id: str
    ) -> list[tuple[str, dict[str, Any], str]]:
        """A refund, a reversal and a dispute event with their money broken."""
        refund = self.fake.refund(provider_refund_id)
        nan = {"currency_code": "USD", "value": "NaN"}
        reversal = {**refund, "seller_payable_breakdown": {"total_refunded_amount": nan}}
        dispute = self.fake.dispute(provider_payment_id)
        return [
            ("PAYMENT.CAPTURE.REFUNDED", {**refund, "amount": nan}, "resource.amount.value"),
            (
                "PAYMENT.CAPTURE.REVERSED",
                reversal,
                "resource.seller_payable_breakdown.total_refunded_amount.value",
            ),
            (
                "CUSTOMER.DISPUTE.CREATED",
                {**dispute, "dispute_amount": {"currency_code": "XYZ", "value": "1.00"}},
                "resource.dispute_amount.currency_code",
            ),
        ]

    def completed_before_a_late_failure(self, amount: str) -> tuple[Payment, Delivery]:
        """A PayPal payment captured at once; a PAYMENT.CAPTURE.DENIED of its capture."""
        payment = self.paid(amount)
        denied = {**self.fake.capture_of(_order_id(payment)), "status": "DECLINED"}
        return payment, self.signed("PAYMENT.CAPTURE.DENIED", denied)

    def charge(
        self, amount: str = "25.00", currency: str = "USD", *, refund_fails: bool = False
    ) -> str:
        """A charge of a saved PayPal account straight through the adapter."""
        token = FakeVault.REFUND_FAILS if refund_fails else FakeVault.SUCCESS
        order = self.gateway.charge(vault_charge(token, amount=amount, currency=currency))
        assert order.provider_id is not None
        return order.provider_id

    def refund_directly(self, provider_payment_id: str, amount: str, *, refund_id: str) -> str:
        """A refund straight through the adapter."""
        request = refund_request(provider_payment_id, amount, refund_id=refund_id)
        refund = self.gateway.refund(request)
        assert refund.provider_id is not None
        return refund.provider_id

    def refund_id_sent(self) -> str | None:
        """``custom_id`` of the last capture refund request (each one schema-checked)."""
        sent = [r for r in self.fake.requests if r.path.endswith("/refund")]
        assert self.validation.requests["captures.refund"] == len(sent)
        custom_id = sent[-1].body.get("custom_id")
        return None if custom_id is None else str(custom_id)

    def dispute(
        self, provider_payment_id: str, *, dispute_id: str | None = None, **facts: Any
    ) -> dict[str, Any]:
        """A dispute over the order's capture; ``facts`` are :meth:`FakePayPal.dispute`'s."""
        return self.fake.dispute(provider_payment_id, dispute_id=dispute_id, **facts)

    def parse(
        self, event_type: str, resource: Mapping[str, Any], *, checked: bool = True
    ) -> WebhookEvent:
        """Check a dispute and its event against PayPal's schemas, sign, parse."""
        event = self.fake.event(event_type, resource, resource_type=resource_type(event_type))
        if checked:
            if event["resource_type"] == "dispute":
                dispute_schema = schemas().component("customer_disputes_v1.json", "dispute")
                check(dispute_schema, resource, "the dispute resource")
            event_schema = schemas().component("notifications_webhooks_v1.json", "event")
            check(event_schema, event, "the event")
        return self.gateway.parse_webhook(*self.fake.sign_webhook(event))
