"""The ``paykit`` command line: ``paykit reconcile`` and ``paykit serve``.

``paykit reconcile`` runs one reconciliation sweep. It does not configure storage or
gateways itself: ``--service module:attribute`` (or ``PAYKIT_SERVICE``) names the host
application's configured :class:`PaymentService`, or a zero-argument callable returning one,
the way ``uvicorn app:app`` names an app. The current directory is importable, as with
uvicorn.

``paykit serve`` runs the REST API (:mod:`paykit.api`) under uvicorn, on 127.0.0.1:8000 by
default: on the host's ``--service`` with its ``--authenticator module:attribute``, or on a
built-in service (a SQLite file, ``--database``, and the sandbox gateway for cards and
wallets). ``--demo`` lets every caller in as one demo customer with staff rights, so it is
refused on any address but loopback. uvicorn and FastAPI (``pip install 'paykit[api]'``) are
imported only by ``serve``, so ``reconcile`` runs without them.

Exit codes: 0 when the sweep ran (records still unknown are asked again by a later sweep)
or the server stopped cleanly (Ctrl+C, SIGTERM); 1 when asking the provider about any record
raised or the sweep stopped early (a paykit error is one line on stderr; anything else, such
as a database outage, a traceback), or the server could not start (the port is taken); 2 for
usage and configuration errors (a missing authenticator, ``--demo`` off loopback, the
``api`` extra not installed).
"""

from __future__ import annotations

import argparse
import importlib
import io
import ipaddress
import json
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, TextIO, cast

import attrs
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from paykit.analytics._report_cli import add_report_command, run_report
from paykit.automation._cli import add_automate_command, run_automate
from paykit.encryption._cli import add_keys_command, run_keys
from paykit.errors import PaykitError
from paykit.fraud._backtest_cli import add_fraud_command, run_fraud
from paykit.gateways import SandboxGateway
from paykit.gateways.registry import Route, RouteKey
from paykit.service import (
    DEFAULT_POLICY,
    RECONCILABLE_STATUSES,
    PaymentService,
    ReconcileProgress,
    ReconcileReport,
    SweepCounts,
)

if TYPE_CHECKING:  # paykit.api imports FastAPI: only ``paykit serve`` may load it
    from fastapi import FastAPI

    from paykit.api import Authenticator

__all__ = [
    "DEFAULT_DATABASE",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "EXIT_ERRORS",
    "EXIT_OK",
    "EXIT_USAGE",
    "ConfigurationError",
    "ProgressBar",
    "ServePlan",
    "base_url",
    "format_duration",
    "is_loopback",
    "load_authenticator",
    "load_service",
    "main",
    "parse_duration",
    "plan_serve",
    "report_json",
    "report_table",
]

EXIT_OK: Final = 0
"""The sweep ran; some records may still be unknown and are asked again later."""
EXIT_ERRORS: Final = 1
"""Asking the provider about at least one record raised, or the sweep stopped early."""
EXIT_USAGE: Final = 2
"""Bad options or a ``--service`` that does not lead to a ``PaymentService``."""

SERVICE_ENV: Final = "PAYKIT_SERVICE"

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8000
DEFAULT_DATABASE: Final = "sqlite:///paykit.db"
"""The built-in service's storage for ``paykit serve`` without ``--service``."""
DEMO_METHOD_TYPES: Final = ("credit_card", "debit_card", "digital_wallet")
"""The payment method types the built-in service routes to the sandbox gateway."""
API_EXTRA: Final = "pip install 'paykit[api]'"
_API_MODULES: Final = frozenset({"fastapi", "starlette", "uvicorn"})

# The statuses reconcile_payment asks the provider about; reconcile() refuses any other.
SWEEPABLE_STATUSES: Final = tuple(sorted(RECONCILABLE_STATUSES))

_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_DURATION: Final = re.compile(r"(?:\d+[smhd])+")
_PART: Final = re.compile(r"(\d+)([smhd])")
_COLUMNS: Final = ("examined", "settled", "still unknown", "skipped", "errors")


class ConfigurationError(Exception):
    """``--service`` does not lead to a ``PaymentService``; the message says what to fix."""


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``1d`` or a sum of them (``1h30m``) as a ``timedelta``."""
    if not _DURATION.fullmatch(text):
        msg = f"{text!r} is not a duration; use a whole number and a unit: 90s, 15m, 2h, 1d"
        raise ValueError(msg)
    parts = [timedelta(**{_UNITS[unit]: int(number)}) for number, unit in _PART.findall(text)]
    return sum(parts, timedelta())


def format_duration(value: timedelta | None) -> str:
    """The shortest :func:`parse_duration` text for ``value`` (``15m``, ``7d``, ``1h30m``)."""
    if value is None:
        return "never"
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _duration(*, allow_zero: bool) -> Callable[[str], timedelta]:
    def convert(text: str) -> timedelta:
        try:
            value = parse_duration(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        if not allow_zero and value <= timedelta(0):
            msg = f"{text!r} must be longer than zero"
            raise argparse.ArgumentTypeError(msg)
        return value

    return convert


def _give_up_after(text: str) -> timedelta | None:
    return None if text == "never" else _duration(allow_zero=False)(text)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        msg = f"{text!r} is not a whole number of at least 1"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paykit", description="paykit operations from the command line."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    sweep = commands.add_parser(
        "reconcile",
        help="ask the providers about payments and refunds left waiting; settle what they say",
        description=(
            "Run one reconciliation sweep: ask each gateway about the payments and refunds "
            "left waiting for its answer, settle what it says, and retry stored webhooks. "
            "Exit code 0 when the sweep ran (records still unknown are asked again later), "
            "1 when asking about any record raised or the sweep stopped early, "
            "2 for usage or configuration errors."
        ),
    )
    _add_service_option(sweep)
    sweep.add_argument(
        "--older-than",
        type=_duration(allow_zero=True),
        default=DEFAULT_POLICY.older_than,
        metavar="DURATION",
        help=(
            "only records unchanged for at least this long: 90s, 15m, 2h, 1d "
            f"(default: {format_duration(DEFAULT_POLICY.older_than)})"
        ),
    )
    sweep.add_argument(
        "--limit",
        type=_positive_int,
        default=DEFAULT_POLICY.limit,
        help=f"at most this many payments and this many refunds (default: {DEFAULT_POLICY.limit})",
    )
    sweep.add_argument(
        "--status",
        action="append",
        choices=[str(status) for status in SWEEPABLE_STATUSES],
        help="payment status to sweep; repeat for several (default: processing, requires_action)",
    )
    sweep.add_argument(
        "--lease",
        type=_duration(allow_zero=False),
        default=DEFAULT_POLICY.lease,
        metavar="DURATION",
        help=(
            "how long this worker's claim on a record lasts "
            f"(default: {format_duration(DEFAULT_POLICY.lease)})"
        ),
    )
    sweep.add_argument(
        "--backoff",
        type=_duration(allow_zero=False),
        default=DEFAULT_POLICY.backoff,
        metavar="DURATION",
        help=(
            "wait before asking again about a still-unknown record; doubles "
            f"(default: {format_duration(DEFAULT_POLICY.backoff)})"
        ),
    )
    sweep.add_argument(
        "--max-backoff",
        type=_duration(allow_zero=False),
        default=DEFAULT_POLICY.max_backoff,
        metavar="DURATION",
        help=(
            "the longest wait between two questions about one record "
            f"(default: {format_duration(DEFAULT_POLICY.max_backoff)})"
        ),
    )
    sweep.add_argument(
        "--give-up-after",
        type=_give_up_after,
        default=DEFAULT_POLICY.give_up_after,
        metavar="DURATION",
        help=(
            "mark stored webhooks unmatched for longer than this 'expired' and stop retrying "
            f"them, or 'never' (default: {format_duration(DEFAULT_POLICY.give_up_after)})"
        ),
    )
    sweep.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw a progress bar on stderr (default: only when stderr is a terminal)",
    )
    sweep.add_argument(
        "--json", action="store_true", help="print the report as one JSON object (for cron)"
    )
    _add_serve_command(commands)
    add_report_command(commands)
    add_keys_command(commands)
    add_fraud_command(commands)
    add_automate_command(commands)
    return parser


def _add_service_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--service",
        metavar="MODULE:ATTRIBUTE",
        help=(
            "the application's configured PaymentService, or a zero-argument callable "
            f"returning one, e.g. myapp.payments:service (default: ${SERVICE_ENV})"
        ),
    )


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:  # noqa: PLR2004 - TCP's range
        msg = f"{text!r} is not a port number from 1 to 65535"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def _add_serve_command(commands: Any) -> None:  # noqa: ANN401 - argparse's private subparsers type
    serve = commands.add_parser(
        "serve",
        help="run the REST API with uvicorn (needs the api extra)",
        description=(
            "Run the REST API (paykit.api) with uvicorn and print where its OpenAPI page is. "
            "Without --service it serves a built-in service: a SQLite file (--database) and "
            "the sandbox gateway for cards and wallets. Every caller is authenticated: give "
            "--authenticator MODULE:ATTRIBUTE, or --demo (loopback only) to let every caller "
            "in as one demo customer with staff rights. Exit code 0 after a clean stop "
            "(Ctrl+C), 1 when the server could not start, 2 for usage or configuration errors."
        ),
    )
    _add_service_option(serve)
    serve.add_argument(
        "--authenticator",
        metavar="MODULE:ATTRIBUTE",
        help=(
            "the application's authenticator: a callable that turns a request into a "
            "paykit.api.Principal, or None to refuse it, e.g. myapp.auth:authenticate"
        ),
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help=(
            "let every caller in as the demo customer, with staff rights "
            "(INSECURE: only on a loopback --host, only without --service)"
        ),
    )
    serve.add_argument(
        "--host", default=DEFAULT_HOST, help=f"the address to listen on (default: {DEFAULT_HOST})"
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"the TCP port to listen on (default: {DEFAULT_PORT})",
    )
    serve.add_argument(
        "--database",
        metavar="URL",
        help=(
            "the built-in service's storage, a SQLAlchemy URL; migrated on start "
            f"(default: {DEFAULT_DATABASE}; not with --service, which brings its own)"
        ),
    )


def load_service(spec: str) -> PaymentService:
    """Import ``module:attribute`` and return the ``PaymentService`` it names or makes.

    Raises :class:`ConfigurationError` with a one-line message saying what to fix.
    """
    target = _resolve(spec, "myapp.payments:service")
    if isinstance(target, PaymentService):
        return target
    if not callable(target):
        kind = type(target).__name__
        msg = f"{spec} is a {kind}, not a PaymentService or a zero-argument callable returning one"
        raise ConfigurationError(msg)
    try:
        made = target()
    except Exception as error:  # noqa: BLE001 - the host's factory failed; say so in one line
        msg = f"calling {spec}() raised {type(error).__name__}: {error}"
        raise ConfigurationError(msg) from None
    if not isinstance(made, PaymentService):
        msg = f"{spec}() returned a {type(made).__name__}, not a PaymentService"
        raise ConfigurationError(msg)
    return made


def load_authenticator(spec: str) -> Authenticator:
    """Import ``module:attribute`` and return the authenticator (a callable) it names.

    The callable takes the request and returns a ``paykit.api.Principal`` or ``None``; it is
    used as it is, not called to make one. Raises :class:`ConfigurationError`.
    """
    target = _resolve(spec, "myapp.auth:authenticate")
    if not callable(target):
        kind = type(target).__name__
        msg = f"{spec} is a {kind}, not a callable that turns a request into a Principal"
        raise ConfigurationError(msg)
    return cast("Authenticator", target)


def _resolve(spec: str, example: str) -> object:
    """The object ``module:attribute`` names (the attribute may be dotted)."""
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        msg = f"{spec!r} is not module:attribute, e.g. {example}"
        raise ConfigurationError(msg)
    target: object = _import(module_name)
    for name in attribute.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            msg = f"module {module_name!r} has no attribute {attribute!r}"
            raise ConfigurationError(msg) from None
    return target


def _import(module_name: str) -> ModuleType:
    """Import the host's module, the current directory first on the path (like uvicorn)."""
    here = str(Path.cwd())
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if module_name == missing or module_name.startswith(f"{missing}."):
            msg = (
                f"no module named {missing!r}; run from the project directory "
                "or add it to PYTHONPATH"
            )
        else:
            msg = f"importing {module_name!r} failed: {error}"
        raise ConfigurationError(msg) from None
    except Exception as error:  # noqa: BLE001 - the host's import-time failure, in one line
        msg = f"importing {module_name!r} raised {type(error).__name__}: {error}"
        raise ConfigurationError(msg) from None


class ProgressBar:
    """rich's progress bar on ``stream`` (stderr): how many of the sweep's records are done.

    Drawn in place on a terminal; on a file or a pipe rich writes the final state once, when
    the sweep ends, so a log gets one line instead of a redraw per record.
    """

    def __init__(self, stream: TextIO) -> None:
        self._progress = Progress(
            TextColumn("reconciling"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("payments+refunds"),
            TimeElapsedColumn(),
            console=Console(file=stream, highlight=False),
        )
        self._task: TaskID | None = None

    def __call__(self, step: ReconcileProgress) -> None:
        """Show ``step`` (the ``progress`` callback of ``reconcile``)."""
        if self._task is None:
            self._progress.start()
            self._task = self._progress.add_task("reconcile", total=step.total)
        self._progress.update(self._task, total=step.total, completed=step.done)

    def close(self) -> None:
        """Stop drawing, leaving the bar's last state on its line, if one was drawn."""
        if self._task is not None:
            self._progress.stop()
            self._task = None


def _counts(counts: SweepCounts) -> dict[str, int]:
    return {
        "examined": counts.examined,
        "settled": counts.settled,
        "still_unknown": counts.still_unknown,
        "skipped": counts.skipped,
        "errors": counts.errors,
    }


def report_json(report: ReconcileReport) -> str:
    """The report as one line of JSON with stable keys."""
    document = {
        "payments": _counts(report.payments),
        "refunds": _counts(report.refunds),
        "webhooks_applied": report.webhooks_applied,
        "webhooks_waiting": report.webhooks_waiting,
        "webhooks_expired": report.webhooks_expired,
        "unsettled": report.unsettled,
    }
    return json.dumps(document, sort_keys=True)


def report_table(report: ReconcileReport, *, width: int = 100) -> str:
    """The report as a rich table of sweep counts, then the webhook counts, as plain text."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("")
    for column in _COLUMNS:
        table.add_column(column, justify="right")
    for name, counts in (("payments", report.payments), ("refunds", report.refunds)):
        table.add_row(name, *(str(value) for value in _counts(counts).values()))
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, highlight=False)
    console.print(table)
    console.print()
    console.print(f"webhooks applied:        {report.webhooks_applied}")
    console.print(f"webhooks still waiting:  {report.webhooks_waiting}")
    console.print(f"webhooks given up on:    {report.webhooks_expired}")
    return out.getvalue()


def _reconcile(args: argparse.Namespace) -> int:
    spec = args.service or os.environ.get(SERVICE_ENV)
    if not spec:
        _fail(f"--service MODULE:ATTRIBUTE is required (or set {SERVICE_ENV})")
        return EXIT_USAGE
    try:
        service = load_service(spec)
    except ConfigurationError as error:
        _fail(f"{'--service' if args.service else SERVICE_ENV}: {error}")
        return EXIT_USAGE
    draw = sys.stderr.isatty() if args.progress is None else args.progress
    bar = ProgressBar(sys.stderr) if draw else None
    statuses = tuple(dict.fromkeys(args.status)) if args.status else DEFAULT_POLICY.statuses
    try:
        report = service.reconcile(
            older_than=args.older_than,
            limit=args.limit,
            lease=args.lease,
            backoff=args.backoff,
            max_backoff=args.max_backoff,
            give_up_after=args.give_up_after,
            statuses=statuses,
            progress=bar,
        )
    except PaykitError as error:  # e.g. a record whose gateway is not configured any more
        if bar is not None:
            bar.close()
        _fail(f"the sweep stopped early: {type(error).__name__}: {error}")
        return EXIT_ERRORS
    finally:
        if bar is not None:
            bar.close()
    sys.stdout.write(report_json(report) + "\n" if args.json else report_table(report))
    errors = report.payments.errors + report.refunds.errors
    return EXIT_ERRORS if errors else EXIT_OK


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (127.0.0.0/8 or ::1); names never are."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name such as "localhost" could resolve to anything
        return False


def base_url(host: str, port: int) -> str:
    """``http://host:port``, an IPv6 address in brackets."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


@attrs.frozen(kw_only=True)
class ServePlan:
    """What ``paykit serve`` runs: the app, where, what it prints first and what it closes."""

    app: FastAPI
    host: str
    port: int
    banner: tuple[str, ...]
    close: Callable[[], None]
    """Disposes of what the command opened (the built-in service's storage)."""


def plan_serve(  # noqa: PLR0913 - the command's options, one keyword each
    *,
    service: str | None = None,
    authenticator: str | None = None,
    demo: bool = False,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    database: str | None = None,
    service_label: str = "--service",
) -> ServePlan:
    """Check the options of ``paykit serve`` and build the app it runs, without running it.

    ``service`` and ``authenticator`` are ``module:attribute`` specs; without ``service`` the
    built-in service is built on ``database`` (migrated) and the sandbox. Raises
    :class:`ConfigurationError` with a one-line message saying what to pass instead.
    """
    _check_serve_options(
        service=service, authenticator=authenticator, demo=demo, host=host, database=database
    )
    api = _import_api()
    authenticate = (
        api.insecure_demo_authenticator if demo else load_authenticator(cast("str", authenticator))
    )
    close = _nothing_to_close  # the host's service is the host's to close
    if service is not None:
        try:
            payments = load_service(service)
        except ConfigurationError as error:
            raise ConfigurationError(f"{service_label}: {error}") from None
        storage = f"the service {service}"
    else:
        payments, close = _builtin_service(database or DEFAULT_DATABASE)
        storage = database or DEFAULT_DATABASE
    app = api.create_app(payments, authenticate=authenticate)
    url = base_url(host, port)
    banner = [
        f"paykit API: {url}{api.DEFAULT_PREFIX}/ (storage: {storage})",
        f"OpenAPI page: {url}/docs",
    ]
    if demo:
        banner.append(
            f"demo mode (insecure): every caller is customer {api.DEMO_CUSTOMER} with staff "
            "rights; listening on loopback only"
        )
    return ServePlan(app=app, host=host, port=port, banner=tuple(banner), close=close)


def _nothing_to_close() -> None:
    """What ``paykit serve`` closes of a service it did not open."""


def _check_serve_options(
    *, service: str | None, authenticator: str | None, demo: bool, host: str, database: str | None
) -> None:
    if demo and authenticator:
        msg = "give --authenticator MODULE:ATTRIBUTE or --demo, not both"
        raise ConfigurationError(msg)
    if not demo and not authenticator:
        msg = (
            "the API needs to know who is calling: pass --authenticator MODULE:ATTRIBUTE "
            "(a callable that turns a request into a paykit.api.Principal, or None to "
            "refuse it), or --demo to try the built-in service on this machine"
        )
        raise ConfigurationError(msg)
    if demo and service:
        msg = (
            f"--demo serves only the built-in demo service; with --service (or ${SERVICE_ENV}) "
            "pass --authenticator MODULE:ATTRIBUTE"
        )
        raise ConfigurationError(msg)
    if demo and not is_loopback(host):
        msg = (
            f"--demo lets every caller in with staff rights, so it listens only on a loopback "
            f"address (127.0.0.0/8 or ::1), not {host!r}; to serve other machines pass "
            "--authenticator MODULE:ATTRIBUTE"
        )
        raise ConfigurationError(msg)
    if service and database:
        msg = "--database is for the built-in service; your --service brings its own storage"
        raise ConfigurationError(msg)


def _import_api() -> ModuleType:
    """``paykit.api``, after checking uvicorn is there too; the missing extra said plainly."""
    try:
        import uvicorn  # noqa: F401, PLC0415 - serve's own dependency, checked before any work

        from paykit import api  # noqa: PLC0415 - imports FastAPI, which reconcile must not need
    except ModuleNotFoundError as error:
        missing = (error.name or "").partition(".")[0]
        if missing not in _API_MODULES:
            raise
        msg = f"paykit serve needs the api extra ({missing} is not installed): {API_EXTRA}"
        raise ConfigurationError(msg) from None
    return api


def _builtin_service(database: str) -> tuple[PaymentService, Callable[[], None]]:
    """A service on ``database`` (migrated now) with the sandbox for cards and wallets."""
    try:
        from paykit.storage.sql import SqlStorage  # noqa: PLC0415 - the sql extra, only here
    except ModuleNotFoundError as error:
        msg = (
            f"the built-in service stores in SQL ({error.name} is not installed): "
            "pip install 'paykit[api,sql]'"
        )
        raise ConfigurationError(msg) from None
    try:
        storage = SqlStorage(database)
        storage.upgrade()
    except Exception as error:  # noqa: BLE001 - a bad URL or an unwritable file, in one line
        msg = f"--database {database}: {type(error).__name__}: {error}"
        raise ConfigurationError(msg) from None
    sandbox = SandboxGateway()
    gateways: dict[RouteKey, Route] = dict.fromkeys(DEMO_METHOD_TYPES, sandbox)
    service = PaymentService(storage, gateways)
    return service, storage.dispose


def _serve(args: argparse.Namespace) -> int:
    spec = args.service or os.environ.get(SERVICE_ENV) or None
    try:
        plan = plan_serve(
            service=spec,
            authenticator=args.authenticator,
            demo=args.demo,
            host=args.host,
            port=args.port,
            database=args.database,
            service_label="--service" if args.service else SERVICE_ENV,
        )
    except ConfigurationError as error:
        _fail(str(error))
        return EXIT_USAGE
    import uvicorn  # noqa: PLC0415 - present: plan_serve checked

    sys.stdout.write("\n".join(plan.banner) + "\n")
    sys.stdout.flush()
    # uvicorn stops gracefully on SIGTERM, then restores the handler it found and raises the
    # signal again; ours turns it into _Stopped, so the storage is closed and the exit is 0.
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        uvicorn.run(plan.app, host=plan.host, port=plan.port)
    except _Stopped:
        pass
    except SystemExit as exit_:  # uvicorn exits when it cannot start (the port is taken)
        _fail(f"the server did not start on {base_url(plan.host, plan.port)} (code {exit_.code})")
        return EXIT_ERRORS
    finally:
        signal.signal(signal.SIGTERM, previous)
        plan.close()
    return EXIT_OK


class _Stopped(Exception):  # noqa: N818 - not an error: the server was asked to stop
    """SIGTERM arrived: the server has stopped (see :func:`_serve`)."""


def _stop(signum: int, frame: object) -> None:
    del signum, frame
    raise _Stopped


def _fail(message: str) -> None:
    one_line = " ".join(part.strip() for part in message.splitlines())
    sys.stderr.write(f"paykit: error: {one_line}\n")


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0911 - one return a command
    """Run the ``paykit`` command line with ``argv`` (default: ``sys.argv[1:]``); the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # argparse exits on --help (0) and on bad options (2)
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    if args.command == "report":
        return run_report(args)
    if args.command == "fraud":
        return run_fraud(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "keys":
        return run_keys(args)
    if args.command == "automate":
        return run_automate(args)
    return _reconcile(args)  # argparse rejects any other command
