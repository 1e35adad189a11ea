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

from paykit.domain.payment import PaymentStatus
from paykit.domain.risk import ReviewState
from paykit.domain.webhook_inbox import InboxStatus
from paykit.storage.sql._codec import Amount, UtcDateTime, json_document

__all__ = [
    "HELD",
    "MAX_PREFIX_LENGTH",
    "NAMING_CONVENTION",
    "THREE_DS",
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

THREE_DS: Final = str(PaymentStatus.REQUIRES_ACTION)
"""The log status of a payment asked to authenticate, named literally like ``UNMATCHED``."""

HELD: Final = str(ReviewState.PENDING)
"""The review state of the queue's partial index, named literally like ``UNMATCHED``."""

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
    automation_actions: Table
    risk_assessments: Table
    risk_list_entries: Table
    outbox: Table
    customer_keys: Table


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
        # Added by revision 0004: what the provider tells fraud screening about the card.
        Column("card_country", String(2)),
        Column("card_fingerprint", String(ID_LENGTH)),
        Column("wallet", String(32)),
        # Added by revision 0007 (encryption at rest): the sealed token and display details.
        Column("provider_token", Text),
        Column("display", Text),
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
        # Added by revision 0011: the fraud screening context given to create_payment, kept
        # until the claim screens the payment (then NULL: the risk assessment holds it).
        Column("risk_context", json_document()),
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
    # Analytics' 3-D Secure figures: the payments ever asked to authenticate, found without
    # reading the whole log (several entries per payment). Partial, so it holds only those;
    # the query states the status literally, so that even a generic plan can use it.
    _index(transaction_log, "three_ds", "payment_id", where=text(f"new_status = '{THREE_DS}'"))

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

    # What automated refund policies did: one action per (policy, payment), so two workers
    # deciding about one payment conflict (the name must not end in "_provider_id").
    automation_actions = Table(
        f"{p}automation_actions",
        metadata,
        _seq(),
        _id(),
        Column("policy", String(64), nullable=False),
        Column("payment_id", String(ID_LENGTH), ForeignKey(payments.c.id), nullable=False),
        Column("mode", String(32), nullable=False),
        Column("status", String(32), nullable=False),
        Column("kind", String(32), nullable=False),
        Column("currency", String(3), nullable=False),
        Column("amount", Amount(), nullable=False),
        Column("reason", Text, nullable=False),
        Column("actor", String(ID_LENGTH), nullable=False),
        Column("refund_id", String(ID_LENGTH)),
        Column("error", Text),
        *_timestamps(),
        Column("lease_until", UtcDateTime()),
        Column("version", Integer, nullable=False),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
    )
    _index(automation_actions, "policy_payment", "policy", "payment_id", unique=True)
    # The daily caps (one policy's actions since midnight) and the listings by status.
    _index(automation_actions, "policy_created", "policy", "created_at")
    _index(automation_actions, "status", "status", "created_at")
    _index(automation_actions, "payment", "payment_id")

    risk_assessments, risk_list_entries = _fraud_tables(metadata, p)

    # Host events waiting for delivery (revision 0006), written with the change they describe.
    # No foreign key: delivered messages are purged on their own schedule. The dispatcher
    # reads the pending ones in commit order (seq), by status; listings by payment too.
    outbox = Table(
        f"{p}outbox",
        metadata,
        _seq(),
        _id(),
        Column("payment_id", String(ID_LENGTH), nullable=False),
        Column("event_type", String(64), nullable=False),
        Column("status", String(16), nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("next_attempt_at", UtcDateTime(), nullable=False),
        Column("last_error", Text),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("delivered_at", UtcDateTime()),
        Column("event", json_document(), nullable=False),
        Column("version", Integer, nullable=False),
    )
    _index(outbox, "status", "status", "seq")
    _index(outbox, "payment", "payment_id", "seq")

    return Tables(
        metadata,
        payment_methods,
        payments,
        refunds,
        transaction_log,
        disputes,
        webhook_inbox,
        idempotent_requests,
        automation_actions=automation_actions,
        risk_assessments=risk_assessments,
        risk_list_entries=risk_list_entries,
        outbox=outbox,
        customer_keys=_customer_keys_table(metadata, p),
    )


def _fraud_tables(metadata: MetaData, p: str) -> tuple[Table, Table]:
    """The fraud screening tables (revision 0004): assessments and the host's lists."""
    # Fraud screening (revision 0004): one assessment per payment, its id the payment's. No
    # foreign key, so a host can keep or prune its history apart from the payments. Velocity
    # counters count the rows of one customer, email, card or IP address in a time window:
    # one (key, created_at) index each.
    risk_assessments = Table(
        f"{p}risk_assessments",
        metadata,
        _seq(),
        _id(),
        Column("customer_id", String(ID_LENGTH), nullable=False),
        Column("currency", String(3), nullable=False),
        Column("amount", Amount(), nullable=False),
        Column("email", String(ID_LENGTH)),
        Column("email_domain", String(ID_LENGTH)),
        Column("ip_address", String(64)),
        Column("ip_country", String(2)),
        Column("billing_country", String(2)),
        Column("shipping_country", String(2)),
        Column("device_id", String(ID_LENGTH)),
        Column("account_age_days", Integer),
        Column("card_fingerprint", String(ID_LENGTH)),
        Column("card_country", String(2)),
        Column("wallet", String(32)),
        Column("decision", String(32)),
        Column("three_d_secure", Boolean, nullable=False),
        Column("score", Integer, nullable=False),
        Column("fired_rules", json_document(), nullable=False),
        Column("shadow_rules", json_document(), nullable=False),
        Column("declined", Boolean, nullable=False),
        Column("review_state", String(32), nullable=False),
        Column("reviewed_by", String(ID_LENGTH)),
        Column("reviewed_at", UtcDateTime()),
        Column("provider_risk_level", String(32)),
        Column("provider_risk_score", Integer),
        *_timestamps(),
        Column("version", Integer, nullable=False),
        # Added by revision 0007 (encryption at rest): the sealed personal fields; email, IP
        # address, device id and card fingerprint then hold blind indexes.
        Column("personal", Text),
        # Added by revision 0010: the card network's checks and PayPal's seller protection,
        # as the provider reported them after authorization (not personal: never sealed).
        Column("provider_cvc_check", String(32)),
        Column("provider_address_check", String(32)),
        Column("provider_seller_protection", String(32)),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
    )
    _index(risk_assessments, "customer", "customer_id", "created_at")
    _index(risk_assessments, "email", "email", "created_at")
    _index(risk_assessments, "card", "card_fingerprint", "created_at")
    _index(risk_assessments, "ip", "ip_address", "created_at")
    # The review queue (revision 0009): only the held payments, the one state ever listed.
    _index(risk_assessments, "held", "created_at", where=text(f"review_state = '{HELD}'"))
    _index(risk_assessments, "created_at", "created_at")

    # The host's block and allow lists: a value is on a list once (the name must not end in
    # "_provider_id": an entry added twice at once is a conflict to retry).
    risk_list_entries = Table(
        f"{p}risk_list_entries",
        metadata,
        _seq(),
        _id(),
        Column("list_name", String(64), nullable=False),
        Column("value", String(ID_LENGTH), nullable=False),
        Column("note", Text, nullable=False),
        Column("created_by", String(ID_LENGTH), nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("version", Integer, nullable=False),
        # Added by revision 0007 (encryption at rest): the sealed value; ``value`` then holds
        # its blind index.
        Column("sealed_value", Text),
    )
    _index(risk_list_entries, "entry", "list_name", "value", unique=True)

    return risk_assessments, risk_list_entries


def _customer_keys_table(metadata: MetaData, p: str) -> Table:
    """Per-customer data keys, wrapped by the host's key ring (revision 0007).

    Erasing a customer destroys their key: ``wrapped_key`` becomes NULL and
    ``destroyed_at`` records when. One live key per customer (a partial unique index: two
    writers creating the first key race, and the second reads the first's).
    """
    customer_keys = Table(
        f"{p}customer_keys",
        metadata,
        _seq(),
        _id(),
        Column("customer_id", String(ID_LENGTH), nullable=False),
        Column("wrapped_key", Text),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("destroyed_at", UtcDateTime()),
        Column("version", Integer, nullable=False),
    )
    _index(customer_keys, "live", "customer_id", unique=True, where=text("destroyed_at IS NULL"))
    return customer_keys
