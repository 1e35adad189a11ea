"""Each policy's rule: given a payment, what (if anything) should be given back, and how.

A rule reads through the unit of work it is given and returns a :class:`Decision` or
``None``. It never writes and never calls anything outside paykit; the host's answer to
"is this order still open?" is asked before the unit of work and passed in, because a unit
of work may run several times.

How the money goes back follows from where the payment stands (:func:`take_back`): a
payment never captured is voided or cancelled, never refunded; captured money is refunded,
at most what is still refundable. A payment paykit records as failed or cancelled but the
provider took money for (``late_success``) cannot be refunded through paykit's own records,
so it is voided or refunded at the provider directly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final

import attrs

from paykit.automation._settings import (
    AutomationSettings,
    OrderState,
    PolicyName,
)
from paykit.domain.automation import ActionKind
from paykit.domain.dispute import DisputeStatus
from paykit.domain.payment import Payment, PaymentStatus
from paykit.domain.transaction_log import LogType
from paykit.money import Money
from paykit.service._rules.transaction import Transaction

__all__ = ["RULES", "Decision", "PolicyInput", "late_success_flag", "refund_reason", "take_back"]

_P = PaymentStatus

_CANCELLABLE: Final = frozenset({_P.PENDING, _P.REQUIRES_ACTION})
_REFUNDABLE: Final = frozenset({_P.COMPLETED, _P.PARTIALLY_REFUNDED})
_OPEN_INQUIRIES: Final = frozenset(
    {DisputeStatus.WARNING_NEEDS_RESPONSE, DisputeStatus.WARNING_UNDER_REVIEW}
)
_TAKEN: Final = frozenset({"succeeded", "authorized"})
"""What a provider said, in a ``needs_review`` entry, when it took money paykit did not."""


@attrs.frozen(kw_only=True)
class Decision:
    """What one policy decided to do about one payment."""

    policy: PolicyName
    payment_id: str
    kind: ActionKind
    amount: Money
    reason: str
    """Why, in words: for the audit log and the action record."""


@attrs.frozen(kw_only=True)
class PolicyInput:
    """What a rule may know besides the storage: the time, the settings, the host's answers."""

    now: datetime
    settings: AutomationSettings
    order_state: OrderState | None = None
    """The host's answer for the payment's order (``unwanted_payment`` only)."""
    cancel_reason: str = ""
    """The host's reason (``order_cancelled`` only)."""


def refund_reason(policy: PolicyName | str) -> str:
    """The ``reason`` of a refund ``policy`` makes: ``duplicate`` for duplicates, else its name.

    Fixed per policy, so that a rerun's ``create_refund`` finds the first one by its
    idempotency key instead of conflicting with it.
    """
    return "duplicate" if policy == PolicyName.DUPLICATE_CHARGE else str(policy)


def take_back(
    policy: PolicyName, payment: Payment, reason: str, amount: Money | None = None
) -> Decision | None:
    """Void or cancel what was not captured, refund what was (at most ``amount``), or nothing.

    ``None`` for a payment in flight (``processing``: its outcome is unknown) or with
    nothing left to give back.
    """
    status = payment.status
    if status in _CANCELLABLE:
        kind, money = ActionKind.CANCEL, payment.amount
    elif status is _P.AUTHORIZED:
        kind, money = ActionKind.VOID, payment.amount
    elif status in _REFUNDABLE:
        refundable = payment.refundable_amount
        money = refundable if amount is None else min(amount, refundable)
        if money.is_zero():
            return None
        kind = ActionKind.REFUND
    else:
        return None
    return Decision(policy=policy, payment_id=payment.id, kind=kind, amount=money, reason=reason)


def _order_cancelled(tx: Transaction, payment: Payment, given: PolicyInput) -> Decision | None:
    del tx
    why = f"the host cancelled order {payment.order_id}"
    if given.cancel_reason:
        why += f" ({given.cancel_reason})"
    return take_back(PolicyName.ORDER_CANCELLED, payment, why)


def _duplicate_charge(tx: Transaction, payment: Payment, given: PolicyInput) -> Decision | None:
    """Refund ``payment`` if it repeats an earlier completed one within the window.

    Same customer, order and amount; the earliest is always kept.
    """
    if payment.status is not _P.COMPLETED or payment.completed_at is None:
        return None
    siblings = tx.uow.payments.list(customer_id=payment.customer_id, order_id=payment.order_id)
    charged = [
        p
        for p in siblings
        if p.status in _REFUNDABLE and p.amount == payment.amount and p.completed_at is not None
    ]
    charged.sort(key=lambda p: (p.completed_at, p.created_at, p.id))
    if not charged or charged[0].id == payment.id:
        return None
    first = charged[0]
    assert first.completed_at is not None  # noqa: S101 - filtered above; for the type checker
    if payment.completed_at - first.completed_at > given.settings.duplicate_charge.window:
        return None
    why = f"duplicate of payment {first.id} (same customer, order and amount)"
    return take_back(PolicyName.DUPLICATE_CHARGE, payment, why)


def late_success_flag(tx: Transaction, payment: Payment) -> str | None:
    """What the provider said when it took money for a failed or cancelled payment, or ``None``.

    ``succeeded`` or ``authorized``, from the payment's latest ``needs_review`` entry.
    """
    if payment.status not in (_P.FAILED, _P.CANCELLED):
        return None
    for entry in reversed(tx.uow.transaction_log.list_for_payment(payment.id)):
        if entry.log_type is not LogType.NEEDS_REVIEW or entry.refund_id is not None:
            continue
        outcome = entry.data.get("outcome")
        if outcome in _TAKEN:
            return str(outcome)
    return None


def _late_success(tx: Transaction, payment: Payment, given: PolicyInput) -> Decision | None:
    del given
    outcome = late_success_flag(tx, payment)
    if outcome is None or payment.provider_payment_id is None:
        return None
    kind = ActionKind.PROVIDER_VOID if outcome == "authorized" else ActionKind.PROVIDER_REFUND
    why = f"{payment.provider} says {outcome} after paykit recorded the payment {payment.status}"
    return Decision(
        policy=PolicyName.LATE_SUCCESS,
        payment_id=payment.id,
        kind=kind,
        amount=payment.amount,
        reason=why,
    )


def _early_dispute(tx: Transaction, payment: Payment, given: PolicyInput) -> Decision | None:
    thresholds = given.settings.early_dispute.threshold
    for dispute in tx.uow.disputes.list_for_payment(payment.id):
        threshold = thresholds.get(dispute.amount.currency)
        if dispute.status not in _OPEN_INQUIRIES or threshold is None:
            continue
        if dispute.amount.currency != payment.currency or dispute.amount > threshold:
            continue
        why = (
            f"inquiry {dispute.provider_dispute_id} for {dispute.amount} (at most {threshold}): "
            "refunded before it can become a chargeback"
        )
        return take_back(PolicyName.EARLY_DISPUTE, payment, why, dispute.amount)
    return None


def _expiring_authorization(
    tx: Transaction, payment: Payment, given: PolicyInput
) -> Decision | None:
    del tx
    if payment.status is not _P.AUTHORIZED:
        return None
    policy = given.settings.expiring_authorization
    authorized_at = payment.submitted_at or payment.created_at
    limit = policy.limit_for(payment.provider)
    if given.now - authorized_at < limit:
        return None
    why = f"authorized at {authorized_at:%Y-%m-%d %H:%M} UTC and still uncaptured after {limit}"
    return take_back(PolicyName.EXPIRING_AUTHORIZATION, payment, why)


def _unwanted_payment(tx: Transaction, payment: Payment, given: PolicyInput) -> Decision | None:
    del tx
    state = given.order_state
    if state not in (OrderState.PAID, OrderState.EXPIRED):
        return None
    if payment.status not in (_P.COMPLETED, _P.AUTHORIZED):
        return None
    why = f"the host says order {payment.order_id} is {state}"
    return take_back(PolicyName.UNWANTED_PAYMENT, payment, why)


Rule = Callable[[Transaction, Payment, PolicyInput], Decision | None]

RULES: Final[dict[PolicyName, Rule]] = {
    PolicyName.ORDER_CANCELLED: _order_cancelled,
    PolicyName.DUPLICATE_CHARGE: _duplicate_charge,
    PolicyName.LATE_SUCCESS: _late_success,
    PolicyName.EARLY_DISPUTE: _early_dispute,
    PolicyName.EXPIRING_AUTHORIZATION: _expiring_authorization,
    PolicyName.UNWANTED_PAYMENT: _unwanted_payment,
}
"""Each policy's rule."""
