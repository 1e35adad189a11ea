"""The API's idempotency keys: the ``idempotent_requests`` table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

One new table and nothing else: the HTTP API remembers each request made with an
``Idempotency-Key`` -- the claim while it runs, then the answer -- so that a retry is
answered the same way, until the record expires and a sweep deletes it. Unique by
``(owner, idempotency_key)``: of two concurrent requests with one key, the second claim
is refused. Indexed by ``expires_at`` for the sweep. Existing tables are not touched, so
the upgrade takes no lock on them.

Self-contained like 0001 and 0002: the column types are spelled out here, not imported.
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa
from alembic import op

from paykit.storage.sql._migrate import placement

revision: Final = "0003"
down_revision: Final = "0002"
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


def upgrade() -> None:
    """Create the ``idempotent_requests`` table and its two indexes."""
    schema, p = placement()
    table = f"{p}idempotent_requests"
    op.create_table(
        table,
        _seq(),
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("owner", sa.String(ID), nullable=False),
        sa.Column("idempotency_key", sa.String(ID), nullable=False),
        sa.Column("fingerprint", sa.String(ID), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("locked_until", _time(), nullable=True),
        sa.Column("expires_at", _time(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=f"pk_{table}"),
        sa.UniqueConstraint("id", name=f"uq_{table}_id"),
        schema=schema,
    )
    # A key claimed twice is a race to retry, so this name must not end in "_provider_id".
    op.create_index(
        f"uq_{table}_key", table, ["owner", "idempotency_key"], unique=True, schema=schema
    )
    op.create_index(f"ix_{table}_expires", table, ["expires_at"], schema=schema)


def downgrade() -> None:
    """Back to 0002: drop the table, with every remembered request (replays are lost)."""
    schema, p = placement()
    op.drop_table(f"{p}idempotent_requests", schema=schema)
