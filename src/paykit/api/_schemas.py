"""The API's request and response bodies: one pydantic model per resource, built once.

Requests refuse unknown fields (``extra="forbid"``), and amounts are decimal strings with a
currency -- a JSON number is refused with a message that says why, since a float cannot hold
money exactly. Responses are built from paykit's records by the ``*_out`` functions, so the
OpenAPI document and the bodies come from the same models. Timestamps are RFC 3339 in UTC.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Final, Generic, Literal, TypeVar

from fastapi import Response
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from paykit.domain.payment import NextAction, Payment
from paykit.domain.payment_method import PaymentMethod
from paykit.domain.refund import Refund
from paykit.domain.transaction_log import TransactionLogEntry, thaw
from paykit.money import Money

__all__ = [
    "CaptureRequest",
    "DateTime",
    "LogEntryOut",
    "MoneyOut",
    "NextActionOut",
    "Page",
    "PaymentCreate",
    "PaymentMethodCreate",
    "PaymentMethodOut",
    "PaymentMethodPatch",
    "PaymentMethodReplace",
    "PaymentOut",
    "Problem",
    "ProcessRequest",
    "RefundCreate",
    "RefundOut",
    "StatusOut",
    "json_answer",
    "log_entry_out",
    "payment_method_out",
    "payment_out",
    "refund_out",
]

T = TypeVar("T")


def _decimal_string(value: object) -> object:
    """Refuse a JSON number for an amount before pydantic would turn it into a string."""
    if isinstance(value, bool | int | float):
        msg = (
            f'must be a decimal string such as "10.00", not the JSON number {value!r}: '
            "a number in JSON may be read as a float, which cannot hold money exactly"
        )
        raise ValueError(msg)  # noqa: TRY004 - pydantic turns ValueError into a 422 for the field
    return value


DecimalString = Annotated[
    str,
    BeforeValidator(_decimal_string),
    Field(
        description='An amount as a decimal string, e.g. "10.00" (never a JSON number)',
        examples=["100.00"],
        min_length=1,
        max_length=32,
    ),
]


def _rfc3339(value: object) -> object:
    """Refuse what pydantic would read as a Unix timestamp: the API speaks RFC 3339 only."""
    if not isinstance(value, str) or not _DATE_TIME_SHAPE.match(value):
        msg = "must be an RFC 3339 date-time with a time zone, e.g. 2026-01-31T12:00:00Z"
        raise ValueError(msg)
    return value


_DATE_TIME_SHAPE: Final = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")

DateTime = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
"""A query or body date-time: RFC 3339 with a zone (``Z`` or ``+02:00``)."""

Currency = Annotated[
    str,
    Field(description="ISO 4217 code, upper case", examples=["USD"], min_length=3, max_length=3),
]
Id = Annotated[str, Field(min_length=1, max_length=255)]
Text = Annotated[str, Field(max_length=1000)]
Metadata = Annotated[
    dict[str, Any] | None,
    Field(description="The host's JSON (see docs/errors.md, metadata rules)", default=None),
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PaymentMethodCreate(_Request):
    """Save a provider token as a payment method."""

    type: Annotated[str, Field(examples=["credit_card"], max_length=32)]
    token: Id
    provider: Annotated[str | None, Field(max_length=64)] = None
    brand: Annotated[str | None, Field(max_length=32)] = None
    last4: Annotated[str | None, Field(max_length=4)] = None
    exp_month: int | None = None
    exp_year: int | None = None
    is_default: bool = False
    metadata: Metadata = None
    provider_customer_id: Annotated[str | None, Field(max_length=255)] = None
    customer_id: Annotated[
        str | None, Field(max_length=255, description="Staff only: whose method this is")
    ] = None


class PaymentMethodReplace(_Request):
    """``PUT``: every changeable field at once."""

    exp_month: int
    exp_year: int
    metadata: dict[str, Any]


class PaymentMethodPatch(_Request):
    """``PATCH``: only the fields given change."""

    exp_month: int | None = None
    exp_year: int | None = None
    metadata: Metadata = None


class PaymentCreate(_Request):
    """Create a ``pending`` payment for an order."""

    order_id: Id
    payment_method_id: Id
    amount: DecimalString
    currency: Currency
    capture: bool = True
    description: Text = ""
    metadata: Metadata = None
    customer_id: Annotated[
        str | None, Field(max_length=255, description="Staff only: whose payment this is")
    ] = None


class ProcessRequest(_Request):
    """Optional body of ``POST /{id}/process/``."""

    return_url: Annotated[str | None, Field(max_length=2048)] = None
    off_session: bool = False


class CaptureRequest(_Request):
    """Optional body of ``POST /{id}/capture/``: no amount captures all of it."""

    amount: DecimalString | None = None


class RefundCreate(_Request):
    """Ask for a refund of a completed payment."""

    payment_id: Id
    amount: DecimalString
    reason: Text = ""
    metadata: Metadata = None


class MoneyOut(BaseModel):
    """An amount and its currency, the amount as a decimal string."""

    amount: str
    currency: str


class NextActionOut(BaseModel):
    """What the customer must do next (3-D Secure, a redirect, transfer instructions)."""

    type: str
    redirect_url: str | None = None
    client_secret: str | None = Field(
        default=None,
        description="Only in the answer to the call that produced it; never stored or replayed",
    )
    instructions: dict[str, str] = Field(default_factory=dict)


class PaymentMethodOut(BaseModel):
    """A saved payment method: display details only, never the provider's token."""

    object: Literal["payment_method"] = "payment_method"
    id: str
    customer_id: str
    type: str
    provider: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    is_default: bool
    is_active: bool
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class PaymentOut(BaseModel):
    """A payment and where it stands."""

    object: Literal["payment"] = "payment"
    id: str
    customer_id: str
    order_id: str
    payment_method_id: str
    payment_method_type: str
    provider: str
    status: str
    amount: MoneyOut
    capture: bool
    captured_amount: MoneyOut
    refunded_amount: MoneyOut
    refundable_amount: MoneyOut
    description: str
    metadata: dict[str, Any]
    failure_code: str | None
    failure_message: str | None
    next_action: NextActionOut | None
    created_at: datetime
    updated_at: datetime


class StatusOut(BaseModel):
    """Just the status of a payment."""

    object: Literal["payment_status"] = "payment_status"
    id: str
    status: str


class RefundOut(BaseModel):
    """A refund and where it stands."""

    object: Literal["refund"] = "refund"
    id: str
    payment_id: str
    amount: MoneyOut
    status: str
    reason: str
    metadata: dict[str, Any]
    failure_code: str | None
    failure_message: str | None
    created_at: datetime
    updated_at: datetime


class LogEntryOut(BaseModel):
    """One audit log entry of a payment."""

    object: Literal["log_entry"] = "log_entry"
    id: str
    payment_id: str
    refund_id: str | None
    log_type: str
    message: str
    amount: MoneyOut | None
    previous_status: str | None
    new_status: str | None
    data: dict[str, Any]
    created_at: datetime


class Page(BaseModel, Generic[T]):
    """One page of a list, oldest first; pass the last id as ``starting_after`` for the next."""

    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool


class Problem(BaseModel):
    """An RFC 9457 problem: what went wrong, paykit's stable ``code`` and the ``field``."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None


def json_answer(model: BaseModel, *, status_code: int = 200) -> Response:
    """``model`` as the JSON answer, serialised once by pydantic's core.

    An endpoint returning its model would have FastAPI validate it again against the
    ``response_model`` -- in a second trip to the thread pool for a synchronous endpoint --
    before serialising it: the model is already valid (built by the converters below), so
    that is pure cost (bench/api.py). The bytes are the same as FastAPI's own. The
    ``response_model`` stays on each route for the OpenAPI document.
    """
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


def _money(money: Money) -> MoneyOut:
    return MoneyOut(amount=str(money.amount), currency=money.currency)


def _next_action(action: NextAction | None) -> NextActionOut | None:
    if action is None:
        return None
    secret = action.client_secret
    return NextActionOut(
        type=action.type,
        redirect_url=action.redirect_url,
        client_secret=None if secret is None else secret.get_secret_value(),
        instructions=dict(action.instructions),
    )


def payment_method_out(method: PaymentMethod) -> PaymentMethodOut:
    """The API's view of a payment method."""
    return PaymentMethodOut(
        id=method.id,
        customer_id=method.customer_id,
        type=str(method.type),
        provider=method.provider,
        brand=method.brand,
        last4=method.last4,
        exp_month=method.exp_month,
        exp_year=method.exp_year,
        is_default=method.is_default,
        is_active=method.is_active,
        metadata=method.metadata,
        created_at=method.created_at,
        updated_at=method.updated_at,
    )


def payment_out(payment: Payment) -> PaymentOut:
    """The API's view of a payment."""
    return PaymentOut(
        id=payment.id,
        customer_id=payment.customer_id,
        order_id=payment.order_id,
        payment_method_id=payment.payment_method_id,
        payment_method_type=str(payment.payment_method_type),
        provider=payment.provider,
        status=str(payment.status),
        amount=_money(payment.amount),
        capture=payment.capture,
        captured_amount=_money(payment.captured_amount),
        refunded_amount=_money(payment.refunded_amount),
        refundable_amount=_money(payment.refundable_amount),
        description=payment.description,
        metadata=payment.metadata,
        failure_code=payment.failure_code,
        failure_message=payment.failure_message,
        next_action=_next_action(payment.next_action),
        created_at=payment.created_at,
        updated_at=payment.updated_at,
    )


def refund_out(refund: Refund) -> RefundOut:
    """The API's view of a refund."""
    return RefundOut(
        id=refund.id,
        payment_id=refund.payment_id,
        amount=_money(refund.amount),
        status=str(refund.status),
        reason=refund.reason,
        metadata=refund.metadata,
        failure_code=refund.failure_code,
        failure_message=refund.failure_message,
        created_at=refund.created_at,
        updated_at=refund.updated_at,
    )


def log_entry_out(entry: TransactionLogEntry) -> LogEntryOut:
    """The API's view of an audit log entry (its data is already free of secrets)."""
    return LogEntryOut(
        id=entry.id,
        payment_id=entry.payment_id,
        refund_id=entry.refund_id,
        log_type=str(entry.log_type),
        message=entry.message,
        amount=None if entry.amount is None else _money(entry.amount),
        previous_status=entry.previous_status,
        new_status=entry.new_status,
        data=thaw(entry.data),
        created_at=entry.created_at,
    )
