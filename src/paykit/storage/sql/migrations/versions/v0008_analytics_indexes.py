"""Analytics: a partial index of the payments asked for 3-D Secure.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

``paykit report`` counts the payments that were ever asked to authenticate (their log has
an entry whose ``new_status`` is ``requires_action``). Without an index that is a scan of
the whole transaction log, several entries per payment; this partial index holds only
those entries' payment ids. Nothing else changes, and no table is rewritten.

Self-contained like the others: the status is spelled out here, not imported.
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa
from alembic import op

from paykit.storage.sql._migrate import placement

revision: Final = "0008"
down_revision: Final = "0007"
branch_labels: Final = None
depends_on: Final = None

ASKED: Final = "new_status = 'requires_action'"


def upgrade() -> None:
    """Create ``ix_transaction_log_three_ds``."""
    schema, p = placement()
    table = f"{p}transaction_log"
    op.create_index(
        f"ix_{table}_three_ds",
        table,
        ["payment_id"],
        schema=schema,
        postgresql_where=sa.text(ASKED),
        sqlite_where=sa.text(ASKED),
    )


def downgrade() -> None:
    """Back to 0007: drop the index (the reports read the whole log again)."""
    schema, p = placement()
    op.drop_index(
        f"ix_{p}transaction_log_three_ds", table_name=f"{p}transaction_log", schema=schema
    )
