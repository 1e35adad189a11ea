"""paykit.contrib's webhook glue, driven through each framework's own test client.

Every scenario runs on Starlette, FastAPI (through an ``APIRouter``), Flask and Django, with
real signed deliveries from the sandbox: applied, duplicate, unmatched, rejected, unknown
provider, wrong method, storage down; plus header-name case and the raw body reaching the
gateway byte for byte.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import subprocess
import sys
import time
import types
from collections.abc import Mapping, Sequence
from itertools import count
from typing import Protocol

import attrs
import pytest

from paykit import (
    InMemoryStorage,
    LogType,
    Payment,
    PaymentService,
    PaymentStatus,
    SandboxGateway,
    SandboxToken,
)
from paykit.contrib import RequestHeaders
from paykit.gateways import WebhookEvent, WebhookEventType
from paykit.storage.memory import InMemoryUnitOfWork

FRAMEWORKS = ["starlette", "fastapi", "flask", "django"]
SANDBOX_SECRET = b"whsec_sandbox"  # SandboxGateway's default webhook secret


# -- fakes ---------------------------------------------------------------------------------------


class RecordingSandbox(SandboxGateway):
    """The sandbox, remembering what each webhook delivery handed to ``parse_webhook``."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes] = []
        self.headers: list[Mapping[str, str]] = []
        self.on_event_loop: list[bool] = []

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Record the delivery and whether an event loop runs here, then verify it as usual."""
        self.bodies.append(body)
        self.headers.append(headers)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.on_event_loop.append(False)
        else:
            self.on_event_loop.append(True)
        return super().parse_webhook(headers, body)


class _DownUnitOfWork(InMemoryUnitOfWork):
    def commit(self) -> None:
        msg = "the database is down"
        raise ConnectionError(msg)


class FlakyStorage(InMemoryStorage):
    """In-memory storage whose commits fail while ``down`` is set (reads still work)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def unit_of_work(self) -> InMemoryUnitOfWork:
        """A unit of work that cannot commit while the storage is down."""
        return _DownUnitOfWork(self) if self.down else super().unit_of_work()


# -- the four frameworks behind one small client interface ----------------------------------------


@attrs.frozen
class Answer:
    """What the framework answered."""

    status: int
    text: str
    allow: str | None = None


class Web(Protocol):
    """A framework app with the webhook route mounted, and its test client."""

    def url(self, provider: str) -> str:
        """The route's URL for ``provider`` (or the fixed route's URL)."""
        ...

    def send(
        self, method: str, url: str, body: bytes = b"", headers: Sequence[tuple[str, str]] = ()
    ) -> Answer:
        """Make one request through the framework's test client."""
        ...


class StarletteWeb:
    """Starlette (``add_webhook_route`` on the app) or FastAPI (on an included router)."""

    def __init__(self, service: PaymentService, *, fastapi: bool, provider: str | None) -> None:
        from starlette.applications import Starlette  # noqa: PLC0415 - per-framework
        from starlette.testclient import TestClient  # noqa: PLC0415

        from paykit.contrib.starlette import add_webhook_route  # noqa: PLC0415

        path = "/webhooks/{provider}" if provider is None else "/hooks/sandbox-only"
        if fastapi:
            from fastapi import APIRouter, FastAPI  # noqa: PLC0415

            router = APIRouter()
            add_webhook_route(router, service, path, provider=provider)
            api = FastAPI()
            api.include_router(router)
            app: Starlette = api
        else:
            app = Starlette()
            add_webhook_route(app, service, path, provider=provider)
        self.app = app
        self.path = path
        self.client = TestClient(app)

    def url(self, provider: str) -> str:
        """The route's URL for ``provider``."""
        return self.path.replace("{provider}", provider)

    def send(
        self, method: str, url: str, body: bytes = b"", headers: Sequence[tuple[str, str]] = ()
    ) -> Answer:
        """One request through the test client."""
        response = self.client.request(method, url, content=body, headers=list(headers))
        return Answer(response.status_code, response.text, response.headers.get("allow"))


class FlaskWeb:
    """Flask, with ``webhook_blueprint`` registered."""

    def __init__(self, service: PaymentService, *, provider: str | None) -> None:
        from flask import Flask  # noqa: PLC0415 - per-framework

        from paykit.contrib.flask import webhook_blueprint  # noqa: PLC0415

        self.prefix = "/webhooks" if provider is None else "/hooks/sandbox-only"
        app = Flask("paykit_contrib_test")
        app.register_blueprint(
            webhook_blueprint(service, url_prefix=self.prefix, provider=provider)
        )
        self.client = app.test_client()

    def url(self, provider: str) -> str:
        """The route's URL for ``provider``."""
        return f"{self.prefix}/{provider}" if self.prefix == "/webhooks" else self.prefix

    def send(
        self, method: str, url: str, body: bytes = b"", headers: Sequence[tuple[str, str]] = ()
    ) -> Answer:
        """One request through the test client."""
        response = self.client.open(url, method=method, data=body, headers=list(headers))
        return Answer(
            response.status_code,
            response.get_data(as_text=True),
            response.allow.to_header() or None,
        )


def _django_settings() -> None:
    import django  # noqa: PLC0415 - per-framework
    from django.conf import settings  # noqa: PLC0415

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="paykit-contrib-tests",
            ALLOWED_HOSTS=["testserver"],
            ROOT_URLCONF=None,
            INSTALLED_APPS=[],
            MIDDLEWARE=[
                "django.middleware.common.CommonMiddleware",
                "django.middleware.csrf.CsrfViewMiddleware",
            ],
        )
        django.setup()


class DjangoWeb:
    """Django, with ``webhook_view`` in a URLconf and CSRF checks enforced."""

    _names = count()

    def __init__(self, service: PaymentService, *, provider: str | None) -> None:
        _django_settings()
        from django.test import Client  # noqa: PLC0415 - per-framework
        from django.urls import path  # noqa: PLC0415

        from paykit.contrib.django import webhook_view  # noqa: PLC0415

        self.route = "webhooks/<str:provider>/" if provider is None else "hooks/sandbox-only/"
        urls = types.ModuleType(f"paykit_test_urls_{next(self._names)}")
        # A URLconf is any module with ``urlpatterns``; a module object built here is one.
        urls.urlpatterns = [path(self.route, webhook_view(service, provider))]  # type: ignore[attr-defined]
        self.urls = urls
        self.client = Client(enforce_csrf_checks=True)

    def url(self, provider: str) -> str:
        """The route's URL for ``provider``."""
        return "/" + self.route.replace("<str:provider>", provider)

    def send(
        self, method: str, url: str, body: bytes = b"", headers: Sequence[tuple[str, str]] = ()
    ) -> Answer:
        """One request through the test client, with this app's URLconf."""
        from django.test import override_settings  # noqa: PLC0415 - per-framework

        extra = dict(headers)
        content_type = extra.pop("Content-Type", "application/octet-stream")
        with override_settings(ROOT_URLCONF=self.urls):
            response = self.client.generic(
                method, url, data=body, content_type=content_type, headers=extra
            )
        return Answer(response.status_code, response.content.decode(), response.get("Allow"))


def mount(framework: str, service: PaymentService, provider: str | None = None) -> Web:
    """The webhook route of ``framework``, mounted for ``service``."""
    if framework in {"starlette", "fastapi"}:
        return StarletteWeb(service, fastapi=framework == "fastapi", provider=provider)
    if framework == "flask":
        return FlaskWeb(service, provider=provider)
    return DjangoWeb(service, provider=provider)


# -- fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture
def sandbox() -> RecordingSandbox:
    """A sandbox that records what reached ``parse_webhook``."""
    return RecordingSandbox()


@pytest.fixture
def storage() -> FlakyStorage:
    """In-memory storage that can be taken down."""
    return FlakyStorage()


@pytest.fixture
def service(storage: FlakyStorage, sandbox: RecordingSandbox) -> PaymentService:
    """A service paying cards through the recording sandbox."""
    return PaymentService(storage, gateways={"credit_card": sandbox})


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    """Each framework in turn."""
    return str(request.param)


@pytest.fixture
def web(framework: str, service: PaymentService) -> Web:
    """The framework's app with the webhook route at its default path."""
    return mount(framework, service)


_orders = count(1)


def waiting_payment(service: PaymentService, sandbox: SandboxGateway) -> Payment:
    """A payment paykit left at 3-D Secure, which the customer has now passed at the sandbox."""
    card = service.add_payment_method(
        "cus_ada", type="credit_card", token=SandboxToken.THREE_D_SECURE, brand="visa", last4="4242"
    )
    order = f"ord_{next(_orders)}"
    payment = service.create_payment(
        customer_id="cus_ada",
        order_id=order,
        payment_method_id=card.id,
        amount="25.00",
        currency="USD",
        idempotency_key=f"checkout-{order}",
    )
    payment = service.process_payment(payment.id)
    assert payment.status is PaymentStatus.REQUIRES_ACTION
    assert payment.provider_payment_id is not None
    sandbox.complete_action(payment.provider_payment_id)
    return payment


def succeeded(sandbox: SandboxGateway, payment: Payment) -> tuple[list[tuple[str, str]], bytes]:
    """The sandbox's signed ``payment.succeeded`` delivery for ``payment``."""
    assert payment.provider_payment_id is not None
    headers, body = sandbox.webhook_for(
        WebhookEventType.PAYMENT_SUCCEEDED, payment.provider_payment_id
    )
    return list(headers.items()), body


def sign_by_hand(body: bytes) -> str:
    """A ``Sandbox-Signature`` for ``body``, computed here from the documented scheme."""
    stamp = int(time.time())
    digest = hmac.new(SANDBOX_SECRET, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def webhook_log(service: PaymentService, payment: Payment) -> list[str]:
    """The messages of the payment's ``webhook_received`` log entries."""
    return [
        entry.message
        for entry in service.get_transaction_log(payment.id)
        if entry.log_type is LogType.WEBHOOK_RECEIVED
    ]


# -- the scenarios, on every framework ------------------------------------------------------------


def test_a_delivery_is_applied(
    web: Web, service: PaymentService, sandbox: RecordingSandbox
) -> None:
    """A signed delivery about a waiting payment is applied: 200, and the payment completes."""
    payment = waiting_payment(service, sandbox)
    headers, body = succeeded(sandbox, payment)

    answer = web.send("POST", web.url("sandbox"), body, headers)

    assert (answer.status, answer.text) == (200, "applied")
    assert service.get_payment(payment.id).status is PaymentStatus.COMPLETED
    assert len(webhook_log(service, payment)) == 1
    assert [entry.event_id for entry in service.list_webhook_events(payment.id)] == [
        json.loads(body)["id"]
    ]


def test_a_second_delivery_is_a_duplicate(
    web: Web, service: PaymentService, sandbox: RecordingSandbox
) -> None:
    """The same event delivered again is acknowledged (200) and changes nothing."""
    payment = waiting_payment(service, sandbox)
    headers, body = succeeded(sandbox, payment)
    web.send("POST", web.url("sandbox"), body, headers)
    log_before = service.get_transaction_log(payment.id)

    answer = web.send("POST", web.url("sandbox"), body, headers)

    assert (answer.status, answer.text) == (200, "duplicate")
    assert service.get_transaction_log(payment.id) == log_before
    assert len(service.list_webhook_events(payment.id)) == 1


def test_an_event_about_an_unknown_payment_is_kept_unmatched(
    web: Web, service: PaymentService, sandbox: RecordingSandbox
) -> None:
    """An event about a payment this service does not know is stored (200) to apply later."""
    elsewhere = PaymentService(InMemoryStorage(), gateways={"credit_card": sandbox})
    stranger = waiting_payment(elsewhere, sandbox)
    headers, body = succeeded(sandbox, stranger)

    answer = web.send("POST", web.url("sandbox"), body, headers)

    assert (answer.status, answer.text) == (200, "unmatched")
    unmatched = service.list_unmatched_webhook_events()
    assert [entry.event_id for entry in unmatched] == [json.loads(body)["id"]]


def test_a_bad_signature_is_rejected_and_nothing_is_stored(
    web: Web, service: PaymentService, sandbox: RecordingSandbox
) -> None:
    """A body changed after signing is answered 400 and leaves no trace."""
    payment = waiting_payment(service, sandbox)
    headers, body = succeeded(sandbox, payment)
    tampered = body.replace(b'"25.00"', b'"2500.00"')
    assert tampered != body

    answer = web.send("POST", web.url("sandbox"), tampered, headers)

    assert answer.status == 400
    assert answer.text.startswith("rejected: ")
    assert service.get_payment(payment.id).status is PaymentStatus.REQUIRES_ACTION
    assert service.list_webhook_events(payment.id) == []
    assert service.list_unmatched_webhook_events() == []
    assert webhook_log(service, payment) == []


def test_an_unknown_provider_is_not_found(
    web: Web, service: PaymentService, sandbox: RecordingSandbox
) -> None:
    """A URL naming no configured webhook gateway is answered 404; the sandbox is not asked."""
    payment = waiting_payment(service, sandbox)
    headers, body = succeeded(sandbox, payment)

    answer = web.send("POST", web.url("stripe"), body, headers)

    assert answer.status == 404
    assert "stripe" in answer.text
    assert sandbox.bodies == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "OPTIONS"])
def test_only_post_is_allowed(
    web: Web, service: PaymentService, sandbox: RecordingSandbox, method: str
) -> None:
    """Anything but POST is answered 405, with ``Allow: POST``, and reaches nothing."""
    payment = waiting_payment(service, sandbox)
    headers, body = succeeded(sandbox, payment)

    answer = web.send(method, web.url("sandbox"), body, headers)

    assert answer.status == 405
    assert answer.allow == "POST"
    assert sandbox.bodies == []
    assert service.list_webhook_events(payment.id) == []


def test_storage_down_answers_503_so_the_provider_retries(
    web: Web, service: PaymentService, sandbox: RecordingSandbox, storage: FlakyStorage
) -> None:
    """If the event cannot be stored the answer is 503; the retry after recovery applies it."""
    payment = waiting_payment(service, sandbox)
    headers, body = succeeded(sandbox, payment)

    storage.down = True
    answer = web.send("POST", web.url("sandbox"), body, headers)
    storage.down = False

    assert answer.status == 503
    assert service.list_webhook_events(payment.id) == []
    assert service.get_payment(payment.id).status is PaymentStatus.REQUIRES_ACTION

    retried = web.send("POST", web.url("sandbox"), body, headers)
    assert (retried.status, retried.text) == (200, "applied")
    assert service.get_payment(payment.id).status is PaymentStatus.COMPLETED


@pytest.mark.parametrize(
    "name", ["Sandbox-Signature", "sandbox-signature", "SANDBOX-SIGNATURE", "sAnDbOx-SiGnAtUrE"]
)
def test_header_names_match_in_any_case(
    web: Web, service: PaymentService, sandbox: RecordingSandbox, name: str
) -> None:
    """The signature header is found whatever case it arrives in, and by its documented name."""
    payment = waiting_payment(service, sandbox)
    headers, body = succeeded(sandbox, payment)
    signature = dict(headers)["Sandbox-Signature"]
    sent = [(name, signature), ("Content-Type", "application/json")]

    answer = web.send("POST", web.url("sandbox"), body, sent)

    assert (answer.status, answer.text) == (200, "applied")
    received = sandbox.headers[-1]
    assert received["Sandbox-Signature"] == received["sandbox-signature"] == signature
    assert "SANDBOX-SIGNATURE" in received


def test_the_raw_body_reaches_the_gateway_byte_for_byte(
    web: Web, service: PaymentService, sandbox: RecordingSandbox
) -> None:
    """Whitespace, line endings and non-ASCII bytes survive, even under a form content type."""
    payment = waiting_payment(service, sandbox)
    _, body = succeeded(sandbox, payment)
    event = json.loads(body)
    event["payment"]["note"] = "Ünïcödé ✓"
    raw = b"\r\n  " + json.dumps(event, indent=3, ensure_ascii=False).encode() + b"\r\n\t \n"
    headers = [
        ("Sandbox-Signature", sign_by_hand(raw)),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ]

    answer = web.send("POST", web.url("sandbox"), raw, headers)

    assert (answer.status, answer.text) == (200, "applied")
    assert sandbox.bodies == [raw]


def test_a_route_for_one_fixed_provider(
    framework: str, service: PaymentService, sandbox: RecordingSandbox
) -> None:
    """Mounted with ``provider=``, the route needs no provider in its URL."""
    fixed = mount(framework, service, provider="sandbox")
    payment = waiting_payment(service, sandbox)
    headers, body = succeeded(sandbox, payment)

    answer = fixed.send("POST", fixed.url("sandbox"), body, headers)

    assert (answer.status, answer.text) == (200, "applied")
    assert "hooks/sandbox-only" in fixed.url("sandbox")


# -- framework specifics --------------------------------------------------------------------------


@pytest.mark.parametrize("framework", ["starlette", "fastapi"])
def test_starlette_runs_the_service_off_the_event_loop(
    framework: str, service: PaymentService, sandbox: RecordingSandbox
) -> None:
    """The synchronous service (storage, provider calls) runs in a worker thread."""
    web = mount(framework, service)
    payment = waiting_payment(service, sandbox)
    headers, body = succeeded(sandbox, payment)

    assert web.send("POST", web.url("sandbox"), body, headers).status == 200
    assert sandbox.on_event_loop == [False]


@pytest.mark.parametrize("framework", ["starlette", "fastapi", "flask"])
def test_a_repeated_signature_header_is_rejected(
    framework: str, service: PaymentService, sandbox: RecordingSandbox
) -> None:
    """Two signature headers are not reduced to one of them: the delivery is refused (400)."""
    web = mount(framework, service)
    payment = waiting_payment(service, sandbox)
    headers, body = succeeded(sandbox, payment)
    signature = dict(headers)["Sandbox-Signature"]
    sent = [("Sandbox-Signature", signature), ("Sandbox-Signature", signature)]

    answer = web.send("POST", web.url("sandbox"), body, sent)

    assert answer.status == 400
    assert service.list_webhook_events(payment.id) == []


def test_fastapi_keeps_the_route_out_of_the_openapi_schema(service: PaymentService) -> None:
    """Providers call the route, API clients do not: it is not in the schema."""
    from fastapi import FastAPI  # noqa: PLC0415 - per-framework

    from paykit.contrib.starlette import add_webhook_route  # noqa: PLC0415

    app = FastAPI()
    add_webhook_route(app, service)
    assert app.openapi()["paths"] == {}
    assert app.url_path_for("paykit_webhook", provider="stripe") == "/webhooks/stripe"


def test_starlette_path_must_name_the_provider(service: PaymentService) -> None:
    """A path without ``{provider}`` and no fixed provider is a mistake caught at mount time."""
    from starlette.applications import Starlette  # noqa: PLC0415 - per-framework

    from paykit.contrib.starlette import add_webhook_route  # noqa: PLC0415

    with pytest.raises(ValueError, match=r"\{provider\}"):
        add_webhook_route(Starlette(), service, "/webhooks")


def test_the_bare_starlette_endpoint_refuses_get(service: PaymentService) -> None:
    """Mounted with Starlette's default methods (GET, HEAD), the endpoint still says 405."""
    from starlette.applications import Starlette  # noqa: PLC0415 - per-framework
    from starlette.routing import Route  # noqa: PLC0415
    from starlette.testclient import TestClient  # noqa: PLC0415

    from paykit.contrib.starlette import webhook_endpoint  # noqa: PLC0415

    app = Starlette(routes=[Route("/hook", webhook_endpoint(service, "sandbox"))])
    response = TestClient(app).get("/hook")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_flask_view_registered_for_get_still_refuses_it(service: PaymentService) -> None:
    """The Flask view answers 405 itself when an app routes other methods to it."""
    from flask import Flask  # noqa: PLC0415 - per-framework

    from paykit.contrib.flask import webhook_view  # noqa: PLC0415

    app = Flask("paykit_contrib_test")
    app.add_url_rule("/hook/<provider>", view_func=webhook_view(service), methods=["GET", "POST"])
    response = app.test_client().get("/hook/sandbox")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_django_view_is_csrf_exempt(service: PaymentService) -> None:
    """Django's CSRF middleware lets provider deliveries through the view."""
    _django_settings()
    from paykit.contrib.django import webhook_view  # noqa: PLC0415

    view = webhook_view(service)
    assert getattr(view, "csrf_exempt", False) is True


# -- RequestHeaders and import isolation ----------------------------------------------------------


def test_request_headers_are_case_insensitive_and_keep_repeats() -> None:
    """Names match in any case; repeated headers are joined as HTTP combines them."""
    headers = RequestHeaders([("X-Sig", "a"), ("x-sig", "b"), ("Content-Type", "text/plain")])
    assert headers["X-SIG"] == "a, b"
    assert headers.get("content-type") == "text/plain"
    assert "CONTENT-TYPE" in headers
    assert sorted(headers) == ["content-type", "x-sig"]
    assert len(headers) == 2
    assert "a, b" not in repr(headers)
    with pytest.raises(KeyError):
        headers["missing"]


def test_importing_paykit_loads_no_web_framework() -> None:
    """``import paykit`` and ``import paykit.contrib`` need no framework."""
    code = (
        "import sys, paykit, paykit.contrib\n"
        "loaded = [m for m in ('starlette', 'fastapi', 'flask', 'werkzeug', 'django')"
        " if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)  # noqa: S603
