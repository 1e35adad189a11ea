"""Fraud screening records: a payment's risk assessment and the host's block and allow lists.

A :class:`RiskAssessment` is kept per screened payment (its ``id`` is the payment's id). It
holds the screening inputs that velocity counters are computed from (customer, email, card
fingerprint, IP address, amount), the decision and the rules behind it, the provider's own
risk signal and the card network's checks (whether the CVC and address matched), and the
review state when a person must decide. Never a card number: card country and fingerprint are
the provider's display details of the saved method.

A :class:`RiskListEntry` is one value on one named list (``blocked_emails``,
``trusted_ips``...), which rules test with ``@list_name``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Final

import attrs

from paykit.money import Money

__all__ = [
    "FRAUD_BLOCKED",
    "ReviewState",
    "RiskAction",
    "RiskAssessment",
    "RiskListEntry",
    "VelocityCount",
]

FRAUD_BLOCKED: Final = "fraud_blocked"
"""The ``failure_code`` of a payment a fraud rule blocked before any provider saw it."""


class RiskAction(StrEnum):
    """What a fraud rule does when it matches (Stripe Radar's vocabulary)."""

    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"
    REQUEST_3DS = "request_3ds"


class ReviewState(StrEnum):
    """Where a payment stands in the manual review queue."""

    NONE = "none"
    """Never sent to review."""
    PENDING = "pending"
    """Held for a person: authorized, not captured."""
    APPROVED = "approved"
    REJECTED = "rejected"


def _names(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(names)


@attrs.define(kw_only=True)
class RiskAssessment:
    """The screening of one payment: its inputs, the decision, and the review that followed.

    ``declined`` is set when the payment failed (a provider decline or a fraud block), so
    that velocity counters can count declines. ``decision`` is ``None`` until the payment
    is screened (a context given to ``create_payment`` is stored before ``process_payment``).
    """

    id: str
    """The payment's id: one assessment per payment."""
    customer_id: str
    amount: Money
    email: str | None = None
    email_domain: str | None = None
    ip_address: str | None = None
    ip_country: str | None = None
    billing_country: str | None = None
    shipping_country: str | None = None
    device_id: str | None = None
    account_age_days: int | None = None
    card_fingerprint: str | None = None
    card_country: str | None = None
    wallet: str | None = None
    decision: RiskAction | None = None
    three_d_secure: bool = False
    """A ``request_3ds`` rule matched: the charge asks the provider for 3-D Secure."""
    score: int = 0
    fired_rules: tuple[str, ...] = attrs.field(default=(), converter=_names)
    shadow_rules: tuple[str, ...] = attrs.field(default=(), converter=_names)
    """Rules in shadow mode that matched: logged, never acting."""
    declined: bool = False
    review_state: ReviewState = ReviewState.NONE
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    provider_risk_level: str | None = None
    provider_risk_score: int | None = None
    provider_cvc_check: str | None = None
    """The card network's check of the CVC, in Stripe's words (``pass``, ``fail``,
    ``unavailable``, ``unchecked``), whichever provider reported it."""
    provider_address_check: str | None = None
    """The check of the billing address (street and postal code together), in those words."""
    provider_seller_protection: str | None = None
    """PayPal's seller protection: ``eligible``, ``partially_eligible`` or ``not_eligible``."""
    created_at: datetime
    updated_at: datetime
    version: int = 0

    @property
    def payment_id(self) -> str:
        """The payment this assessment is about (the same id)."""
        return self.id


@attrs.define(kw_only=True)
class RiskListEntry:
    """One value on one of the host's named lists, unique by ``(list_name, value)``."""

    id: str
    list_name: str
    value: str
    note: str = ""
    created_by: str = ""
    created_at: datetime
    version: int = 0


@attrs.frozen
class VelocityCount:
    """Other payments in one window: how many, how many declined, their total amount.

    ``amount`` sums the payments in the currency asked about (others are counted, not summed).
    """

    payments: int = 0
    declines: int = 0
    amount: Decimal = Decimal(0)
