"""Metadata and input rules: bounded JSON is stored as given; anything else is refused early.

Metadata that no storage could keep the same way -- numbers JSON cannot carry exactly,
non-JSON types, text with NUL or lone surrogates, or past a documented size or depth -- is a
``ValidationError`` naming its path when it is staged, by ``add`` or ``update``, and is never
stored; metadata right at every limit round-trips unchanged.
"""

# The suite's checks are pytest asserts; the per-file ignores that tests/ gets in
# pyproject.toml do not reach this shipped module.
# ruff: noqa: S101

from __future__ import annotations

from decimal import Decimal

import pytest

from paykit.domain.metadata import (
    MAX_METADATA_DEPTH,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_STRING_LENGTH,
)
from paykit.errors import ValidationError
from paykit.storage.base import Storage
from paykit.testing.repository_contract._records import (
    _assert_missing,
    _nested,
    _payment,
    _save,
)


class MetadataContract:
    """Metadata is bounded JSON: refused with its path when staged, kept exactly at the limits."""

    @pytest.mark.parametrize(
        ("metadata", "field"),
        [
            pytest.param({"a": Decimal(1)}, "metadata.a", id="decimal"),
            pytest.param({"a": object()}, "metadata.a", id="object"),
            pytest.param({"a": b"bytes"}, "metadata.a", id="bytes"),
            pytest.param({"a": {"set"}}, "metadata.a", id="set"),
            pytest.param({"a": float("nan")}, "metadata.a", id="nan"),
            pytest.param({"a": 1.5}, "metadata.a", id="float"),
            pytest.param({"a": [1, 2**53]}, "metadata.a[1]", id="integer-beyond-json"),
            pytest.param({"a": "o\x00x"}, "metadata.a", id="nul-in-value"),
            pytest.param({"o\x00x": "a"}, "metadata (a key)", id="nul-in-key"),
            pytest.param({"a": "o\ud800"}, "metadata.a", id="lone-surrogate"),
            pytest.param({"a": "x" * 2_000_000}, "metadata.a", id="two-megabytes"),
            pytest.param({f"k{i}": i for i in range(20_000)}, "metadata", id="20000-keys"),
            pytest.param(_nested(5_000), "metadata" + ".a" * MAX_METADATA_DEPTH, id="5000-levels"),
        ],
    )
    def test_metadata_no_storage_could_keep_is_refused_when_staged(
        self, storage: Storage, metadata: dict[str, object], field: str
    ) -> None:
        """Metadata that is not bounded JSON is a ValidationError naming its path, not stored."""
        payment = _payment()
        payment.metadata = metadata
        kept = _payment()
        _save(storage, kept)

        with storage.unit_of_work() as uow:
            with pytest.raises(ValidationError) as added:
                uow.payments.add(payment)
            changed = uow.payments.get(kept.id)
            changed.metadata = metadata
            with pytest.raises(ValidationError) as updated:
                uow.payments.update(changed)
            uow.commit()

        assert added.value.field == updated.value.field == field
        with storage.unit_of_work() as uow:
            _assert_missing(uow, payment)
            assert uow.payments.get(kept.id).metadata == kept.metadata

    def test_metadata_at_the_limits_round_trips(self, storage: Storage) -> None:
        """Metadata right at every documented limit is stored and read back unchanged."""
        deepest: dict[str, object] = {"n": -(2**53 - 1)}
        for _ in range(MAX_METADATA_DEPTH - 1):
            deepest = {"a": deepest}
        payment = _payment()
        payment.metadata = {
            **{f"key{i}".ljust(MAX_METADATA_KEY_LENGTH, "k"): i for i in range(48)},
            "text": "é" * MAX_METADATA_STRING_LENGTH,
            "deep": deepest["a"],
        }
        _save(storage, payment)

        with storage.unit_of_work() as uow:
            assert uow.payments.get(payment.id).metadata == payment.metadata
