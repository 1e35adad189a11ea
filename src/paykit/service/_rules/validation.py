"""Checks on what callers pass to the service: one place, one wording, the field named."""

from __future__ import annotations

from typing import Final

from paykit.domain.payment import PaymentStatus
from paykit.domain.pci import reject_card_data
from paykit.domain.text import reject_unstorable_text
from paykit.errors import ValidationError

__all__ = [
    "check_expiry",
    "check_last4",
    "checked_id",
    "checked_text",
    "parse_payment_status",
]

_MAX_TEXT: Final = 1000
_MAX_ID: Final = 255
_FIRST_YEAR: Final = 2000
_LAST_YEAR: Final = 2100
_MONTHS: Final = range(1, 13)
_LAST4_LENGTH: Final = 4


def checked_text(
    value: object, field: str, *, required: bool = True, max_length: int = _MAX_TEXT
) -> str:
    """Validate a caller-supplied string (an id, a description) and refuse card numbers in it.

    Also refused: NUL and lone surrogates, which some databases cannot store.
    """
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValidationError("must be a non-empty string", field=field)
    if len(value) > max_length:
        raise ValidationError(f"must be at most {max_length} characters", field=field)
    reject_unstorable_text(field, value)
    reject_card_data(field, value)
    return value


def checked_id(value: object, field: str) -> str:
    """Validate an id a record is looked up by (``get_payment(payment_id)`` and friends).

    No card-number check here: a lookup stores nothing, and an unknown id is a ``NotFound``
    whose message and ``record_id`` have any card number redacted. What a database could
    not even compare (NUL, lone surrogates, non-strings) is refused before it reaches one.
    """
    if not isinstance(value, str):
        raise ValidationError("must be a string id", field=field)
    if len(value) > _MAX_ID:
        raise ValidationError(f"must be at most {_MAX_ID} characters", field=field)
    reject_unstorable_text(field, value)
    return value


def check_last4(value: object) -> None:
    """Refuse display digits that are not exactly four digits (never a longer number)."""
    if value is not None and not (
        isinstance(value, str) and len(value) == _LAST4_LENGTH and value.isdigit()
    ):
        raise ValidationError("must be exactly the last 4 digits, e.g. '4242'", field="last4")


def parse_payment_status(value: PaymentStatus | str) -> PaymentStatus:
    """Turn ``"completed"`` into ``PaymentStatus.COMPLETED`` or say what is allowed."""
    try:
        return PaymentStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in PaymentStatus)
        msg = f"{value!r} is not a payment status; use one of: {allowed}"
        raise ValidationError(msg, field="status") from None


def check_expiry(month: object, year: object) -> None:
    """Refuse an expiry month outside 1-12 or a year that is not four digits."""
    if month is not None and (type(month) is not int or month not in _MONTHS):
        raise ValidationError("must be a month number from 1 to 12", field="exp_month")
    if year is not None and (type(year) is not int or not _FIRST_YEAR <= year <= _LAST_YEAR):
        raise ValidationError("must be a four-digit year such as 2030", field="exp_year")
