"""Automated refund policies: the ``automation_actions`` table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

One new table and nothing else: each automated refund policy (``paykit.automation``)
records what it did, or would do, about a payment -- a dry run, a proposal for a person, or
the void, cancel or refund it made -- one row per ``(policy, payment_id)``, unique, so that
two workers deciding about one payment cannot both act and a policy run twice finds its row
and does nothing again. Indexed by ``(policy, created_at)`` for the daily caps, by
``(status, created_at)`` for the proposals and the sweep, and by ``payment_id``. Existing
tables are not touched, so the upgrade takes no lock on them.

Self-contained like 0001 to 0003: the column types are spelled out here, not imported.
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa
from alembic import op

from paykit.storage.sql._migrate import placement

revision: Final = "0005"
down_revision: Final = "0004"
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


def _amount() -> sa.types.TypeEngine[Any]:
    """``NUMERIC(16, 4)``; SQLite: an integer of ten-thousandths."""
    return sa.Numeric(16, 4).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    """Create the ``automation_actions`` table and its four indexes."""
    schema, p = placement()
    table = f"{p}automation_actions"
    payments = f"{schema}.{p}payments" if schema else f"{p}payments"
    op.create_table(
        table,
        _seq(),
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("policy", sa.String(64), nullable=False),
        sa.Column("payment_id", sa.String(ID), nullable=False),
        sa.Column("mode", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", _amount(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(ID), nullable=False),
        sa.Column("refund_id", sa.String(ID), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("lease_until", _time(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=f"pk_{table}"),
        sa.UniqueConstraint("id", name=f"uq_{table}_id"),
        sa.ForeignKeyConstraint(["payment_id"], [f"{payments}.id"], name=f"fk_{table}_payment_id"),
        sa.CheckConstraint("amount >= 0", name=f"ck_{table}_amount_not_negative"),
        schema=schema,
    )
    # One action per policy and payment: two workers racing is a conflict to retry, so this
    # name must not end in "_provider_id".
    op.create_index(
        f"uq_{table}_policy_payment", table, ["policy", "payment_id"], unique=True, schema=schema
    )
    op.create_index(f"ix_{table}_policy_created", table, ["policy", "created_at"], schema=schema)
    op.create_index(f"ix_{table}_status", table, ["status", "created_at"], schema=schema)
    op.create_index(f"ix_{table}_payment", table, ["payment_id"], schema=schema)


def downgrade() -> None:
    """Back to 0004: drop the table, with every record of what the policies did.

    A policy switched on again after a downgrade and upgrade no longer knows what it did:
    refunds it made keep their idempotency keys, so none is made twice, but a dismissed
    proposal could be proposed again.
    """
    schema, p = placement()
    op.drop_table(f"{p}automation_actions", schema=schema)
