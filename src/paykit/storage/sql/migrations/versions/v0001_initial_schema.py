"""The initial schema: payment methods, payments, refunds and the transaction log.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Self-contained on purpose: a migration describes the schema as it was at its revision, so
it spells out its column types instead of importing today's models. A test checks that
upgrading an empty database to head gives exactly the tables of ``_schema.py``.
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from paykit.storage.sql._migrate import placement

revision: Final = "0001"
down_revision: Final = None
branch_labels: Final = None
depends_on: Final = None

ID: Final = 255


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
    """Create the four tables, their constraints and indexes."""
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

    op.create_table(
        f"{p}payment_methods",
        _seq(),
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("customer_id", sa.String(ID), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("provider_payment_method_id", sa.String(ID), nullable=False),
        sa.Column("brand", sa.String(32), nullable=True),
        sa.Column("last4", sa.String(4), nullable=True),
        sa.Column("exp_month", sa.Integer(), nullable=True),
        sa.Column("exp_year", sa.Integer(), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("metadata", _json(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=f"pk_{p}payment_methods"),
        sa.UniqueConstraint("id", name=f"uq_{p}payment_methods_id"),
        schema=schema,
    )
    index("payment_methods", "customer", "customer_id", "created_at")
    # At most one default method per customer.
    index("payment_methods", "one_default", "customer_id", unique=True, where=sa.text("is_default"))
    index("payment_methods", "provider_token", "provider", "provider_payment_method_id")

    op.create_table(
        f"{p}payments",
        _seq(),
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("customer_id", sa.String(ID), nullable=False),
        sa.Column("order_id", sa.String(ID), nullable=False),
        sa.Column("payment_method_id", sa.String(ID), nullable=False),
        sa.Column("payment_method_type", sa.String(32), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", _amount(), nullable=False),
        sa.Column("capture", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("captured_amount", _amount(), nullable=False),
        sa.Column("refunded_amount", _amount(), nullable=False),
        sa.Column("refund_reserved_amount", _amount(), nullable=False),
        sa.Column("provider_payment_id", sa.String(ID), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("metadata", _json(), nullable=False),
        sa.Column("idempotency_key", sa.String(ID), nullable=True),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("failure_code", sa.String(ID), nullable=True),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("next_action", _json(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("submitted_at", _time(), nullable=True),
        sa.Column("completed_at", _time(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=f"pk_{p}payments"),
        sa.UniqueConstraint("id", name=f"uq_{p}payments_id"),
        sa.CheckConstraint(
            "amount >= 0 AND captured_amount >= 0 AND refunded_amount >= 0 "
            "AND refund_reserved_amount >= 0",
            name=f"ck_{p}payments_amounts_not_negative",
        ),
        sa.CheckConstraint(
            "refunded_amount + refund_reserved_amount <= captured_amount",
            name=f"ck_{p}payments_refund_ceiling",
        ),
        schema=schema,
    )
    index("payments", "idempotency", "customer_id", "idempotency_key", unique=True)
    index("payments", "customer", "customer_id", "created_at")
    index("payments", "order", "order_id")
    index("payments", "status", "status")
    index("payments", "provider_id", "provider", "provider_payment_id", unique=True)
    index("payments", "created_at", "created_at")

    payments_id = f"{schema}.{p}payments.id" if schema else f"{p}payments.id"
    op.create_table(
        f"{p}refunds",
        _seq(),
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("payment_id", sa.String(ID), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", _amount(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("provider_refund_id", sa.String(ID), nullable=True),
        sa.Column("metadata", _json(), nullable=False),
        sa.Column("idempotency_key", sa.String(ID), nullable=True),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("failure_code", sa.String(ID), nullable=True),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("submitted_at", _time(), nullable=True),
        sa.Column("completed_at", _time(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=f"pk_{p}refunds"),
        sa.UniqueConstraint("id", name=f"uq_{p}refunds_id"),
        sa.ForeignKeyConstraint(["payment_id"], [payments_id], name=f"fk_{p}refunds_payment_id"),
        sa.CheckConstraint("amount > 0", name=f"ck_{p}refunds_amount_positive"),
        schema=schema,
    )
    index("refunds", "idempotency", "payment_id", "idempotency_key", unique=True)
    index("refunds", "provider_id", "provider_refund_id", "payment_id", unique=True)
    index("refunds", "status", "status")
    index("refunds", "created_at", "created_at")

    op.create_table(
        f"{p}transaction_log",
        _seq(),
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("payment_id", sa.String(ID), nullable=False),
        sa.Column("refund_id", sa.String(ID), nullable=True),
        sa.Column("log_type", sa.String(32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("amount", _amount(), nullable=True),
        sa.Column("previous_status", sa.String(32), nullable=True),
        sa.Column("new_status", sa.String(32), nullable=True),
        sa.Column("data", _json(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=f"pk_{p}transaction_log"),
        sa.UniqueConstraint("id", name=f"uq_{p}transaction_log_id"),
        sa.ForeignKeyConstraint(
            ["payment_id"], [payments_id], name=f"fk_{p}transaction_log_payment_id"
        ),
        schema=schema,
    )
    index("transaction_log", "payment", "payment_id", "seq")
    index("transaction_log", "created_at", "created_at")


def downgrade() -> None:
    """Drop the four tables (and with them every record paykit kept)."""
    schema, p = placement()
    for table in ("transaction_log", "refunds", "payments", "payment_methods"):
        op.drop_table(f"{p}{table}", schema=schema)
