"""``paykit fraud backtest --rules rules.toml``: replay a rule set over stored payments.

The storage is a SQLAlchemy URL (``--database``, default ``$PAYKIT_DATABASE_URL`` or
``sqlite:///paykit.db``) or the storage of the host's service (``--service
module:attribute``). Nothing is written. Exit codes: 0 when the report was printed, 2 for
a rule file that does not load or bad options (the error names the rule and the line).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TextIO

from paykit.errors import PaykitError
from paykit.fraud._backtest import backtest
from paykit.fraud._rules import RuleSet
from paykit.storage.base import Storage

__all__ = ["add_fraud_command", "run_fraud"]

DATABASE_ENV: Final = "PAYKIT_DATABASE_URL"
_DEFAULT_DATABASE: Final = "sqlite:///paykit.db"
_EXIT_OK: Final = 0
_EXIT_USAGE: Final = 2


def add_fraud_command(subparsers: Any) -> argparse.ArgumentParser:  # noqa: ANN401 - argparse's private subparsers type
    """Add ``fraud`` (with ``backtest``) to the ``paykit`` command's subparsers."""
    fraud: argparse.ArgumentParser = subparsers.add_parser(
        "fraud",
        help="fraud screening tools: backtest a rule file over stored payments",
        description="Fraud screening tools. See docs/fraud.md.",
    )
    actions = fraud.add_subparsers(dest="fraud_command", required=True, metavar="action")
    run = actions.add_parser(
        "backtest",
        help="replay a rule file over stored payments and print what it would have caught",
        description=(
            "Replay a rule file over the charged payments in storage and print, per rule "
            "and in total, what it would have blocked or sent to review against what "
            "actually happened (fraudulent disputes, disputes lost, refunds for fraud): a "
            "confusion matrix with precision and recall. Nothing is written."
        ),
    )
    run.add_argument("--rules", required=True, type=Path, metavar="FILE", help="TOML or JSON")
    source = run.add_mutually_exclusive_group()
    source.add_argument(
        "--database",
        metavar="URL",
        help=f"a SQLAlchemy URL (default: ${DATABASE_ENV} or {_DEFAULT_DATABASE})",
    )
    source.add_argument(
        "--service", metavar="MODULE:ATTRIBUTE", help="the storage of the application's service"
    )
    run.add_argument("--since", metavar="DATETIME", help="payments created from (ISO 8601)")
    run.add_argument("--until", metavar="DATETIME", help="payments created before (ISO 8601)")
    fraud.set_defaults(handler=run_fraud)
    return fraud


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{option} {text!r} is not an ISO 8601 date or datetime") from None
    if value.tzinfo is None:
        raise ValueError(f"{option} {text!r} needs a time zone (e.g. {text}+00:00)")
    return value


def _storage(args: argparse.Namespace) -> tuple[Storage, Callable[[], None]]:
    if args.service:
        from paykit.cli import load_service  # noqa: PLC0415 - the CLI imports this module

        return load_service(args.service).storage, lambda: None
    from paykit.storage.sql import SqlStorage  # noqa: PLC0415 - the sql extra

    storage = SqlStorage(args.database or os.environ.get(DATABASE_ENV) or _DEFAULT_DATABASE)
    return storage, storage.dispose


def run_fraud(
    args: argparse.Namespace, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run ``paykit fraud backtest`` with parsed options; the exit code."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        since = _moment(args.since, "--since")
        until = _moment(args.until, "--until")
        rules = RuleSet.from_file(args.rules)
    except (ValueError, OSError, PaykitError) as error:
        err.write(f"paykit: error: {error}\n")
        return _EXIT_USAGE
    storage, close = _storage(args)
    try:
        report = backtest(storage, rules, since=since, until=until)
    finally:
        close()
    out.write(report.table())
    return _EXIT_OK
