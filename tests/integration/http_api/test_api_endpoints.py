"""Every endpoint of the REST API through the real ASGI stack, on memory, SQLite and PostgreSQL."""

from __future__ import annotations

from paykit import PaymentService, SandboxToken

from ._api_support import Client, add_card, paid


def test_the_seeds_usage_example(ada: Client, staff: Client) -> None:
    """Create a payment, process it, refund 50.00 of it: the original app's walk-through."""
    method = add_card(ada)
    created = ada.post(
        "/",
        json={
            "order_id": "ord_1001",
            "payment_method_id": method["id"],
            "amount": "100.00",
            "currency": "USD",
            "description": "Order #1001",
        },
    )
    assert created.status_code == 201
    assert created.json()["status"] == "pending"
    assert created.json()["amount"] == {"amount": "100.00", "currency": "USD"}

    processed = ada.post(f"/{created.json()['id']}/process/")
    assert processed.status_code == 200
    assert processed.json()["status"] == "completed"

    refund = staff.post(
        "/refunds/",
        json={"payment_id": created.json()["id"], "amount": "50.00", "reason": "customer asked"},
    )
    assert refund.status_code == 201
    assert refund.json()["status"] == "pending"
    done = staff.post(f"/refunds/{refund.json()['id']}/process/")
    assert done.json()["status"] == "completed"

    payment = ada.get(f"/{created.json()['id']}/").json()
    assert payment["status"] == "partially_refunded"
    assert payment["refundable_amount"] == {"amount": "50.00", "currency": "USD"}


def test_payment_methods_can_be_listed_read_changed_and_removed(ada: Client) -> None:
    """The method endpoints: list, read, PUT, PATCH, set default, DELETE."""
    first = add_card(ada)
    second = add_card(ada)
    assert "token" not in first
    assert "provider_payment_method_id" not in first

    listed = ada.get("/methods/").json()
    assert [m["id"] for m in listed["data"]] == [first["id"], second["id"]]
    assert listed["has_more"] is False
    assert ada.get(f"/methods/{first['id']}/").json()["id"] == first["id"]

    replaced = ada.request(
        "PUT",
        f"/methods/{first['id']}/",
        json={"exp_month": 12, "exp_year": 2031, "metadata": {"label": "work"}},
    )
    assert replaced.status_code == 200
    assert (replaced.json()["exp_month"], replaced.json()["metadata"]) == (12, {"label": "work"})
    patched = ada.request("PATCH", f"/methods/{first['id']}/", json={"exp_year": 2032})
    assert (patched.json()["exp_month"], patched.json()["exp_year"]) == (12, 2032)

    default = ada.post(f"/methods/{second['id']}/set-default/")
    assert default.json()["is_default"] is True

    removed = ada.request("DELETE", f"/methods/{first['id']}/")
    assert removed.status_code == 204
    assert ada.get(f"/methods/{first['id']}/").status_code == 404


def test_a_payment_can_be_read_by_status_and_log(ada: Client) -> None:
    """GET one payment, its status and its audit log."""
    payment = paid(ada)

    assert ada.get(f"/{payment['id']}/").json()["status"] == "completed"
    assert ada.get(f"/{payment['id']}/status/").json() == {
        "object": "payment_status",
        "id": payment["id"],
        "status": "completed",
    }
    logs = ada.get(f"/{payment['id']}/logs/").json()
    assert [entry["log_type"] for entry in logs["data"]][:2] == [
        "payment_created",
        "payment_processing",
    ]


def test_authorize_then_capture_part_and_void(ada: Client) -> None:
    """Capture takes an optional amount; void releases an authorization."""
    method = add_card(ada)
    fields = {"order_id": "o", "payment_method_id": method["id"], "amount": "80.00"}
    first = ada.post("/", json={**fields, "currency": "USD", "capture": False}).json()
    assert ada.post(f"/{first['id']}/process/").json()["status"] == "authorized"
    captured = ada.post(f"/{first['id']}/capture/", json={"amount": "60.00"})
    assert captured.json()["captured_amount"] == {"amount": "60.00", "currency": "USD"}

    second = ada.post("/", json={**fields, "currency": "USD", "capture": False}).json()
    ada.post(f"/{second['id']}/process/")
    assert ada.post(f"/{second['id']}/void/").json()["status"] == "cancelled"


def test_a_pending_payment_can_be_cancelled(ada: Client) -> None:
    """POST /{id}/cancel/ cancels a payment that has taken no money."""
    method = add_card(ada)
    body = {"order_id": "o", "payment_method_id": method["id"], "amount": "5", "currency": "JPY"}
    payment = ada.post("/", json=body).json()

    assert ada.post(f"/{payment['id']}/cancel/").json()["status"] == "cancelled"


def test_three_d_secure_hands_the_client_secret_to_this_answer_only(ada: Client) -> None:
    """The process answer carries next_action with its client secret; a later read does not."""
    method = add_card(ada, SandboxToken.THREE_D_SECURE)
    body = {"order_id": "o", "payment_method_id": method["id"], "amount": "9.99", "currency": "USD"}
    payment = ada.post("/", json=body).json()

    answer = ada.post(f"/{payment['id']}/process/").json()

    assert answer["status"] == "requires_action"
    assert answer["next_action"]["client_secret"]
    assert ada.get(f"/{payment['id']}/").json()["next_action"]["client_secret"] is None


def test_payments_list_filters_by_status_order_and_date(ada: Client) -> None:
    """GET / filters by status, order_id and created_gte / created_lte."""
    done = paid(ada)
    method = add_card(ada)
    pending = ada.post(
        "/",
        json={
            "order_id": "ord_2",
            "payment_method_id": method["id"],
            "amount": "1.00",
            "currency": "USD",
        },
    ).json()

    def ids(query: str) -> list[str]:
        return [p["id"] for p in ada.get(f"/?{query}").json()["data"]]

    assert ids("status=completed") == [done["id"]]
    assert ids("order_id=ord_2") == [pending["id"]]
    assert ids(f"created_gte={pending['created_at'].replace('+', '%2B')}") == [pending["id"]]
    assert ids("created_lte=2000-01-01T00:00:00Z") == []


def test_lists_page_with_cursors(ada: Client) -> None:
    """limit, starting_after and ending_before walk a list without repeats or gaps."""
    methods = [add_card(ada)["id"] for _ in range(5)]

    first = ada.get("/methods/?limit=2").json()
    second = ada.get(f"/methods/?limit=2&starting_after={first['data'][-1]['id']}").json()
    third = ada.get(f"/methods/?limit=2&starting_after={second['data'][-1]['id']}").json()
    back = ada.get(f"/methods/?limit=2&ending_before={third['data'][0]['id']}").json()

    pages = [first, second, third]
    assert [m["id"] for page in pages for m in page["data"]] == methods
    assert [page["has_more"] for page in pages] == [True, True, False]
    assert [m["id"] for m in back["data"]] == methods[2:4]
    assert back["has_more"] is True


def test_refunds_can_be_listed_read_and_cancelled(ada: Client, staff: Client) -> None:
    """GET /refunds/, GET /refunds/{id}/ and POST /refunds/{id}/cancel/."""
    payment = paid(ada)
    refund = staff.post("/refunds/", json={"payment_id": payment["id"], "amount": "10.00"}).json()

    assert [r["id"] for r in ada.get("/refunds/").json()["data"]] == [refund["id"]]
    assert ada.get(f"/refunds/?payment_id={payment['id']}").json()["data"][0]["id"] == refund["id"]
    assert ada.get(f"/refunds/{refund['id']}/").json()["amount"]["amount"] == "10.00"
    cancelled = staff.post(f"/refunds/{refund['id']}/cancel/")
    assert cancelled.json()["status"] == "cancelled"
    assert ada.get(f"/{payment['id']}/").json()["refundable_amount"]["amount"] == "100.00"


def test_webhooks_need_no_authenticator_only_a_signature(
    anonymous: Client, service: PaymentService
) -> None:
    """POST /webhooks/{provider}/ reaches handle_webhook: a bad signature is 400, unknown 404."""
    unsigned = anonymous.post("/webhooks/sandbox/", content=b"{}")
    unknown = anonymous.post("/webhooks/nobody/", content=b"{}")

    assert unsigned.status_code == 400
    assert unknown.status_code == 404
    assert service.list_unmatched_webhook_events() == []
