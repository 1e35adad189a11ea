"""SqlStorage: paykit's records in SQLite (the embedded default) or PostgreSQL (production).

Build it from a URL, and paykit creates and owns the engine::

    storage = SqlStorage("sqlite:///paykit.db")
    storage = SqlStorage("postgresql+psycopg://app@db/shop", schema="payments")

or hand it the application's own ``Engine``, and paykit's tables live beside the
application's (``table_prefix`` keeps the names apart)::

    storage = SqlStorage(engine=app_engine, table_prefix="paykit_")

Either way, create or upgrade the tables with :meth:`SqlStorage.upgrade` (or
``python -m paykit.storage.sql upgrade <url>``) before the first unit of work.

The values paykit binds to its statements are ids, tokens, amounts and metadata, and an id
may be whatever a caller passed, a card number included. An engine paykit creates is built
with ``hide_parameters=True``: SQLAlchemy's log (``sqlalchemy.engine`` at INFO) shows the
statements with ``[SQL parameters hidden due to hide_parameters=True]`` in place of the
values, and its exceptions leave them out of their messages. Build an engine you hand to
paykit the same way, ``create_engine(url, hide_parameters=True)``: paykit cannot change
that setting on an engine it does not own. See docs/storage.md, "What is logged".
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import URL, Connection, Engine, create_engine, delete, event, make_url, select
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry

if TYPE_CHECKING:
    from paykit.encryption import KeyRing

from paykit.domain.outbox import OutboxStatus
from paykit.storage.base import Storage
from paykit.storage.sql import _migrate
from paykit.storage.sql._encryption import (
    CustomerKeys,
    FieldEncryption,
    RowCodecs,
    payment_method_ids_by_token,
)
from paykit.storage.sql._pipeline import batch_for
from paykit.storage.sql._schema import Tables, build_tables, check_table_prefix
from paykit.storage.sql._uow import SqlUnitOfWork, Statements

__all__ = ["SqlStorage"]

SQLITE_BUSY_TIMEOUT_MS: Final = 10_000
"""How long a SQLite writer waits for another's write lock before giving up."""

_SQLITE_PRAGMAS: Final = (
    "PRAGMA journal_mode = WAL",  # readers never wait for the writer; persistent in the file
    "PRAGMA foreign_keys = ON",  # per connection: SQLite leaves them off by default
    f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}",
)
_READY: Final = "paykit_sqlite_ready"
"""Key in a DBAPI connection's ``info``: the pragmas above have run on it."""

_POOL_DEFAULTS: Final[dict[str, Any]] = {
    # Bound values stay out of SQLAlchemy's log and exception messages (module docstring).
    # An explicit hide_parameters=False in engine_options still wins: it is then the host's
    # visible, deliberate choice (say, to debug in development), not something paykit
    # should refuse or quietly undo; the engine options are theirs to set.
    "hide_parameters": True,
    "pool_size": 5,
    "max_overflow": 10,
    "pool_timeout": 30,
    "pool_recycle": 1800,  # below common server and proxy idle timeouts
}
IDLE_BEFORE_PING: Final = 1.0
"""Seconds a pooled PostgreSQL connection may sit unused and be handed out without a ping."""
_IDLE_SINCE: Final = "paykit_idle_since"
"""Key in a pool entry's ``info``: when its connection went back to the pool."""


class SqlStorage:
    """paykit's storage on a SQL database through SQLAlchemy 2 (see the module docstring).

    ``url`` or ``engine``, not both. ``schema`` (PostgreSQL) and ``table_prefix`` place
    the tables; ``engine_options`` go to ``create_engine`` and override paykit's defaults
    (a pool of 5 + 10 connections, recycled after 30 minutes, pinged on PostgreSQL when a
    connection sat idle for over a second;
    ``hide_parameters=True``, so bound values are neither logged nor put in exception
    messages). Build an ``engine`` you pass in with ``hide_parameters=True`` too.
    ``encryption``, a :class:`~paykit.encryption.KeyRing`, seals the sensitive columns
    (docs/encryption.md); without it they are stored in plaintext.
    The storage is safe to share between threads; give each process its own.
    """

    def __init__(
        self,
        url: str | URL | None = None,
        *,
        engine: Engine | None = None,
        schema: str | None = None,
        table_prefix: str = "",
        encryption: KeyRing | None = None,
        **engine_options: Any,  # noqa: ANN401 - passed through to SQLAlchemy's create_engine
    ) -> None:
        if (url is None) == (engine is None):
            msg = "pass either a database URL or an engine, not both and not neither"
            raise TypeError(msg)
        check_table_prefix(table_prefix)
        if engine is None:
            assert url is not None  # noqa: S101 - checked above; narrows for mypy
            parsed = make_url(url)
            if parsed.get_backend_name() == "sqlite":
                _check_sqlite(parsed, schema)
            engine = _create_engine(parsed, engine_options)
            self._owns_engine = True
        else:
            if engine_options:
                msg = "engine options only apply when paykit creates the engine from a URL"
                raise TypeError(msg)
            if engine.dialect.name == "sqlite":
                _check_sqlite(engine.url, schema)
            self._owns_engine = False
        self._sqlite = engine.dialect.name == "sqlite"
        self.engine: Final = engine
        """The engine the tables live in: the application's own, if one was passed; else
        paykit's, in autocommit mode (paykit opens its write transactions explicitly)."""
        self.schema: Final = schema
        self.table_prefix: Final = table_prefix
        self.tables: Final[Tables] = build_tables(schema=schema, table_prefix=table_prefix)
        self._statements = Statements(self.tables)
        # Units of work read in autocommit mode and open their one write transaction by hand.
        # An engine paykit creates is in that mode from the start; a host's engine is switched
        # per checkout (SQLAlchemy restores the host's isolation level on return).
        self._autocommit = (
            engine if self._owns_engine else engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._begin = "BEGIN IMMEDIATE" if self._sqlite else "BEGIN"
        self._batch = batch_for(engine)
        self.encryption: Final = FieldEncryption(
            encryption,
            None
            if encryption is None
            else CustomerKeys(encryption, self.tables.customer_keys, self._connect),
            self._connect,
        )
        """Seals the sensitive columns under ``encryption`` (docs/encryption.md); without a
        key ring, writes are plaintext and an encrypted value read is refused."""
        self._codecs = RowCodecs(self.encryption)

    def __repr__(self) -> str:
        where = f", schema={self.schema!r}" if self.schema else ""
        prefix = f", table_prefix={self.table_prefix!r}" if self.table_prefix else ""
        return f"SqlStorage({self.engine.url!r}{where}{prefix})"  # the URL hides any password

    def unit_of_work(self) -> SqlUnitOfWork:
        """Begin a unit of work (no connection is taken until its first read or commit)."""
        return SqlUnitOfWork(
            self._statements, self._connect, self._begin, self._codecs, self._batch
        )

    def upgrade(self, revision: str = "head") -> None:
        """Create the tables, or bring them up to ``revision``, by paykit's migrations."""
        _migrate.upgrade(
            self.engine, schema=self.schema, table_prefix=self.table_prefix, revision=revision
        )

    def current_revision(self) -> str | None:
        """The migration the tables are at (``None`` before the first :meth:`upgrade`)."""
        return _migrate.current_revision(
            self.engine, schema=self.schema, table_prefix=self.table_prefix
        )

    def erase_customer_keys(self, customer_id: str) -> int:
        """Seal the customer's plaintext fields, then destroy their data keys; how many.

        Crypto-shredding (docs/encryption.md): their sealed fields read as unavailable from
        then on. Use ``PaymentService.erase_customer``, which also writes the audit log.
        """
        from paykit.storage.sql._rotation import rotate  # noqa: PLC0415 - needs cryptography

        keys = self.encryption.customer_keys
        if keys is None:
            msg = "this storage has no key ring, so there are no customer keys to destroy"
            raise ValueError(msg)
        rotate(self, customer_id=customer_id)
        destroyed = keys.erase(customer_id)
        self._forget_delivered_events(customer_id)
        return destroyed

    def _forget_delivered_events(self, customer_id: str) -> None:
        """Delete the customer's delivered events: their records are sealed under the ring.

        Events still to deliver stay (the host has not seen them yet) and go with the next
        ``service.outbox.purge``.
        """
        t = self.tables
        theirs = select(t.payments.c.id).where(t.payments.c.customer_id == customer_id)
        with self._connect() as connection, connection.begin():
            connection.execute(
                delete(t.outbox).where(
                    t.outbox.c.payment_id.in_(theirs),
                    t.outbox.c.status == str(OutboxStatus.DELIVERED),
                )
            )

    def find_payment_methods_by_token(self, provider: str, token: str) -> list[str]:
        """Ids of ``provider``'s payment methods holding ``token`` (a blind-index lookup).

        Works whether the rows are sealed (by the token's HMAC, docs/encryption.md) or not.
        """
        with self._connect() as connection:
            return payment_method_ids_by_token(
                connection, self.tables.payment_methods, self.encryption, provider, token
            )

    def dispose(self) -> None:
        """Close the pooled connections of an engine paykit created (a host's is left alone)."""
        if self._owns_engine:
            self.engine.dispose()

    def _connect(self) -> Connection:
        """An autocommit connection, with SQLite's per-connection settings applied once."""
        connection = self._autocommit.connect()
        if self._sqlite:
            info = connection.connection.info
            if not info.get(_READY):
                for pragma in _SQLITE_PRAGMAS:
                    connection.exec_driver_sql(pragma).close()
                info[_READY] = True
        return connection


def _create_engine(url: URL, options: dict[str, Any]) -> Engine:
    """An autocommit engine with paykit's pool defaults for ``url``, overridden by ``options``."""
    backend = url.get_backend_name()
    settings = {**_POOL_DEFAULTS, "isolation_level": "AUTOCOMMIT", **options}
    if backend == "sqlite":
        settings["connect_args"] = {"check_same_thread": False, **settings.get("connect_args", {})}
    engine = create_engine(url, **settings)
    if backend == "postgresql" and "pool_pre_ping" not in options:
        _ping_after_idle(engine)
    return engine


def _ping_after_idle(engine: Engine) -> None:
    """Ping a pooled connection before it is reused only if it sat idle (PostgreSQL).

    A restarted server, a failover or a proxy's idle timeout closes connections that the
    pool still holds; handed out unchecked, the first statement on one fails. SQLAlchemy's
    ``pool_pre_ping`` pings at every checkout -- a round trip per unit of work, nine per
    payment lifecycle. A connection that was in use a moment ago is alive unless the server
    went away in that moment, and on the first disconnect it sees SQLAlchemy invalidates
    every connection of the pool at once. So paykit pings only a connection idle for more
    than :data:`IDLE_BEFORE_PING`, and a dead one is replaced before the unit of work gets
    it. ``pool_pre_ping=True`` in the engine options restores SQLAlchemy's ping instead.
    """

    def went_idle(_connection: object, entry: ConnectionPoolEntry) -> None:
        entry.info[_IDLE_SINCE] = time.monotonic()

    def check_if_idle(
        connection: DBAPIConnection, entry: ConnectionPoolEntry, _proxy: object
    ) -> None:
        idle_since = entry.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since <= IDLE_BEFORE_PING:
            return  # fresh, or in use a moment ago
        try:
            engine.dialect.do_ping(connection)
        except engine.dialect.loaded_dbapi.Error as error:
            msg = "a pooled connection the server closed; the pool connects again"
            raise DisconnectionError(msg) from error  # the pool retries with a new connection

    event.listen(engine, "checkin", went_idle)
    event.listen(engine, "checkout", check_if_idle)


def _check_sqlite(url: URL, schema: str | None) -> None:
    """Refuse the SQLite set-ups paykit cannot make safe."""
    database = url.database or ""
    if database in ("", ":memory:") or "mode=memory" in str(url):
        msg = (
            "an in-memory SQLite database is private to one connection, so units of work "
            "would not see each other; use a file (sqlite:///paykit.db) or InMemoryStorage"
        )
        raise ValueError(msg)
    if schema is not None:
        msg = "SQLite has no schemas; use table_prefix to keep paykit's tables apart"
        raise ValueError(msg)


if TYPE_CHECKING:  # SqlStorage must satisfy the contract it implements
    _check: Storage = SqlStorage("sqlite:///paykit.db")
