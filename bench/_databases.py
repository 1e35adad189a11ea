"""What the benchmarks share: run one measurement on a SQLite file, then on PostgreSQL.

PostgreSQL runs only when ``PAYKIT_TEST_POSTGRES_URL`` is set, in a schema of its own that is
dropped at the end, so a benchmark never touches the tables of the tests or of anything else.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Final

from sqlalchemy import create_engine
from sqlalchemy.schema import CreateSchema, DropSchema

POSTGRES_URL_VARIABLE: Final = "PAYKIT_TEST_POSTGRES_URL"

Run = Callable[[str, str, "str | None"], None]
"""``run(name, url, schema)``: seed and measure one database, printing the figures."""


def run_on_each_database(only: str | None, file_name: str, run: Run) -> None:
    """``run`` on a fresh SQLite file, then on PostgreSQL (``only`` picks one of the two)."""
    if only != "postgresql":
        with tempfile.TemporaryDirectory() as folder:
            run("SQLite", f"sqlite:///{Path(folder) / file_name}", None)
    if only == "sqlite":
        return
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        print(f"PostgreSQL: skipped ({POSTGRES_URL_VARIABLE} is not set)")
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(CreateSchema(schema))
    try:
        run("PostgreSQL", url, schema)
    finally:
        with engine.begin() as connection:
            connection.execute(DropSchema(schema, cascade=True))
        engine.dispose()
