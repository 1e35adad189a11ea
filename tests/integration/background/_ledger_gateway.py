"""A sandbox whose ledger is a database table, so several processes share one provider.

The sandbox gateway keeps its ledger in the memory of its process; the Celery test runs the
charges in two worker processes and checks the ledger from a third. This gateway is the
sandbox for everything but the two calls that test needs: ``charge`` writes the movement of
money to a table, once per idempotency key (as a provider deduplicates), and
``retrieve_payment`` reads it back, as reconciliation asks. Every charge *call* is also
written down, with the worker that made it, so the test can see that paykit never sent a
payment twice -- not only that the provider deduplicated it.
"""

from __future__ import annotations

import os
import time
from typing import Final

from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from paykit import GatewayOutcome, GatewayResult, SandboxGateway
from paykit.gateways.base import NOT_FOUND, ChargeRequest, PaymentLookup

LATENCY: Final = 0.02
"""Seconds a charge takes: long enough for a worker to die with charges on the wire."""


def ledger_tables(schema: str | None) -> tuple[MetaData, Table, Table]:
    """The ledger (one row per idempotency key) and the log of charge calls."""
    metadata = MetaData(schema=schema)
    ledger = Table(
        "sandbox_ledger",
        metadata,
        Column("idempotency_key", String(255), primary_key=True),
        Column("payment_id", String(255), nullable=False, index=True),
        Column("provider_id", String(255), nullable=False),
        Column("amount", Numeric(16, 4), nullable=False),
        Column("currency", String(3), nullable=False),
    )
    calls = Table(
        "sandbox_charge_calls",
        metadata,
        Column("seq", Integer, primary_key=True, autoincrement=True),
        Column("payment_id", String(255), nullable=False, index=True),
        Column("worker", String(255), nullable=False),
    )
    return metadata, ledger, calls


class LedgerGateway(SandboxGateway):
    """The sandbox, with charges in a shared PostgreSQL ledger (see the module docstring)."""

    def __init__(self, engine: Engine, schema: str | None) -> None:
        super().__init__()
        self._engine = engine
        _, self._ledger, self._calls = ledger_tables(schema)
        self._worker = os.environ.get("PAYKIT_TEST_WORKER", f"pid-{os.getpid()}")

    def charge(self, request: ChargeRequest) -> GatewayResult:
        """Move the money once per idempotency key; answer with the ledger's entry."""
        with self._engine.begin() as connection:
            connection.execute(
                insert(self._calls).values(payment_id=request.payment_id, worker=self._worker)
            )
        time.sleep(LATENCY)  # on the wire: a worker killed now has sent the charge
        provider_id = f"pi_ledger_{request.payment_id}"
        with self._engine.begin() as connection:
            connection.execute(
                pg_insert(self._ledger)
                .values(
                    idempotency_key=request.idempotency_key,
                    payment_id=request.payment_id,
                    provider_id=provider_id,
                    amount=request.amount.amount,
                    currency=request.amount.currency,
                )
                .on_conflict_do_nothing()
            )
        return GatewayResult(
            outcome=GatewayOutcome.SUCCEEDED, provider_id=provider_id, amount=request.amount
        )

    def retrieve_payment(self, lookup: PaymentLookup) -> GatewayResult:
        """What the ledger says about the payment: charged, or never received."""
        with self._engine.connect() as connection:
            row = connection.execute(
                select(self._ledger).where(self._ledger.c.payment_id == lookup.payment_id)
            ).first()
        if row is None:
            return GatewayResult(
                outcome=GatewayOutcome.DECLINED,
                decline_code=NOT_FOUND,
                message="The payment was never received by the provider.",
            )
        return GatewayResult(
            outcome=GatewayOutcome.SUCCEEDED,
            provider_id=row.provider_id,
            amount=lookup.amount,  # the ledger's row is this amount (the charge wrote it)
        )


def charges_per_payment(
    engine: Engine, schema: str | None
) -> tuple[dict[str, int], dict[str, int]]:
    """Per payment: rows in the ledger (money moved) and charge calls made."""
    _, ledger, calls = ledger_tables(schema)
    with engine.connect() as connection:
        moved: dict[str, int] = dict(
            connection.execute(
                select(ledger.c.payment_id, func.count()).group_by(ledger.c.payment_id)
            ).all()
        )
        called: dict[str, int] = dict(
            connection.execute(
                select(calls.c.payment_id, func.count()).group_by(calls.c.payment_id)
            ).all()
        )
    return moved, called


def charging_workers(engine: Engine, schema: str | None) -> set[str]:
    """The workers that made at least one charge call."""
    _, _, calls = ledger_tables(schema)
    with engine.connect() as connection:
        return set(connection.execute(select(calls.c.worker).distinct()).scalars())
