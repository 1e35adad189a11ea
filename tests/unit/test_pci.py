"""The PCI guard (DESIGN.md section 7): Luhn-valid 13-19 digit numbers never get in."""

from __future__ import annotations

import re
from typing import Any

import pytest

from paykit.domain.pci import contains_card_number, luhn_valid, reject_card_data
from paykit.errors import CardDataRejectedError, ValidationError

# Stripe's documented test numbers plus a 19-digit UnionPay test number.
CARD_NUMBERS = [
    "4242424242424242",  # Visa
    "4000056655665556",  # Visa debit
    "378282246310005",  # American Express, 15 digits
    "6011111111111117",  # Discover
    "4222222222222",  # Visa, 13 digits
    "6205500000000000004",  # UnionPay, 19 digits
]


def _spaced(number: str, size: int = 4, sep: str = " ") -> str:
    return sep.join(number[i : i + size] for i in range(0, len(number), size))


# --------------------------------------------------------------------------- luhn_valid


@pytest.mark.parametrize("number", CARD_NUMBERS)
def test_test_card_numbers_pass_luhn(number: str) -> None:
    """Every test card number passes the Luhn checksum."""
    assert luhn_valid(number)


@pytest.mark.parametrize("number", ["4242424242424241", "378282246310006", "1234567812345678"])
def test_luhn_rejects_bad_checksums(number: str) -> None:
    """A number with a wrong check digit fails the Luhn checksum."""
    assert not luhn_valid(number)


# --------------------------------------------------------------------------- detected


@pytest.mark.parametrize("number", CARD_NUMBERS)
def test_bare_card_numbers_are_detected(number: str) -> None:
    """A bare 13-19 digit Luhn-valid number is a card number."""
    assert len(number) in range(13, 20)
    assert contains_card_number(number)


@pytest.mark.parametrize("number", CARD_NUMBERS)
@pytest.mark.parametrize("sep", [" ", "-"])
def test_grouped_card_numbers_are_detected(number: str, sep: str) -> None:
    """Card numbers written in groups with spaces or dashes are detected."""
    assert contains_card_number(_spaced(number, 4, sep))


@pytest.mark.parametrize(
    "text",
    [
        "3782 822463 10005",  # Amex's own 4-6-5 grouping
        "3782-822463-10005",
        "card 4242 4242 4242 4242 thanks",
        "card:4242424242424242.",
        "pay with 4000-0566-5566-5556 please",
        "ref 12 4242 4242 4242 4242",  # another number group in front
        "4242 4242 4242 4242 99",  # another number group behind
        "abc4242424242424242xyz",
        "first line\n4242424242424242\nlast line",
    ],
)
def test_card_numbers_in_text_are_detected(text: str) -> None:
    """A card number inside free text, next to other numbers, is still found."""
    assert contains_card_number(text)


@pytest.mark.parametrize(
    "text",
    [
        "4242\u00a04242\u00a04242\u00a04242",  # no-break spaces, as pasted from a web page
        "4242  4242  4242  4242",  # double spaces
        "4242\t4242\t4242\t4242",  # tabs
    ],
    ids=["no-break-space", "double-space", "tab"],
)
def test_card_numbers_with_other_whitespace_are_detected(text: str) -> None:
    """A card number whose groups are split by other whitespace is still a card number."""
    assert contains_card_number(text)


def test_card_number_in_non_ascii_digits_is_detected() -> None:
    """A card number typed in Arabic-Indic digits is still a card number."""
    arabic_indic = "4242424242424242".translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert contains_card_number(arabic_indic)


# --------------------------------------------------------------------------- not detected


@pytest.mark.parametrize(
    "text",
    [
        "4242424242424241",  # Luhn-invalid, 16 digits
        "4242 4242 4242 4241",
        "424242424242",  # 12 digits
        "1234567890123456789012345",  # 25-digit reference number, one group
        "4242424242424242424242424",  # 25 digits that start with a card number
        "+1 415-555-2671",
        "+44 20 7946 0958",
        "+49 30 12345678",
        "(555) 123-4567",
        "2024-01-15",
        "15/01/2024",
        "2024-01-15 13:45:00",
        "2024-01-15T13:45:00Z",
        "123e4567-e89b-12d3-a456-426614174000",
        "550e8400-e29b-41d4-a716-446655440000",
        "tok_visa",
        "pm_card_visa",
        "card ending 4242, exp 12/34",
        "",
    ],
)
def test_non_card_text_is_not_detected(text: str) -> None:
    """Invalid checksums, short numbers, long references, phones, dates and tokens pass."""
    assert not contains_card_number(text)
    reject_card_data("note", text)


def test_nil_uuid_is_not_a_card_number() -> None:
    """The nil UUID (all zeros) is a UUID, not a card number, even though zeros pass Luhn."""
    nil_uuid = "00000000-0000-0000-0000-000000000000"
    assert not contains_card_number(nil_uuid)
    reject_card_data("metadata.request_id", nil_uuid)


# --------------------------------------------------------------------------- reject_card_data


def _assert_secret_free(error: CardDataRejectedError, number: str) -> None:
    """The error's text and repr repeat no digits of the card number."""
    for text in (str(error), repr(error), error.message, *map(str, error.args)):
        assert number not in text
        assert number[-4:] not in text
        assert not re.search(r"\d{4}", text)
        assert not contains_card_number(text)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("description", "4242424242424242", "description"),
        ("metadata", {"note": "card 4242 4242 4242 4242 thanks"}, "metadata.note"),
        ("metadata", {"a": {"b": "4242-4242-4242-4242"}}, "metadata.a.b"),
        ("metadata", {"items": ["ok", "4242424242424242"]}, "metadata.items[1]"),
        ("metadata", {"items": ("ok", "4242424242424242")}, "metadata.items[1]"),
        ("metadata", ["4242424242424242"], "metadata[0]"),
        ("metadata", {"4242424242424242": "x"}, "metadata (a key)"),
        ("metadata", {"a": {"4242424242424242": "x"}}, "metadata.a (a key)"),
    ],
)
def test_reject_card_data_names_the_field(field: str, value: Any, named: str) -> None:
    """Strings, dict keys and values and list items are scanned; the error names the field."""
    with pytest.raises(CardDataRejectedError) as info:
        reject_card_data(field, value)
    assert isinstance(info.value, ValidationError)
    assert info.value.code == "card_data_rejected"
    assert info.value.field == named
    assert str(info.value).startswith(f"{named}: ")
    _assert_secret_free(info.value, "4242424242424242")


@pytest.mark.parametrize(
    "value",
    [
        {"card": 4242424242424242},
        {"items": [4242424242424242]},
        {4242424242424242: "x"},
    ],
    ids=["int-value", "int-in-list", "int-key"],
)
def test_reject_card_data_scans_integers(value: Any) -> None:
    """A card number stored as a JSON number in metadata is rejected like a string one."""
    with pytest.raises(CardDataRejectedError) as info:
        reject_card_data("metadata", value)
    _assert_secret_free(info.value, "4242424242424242")


@pytest.mark.parametrize(
    "value",
    [
        None,
        42,
        True,
        "tok_visa",
        {"order": "ord_123", "count": 3, "nested": {"token": "pm_card_visa"}},
        ["pm_card_visa", {"phone": "+1 415-555-2671"}],
        {"amount": "4242.42", "last4": "4242", "exp": "12/34"},
    ],
)
def test_reject_card_data_lets_clean_values_through(value: Any) -> None:
    """Values with no card number pass without error and are left as they were."""
    snapshot = repr(value)
    reject_card_data("metadata", value)
    assert repr(value) == snapshot
