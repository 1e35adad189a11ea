"""Money: an exact ``Decimal`` amount with an ISO 4217 currency.

Rules (DESIGN.md section 2):

* amounts are ``Decimal``, ``int`` or a plain decimal string ("12.34": no sign, no exponent,
  ASCII digits); floats, NaN, infinities, negative numbers and negative zero are refused;
* an amount may not carry digits beyond its currency's minor unit
  (USD 2, JPY 0, KWD 3) -- it is refused, never rounded;
* an amount may not exceed :data:`MAX_MINOR_UNITS` minor units (twelve digits: up to
  9,999,999,999.99 USD, 999,999,999,999 JPY, 999,999,999.999 KWD). The original app capped
  amounts at ``max_digits=10, decimal_places=2``; counting in minor units keeps the cap
  meaningful for every exponent and fits a 64-bit integer with room to spare;
* conversion to a provider's integer minor units happens in :func:`to_minor_units`, which
  every gateway adapter uses (passing its own exponent where the provider differs from ISO).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final

import attrs

from paykit._currency_table import ISO_4217_MINOR_UNITS
from paykit.errors import CurrencyMismatchError, InvalidAmountError, UnknownCurrencyError

__all__ = [
    "MAX_MINOR_UNITS",
    "AmountLike",
    "Money",
    "currency_exponent",
    "from_minor_units",
    "to_minor_units",
]

MAX_MINOR_UNITS: Final = 999_999_999_999
"""The largest amount paykit accepts, counted in the currency's minor units."""

AmountLike = Decimal | int | str
"""What callers may pass as an amount; everything else (float above all) is refused."""

_AMOUNT_TYPES: Final = (Decimal, int, str)  # a tuple: ``Decimal | int | str`` is built per use
_PLAIN_DECIMAL: Final = re.compile(r"[0-9]+(\.[0-9]+)?")  # ASCII only: "١٢" is not an amount
_QUANTUM: Final = {places: Decimal(1).scaleb(-places) for places in range(5)}


def currency_exponent(currency: str, *, field: str = "currency") -> int:
    """Return the ISO 4217 minor-unit exponent of ``currency`` (USD -> 2, JPY -> 0)."""
    try:
        return ISO_4217_MINOR_UNITS[currency]
    except (KeyError, TypeError):
        raise UnknownCurrencyError(
            f"{currency!r} is not an active ISO 4217 currency code; use an upper-case code "
            "such as 'USD', 'EUR' or 'JPY'",
            field=field,
        ) from None


def _parse_amount(value: object, field: str) -> Decimal:
    """Turn an accepted amount input into a finite, non-negative ``Decimal``."""
    if isinstance(value, bool) or not isinstance(value, _AMOUNT_TYPES):
        kind = type(value).__name__
        hint = " (floats cannot represent money exactly)" if isinstance(value, float) else ""
        raise InvalidAmountError(
            f"expected a Decimal, int or decimal string, got {kind}{hint}; "
            "pass Decimal('12.34') or '12.34'",
            field=field,
        )
    if isinstance(value, str):
        if not _PLAIN_DECIMAL.fullmatch(value):
            raise InvalidAmountError(
                f"{value!r} is not a plain non-negative decimal like '12.34'", field=field
            )
        return Decimal(value)
    amount = Decimal(value)
    if not amount.is_finite():
        raise InvalidAmountError(f"{value} is not a finite number", field=field)
    if amount.is_signed():
        raise InvalidAmountError(f"{value} is negative; amounts are never below zero", field=field)
    return amount


def _checked_amount(
    value: object, currency: str, field: str, currency_field: str = "currency"
) -> Decimal:
    """Validate ``value`` as an amount of ``currency``; return it at the currency's exponent."""
    exponent = currency_exponent(currency, field=currency_field)
    if type(value) is Decimal and value.is_finite() and not value.is_signed():
        amount = value  # the hot path: an already-parsed Decimal
    else:
        amount = _parse_amount(value, field)
    if amount.scaleb(exponent) > MAX_MINOR_UNITS:
        limit = Decimal(MAX_MINOR_UNITS).scaleb(-exponent)
        raise InvalidAmountError(
            f"{amount} {currency} is above the maximum of {limit} {currency}", field=field
        )
    places = -int(amount.as_tuple().exponent)
    if places == exponent:
        return amount
    normalised = amount.quantize(_QUANTUM[exponent])
    if normalised != amount:  # digits beyond the currency's minor unit: refuse, never round
        raise InvalidAmountError(
            f"{amount} has more decimal places than the {exponent} that {currency} allows; "
            "round it yourself before passing it in",
            field=field,
        )
    return normalised


@attrs.frozen(repr=False, init=False)
class Money:
    """An exact, non-negative amount in one currency.

    ``Money(Decimal("12.50"), "USD")`` validates like :meth:`Money.of`, which also accepts
    ints and decimal strings. The amount is normalised to the currency's exponent, so
    ``Money.of("5", "USD")`` prints as ``5.00 USD``. Arithmetic and comparison are only
    defined between amounts of the same currency.
    """

    amount: Decimal
    currency: str

    def __init__(self, amount: Decimal, currency: str) -> None:
        self.__attrs_init__(_checked_amount(amount, currency, "amount"), currency)

    @classmethod
    def of(
        cls,
        amount: AmountLike,
        currency: str,
        *,
        field: str = "amount",
        currency_field: str = "currency",
    ) -> Money:
        """Validate ``amount`` and ``currency`` and return the ``Money`` they describe.

        ``field`` and ``currency_field`` name the caller's arguments in any error, so the
        message points at its input.
        """
        return cls(_checked_amount(amount, currency, field, currency_field), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Return zero in ``currency``."""
        zero = _ZEROS.get(currency)
        if zero is None:
            zero = _ZEROS[currency] = Money.of(0, currency)
        return zero

    @property
    def minor_units(self) -> int:
        """The amount in ISO minor units (cents for USD, yen for JPY, fils for KWD)."""
        return to_minor_units(self)

    def is_zero(self) -> bool:
        """Return whether the amount is zero."""
        return not self.amount

    def _mismatch(self, other: Money) -> CurrencyMismatchError:
        return CurrencyMismatchError(
            f"cannot combine {self.currency} with {other.currency}", field="currency"
        )

    def __add__(self, other: Money) -> Money:
        currency = self.currency
        if other.currency != currency:
            raise self._mismatch(other)
        return Money(self.amount + other.amount, currency)  # checks the maximum

    def __sub__(self, other: Money) -> Money:
        currency = self.currency
        if other.currency != currency:
            raise self._mismatch(other)
        if other.amount > self.amount:
            raise InvalidAmountError(f"{self} minus {other} would be negative", field="amount")
        return Money(self.amount - other.amount, currency)

    def __lt__(self, other: Money) -> bool:
        if other.currency != self.currency:
            raise self._mismatch(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        if other.currency != self.currency:
            raise self._mismatch(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        if other.currency != self.currency:
            raise self._mismatch(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        if other.currency != self.currency:
            raise self._mismatch(other)
        return self.amount >= other.amount

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    def __repr__(self) -> str:
        return f"Money('{self.amount}', '{self.currency}')"


_ZEROS: dict[str, Money] = {}


def to_minor_units(money: Money, *, exponent: int | None = None) -> int:
    """Convert ``money`` to an integer count of minor units.

    ``exponent`` overrides the ISO exponent for a provider that counts differently (Stripe
    sends ISK in hundredths, for example). An amount that the exponent cannot represent
    exactly is refused -- never rounded.
    """
    places = currency_exponent(money.currency) if exponent is None else exponent
    scaled = money.amount.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise InvalidAmountError(
            f"{money} cannot be expressed in whole units of 10^-{places} {money.currency}",
            field="amount",
        )
    return int(scaled)


def from_minor_units(
    units: int,
    currency: str,
    *,
    exponent: int | None = None,
    field: str = "amount",
    currency_field: str = "currency",
) -> Money:
    """Build ``Money`` from an integer count of minor units (the inverse of ``to_minor_units``).

    ``field`` and ``currency_field`` name the caller's input in any error, as in
    :meth:`Money.of` (an adapter names the provider's fields).
    """
    if isinstance(units, bool) or not isinstance(units, int):
        raise InvalidAmountError(
            f"minor units must be an int, got {type(units).__name__}", field=field
        )
    places = currency_exponent(currency, field=currency_field) if exponent is None else exponent
    return Money.of(
        Decimal(units).scaleb(-places), currency, field=field, currency_field=currency_field
    )
