"""What does the REST API add to the work it asks the service to do?

The work is the original app's checkout and refund: ``POST /`` (create a payment),
``POST /{id}/process/`` (charge it through the sandbox) and ``POST /refunds/`` as staff
(ask for a refund of part of it) -- three requests. It runs six ways, each on a SQLite file
of its own (WAL, paykit's default) with the sandbox gateway:

- **direct**: the same three calls on ``PaymentService``, no HTTP;
- **direct, in the thread pool**: the same calls, each sent to anyio's worker threads, as
  FastAPI runs the API's (synchronous) endpoints: what the thread hop alone costs;
- **API, bare ASGI**: the requests as ASGI messages straight to the app: routing, the
  authenticator, the body limit, the scoping reads, pydantic parsing and serialisation and
  the thread hop, with no client library;
- **API, httpx**: the same through ``httpx.ASGITransport``, in process (the issue's figure;
  it adds httpx's request and response objects);
- **API, httpx + Idempotency-Key**: a fresh key on every ``POST``, which claims the key and
  stores the answer: two more write transactions (two more commits, each a sync of the WAL)
  per request. The direct calls have no such step (the service's own ``idempotency_key``
  is another, cheaper thing), so this way is not the issue's figure: it shows what the keys
  cost;
- **API, httpx, scoping read skipped**: the ``httpx`` way with ``visible_payment`` (the read
  that checks the payment of ``POST /{id}/process/`` is the caller's) replaced by nothing, as
  a ``customer_id=`` guard checked inside the service's own unit of work would make it: an
  estimate of what that service hook would save (not safe to run: it checks nothing);
- **bare FastAPI + httpx, no work**: the same three routes in a FastAPI app without paykit,
  each answering a fixed body: what the framework and the client cost before any work, so
  the figure the API adds above it is paykit's own.

The API answers ``POST /refunds/`` for staff under the default refund policy without a
scoping read (staff may refund any payment; the service's own read answers 404), and
``POST /`` relies on the service's own check that the method is the customer's, so the only
scoping read left in this work is the one of ``POST /{id}/process/``.

Rounds alternate between the ways, each round starting one way further on, so that noise
from other processes and from the way run just before lands on all of them;
the figures are each one's best round. The ratio is a way's time over the direct calls' time
for the same work (the issue's target for the API: at most 1.30). SQL statements per request
are counted with SQLAlchemy's ``before_cursor_execute`` event (``BEGIN``/``COMMIT``
included), commits among them. The last lines split the API's time into what is out of
paykit's reach -- the framework's floor, the service's own work (the direct calls) and the
thread hop FastAPI makes to run a synchronous endpoint (``threads`` minus ``direct``) --,
the scoping read and the rest of paykit's layer. Run::

    python bench/api.py [--requests N] [--rounds R]

``--requests`` is per round and per way, rounded down to whole checkouts (3 requests each).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from itertools import count
from pathlib import Path
from typing import Any, Final, NamedTuple
from unittest import mock

import anyio.to_thread
import httpx
from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import event
from starlette.requests import Request
from starlette.types import ASGIApp

from paykit import Payment, PaymentService, SandboxGateway, SandboxToken
from paykit.api import Principal, _endpoints, create_app
from paykit.storage.sql import SqlStorage

PREFIX: Final = "/api/v1/payments"
REQUESTS_PER_CHECKOUT: Final = 3  # create, process, refund
CUSTOMER: Final = "cus_bench"
PRINCIPALS: Final = {
    "Bearer tok_customer": Principal(customer_id=CUSTOMER, name="customer"),
    "Bearer tok_staff": Principal(is_staff=True, name="staff"),
}
CUSTOMER_HEADERS: Final = {"Authorization": "Bearer tok_customer"}
STAFF_HEADERS: Final = {"Authorization": "Bearer tok_staff"}


async def authenticate(request: Request) -> Principal | None:
    """A token table: the cheapest authenticator a host could have.

    ``async def``, as docs/rest-api.md advises for an authenticator that does not block: a
    plain function is sent to the thread pool, one more hop per request.
    """
    return PRINCIPALS.get(request.headers.get("authorization", ""))


class Setup:
    """One way's storage (its own SQLite file), service, saved card and statement count."""

    def __init__(self, folder: Path, name: str) -> None:
        self.storage = SqlStorage(f"sqlite:///{folder / f'{name}.db'}")
        self.storage.upgrade()
        self.service = PaymentService(self.storage, {"credit_card": SandboxGateway()})
        card = self.service.add_payment_method(
            CUSTOMER, type="credit_card", token=SandboxToken.SUCCESS
        )
        self.card_id = card.id
        self.statements = 0
        self.commits = 0
        self._in_transaction = False
        event.listen(self.storage.engine, "before_cursor_execute", self._count)

    def _count(self, *args: Any) -> None:  # noqa: ANN401 - SQLAlchemy's event signature
        """Count a statement, and a commit: a ``COMMIT``, or a write outside ``BEGIN``.

        paykit's SQL storage runs a unit of work of one single-row write without
        ``BEGIN``/``COMMIT`` (the statement commits itself), so those count as commits too.
        The bench sends one request at a time, so one flag follows the open transaction.
        """
        verb = args[2].lstrip()[:8].upper()
        self.statements += 1
        if verb.startswith("BEGIN"):
            self._in_transaction = True
        elif verb.startswith(("COMMIT", "ROLLBACK")):
            self._in_transaction = False
            self.commits += verb.startswith("COMMIT")
        elif not self._in_transaction and verb.startswith(("INSERT", "UPDATE", "DELETE")):
            self.commits += 1


Checkouts = Callable[[int, str], Awaitable[None]]
"""Run ``n`` checkouts whose order ids start with the tag."""
Post = Callable[[str, dict[str, str], dict[str, str] | None], Awaitable[tuple[int, bytes]]]
"""Send one ``POST`` (path under the prefix, headers, JSON body); its status and body."""


class Order(BaseModel):
    """The floor's ``POST /`` body: the API's fields, plain strings."""

    order_id: str
    payment_method_id: str
    amount: str
    currency: str


class RefundAsk(BaseModel):
    """The floor's ``POST /refunds/`` body."""

    payment_id: str
    amount: str


def floor_app() -> FastAPI:
    """The same three routes in bare FastAPI, answering a fixed body: the framework's floor.

    No paykit at all, so its time is what FastAPI and httpx cost per request before any
    work is done; the API's own overhead is what it adds above this.
    """
    app = FastAPI()
    answer = {"id": "pay_floor", "status": "completed", "amount": "100.00", "currency": "USD"}

    @app.post(f"{PREFIX}/", status_code=201)
    async def create(order: Order) -> dict[str, str]:
        del order
        return answer

    @app.post(f"{PREFIX}/{{payment_id}}/process/")
    async def process(payment_id: str) -> dict[str, str]:
        del payment_id
        return answer

    @app.post(f"{PREFIX}/refunds/", status_code=201)
    async def refund(ask: RefundAsk) -> dict[str, str]:
        del ask
        return answer

    return app


def direct_checkouts(setup: Setup, *, in_threads: bool) -> Checkouts:
    """The three calls on the service, in this thread or each in the thread pool."""
    service = setup.service

    async def call(function: Callable[..., Any], *args: Any) -> Any:  # noqa: ANN401 - passthrough
        if in_threads:  # what FastAPI does with a synchronous endpoint
            return await anyio.to_thread.run_sync(function, *args)
        return function(*args)

    def create(order_id: str) -> Payment:
        return service.create_payment(
            customer_id=CUSTOMER,
            order_id=order_id,
            payment_method_id=setup.card_id,
            amount="100.00",
            currency="USD",
        )

    async def run(n: int, tag: str) -> None:
        for number in range(n):
            payment = await call(create, f"ord_{tag}_{number}")
            await call(service.process_payment, payment.id)
            await call(service.create_refund, payment.id, "30.00")

    return run


def httpx_post(client: httpx.AsyncClient) -> Post:
    """``POST`` through ``httpx.ASGITransport``."""

    async def post(path: str, headers: dict[str, str], body: dict[str, str] | None) -> Any:  # noqa: ANN401 - the pair
        answer = await client.post(PREFIX + path, headers=headers, json=body)
        return answer.status_code, answer.content

    return post


def asgi_post(app: ASGIApp) -> Post:
    """``POST`` as bare ASGI messages: the app's cost without any client library's."""

    async def post(path: str, headers: dict[str, str], body: dict[str, str] | None) -> Any:  # noqa: ANN401 - the pair
        raw = b"" if body is None else json.dumps(body).encode()
        fields = [(b"host", b"bench"), (b"content-length", str(len(raw)).encode())]
        if body is not None:
            fields.append((b"content-type", b"application/json"))
        fields += [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": PREFIX + path,
            "raw_path": (PREFIX + path).encode(),
            "root_path": "",
            "query_string": b"",
            "headers": fields,
            "client": ("127.0.0.1", 50000),
            "server": ("bench", 80),
        }
        done = asyncio.Event()
        answer: dict[str, Any] = {"status": 0, "body": []}
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": raw, "more_body": False}
            await done.wait()  # as a server does: the client leaves after the answer
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body":
                answer["body"].append(message.get("body", b""))
                if not message.get("more_body", False):
                    done.set()

        await app(scope, receive, send)
        return answer["status"], b"".join(answer["body"])

    return post


def api_checkouts(post: Post, setup: Setup, *, with_keys: bool) -> Checkouts:
    """The three requests, each checked for its status code."""
    keys = count()

    async def send(path: str, base: dict[str, str], body: dict[str, str] | None) -> Any:  # noqa: ANN401 - JSON
        headers = {**base, "Idempotency-Key": f"key-{next(keys)}"} if with_keys else base
        status, content = await post(path, headers, body)
        if status not in {200, 201}:
            msg = f"POST {path} answered {status}: {content.decode()}"
            raise RuntimeError(msg)
        return json.loads(content)

    async def run(n: int, tag: str) -> None:
        for number in range(n):
            order = {
                "order_id": f"ord_{tag}_{number}",
                "payment_method_id": setup.card_id,
                "amount": "100.00",
                "currency": "USD",
            }
            payment = await send("/", CUSTOMER_HEADERS, order)
            await send(f"/{payment['id']}/process/", CUSTOMER_HEADERS, None)
            await send("/refunds/", STAFF_HEADERS, {"payment_id": payment["id"], "amount": "30.00"})

    return run


def without_scoping_read(run: Checkouts) -> Checkouts:
    """``run`` with the API's payment scoping read replaced by nothing, for its duration.

    What a ``customer_id=`` guard inside the service's unit of work would save: the check
    would cost a comparison on the payment the service reads anyway. Only for measuring --
    with the read gone, nothing checks the payment is the caller's.
    """

    async def unscoped(n: int, tag: str) -> None:
        with mock.patch.object(_endpoints, "visible_payment", return_value=None):
            await run(n, tag)

    return unscoped


class Figures(NamedTuple):
    """One way's best rate and its SQL per request."""

    rate: float
    statements: float
    commits: float


WAYS: Final = {
    "direct": "PaymentService, direct calls",
    "threads": "direct, each in the thread pool",
    "asgi": "API, bare ASGI messages",
    "httpx": "API, httpx.ASGITransport",
    "keys": "API, httpx + Idempotency-Key",
    "unscoped": "API, httpx, scoping read skipped",
    "floor": "bare FastAPI + httpx, no work",
}


async def measure(checkouts: int, rounds: int, folder: Path) -> dict[str, Figures]:
    """Best requests/s, statements and commits per request of each way, interleaved rounds."""
    setups = {name: Setup(folder, name) for name in WAYS}
    apps = {
        name: create_app(setups[name].service, authenticate=authenticate)
        for name in ("asgi", "httpx", "keys", "unscoped")
    }
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
        for app in (apps["httpx"], apps["keys"], apps["unscoped"], floor_app())
    ]
    ways: dict[str, Checkouts] = {
        "direct": direct_checkouts(setups["direct"], in_threads=False),
        "threads": direct_checkouts(setups["threads"], in_threads=True),
        "asgi": api_checkouts(asgi_post(apps["asgi"]), setups["asgi"], with_keys=False),
        "httpx": api_checkouts(httpx_post(clients[0]), setups["httpx"], with_keys=False),
        "keys": api_checkouts(httpx_post(clients[1]), setups["keys"], with_keys=True),
        "unscoped": without_scoping_read(
            api_checkouts(httpx_post(clients[2]), setups["unscoped"], with_keys=False)
        ),
        "floor": api_checkouts(httpx_post(clients[3]), setups["floor"], with_keys=False),
    }
    best = dict.fromkeys(ways, float("inf"))
    statements = dict.fromkeys(ways, 0.0)
    commits = dict.fromkeys(ways, 0.0)
    try:
        for name, run in ways.items():  # imports, statement caches, the thread pool
            await run(20, f"warm_{name}")
        names = list(ways)
        for number in range(rounds):
            # Each round starts one way further on: a way's time depends on which ran
            # before it (by up to 0.5x of the direct time, seen on a shared machine),
            # and rotating lets no way always follow the same one.
            shift = number % len(names)
            for name in names[shift:] + names[:shift]:
                run = ways[name]
                setups[name].statements = setups[name].commits = 0
                start = time.perf_counter()
                await run(checkouts, f"r{number}")
                best[name] = min(best[name], time.perf_counter() - start)
                statements[name] = setups[name].statements / checkouts / REQUESTS_PER_CHECKOUT
                commits[name] = setups[name].commits / checkouts / REQUESTS_PER_CHECKOUT
    finally:
        for client in clients:
            await client.aclose()
        for setup in setups.values():
            setup.storage.dispose()
    requests = checkouts * REQUESTS_PER_CHECKOUT
    return {name: Figures(requests / best[name], statements[name], commits[name]) for name in ways}


def print_decomposition(per_request: dict[str, float]) -> None:
    """The API's time (httpx) in parts, each as a multiple of the direct calls' time."""
    direct = per_request["direct"]
    floor = per_request["floor"]  # FastAPI + httpx answering a fixed body
    hop = per_request["threads"] - direct  # one trip to the thread pool per request
    scoping = per_request["httpx"] - per_request["unscoped"]  # the read left: POST /process/
    keys = per_request["keys"] - per_request["httpx"]
    rest = per_request["httpx"] - direct - floor - hop - scoping
    parts = {
        "the service's own work (direct calls)": direct,
        "the framework floor (FastAPI + httpx)": floor,
        "the thread hop to the sync service": hop,
        "paykit's scoping read": scoping,
        "the rest of paykit's layer": rest,
    }
    print(f"API over httpx = {per_request['httpx'] / direct:.2f}x the direct time:")
    for part, seconds in parts.items():
        print(f"  {part:<40} {seconds / direct:5.2f}x  {seconds * 1e6:6,.0f} us/request")
    lowest = (direct + floor + hop) / direct
    print(
        f"out of paykit's reach (work + floor + hop): {lowest:.2f}x; without the scoping "
        f"read (a service-side guard): {per_request['unscoped'] / direct:.2f}x; "
        f"Idempotency-Key adds {keys / direct:.2f}x"
    )


def main() -> None:
    """Measure each way and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=300, help="per round and way")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    checkouts = max(1, args.requests // REQUESTS_PER_CHECKOUT)
    print(
        f"POST / + POST /{{id}}/process/ + POST /refunds/ on SQLite (file, WAL): "
        f"{checkouts * REQUESTS_PER_CHECKOUT} requests per round, best of {args.rounds} "
        "interleaved rounds"
    )
    with tempfile.TemporaryDirectory() as folder:
        figures = asyncio.run(measure(checkouts, args.rounds, Path(folder)))
    direct_rate = figures["direct"].rate
    for name, (rate, statements, commits) in figures.items():
        versus = "" if name == "direct" else f"  {direct_rate / rate:5.2f}x the direct time"
        print(
            f"{WAYS[name]:<34} {rate:>6,.0f} requests/s {1e6 / rate:>7,.0f} us/request "
            f"{statements:5.1f} statements {commits:4.2f} commits/request{versus}"
        )
    print_decomposition({name: 1 / figures[name].rate for name in figures})
    print("target: the API at most 1.30x the direct calls' time")


if __name__ == "__main__":
    main()
