"""Cross-check the ISO 4217 minor-unit table against Babel's CLDR data.

The table in ``paykit._currency_table`` is typed in by hand from the ISO 4217
list; CLDR (shipped by Babel) is an independently maintained data set. The two
agree for almost every currency. Where they legitimately differ, the
difference is listed in ``ISO_VS_CLDR_DIFFERENCES`` with the reason, and the
test proves each listed difference is still real so the list cannot go stale.

Note: ``babel.numbers.get_currency_precision`` returns CLDR's default (2) for
any code it has no fraction data for, so the equality check alone would not
catch an unknown code; ``test_every_code_is_known_to_cldr`` covers that.
"""

import re

import pytest
from babel.core import get_global
from babel.numbers import get_currency_precision, is_currency, list_currencies

from paykit._currency_table import ISO_4217_MINOR_UNITS

# code -> (ISO 4217 exponent, CLDR "digits") for every currency where they differ.
# In all of these cases the ISO list keeps the formal subunit, while CLDR
# records the digits that are used in practice because the subunit is obsolete.
ISO_VS_CLDR_DIFFERENCES: dict[str, tuple[int, int]] = {
    # Afghani: ISO keeps the pul (1/100); CLDR uses 0, puls are not in use.
    "AFN": (2, 0),
    # Lek: ISO keeps the qindarka (1/100); CLDR uses 0, qindarka are obsolete.
    "ALL": (2, 0),
    # Colombian peso: ISO keeps centavos; CLDR uses 0, centavos are not used.
    "COP": (2, 0),
    # Forint: ISO keeps the filler (1/100); CLDR uses 0, filler left circulation.
    "HUF": (2, 0),
    # Rupiah: ISO keeps the sen (1/100); CLDR uses 0, sen are not in use.
    "IDR": (2, 0),
    # Iraqi dinar: ISO keeps the fils (1/1000); CLDR uses 0, fils are obsolete.
    "IQD": (3, 0),
    # Iranian rial: ISO keeps the dinar (1/100); CLDR uses 0, it is not used.
    "IRR": (2, 0),
    # North Korean won: ISO keeps the chon (1/100); CLDR uses 0.
    "KPW": (2, 0),
    # Lao kip: ISO keeps the att (1/100); CLDR uses 0, att are obsolete.
    "LAK": (2, 0),
    # Lebanese pound: ISO keeps the piastre (1/100); CLDR uses 0.
    "LBP": (2, 0),
    # Malagasy ariary: ISO gives 2 (the iraimbilanja is 1/5); CLDR uses 0.
    "MGA": (2, 0),
    # Kyat: ISO keeps the pya (1/100); CLDR uses 0, pya are not in use.
    "MMK": (2, 0),
    # Somali shilling: ISO keeps the cent (1/100); CLDR uses 0.
    "SOS": (2, 0),
    # Syrian pound: ISO keeps the piastre (1/100); CLDR uses 0.
    "SYP": (2, 0),
    # Yemeni rial: ISO keeps the fils (1/100); CLDR uses 0.
    "YER": (2, 0),
}

# ISO list-one codes whose minor unit is "N.A.": no payment can be in them.
NOT_APPLICABLE_CODES = (
    "XAG",
    "XAU",
    "XBA",
    "XBB",
    "XBC",
    "XBD",
    "XDR",
    "XPD",
    "XPT",
    "XSU",
    "XTS",
    "XUA",
    "XXX",
)

# Codes that recent ISO 4217 amendments moved to the historic list.
WITHDRAWN_CODES = ("ANG", "BGN", "CUC", "HRK", "SLL", "ZWL")

SPOT_CHECKS = {
    "USD": 2,
    "EUR": 2,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "BHD": 3,
    "CLF": 4,
}

TABLE_CODES = sorted(ISO_4217_MINOR_UNITS)
AGREEING_CODES = [code for code in TABLE_CODES if code not in ISO_VS_CLDR_DIFFERENCES]


@pytest.mark.parametrize("code", AGREEING_CODES)
def test_exponent_matches_cldr(code: str) -> None:
    """Prove the table's exponent equals CLDR's digits for every unlisted code."""
    assert ISO_4217_MINOR_UNITS[code] == get_currency_precision(code)


@pytest.mark.parametrize("code", sorted(ISO_VS_CLDR_DIFFERENCES))
def test_listed_difference_is_real(code: str) -> None:
    """Prove each listed ISO-vs-CLDR difference exists exactly as recorded."""
    iso_exponent, cldr_digits = ISO_VS_CLDR_DIFFERENCES[code]
    assert iso_exponent != cldr_digits
    assert ISO_4217_MINOR_UNITS[code] == iso_exponent
    assert get_currency_precision(code) == cldr_digits


@pytest.mark.parametrize("code", TABLE_CODES)
def test_every_code_is_known_to_cldr(code: str) -> None:
    """Prove every code in the table is a currency that CLDR knows."""
    assert is_currency(code)
    assert code in list_currencies()
    assert code in get_global("all_currencies")


@pytest.mark.parametrize(("code", "exponent"), sorted(SPOT_CHECKS.items()))
def test_spot_check(code: str, exponent: int) -> None:
    """Prove well-known currencies carry their well-known ISO exponent."""
    assert ISO_4217_MINOR_UNITS[code] == exponent


@pytest.mark.parametrize("code", NOT_APPLICABLE_CODES)
def test_not_applicable_code_is_absent(code: str) -> None:
    """Prove codes with an ISO minor unit of "N.A." are left out of the table."""
    assert code not in ISO_4217_MINOR_UNITS


@pytest.mark.parametrize("code", WITHDRAWN_CODES)
def test_withdrawn_code_is_absent(code: str) -> None:
    """Prove codes withdrawn by recent ISO amendments are left out of the table."""
    assert code not in ISO_4217_MINOR_UNITS


def test_table_shape() -> None:
    """Prove the table is read-only, sorted, and holds only well-formed entries."""
    assert not isinstance(ISO_4217_MINOR_UNITS, dict)
    with pytest.raises(TypeError):
        ISO_4217_MINOR_UNITS["ZZZ"] = 2  # type: ignore[index]
    assert list(ISO_4217_MINOR_UNITS) == TABLE_CODES
    for code, exponent in ISO_4217_MINOR_UNITS.items():
        assert re.fullmatch("[A-Z]{3}", code), code
        assert exponent in {0, 2, 3, 4}, code
