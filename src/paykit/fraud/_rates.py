"""The host's rate table, for ``:amount_in_<currency>:`` attributes."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from paykit.errors import ValidationError
from paykit.money import Money, currency_exponent

__all__ = ["ExchangeRates"]


class ExchangeRates:
    """Rates to one ``reference`` currency: ``{"EUR": "1.08"}`` means 1 EUR = 1.08 reference.

    :meth:`convert` goes through the reference, so any two listed currencies convert. A
    currency without a rate converts to nothing, and rules reading the converted amount do
    not match (as with any missing attribute). Rates are ``Decimal``; a result is exact,
    not rounded to a currency's minor units (it is compared, never charged).
    """

    def __init__(self, reference: str, rates: Mapping[str, Decimal | int | str]) -> None:
        currency_exponent(reference, field="reference")
        self.reference = reference
        self.rates: dict[str, Decimal] = {reference: Decimal(1)}
        for currency, rate in rates.items():
            currency_exponent(currency, field=f"rates.{currency}")
            value = Decimal(rate) if not isinstance(rate, float) else None
            if value is None or not value.is_finite() or value <= 0:
                raise ValidationError("must be a positive decimal", field=f"rates.{currency}")
            self.rates[currency] = value

    def __repr__(self) -> str:
        return f"ExchangeRates(reference={self.reference!r}, currencies={sorted(self.rates)})"

    def convert(self, money: Money, currency: str) -> Decimal | None:
        """``money`` in ``currency``, or ``None`` when either rate is missing."""
        if money.currency == currency:
            return money.amount
        source, target = self.rates.get(money.currency), self.rates.get(currency)
        if source is None or target is None:
            return None
        return money.amount * source / target
