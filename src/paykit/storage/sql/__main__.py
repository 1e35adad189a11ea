"""``python -m paykit.storage.sql``: create or upgrade paykit's tables from the command line.

::

    python -m paykit.storage.sql upgrade sqlite:///paykit.db
    python -m paykit.storage.sql upgrade postgresql+psycopg://app@db/shop --schema payments
    python -m paykit.storage.sql current postgresql+psycopg://app@db/shop --schema payments
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sqlalchemy import make_url

from paykit.storage.sql._migrate import current_revision, head_revision, upgrade


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m paykit.storage.sql",
        description="Create, upgrade or inspect paykit's tables.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("upgrade", "create the tables or upgrade them to a revision (default: head)"),
        ("current", "print the revision the tables are at"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("url", help="SQLAlchemy database URL, e.g. sqlite:///paykit.db")
        sub.add_argument("--schema", default=None, help="PostgreSQL schema of the tables")
        sub.add_argument("--table-prefix", default="", help="prefix of the table names")
        if name == "upgrade":
            sub.add_argument("--revision", default="head", help="target revision")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    args = _parser().parse_args(argv)
    url = make_url(args.url)
    shown = url.render_as_string(hide_password=True)
    if args.command == "upgrade":
        upgrade(url, schema=args.schema, table_prefix=args.table_prefix, revision=args.revision)
    revision = current_revision(url, schema=args.schema, table_prefix=args.table_prefix)
    state = "head" if revision == head_revision() else "behind head" if revision else "empty"
    sys.stdout.write(f"{shown}: paykit schema at revision {revision} ({state})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
