"""Errors are RFC 9457 problems with paykit's stable code; nothing secret is ever in a body."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from paykit import PaymentService, SandboxGateway
from paykit.api import STATUS_BY_ERROR, create_app
from paykit.api._problems import problem_for
from paykit.errors import GatewayError, PaykitError

from ._api_support import Client, add_card, paid

CARD = "4242424242424242"


def _problem(answer: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """Check the answer is the problem it should be, and return its body."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    assert set(body) == {"type", "title", "status", "detail", "code", "field"}
    assert (body["status"], body["code"], body["field"]) == (status, code, field)
    assert body["type"].endswith(code)
    return body


def test_no_credentials_is_a_401(anonymous: Client) -> None:
    """A request the authenticator refuses is answered 401 with WWW-Authenticate."""
    answer = anonymous.get("/")

    _problem(answer, 401, "not_authenticated")
    assert answer.headers["www-authenticate"] == "Bearer"


def test_the_api_cannot_be_built_without_an_authenticator(service: PaymentService) -> None:
    """No default lets everyone in: authenticate=None is refused when the app is built."""
    with pytest.raises(TypeError, match="authenticator"):
        create_app(service, authenticate=None)


def test_a_float_amount_is_a_422_that_says_why(ada: Client) -> None:
    """A JSON number for an amount is refused, naming the field and the reason."""
    method = add_card(ada)
    body = {"order_id": "o", "payment_method_id": method["id"], "amount": 10.5, "currency": "USD"}

    problem = _problem(ada.post("/", json=body), 422, "validation_error", "amount")

    assert "not the JSON number" in problem["detail"]


def test_an_unknown_field_is_a_422(ada: Client) -> None:
    """Fields the schema does not know are refused, not ignored."""
    answer = ada.post("/methods/", json={"type": "credit_card", "token": "tok_visa", "pan": "x"})

    problem = _problem(answer, 422, "validation_error", "pan")
    assert "not a field" in problem["detail"]


def test_paykits_validation_reaches_the_client_with_its_field(ada: Client) -> None:
    """The library's own checks (too many decimals, a card number, metadata) answer 422."""
    method = add_card(ada)
    base = {"order_id": "o", "payment_method_id": method["id"], "currency": "USD"}

    _problem(ada.post("/", json={**base, "amount": "1.001"}), 422, "invalid_amount", "amount")
    carded = ada.post("/", json={**base, "amount": "1.00", "description": f"card {CARD}"})
    problem = _problem(carded, 422, "card_data_rejected", "description")
    assert CARD not in carded.text
    assert "card" in problem["detail"]
    nested = ada.post("/", json={**base, "amount": "1.00", "metadata": {"a": {"b": 1.5}}})
    _problem(nested, 422, "validation_error", "metadata.a.b")


def test_a_body_above_the_limit_is_a_413_before_parsing(ada: Client) -> None:
    """A body over 64 KiB is refused with 413, whatever it holds."""
    answer = ada.post(
        "/methods/",
        content=b"{" + b" " * 70_000 + b"}",
        headers={"content-type": "application/json"},
    )

    _problem(answer, 413, "request_too_large")


def test_a_body_that_is_not_json_is_a_422_without_a_field(ada: Client) -> None:
    """Broken JSON is refused as such, not blamed on a character position."""
    answer = ada.post(
        "/methods/", content=b'{"type": ', headers={"content-type": "application/json"}
    )

    problem = _problem(answer, 422, "validation_error", None)
    assert problem["detail"] == "the body is not valid JSON"


def test_a_state_conflict_is_a_409(ada: Client) -> None:
    """Processing a completed payment again is a 409 invalid_state_transition."""
    payment = paid(ada)

    _problem(ada.post(f"/{payment['id']}/process/"), 409, "invalid_state_transition")


def test_a_refund_above_the_balance_says_the_balance(ada: Client, staff: Client) -> None:
    """A refund beyond what is refundable is a 422 whose detail names the balance."""
    payment = paid(ada, "30.00")

    answer = staff.post("/refunds/", json={"payment_id": payment["id"], "amount": "30.01"})

    problem = _problem(answer, 422, "invalid_refund_amount", "amount")
    assert "30.00 USD" in problem["detail"]


def test_a_provider_failure_is_a_502_and_the_payment_waits(
    ada: Client, sandbox: SandboxGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A charge whose answer is lost is a 502; the payment stays processing for reconciliation."""
    method = add_card(ada)
    body = {"order_id": "o", "payment_method_id": method["id"], "amount": "5.00", "currency": "USD"}
    payment = ada.post("/", json=body).json()

    def lost(request: object) -> object:
        msg = f"read timed out after sending {request!r}"
        raise TimeoutError(msg)

    monkeypatch.setattr(sandbox, "charge", lost)
    answer = ada.post(f"/{payment['id']}/process/")

    problem = _problem(answer, 502, "payment_processing_error")
    assert "timed out" in problem["detail"]
    assert ada.get(f"/{payment['id']}/status/").json()["status"] == "processing"


def test_an_unknown_path_and_a_wrong_method_are_problems_too(ada: Client) -> None:
    """Routing errors use the same problem format."""
    _problem(ada.get("/no/such/thing/at/all/"), 404, "not_found")
    _problem(ada.request("DELETE", "/refunds/"), 405, "method_not_allowed")


def test_a_malformed_cursor_is_a_422(ada: Client) -> None:
    """A cursor that is not in the list, or both cursors at once, is refused with the field."""
    add_card(ada)

    _problem(ada.get("/methods/?starting_after=pm_nope"), 422, "validation_error", "starting_after")
    _problem(
        ada.get("/methods/?starting_after=a&ending_before=b"),
        422,
        "validation_error",
        "ending_before",
    )
    _problem(ada.get("/methods/?limit=101"), 422, "validation_error", "limit")


@pytest.mark.parametrize(
    ("cls", "status"), STATUS_BY_ERROR, ids=lambda v: getattr(v, "__name__", str(v))
)
def test_each_error_class_maps_to_its_documented_status(
    cls: type[PaykitError], status: int
) -> None:
    """Every entry of the table is the status problem_for gives an instance of that class."""
    error = cls.__new__(cls)
    PaykitError.__init__(error, "message")
    error.field = "f"  # ValidationError's; harmless on the others
    error.detail = "message"
    error.retryable = False

    assert problem_for(error).status == status


def test_a_retryable_gateway_error_is_a_503_with_retry_after() -> None:
    """A provider that says "try later" is answered 503 with Retry-After."""
    problem = problem_for(GatewayError("rate limited", retryable=True))

    assert (problem.status, problem.headers["Retry-After"]) == (503, "30")


def test_the_app_documents_the_problem_answers(app: FastAPI) -> None:
    """The OpenAPI document lists the problem responses of each operation."""
    operation = app.openapi()["paths"]["/api/v1/payments/"]["post"]

    assert {"401", "404", "409", "422"} <= set(operation["responses"])
