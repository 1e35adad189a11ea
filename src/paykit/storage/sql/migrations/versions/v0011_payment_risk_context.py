"""Fraud: the context given to create_payment waits on the payment, not in an assessment.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

``payments`` gets a nullable JSON column, ``risk_context``: the fraud screening context a
host gave to ``create_payment``, kept until the claim screens the payment, which then writes
the payment's one risk assessment and clears the column. Before this revision that context
was an assessment of its own, inserted at creation and updated by the claim.

Such an assessment, never decided (``decision`` NULL), would now make the claim's insert
collide with it, so the upgrade moves it: its context goes onto its payment if the payment
is still pending, then the assessment is deleted. With encryption at rest its email, IP
address and device id are sealed or blind indexes, which a migration cannot open: only the
plain fields move then (countries, the account's age). The payments of an undecided
assessment were never screened, so no decision is lost.

The downgrade drops the column, and with it the context of every payment still waiting
for its screening: those are then screened with what ``process_payment`` is given.

Self-contained like the others: the column types are spelled out here, not imported.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from paykit.storage.sql._migrate import placement

revision: Final = "0011"
down_revision: Final = "0010"
branch_labels: Final = None
depends_on: Final = None

_PLAIN: Final = ("ip_country", "billing_country", "shipping_country")
_PERSONAL: Final = ("email", "ip_address", "device_id")
"""Moved only from an assessment written without encryption (``personal`` NULL)."""
_DAY_IN_MICROSECONDS: Final = timedelta(days=1) // timedelta(microseconds=1)


def _json() -> sa.types.TypeEngine[Any]:
    """``JSONB`` on PostgreSQL, JSON text elsewhere."""
    return sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    """Add ``payments.risk_context``; move undecided assessments' contexts there."""
    schema, p = placement()
    op.add_column(f"{p}payments", sa.Column("risk_context", _json()), schema=schema)
    columns = ["id", "personal", "account_age_days", *_PLAIN, *_PERSONAL]
    assessments = sa.table(
        f"{p}risk_assessments", *(sa.column(name) for name in [*columns, "decision"]), schema=schema
    )
    payments = sa.table(
        f"{p}payments",
        sa.column("id"),
        sa.column("status"),
        sa.column("risk_context", _json()),
        schema=schema,
    )
    bind = op.get_bind()
    undecided = assessments.c.decision.is_(None)
    rows = bind.execute(sa.select(*(assessments.c[name] for name in columns)).where(undecided))
    waiting = payments.c.status == "pending"
    for row in rows.mappings().all():
        context = _context(row)
        if context:
            bind.execute(
                payments.update()
                .where(payments.c.id == row["id"], waiting)
                .values(risk_context=context)
            )
    bind.execute(assessments.delete().where(undecided))


def _context(row: Any) -> dict[str, Any]:  # noqa: ANN401 - a row of the old table
    """The context an undecided assessment holds, as ``RiskContext.document`` writes it."""
    names = _PLAIN if row["personal"] is not None else (*_PLAIN, *_PERSONAL)
    context = {name: row[name] for name in names if row[name] is not None}
    if row["account_age_days"] is not None:
        context["account_age_microseconds"] = row["account_age_days"] * _DAY_IN_MICROSECONDS
    return context


def downgrade() -> None:
    """Back to 0010: drop the column (contexts still waiting for screening are lost)."""
    schema, p = placement()
    op.drop_column(f"{p}payments", "risk_context", schema=schema)
