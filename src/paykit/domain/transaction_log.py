"""The transaction audit log: append-only entries, one per thing that happened to a payment."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

import attrs

from paykit.money import Money

__all__ = ["NO_DATA", "LogType", "TransactionLogEntry", "freeze"]


class LogType(StrEnum):
    """What an entry records. The first seven are the original app's log types."""

    PAYMENT_CREATED = "payment_created"
    PAYMENT_PROCESSED = "payment_processed"
    PAYMENT_FAILED = "payment_failed"
    REFUND_CREATED = "refund_created"
    REFUND_PROCESSED = "refund_processed"
    WEBHOOK_RECEIVED = "webhook_received"
    ERROR = "error"
    PAYMENT_PROCESSING = "payment_processing"
    PAYMENT_ROUTED = "payment_routed"
    PAYMENT_REQUIRES_ACTION = "payment_requires_action"
    PAYMENT_AUTHORIZED = "payment_authorized"
    PAYMENT_CAPTURED = "payment_captured"
    PAYMENT_VOIDED = "payment_voided"
    PAYMENT_CANCELLED = "payment_cancelled"
    OUTCOME_UNKNOWN = "outcome_unknown"
    AWAITING_PROVIDER = "awaiting_provider"
    RECONCILED = "reconciled"
    REFUND_PROCESSING = "refund_processing"
    REFUND_FAILED = "refund_failed"
    REFUND_CANCELLED = "refund_cancelled"
    STATUS_CHANGED = "status_changed"
    EVENT_IGNORED = "event_ignored"
    """A late or replayed provider answer that would move a record backwards."""
    NEEDS_REVIEW = "needs_review"
    """The provider contradicts paykit (money moved where paykit says it did not): a human
    must look; paykit changes nothing on its own."""
    DISPUTE_OPENED = "dispute_opened"
    DISPUTE_UPDATED = "dispute_updated"
    DISPUTE_CLOSED = "dispute_closed"
    CUSTOMER_ERASED = "customer_erased"
    """The customer's encryption key was destroyed (an erasure request): their sealed
    fields read as unavailable from then on; amounts and this log stay."""
    FRAUD_SCREENED = "fraud_screened"
    """A fraud screening decision: the rules that fired, their inputs and the score."""
    FRAUD_REVIEW = "fraud_review"
    """A payment held for, approved or rejected in manual fraud review, and by whom."""
    AUTOMATION = "automation"
    """An automated refund policy's decision about the payment: a dry run, a proposal, its
    approval or dismissal (with who), the action taken, or why it failed."""


NO_DATA: Final[Mapping[str, Any]] = MappingProxyType({})
"""The data of an entry that has none: one shared, read-only empty mapping."""
_SCALARS: Final = frozenset({str, int, bool, float, type(None)})


def freeze(value: Any) -> Any:  # noqa: ANN401 - JSON-like data of any shape
    """A read-only deep copy of JSON-like data: mappings become read-only, lists tuples."""
    kind = type(value)
    if kind in _SCALARS or value is NO_DATA:
        return value  # the common cases, without the slower abstract-class checks below
    if kind is dict or isinstance(value, Mapping):
        if not value:
            return NO_DATA
        return MappingProxyType(
            {key: item if type(item) in _SCALARS else freeze(item) for key, item in value.items()}
        )
    if isinstance(value, (list, tuple)):  # a tuple: ``list | tuple`` is built per call
        return tuple(freeze(item) for item in value)
    return value


def thaw(value: Any, what: str = "audit log data") -> Any:  # noqa: ANN401 - JSON-like data
    """The inverse of :func:`freeze`: a plain-JSON copy (dicts and lists) of frozen data.

    Raises ``TypeError`` for anything JSON cannot hold, naming ``what`` and the offending
    type, so a value that could not be stored is refused with a helpful message.
    """
    if isinstance(value, _JSON_SCALARS):
        return value
    if isinstance(value, Mapping):
        return {_json_key(key, what): thaw(item, what) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(item, what) for item in value]
    msg = f"{what} must be JSON-like; {type(value).__name__} is not"
    raise TypeError(msg)


_JSON_SCALARS: Final = (str, int, float, bool, type(None))


def _json_key(key: object, what: str) -> str:
    if not isinstance(key, str):
        msg = f"{what} keys must be strings, not {type(key).__name__}"
        raise TypeError(msg)
    return key


@attrs.frozen(kw_only=True)
class TransactionLogEntry:
    """One audit record. Entries are never changed or removed once written.

    When the entry records a status change, ``previous_status`` and ``new_status`` say which,
    of the payment or (when ``refund_id`` is set and the change is the refund's) the refund.
    ``data`` holds provider details with every secret removed; it is frozen on the way in
    (read-only mappings, tuples for lists), so nobody can rewrite the audit trail through a
    reference to an entry.
    """

    id: str
    payment_id: str
    log_type: LogType
    message: str
    created_at: datetime
    refund_id: str | None = None
    amount: Money | None = None
    previous_status: str | None = None
    new_status: str | None = None
    data: Mapping[str, Any] = attrs.field(default=NO_DATA, converter=freeze)
