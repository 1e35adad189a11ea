"""PaymentMethod: a customer's saved way to pay, held as the provider's token."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs

__all__ = ["PaymentMethod", "PaymentMethodType"]


class PaymentMethodType(StrEnum):
    """The kinds of payment method the original app offered."""

    CREDIT_CARD = "credit_card"
    DEBIT_CARD = "debit_card"
    PAYPAL = "paypal"
    BANK_TRANSFER = "bank_transfer"
    DIGITAL_WALLET = "digital_wallet"
    CRYPTO = "crypto"


@attrs.define(kw_only=True)
class PaymentMethod:
    """A saved payment method. paykit never holds a card number, only the provider's token.

    ``provider`` names the gateway that issued ``provider_payment_method_id`` (``"sandbox"``,
    ``"stripe"``...). ``brand``, ``last4`` and the expiry are display details only;
    ``card_country``, ``card_fingerprint`` and ``wallet`` are what fraud screening reads.
    """

    id: str
    customer_id: str
    type: PaymentMethodType
    provider: str
    provider_payment_method_id: str = attrs.field(repr=False)
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    card_country: str | None = None
    """The card's issuing country (ISO 3166-1 alpha-2), as the provider reports it."""
    card_fingerprint: str | None = None
    """The provider's fingerprint of the card number: equal for the same card, never the number."""
    wallet: str | None = None
    """The wallet the card came through (``apple_pay``, ``google_pay``...), if any."""
    is_default: bool = False
    is_active: bool = True
    metadata: dict[str, Any] = attrs.field(factory=dict)
    created_at: datetime
    updated_at: datetime
    version: int = 0

    @property
    def display_name(self) -> str:
        """A short label for people: ``visa •••• 4242`` or the method type."""
        if self.last4:
            return f"{self.brand or self.type} •••• {self.last4}"
        return str(self.type)
