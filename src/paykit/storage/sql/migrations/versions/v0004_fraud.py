"""Fraud screening: the ``risk_assessments`` and ``risk_list_entries`` tables, card details.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

Two new tables. ``risk_assessments`` holds one row per screened payment (its id is the
payment's): the screening inputs velocity counters count, the decision, the score, the rules
that fired, the provider's risk signal and the manual review state. It is indexed by
``(customer_id | email | card_fingerprint | ip_address, created_at)`` for the velocity
counters, by ``(review_state, created_at)`` for the review queue and by ``created_at`` for
backtests. It has no foreign key: a host may prune its screening history apart from its
payments. ``risk_list_entries`` holds the host's block and allow lists, unique by
``(list_name, value)``.

``payment_methods`` gets three nullable columns -- ``card_country``, ``card_fingerprint``
and ``wallet``, what a provider reports about a saved card -- which SQLite's ``ADD COLUMN``
adds without rebuilding the table; existing methods simply have none.

Self-contained like 0001-0003: the column types are spelled out here, not imported.
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from paykit.storage.sql._migrate import placement

revision: Final = "0004"
down_revision: Final = "0003"
branch_labels: Final = None
depends_on: Final = None

ID: Final = 255
_METHOD_COLUMNS: Final = (("card_country", 2), ("card_fingerprint", ID), ("wallet", 32))
_VELOCITY_INDEXES: Final = (
    ("customer", "customer_id"),
    ("email", "email"),
    ("card", "card_fingerprint"),
    ("ip", "ip_address"),
    ("review", "review_state"),
)


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


def _text(name: str, length: int) -> sa.Column[str]:
    return sa.Column(name, sa.String(length), nullable=True)


def upgrade() -> None:
    """Add the card columns, then create both tables and their indexes."""
    schema, p = placement()
    for name, length in _METHOD_COLUMNS:
        op.add_column(f"{p}payment_methods", _text(name, length), schema=schema)

    table = f"{p}risk_assessments"
    op.create_table(
        table,
        _seq(),
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("customer_id", sa.String(ID), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", _amount(), nullable=False),
        _text("email", ID),
        _text("email_domain", ID),
        _text("ip_address", 64),
        _text("ip_country", 2),
        _text("billing_country", 2),
        _text("shipping_country", 2),
        _text("device_id", ID),
        sa.Column("account_age_days", sa.Integer(), nullable=True),
        _text("card_fingerprint", ID),
        _text("card_country", 2),
        _text("wallet", 32),
        _text("decision", 32),
        sa.Column("three_d_secure", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("fired_rules", _json(), nullable=False),
        sa.Column("shadow_rules", _json(), nullable=False),
        sa.Column("declined", sa.Boolean(), nullable=False),
        sa.Column("review_state", sa.String(32), nullable=False),
        _text("reviewed_by", ID),
        sa.Column("reviewed_at", _time(), nullable=True),
        _text("provider_risk_level", 32),
        sa.Column("provider_risk_score", sa.Integer(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f(f"ck_{table}_amount_not_negative")),
        sa.PrimaryKeyConstraint("seq", name=f"pk_{table}"),
        sa.UniqueConstraint("id", name=f"uq_{table}_id"),
        schema=schema,
    )
    for name, column in _VELOCITY_INDEXES:
        op.create_index(f"ix_{table}_{name}", table, [column, "created_at"], schema=schema)
    op.create_index(f"ix_{table}_created_at", table, ["created_at"], schema=schema)

    lists = f"{p}risk_list_entries"
    op.create_table(
        lists,
        _seq(),
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("list_name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(ID), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(ID), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=f"pk_{lists}"),
        sa.UniqueConstraint("id", name=f"uq_{lists}_id"),
        schema=schema,
    )
    # Added twice at once is a race to retry, so this name must not end in "_provider_id".
    op.create_index(f"uq_{lists}_entry", lists, ["list_name", "value"], unique=True, schema=schema)


def downgrade() -> None:
    """Back to 0003: drop both tables and the card columns (screening history is lost)."""
    schema, p = placement()
    op.drop_table(f"{p}risk_list_entries", schema=schema)
    op.drop_table(f"{p}risk_assessments", schema=schema)
    for name, _ in reversed(_METHOD_COLUMNS):
        op.drop_column(f"{p}payment_methods", name, schema=schema)
