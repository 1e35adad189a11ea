"""Every statement a unit of work runs stays within psycopg's cache of parsed queries.

psycopg converts a query's ``%(name)s`` placeholders to PostgreSQL's ``$1`` form and
caches the result, but only for queries up to 4 KiB with at most 50 parameters; a longer
one is parsed again at every run (about 0.05 ms of client CPU for the claim's read, which
a schema-qualified column list once pushed over the limit). Compiled here for PostgreSQL,
no database needed, under a long schema name and a table prefix.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import pytest
from sqlalchemy import ClauseElement, Executable, create_engine

from paykit.storage.sql._schema import build_tables
from paykit.storage.sql._uow import Statements

PARSE_CACHE_BYTES: Final = 4096
PARSE_CACHE_PARAMETERS: Final = 50
"""psycopg's limits (``psycopg._queries.MAX_CACHED_STATEMENT_LENGTH`` and ``_PARAMS``)."""

STATEMENTS: Final = Statements(
    build_tables(schema="a_schema_named_at_some_length_", table_prefix="paykit_")
)
DIALECT: Final = create_engine("postgresql+psycopg://").dialect  # connects to nothing


def _statements(holder: object, path: str, seen: set[int]) -> Iterator[tuple[str, ClauseElement]]:
    """Each statement ``holder`` keeps, and those of the paykit objects it holds."""
    for name, value in vars(holder).items():
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, Executable) and isinstance(value, ClauseElement):
            yield f"{path}.{name}", value
        elif type(value).__module__.startswith("paykit.") and hasattr(value, "__dict__"):
            yield from _statements(value, f"{path}.{name}", seen)


ALL: Final = dict(_statements(STATEMENTS, "statements", set()))


def test_the_walk_finds_the_statements_of_every_kind() -> None:
    """The walk reaches the joined reads and the nested tables' statements alike."""
    assert "statements.payment_with_method" in ALL
    assert "statements.risk.assessments.insert" in ALL
    assert len(ALL) > 50


@pytest.mark.parametrize("name", sorted(ALL))
def test_a_statement_is_short_enough_for_the_parse_cache(name: str) -> None:
    """Each statement built once per storage, as compiled for PostgreSQL."""
    compiled = ALL[name].compile(dialect=DIALECT)
    assert len(str(compiled).encode()) <= PARSE_CACHE_BYTES
    assert len(compiled.params) <= PARSE_CACHE_PARAMETERS


@pytest.mark.parametrize("lookups", [1, 2], ids=["plain", "encrypted"])
def test_the_screening_read_is_short_enough_for_the_parse_cache(lookups: int) -> None:
    """Four velocity keys, three windows and two lists (bench/fraud.py's 20 rules).

    With encryption at rest a value is looked up as itself and as its blind index.
    """
    keys = tuple(
        (key, lookups) for key in ("card_fingerprint", "customer_id", "email", "ip_address")
    )
    compiled = STATEMENTS.risk.velocity_and_members(keys, 3, 2, 2 * lookups).compile(
        dialect=DIALECT
    )
    assert len(str(compiled).encode()) <= PARSE_CACHE_BYTES
    assert len(compiled.params) <= PARSE_CACHE_PARAMETERS
