"""Disputes, the webhook inbox, chargebacks and the reconciliation sweep's bookkeeping.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Upgrades a 0001 database in place, keeping its rows: payments get ``chargeback_amount``
(zero: no dispute was ever recorded), payments and refunds ``reconcile_attempts`` (zero) and
``next_reconcile_at`` (unset: due as soon as they qualify), and the sweep an index per table
on ``(status, updated_at)``. Two new tables: ``disputes`` and ``webhook_inbox``.

New ``NOT NULL`` columns carry a server default, which is how SQLite's ``ADD COLUMN`` fills
existing rows; the chargeback's check is a column constraint, which SQLite can add with the
column (and drop with it on downgrade) without rebuilding the table. Check constraints are
named with ``op.f``, final as given: the naming convention of the models would otherwise
prefix them a second time (as it did to 0001's, ``ck_payments_ck_payments_refund_ceiling``).

Self-contained like 0001: the column types are spelled out here, not imported.
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from paykit.storage.sql._migrate import placement

revision: Final = "0002"
down_revision: Final = "0001"
branch_labels: Final = None
depends_on: Final = None

ID: Final = 255
UNMATCHED: Final = "status = 'unmatched'"
"""The condition of the partial indexes on unmatched inbox entries."""


def _seq() -> sa.Column[int]:
    return sa.Column(
        "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.Identity(), nullable=False
    )


def _amount() -> sa.types.TypeEngine[Any]:
    """``NUMERIC(16, 4)``; SQLite: an integer count of ten-thousandths."""
    return sa.Numeric(16, 4).with_variant(sa.BigInteger(), "sqlite")


def _time() -> sa.types.TypeEngine[Any]:
    """``TIMESTAMP WITH TIME ZONE``; SQLite: ISO 8601 text in UTC."""
    return sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Add the new columns and indexes, then create the disputes and inbox tables."""
    schema, p = placement()

    def index(
        table: str,
        name: str,
        *columns: str,
        unique: bool = False,
        where: sa.TextClause | None = None,
    ) -> None:
        op.create_index(
            f"{'uq' if unique else 'ix'}_{p}{table}_{name}",
            f"{p}{table}",
            list(columns),
            unique=unique,
            schema=schema,
            postgresql_where=where,
            sqlite_where=where,
        )

    op.add_column(
        f"{p}payments",
        sa.Column(
            "chargeback_amount",
            _amount(),
            sa.CheckConstraint(
                "chargeback_amount >= 0", name=op.f(f"ck_{p}payments_chargeback_not_negative")
            ),
            nullable=False,
            server_default="0",
        ),
        schema=schema,
    )
    for table in ("payments", "refunds"):
        op.add_column(
            f"{p}{table}",
            sa.Column("reconcile_attempts", sa.Integer(), nullable=False, server_default="0"),
            schema=schema,
        )
        op.add_column(
            f"{p}{table}", sa.Column("next_reconcile_at", _time(), nullable=True), schema=schema
        )
        index(table, "reconcile", "status", "updated_at")

    payments_id = f"{schema}.{p}payments.id" if schema else f"{p}payments.id"
    op.create_table(
        f"{p}disputes",
        _seq(),
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("payment_id", sa.String(ID), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("provider_dispute_id", sa.String(ID), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", _amount(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("provider_status", sa.String(ID), nullable=False),
        sa.Column("evidence_due_by", _time(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("closed_at", _time(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=f"pk_{p}disputes"),
        sa.UniqueConstraint("id", name=f"uq_{p}disputes_id"),
        sa.ForeignKeyConstraint(["payment_id"], [payments_id], name=f"fk_{p}disputes_payment_id"),
        sa.CheckConstraint("amount >= 0", name=op.f(f"ck_{p}disputes_amount_not_negative")),
        schema=schema,
    )
    # A dispute taken twice is a race to retry, so this name must not end in "_provider_id".
    index("disputes", "provider_dispute", "provider", "provider_dispute_id", unique=True)
    index("disputes", "payment", "payment_id", "created_at")

    op.create_table(
        f"{p}webhook_inbox",
        _seq(),
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(ID), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("provider_type", sa.String(ID), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("payment_id", sa.String(ID), nullable=True),
        sa.Column("provider_payment_id", sa.String(ID), nullable=True),
        sa.Column("provider_refund_id", sa.String(ID), nullable=True),
        sa.Column("received_at", _time(), nullable=False),
        sa.Column("applied_at", _time(), nullable=True),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=f"pk_{p}webhook_inbox"),
        sa.UniqueConstraint("id", name=f"uq_{p}webhook_inbox_id"),
        schema=schema,
    )
    index("webhook_inbox", "event", "event_id", "provider", unique=True)
    index("webhook_inbox", "payment", "payment_id", "received_at")
    unmatched = sa.text(UNMATCHED)
    index("webhook_inbox", "unmatched", "received_at", where=unmatched)
    index("webhook_inbox", "unmatched_pay", "provider_payment_id", where=unmatched)
    index("webhook_inbox", "unmatched_refund", "provider_refund_id", where=unmatched)


def downgrade() -> None:
    """Back to 0001: drop both tables and the new columns (their data is lost)."""
    schema, p = placement()
    op.drop_table(f"{p}webhook_inbox", schema=schema)
    op.drop_table(f"{p}disputes", schema=schema)
    for table in ("refunds", "payments"):
        op.drop_index(f"ix_{p}{table}_reconcile", table_name=f"{p}{table}", schema=schema)
        op.drop_column(f"{p}{table}", "next_reconcile_at", schema=schema)
        op.drop_column(f"{p}{table}", "reconcile_attempts", schema=schema)
    op.drop_column(f"{p}payments", "chargeback_amount", schema=schema)
