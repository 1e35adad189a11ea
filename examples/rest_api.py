"""The REST API in five minutes: the original app's usage examples, as real HTTP requests.

Builds the API (``paykit.api.create_app``) over the sandbox gateway and the in-memory store,
and talks to it in process through ``httpx.ASGITransport``: the requests go through the
whole ASGI stack (authentication, scoping, idempotency, problem answers), but no socket is
opened. Callers are told apart by a bearer token, from a small table: one customer, one
member of staff. Run it with ``pip install 'paykit[api]' httpx``::

    python examples/rest_api.py

The same requests work against ``paykit serve --demo`` with curl (see the README).
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import httpx
from starlette.requests import Request

from paykit import InMemoryStorage, PaymentService, SandboxGateway, SandboxToken
from paykit.api import Principal, create_app

PREFIX: Final = "/api/v1/payments"
# The host's token table. A real host keeps hashes of random tokens in its database, or
# checks a signed session; what paykit needs back is only the Principal.
TOKENS: Final = {
    "tok_ada_3f9c": Principal(customer_id="cus_ada", name="ada"),
    "tok_staff_81d2": Principal(is_staff=True, name="sam"),
}
ADA: Final = {"Authorization": "Bearer tok_ada_3f9c"}
STAFF: Final = {"Authorization": "Bearer tok_staff_81d2"}


def authenticate(request: Request) -> Principal | None:
    """The host's hook: the bearer token's principal, or ``None`` (answered 401)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return TOKENS.get(token) if scheme.lower() == "bearer" else None


def main() -> None:
    """Build the app and walk through the usage examples."""
    sandbox = SandboxGateway()
    service = PaymentService(InMemoryStorage(), {"credit_card": sandbox, "debit_card": sandbox})
    app = create_app(service, authenticate=authenticate)
    asyncio.run(walk_through(httpx.ASGITransport(app=app)))


async def walk_through(transport: httpx.ASGITransport) -> None:
    """The requests, each answer printed as its status code and key fields."""
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as http:

        async def call(
            method: str, path: str, headers: dict[str, str], json: dict[str, Any] | None = None
        ) -> dict[str, Any]:
            answer = await http.request(method, PREFIX + path, headers=headers, json=json)
            body: dict[str, Any] = answer.json()
            replayed = " (replayed)" if answer.headers.get("Idempotent-Replayed") else ""
            print(f"   -> {answer.status_code}{replayed} {summary(body)}")
            return body

        print("1. Without credentials: GET /")
        await call("GET", "/", {})

        print("2. Ada saves a card: POST /methods/")
        card = await call(
            "POST",
            "/methods/",
            ADA,
            json={"type": "credit_card", "token": SandboxToken.SUCCESS, "brand": "visa"}
            | {"last4": "4242", "exp_month": 12, "exp_year": 2030},
        )

        print("3. Ada creates a payment of 100.00 USD: POST / (Idempotency-Key: checkout-1001)")
        order = {
            "order_id": "ord_1001",
            "payment_method_id": card["id"],
            "amount": "100.00",
            "currency": "USD",
            "description": "Order #1001",
        }
        checkout = {**ADA, "Idempotency-Key": "checkout-1001"}
        payment = await call("POST", "/", checkout, json=order)

        print("   the network dropped the answer; the client sends the same request again")
        await call("POST", "/", checkout, json=order)

        print('4. An amount as a JSON number is refused: {"amount": 100.0}')
        await call("POST", "/", ADA, json={**order, "amount": 100.0})

        print(f"5. Ada processes it: POST /{payment['id']}/process/")
        await call("POST", f"/{payment['id']}/process/", ADA)

        print("6. Ada asks for a refund herself: POST /refunds/ (staff only by default)")
        refund_request = {"payment_id": payment["id"], "amount": "50.00", "reason": "returned"}
        await call("POST", "/refunds/", ADA, json=refund_request)

        print("7. Staff refunds 50.00 of it: POST /refunds/, then POST /refunds/{id}/process/")
        refund = await call("POST", "/refunds/", STAFF, json=refund_request)
        await call("POST", f"/refunds/{refund['id']}/process/", STAFF)

        print("8. A second refund above what is left is refused: 60.00")
        await call("POST", "/refunds/", STAFF, json={**refund_request, "amount": "60.00"})

        print(f"9. Ada reads the payment: GET /{payment['id']}/")
        await call("GET", f"/{payment['id']}/", ADA)

        print(f"10. And its audit log: GET /{payment['id']}/logs/")
        log = await call("GET", f"/{payment['id']}/logs/", ADA)
        for entry in log["data"]:
            change = f" [{entry['previous_status'] or 'new'} -> {entry['new_status']}]"
            print(f"    {entry['log_type']:<18}{change if entry['new_status'] else ''}")


def summary(body: dict[str, Any]) -> str:
    """The fields of an answer worth a line: a record's, a list's or a problem's."""
    kind = body.get("object")
    if kind == "payment_method":
        return f"{body['id']} {body['type']} {body['brand']} {body['last4']}"
    if kind == "payment":
        return (
            f"{body['id']} {body['status']}, amount {money(body['amount'])}, "
            f"captured {money(body['captured_amount'])}, "
            f"refundable {money(body['refundable_amount'])}"
        )
    if kind == "refund":
        return f"{body['id']} {body['status']} {money(body['amount'])}"
    if kind == "list":
        return f"a list of {len(body['data'])}, has_more={body['has_more']}"
    field = f" (field {body['field']})" if body.get("field") else ""
    return f"problem {body['code']}{field}: {body['detail']}"


def money(value: dict[str, str]) -> str:
    """``{"amount": "100.00", "currency": "USD"}`` as ``100.00 USD``."""
    return f"{value['amount']} {value['currency']}"


if __name__ == "__main__":
    main()
