"""PCI guard: paykit stores provider tokens, never card numbers.

Any text that contains a run of 13 to 19 digits (spaces or dashes between them allowed)
passing the Luhn check is treated as a primary account number and refused before it is
stored or logged. The error names the field but never repeats the digits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from paykit.errors import CardDataRejectedError

__all__ = ["contains_card_number", "luhn_valid", "reject_card_data"]

# Groups of digits joined by single spaces or dashes ("4242 4242 4242 4242", "3782-822463-10005").
_DIGIT_RUN: Final = re.compile(r"\d+(?:[ -]\d+)*")
_SEPARATOR: Final = re.compile(r"[ -]")
_NON_DIGIT: Final = re.compile(r"\D")
_SHORTEST_PAN: Final = 13
_LONGEST_PAN: Final = 19


def luhn_valid(digits: str) -> bool:
    """Return whether ``digits`` (digits only) passes the Luhn checksum."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if position % 2:
            digit *= 2
            if digit > 9:  # noqa: PLR2004 - Luhn: subtract 9 from doubled digits above 9
                digit -= 9
        total += digit
    return total % 10 == 0


def contains_card_number(text: str) -> bool:
    """Return whether ``text`` contains a Luhn-valid number of 13-19 digits.

    A number is a whole run of digit groups or any consecutive groups within one
    ("ref 12 4242 4242 4242 4242" still holds a card number); a digit is never split
    off the middle of a group, so a 25-digit reference number is not a card number.
    """
    if len(_NON_DIGIT.sub("", text)) < _SHORTEST_PAN:
        return False  # too few digits in all: the common case, decided in C
    for match in _DIGIT_RUN.finditer(text):
        groups = _SEPARATOR.split(match.group())
        for first in range(len(groups)):
            digits = ""
            for group in groups[first:]:
                digits += group
                if len(digits) > _LONGEST_PAN:
                    break
                if len(digits) >= _SHORTEST_PAN and luhn_valid(digits):
                    return True
    return False


def reject_card_data(field: str, value: object) -> None:
    """Raise :class:`CardDataRejectedError` if ``value`` (or anything inside it) holds a PAN.

    Strings are scanned; mappings and lists are walked, keys included, so metadata cannot
    smuggle a card number in.
    """
    if isinstance(value, str):
        if len(value) >= _SHORTEST_PAN and contains_card_number(value):
            raise CardDataRejectedError(
                "looks like a card number; paykit stores only the provider's token and display "
                "details (brand, last 4 digits, expiry)",
                field=field,
            )
    elif isinstance(value, Mapping):
        for key, item in value.items():
            reject_card_data(f"{field} (a key)", key)
            reject_card_data(f"{field}.{key}", item)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            reject_card_data(f"{field}[{index}]", item)
