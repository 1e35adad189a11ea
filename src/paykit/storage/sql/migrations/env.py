"""The Alembic environment of paykit's migrations.

Run them through :func:`paykit.storage.sql.upgrade` or ``python -m paykit.storage.sql
upgrade <url>``, which hand over an open connection in a transaction and say where the
tables go (schema, table prefix). Offline (``--sql``) mode is not supported.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text
from sqlalchemy.schema import CreateSchema

from paykit.storage.sql._migrate import CONNECTION_KEY, placement, version_table
from paykit.storage.sql._schema import build_tables


def run_migrations() -> None:
    """Upgrade on the connection paykit handed over, under paykit's own version table."""
    connection = context.config.attributes.get(CONNECTION_KEY)
    if context.is_offline_mode() or not isinstance(connection, Connection):
        msg = (
            "run paykit's migrations with paykit.storage.sql.upgrade() or "
            "`python -m paykit.storage.sql upgrade <url>`"
        )
        raise RuntimeError(msg)
    schema, prefix = placement()
    if connection.dialect.name == "postgresql":
        # Two processes upgrading at once take turns; the lock ends with the transaction.
        lock = text("SELECT pg_advisory_xact_lock(hashtext(:key))")
        connection.execute(lock, {"key": f"paykit-migrations:{schema}:{prefix}"})
        if schema is not None:
            connection.execute(CreateSchema(schema, if_not_exists=True))
    context.configure(
        connection=connection,
        target_metadata=build_tables(schema=schema, table_prefix=prefix).metadata,
        version_table=version_table(prefix),
        version_table_schema=schema,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
