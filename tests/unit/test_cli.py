"""``paykit reconcile``: a real service, the sandbox and the in-memory store, run in-process.

The host's service is reached the way an operator reaches it, through ``--service
module:attribute``: a module registered under :data:`HOST`, files in the current directory,
and one real ``python -m paykit`` run with ``PYTHONPATH``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import tomllib
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from paykit import (
    ConcurrencyConflict,
    InMemoryStorage,
    Payment,
    PaymentService,
    ReconcileReport,
    SandboxGateway,
    SandboxToken,
    SweepCounts,
)
from paykit.cli import format_duration, main, parse_duration, report_json, report_table
from paykit.gateways.base import GatewayResult, PaymentLookup, RefundLookup
from paykit.service import DEFAULT_POLICY, ReconcilePolicy

ROOT = Path(__file__).parents[2]
HOST = "clihost_app"
"""The host module ``--service`` names in these tests; every such module starts ``clihost_``."""

Capture = pytest.CaptureFixture[str]


class Clock:
    """A clock the test moves, so records can be "older than" without waiting."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)  # the sandbox signs webhooks with the real time

    def __call__(self) -> datetime:
        """The current (test) time."""
        return self.now

    def advance(self, delta: timedelta) -> None:
        """Let ``delta`` pass."""
        self.now += delta


class FlakySandbox(SandboxGateway):
    """The sandbox, except that looking a payment or refund up raises while ``down``."""

    down = False

    def retrieve_payment(self, lookup: PaymentLookup) -> GatewayResult:
        """The sandbox's answer, or ``ConnectionError`` while ``down``."""
        if self.down:
            raise ConnectionError("sandbox unreachable")
        return super().retrieve_payment(lookup)

    def retrieve_refund(self, lookup: RefundLookup) -> GatewayResult:
        """The sandbox's answer, or ``ConnectionError`` while ``down``."""
        if self.down:
            raise ConnectionError("sandbox unreachable")
        return super().retrieve_refund(lookup)


@attrs.define
class Host:
    """The application whose service the command sweeps."""

    service: PaymentService
    gateway: FlakySandbox
    clock: Clock
    orders: int = 0

    def pay(self, token: str) -> Payment:
        """Create and process a payment with a sandbox card whose token picks the outcome."""
        self.orders += 1
        card = self.service.add_payment_method("cus_1", type="credit_card", token=token)
        payment = self.service.create_payment(
            customer_id="cus_1",
            order_id=f"ord_{self.orders}",
            payment_method_id=card.id,
            amount="10.00",
            currency="USD",
        )
        return self.service.process_payment(payment.id)

    def stuck(self) -> list[Payment]:
        """Three charges whose answers were lost, one 3-D Secure left waiting, one refund.

        Then 20 minutes pass, so all of them are older than the default 15 minutes.
        """
        payments = [self.pay(SandboxToken.TIMEOUT) for _ in range(3)]
        payments.append(self.pay(SandboxToken.THREE_D_SECURE))
        refunded = self.pay(SandboxToken.REFUND_TIMEOUT)
        refund = self.service.create_refund(refunded.id, "4.00")
        assert self.service.process_refund(refund.id).status == "processing"
        assert [p.status for p in payments] == ["processing"] * 3 + ["requires_action"]
        self.clock.advance(timedelta(minutes=20))
        return payments


@attrs.frozen
class Run:
    """One run of the command: exit code, stdout, stderr."""

    code: int
    out: str
    err: str


def _not_a_factory() -> str:
    return "not a service"


def _failing_factory() -> PaymentService:
    raise RuntimeError("DATABASE_URL is not set")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Run in an empty directory, restore ``sys.path`` and forget the host modules."""
    monkeypatch.delenv("PAYKIT_SERVICE", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [*sys.path])
    yield
    for name in [name for name in sys.modules if name.startswith("clihost_")]:
        del sys.modules[name]


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> Host:
    """A real service registered as module :data:`HOST` with a few attributes to point at."""
    clock = Clock()
    gateway = FlakySandbox()
    service = PaymentService(InMemoryStorage(), {"credit_card": gateway}, clock=clock)
    module = types.ModuleType(HOST)
    module.service = service  # type: ignore[attr-defined]
    module.make_service = lambda: service  # type: ignore[attr-defined]
    module.settings = types.SimpleNamespace(payments=service)  # type: ignore[attr-defined]
    module.answer = 42  # type: ignore[attr-defined]
    module.not_a_factory = _not_a_factory  # type: ignore[attr-defined]
    module.failing_factory = _failing_factory  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, HOST, module)
    return Host(service=service, gateway=gateway, clock=clock)


def run(capsys: Capture, *args: str) -> Run:
    """``paykit *args`` in-process."""
    code = main(list(args))
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def sweep(capsys: Capture, *args: str) -> Run:
    """``paykit reconcile --service <the host's service> *args`` in-process."""
    return run(capsys, "reconcile", "--service", f"{HOST}:service", *args)


class TerminalStderr(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        """Yes, a terminal."""
        return True


# --- the sweep and its report ---------------------------------------------------------------


def _lines(text: str) -> list[str]:
    """The text's lines without the padding rich puts around table cells."""
    return [line.strip() for line in text.splitlines()]


def test_the_table_counts_what_the_sweep_did(host: Host, capsys: Capture) -> None:
    """The table's numbers are the sweep's, and the payments really settled."""
    payments = host.stuck()

    result = sweep(capsys)

    assert result.code == 0
    assert _lines(result.out) == [
        "examined   settled   still unknown   skipped   errors",
        "─" * 66,
        "payments          4         3               1         0        0",
        "refunds           1         1               0         0        0",
        "",
        "webhooks applied:        0",
        "webhooks still waiting:  0",
        "webhooks given up on:    0",
    ]
    statuses = [host.service.get_payment(p.id).status for p in payments]
    assert statuses == ["completed"] * 3 + ["requires_action"]


def test_json_has_stable_keys_and_the_report_values(host: Host, capsys: Capture) -> None:
    """``--json``: one line, exactly these keys, the report's values."""
    host.stuck()

    result = sweep(capsys, "--json")

    assert result.code == 0
    assert result.out.count("\n") == 1  # one line, for logs and monitoring
    assert json.loads(result.out) == {
        "payments": {"examined": 4, "settled": 3, "still_unknown": 1, "skipped": 0, "errors": 0},
        "refunds": {"examined": 1, "settled": 1, "still_unknown": 0, "skipped": 0, "errors": 0},
        "webhooks_applied": 0,
        "webhooks_waiting": 0,
        "webhooks_expired": 0,
        "unsettled": 1,
    }


def test_webhooks_still_waiting_are_reported(host: Host, capsys: Capture) -> None:
    """An event about a payment this service does not know stays waiting; the sweep says so."""
    elsewhere = PaymentService(InMemoryStorage(), {"credit_card": host.gateway})
    card = elsewhere.add_payment_method("cus_2", type="credit_card", token=SandboxToken.SUCCESS)
    foreign = elsewhere.process_payment(
        elsewhere.create_payment(
            customer_id="cus_2",
            order_id="ord_x",
            payment_method_id=card.id,
            amount="5.00",
            currency="USD",
        ).id
    )
    assert foreign.provider_payment_id is not None
    headers, body = host.gateway.webhook_for("payment.succeeded", foreign.provider_payment_id)
    assert host.service.handle_webhook("sandbox", headers, body).outcome == "unmatched"

    result = sweep(capsys, "--json")

    assert result.code == 0
    assert json.loads(result.out)["webhooks_waiting"] == 1
    assert sweep(capsys).out.endswith(
        "webhooks applied:        0\nwebhooks still waiting:  1\nwebhooks given up on:    0\n"
    )

    host.clock.advance(timedelta(days=2))
    assert (
        json.loads(sweep(capsys, "--json", "--give-up-after", "never").out)["webhooks_waiting"] == 1
    )
    given_up = json.loads(sweep(capsys, "--json", "--give-up-after", "1d").out)
    assert (given_up["webhooks_waiting"], given_up["webhooks_expired"]) == (0, 1)


def test_each_column_shows_its_own_number() -> None:
    """Distinct numbers in every cell: no column or row is swapped."""
    report = ReconcileReport(
        payments=SweepCounts(examined=11, settled=2, still_unknown=3, skipped=4, errors=5),
        refunds=SweepCounts(examined=6, settled=7, still_unknown=8, skipped=9, errors=1234),
        webhooks_applied=12,
        webhooks_waiting=13,
        webhooks_expired=14,
    )

    assert _lines(report_table(report)) == [
        "examined   settled   still unknown   skipped   errors",
        "─" * 66,
        "payments         11         2               3         4        5",
        "refunds           6         7               8         9     1234",
        "",
        "webhooks applied:        12",
        "webhooks still waiting:  13",
        "webhooks given up on:    14",
    ]
    document = json.loads(report_json(report))
    assert document["payments"] == {
        "examined": 11,
        "settled": 2,
        "still_unknown": 3,
        "skipped": 4,
        "errors": 5,
    }
    assert document["refunds"]["errors"] == 1234
    assert (
        document["webhooks_applied"],
        document["webhooks_waiting"],
        document["webhooks_expired"],
    ) == (12, 13, 14)
    assert document["unsettled"] == 3 + 5 + 8 + 1234


@pytest.mark.usefixtures("host")
def test_nothing_to_sweep_is_a_clean_run(capsys: Capture) -> None:
    """Nothing waiting: exit 0, zeros, and no progress bar."""
    result = sweep(capsys, "--json", "--progress")

    assert result.code == 0
    assert result.err == ""  # no bar for an empty sweep
    counts = json.loads(result.out)
    assert counts["payments"]["examined"] == counts["refunds"]["examined"] == 0


# --- exit codes -----------------------------------------------------------------------------


def test_still_unknown_records_exit_0(host: Host, capsys: Capture) -> None:
    """Unknown is not a failure: the record is asked again by a later sweep."""
    host.pay(SandboxToken.THREE_D_SECURE)
    host.clock.advance(timedelta(hours=1))

    result = sweep(capsys, "--json")

    assert result.code == 0
    assert json.loads(result.out)["payments"]["still_unknown"] == 1


def test_an_error_exits_1_and_a_later_sweep_settles_it(host: Host, capsys: Capture) -> None:
    """A lookup that raised: exit 1, counted as errors; the record is asked again later."""
    payments = host.stuck()
    host.gateway.down = True

    failed = sweep(capsys, "--json")

    assert failed.code == 1
    document = json.loads(failed.out)
    assert document["payments"]["errors"] == 4
    assert document["refunds"]["errors"] == 1
    assert document["unsettled"] == 5
    assert {host.service.get_payment(p.id).status for p in payments[:3]} == {"processing"}

    host.gateway.down = False
    host.clock.advance(timedelta(hours=7))  # past the longest backoff
    recovered = sweep(capsys, "--json")

    assert recovered.code == 0
    assert json.loads(recovered.out)["payments"]["settled"] == 3
    assert {host.service.get_payment(p.id).status for p in payments[:3]} == {"completed"}


def test_a_record_whose_gateway_is_gone_is_an_error_not_a_stop(
    host: Host, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record whose gateway is not configured any more is counted as an error: exit 1."""
    host.pay(SandboxToken.TIMEOUT)
    host.clock.advance(timedelta(hours=1))
    rerouted = PaymentService(
        host.service.storage, {"credit_card": SandboxGateway(name="other")}, clock=host.clock
    )
    monkeypatch.setattr(sys.modules[HOST], "rerouted", rerouted, raising=False)

    result = run(capsys, "reconcile", f"--service={HOST}:rerouted", "--json")

    assert result.code == 1
    assert json.loads(result.out)["payments"]["errors"] == 1


def test_a_sweep_that_stops_early_exits_1_with_one_line(
    host: Host, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A paykit error out of ``reconcile()`` is one line on stderr; the bar is ended first."""
    host.stuck()

    def lose_every_race(**_: object) -> None:
        raise ConcurrencyConflict("payment pay_x was changed by another unit of work; retry")

    monkeypatch.setattr(host.service, "reconcile", lose_every_race)

    result = run(capsys, "reconcile", f"--service={HOST}:service", "--json", "--progress")

    assert result.code == 1
    assert result.out == ""
    assert result.err.startswith(
        "paykit: error: the sweep stopped early: ConcurrencyConflict: payment pay_x"
    )
    assert result.err.count("\n") == 1


# --- options reach reconcile() --------------------------------------------------------------


def test_every_option_is_passed_to_reconcile(
    host: Host, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each option reaches ``reconcile()`` as its keyword, repeated statuses once each."""
    seen: dict[str, Any] = {}
    real = host.service.reconcile

    def spy(**kwargs: Any) -> ReconcileReport:
        seen.update(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(host.service, "reconcile", spy)

    result = sweep(
        capsys,
        "--older-than=90s",
        "--limit=7",
        "--status=authorized",
        "--status=processing",
        "--status=authorized",
        "--lease=2m",
        "--backoff=1h30m",
        "--max-backoff=1d",
    )

    assert result.code == 0
    assert seen["older_than"] == timedelta(seconds=90)
    assert seen["limit"] == 7
    assert tuple(seen["statuses"]) == ("authorized", "processing")
    assert seen["lease"] == timedelta(minutes=2)
    assert seen["backoff"] == timedelta(hours=1, minutes=30)
    assert seen["max_backoff"] == timedelta(days=1)
    assert seen["progress"] is None  # stderr is not a terminal under capsys


def test_the_defaults_are_the_service_defaults(
    host: Host, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without options the command sweeps with ``reconcile()``'s own defaults."""
    seen: dict[str, Any] = {}
    real = host.service.reconcile

    def spy(**kwargs: Any) -> ReconcileReport:
        seen.update(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(host.service, "reconcile", spy)

    assert sweep(capsys).code == 0
    assert seen["older_than"] == timedelta(minutes=15)
    assert seen["limit"] == 1000
    assert tuple(seen["statuses"]) == ("processing", "requires_action")
    assert seen["lease"] == timedelta(minutes=5)
    assert seen["backoff"] == timedelta(minutes=1)
    assert seen["max_backoff"] == timedelta(hours=6)


def test_older_than_leaves_young_records_alone(host: Host, capsys: Capture) -> None:
    """``--older-than`` decides which records are old enough to ask about."""
    young = host.pay(SandboxToken.TIMEOUT)
    host.clock.advance(timedelta(minutes=5))

    default = json.loads(sweep(capsys, "--json").out)
    assert default["payments"]["examined"] == 0
    assert host.service.get_payment(young.id).status == "processing"

    eager = json.loads(sweep(capsys, "--json", "--older-than", "4m").out)
    assert eager["payments"] == {
        "examined": 1,
        "settled": 1,
        "still_unknown": 0,
        "skipped": 0,
        "errors": 0,
    }
    assert host.service.get_payment(young.id).status == "completed"


def test_limit_and_status_narrow_the_sweep(host: Host, capsys: Capture) -> None:
    """``--limit`` caps each kind; ``--status`` picks the payments swept."""
    host.stuck()

    limited = json.loads(sweep(capsys, "--json", "--limit", "2").out)
    assert limited["payments"]["examined"] == 2
    assert limited["refunds"]["examined"] == 1

    only_3ds = json.loads(sweep(capsys, "--json", "--status", "requires_action").out)
    assert only_3ds["payments"] == {
        "examined": 1,
        "settled": 0,
        "still_unknown": 1,
        "skipped": 0,
        "errors": 0,
    }


def test_backoff_schedules_the_next_question(host: Host, capsys: Capture) -> None:
    """A still-unknown record is asked again after ``--backoff``."""
    waiting = host.pay(SandboxToken.THREE_D_SECURE)
    host.clock.advance(timedelta(hours=1))

    assert sweep(capsys, "--backoff", "7m").code == 0

    assert host.service.get_payment(waiting.id).next_reconcile_at == host.clock.now + timedelta(
        minutes=7
    )


# --- progress -------------------------------------------------------------------------------


def test_progress_bar_ends_on_stderr_with_the_sweeps_total(host: Host, capsys: Capture) -> None:
    """``--progress`` off a terminal: rich writes the bar's final state once, on stderr."""
    host.stuck()

    result = sweep(capsys, "--progress", "--json")

    assert "5/5 payments+refunds" in result.err
    assert result.err.count("\n") == 1  # one line for a log, not a redraw per record
    assert json.loads(result.out)["payments"]["examined"] == 4  # stdout stays clean


def test_progress_follows_the_terminal_unless_told(
    host: Host, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By default the bar is drawn only on a terminal; ``--no-progress`` silences it."""
    host.stuck()
    assert sweep(capsys).err == ""  # capsys's stderr is no terminal

    terminal = TerminalStderr()
    monkeypatch.setattr(sys, "stderr", terminal)
    host.gateway.down = True  # keeps the records waiting, to be swept again
    host.clock.advance(timedelta(hours=7))
    assert sweep(capsys).code == 1
    assert "\x1b[32m1/1\x1b[0m payments+refunds" in terminal.getvalue()  # the 3DS one, in colour

    quiet = TerminalStderr()
    monkeypatch.setattr(sys, "stderr", quiet)
    host.clock.advance(timedelta(hours=7))
    assert sweep(capsys, "--no-progress").code == 1
    assert quiet.getvalue() == ""


# --- where the service comes from -----------------------------------------------------------


@pytest.mark.parametrize("attribute", ["service", "make_service", "settings.payments"])
def test_service_attribute_or_factory(host: Host, capsys: Capture, attribute: str) -> None:
    """An instance, a zero-argument factory, or a dotted attribute path."""
    host.stuck()

    result = run(capsys, "reconcile", "--service", f"{HOST}:{attribute}", "--json")

    assert result.code == 0
    assert json.loads(result.out)["payments"]["settled"] == 3


def test_service_from_the_environment(
    host: Host, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``PAYKIT_SERVICE`` stands in for ``--service``; ``--service`` wins."""
    host.stuck()
    monkeypatch.setenv("PAYKIT_SERVICE", f"{HOST}:service")

    from_env = run(capsys, "reconcile", "--json")
    assert from_env.code == 0
    assert json.loads(from_env.out)["payments"]["settled"] == 3

    monkeypatch.setenv("PAYKIT_SERVICE", f"{HOST}:nowhere")
    overridden = run(capsys, "reconcile", "--service", f"{HOST}:make_service", "--json")
    assert overridden.code == 0


def test_the_current_directory_is_importable(tmp_path: Path, capsys: Capture) -> None:
    """A module in the current directory is found without PYTHONPATH, as with uvicorn."""
    (tmp_path / "clihost_here.py").write_text(
        "from paykit import InMemoryStorage, PaymentService, SandboxGateway\n"
        "service = PaymentService(InMemoryStorage(), {'credit_card': SandboxGateway()})\n"
    )

    result = run(capsys, "reconcile", "--service", "clihost_here:service")

    assert (result.code, result.err) == (0, "")
    assert result.out.lstrip().startswith("examined")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (HOST, f"'{HOST}' is not module:attribute, e.g. myapp.payments:service"),
        (f":{HOST}", f"':{HOST}' is not module:attribute"),
        (f"{HOST}:", f"'{HOST}:' is not module:attribute"),
        ("clihost_missing:service", "no module named 'clihost_missing'; run from the project"),
        ("clihost_missing.sub:app", "no module named 'clihost_missing'; run from the project"),
        (f"{HOST}:nowhere", f"module '{HOST}' has no attribute 'nowhere'"),
        (f"{HOST}:settings.nowhere", f"module '{HOST}' has no attribute 'settings.nowhere'"),
        (f"{HOST}:answer", f"{HOST}:answer is a int, not a PaymentService or a zero-argument"),
        (f"{HOST}:not_a_factory", f"{HOST}:not_a_factory() returned a str, not a PaymentService"),
        (
            f"{HOST}:failing_factory",
            f"calling {HOST}:failing_factory() raised RuntimeError: DATABASE_URL is not set",
        ),
        ("paykit:PaymentService", "calling paykit:PaymentService() raised TypeError"),
        ("clihost_broken:service", "importing 'clihost_broken' raised KeyError: 'SHOP_DB'"),
        (
            "clihost_needs:service",
            "importing 'clihost_needs' failed: No module named 'clihost_not_installed'",
        ),
    ],
)
@pytest.mark.usefixtures("host")
def test_a_bad_service_is_one_line_and_exit_2(
    tmp_path: Path,
    capsys: Capture,
    monkeypatch: pytest.MonkeyPatch,
    spec: str,
    message: str,
) -> None:
    """Every way ``--service`` can be wrong: one line saying what to fix, exit 2."""
    (tmp_path / "clihost_broken.py").write_text("import os\nos.environ['SHOP_DB']\n")
    (tmp_path / "clihost_needs.py").write_text("import clihost_not_installed\n")

    given = run(capsys, "reconcile", "--service", spec)

    assert given.code == 2
    assert given.out == ""
    assert given.err.count("\n") == 1
    assert given.err.startswith(f"paykit: error: --service: {message}")

    monkeypatch.setenv("PAYKIT_SERVICE", spec)
    from_env = run(capsys, "reconcile")
    assert from_env.code == 2
    assert from_env.err.startswith(f"paykit: error: PAYKIT_SERVICE: {message}")


@pytest.mark.usefixtures("host")
def test_a_multi_line_failure_is_still_one_line(capsys: Capture) -> None:
    """A host error spanning lines is folded into the one error line."""

    def noisy() -> PaymentService:
        raise ValueError("bad settings:\n  DATABASE_URL missing\n  STRIPE_KEY missing")

    sys.modules[HOST].noisy = noisy  # type: ignore[attr-defined]

    result = run(capsys, "reconcile", "--service", f"{HOST}:noisy")

    assert result.code == 2
    assert result.err == (
        "paykit: error: --service: calling clihost_app:noisy() raised ValueError: "
        "bad settings: DATABASE_URL missing STRIPE_KEY missing\n"
    )


def test_no_service_at_all_exits_2(capsys: Capture) -> None:
    """Neither ``--service`` nor ``PAYKIT_SERVICE``: exit 2, naming both."""
    result = run(capsys, "reconcile")

    assert result.code == 2
    assert result.err == (
        "paykit: error: --service MODULE:ATTRIBUTE is required (or set PAYKIT_SERVICE)\n"
    )


# --- usage errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--older-than", "15"),
        ("--older-than", "15x"),
        ("--older-than", "-5m"),
        ("--older-than", "1.5h"),
        ("--limit", "0"),
        ("--limit", "-3"),
        ("--limit", "many"),
        ("--status", "completed"),
        ("--status", "bogus"),
        ("--lease", "0s"),
        ("--lease", "5"),
        ("--backoff", "0m"),
        ("--backoff", "soon"),
        ("--max-backoff", "0h"),
        ("--max-backoff", "6 h"),
        ("--give-up-after", "0d"),
        ("--give-up-after", "forever"),
    ],
)
def test_a_bad_option_names_itself_and_exits_2(
    host: Host, capsys: Capture, option: str, value: str
) -> None:
    """An invalid value: argparse names the option and the value, exit 2, nothing swept."""
    host.stuck()

    result = sweep(capsys, f"{option}={value}")

    assert result.code == 2
    assert result.out == ""
    assert f"error: argument {option}: " in result.err
    assert repr(value) in result.err
    assert len(host.service.list_payments(status="processing")) == 3  # nothing was swept


def test_usage_errors_exit_2(capsys: Capture) -> None:
    """No command, an unknown command, an unknown option: exit 2."""
    no_command = run(capsys)
    assert no_command.code == 2
    assert "the following arguments are required: command" in no_command.err

    unknown = run(capsys, "settle")
    assert unknown.code == 2
    assert "invalid choice: 'settle'" in unknown.err

    stray = run(capsys, "reconcile", "--service", f"{HOST}:service", "--verbose")
    assert stray.code == 2
    assert "unrecognized arguments: --verbose" in stray.err


def test_help_exits_0_and_documents_the_exit_codes(capsys: Capture) -> None:
    """``--help`` exits 0 and lists the options and the exit codes."""
    result = run(capsys, "reconcile", "--help")

    assert result.code == 0
    assert "Exit code 0 when the sweep ran" in " ".join(result.out.split())
    for option in ("--service", "--older-than", "--limit", "--status", "--lease", "--json"):
        assert option in result.out


# --- durations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0s", timedelta(0)),
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d12h", timedelta(days=1, hours=12)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    """Whole numbers with s, m, h or d, alone or summed."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "15", "m", "1.5h", "-5m", "15 m", " 15m", "15M", "1w"])
def test_not_durations(text: str) -> None:
    """Anything else is refused with the accepted forms."""
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


# --- how it is started ----------------------------------------------------------------------


def test_the_console_script_points_at_main() -> None:
    """``paykit`` is installed as a console script running ``paykit.cli:main``."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]

    assert scripts == {"paykit": "paykit.cli:main"}


def test_python_dash_m_paykit_in_a_real_process(tmp_path: Path) -> None:
    """A service module on ``PYTHONPATH``, run from another directory, as cron would."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "clihost_shop.py").write_text(
        textwrap.dedent(
            """
            from datetime import UTC, datetime, timedelta

            from paykit import InMemoryStorage, PaymentService, SandboxGateway, SandboxToken

            now = [datetime(2030, 1, 1, tzinfo=UTC)]
            service = PaymentService(
                InMemoryStorage(), {"credit_card": SandboxGateway()}, clock=lambda: now[0]
            )
            for n, token in enumerate([SandboxToken.TIMEOUT] * 2 + [SandboxToken.THREE_D_SECURE]):
                card = service.add_payment_method("cus_1", type="credit_card", token=token)
                payment = service.create_payment(
                    customer_id="cus_1", order_id=f"ord_{n}", payment_method_id=card.id,
                    amount="10.00", currency="USD",
                )
                service.process_payment(payment.id)
            now[0] += timedelta(minutes=30)
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "PAYKIT_SERVICE"}
    env["PYTHONPATH"] = os.pathsep.join([str(app), str(ROOT / "src")])

    command = ["-m", "paykit", "reconcile", "--service=clihost_shop:service", "--json"]
    done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, *command, "--progress"],
        cwd=tmp_path,
        env=env,
        capture_output=True,  # bytes: text mode would turn the bar's \r into \n
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["payments"] == {
        "examined": 3,
        "settled": 2,
        "still_unknown": 1,
        "skipped": 0,
        "errors": 0,
    }
    assert b"3/3 payments+refunds" in done.stderr
    assert done.stderr.count(b"\n") == 1


@pytest.mark.parametrize(
    "text", ["1m30s", "15m", "1h30m", "7d", "1d2h3m4s", "0s"], ids=lambda text: text
)
def test_a_formatted_duration_parses_back_to_itself(text: str) -> None:
    """``format_duration`` writes the shortest text ``parse_duration`` reads back."""
    assert format_duration(parse_duration(text)) == text


def test_the_help_shows_the_policys_defaults(capsys: Capture) -> None:
    """The CLI takes its defaults from ``ReconcilePolicy``, so ``--help`` cannot drift."""
    main(["reconcile", "--help"])
    shown = " ".join(capsys.readouterr().out.split())

    assert ReconcilePolicy() == DEFAULT_POLICY
    for value in (DEFAULT_POLICY.older_than, DEFAULT_POLICY.lease, DEFAULT_POLICY.max_backoff):
        assert f"(default: {format_duration(value)})" in shown
    assert f"(default: {DEFAULT_POLICY.limit})" in shown
