"""Staff-only ``GET /analytics/...``: the report's figures over HTTP, on every storage."""

from __future__ import annotations

import pytest

from paykit import PaymentService, SandboxToken
from paykit.analytics._report import PAYMENT_COLUMNS, build_report, report_dict
from paykit.api._analytics import PaymentRowOut

from ._api_support import Client, paid


def _history(ada: Client, bob: Client, staff: Client) -> None:
    """Three completed USD payments (one refunded 30.00 for a reason) and one declined."""
    first = paid(ada, "100.00")
    paid(bob, "50.00")
    paid(ada, "10.00")
    declined_card = ada.post(
        "/methods/", json={"type": "credit_card", "token": SandboxToken.DECLINE}
    ).json()
    declined = ada.post(
        "/",
        json={
            "order_id": "ord_2",
            "payment_method_id": declined_card["id"],
            "amount": "20.00",
            "currency": "USD",
        },
    ).json()
    assert ada.post(f"/{declined['id']}/process/").json()["status"] == "failed"
    refund = staff.post(
        "/refunds/",
        json={"payment_id": first["id"], "amount": "30.00", "reason": "damaged"},
    ).json()
    assert staff.post(f"/refunds/{refund['id']}/process/").status_code == 200


def test_staff_read_the_report_with_exact_figures(ada: Client, bob: Client, staff: Client) -> None:
    """The figures of both customers, per currency; amounts and rates as exact strings."""
    _history(ada, bob, staff)

    answer = staff.get("/analytics/")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    (usd,) = body["payments"]
    assert usd["currency"] == "USD"
    assert (usd["created"], usd["completed"], usd["failed"]) == (4, 3, 1)
    assert usd["captured_amount"] == "160.00"
    assert usd["refunded_amount"] == "30.00"
    assert usd["net_revenue"] == "130.00"
    assert usd["success_rate"] == "0.750000"
    assert usd["dispute_rate"] == "0.000000"
    (decline,) = body["declines"]
    assert (decline["count"], decline["amount"], decline["share"]) == (1, "20.00", "1.000000")
    (reason,) = body["refunds_by_reason"]
    assert (reason["reason"], reason["count"], reason["amount"]) == ("damaged", 1, "30.00")


def test_the_api_answers_what_paykit_report_json_prints(
    ada: Client, bob: Client, staff: Client, service: PaymentService
) -> None:
    """The CLI's ``--json`` rows and the API's are the same, split the same way."""
    _history(ada, bob, staff)
    query = service.analytics.query(by=("day", "method", "decline_code"))

    answer = staff.get("/analytics/", params={"by": "day,method,decline_code"})

    assert answer.status_code == 200, answer.text
    expected = report_dict(build_report(service.analytics, query))
    unsplit = dict.fromkeys(("provider", "status"))  # the API names them, as null
    assert answer.json()["payments"] == [
        {**unsplit, **row, "bucket": row["bucket"].replace("+00:00", "Z")}
        for row in expected["payments"]
    ]
    assert staff.get("/analytics/payments/", params={"by": "method"}).json()[0]["method"] == (
        "credit_card"
    )
    assert len(staff.get("/analytics/declines/").json()) == 1
    assert staff.get("/analytics/refunds/").json()[0]["reason"] == "damaged"


def test_the_response_model_has_every_column_the_report_prints() -> None:
    """The model and :data:`PAYMENT_COLUMNS` are two lists; this keeps them one."""
    keys = {"currency", "provider", "method", "status", "decline_code", "bucket"}
    assert set(PaymentRowOut.model_fields) == keys | set(PAYMENT_COLUMNS)


@pytest.mark.parametrize(
    "path", ["/analytics/", "/analytics/payments/", "/analytics/declines/", "/analytics/refunds/"]
)
def test_customers_may_not_read_analytics(ada: Client, anonymous: Client, path: str) -> None:
    """Figures over every customer's payments are for staff: 403 for a customer, 401 unsigned."""
    answer = ada.get(path)
    assert answer.status_code == 403
    assert answer.json()["code"] == "forbidden"
    assert anonymous.get(path).status_code == 401


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"by": "day,week"}, "by"),
        ({"by": "colour"}, "by"),
        ({"time_zone": "America"}, "time_zone"),
        ({"time_zone": "Nowhere/City"}, "time_zone"),
        ({"since": "1700000000"}, "since"),
        ({"currency": "US"}, "currency"),
    ],
)
def test_a_bad_query_is_a_422_naming_the_parameter(
    staff: Client, params: dict[str, str], field: str
) -> None:
    """Each bad parameter is named, and nothing reaches the database unchecked."""
    answer = staff.get("/analytics/", params=params)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field


def test_the_report_filters_by_currency_and_time(ada: Client, staff: Client) -> None:
    """``currency`` and ``[since, until)`` choose the payments counted."""
    paid(ada, "100.00")

    assert staff.get("/analytics/", params={"currency": "EUR"}).json()["payments"] == []
    later = staff.get("/analytics/", params={"since": "2999-01-01T00:00:00Z"})
    assert later.json()["payments"] == []
    assert (
        staff.get("/analytics/", params={"currency": "USD"}).json()["payments"][0]["created"] == 1
    )
