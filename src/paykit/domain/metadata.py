"""What a record's ``metadata`` may hold: JSON, within limits, the same on every storage.

Metadata is the host's own JSON, stored as is: the SQL storage writes it to a JSON column, the
in-memory store keeps a copy. So only what every storage keeps and returns unchanged is
accepted:

* strings, whole numbers, booleans, ``None``, lists (tuples count as lists) and mappings with
  string keys;
* no floats, ``Decimal`` or other numbers with a fraction: amounts are money and money is never
  a float (and PostgreSQL's ``jsonb`` refuses NaN and infinities that SQLite keeps), so write
  ``"12.50"`` instead;
* whole numbers within +/-(2**53 - 1), the range every JSON reader holds exactly (RFC 7493);
* text with no NUL and no lone surrogate (:mod:`paykit.domain.text`) and no card number
  (:mod:`paykit.domain.pci`).

The limits follow Stripe's metadata (50 keys, keys up to 40 characters, values up to 500),
extended to the nesting paykit allows. Every refusal is a :class:`~paykit.errors.ValidationError`
whose ``field`` is the path to the culprit, e.g. ``metadata.cart.items[3]``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from paykit.domain.pci import reject_card_data
from paykit.domain.text import reject_unstorable_text
from paykit.errors import ValidationError

__all__ = [
    "LARGEST_METADATA_INTEGER",
    "MAX_METADATA_BYTES",
    "MAX_METADATA_DEPTH",
    "MAX_METADATA_KEYS",
    "MAX_METADATA_KEY_LENGTH",
    "MAX_METADATA_STRING_LENGTH",
    "check_metadata",
]

MAX_METADATA_KEYS: Final = 50
"""Keys in one mapping (the top level or any nested one)."""
MAX_METADATA_KEY_LENGTH: Final = 40
"""Characters in one key."""
MAX_METADATA_STRING_LENGTH: Final = 500
"""Characters in one string value."""
MAX_METADATA_DEPTH: Final = 5
"""Levels of nesting: the top-level mapping is level 1."""
MAX_METADATA_BYTES: Final = 8192
"""The whole of it as compact UTF-8 JSON."""
LARGEST_METADATA_INTEGER: Final = 2**53 - 1
"""Whole numbers must lie within plus or minus this (what every JSON reader holds exactly)."""


def check_metadata(value: object, field: str = "metadata") -> dict[str, Any]:
    """Return a plain-JSON copy of ``value`` (``None`` is ``{}``), or say what is wrong.

    Raises :class:`~paykit.errors.ValidationError` (or its subclass
    :class:`~paykit.errors.CardDataRejectedError`) naming the path to the first culprit.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError("must be a mapping with string keys", field=field)
    walk = _Walk(field)
    copied = walk.mapping(value, field, depth=1)
    size = len(json.dumps(copied, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_METADATA_BYTES:
        raise ValidationError(
            f"is {size} bytes as JSON; at most {MAX_METADATA_BYTES} are allowed", field=field
        )
    reject_card_data(field, copied)
    return copied


class _Walk:
    """One pass over the metadata that checks each value and copies it to plain JSON.

    It counts what it visits, so a huge list is refused after a few thousand items rather
    than walked to its end; the depth limit keeps recursion shallow.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self.visited = 0

    def mapping(self, value: Mapping[Any, Any], field: str, depth: int) -> dict[str, Any]:
        if len(value) > MAX_METADATA_KEYS:
            raise ValidationError(
                f"has {len(value)} keys; at most {MAX_METADATA_KEYS} are allowed", field=field
            )
        copied: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError("must be a mapping with string keys", field=field)
            if not key or len(key) > MAX_METADATA_KEY_LENGTH:
                raise ValidationError(
                    f"keys must be 1 to {MAX_METADATA_KEY_LENGTH} characters", field=field
                )
            reject_unstorable_text(f"{field} (a key)", key)
            copied[key] = self.value(item, f"{field}.{key}", depth)
        return copied

    def value(self, value: object, field: str, depth: int) -> Any:  # noqa: ANN401 - JSON
        self.visited += 1
        if self.visited > MAX_METADATA_BYTES:  # every value takes at least a byte of JSON
            raise ValidationError(
                f"is larger than {MAX_METADATA_BYTES} bytes as JSON", field=self.root
            )
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            if len(value) > MAX_METADATA_STRING_LENGTH:
                raise ValidationError(
                    f"is {len(value)} characters; at most {MAX_METADATA_STRING_LENGTH} are allowed",
                    field=field,
                )
            reject_unstorable_text(field, value)
            return str(value)  # a StrEnum or other str subclass becomes a plain str
        if isinstance(value, int):
            if abs(value) > LARGEST_METADATA_INTEGER:
                raise ValidationError(
                    "whole numbers must lie within +/-(2**53 - 1); store larger ones as strings",
                    field=field,
                )
            return int(value)  # an IntEnum or other int subclass becomes a plain int
        if isinstance(value, Mapping | list | tuple):
            if depth >= MAX_METADATA_DEPTH:
                raise ValidationError(
                    f"is nested too deeply; at most {MAX_METADATA_DEPTH} levels are allowed",
                    field=field,
                )
            if isinstance(value, Mapping):
                return self.mapping(value, field, depth + 1)
            return [
                self.value(item, f"{field}[{index}]", depth + 1) for index, item in enumerate(value)
            ]
        raise ValidationError(_not_json(value), field=field)


def _not_json(value: object) -> str:
    if isinstance(value, float):
        return (
            "floats are not allowed in metadata (money is never a float); write decimals "
            "as strings, e.g. '12.50'"
        )
    kind = type(value).__name__
    if kind == "Decimal":
        return "Decimal is not allowed in metadata; write it as a string, e.g. '12.50'"
    return (
        f"{kind} is not allowed in metadata; use strings, whole numbers, booleans, None, "
        "lists and mappings with string keys"
    )
