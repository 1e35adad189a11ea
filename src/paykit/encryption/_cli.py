"""``paykit keys``: ``rotate`` re-encrypts stored rows under the newest key; ``generate``.

``paykit keys rotate`` opens the database (``--database``, default ``$PAYKIT_DATABASE_URL``
or ``sqlite:///paykit.db``; ``--schema`` and ``--table-prefix`` place the tables) with the
key ring in ``$PAYKIT_ENCRYPTION_KEYS`` and seals every row under the ring's first key,
batch by batch, with a progress bar on stderr and a summary on stdout (``--json`` for one
line of JSON). It is safe beside live traffic, resumable (run it again: finished rows are
skipped) and may run on several workers at once, ``--shard 0/4`` ... ``--shard 3/4``. See
docs/encryption.md. ``paykit keys generate`` prints a new ``id:base64key`` entry.

Exit codes: 0 when every row was readable and is now sealed under the first key; 1 when
some rows could not be read (a key missing from the ring, a value that does not
authenticate) and were left as they were; 2 for usage and configuration errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any, Final, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from paykit.encryption._keyring import ENCRYPTION_KEYS_VARIABLE, KeyRing, generate_key

if TYPE_CHECKING:
    from paykit.storage.sql import SqlStorage
    from paykit.storage.sql._rotation import RotationReport

__all__ = ["add_keys_command", "run_keys"]

DATABASE_ENV: Final = "PAYKIT_DATABASE_URL"
_DEFAULT_DATABASE: Final = "sqlite:///paykit.db"
_EXIT_OK: Final = 0
_EXIT_UNREADABLE: Final = 1
_EXIT_USAGE: Final = 2


def _shard(text: str) -> tuple[int, int]:
    index, sep, count = text.partition("/")
    if not (sep and index.isdigit() and count.isdigit()) or not 0 <= int(index) < int(count):
        msg = f"{text!r} is not INDEX/COUNT with 0 <= INDEX < COUNT, e.g. 0/4"
        raise argparse.ArgumentTypeError(msg)
    return int(index), int(count)


def _batch(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        msg = f"{text!r} is not a whole number of at least 1"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def add_keys_command(subparsers: Any) -> argparse.ArgumentParser:  # noqa: ANN401 - argparse's private subparsers type
    """Add ``keys`` (``rotate``, ``generate``) to the ``paykit`` command's subparsers."""
    keys: argparse.ArgumentParser = subparsers.add_parser(
        "keys",
        help="encryption keys: rotate stored rows to the newest key, generate a key",
        description="Manage encryption at rest (docs/encryption.md).",
    )
    actions = keys.add_subparsers(dest="keys_command", required=True, metavar="action")
    rotate = actions.add_parser(
        "rotate",
        help="re-encrypt stored rows under the first key of $PAYKIT_ENCRYPTION_KEYS",
        description=(
            "Seal every row under the first key of the ring in $PAYKIT_ENCRYPTION_KEYS: rows "
            "still in plaintext and rows under an older key. Safe beside live traffic, "
            "resumable, and shardable over workers (--shard). Exit code 0 when done, 1 when "
            "some rows could not be read and were left as they were, 2 for usage errors."
        ),
    )
    rotate.add_argument(
        "--database",
        metavar="URL",
        help=f"a SQLAlchemy URL (default: ${DATABASE_ENV} or {_DEFAULT_DATABASE})",
    )
    rotate.add_argument("--schema", help="the PostgreSQL schema of paykit's tables")
    rotate.add_argument("--table-prefix", default="", help="the prefix of paykit's table names")
    rotate.add_argument(
        "--batch-size", type=_batch, default=500, metavar="N", help="rows per batch (default 500)"
    )
    rotate.add_argument(
        "--shard",
        type=_shard,
        default=(0, 1),
        metavar="I/N",
        help="this worker's share of the rows: those with seq %% N == I (default 0/1)",
    )
    rotate.add_argument("--json", action="store_true", help="print the summary as JSON")
    rotate.add_argument("--no-progress", action="store_true", help="draw no progress bar")
    generate = actions.add_parser(
        "generate",
        help="print a new random 256-bit key as ID:BASE64, for $PAYKIT_ENCRYPTION_KEYS",
    )
    generate.add_argument("--id", default="k1", help="the new key's id (default k1)")
    return keys


def run_keys(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    """Run ``paykit keys ...``; the exit code."""
    out = stdout or sys.stdout
    if args.keys_command == "generate":
        out.write(f"{args.id}:{generate_key()}\n")
        return _EXIT_OK
    try:
        ring = KeyRing.from_env(ENCRYPTION_KEYS_VARIABLE)
        ring.primary_id  # noqa: B018 - checks the keys now, as a usage error
        from paykit.storage.sql import SqlStorage  # noqa: PLC0415 - the sql extra

        url = args.database or os.environ.get(DATABASE_ENV) or _DEFAULT_DATABASE
        storage = SqlStorage(
            url, schema=args.schema, table_prefix=args.table_prefix, encryption=ring
        )
    except (ValueError, ImportError) as error:
        sys.stderr.write(f"paykit: error: {error}\n")
        return _EXIT_USAGE
    try:
        report = _rotate(storage, args)
    finally:
        storage.dispose()
    summary = {
        "examined": report.examined,
        "rewritten": report.rewritten,
        "skipped": report.skipped,
        "unreadable": report.unreadable,
        "customer_keys_rewrapped": report.customer_keys_rewrapped,
        "key_id": ring.primary_id,
    }
    if args.json:
        out.write(json.dumps(summary, sort_keys=True) + "\n")
    else:
        out.write(
            f"rotated to key {ring.primary_id!r}: {report.examined} rows examined, "
            f"{report.rewritten} re-encrypted, {report.customer_keys_rewrapped} customer keys "
            f"re-wrapped, {report.skipped} changed meanwhile (sealed by their writer), "
            f"{report.unreadable} unreadable\n"
        )
    return _EXIT_UNREADABLE if report.unreadable else _EXIT_OK


def _rotate(storage: SqlStorage, args: argparse.Namespace) -> RotationReport:
    from paykit.storage.sql._rotation import RotationProgress, rotate  # noqa: PLC0415 - sql extra

    if args.no_progress:
        return rotate(storage, batch_size=args.batch_size, shard=args.shard)
    bar = Progress(
        TextColumn("re-encrypting {task.fields[table]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        console=Console(file=sys.stderr, highlight=False),
    )
    task = bar.add_task("rotate", total=None, table="")

    def show(step: RotationProgress) -> None:
        bar.update(task, total=step.total, completed=step.done, table=step.table)

    with bar:
        return rotate(storage, batch_size=args.batch_size, shard=args.shard, progress=show)
