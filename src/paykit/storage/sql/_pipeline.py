"""Sending a commit's last writes and its ``COMMIT`` in one round trip (PostgreSQL).

A unit of work's commit is ``BEGIN``, its writes, ``COMMIT``: one round trip each when
every statement waits for its answer, and on PostgreSQL a round trip costs more than the
statements themselves. psycopg's pipeline mode sends statements without waiting and reads
their answers at the end. A write whose row count is checked (an ``UPDATE`` or ``DELETE``
matching a version) needs its answer before the commit can go on -- SQLAlchemy reads a row
count only from a statement that has answered -- so the commit runs those as before and
pipelines what follows the last of them: the inserts and the ``COMMIT``. An error in the
pipeline (a unique key taken) surfaces when it ends, wrapped as SQLAlchemy wraps a driver's
errors (naming the batch's statements, never their values), so the commit's handling of
conflicts is the same either way.

SQLite answers in-process and has nothing to gain: :func:`unbatched` does nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, cast

from sqlalchemy import ClauseElement, Connection, Engine, Executable
from sqlalchemy.exc import DBAPIError

__all__ = ["Batch", "batch_for", "unbatched"]

Batch = Callable[[Connection, Sequence[Executable]], AbstractContextManager[None]]
"""``batch(connection, statements)``: the ``statements`` the block runs on ``connection``
go together, where the driver can; the statements only name the batch in an error."""


def unbatched(
    connection: Connection, statements: Sequence[Executable]
) -> AbstractContextManager[None]:
    """Each statement waits for its answer (SQLite, and drivers without a pipeline)."""
    del connection, statements
    return nullcontext()


@contextmanager
def _pipelined(connection: Connection, statements: Sequence[Executable]) -> Iterator[None]:
    """The block in psycopg's pipeline mode; its errors raised as SQLAlchemy's.

    A batch that fails throws its connection away. psycopg prepares a statement on its
    fifth run; if that run is in a batch a statement before it failed, the server skips the
    preparation while psycopg notes it as done, and the statement's next run on that
    connection fails with 'prepared statement "_pg3_5" does not exist'. A new connection
    starts with nothing prepared on either side. (Failed batches are rare: a unique key
    taken by a racing writer. Running every batch unprepared instead cost the server a
    parse of each statement, every time.)
    """
    driver: Any = connection.connection.driver_connection
    driver_error = connection.dialect.loaded_dbapi.Error
    try:
        with driver.pipeline():
            yield
    except driver_error as error:  # raised as the pipeline ended and read the answers
        connection.invalidate()
        sql = "; ".join(_sql(statement, connection) for statement in statements)
        raise DBAPIError.instance(sql, None, error, driver_error) from error
    except BaseException:  # raised inside the block (SQLAlchemy wrapped a driver's error)
        connection.invalidate()
        raise


def _sql(statement: Executable, connection: Connection) -> str:
    """The text of ``statement`` as the connection's dialect renders it, without values."""
    return str(cast("ClauseElement", statement).compile(dialect=connection.dialect))


def batch_for(engine: Engine) -> Batch:
    """How units of work on ``engine`` batch their last writes (see the module docstring)."""
    if engine.dialect.driver == "psycopg":
        return _pipelined
    return unbatched
