"""Fraud: the review queue's index holds only the payments held for review.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

Revision 0004 indexed every assessment by ``(review_state, created_at)``, yet only the
queue of held payments (``review_state = 'pending'``) is ever listed. Every screened payment
paid for that index at its insert; a partial index on ``created_at`` of the held ones is
written only when a payment is held or its review ends. Nothing else changes, and no table
is rewritten.

Self-contained like the others: the state is spelled out here, not imported.
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa
from alembic import op

from paykit.storage.sql._migrate import placement

revision: Final = "0009"
down_revision: Final = "0008"
branch_labels: Final = None
depends_on: Final = None

HELD: Final = "review_state = 'pending'"


def upgrade() -> None:
    """Replace ``ix_risk_assessments_review`` by the partial ``ix_risk_assessments_held``."""
    schema, p = placement()
    table = f"{p}risk_assessments"
    op.drop_index(f"ix_{table}_review", table_name=table, schema=schema)
    op.create_index(
        f"ix_{table}_held",
        table,
        ["created_at"],
        schema=schema,
        postgresql_where=sa.text(HELD),
        sqlite_where=sa.text(HELD),
    )


def downgrade() -> None:
    """Back to 0008: every assessment indexed by ``(review_state, created_at)`` again."""
    schema, p = placement()
    table = f"{p}risk_assessments"
    op.drop_index(f"ix_{table}_held", table_name=table, schema=schema)
    op.create_index(f"ix_{table}_review", table, ["review_state", "created_at"], schema=schema)
