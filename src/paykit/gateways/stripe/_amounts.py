"""Stripe's own currency rules: paykit ``Money`` to Stripe's integer ``amount`` and back.

Stripe counts every currency in hundredths of its unit unless it says otherwise
(https://docs.stripe.com/currencies), which is not always ISO 4217's minor unit:

=====================================  ===========================================================
currencies                             what Stripe's ``amount`` counts
=====================================  ===========================================================
zero-decimal: BIF CLP DJF GNF JPY KMF  whole units (``500`` is 500 JPY). MGA is ISO two-decimal
KRW MGA PYG RWF VND VUV XAF XOF XPF    but zero-decimal at Stripe, so 1.50 MGA is refused.
three-decimal: BHD JOD KWD OMR TND     thousandths, and the last digit must be 0 for Stripe's
                                       partners: 5.120 KWD is ``5120``; 5.124 KWD is refused.
ISK, UGX                               hundredths, although only whole units can be charged:
                                       5 ISK is ``500`` (ISO gives both exponent 0, so paykit
                                       cannot hold a fraction of either in the first place).
HUF, TWD                               hundredths, like any two-decimal currency. Stripe treats
                                       them as zero-decimal for *payouts* only (payout amounts
                                       must be multiples of 100); charges and refunds may carry
                                       two decimals, so 10.45 HUF is ``1045``.
everything else                        hundredths. A currency whose ISO exponent is above 2 and
                                       that is not in the three-decimal list (IQD, LYD, CLF...)
                                       can only be sent in whole hundredths.
=====================================  ===========================================================

Every refusal is an :class:`~paykit.errors.InvalidAmountError` raised before any request is
built, so no amount that Stripe would misread or refuse for its precision ever reaches it
(Stripe's minimum and maximum charge amounts are left to Stripe). Conversion itself goes
through :func:`paykit.money.to_minor_units`, the one function every adapter uses.
"""

from __future__ import annotations

from typing import Final

from paykit.errors import InvalidAmountError, UnknownCurrencyError
from paykit.money import Money, from_minor_units, to_minor_units

__all__ = [
    "PAYOUT_ONLY_ZERO_DECIMAL",
    "THREE_DECIMAL",
    "WHOLE_UNITS_IN_HUNDREDTHS",
    "ZERO_DECIMAL",
    "from_stripe_amount",
    "stripe_exponent",
    "to_stripe_amount",
]

ZERO_DECIMAL: Final = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)
"""Currencies whose Stripe ``amount`` counts whole units."""

THREE_DECIMAL: Final = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
"""Currencies Stripe counts in thousandths, with a last digit that must be 0."""

WHOLE_UNITS_IN_HUNDREDTHS: Final = frozenset({"ISK", "UGX"})
"""Zero-decimal in practice, but sent as two-decimal amounts (multiples of 100)."""

PAYOUT_ONLY_ZERO_DECIMAL: Final = frozenset({"HUF", "TWD"})
"""Zero-decimal for payouts only; charges and refunds are ordinary two-decimal amounts."""


def stripe_exponent(currency: str) -> int:
    """How many decimal places Stripe's integer ``amount`` carries for ``currency``."""
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def to_stripe_amount(money: Money, *, field: str = "amount") -> int:
    """Stripe's integer ``amount`` for ``money``, or an ``InvalidAmountError`` (never rounded).

    Zero is refused as well: Stripe moves no money for it and rejects every zero amount.
    """
    currency = money.currency
    if money.is_zero():
        msg = f"{money} is zero; Stripe charges, captures and refunds need a positive amount"
        raise InvalidAmountError(msg, field=field)
    exponent = stripe_exponent(currency)
    try:
        units = to_minor_units(money, exponent=exponent)
    except InvalidAmountError:
        if currency in ZERO_DECIMAL:
            msg = (
                f"{money} has a fraction, but Stripe counts {currency} in whole units; "
                f"charge a whole number of {currency}"
            )
        else:
            msg = (
                f"{money} has more decimal places than the {exponent} that Stripe accepts "
                f"for {currency}"
            )
        raise InvalidAmountError(msg, field=field) from None
    if currency in THREE_DECIMAL and units % 10:
        lower = from_minor_units(units - units % 10, currency, exponent=3)
        upper = from_minor_units(units - units % 10 + 10, currency, exponent=3)
        msg = (
            f"Stripe requires the last digit of a {currency} amount to be 0 (its partners "
            f"settle {currency} in hundredths); {money} is not, use {lower.amount} or "
            f"{upper.amount}"
        )
        raise InvalidAmountError(msg, field=field)
    return units


def from_stripe_amount(
    units: object, currency: object, *, field: str = "amount", currency_field: str = "currency"
) -> Money:
    """The ``Money`` that Stripe's ``amount`` of ``units`` in ``currency`` (any case) means.

    Anything else -- units that are not an ``int``, a currency that is not a known code, a
    negative or too large amount -- is refused with the :class:`~paykit.errors.ValidationError`
    that names ``field`` or ``currency_field`` (a webhook names the event's own fields).
    """
    if isinstance(units, bool) or not isinstance(units, int):
        msg = f"a Stripe amount is an integer count of units, not {type(units).__name__}"
        raise InvalidAmountError(msg, field=field)
    if not isinstance(currency, str):
        msg = f"a Stripe currency is a three-letter code, not {type(currency).__name__}"
        raise UnknownCurrencyError(msg, field=currency_field)
    code = currency.upper()
    return from_minor_units(
        units, code, exponent=stripe_exponent(code), field=field, currency_field=currency_field
    )
