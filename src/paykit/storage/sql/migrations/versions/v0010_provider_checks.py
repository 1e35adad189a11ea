"""Fraud: the provider's card checks and seller protection on each risk assessment.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

``risk_assessments`` gets three nullable ``VARCHAR(32)`` columns, which SQLite's ``ADD
COLUMN`` adds without rebuilding the table: ``provider_cvc_check`` and
``provider_address_check`` (the card network's checks after authorization, in Stripe's
words: ``pass``, ``fail``, ``unavailable``, ``unchecked``) and ``provider_seller_protection``
(PayPal's ``eligible``, ``partially_eligible`` or ``not_eligible``). Post-authorization rules
read them, and backtests read them back. Existing assessments simply have none. They are not
personal data: encryption at rest leaves them in the clear.

The downgrade drops the three columns, and with them the checks recorded since: rules
naming them then find no value, as for an assessment made before this revision.

Self-contained like the others: the column types are spelled out here, not imported.
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa
from alembic import op

from paykit.storage.sql._migrate import placement

revision: Final = "0010"
down_revision: Final = "0009"
branch_labels: Final = None
depends_on: Final = None

COLUMNS: Final = ("provider_cvc_check", "provider_address_check", "provider_seller_protection")


def upgrade() -> None:
    """Add the three columns to ``risk_assessments``."""
    schema, p = placement()
    for name in COLUMNS:
        op.add_column(
            f"{p}risk_assessments", sa.Column(name, sa.String(32), nullable=True), schema=schema
        )


def downgrade() -> None:
    """Back to 0009: drop the three columns (the checks recorded since are lost)."""
    schema, p = placement()
    for name in reversed(COLUMNS):
        op.drop_column(f"{p}risk_assessments", name, schema=schema)
