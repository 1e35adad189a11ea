"""``paykit automate``: run the automated refund policies' sweep, list and decide proposals.

The policies and their modes are the host's: ``--service module:attribute`` (or
``PAYKIT_SERVICE``) names the configured ``PaymentService``, as for ``paykit reconcile``.

* ``paykit automate`` runs one sweep (safe from several workers at once) and prints what
  each policy did;
* ``paykit automate --proposals`` lists the actions waiting for a person;
* ``paykit automate --approve ID --by NAME`` carries one out, ``--dismiss ID --by NAME``
  drops it; both are logged with the name.

Tables and the progress bar are drawn with ``rich``. Exit codes: 0 when the command ran; 1 when
an action failed (a person must look); 2 for usage and configuration errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, TextIO

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from paykit.automation._automation import AutomationProgress, AutomationReport, ProgressCallback
from paykit.domain.automation import ActionStatus, AutomationAction
from paykit.errors import PaykitError

if TYPE_CHECKING:
    from paykit.service import PaymentService

__all__ = ["add_automate_command", "report_rows", "run_automate"]

_EXIT_OK: Final = 0
_EXIT_FAILED: Final = 1
_EXIT_USAGE: Final = 2
_SERVICE_ENV: Final = "PAYKIT_SERVICE"
_STATUSES: Final = tuple(str(status) for status in ActionStatus)


def add_automate_command(subparsers: Any) -> argparse.ArgumentParser:  # noqa: ANN401 - argparse's private subparsers type
    """Add ``automate`` to the ``paykit`` command's subparsers; returns its parser."""
    automate: argparse.ArgumentParser = subparsers.add_parser(
        "automate",
        help="run the automated refund policies' sweep; list, approve or dismiss proposals",
        description=(
            "Run one sweep of the automated refund policies the service's settings turn on "
            "(safe from several workers at once), or list and decide the proposals waiting "
            "for a person. Exit code 0 when it ran, 1 when an action failed, 2 for usage or "
            "configuration errors. See docs/automation.md."
        ),
    )
    automate.add_argument(
        "--service",
        metavar="MODULE:ATTRIBUTE",
        help=(
            "the application's configured PaymentService, or a zero-argument callable "
            f"returning one (default: ${_SERVICE_ENV})"
        ),
    )
    what = automate.add_mutually_exclusive_group()
    what.add_argument("--proposals", action="store_true", help="list the proposals and stop")
    what.add_argument("--approve", metavar="ACTION_ID", help="carry out one proposal")
    what.add_argument("--dismiss", metavar="ACTION_ID", help="dismiss one proposal")
    automate.add_argument("--by", metavar="NAME", help="who approves or dismisses (required)")
    automate.add_argument("--note", default="", help="why a proposal is dismissed")
    automate.add_argument(
        "--limit",
        type=int,
        default=1000,
        help="at most this many payments per policy in one sweep (default: 1000)",
    )
    automate.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw a progress bar on stderr (default: only when stderr is a terminal)",
    )
    automate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return automate


def run_automate(args: argparse.Namespace) -> int:
    """Run ``paykit automate`` as parsed; return the exit code."""
    from paykit.cli import ConfigurationError, load_service  # noqa: PLC0415 - the CLI imports this module

    spec = args.service or os.environ.get(_SERVICE_ENV)
    if not spec:
        return _usage(f"--service MODULE:ATTRIBUTE is required (or set {_SERVICE_ENV})")
    if (args.approve or args.dismiss) and not args.by:
        return _usage("--by NAME is required to approve or dismiss a proposal")
    if args.limit < 1:
        return _usage("--limit must be at least 1")
    try:
        service = load_service(spec)
    except ConfigurationError as error:
        return _usage(f"{'--service' if args.service else _SERVICE_ENV}: {error}")
    try:
        return _run(service, args)
    except PaykitError as error:
        sys.stderr.write(f"paykit: error: {type(error).__name__}: {error}\n")
        return _EXIT_FAILED


def _run(service: PaymentService, args: argparse.Namespace) -> int:
    automation = service.automation
    out = sys.stdout
    if args.proposals:
        _print_actions(automation.proposals(), out, as_json=args.json)
        return _EXIT_OK
    if args.approve or args.dismiss:
        if args.approve:
            action = automation.approve(args.approve, by=args.by)
        else:
            action = automation.dismiss(args.dismiss, by=args.by, note=args.note)
        _print_actions([action], out, as_json=args.json)
        return _EXIT_FAILED if action.status is ActionStatus.FAILED else _EXIT_OK
    draw = sys.stderr.isatty() if args.progress is None else args.progress
    with _progress(sys.stderr, enabled=draw) as progress:
        report = automation.sweep(limit=args.limit, progress=progress)
    _print_report(report, out, as_json=args.json)
    return _EXIT_FAILED if report.count(ActionStatus.FAILED) else _EXIT_OK


def report_rows(report: AutomationReport) -> list[list[str]]:
    """The report as rows: a header, then one row per policy with a count per status."""
    counts = [
        [policy, *(str(report.count(status, policy)) for status in _STATUSES)]
        for policy in sorted(report.by_policy)
    ]
    return [["policy", *_STATUSES], *counts]


def _print_report(report: AutomationReport, out: TextIO, *, as_json: bool) -> None:
    if as_json:
        document = {
            "examined": report.examined,
            "resumed": report.resumed,
            "by_policy": report.by_policy,
        }
        out.write(json.dumps(document, sort_keys=True) + "\n")
        return
    _table(report_rows(report), out, title="automation sweep")
    out.write(f"examined: {report.examined}  resumed: {report.resumed}\n")


def _print_actions(actions: Sequence[AutomationAction], out: TextIO, *, as_json: bool) -> None:
    if as_json:
        document = [
            {
                "id": a.id,
                "policy": a.policy,
                "payment_id": a.payment_id,
                "status": str(a.status),
                "kind": str(a.kind),
                "amount": str(a.amount.amount),
                "currency": a.amount.currency,
                "reason": a.reason,
                "actor": a.actor,
                "created_at": a.created_at.isoformat(),
            }
            for a in actions
        ]
        out.write(json.dumps(document, sort_keys=True) + "\n")
        return
    rows = [["id", "policy", "payment", "status", "kind", "amount", "reason"]]
    rows += [
        [a.id, a.policy, a.payment_id, str(a.status), str(a.kind), str(a.amount), a.reason]
        for a in actions
    ]
    _table(rows, out, title="automation actions")


def _table(rows: list[list[str]], out: TextIO, *, title: str) -> None:
    """``rows`` (the first is the header) as a rich table on ``out``."""
    table = Table(title=title)
    for name in rows[0]:
        table.add_column(name)
    for row in rows[1:]:
        table.add_row(*row)
    Console(file=out, width=200).print(table)


@contextmanager
def _progress(stream: TextIO, *, enabled: bool) -> Iterator[ProgressCallback | None]:
    """A progress callback drawing rich's bar on ``stream``, if ``enabled``."""
    if not enabled:
        yield None
        return
    with Progress(console=Console(file=stream)) as bar:
        task = bar.add_task("automation", total=None)

        def draw(step: AutomationProgress) -> None:
            bar.update(task, total=step.total, completed=step.done)

        yield draw


def _usage(message: str) -> int:
    sys.stderr.write(f"paykit: error: {message}\n")
    return _EXIT_USAGE
