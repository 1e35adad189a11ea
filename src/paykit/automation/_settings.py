"""The policies' settings: which policies run, in which mode, within which daily caps.

Everything is off by default. A host turns a policy on by giving it a mode::

    AutomationSettings(
        duplicate_charge=DuplicateChargePolicy(mode=ActionMode.AUTO, daily_count_cap=20),
        order_cancelled=Policy(mode=ActionMode.PROPOSE),
    )

Settings are frozen values: ``service.automation.configure(settings)`` swaps them whole.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Final

import attrs

from paykit.domain.automation import ActionMode
from paykit.domain.payment import Payment
from paykit.errors import ValidationError
from paykit.money import AmountLike, Money

__all__ = [
    "AUTOMATION_ACTOR",
    "AutomationSettings",
    "DuplicateChargePolicy",
    "EarlyDisputePolicy",
    "ExpiringAuthorizationPolicy",
    "OrderState",
    "OrderStateCallback",
    "Policy",
    "PolicyName",
    "UnwantedPaymentPolicy",
]

AUTOMATION_ACTOR: Final = "automation"
"""The ``actor`` of an action a policy took on its own (not approved by a person)."""


class PolicyName(StrEnum):
    """The automated refund policies; the value is what action records and logs say."""

    ORDER_CANCELLED = "order_cancelled"
    """The host cancelled the order: void, refund or cancel each of its payments."""
    DUPLICATE_CHARGE = "duplicate_charge"
    """A second completed payment of one customer, order and amount within a window."""
    LATE_SUCCESS = "late_success"
    """The provider took money for a payment paykit records as failed or cancelled."""
    EARLY_DISPUTE = "early_dispute"
    """An inquiry (an early warning, not yet a chargeback) on a small amount."""
    EXPIRING_AUTHORIZATION = "expiring_authorization"
    """An authorization about to lapse uncaptured."""
    UNWANTED_PAYMENT = "unwanted_payment"
    """A payment that succeeded for an order the host says is already paid or expired."""


class OrderState(StrEnum):
    """What the host says of an order a payment succeeded for (``UnwantedPaymentPolicy``)."""

    OPEN = "open"
    """The order wants this payment: keep it."""
    PAID = "paid"
    """The order was already paid by something else: give this payment back."""
    EXPIRED = "expired"
    """The order (or checkout) expired before the payment arrived: give it back."""


OrderStateCallback = Callable[[str, Payment], OrderState | str]
"""The host's answer to "what is order ``order_id`` now, given that ``payment`` succeeded?"."""


def _caps(value: Mapping[str, AmountLike | Money] | None) -> Mapping[str, Money]:
    """Per-currency amounts, as ``Money`` (``{"USD": "500.00"}`` is accepted)."""
    caps: dict[str, Money] = {}
    for currency, amount in (value or {}).items():
        money = amount if isinstance(amount, Money) else Money.of(amount, currency)
        if money.currency != currency:
            msg = f"the {currency} cap is given in {money.currency}"
            raise ValidationError(msg, field="daily_amount_cap")
        caps[currency] = money
    return MappingProxyType(caps)


def _durations(value: Mapping[str, timedelta] | None) -> Mapping[str, timedelta]:
    return MappingProxyType(dict(value or {}))


def _mode(value: ActionMode | str) -> ActionMode:
    try:
        return ActionMode(value)
    except ValueError:
        choices = ", ".join(mode.value for mode in ActionMode)
        msg = f"{value!r} is not a mode; use one of {choices}"
        raise ValidationError(msg, field="mode") from None


@attrs.frozen(kw_only=True)
class Policy:
    """A policy's mode and its daily caps (the settings every policy has).

    ``mode``: ``off`` (the default), ``dry_run``, ``propose`` or ``auto``.
    ``daily_count_cap``: at most this many actions taken on its own per UTC day (of the
    service's clock); ``daily_amount_cap``: at most this much per currency and day, e.g.
    ``{"USD": "500.00"}`` (a currency not listed has no amount cap). An action over a cap
    is proposed for a person instead. Approvals by a person do not count.
    """

    mode: ActionMode = attrs.field(default=ActionMode.OFF, converter=_mode)
    daily_count_cap: int | None = None
    daily_amount_cap: Mapping[str, Money] = attrs.field(factory=dict, converter=_caps)

    def __attrs_post_init__(self) -> None:
        if self.daily_count_cap is not None and self.daily_count_cap < 0:
            raise ValidationError("must not be negative", field="daily_count_cap")

    @property
    def is_on(self) -> bool:
        """Whether the policy does anything at all."""
        return self.mode is not ActionMode.OFF


@attrs.frozen(kw_only=True)
class DuplicateChargePolicy(Policy):
    """Refund a second completed payment of one customer, order and amount within ``window``.

    Refunded in full (``reason="duplicate"``); the first is kept.
    """

    window: timedelta = timedelta(hours=1)


def _thresholds(value: Mapping[str, AmountLike | Money] | None) -> Mapping[str, Money]:
    try:
        return _caps(value)
    except ValidationError as error:
        raise ValidationError(error.detail, field="threshold") from None


@attrs.frozen(kw_only=True)
class EarlyDisputePolicy(Policy):
    """Refund a payment with an open inquiry of at most ``threshold`` before it escalates.

    An inquiry is ``warning_needs_response`` or ``warning_under_review`` (Stripe's early
    warnings, PayPal's inquiries); ``threshold`` is per currency, e.g.
    ``{"USD": "25.00"}``. A currency not listed is never refunded.
    """

    threshold: Mapping[str, Money] = attrs.field(factory=dict, converter=_thresholds)


@attrs.frozen(kw_only=True)
class ExpiringAuthorizationPolicy(Policy):
    """An authorization older than ``void_after`` (per provider: ``per_provider``) is voided.

    Card authorizations lapse after about 7 days (Stripe, most networks); the default
    voids a day before, so the hold is released by paykit rather than left to lapse.
    Age counts from when the payment was submitted to its provider.
    """

    void_after: timedelta = timedelta(days=6)
    per_provider: Mapping[str, timedelta] = attrs.field(factory=dict, converter=_durations)

    def limit_for(self, provider: str) -> timedelta:
        """How old an authorization of ``provider`` may get before it is voided."""
        return self.per_provider.get(provider, self.void_after)


@attrs.frozen(kw_only=True)
class UnwantedPaymentPolicy(Policy):
    """Refund (or void) a payment for an order the host says is already paid or expired.

    ``order_state(order_id, payment)`` is the host's callback, asked when a payment
    completes or is authorized; the policy cannot be switched on without it.
    """

    order_state: OrderStateCallback | None = None


@attrs.frozen(kw_only=True)
class AutomationSettings:
    """Every policy's settings; all off by default, so a service without them acts as before.

    ``lookback``: how far back a sweep looks for payments to decide about (the events
    catch the rest as they happen). ``lease``: how long a worker's claim on an action it is
    carrying out lasts before another worker may finish it.
    The fraud review's own "rejected after capture" refund is made by ``reject_review``.
    """

    order_cancelled: Policy = Policy()
    duplicate_charge: DuplicateChargePolicy = DuplicateChargePolicy()
    late_success: Policy = Policy()
    early_dispute: EarlyDisputePolicy = EarlyDisputePolicy()
    expiring_authorization: ExpiringAuthorizationPolicy = ExpiringAuthorizationPolicy()
    unwanted_payment: UnwantedPaymentPolicy = UnwantedPaymentPolicy()
    lookback: timedelta = timedelta(days=7)
    lease: timedelta = timedelta(minutes=5)

    def __attrs_post_init__(self) -> None:
        if self.lease <= timedelta(0):
            raise ValidationError("must be positive", field="lease")
        if self.lookback <= timedelta(0):
            raise ValidationError("must be positive", field="lookback")
        if self.unwanted_payment.is_on and self.unwanted_payment.order_state is None:
            msg = "unwanted_payment needs the host's order_state callback to run"
            raise ValidationError(msg, field="unwanted_payment")

    def policy(self, name: PolicyName | str) -> Policy:
        """The settings of the policy called ``name``."""
        policy: Policy = getattr(self, str(PolicyName(name)))
        return policy

    @property
    def any_on(self) -> bool:
        """Whether any policy is on."""
        return any(self.policy(name).is_on for name in PolicyName)
