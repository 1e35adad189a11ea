"""``paykit serve``: its refusals in-process, the app it builds, and one real uvicorn run.

The real runs start ``python -m paykit serve`` as a subprocess on 127.0.0.1 only, on a free
port and a SQLite file in the test's folder, with a timeout on every wait.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import attrs
import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request

from paykit import InMemoryStorage, PaymentService, SandboxGateway, SandboxToken
from paykit.api import Principal
from paykit.cli import base_url, is_loopback, main, plan_serve

ROOT: Final = Path(__file__).parents[2]
HOST: Final = "clihost_serve"
"""The host module ``--service`` and ``--authenticator`` name in these tests."""
PREFIX: Final = "/api/v1/payments"
STARTUP_SECONDS: Final = 30.0
"""How long the subprocess may take to answer (imports, migrations, a busy machine)."""

Capture = pytest.CaptureFixture[str]


@attrs.frozen
class Run:
    """One in-process run of the command: exit code, stdout, stderr."""

    code: int
    out: str
    err: str


def run(capsys: Capture, *args: str) -> Run:
    """``paykit serve *args`` in-process (only for runs that stop before uvicorn starts)."""
    code = main(["serve", *args])
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def _host_authenticate(request: Request) -> Principal | None:
    """The host's authenticator: one bearer token."""
    if request.headers.get("authorization") == "Bearer tok-host":
        return Principal(customer_id="cus_host", name="host")
    return None


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Run in an empty directory, without ``PAYKIT_SERVICE``, and forget the host module."""
    monkeypatch.delenv("PAYKIT_SERVICE", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [*sys.path])
    yield
    sys.modules.pop(HOST, None)


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> PaymentService:
    """A host module with a service (in memory, the sandbox) and an authenticator."""
    service = PaymentService(InMemoryStorage(), {"credit_card": SandboxGateway()})
    module = types.ModuleType(HOST)
    module.service = service  # type: ignore[attr-defined]
    module.authenticate = _host_authenticate  # type: ignore[attr-defined]
    module.answer = 42  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, HOST, module)
    return service


def _statuses(app: FastAPI, *requests: tuple[str, str, dict[str, str]]) -> list[int]:
    """The status codes of ``(method, path, headers)`` requests sent to ``app`` in process."""

    async def send() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [
                (await client.request(method, path, headers=headers)).status_code
                for method, path, headers in requests
            ]

    return asyncio.run(send())


# --- refusals ----------------------------------------------------------------------------------


def test_serving_without_an_authenticator_is_refused(capsys: Capture) -> None:
    """With neither --authenticator nor --demo the command exits 2 and says what to pass."""
    result = run(capsys)

    assert result.code == 2
    assert result.out == ""
    assert result.err.startswith("paykit: error: the API needs to know who is calling")
    assert "--authenticator MODULE:ATTRIBUTE" in result.err
    assert "--demo" in result.err
    assert not Path("paykit.db").exists()  # refused before any database was touched


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "192.168.1.20", "localhost"])  # noqa: S104 - refused
def test_demo_mode_is_refused_off_loopback(capsys: Capture, address: str) -> None:
    """``--demo`` lets everyone in, so any host but a loopback address is refused."""
    result = run(capsys, "--demo", "--host", address)

    assert result.code == 2
    assert f"listens only on a loopback address (127.0.0.0/8 or ::1), not {address!r}" in (
        result.err
    )
    assert "--authenticator MODULE:ATTRIBUTE" in result.err


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("0.0.0.0", False),  # noqa: S104 - every interface: what --demo must refuse
        ("::", False),
        ("10.0.0.1", False),
        ("localhost", False),  # a name could resolve anywhere
        ("", False),
    ],
)
def test_only_loopback_addresses_count_as_loopback(address: str, *, loopback: bool) -> None:
    """127.0.0.0/8 and ::1 are loopback; other addresses and every name are not."""
    assert is_loopback(address) is loopback


def test_demo_mode_is_refused_for_a_hosts_service(capsys: Capture, host: PaymentService) -> None:
    """A host's own service needs its own authenticator, never the demo one."""
    del host
    result = run(capsys, "--demo", "--service", f"{HOST}:service")

    assert result.code == 2
    assert "--demo serves only the built-in demo service" in result.err


def test_demo_mode_is_refused_when_the_environment_names_a_service(
    capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``$PAYKIT_SERVICE`` counts as ``--service``: the demo authenticator stays off it."""
    monkeypatch.setenv("PAYKIT_SERVICE", f"{HOST}:service")

    result = run(capsys, "--demo")

    assert result.code == 2
    assert "with --service (or $PAYKIT_SERVICE) pass --authenticator" in result.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--demo", "--authenticator", f"{HOST}:authenticate"],
            "give --authenticator MODULE:ATTRIBUTE or --demo, not both",
        ),
        (
            [
                *("--service", f"{HOST}:service"),
                *("--authenticator", f"{HOST}:authenticate"),
                *("--database", "sqlite:///other.db"),
            ],
            "--database is for the built-in service; your --service brings its own storage",
        ),
        (["--authenticator", f"{HOST}:answer"], f"{HOST}:answer is a int, not a callable"),
        (["--authenticator", f"{HOST}:nowhere"], f"module '{HOST}' has no attribute 'nowhere'"),
        (["--authenticator", HOST], "is not module:attribute, e.g. myapp.auth:authenticate"),
        (
            ["--authenticator", f"{HOST}:authenticate", "--service", f"{HOST}:answer"],
            f"--service: {HOST}:answer is a int, not a PaymentService",
        ),
        (
            ["--demo", "--database", "sqlite://"],
            "--database sqlite://: ValueError: an in-memory SQLite database is private",
        ),
    ],
    ids=[
        "authenticator-and-demo",
        "database-with-service",
        "authenticator-not-callable",
        "authenticator-missing",
        "authenticator-not-a-spec",
        "service-not-a-service",
        "in-memory-sqlite",
    ],
)
def test_bad_options_exit_2_with_one_line_saying_what_to_fix(
    capsys: Capture, host: PaymentService, args: list[str], message: str
) -> None:
    """Each configuration mistake is exit code 2 and one line on stderr, before serving."""
    del host
    result = run(capsys, *args)

    assert result.code == 2
    assert result.out == ""
    assert message in result.err
    assert result.err.count("\n") == 1


@pytest.mark.parametrize("port", ["0", "65536", "http", "-1"])
def test_a_port_outside_1_to_65535_is_refused(capsys: Capture, port: str) -> None:
    """A port outside TCP's range is refused with exit code 2."""
    result = run(capsys, "--demo", "--port", port)

    assert result.code == 2
    assert "is not a port number from 1 to 65535" in result.err


def test_a_missing_api_extra_names_the_install_command(
    capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without uvicorn the command says which extra to install, in one line."""
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # None in sys.modules: "not installed"

    result = run(capsys, "--demo")

    assert result.code == 2
    assert result.err == (
        "paykit: error: paykit serve needs the api extra (uvicorn is not installed): "
        "pip install 'paykit[api]'\n"
    )


def test_the_command_line_does_not_import_the_api_extra() -> None:
    """``paykit reconcile`` works without FastAPI and uvicorn: the CLI imports neither."""
    code = (
        "import sys, paykit.cli\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'fastapi', 'starlette', 'uvicorn'}))"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )

    assert done.stdout == "[]\n"


# --- the app it builds ---------------------------------------------------------------------------


def test_a_hosts_service_is_served_with_the_hosts_authenticator(host: PaymentService) -> None:
    """``--service`` and ``--authenticator`` are wired in: no token is 401, the token is 200."""
    card = host.add_payment_method("cus_host", type="credit_card", token=SandboxToken.SUCCESS)
    plan = plan_serve(service=f"{HOST}:service", authenticator=f"{HOST}:authenticate", port=8123)

    statuses = _statuses(
        plan.app,
        ("GET", f"{PREFIX}/methods/", {}),
        ("GET", f"{PREFIX}/methods/{card.id}/", {"Authorization": "Bearer tok-host"}),
        ("GET", f"{PREFIX}/methods/{card.id}/", {"Authorization": "Bearer tok-other"}),
    )

    assert statuses == [401, 200, 401]
    assert (plan.host, plan.port) == ("127.0.0.1", 8123)
    assert plan.banner == (
        f"paykit API: http://127.0.0.1:8123{PREFIX}/ (storage: the service {HOST}:service)",
        "OpenAPI page: http://127.0.0.1:8123/docs",
    )
    plan.close()  # nothing to close: the host's service is the host's


def test_the_builtin_service_is_a_migrated_sqlite_file(tmp_path: Path) -> None:
    """Without ``--service`` the app runs on the ``--database`` file, migrated on start."""
    database = tmp_path / "built-in.db"
    plan = plan_serve(demo=True, host="::1", database=f"sqlite:///{database}")
    try:
        statuses = _statuses(plan.app, ("GET", f"{PREFIX}/", {}), ("GET", "/docs", {}))
    finally:
        plan.close()

    assert statuses == [200, 200]
    assert database.exists()
    assert plan.banner[1] == "OpenAPI page: http://[::1]:8000/docs"
    assert plan.banner[2].startswith("demo mode (insecure): every caller is customer cus_demo")


def test_urls_put_ipv6_addresses_in_brackets() -> None:
    """The printed URL of an IPv6 host is one a browser opens."""
    assert base_url("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert base_url("::1", 8000) == "http://[::1]:8000"


# --- real runs ---------------------------------------------------------------------------------


def _free_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 (the OS's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _environment() -> dict[str, str]:
    """The subprocess's environment: paykit from this checkout, no host service."""
    env = {name: value for name, value in os.environ.items() if name != "PAYKIT_SERVICE"}
    env["PYTHONPATH"] = str(ROOT / "src")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _wait_until_up(client: httpx.Client, server: subprocess.Popen[bytes], log: Path) -> None:
    """Poll the OpenAPI document until the server answers, or fail with its stderr."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"paykit serve exited with {server.returncode}:\n{log.read_text()}")
        try:
            if client.get("/openapi.json").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"paykit serve did not answer within {STARTUP_SECONDS} s:\n{log.read_text()}")


def _stop(server: subprocess.Popen[bytes]) -> int:
    """SIGTERM (uvicorn's graceful stop), then SIGKILL if it hangs; the exit code."""
    if server.poll() is None:
        server.terminate()
    try:
        return server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=5)
        raise


def test_a_real_server_answers_an_authenticated_round_trip(tmp_path: Path) -> None:
    """``python -m paykit serve --demo`` on a free loopback port creates and processes a payment."""
    port = _free_port()
    database = tmp_path / "served.db"
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    command = ["-m", "paykit", "serve", "--demo", "--port", str(port)]
    command += ["--database", f"sqlite:///{database}"]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-W", "error", *command],
            cwd=tmp_path,
            env=_environment(),
            stdout=stdout,
            stderr=stderr,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10, trust_env=False) as client:
            _wait_until_up(client, server, err)
            method = client.post(
                f"{PREFIX}/methods/", json={"type": "credit_card", "token": SandboxToken.SUCCESS}
            )
            assert method.status_code == 201, method.text
            created = client.post(
                f"{PREFIX}/",
                json={
                    "order_id": "ord_1",
                    "payment_method_id": method.json()["id"],
                    "amount": "25.00",
                    "currency": "USD",
                },
                headers={"Idempotency-Key": "checkout-ord_1"},
            )
            assert created.status_code == 201, created.text
            processed = client.post(f"{PREFIX}/{created.json()['id']}/process/")
            assert processed.status_code == 200, processed.text
            docs = client.get("/docs")
    finally:
        code = _stop(server)

    assert processed.json()["customer_id"] == "cus_demo"
    assert processed.json()["status"] == "completed"
    assert processed.json()["captured_amount"] == {"amount": "25.00", "currency": "USD"}
    assert docs.status_code == 200
    assert code == 0, err.read_text()
    assert database.exists()
    printed = out.read_text()
    assert f"paykit API: {base}{PREFIX}/ (storage: sqlite:///{database})" in printed
    assert f"OpenAPI page: {base}/docs" in printed


def test_a_taken_port_is_exit_code_1(tmp_path: Path) -> None:
    """When uvicorn cannot bind the port the command says so and exits 1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = ["-m", "paykit", "serve", "--demo", "--port", str(port)]
        done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, *command, "--database", f"sqlite:///{tmp_path / 'taken.db'}"],
            cwd=tmp_path,
            env=_environment(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert done.returncode == 1
    assert f"paykit: error: the server did not start on http://127.0.0.1:{port}" in done.stderr
