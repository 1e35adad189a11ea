"""PCI guard: paykit stores provider tokens, never card numbers.

Any text that contains a card number (13 to 19 digits passing the Luhn check, see
``paykit._card_numbers``) -- and any whole number that is one -- is refused before it is
stored or logged. The error names the field but never repeats the digits.
"""

from __future__ import annotations

from collections.abc import Mapping

from paykit._card_numbers import contains_card_number, is_card_number, luhn_valid
from paykit.errors import CardDataRejectedError

__all__ = ["contains_card_number", "luhn_valid", "reject_card_data"]

_SMALLEST_PAN_VALUE = 10**12
_LARGEST_PAN_VALUE = 10**19


def reject_card_data(field: str, value: object) -> None:
    """Raise :class:`CardDataRejectedError` if ``value`` (or anything inside it) holds a PAN.

    Strings are scanned and whole numbers checked; mappings and lists are walked, keys
    included, so metadata cannot smuggle a card number in.
    """
    if isinstance(value, str):
        found = contains_card_number(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        # The range check first: it also keeps str() away from huge ints.
        found = _SMALLEST_PAN_VALUE <= value < _LARGEST_PAN_VALUE and is_card_number(str(value))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            reject_card_data(f"{field} (a key)", key)
            reject_card_data(f"{field}.{key}", item)
        return
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            reject_card_data(f"{field}[{index}]", item)
        return
    else:
        return
    if found:
        raise CardDataRejectedError(
            "looks like a card number; paykit stores only the provider's token and display "
            "details (brand, last 4 digits, expiry)",
            field=field,
        )
