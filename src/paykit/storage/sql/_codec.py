"""Records to rows and back, and the column types that keep values exact on every database.

* Money: an amount column per ``Money`` field plus one ``currency`` column per row. The
  amount is ``NUMERIC(16, 4)`` on PostgreSQL (and any database with an exact decimal type);
  SQLite has none -- its ``NUMERIC`` is a float in disguise -- so there it is an ``INTEGER``
  counting ten-thousandths, the smallest minor unit of any ISO 4217 currency (CLF, UYW).
  Sixteen digits hold paykit's :data:`~paykit.money.MAX_MINOR_UNITS` at every exponent, and
  the scaled integer stays below 2**63. Nothing is ever a float, and the amount read back
  is the same ``Decimal`` at the currency's exponent.
* Datetimes: ``TIMESTAMP WITH TIME ZONE`` on PostgreSQL, read back in UTC whatever the
  session's time zone. SQLite stores fixed-width ISO 8601 text in UTC with microseconds
  (``2024-03-01 09:30:15.123456+00:00``), so text order is time order and the value read
  back is aware and equal to the one written. A naive datetime is refused.
* JSON: ``JSONB`` on PostgreSQL, JSON text elsewhere, for metadata, the (secret-free) next
  action, the audit log's data and the webhook inbox's payloads. Log data and payloads are
  frozen in memory (read-only mappings, tuples); they are thawed to plain JSON on the way
  in and frozen again on the way out.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Numeric, String, Table
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import RowMapping
from sqlalchemy.types import TypeDecorator, TypeEngine

from paykit.domain.automation import ActionKind, ActionMode, ActionStatus, AutomationAction
from paykit.domain.dispute import Dispute, DisputeStatus
from paykit.domain.events import Event, EventType
from paykit.domain.idempotent_request import IdempotentRequest, IdempotentRequestStatus
from paykit.domain.outbox import OutboxMessage, OutboxStatus
from paykit.domain.payment import NextAction, Payment, PaymentStatus
from paykit.domain.payment_method import PaymentMethod, PaymentMethodType
from paykit.domain.refund import Refund, RefundStatus
from paykit.domain.risk import ReviewState, RiskAction, RiskAssessment, RiskListEntry
from paykit.domain.risk_context import RiskContext
from paykit.domain.transaction_log import LogType, TransactionLogEntry, thaw
from paykit.domain.webhook_inbox import InboxEntry, InboxStatus
from paykit.money import MAX_MINOR_UNITS, Money

__all__ = [
    "AMOUNT_PRECISION",
    "AMOUNT_SCALE",
    "Amount",
    "UtcDateTime",
    "automation_action_from_row",
    "automation_action_row",
    "dispute_from_row",
    "dispute_row",
    "entry_from_row",
    "entry_row",
    "idempotent_request_from_row",
    "idempotent_request_row",
    "inbox_entry_from_row",
    "inbox_entry_row",
    "json_document",
    "method_from_row",
    "method_row",
    "outbox_message_from_row",
    "outbox_message_row",
    "outbox_progress_row",
    "payment_from_row",
    "payment_row",
    "refund_from_row",
    "refund_row",
    "risk_assessment_from_row",
    "risk_assessment_row",
    "risk_list_entry_from_row",
    "risk_list_entry_row",
]

AMOUNT_SCALE: Final = 4
"""Decimal places stored: the largest minor-unit exponent of any ISO 4217 currency."""

AMOUNT_PRECISION: Final = len(str(MAX_MINOR_UNITS)) + AMOUNT_SCALE
"""Total digits stored: twelve for the largest amount at exponent 0, plus the scale."""


class Amount(TypeDecorator[Decimal]):
    """An exact, non-negative amount: ``NUMERIC(16, 4)``, or scaled ``INTEGER`` on SQLite."""

    impl = Numeric(AMOUNT_PRECISION, AMOUNT_SCALE, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """``BIGINT`` on SQLite (no exact decimal there), ``NUMERIC`` everywhere else."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(AMOUNT_PRECISION, AMOUNT_SCALE, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Decimal | int | None:
        """Pass the ``Decimal`` through, or scale it to an exact integer on SQLite."""
        if value is None or dialect.name != "sqlite":
            return value
        scaled = value.scaleb(AMOUNT_SCALE)
        units = int(scaled)
        if units != scaled:
            msg = f"{value} has more than {AMOUNT_SCALE} decimal places"
            raise ValueError(msg)
        return units

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:  # noqa: ANN401 - the driver's value
        """The stored value as a ``Decimal`` with :data:`AMOUNT_SCALE` places."""
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(value).scaleb(-AMOUNT_SCALE)
        return Decimal(value)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored in UTC; text with microseconds on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Fixed-width ISO 8601 text on SQLite, ``TIMESTAMP WITH TIME ZONE`` elsewhere."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | str | None:
        """Refuse naive datetimes; convert to UTC (and to text on SQLite)."""
        if value is None:
            return None
        if value.utcoffset() is None:
            msg = f"{value!r} is naive; paykit stores timezone-aware datetimes only"
            raise ValueError(msg)
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.isoformat(sep=" ", timespec="microseconds")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:  # noqa: ANN401 - the driver's value
        """An aware datetime in UTC, whatever the session's time zone."""
        del dialect
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)  # noqa: S101 - narrows the driver's value for mypy
        if value.tzinfo is UTC:
            return value
        return value.astimezone(UTC)


def json_document() -> TypeEngine[Any]:
    """A JSON column: ``JSONB`` on PostgreSQL, JSON text elsewhere; ``None`` is SQL ``NULL``."""
    return JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def _currency_of(*amounts: Money) -> str:
    """The one currency of a record's amounts; a row stores it once."""
    currency = amounts[0].currency
    for money in amounts[1:]:
        if money.currency != currency:
            msg = f"amounts in {currency} and {money.currency} on one record cannot be stored"
            raise ValueError(msg)
    return currency


def _next_action_json(action: NextAction | None) -> dict[str, Any] | None:
    """The next action without its client secret: secrets are never stored."""
    if action is None:
        return None
    return {
        "type": action.type,
        "redirect_url": action.redirect_url,
        "instructions": dict(action.instructions),
    }


def _next_action(data: Mapping[str, Any] | None) -> NextAction | None:
    if data is None:
        return None
    return NextAction(
        type=data["type"],
        redirect_url=data.get("redirect_url"),
        instructions=data.get("instructions") or {},
    )


# -- payment methods -------------------------------------------------------------------------


def method_row(method: PaymentMethod, version: int) -> dict[str, Any]:
    """The row of ``method`` as it will be stored at ``version``."""
    return {
        "id": method.id,
        "customer_id": method.customer_id,
        "type": str(method.type),
        "provider": method.provider,
        "provider_payment_method_id": method.provider_payment_method_id,
        "brand": method.brand,
        "last4": method.last4,
        "exp_month": method.exp_month,
        "exp_year": method.exp_year,
        "card_country": method.card_country,
        "card_fingerprint": method.card_fingerprint,
        "wallet": method.wallet,
        "is_default": method.is_default,
        "is_active": method.is_active,
        "metadata": method.metadata,
        "created_at": method.created_at,
        "updated_at": method.updated_at,
        "version": version,
    }


def method_from_row(row: RowMapping) -> PaymentMethod:
    """The payment method a row holds."""
    return PaymentMethod(
        id=row["id"],
        customer_id=row["customer_id"],
        type=PaymentMethodType(row["type"]),
        provider=row["provider"],
        provider_payment_method_id=row["provider_payment_method_id"],
        brand=row["brand"],
        last4=row["last4"],
        exp_month=row["exp_month"],
        exp_year=row["exp_year"],
        card_country=row["card_country"],
        card_fingerprint=row["card_fingerprint"],
        wallet=row["wallet"],
        is_default=bool(row["is_default"]),
        is_active=bool(row["is_active"]),
        metadata=row["metadata"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
    )


# -- payments --------------------------------------------------------------------------------


def payment_row(payment: Payment, version: int) -> dict[str, Any]:
    """The row of ``payment`` as it will be stored at ``version``."""
    currency = _currency_of(
        payment.amount,
        payment.captured_amount,
        payment.refunded_amount,
        payment.refund_reserved_amount,
        payment.chargeback_amount,
    )
    return {
        "id": payment.id,
        "customer_id": payment.customer_id,
        "order_id": payment.order_id,
        "payment_method_id": payment.payment_method_id,
        "payment_method_type": str(payment.payment_method_type),
        "provider": payment.provider,
        "currency": currency,
        "amount": payment.amount.amount,
        "capture": payment.capture,
        "status": str(payment.status),
        "captured_amount": payment.captured_amount.amount,
        "refunded_amount": payment.refunded_amount.amount,
        "refund_reserved_amount": payment.refund_reserved_amount.amount,
        "chargeback_amount": payment.chargeback_amount.amount,
        "provider_payment_id": payment.provider_payment_id,
        "description": payment.description,
        "metadata": payment.metadata,
        "idempotency_key": payment.idempotency_key,
        "attempt_count": payment.attempt_count,
        "failure_code": payment.failure_code,
        "failure_message": payment.failure_message,
        "next_action": _next_action_json(payment.next_action),
        "created_at": payment.created_at,
        "updated_at": payment.updated_at,
        "submitted_at": payment.submitted_at,
        "completed_at": payment.completed_at,
        "reconcile_attempts": payment.reconcile_attempts,
        "next_reconcile_at": payment.next_reconcile_at,
        "version": version,
        "risk_context": None if payment.risk_context is None else payment.risk_context.document(),
    }


def payment_from_row(row: RowMapping) -> Payment:
    """The payment a row holds."""
    currency = row["currency"]
    return Payment(
        id=row["id"],
        customer_id=row["customer_id"],
        order_id=row["order_id"],
        payment_method_id=row["payment_method_id"],
        payment_method_type=PaymentMethodType(row["payment_method_type"]),
        provider=row["provider"],
        amount=Money(row["amount"], currency),
        capture=bool(row["capture"]),
        status=PaymentStatus(row["status"]),
        captured_amount=Money(row["captured_amount"], currency),
        refunded_amount=Money(row["refunded_amount"], currency),
        refund_reserved_amount=Money(row["refund_reserved_amount"], currency),
        chargeback_amount=Money(row["chargeback_amount"], currency),
        provider_payment_id=row["provider_payment_id"],
        description=row["description"],
        metadata=row["metadata"],
        idempotency_key=row["idempotency_key"],
        attempt_count=row["attempt_count"],
        failure_code=row["failure_code"],
        failure_message=row["failure_message"],
        next_action=_next_action(row["next_action"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        submitted_at=row["submitted_at"],
        completed_at=row["completed_at"],
        reconcile_attempts=row["reconcile_attempts"],
        next_reconcile_at=row["next_reconcile_at"],
        version=row["version"],
        # ``get``: an event stored before revision 0011 carries a payment without one.
        risk_context=_risk_context(row.get("risk_context")),
    )


def _risk_context(document: Mapping[str, Any] | None) -> RiskContext | None:
    return None if document is None else RiskContext.from_document(document)


# -- refunds ---------------------------------------------------------------------------------


def refund_row(refund: Refund, version: int) -> dict[str, Any]:
    """The row of ``refund`` as it will be stored at ``version``."""
    return {
        "id": refund.id,
        "payment_id": refund.payment_id,
        "currency": refund.amount.currency,
        "amount": refund.amount.amount,
        "reason": refund.reason,
        "status": str(refund.status),
        "provider_refund_id": refund.provider_refund_id,
        "metadata": refund.metadata,
        "idempotency_key": refund.idempotency_key,
        "attempt_count": refund.attempt_count,
        "failure_code": refund.failure_code,
        "failure_message": refund.failure_message,
        "created_at": refund.created_at,
        "updated_at": refund.updated_at,
        "submitted_at": refund.submitted_at,
        "completed_at": refund.completed_at,
        "reconcile_attempts": refund.reconcile_attempts,
        "next_reconcile_at": refund.next_reconcile_at,
        "version": version,
    }


def refund_from_row(row: RowMapping) -> Refund:
    """The refund a row holds."""
    return Refund(
        id=row["id"],
        payment_id=row["payment_id"],
        amount=Money(row["amount"], row["currency"]),
        reason=row["reason"],
        status=RefundStatus(row["status"]),
        provider_refund_id=row["provider_refund_id"],
        metadata=row["metadata"],
        idempotency_key=row["idempotency_key"],
        attempt_count=row["attempt_count"],
        failure_code=row["failure_code"],
        failure_message=row["failure_message"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        submitted_at=row["submitted_at"],
        completed_at=row["completed_at"],
        reconcile_attempts=row["reconcile_attempts"],
        next_reconcile_at=row["next_reconcile_at"],
        version=row["version"],
    )


# -- disputes --------------------------------------------------------------------------------


def dispute_row(dispute: Dispute, version: int) -> dict[str, Any]:
    """The row of ``dispute`` as it will be stored at ``version``."""
    return {
        "id": dispute.id,
        "payment_id": dispute.payment_id,
        "provider": dispute.provider,
        "provider_dispute_id": dispute.provider_dispute_id,
        "currency": dispute.amount.currency,
        "amount": dispute.amount.amount,
        "reason": dispute.reason,
        "status": str(dispute.status),
        "provider_status": dispute.provider_status,
        "evidence_due_by": dispute.evidence_due_by,
        "created_at": dispute.created_at,
        "updated_at": dispute.updated_at,
        "closed_at": dispute.closed_at,
        "version": version,
    }


def dispute_from_row(row: RowMapping) -> Dispute:
    """The dispute a row holds."""
    return Dispute(
        id=row["id"],
        payment_id=row["payment_id"],
        provider=row["provider"],
        provider_dispute_id=row["provider_dispute_id"],
        amount=Money(row["amount"], row["currency"]),
        reason=row["reason"],
        status=DisputeStatus(row["status"]),
        provider_status=row["provider_status"],
        evidence_due_by=row["evidence_due_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        closed_at=row["closed_at"],
        version=row["version"],
    )


# -- the webhook inbox -----------------------------------------------------------------------


def inbox_entry_row(entry: InboxEntry, version: int) -> dict[str, Any]:
    """The row of an inbox entry at ``version``; its frozen ``payload`` is thawed to JSON."""
    return {
        "id": entry.id,
        "provider": entry.provider,
        "event_id": entry.event_id,
        "event_type": entry.event_type,
        "provider_type": entry.provider_type,
        "status": str(entry.status),
        "payment_id": entry.payment_id,
        "provider_payment_id": entry.provider_payment_id,
        "provider_refund_id": entry.provider_refund_id,
        "received_at": entry.received_at,
        "applied_at": entry.applied_at,
        "payload": thaw(entry.payload, "webhook payload"),
        "version": version,
    }


def inbox_entry_from_row(row: RowMapping) -> InboxEntry:
    """The inbox entry a row holds; ``payload`` is frozen again by the entry's converter."""
    return InboxEntry(
        id=row["id"],
        provider=row["provider"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        provider_type=row["provider_type"],
        status=InboxStatus(row["status"]),
        payment_id=row["payment_id"],
        provider_payment_id=row["provider_payment_id"],
        provider_refund_id=row["provider_refund_id"],
        received_at=row["received_at"],
        applied_at=row["applied_at"],
        payload=row["payload"],
        version=row["version"],
    )


# -- idempotent requests ---------------------------------------------------------------------


def idempotent_request_row(request: IdempotentRequest, version: int) -> dict[str, Any]:
    """The row of an idempotent request as it will be stored at ``version``."""
    return {
        "id": request.id,
        "owner": request.owner,
        "idempotency_key": request.key,
        "fingerprint": request.fingerprint,
        "status": str(request.status),
        "response_status": request.response_status,
        "response_body": request.response_body,
        "created_at": request.created_at,
        "locked_until": request.locked_until,
        "expires_at": request.expires_at,
        "version": version,
    }


def idempotent_request_from_row(row: RowMapping) -> IdempotentRequest:
    """The idempotent request a row holds."""
    return IdempotentRequest(
        id=row["id"],
        owner=row["owner"],
        key=row["idempotency_key"],
        fingerprint=row["fingerprint"],
        status=IdempotentRequestStatus(row["status"]),
        response_status=row["response_status"],
        response_body=row["response_body"],
        created_at=row["created_at"],
        locked_until=row["locked_until"],
        expires_at=row["expires_at"],
        version=row["version"],
    )


# -- automation actions ----------------------------------------------------------------------


def automation_action_row(action: AutomationAction, version: int) -> dict[str, Any]:
    """The row of an automation action as it will be stored at ``version``."""
    return {
        "id": action.id,
        "policy": action.policy,
        "payment_id": action.payment_id,
        "mode": str(action.mode),
        "status": str(action.status),
        "kind": str(action.kind),
        "currency": action.amount.currency,
        "amount": action.amount.amount,
        "reason": action.reason,
        "actor": action.actor,
        "refund_id": action.refund_id,
        "error": action.error,
        "created_at": action.created_at,
        "updated_at": action.updated_at,
        "lease_until": action.lease_until,
        "version": version,
    }


def automation_action_from_row(row: RowMapping) -> AutomationAction:
    """The automation action a row holds."""
    return AutomationAction(
        id=row["id"],
        policy=row["policy"],
        payment_id=row["payment_id"],
        mode=ActionMode(row["mode"]),
        status=ActionStatus(row["status"]),
        kind=ActionKind(row["kind"]),
        amount=Money(row["amount"], row["currency"]),
        reason=row["reason"],
        actor=row["actor"],
        refund_id=row["refund_id"],
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        lease_until=row["lease_until"],
        version=row["version"],
    )


# -- the audit log ---------------------------------------------------------------------------


def entry_row(entry: TransactionLogEntry) -> dict[str, Any]:
    """The row of a log entry; its frozen ``data`` is thawed to plain JSON."""
    amount = entry.amount
    return {
        "id": entry.id,
        "payment_id": entry.payment_id,
        "refund_id": entry.refund_id,
        "log_type": str(entry.log_type),
        "message": entry.message,
        "currency": None if amount is None else amount.currency,
        "amount": None if amount is None else amount.amount,
        "previous_status": entry.previous_status,
        "new_status": entry.new_status,
        "data": thaw(entry.data),
        "created_at": entry.created_at,
    }


def entry_from_row(row: RowMapping) -> TransactionLogEntry:
    """The log entry a row holds; ``data`` is frozen again by the entry's converter."""
    amount = row["amount"]
    return TransactionLogEntry(
        id=row["id"],
        payment_id=row["payment_id"],
        log_type=LogType(row["log_type"]),
        message=row["message"],
        created_at=row["created_at"],
        refund_id=row["refund_id"],
        amount=None if amount is None else Money(amount, row["currency"]),
        previous_status=row["previous_status"],
        new_status=row["new_status"],
        data=row["data"],
    )


# -- fraud screening -------------------------------------------------------------------------


def risk_assessment_row(assessment: RiskAssessment, version: int) -> dict[str, Any]:
    """The row of a risk assessment as it will be stored at ``version``."""
    return {
        "id": assessment.id,
        "customer_id": assessment.customer_id,
        "currency": assessment.amount.currency,
        "amount": assessment.amount.amount,
        "email": assessment.email,
        "email_domain": assessment.email_domain,
        "ip_address": assessment.ip_address,
        "ip_country": assessment.ip_country,
        "billing_country": assessment.billing_country,
        "shipping_country": assessment.shipping_country,
        "device_id": assessment.device_id,
        "account_age_days": assessment.account_age_days,
        "card_fingerprint": assessment.card_fingerprint,
        "card_country": assessment.card_country,
        "wallet": assessment.wallet,
        "decision": None if assessment.decision is None else str(assessment.decision),
        "three_d_secure": assessment.three_d_secure,
        "score": assessment.score,
        "fired_rules": list(assessment.fired_rules),
        "shadow_rules": list(assessment.shadow_rules),
        "declined": assessment.declined,
        "review_state": str(assessment.review_state),
        "reviewed_by": assessment.reviewed_by,
        "reviewed_at": assessment.reviewed_at,
        "provider_risk_level": assessment.provider_risk_level,
        "provider_risk_score": assessment.provider_risk_score,
        "provider_cvc_check": assessment.provider_cvc_check,
        "provider_address_check": assessment.provider_address_check,
        "provider_seller_protection": assessment.provider_seller_protection,
        "created_at": assessment.created_at,
        "updated_at": assessment.updated_at,
        "version": version,
    }


def risk_assessment_from_row(row: RowMapping) -> RiskAssessment:
    """The risk assessment a row holds."""
    decision = row["decision"]
    return RiskAssessment(
        id=row["id"],
        customer_id=row["customer_id"],
        amount=Money(row["amount"], row["currency"]),
        email=row["email"],
        email_domain=row["email_domain"],
        ip_address=row["ip_address"],
        ip_country=row["ip_country"],
        billing_country=row["billing_country"],
        shipping_country=row["shipping_country"],
        device_id=row["device_id"],
        account_age_days=row["account_age_days"],
        card_fingerprint=row["card_fingerprint"],
        card_country=row["card_country"],
        wallet=row["wallet"],
        decision=None if decision is None else RiskAction(decision),
        three_d_secure=bool(row["three_d_secure"]),
        score=row["score"],
        fired_rules=tuple(row["fired_rules"]),
        shadow_rules=tuple(row["shadow_rules"]),
        declined=bool(row["declined"]),
        review_state=ReviewState(row["review_state"]),
        reviewed_by=row["reviewed_by"],
        reviewed_at=row["reviewed_at"],
        provider_risk_level=row["provider_risk_level"],
        provider_risk_score=row["provider_risk_score"],
        provider_cvc_check=row["provider_cvc_check"],
        provider_address_check=row["provider_address_check"],
        provider_seller_protection=row["provider_seller_protection"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
    )


def risk_list_entry_row(entry: RiskListEntry, version: int) -> dict[str, Any]:
    """The row of a list entry as it will be stored at ``version``."""
    return {
        "id": entry.id,
        "list_name": entry.list_name,
        "value": entry.value,
        "note": entry.note,
        "created_by": entry.created_by,
        "created_at": entry.created_at,
        "version": version,
    }


def risk_list_entry_from_row(row: RowMapping) -> RiskListEntry:
    """The list entry a row holds."""
    return RiskListEntry(
        id=row["id"],
        list_name=row["list_name"],
        value=row["value"],
        note=row["note"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        version=row["version"],
    )


# -- the event outbox ------------------------------------------------------------------------
#
# A message keeps its event as it was committed: the records it carries are encoded by their
# own row codecs above and stored as one JSON document, amounts as decimal strings and
# datetimes as ISO 8601 text. Reading it back, the tables' column types say which values to
# turn back into a Decimal or a datetime, so a column added to a record's row is carried
# along without a change here.


def _json_value(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def _record_document(row: dict[str, Any]) -> dict[str, Any]:
    return {name: _json_value(value) for name, value in row.items()}


def _record_row(document: Mapping[str, Any], table: Table) -> dict[str, Any]:
    """A record's row from its JSON document, typed as ``table`` stores it."""
    row = dict(document)
    for column in table.c:
        value = row.get(column.name)
        if value is None:
            continue
        if isinstance(column.type, Amount):
            row[column.name] = Decimal(value)
        elif isinstance(column.type, UtcDateTime):
            row[column.name] = datetime.fromisoformat(value)
    return row


def _event_document(event: Event, committing: Container[str]) -> dict[str, Any]:
    payment, refund, dispute = event.payment, event.refund, event.dispute

    def version(record: Payment | Refund | Dispute) -> int:
        return record.version + 1 if record.id in committing else record.version

    # Not the risk context: personal data the host already has, which the payment keeps
    # only until its screening (an event outlives that, sealed under the ring, not the
    # customer's key, until it is delivered and purged).
    paid = payment_row(payment, version(payment))
    del paid["risk_context"]
    return {
        "type": str(event.type),
        "occurred_at": event.occurred_at.astimezone(UTC).isoformat(),
        "detail": event.detail,
        "payment": _record_document(paid),
        "refund": None if refund is None else _record_document(refund_row(refund, version(refund))),
        "dispute": (
            None if dispute is None else _record_document(dispute_row(dispute, version(dispute)))
        ),
    }


def outbox_progress_row(message: OutboxMessage, version: int) -> dict[str, Any]:
    """The columns a delivery changes (the event itself never changes), at ``version``."""
    return {
        "status": str(message.status),
        "attempts": message.attempts,
        "next_attempt_at": message.next_attempt_at,
        "last_error": message.last_error,
        "delivered_at": message.delivered_at,
        "version": version,
    }


def outbox_message_row(
    message: OutboxMessage, version: int, committing: Container[str] = ()
) -> dict[str, Any]:
    """The row of an outbox message at ``version``, its event as one JSON document.

    ``committing`` holds the ids of the records the same commit writes: the event carries
    them at the version they are being written at.
    """
    return {
        "id": message.id,
        "payment_id": message.payment_id,
        "event_type": str(message.event.type),
        "created_at": message.created_at,
        "event": _event_document(message.event, committing),
        **outbox_progress_row(message, version),
    }


def outbox_message_from_row(
    row: RowMapping, *, payments: Table, refunds: Table, disputes: Table
) -> OutboxMessage:
    """The outbox message a row holds; the tables type the records inside its event."""
    document = row["event"]
    refund, dispute = document["refund"], document["dispute"]
    event = Event(
        id=row["id"],
        type=EventType(document["type"]),
        occurred_at=datetime.fromisoformat(document["occurred_at"]),
        detail=document["detail"],
        payment=payment_from_row(_record_row(document["payment"], payments)),  # type: ignore[arg-type]  # a mapping of the row's columns
        refund=None if refund is None else refund_from_row(_record_row(refund, refunds)),  # type: ignore[arg-type]
        dispute=None if dispute is None else dispute_from_row(_record_row(dispute, disputes)),  # type: ignore[arg-type]
    )
    return OutboxMessage(
        id=row["id"],
        payment_id=row["payment_id"],
        event=event,
        created_at=row["created_at"],
        next_attempt_at=row["next_attempt_at"],
        status=OutboxStatus(row["status"]),
        attempts=row["attempts"],
        last_error=row["last_error"],
        delivered_at=row["delivered_at"],
        version=row["version"],
    )
