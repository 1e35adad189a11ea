"""PayPal's own currency rules: paykit ``Money`` to PayPal's decimal ``value`` strings and back.

PayPal amounts are ``{"currency_code": "USD", "value": "10.99"}``: a decimal string with the
currency's number of decimal places. PayPal's REST API accepts the currencies its currency
codes page lists (https://developer.paypal.com/api/rest/reference/currency-codes/), and names
its own exceptions to ISO 4217 there:

==============================  ==============================================================
currencies                      what PayPal's ``value`` carries
==============================  ==============================================================
HUF, JPY, TWD                   whole units only: "This currency does not support decimals. If
                                you pass a decimal amount, an error occurs." HUF and TWD have
                                two decimals in ISO 4217, so ``10.50 HUF`` is refused here;
                                ``10.00 HUF`` is sent as ``"10"``.
AUD BRL CAD CNY CZK DKK EUR     two decimal places (``"10.99"``). BRL, CNY and MYR are for
GBP HKD ILS MXN MYR NOK NZD     in-country PayPal accounts only; RUB is on PayPal's list and
PHP PLN RUB SEK SGD THB USD     kept, although PayPal stopped domestic RUB payments in 2022.
CHF
anything else                   refused: PayPal's REST API does not take it (KWD, ISK, ...).
==============================  ==============================================================

Every refusal is a :class:`~paykit.errors.ValidationError` raised before any request is built,
so no amount PayPal would misread or refuse for its currency or precision reaches it. The
conversion goes through :func:`paykit.money.to_minor_units`, the one function every adapter
uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Final

from paykit.errors import InvalidAmountError, UnknownCurrencyError, ValidationError
from paykit.money import Money, to_minor_units

__all__ = [
    "PAYPAL_CURRENCIES",
    "ZERO_DECIMAL",
    "from_paypal_money",
    "paypal_exponent",
    "paypal_money",
    "read_paypal_money",
    "to_paypal_value",
]

ZERO_DECIMAL: Final = frozenset({"HUF", "JPY", "TWD"})
"""Currencies PayPal takes in whole units only (its currency codes page, note 1)."""

PAYPAL_CURRENCIES: Final[Mapping[str, int]] = MappingProxyType(
    {
        code: 0 if code in ZERO_DECIMAL else 2
        for code in (
            "AUD",
            "BRL",
            "CAD",
            "CNY",
            "CZK",
            "DKK",
            "EUR",
            "HKD",
            "HUF",
            "ILS",
            "JPY",
            "MYR",
            "MXN",
            "TWD",
            "NZD",
            "NOK",
            "PHP",
            "PLN",
            "GBP",
            "RUB",
            "SGD",
            "SEK",
            "CHF",
            "THB",
            "USD",
        )
    }
)
"""Every currency PayPal's REST API lists, with the decimal places PayPal's ``value`` takes."""


def paypal_exponent(currency: str, *, field: str = "currency") -> int:
    """How many decimal places PayPal's ``value`` carries for ``currency``; refuse the others."""
    try:
        return PAYPAL_CURRENCIES[currency]
    except KeyError:
        msg = (
            f"PayPal's REST API does not accept {currency}; it takes "
            f"{', '.join(sorted(PAYPAL_CURRENCIES))}"
        )
        raise ValidationError(msg, field=field) from None


def to_paypal_value(money: Money, *, field: str = "amount") -> str:
    """PayPal's decimal ``value`` string for ``money`` (never rounded; zero is refused)."""
    exponent = paypal_exponent(money.currency, field=field)
    if money.is_zero():
        msg = f"{money} is zero; PayPal orders, captures and refunds need a positive amount"
        raise InvalidAmountError(msg, field=field)
    try:
        units = to_minor_units(money, exponent=exponent)
    except InvalidAmountError:
        msg = (
            f"{money} has a fraction, but PayPal takes {money.currency} in whole units only; "
            f"pass a whole number of {money.currency}"
        )
        raise InvalidAmountError(msg, field=field) from None
    if exponent == 0:
        return str(units)
    whole, fraction = divmod(units, 10**exponent)
    return f"{whole}.{fraction:0{exponent}d}"


def paypal_money(money: Money, *, field: str = "amount") -> dict[str, str]:
    """PayPal's ``money`` object for ``money``."""
    return {"currency_code": money.currency, "value": to_paypal_value(money, field=field)}


def from_paypal_money(value: object) -> Money | None:
    """The ``Money`` a PayPal ``money`` object means, or ``None`` if it is missing or odd.

    The lenient reading, for PayPal's answers to paykit's requests, where an amount is
    informational; webhooks use :func:`read_paypal_money`, which says what is wrong.
    """
    try:
        return read_paypal_money(value)
    except ValidationError:
        return None


def read_paypal_money(value: object, *, field: str = "amount") -> Money:
    """The ``Money`` a PayPal ``money`` object means, or the ``ValidationError`` saying why not.

    The error names the part that is not money: ``field`` itself when it is not an object,
    else ``{field}.value`` or ``{field}.currency_code``. A negative value (PayPal writes
    reversals that way in some reports) is read as its size.
    """
    if not isinstance(value, Mapping):
        msg = f"a PayPal amount is an object with currency_code and value, not {_kind(value)}"
        raise InvalidAmountError(msg, field=field)
    obj: Mapping[str, Any] = value
    currency, amount = obj.get("currency_code"), obj.get("value")
    value_field, currency_field = f"{field}.value", f"{field}.currency_code"
    if not isinstance(currency, str):
        msg = f"a PayPal currency_code is a three-letter code, not {_kind(currency)}"
        raise UnknownCurrencyError(msg, field=currency_field)
    if not isinstance(amount, str):
        msg = f"a PayPal value is a decimal string, not {_kind(amount)}"
        raise InvalidAmountError(msg, field=value_field)
    try:
        number = abs(Decimal(amount))
    except InvalidOperation:
        msg = "the value is not a decimal number"
        raise InvalidAmountError(msg, field=value_field) from None
    return Money.of(number, currency.upper(), field=value_field, currency_field=currency_field)


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__
