"""Every endpoint is scoped to the caller: another customer's record is a 404 and stays as it was.

Ada owns a saved card, a pending, an authorized and a completed payment, and a pending refund;
Bob, another customer, tries every endpoint on them. Each answer must be 404 -- never 403,
which would confirm the id exists -- with a problem body, and nothing may change, at
paykit or at the provider.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from paykit import PaymentService, SandboxGateway

from ._api_support import Client, add_card, paid


@dataclass(frozen=True)
class Ada:
    """Ada's records, by id."""

    method: str
    pending: str
    authorized: str
    completed: str
    refund: str


@pytest.fixture
def records(ada: Client, staff: Client) -> Ada:
    """Ada's card, three payments in three states and a pending refund."""
    method = add_card(ada)["id"]
    body = {"order_id": "o", "payment_method_id": method, "amount": "50.00", "currency": "USD"}
    pending = ada.post("/", json=body).json()["id"]
    authorized = ada.post("/", json={**body, "capture": False}).json()["id"]
    ada.post(f"/{authorized}/process/")
    completed = paid(ada)["id"]
    refund = staff.post("/refunds/", json={"payment_id": completed, "amount": "5.00"}).json()["id"]
    return Ada(method, pending, authorized, completed, refund)


Call = Callable[[Client, Ada], httpx.Response]

CALLS: dict[str, Call] = {
    "get-method": lambda c, a: c.get(f"/methods/{a.method}/"),
    "put-method": lambda c, a: c.request(
        "PUT", f"/methods/{a.method}/", json={"exp_month": 1, "exp_year": 2030, "metadata": {}}
    ),
    "patch-method": lambda c, a: c.request("PATCH", f"/methods/{a.method}/", json={"exp_month": 2}),
    "delete-method": lambda c, a: c.request("DELETE", f"/methods/{a.method}/"),
    "set-default-method": lambda c, a: c.post(f"/methods/{a.method}/set-default/"),
    "get-payment": lambda c, a: c.get(f"/{a.completed}/"),
    "get-status": lambda c, a: c.get(f"/{a.completed}/status/"),
    "get-logs": lambda c, a: c.get(f"/{a.completed}/logs/"),
    "process-payment": lambda c, a: c.post(f"/{a.pending}/process/"),
    "cancel-payment": lambda c, a: c.post(f"/{a.pending}/cancel/"),
    "capture-payment": lambda c, a: c.post(f"/{a.authorized}/capture/"),
    "void-payment": lambda c, a: c.post(f"/{a.authorized}/void/"),
    "pay-with-their-method": lambda c, a: c.post(
        "/",
        json={"order_id": "o", "payment_method_id": a.method, "amount": "1.00", "currency": "USD"},
    ),
    "get-refund": lambda c, a: c.get(f"/refunds/{a.refund}/"),
    "process-refund": lambda c, a: c.post(f"/refunds/{a.refund}/process/"),
    "cancel-refund": lambda c, a: c.post(f"/refunds/{a.refund}/cancel/"),
    "refund-their-payment": lambda c, a: c.post(
        "/refunds/", json={"payment_id": a.completed, "amount": "1.00"}
    ),
    "list-their-refunds": lambda c, a: c.get(f"/refunds/?payment_id={a.completed}"),
}


def _snapshot(service: PaymentService, sandbox: SandboxGateway) -> tuple[Any, ...]:
    """Everything a call could have changed: every record, its version, the provider's calls."""
    payments = service.list_payments()
    methods = service.list_payment_methods("cus_ada", include_inactive=True)
    refunds = [service.list_refunds(payment.id) for payment in payments]
    logs = [len(service.get_transaction_log(payment.id)) for payment in payments]
    return payments, methods, refunds, logs, list(sandbox.calls)


@pytest.mark.parametrize("call", list(CALLS.values()), ids=list(CALLS))
def test_another_customers_record_is_a_404_and_nothing_changes(
    records: Ada,
    bob: Client,
    service: PaymentService,
    sandbox: SandboxGateway,
    call: Call,
) -> None:
    """Bob gets 404 with a problem body on each of Ada's records; nothing changes anywhere."""
    before = _snapshot(service, sandbox)

    answer = call(bob, records)

    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "not_found"
    assert _snapshot(service, sandbox) == before


def test_the_table_covers_every_endpoint_with_an_id(app: Any) -> None:
    """Each route with a path parameter (but the webhook) is tried by the table above."""
    with_ids = {
        (method, path)
        for path, operations in app.openapi()["paths"].items()
        if "{" in path and "webhooks" not in path
        for method in operations
    }

    assert len(with_ids) == 15
    assert len(CALLS) >= len(with_ids)


@pytest.mark.usefixtures("records")
def test_lists_show_only_the_callers_own_records(bob: Client, ada: Client) -> None:
    """Bob's lists are empty; asking for Ada's by customer_id is refused, not shown."""
    assert bob.get("/methods/").json()["data"] == []
    assert bob.get("/").json()["data"] == []
    assert bob.get("/refunds/").json()["data"] == []
    assert bob.get("/?customer_id=cus_ada").status_code == 422
    assert bob.get("/methods/?customer_id=cus_ada").status_code == 422
    assert len(ada.get("/").json()["data"]) == 3


def test_staff_see_everyone_and_act_for_a_named_customer(records: Ada, staff: Client) -> None:
    """Staff list all payments and read any record; writes name the customer they are for."""
    assert len(staff.get("/").json()["data"]) == 3
    assert staff.get(f"/{records.completed}/").status_code == 200
    assert staff.get("/methods/?customer_id=cus_ada").json()["data"][0]["id"] == records.method
    unnamed = staff.post("/methods/", json={"type": "credit_card", "token": "tok_visa"})
    assert unnamed.status_code == 422
    assert unnamed.json()["field"] == "customer_id"


def test_a_customer_may_not_refund_or_process_refunds_by_default(records: Ada, ada: Client) -> None:
    """The default policy: only staff create and process refunds (403 on one's own payment)."""
    asked = ada.post("/refunds/", json={"payment_id": records.completed, "amount": "1.00"})
    processed = ada.post(f"/refunds/{records.refund}/process/")

    assert (asked.status_code, asked.json()["code"]) == (403, "forbidden")
    assert (processed.status_code, processed.json()["code"]) == (403, "forbidden")


AskById = Callable[[Client, str], httpx.Response]

ASK_BY_ID: dict[str, tuple[str, AskById]] = {  # which of Ada's records, and how to ask
    "pay-with-method": (
        "method",
        lambda c, record: c.post(
            "/",
            json={"order_id": "o", "payment_method_id": record, "amount": "1", "currency": "USD"},
        ),
    ),
    "get-method": ("method", lambda c, record: c.get(f"/methods/{record}/")),
    "get-payment": ("completed", lambda c, record: c.get(f"/{record}/")),
    "get-refund": ("refund", lambda c, record: c.get(f"/refunds/{record}/")),
}


@pytest.mark.parametrize(("which", "ask"), list(ASK_BY_ID.values()), ids=list(ASK_BY_ID))
def test_another_customers_record_reads_exactly_as_a_missing_one(
    records: Ada, bob: Client, which: str, ask: AskById
) -> None:
    """The answers for Ada's record and for a missing id differ in the id only."""
    record = getattr(records, which)
    theirs = ask(bob, record)
    missing = ask(bob, "x_missing")

    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == {
        **missing.json(),
        "detail": missing.json()["detail"].replace("x_missing", record),
    }


def test_staff_paying_with_one_customers_method_for_another_is_refused(
    records: Ada, staff: Client, service: PaymentService
) -> None:
    """Staff may see the method, so the answer names the field (422); nothing is created."""
    before = len(service.list_payments())
    answer = staff.post(
        "/",
        json={
            "order_id": "o",
            "payment_method_id": records.method,
            "amount": "1.00",
            "currency": "USD",
            "customer_id": "cus_bob",
        },
    )

    assert (answer.status_code, answer.json()["field"]) == (422, "payment_method_id")
    assert len(service.list_payments()) == before


@pytest.mark.usefixtures("records")
def test_staff_get_a_404_for_missing_records_without_the_scoping_read(staff: Client) -> None:
    """Nothing is read before the service for staff: the service's own NotFound answers."""
    asked = staff.post("/refunds/", json={"payment_id": "pay_missing", "amount": "1.00"})
    processed = staff.post("/refunds/re_missing/process/")
    cancelled = staff.post("/refunds/re_missing/cancel/")

    for answer in (asked, processed, cancelled):
        assert (answer.status_code, answer.json()["code"]) == (404, "not_found")
