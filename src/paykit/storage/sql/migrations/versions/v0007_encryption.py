"""Encryption at rest: the ``customer_keys`` table and the columns sealed values move to.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

``customer_keys`` holds one data key per customer, wrapped (AES-GCM) by the host's key
ring, which never enters the database; erasing a customer sets ``wrapped_key`` to NULL and
``destroyed_at``. A partial unique index keeps one live key per customer.

``payment_methods`` gets two nullable text columns, which SQLite's ``ADD COLUMN`` adds
without rebuilding the table: ``provider_token`` (the provider's token, sealed) and
``display`` (brand, last 4 and expiry, sealed). The other sensitive columns keep their
types and hold their envelopes in place. Existing rows are untouched: they stay readable as
plaintext until ``paykit keys rotate`` seals them.

The fraud tables get one nullable text column each, added the same way:
``risk_assessments.personal`` (an assessment's email, its domain, IP address, device id and
card fingerprint, sealed together; the plain columns then hold blind indexes) and
``risk_list_entries.sealed_value`` (a listed value, sealed; ``value`` then holds its blind
index).

The downgrade refuses while any value is sealed under a customer key, a token is in
``provider_token``, or a sealed value is in the two fraud columns: dropping them would lose
the data. Decrypting first is a job for a
storage opened with the keys, not for a migration.

Self-contained like 0001-0006: the column types are spelled out here, not imported.
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa
from alembic import op

from paykit.storage.sql._migrate import placement

revision: Final = "0007"
down_revision: Final = "0006"
branch_labels: Final = None
depends_on: Final = None

ID: Final = 255
_METHOD_COLUMNS: Final = ("provider_token", "display")
_FRAUD_COLUMNS: Final = (("risk_assessments", "personal"), ("risk_list_entries", "sealed_value"))


def _seq() -> sa.Column[int]:
    return sa.Column(
        "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.Identity(), nullable=False
    )


def _time() -> sa.types.TypeEngine[Any]:
    """``TIMESTAMP WITH TIME ZONE``; SQLite: ISO 8601 text in UTC."""
    return sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")


def upgrade() -> None:
    """Add the payment-method and fraud columns, then create ``customer_keys`` and its index."""
    schema, p = placement()
    for name in _METHOD_COLUMNS:
        op.add_column(
            f"{p}payment_methods", sa.Column(name, sa.Text(), nullable=True), schema=schema
        )
    for table_name, name in _FRAUD_COLUMNS:
        op.add_column(f"{p}{table_name}", sa.Column(name, sa.Text(), nullable=True), schema=schema)
    table = f"{p}customer_keys"
    op.create_table(
        table,
        _seq(),
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("customer_id", sa.String(ID), nullable=False),
        sa.Column("wrapped_key", sa.Text(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("destroyed_at", _time(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=f"pk_{table}"),
        sa.UniqueConstraint("id", name=f"uq_{table}_id"),
        schema=schema,
    )
    live = sa.text("destroyed_at IS NULL")
    op.create_index(
        f"uq_{table}_live",
        table,
        ["customer_id"],
        unique=True,
        schema=schema,
        postgresql_where=live,
        sqlite_where=live,
    )


def downgrade() -> None:
    """Back to 0006: drop ``customer_keys`` and the columns, if nothing is sealed in them."""
    schema, p = placement()
    keys = sa.table(f"{p}customer_keys", sa.column("id"), schema=schema)
    methods = sa.table(f"{p}payment_methods", sa.column("provider_token"), schema=schema)
    connection = op.get_bind()
    sealed = connection.execute(
        sa.select(sa.func.count()).select_from(methods).where(methods.c.provider_token.is_not(None))
    ).scalar_one()
    customer_keys = connection.execute(sa.select(sa.func.count()).select_from(keys)).scalar_one()
    for table_name, name in _FRAUD_COLUMNS:
        table = sa.table(f"{p}{table_name}", sa.column(name), schema=schema)
        sealed += connection.execute(
            sa.select(sa.func.count()).select_from(table).where(table.c[name].is_not(None))
        ).scalar_one()
    if sealed or customer_keys:
        msg = (
            "cannot downgrade below 0007: the database holds sealed values (under customer "
            "keys or in the fraud tables); they would be lost"
        )
        raise RuntimeError(msg)
    op.drop_table(f"{p}customer_keys", schema=schema)
    for table_name, name in reversed(_FRAUD_COLUMNS):
        op.drop_column(f"{p}{table_name}", name, schema=schema)
    for name in reversed(_METHOD_COLUMNS):
        op.drop_column(f"{p}payment_methods", name, schema=schema)
