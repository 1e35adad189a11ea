"""Money (DESIGN.md section 2): exponents, minor units, the rejection table, arithmetic."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paykit._currency_table import ISO_4217_MINOR_UNITS
from paykit.errors import (
    CurrencyMismatchError,
    InvalidAmountError,
    UnknownCurrencyError,
    ValidationError,
)
from paykit.money import (
    MAX_MINOR_UNITS,
    Money,
    currency_exponent,
    from_minor_units,
    to_minor_units,
)

# --------------------------------------------------------------------------- exponents


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [
        ("USD", 2),
        ("EUR", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("KWD", 3),
        ("BHD", 3),
        ("CLF", 4),
    ],
)
def test_currency_exponent(currency: str, exponent: int) -> None:
    """Each currency reports its ISO 4217 minor-unit exponent."""
    assert currency_exponent(currency) == exponent


# --------------------------------------------------------------------------- normalisation


def test_of_normalises_to_the_currency_exponent() -> None:
    """``Money.of("5", "USD")`` is stored as 5.00 and prints as ``5.00 USD``."""
    money = Money.of("5", "USD")
    assert money.amount == Decimal("5.00")
    assert money.amount.as_tuple().exponent == -2
    assert str(money) == "5.00 USD"
    assert money.currency == "USD"


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (Decimal(5), "USD", "5.00"),
        (5, "USD", "5.00"),
        ("0", "KWD", "0.000"),
        ("7.5", "CLF", "7.5000"),
        (500, "JPY", "500"),
        (Decimal("1E+3"), "USD", "1000.00"),
    ],
)
def test_accepted_inputs_are_normalised(value: Any, currency: str, expected: str) -> None:
    """Decimals, ints and plain strings are accepted and padded to the currency's places."""
    money = Money.of(value, currency)
    assert str(money.amount) == expected


def test_direct_construction_normalises_too() -> None:
    """``Money(Decimal(5), "USD")`` is normalised exactly like ``Money.of``."""
    assert Money(Decimal(5), "USD").amount.as_tuple() == Decimal("5.00").as_tuple()


# --------------------------------------------------------------------------- minor units


@pytest.mark.parametrize(
    ("amount", "currency", "units"),
    [
        ("12.34", "USD", 1234),
        ("500", "JPY", 500),
        ("1.234", "KWD", 1234),
        ("0", "USD", 0),
        ("0.0001", "CLF", 1),
    ],
)
def test_minor_units_round_trip(amount: str, currency: str, units: int) -> None:
    """``to_minor_units`` and ``from_minor_units`` convert both ways using the ISO exponent."""
    money = Money.of(amount, currency)
    assert to_minor_units(money) == units
    assert money.minor_units == units
    assert from_minor_units(units, currency) == money


def test_to_minor_units_with_exponent_override() -> None:
    """A provider that sends ISK in hundredths gets 100 ISK as 10000."""
    assert to_minor_units(Money.of(100, "ISK"), exponent=2) == 10000


def test_from_minor_units_with_exponent_override() -> None:
    """10000 ISK hundredths read back with ``exponent=2`` is 100 ISK (the inverse of the above)."""
    money = from_minor_units(10000, "ISK", exponent=2)
    assert money == Money.of(100, "ISK")
    assert to_minor_units(money, exponent=2) == 10000


def test_from_minor_units_override_refuses_unrepresentable_value() -> None:
    """10050 ISK hundredths (100.50 ISK) cannot be an ISK amount, so it is refused."""
    with pytest.raises(InvalidAmountError) as info:
        from_minor_units(10050, "ISK", exponent=2)
    assert info.value.field == "amount"


def test_to_minor_units_refuses_value_a_smaller_override_cannot_represent() -> None:
    """1.23 USD in units of 0.1 USD would need rounding, so it is refused."""
    with pytest.raises(InvalidAmountError) as info:
        to_minor_units(Money.of("1.23", "USD"), exponent=1)
    assert info.value.field == "amount"
    assert to_minor_units(Money.of("1.20", "USD"), exponent=1) == 12


@pytest.mark.parametrize("units", [1.0, True, "100", Decimal(100)])
def test_from_minor_units_refuses_non_int(units: Any) -> None:
    """Minor units must be a real ``int``: floats, bools, strings and Decimals are refused."""
    with pytest.raises(InvalidAmountError) as info:
        from_minor_units(units, "USD")
    assert info.value.field == "amount"


# --------------------------------------------------------------------------- rejection table

_ABOVE_MAX = MAX_MINOR_UNITS + 1

REJECTED_AMOUNTS: list[tuple[Any, str]] = [
    (1.1, "USD"),
    (0.0, "USD"),
    (True, "USD"),
    (False, "USD"),
    (None, "USD"),
    ([1], "USD"),
    (Decimal("NaN"), "USD"),
    (Decimal("sNaN"), "USD"),
    (Decimal("Infinity"), "USD"),
    (Decimal("-Infinity"), "USD"),
    (Decimal(-1), "USD"),
    (Decimal("-0"), "USD"),
    (Decimal("-0.00"), "USD"),
    (-1, "USD"),
    ("-0", "USD"),
    ("-1.00", "USD"),
    ("+1.00", "USD"),
    ("1e3", "USD"),
    ("1E-2", "USD"),
    (" 1.00", "USD"),
    ("1.00 ", "USD"),
    ("1.00\n", "USD"),
    ("1,000.00", "USD"),
    ("0x10", "USD"),
    ("", "USD"),
    (".5", "USD"),
    ("5.", "USD"),
    ("NaN", "USD"),
    ("Infinity", "USD"),
    ("\u0661\u0662", "USD"),  # Arabic-Indic digits "١٢"
    ("\uff11\uff12", "USD"),  # fullwidth digits one, two
    (Decimal("1.001"), "USD"),
    ("1.001", "USD"),
    ("1.5", "JPY"),
    ("1.2345", "KWD"),
    (Decimal(_ABOVE_MAX).scaleb(-2), "USD"),
    (_ABOVE_MAX, "JPY"),
    (Decimal(_ABOVE_MAX).scaleb(-3), "KWD"),
    ("10000000000", "USD"),
    (10**40, "USD"),
    (Decimal("1E+40"), "USD"),
]


def _case_id(case: tuple[Any, str]) -> str:
    value, currency = case
    return f"{type(value).__name__}:{value!r}-{currency}"


@pytest.mark.parametrize(
    ("value", "currency"), REJECTED_AMOUNTS, ids=[_case_id(c) for c in REJECTED_AMOUNTS]
)
def test_rejected_amounts(value: Any, currency: str) -> None:
    """Every bad amount raises exactly ``InvalidAmountError`` naming the ``amount`` field."""
    with pytest.raises(InvalidAmountError) as info:
        Money.of(value, currency)
    assert type(info.value) is InvalidAmountError
    assert info.value.code == "invalid_amount"
    assert info.value.field == "amount"
    assert str(info.value).startswith("amount: ")


@pytest.mark.parametrize(
    ("value", "currency"), REJECTED_AMOUNTS, ids=[_case_id(c) for c in REJECTED_AMOUNTS]
)
def test_rejected_amounts_by_direct_construction(value: Any, currency: str) -> None:
    """The constructor refuses the same amounts as ``Money.of`` (no back door)."""
    with pytest.raises(InvalidAmountError) as info:
        Money(value, currency)
    assert info.value.field == "amount"


@pytest.mark.parametrize(
    ("currency", "maximum"),
    [
        ("USD", "9999999999.99"),
        ("JPY", "999999999999"),
        ("KWD", "999999999.999"),
    ],
)
def test_exactly_the_maximum_is_accepted(currency: str, maximum: str) -> None:
    """The largest amount, exactly ``MAX_MINOR_UNITS`` minor units, is accepted."""
    money = Money.of(maximum, currency)
    assert money.minor_units == MAX_MINOR_UNITS
    assert from_minor_units(MAX_MINOR_UNITS, currency) == money


def test_direct_construction_refuses_too_many_places() -> None:
    """``Money(Decimal("1.001"), "USD")`` is refused, not rounded."""
    with pytest.raises(InvalidAmountError) as info:
        Money(Decimal("1.001"), "USD")
    assert info.value.field == "amount"


@pytest.mark.parametrize("currency", ["usd", "XXX", "XAU", "ABC", "", 123, None, "USD "])
def test_unknown_currencies(currency: Any) -> None:
    """Lower-case, non-monetary, made-up and non-string codes raise ``UnknownCurrencyError``."""
    with pytest.raises(UnknownCurrencyError) as info:
        Money.of("1", currency)
    assert type(info.value) is UnknownCurrencyError
    assert info.value.code == "unknown_currency"
    assert info.value.field == "currency"
    with pytest.raises(UnknownCurrencyError):
        currency_exponent(currency)


def test_of_reports_the_callers_field_names() -> None:
    """``field=`` and ``currency_field=`` put the caller's argument names in the error."""
    with pytest.raises(InvalidAmountError) as amount_info:
        Money.of("1.001", "USD", field="refund_amount")
    assert amount_info.value.field == "refund_amount"
    assert str(amount_info.value).startswith("refund_amount: ")
    with pytest.raises(UnknownCurrencyError) as currency_info:
        Money.of("1", "usd", field="refund_amount", currency_field="refund_currency")
    assert currency_info.value.field == "refund_currency"


def test_errors_share_the_validation_root() -> None:
    """Amount and currency errors are ``ValidationError``s, so callers can catch them together."""
    with pytest.raises(ValidationError):
        Money.of("x", "USD")
    with pytest.raises(ValidationError):
        Money.of("1", "xyz")


# --------------------------------------------------------------------------- arithmetic


def test_add_and_subtract_same_currency() -> None:
    """Addition and subtraction are exact and keep the currency."""
    a = Money.of("10.10", "USD")
    b = Money.of("0.20", "USD")
    assert a + b == Money.of("10.30", "USD")
    assert a - b == Money.of("9.90", "USD")
    assert a - a == Money.zero("USD")
    assert (a - a).is_zero()


def test_compare_same_currency() -> None:
    """Ordering works between amounts of one currency."""
    small = Money.of("1.00", "EUR")
    large = Money.of("2.00", "EUR")
    assert small < large
    assert small <= large
    assert small <= Money.of("1", "EUR")
    assert large > small
    assert large >= small
    assert not large < small


def test_currency_mismatch_is_refused() -> None:
    """Adding, subtracting or comparing USD with EUR raises ``CurrencyMismatchError``."""
    usd = Money.of("1.00", "USD")
    eur = Money.of("1.00", "EUR")
    operations: list[Callable[[], object]] = [
        lambda: usd + eur,
        lambda: usd - eur,
        lambda: usd < eur,
        lambda: usd <= eur,
        lambda: usd > eur,
        lambda: usd >= eur,
    ]
    for operation in operations:
        with pytest.raises(CurrencyMismatchError) as info:
            operation()
        assert info.value.field == "currency"
    assert usd != eur


def test_subtraction_below_zero_is_refused() -> None:
    """``1.00 - 1.01`` raises ``InvalidAmountError`` instead of going negative."""
    with pytest.raises(InvalidAmountError) as info:
        Money.of("1.00", "USD") - Money.of("1.01", "USD")
    assert info.value.field == "amount"


def test_addition_above_the_maximum_is_refused() -> None:
    """A sum above ``MAX_MINOR_UNITS`` is refused like any other too-large amount."""
    top = from_minor_units(MAX_MINOR_UNITS, "USD")
    with pytest.raises(InvalidAmountError):
        top + Money.of("0.01", "USD")


def test_money_is_hashable_and_equal_by_value() -> None:
    """Equal amounts are equal and hash alike, however they were spelled."""
    spellings = [
        Money.of("5", "USD"),
        Money.of("5.00", "USD"),
        Money.of(5, "USD"),
        Money(Decimal("5.0"), "USD"),
    ]
    assert len(set(spellings)) == 1
    assert all(m == spellings[0] for m in spellings)
    assert {Money.of("5", "USD"): "x"}[Money.of(5, "USD")] == "x"
    assert Money.of(5, "USD") != Money.of(5, "EUR")
    assert Money.of(5, "USD") != Money.of(6, "USD")


def test_money_is_immutable() -> None:
    """A ``Money`` cannot be changed after it is built."""
    money = Money.of(5, "USD")
    with pytest.raises(AttributeError):
        money.amount = Decimal(6)  # type: ignore[misc]
    assert money.amount == Decimal(5)


# --------------------------------------------------------------------------- properties


@given(
    units=st.integers(min_value=0, max_value=MAX_MINOR_UNITS),
    currency=st.sampled_from(sorted(ISO_4217_MINOR_UNITS)),
)
def test_minor_units_round_trip_property(units: int, currency: str) -> None:
    """``from_minor_units`` then ``to_minor_units`` is the identity for every valid amount."""
    money = from_minor_units(units, currency)
    assert to_minor_units(money) == units
    assert -int(money.amount.as_tuple().exponent) == ISO_4217_MINOR_UNITS[currency]
    assert Money.of(str(money.amount), currency) == money


@given(
    value=st.floats(allow_nan=True, allow_infinity=True),
    currency=st.sampled_from(sorted(ISO_4217_MINOR_UNITS)),
)
def test_floats_are_never_accepted(value: float, currency: str) -> None:
    """No float, whatever its value, is accepted as an amount or as minor units."""
    with pytest.raises(InvalidAmountError):
        Money.of(value, currency)  # type: ignore[arg-type]
    with pytest.raises(InvalidAmountError):
        Money(value, currency)  # type: ignore[arg-type]
    with pytest.raises(InvalidAmountError):
        from_minor_units(value, currency)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "currency", "expected"),
    [("1.000", "USD", "1.00"), ("100.00", "JPY", "100"), ("0.1230", "KWD", "0.123")],
)
def test_trailing_zeros_beyond_the_exponent_are_exact_and_accepted(
    text: str, currency: str, expected: str
) -> None:
    """Zeros past the minor unit change no value, so they are normalised away, not refused."""
    assert Money.of(text, currency).amount == Decimal(expected)
    assert str(Money.of(text, currency).amount) == expected
