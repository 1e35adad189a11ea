"""Payment: one attempt to take an amount from a customer, and its state machine.

::

    pending ──> processing ──> completed ──> partially_refunded ──> refunded
       │           │ │ │ └──> failed        (completed ──> refunded)
       │           │ │ └──> requires_action ──> processing | completed | authorized
       │           │ │                           | failed | cancelled
       │           │ └──> authorized ──capture──> completed ; authorized ──void──> cancelled
       └──> cancelled

``processing`` means "submitted, outcome not yet known": a timeout or a 5xx leaves the
payment there, never in ``failed``, and reconciliation asks the provider later.
``requires_action -> authorized`` is the one move DESIGN.md's drawing leaves implicit: a
customer who completes 3-D Secure on an authorize-only payment leaves it authorized.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

import attrs
from pydantic import SecretStr

from paykit.domain._transitions import check_transition
from paykit.domain.payment_method import PaymentMethodType
from paykit.domain.risk_context import RiskContext
from paykit.errors import (
    CurrencyMismatchError,
    InvalidAmountError,
    InvalidRefundAmountError,
    PaymentNotRefundableError,
)
from paykit.money import Money

__all__ = ["PAYMENT_TRANSITIONS", "NextAction", "Payment", "PaymentStatus"]


class PaymentStatus(StrEnum):
    """Where a payment stands; the first seven are the original app's."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    REQUIRES_ACTION = "requires_action"
    AUTHORIZED = "authorized"


_P = PaymentStatus

PAYMENT_TRANSITIONS: Final[dict[PaymentStatus, frozenset[PaymentStatus]]] = {
    _P.PENDING: frozenset({_P.PROCESSING, _P.CANCELLED}),
    _P.PROCESSING: frozenset({_P.COMPLETED, _P.FAILED, _P.REQUIRES_ACTION, _P.AUTHORIZED}),
    _P.REQUIRES_ACTION: frozenset(
        {_P.PROCESSING, _P.COMPLETED, _P.AUTHORIZED, _P.FAILED, _P.CANCELLED}
    ),
    _P.AUTHORIZED: frozenset({_P.COMPLETED, _P.CANCELLED}),
    _P.COMPLETED: frozenset({_P.PARTIALLY_REFUNDED, _P.REFUNDED}),
    _P.PARTIALLY_REFUNDED: frozenset({_P.REFUNDED}),
    _P.REFUNDED: frozenset(),
    _P.FAILED: frozenset(),
    _P.CANCELLED: frozenset(),
}
"""Every allowed payment move; any move not listed raises ``InvalidStateTransition``."""

REFUNDABLE_STATUSES: Final = frozenset({_P.COMPLETED, _P.PARTIALLY_REFUNDED})


class Instructions(Mapping[str, str]):
    """A read-only mapping of what to show the payer; hashable, copyable and picklable."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items = tuple((items or {}).items())

    def __getitem__(self, key: str) -> str:
        for name, value in self._items:
            if name == key:
                return value
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self._items) == dict(other)

    def __repr__(self) -> str:
        return f"Instructions({dict(self._items)!r})"

    def __reduce__(self) -> tuple[type[Instructions], tuple[dict[str, str]]]:
        return (Instructions, (dict(self._items),))


@attrs.frozen
class NextAction:
    """What the customer must do before a ``requires_action`` payment can go on.

    ``client_secret`` (for a provider's front-end SDK) is handed to the caller once and never
    stored: storage keeps a copy with it removed. It is a pydantic ``SecretStr``, so no repr,
    log line or error message can show it; read it with ``.get_secret_value()``.
    ``instructions`` are what to show the payer, such as the reference and bank details of a
    transfer; they are not secret and are stored.
    """

    type: str
    redirect_url: str | None = None
    client_secret: SecretStr | None = None
    instructions: Mapping[str, str] = attrs.field(factory=Instructions, converter=Instructions)

    def without_secret(self) -> NextAction:
        """Return the copy of this action that may be stored and logged."""
        return NextAction(
            type=self.type, redirect_url=self.redirect_url, instructions=self.instructions
        )


@attrs.define(kw_only=True)
class Payment:
    """A payment and its money: what was asked, captured, refunded and held for refunds.

    ``refund_reserved_amount`` is the sum of refunds in flight (pending or processing). It
    lives on the payment, beside ``refunded_amount``, so the refund ceiling is checked and
    reserved by changing one record -- the record the storage's concurrency control guards.
    """

    id: str
    customer_id: str
    order_id: str
    payment_method_id: str
    payment_method_type: PaymentMethodType
    provider: str
    amount: Money
    capture: bool = True
    status: PaymentStatus = PaymentStatus.PENDING
    captured_amount: Money
    refunded_amount: Money
    refund_reserved_amount: Money
    chargeback_amount: Money = attrs.field(
        default=attrs.Factory(lambda self: Money.zero(self.amount.currency), takes_self=True)
    )
    """Money the customer's bank took back through disputes the merchant lost."""
    provider_payment_id: str | None = None
    description: str = ""
    metadata: dict[str, Any] = attrs.field(factory=dict)
    idempotency_key: str | None = None
    attempt_count: int = 0
    failure_code: str | None = None
    failure_message: str | None = None
    next_action: NextAction | None = None
    risk_context: RiskContext | None = attrs.field(default=None, repr=False)
    """The fraud screening context given to ``create_payment``, kept while the payment is
    pending (the claim screens it, and the risk assessment holds it from then on); ``None``
    once the payment moves. Personal data (email, IP address): never in a repr, sealed like
    the metadata when storage encrypts."""
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None = None
    """When the payment was last sent to its provider (the claim before the charge)."""
    completed_at: datetime | None = None
    reconcile_attempts: int = 0
    """How many times a reconciliation sweep has asked the provider about this payment."""
    next_reconcile_at: datetime | None = None
    """When a sweep may ask next: a worker's claim, then the backoff after an unknown answer."""
    version: int = 0

    @property
    def currency(self) -> str:
        """The payment's currency (every amount on it is in this currency)."""
        return self.amount.currency

    @property
    def returned_amount(self) -> Money:
        """What has gone back to the customer: completed refunds plus lost disputes."""
        return self.refunded_amount + self.chargeback_amount

    @property
    def committed_return_amount(self) -> Money:
        """What has gone back or is on its way: :attr:`returned_amount` plus in-flight refunds.

        A provider reporting more refunded than this refunded outside paykit.
        """
        return self.returned_amount + self.refund_reserved_amount

    @property
    def unreturned_amount(self) -> Money:
        """``captured - returned``, never below zero: what a lost dispute could still take."""
        return _at_least_zero(self.captured_amount, self.returned_amount)

    @property
    def refundable_amount(self) -> Money:
        """``captured - (completed + in-flight refunds + lost disputes)``, never below zero.

        A dispute lost after refunds were made can take back more than is left; the balance
        then stays at zero rather than going negative.
        """
        return _at_least_zero(self.captured_amount, self.committed_return_amount)

    def transition_to(self, target: PaymentStatus, now: datetime) -> None:
        """Move to ``target`` if the state machine allows it; otherwise raise and change nothing."""
        check_transition(PAYMENT_TRANSITIONS, "payment", self.status, target)
        self.status = target
        self.updated_at = now
        # Kept for the screening of a pending payment only: screened (the assessment holds
        # it now), cancelled, or processed without screening, it is not kept a moment longer.
        self.risk_context = None
        if target in (_P.COMPLETED, _P.FAILED, _P.CANCELLED) and self.completed_at is None:
            self.completed_at = now

    def check_capture_amount(self, amount: Money) -> None:
        """Refuse a capture amount that is zero, in another currency or above the authorization."""
        if amount.currency != self.currency:
            raise CurrencyMismatchError(
                f"capture is in {amount.currency} but the payment is in {self.currency}",
                field="amount",
            )
        if amount.is_zero() or amount > self.amount:
            raise InvalidAmountError(
                f"capture amount must be above zero and at most the authorized {self.amount}",
                field="amount",
            )

    def reserve_refund(self, amount: Money) -> None:
        """Apply DESIGN.md section 4: check ``amount`` against the balance and hold it."""
        if self.status not in REFUNDABLE_STATUSES:
            raise PaymentNotRefundableError(
                f"payment {self.id} is {self.status}; only completed or partially_refunded "
                "payments can be refunded",
                current=str(self.status),
                requested="refund",
            )
        if amount.currency != self.currency:
            raise CurrencyMismatchError(
                f"refund is in {amount.currency} but the payment is in {self.currency}",
                field="amount",
            )
        if amount.is_zero():
            raise InvalidRefundAmountError("a refund must be above zero", field="amount")
        balance = self.refundable_amount
        if amount > balance:
            raise InvalidRefundAmountError(
                f"{amount} exceeds the refundable balance of {balance} (captured "
                f"{self.captured_amount}, refunded {self.refunded_amount}, in flight "
                f"{self.refund_reserved_amount}, lost to disputes {self.chargeback_amount})",
                field="amount",
            )
        self.refund_reserved_amount += amount

    def release_refund(self, amount: Money) -> None:
        """Give back the hold of a refund that failed or was cancelled."""
        self.refund_reserved_amount -= amount

    def settle_refund(self, amount: Money, now: datetime) -> PaymentStatus | None:
        """Book a completed refund; return the new status if the payment moved, else ``None``."""
        self.refund_reserved_amount -= amount
        self.refunded_amount += amount
        returned = self.refunded_amount + self.chargeback_amount
        target = _P.REFUNDED if returned >= self.captured_amount else _P.PARTIALLY_REFUNDED
        if target == self.status:
            self.updated_at = now
            return None
        self.transition_to(target, now)
        return target


def _at_least_zero(amount: Money, minus: Money) -> Money:
    """``amount - minus``, or zero where that would be negative."""
    if minus >= amount:
        return Money.zero(amount.currency)
    return amount - minus
