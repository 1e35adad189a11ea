"""PayPal's currency rules: decimal strings with PayPal's places, refusals before any request."""

from __future__ import annotations

from decimal import Decimal

import pytest
from _paypal_support import charge_request, make_fake, make_gateway, validating
from hypothesis import given
from hypothesis import strategies as st

from paykit.errors import InvalidAmountError, ValidationError
from paykit.gateways.paypal import (
    PAYPAL_CURRENCIES,
    from_paypal_money,
    paypal_exponent,
    to_paypal_value,
)
from paykit.money import Money, from_minor_units
from paykit.testing.fake_paypal import FakeVault


@pytest.mark.parametrize(
    ("amount", "currency", "value"),
    [
        ("10.99", "USD", "10.99"),
        ("10", "EUR", "10.00"),
        ("0.01", "GBP", "0.01"),
        ("1500", "JPY", "1500"),
        ("1500.00", "HUF", "1500"),
        ("990.00", "TWD", "990"),
        ("9999999999.99", "USD", "9999999999.99"),
    ],
)
def test_value_strings(amount: str, currency: str, value: str) -> None:
    """Amounts become PayPal's decimal strings with the places PayPal takes for the currency."""
    assert to_paypal_value(Money.of(amount, currency)) == value


@pytest.mark.parametrize("currency", ["HUF", "TWD"])
def test_fractions_of_paypal_zero_decimal_currencies_are_refused(currency: str) -> None:
    """HUF and TWD have cents in ISO 4217 but not at PayPal: a fraction is refused, not rounded."""
    with pytest.raises(InvalidAmountError, match="whole units"):
        to_paypal_value(Money.of("10.50", currency))


@pytest.mark.parametrize("currency", ["KWD", "ISK", "INR", "ZAR"])
def test_currencies_paypal_does_not_take_are_refused(currency: str) -> None:
    """A currency missing from PayPal's list is a ValidationError naming the currency."""
    with pytest.raises(ValidationError, match=currency) as raised:
        to_paypal_value(Money.of("10", currency))
    assert raised.value.field == "amount"


def test_zero_is_refused() -> None:
    """Zero moves no money at PayPal, so it is refused before any request."""
    with pytest.raises(InvalidAmountError, match="zero"):
        to_paypal_value(Money.zero("USD"))


def test_the_list_is_paypals() -> None:
    """The table is PayPal's 25 REST currencies, with HUF, JPY and TWD whole-unit only."""
    assert len(PAYPAL_CURRENCIES) == 25
    assert {code for code, places in PAYPAL_CURRENCIES.items() if places == 0} == {
        "HUF",
        "JPY",
        "TWD",
    }
    assert paypal_exponent("USD") == 2


@pytest.mark.parametrize(
    ("token", "amount", "currency"),
    [(FakeVault.SUCCESS, "10.50", "HUF"), (FakeVault.SUCCESS, "10.000", "KWD")],
)
def test_refusal_happens_before_any_request(token: str, amount: str, currency: str) -> None:
    """A charge PayPal cannot represent raises before a single request, even a token request."""
    fake = make_fake()
    transport, _ = validating(fake)
    gateway = make_gateway(transport)

    with pytest.raises(ValidationError):
        gateway.charge(charge_request(token, amount=amount, currency=currency))

    assert fake.requests == []


def test_reading_paypal_money() -> None:
    """PayPal's money objects read back as ``Money``; odd ones as ``None``."""
    assert from_paypal_money({"currency_code": "JPY", "value": "1500"}) == Money.of("1500", "JPY")
    assert from_paypal_money({"currency_code": "HUF", "value": "1500"}) == Money.of("1500", "HUF")
    assert from_paypal_money({"currency_code": "usd", "value": "-5.00"}) == Money.of("5", "USD")
    assert from_paypal_money({"currency_code": "USD", "value": "abc"}) is None
    assert from_paypal_money({"currency_code": "XYZ", "value": "1"}) is None
    assert from_paypal_money(None) is None


@given(
    st.sampled_from(sorted(PAYPAL_CURRENCIES)),
    st.integers(min_value=1, max_value=10**9),
)
def test_round_trip(currency: str, units: int) -> None:
    """Every representable amount survives the trip to PayPal's string and back exactly."""
    places = PAYPAL_CURRENCIES[currency]
    money = from_minor_units(units, currency, exponent=places)
    value = to_paypal_value(money)
    assert Decimal(value) == money.amount
    assert from_paypal_money({"currency_code": currency, "value": value}) == money
