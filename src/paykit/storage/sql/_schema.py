"""The tables, as SQLAlchemy Core ``Table`` objects on one ``MetaData``.

:func:`build_tables` makes a fresh set for one table-name prefix and schema, so a host
application can put paykit's tables beside its own (``table_prefix="paykit_"``) or in a
schema of their own (``schema="payments"``, PostgreSQL). The migrations in
``migrations/versions`` create exactly these; a test compares the two.

Every table has ``seq``, an auto-incrementing surrogate primary key that records the order
rows were inserted in, and ``id``, paykit's own id, unique. Listings are "oldest first":
by ``created_at`` (the webhook inbox: ``received_at``), ties broken by ``seq`` -- the order
the reference in-memory store gives -- and the audit log is listed by ``seq`` alone, the
order it was written. Expired idempotent requests are listed by ``expires_at``, then
``seq``.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TextClause,
    text,
)

from paykit.domain.webhook_inbox import InboxStatus
from paykit.storage.sql._codec import Amount, UtcDateTime, json_document

__all__ = [
    "MAX_PREFIX_LENGTH",
    "NAMING_CONVENTION",
    "UNMATCHED",
    "Tables",
    "build_tables",
    "check_table_prefix",
]

NAMING_CONVENTION: Final = {
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}
"""Constraint and index names include the (prefixed) table name, so two installs with
different prefixes in one schema never collide."""

ID_LENGTH: Final = 255
"""Ids, keys and provider ids: as long as the service accepts."""

MAX_PREFIX_LENGTH: Final = 24
"""Longest table prefix: every derived name then fits PostgreSQL's 63 characters."""

UNMATCHED: Final = str(InboxStatus.UNMATCHED)
"""The inbox status the partial indexes (and the queries using them) name literally."""

_PREFIX: Final = re.compile(rf"[A-Za-z0-9_]{{0,{MAX_PREFIX_LENGTH}}}")


class Tables(NamedTuple):
    """paykit's tables and the ``MetaData`` that holds them."""

    metadata: MetaData
    payment_methods: Table
    payments: Table
    refunds: Table
    transaction_log: Table
    disputes: Table
    webhook_inbox: Table
    idempotent_requests: Table


def _seq() -> Column[int]:
    """The insertion-order primary key: ``BIGINT`` identity, SQLite's ``INTEGER`` rowid."""
    return Column(
        "seq",
        BigInteger().with_variant(Integer(), "sqlite"),
        Identity(),
        primary_key=True,
    )


def _id() -> Column[str]:
    return Column("id", String(ID_LENGTH), nullable=False, unique=True)


def _timestamps() -> list[Column[object]]:
    return [
        Column("created_at", UtcDateTime(), nullable=False),
        Column("updated_at", UtcDateTime(), nullable=False),
    ]


def _reconcile_columns() -> list[Column[object]]:
    """A sweep's bookkeeping on payments and refunds (revision 0002, hence the default)."""
    return [
        Column("reconcile_attempts", Integer, nullable=False, server_default="0"),
        Column("next_reconcile_at", UtcDateTime()),
    ]


def _index(
    table: Table, name: str, *columns: str, unique: bool = False, where: TextClause | None = None
) -> Index:
    """An index named ``ix_<table>_<name>`` (``uq_`` if unique), partial if ``where`` is given.

    Names are short on purpose: with the longest allowed table prefix they stay within
    PostgreSQL's 63-character limit on identifiers.
    """
    return Index(
        f"{'uq' if unique else 'ix'}_{table.name}_{name}",
        *(table.c[column] for column in columns),
        unique=unique,
        postgresql_where=where,
        sqlite_where=where,
    )


def check_table_prefix(table_prefix: str) -> None:
    """Refuse a prefix that is not a plain identifier part or would make names too long."""
    if not _PREFIX.fullmatch(table_prefix):
        msg = (
            f"table_prefix {table_prefix!r} may hold only letters, digits and underscores, "
            f"at most {MAX_PREFIX_LENGTH} of them"
        )
        raise ValueError(msg)


def build_tables(*, schema: str | None = None, table_prefix: str = "") -> Tables:
    """The tables named ``<table_prefix><name>`` in ``schema`` (default: the default)."""
    check_table_prefix(table_prefix)
    metadata = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)
    p = table_prefix

    payment_methods = Table(
        f"{p}payment_methods",
        metadata,
        _seq(),
        _id(),
        Column("customer_id", String(ID_LENGTH), nullable=False),
        Column("type", String(32), nullable=False),
        Column("provider", String(64), nullable=False),
        Column("provider_payment_method_id", String(ID_LENGTH), nullable=False),
        Column("brand", String(32)),
        Column("last4", String(4)),
        Column("exp_month", Integer),
        Column("exp_year", Integer),
        Column("is_default", Boolean, nullable=False),
        Column("is_active", Boolean, nullable=False),
        Column("metadata", json_document(), nullable=False),
        *_timestamps(),
        Column("version", Integer, nullable=False),
    )
    _index(payment_methods, "customer", "customer_id", "created_at")
    # At most one default method per customer: a partial unique index on both databases.
    _index(payment_methods, "one_default", "customer_id", unique=True, where=text("is_default"))
    _index(payment_methods, "provider_token", "provider", "provider_payment_method_id")

    amounts = ("amount", "captured_amount", "refunded_amount", "refund_reserved_amount")
    payments = Table(
        f"{p}payments",
        metadata,
        _seq(),
        _id(),
        Column("customer_id", String(ID_LENGTH), nullable=False),
        Column("order_id", String(ID_LENGTH), nullable=False),
        Column("payment_method_id", String(ID_LENGTH), nullable=False),
        Column("payment_method_type", String(32), nullable=False),
        Column("provider", String(64), nullable=False),
        Column("currency", String(3), nullable=False),
        Column("amount", Amount(), nullable=False),
        Column("capture", Boolean, nullable=False),
        Column("status", String(32), nullable=False),
        Column("captured_amount", Amount(), nullable=False),
        Column("refunded_amount", Amount(), nullable=False),
        Column("refund_reserved_amount", Amount(), nullable=False),
        # Added by revision 0002: a server default for the rows already there, and a
        # column-level check, which SQLite can add to (and drop with) the column.
        Column(
            "chargeback_amount",
            Amount(),
            CheckConstraint("chargeback_amount >= 0", name="chargeback_not_negative"),
            nullable=False,
            server_default="0",
        ),
        Column("provider_payment_id", String(ID_LENGTH)),
        Column("description", Text, nullable=False),
        Column("metadata", json_document(), nullable=False),
        Column("idempotency_key", String(ID_LENGTH)),
        Column("attempt_count", Integer, nullable=False),
        Column("failure_code", String(ID_LENGTH)),
        Column("failure_message", Text),
        Column("next_action", json_document()),
        *_timestamps(),
        Column("submitted_at", UtcDateTime()),
        Column("completed_at", UtcDateTime()),
        *_reconcile_columns(),
        Column("version", Integer, nullable=False),
        CheckConstraint(
            " AND ".join(f"{name} >= 0" for name in amounts), name="amounts_not_negative"
        ),
        # DESIGN.md section 4, kept by the database too: refunds never exceed the capture.
        CheckConstraint(
            "refunded_amount + refund_reserved_amount <= captured_amount", name="refund_ceiling"
        ),
    )
    _index(payments, "idempotency", "customer_id", "idempotency_key", unique=True)
    _index(payments, "customer", "customer_id", "created_at")
    _index(payments, "order", "order_id")
    _index(payments, "status", "status")
    _index(payments, "provider_id", "provider", "provider_payment_id", unique=True)
    _index(payments, "created_at", "created_at")
    # The reconciliation sweep: one status at a time, least recently updated first.
    _index(payments, "reconcile", "status", "updated_at")

    refunds = Table(
        f"{p}refunds",
        metadata,
        _seq(),
        _id(),
        Column(
            "payment_id",
            String(ID_LENGTH),
            ForeignKey(payments.c.id),
            nullable=False,
        ),
        Column("currency", String(3), nullable=False),
        Column("amount", Amount(), nullable=False),
        Column("reason", Text, nullable=False),
        Column("status", String(32), nullable=False),
        Column("provider_refund_id", String(ID_LENGTH)),
        Column("metadata", json_document(), nullable=False),
        Column("idempotency_key", String(ID_LENGTH)),
        Column("attempt_count", Integer, nullable=False),
        Column("failure_code", String(ID_LENGTH)),
        Column("failure_message", Text),
        *_timestamps(),
        Column("submitted_at", UtcDateTime()),
        Column("completed_at", UtcDateTime()),
        *_reconcile_columns(),
        Column("version", Integer, nullable=False),
        CheckConstraint("amount > 0", name="amount_positive"),
    )
    _index(refunds, "idempotency", "payment_id", "idempotency_key", unique=True)
    # Leads with the provider's id, so it also serves lookups by that id alone (webhooks).
    _index(refunds, "provider_id", "provider_refund_id", "payment_id", unique=True)
    _index(refunds, "status", "status")
    _index(refunds, "created_at", "created_at")
    _index(refunds, "reconcile", "status", "updated_at")

    transaction_log = Table(
        f"{p}transaction_log",
        metadata,
        _seq(),
        _id(),
        Column(
            "payment_id",
            String(ID_LENGTH),
            ForeignKey(payments.c.id),
            nullable=False,
        ),
        Column("refund_id", String(ID_LENGTH)),
        Column("log_type", String(32), nullable=False),
        Column("message", Text, nullable=False),
        Column("currency", String(3)),
        Column("amount", Amount()),
        Column("previous_status", String(32)),
        Column("new_status", String(32)),
        Column("data", json_document(), nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
    )
    _index(transaction_log, "payment", "payment_id", "seq")
    _index(transaction_log, "created_at", "created_at")

    disputes = Table(
        f"{p}disputes",
        metadata,
        _seq(),
        _id(),
        Column(
            "payment_id",
            String(ID_LENGTH),
            ForeignKey(payments.c.id),
            nullable=False,
        ),
        Column("provider", String(64), nullable=False),
        Column("provider_dispute_id", String(ID_LENGTH), nullable=False),
        Column("currency", String(3), nullable=False),
        Column("amount", Amount(), nullable=False),
        Column("reason", Text, nullable=False),
        Column("status", String(32), nullable=False),
        Column("provider_status", String(ID_LENGTH), nullable=False),
        Column("evidence_due_by", UtcDateTime()),
        *_timestamps(),
        Column("closed_at", UtcDateTime()),
        Column("version", Integer, nullable=False),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
    )
    # A conflict, not an integrity error, when taken twice (two deliveries of one dispute
    # racing): the name must not end in "_provider_id" (see _uow.is_conflict).
    _index(disputes, "provider_dispute", "provider", "provider_dispute_id", unique=True)
    _index(disputes, "payment", "payment_id", "created_at")

    unmatched = text(f"status = '{UNMATCHED}'")
    webhook_inbox = Table(
        f"{p}webhook_inbox",
        metadata,
        _seq(),
        _id(),
        Column("provider", String(64), nullable=False),
        Column("event_id", String(ID_LENGTH), nullable=False),
        Column("event_type", String(64), nullable=False),
        Column("provider_type", String(ID_LENGTH), nullable=False),
        Column("status", String(32), nullable=False),
        # No foreign key: events are outside input and may name a payment of someone else's.
        Column("payment_id", String(ID_LENGTH)),
        Column("provider_payment_id", String(ID_LENGTH)),
        Column("provider_refund_id", String(ID_LENGTH)),
        Column("received_at", UtcDateTime(), nullable=False),
        Column("applied_at", UtcDateTime()),
        Column("payload", json_document(), nullable=False),
        Column("version", Integer, nullable=False),
    )
    _index(webhook_inbox, "event", "event_id", "provider", unique=True)
    _index(webhook_inbox, "payment", "payment_id", "received_at")
    # Unmatched entries only (few, unless the account also serves other applications):
    # the oldest-first listing and the lookups when a payment or refund turns up. The
    # queries repeat the condition literally, so that even a generic plan can use them.
    _index(webhook_inbox, "unmatched", "received_at", where=unmatched)
    _index(webhook_inbox, "unmatched_pay", "provider_payment_id", where=unmatched)
    _index(webhook_inbox, "unmatched_refund", "provider_refund_id", where=unmatched)

    # The API's Idempotency-Key: what a replay is answered with, until it expires.
    idempotent_requests = Table(
        f"{p}idempotent_requests",
        metadata,
        _seq(),
        _id(),
        Column("owner", String(ID_LENGTH), nullable=False),
        Column("idempotency_key", String(ID_LENGTH), nullable=False),
        Column("fingerprint", String(ID_LENGTH), nullable=False),
        Column("status", String(32), nullable=False),
        Column("response_status", Integer),
        Column("response_body", Text),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("locked_until", UtcDateTime()),
        Column("expires_at", UtcDateTime(), nullable=False),
        Column("version", Integer, nullable=False),
    )
    # Two requests claiming one key: the second insert is refused, a conflict to retry (the
    # name must not end in "_provider_id", see _uow.is_conflict).
    _index(idempotent_requests, "key", "owner", "idempotency_key", unique=True)
    # The sweep: the longest expired first.
    _index(idempotent_requests, "expires", "expires_at")

    return Tables(
        metadata,
        payment_methods,
        payments,
        refunds,
        transaction_log,
        disputes,
        webhook_inbox,
        idempotent_requests,
    )
