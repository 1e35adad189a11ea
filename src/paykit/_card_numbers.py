"""Recognising card numbers (PANs) in text, with no dependency on the rest of paykit.

A card number is 13 to 19 digits passing the Luhn check and not starting with 0 (no issuer
number does). Digits may be grouped by spaces (any horizontal white space, e.g. a pasted
no-break space) or dashes: "4242 4242 4242 4242", "3782-822463-10005". Every Unicode
decimal digit counts, so a number typed in Arabic-Indic digits is still found.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "REDACTED_CARD_NUMBER",
    "contains_card_number",
    "is_card_number",
    "luhn_valid",
    "redact_card_numbers",
]

_SEPARATOR_PATTERN: Final = r"[^\S\r\n]+|-"
_DIGIT_RUN: Final = re.compile(rf"\d+(?:(?:{_SEPARATOR_PATTERN})\d+)*")
_SEPARATOR: Final = re.compile(_SEPARATOR_PATTERN)
_NON_DIGIT: Final = re.compile(r"\D")
SHORTEST_PAN: Final = 13
LONGEST_PAN: Final = 19
_DOUBLED_OVERFLOW: Final = 9
REDACTED_CARD_NUMBER: Final = "[redacted card number]"
"""What :func:`redact_card_numbers` puts where a card number was."""


def luhn_valid(digits: str) -> bool:
    """Return whether ``digits`` (decimal digits only) passes the Luhn checksum."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2:
            digit *= 2
            if digit > _DOUBLED_OVERFLOW:
                digit -= 9
        total += digit
    return total % 10 == 0


def is_card_number(digits: str) -> bool:
    """Return whether ``digits`` (decimal digits only) could be a card number."""
    return SHORTEST_PAN <= len(digits) <= LONGEST_PAN and int(digits[0]) != 0 and luhn_valid(digits)


def contains_card_number(text: str) -> bool:
    """Return whether ``text`` contains a card number.

    A number is a whole run of digit groups or any consecutive groups within one
    ("ref 12 4242 4242 4242 4242" still holds a card number); a digit is never split off
    the middle of a group, so a 25-digit reference number is not a card number.
    """
    if len(_NON_DIGIT.sub("", text)) < SHORTEST_PAN:
        return False  # too few digits in all: the common case, decided in C
    return any(_run_holds_card_number(match.group()) for match in _DIGIT_RUN.finditer(text))


def redact_card_numbers(text: str) -> str:
    """Return ``text`` with every digit run that holds a card number replaced.

    The whole run goes (``"ref 12 4242 4242 4242 4242"`` keeps only ``"ref "``), so no
    group of the number survives; text without a card number is returned unchanged.
    """
    if len(_NON_DIGIT.sub("", text)) < SHORTEST_PAN:
        return text
    return _DIGIT_RUN.sub(
        lambda match: (
            REDACTED_CARD_NUMBER if _run_holds_card_number(match.group()) else match.group()
        ),
        text,
    )


def _run_holds_card_number(run: str) -> bool:
    """Whether consecutive whole groups of one run of digit groups make a card number."""
    groups = _SEPARATOR.split(run)
    for first in range(len(groups)):
        digits = ""
        for group in groups[first:]:
            digits += group
            if len(digits) > LONGEST_PAN:
                break
            if is_card_number(digits):
                return True
    return False
