"""Host events that survive a crash: the ``outbox`` table.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

One new table and nothing else: each host event is written here in the unit of work that
caused it, and a dispatcher delivers it and marks it ``delivered`` (or, after its last
failed attempt, ``dead``). ``event`` holds the event with its records as committed, as
JSON. Indexed by ``(status, seq)`` for the dispatcher, which reads the pending messages in
commit order, and by ``(payment_id, seq)`` for a payment's listing. No foreign key, so
delivered messages can be purged on their own schedule. Existing tables are not touched,
so the upgrade takes no lock on them.

Self-contained like 0001 to 0003: the column types are spelled out here, not imported.
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from paykit.storage.sql._migrate import placement

revision: Final = "0006"
down_revision: Final = "0005"
branch_labels: Final = None
depends_on: Final = None

ID: Final = 255


def _seq() -> sa.Column[int]:
    return sa.Column(
        "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.Identity(), nullable=False
    )


def _time() -> sa.types.TypeEngine[Any]:
    """``TIMESTAMP WITH TIME ZONE``; SQLite: ISO 8601 text in UTC."""
    return sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    """``JSONB`` on PostgreSQL, JSON text elsewhere."""
    return sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    """Create the ``outbox`` table and its two indexes."""
    schema, p = placement()
    table = f"{p}outbox"
    op.create_table(
        table,
        _seq(),
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("payment_id", sa.String(ID), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _time(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("delivered_at", _time(), nullable=True),
        sa.Column("event", _json(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=f"pk_{table}"),
        sa.UniqueConstraint("id", name=f"uq_{table}_id"),
        schema=schema,
    )
    op.create_index(f"ix_{table}_status", table, ["status", "seq"], schema=schema)
    op.create_index(f"ix_{table}_payment", table, ["payment_id", "seq"], schema=schema)


def downgrade() -> None:
    """Back to 0005: drop the table, with every message (undelivered events are lost)."""
    schema, p = placement()
    op.drop_table(f"{p}outbox", schema=schema)
