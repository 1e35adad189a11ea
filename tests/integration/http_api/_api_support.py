"""What the REST API tests share: the callers' tokens, a sync client, and shortcuts."""

from __future__ import annotations

from typing import Any, Final

import httpx
from anyio.from_thread import BlockingPortal
from starlette.requests import Request

from paykit import SandboxToken
from paykit.api import Principal

PREFIX: Final = "/api/v1/payments"
TOKENS: Final = {
    "tok-ada": Principal(customer_id="cus_ada", name="ada"),
    "tok-bob": Principal(customer_id="cus_bob", name="bob"),
    "tok-staff": Principal(is_staff=True, name="alice"),
}


def bearer_tokens(request: Request) -> Principal | None:
    """The tests' authenticator: a fixed table of bearer tokens."""
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    return TOKENS.get(token)


class Client:
    """A synchronous face on an ``httpx.AsyncClient`` bound to the app, for one caller."""

    def __init__(
        self, portal: BlockingPortal, client: httpx.AsyncClient, token: str | None
    ) -> None:
        self._portal = portal
        self._client = client
        self._headers = {} if token is None else {"Authorization": f"Bearer {token}"}

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        """Send one request to ``PREFIX + path`` and wait for the answer."""
        headers = {**self._headers, **options.pop("headers", {})}
        return self._portal.call(
            lambda: self._client.request(method, PREFIX + path, headers=headers, **options)
        )

    def get(self, path: str, **options: Any) -> httpx.Response:
        """``GET``."""
        return self.request("GET", path, **options)

    def post(self, path: str, **options: Any) -> httpx.Response:
        """``POST``."""
        return self.request("POST", path, **options)


def add_card(client: Client, token: str = SandboxToken.SUCCESS) -> dict[str, Any]:
    """Save a sandbox card for the client's customer; the method's JSON."""
    answer = client.post("/methods/", json={"type": "credit_card", "token": token})
    assert answer.status_code == 201, answer.text
    method: dict[str, Any] = answer.json()
    return method


def paid(
    client: Client, amount: str = "100.00", token: str = SandboxToken.SUCCESS
) -> dict[str, Any]:
    """A completed payment of ``amount`` USD for the client's customer; its JSON."""
    method = add_card(client, token)
    created = client.post(
        "/",
        json={
            "order_id": "ord_1",
            "payment_method_id": method["id"],
            "amount": amount,
            "currency": "USD",
        },
    )
    assert created.status_code == 201, created.text
    processed = client.post(f"/{created.json()['id']}/process/")
    assert processed.status_code == 200, processed.text
    payment: dict[str, Any] = processed.json()
    return payment
