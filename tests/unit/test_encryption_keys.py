"""The key ring and the envelope: parsing the host's keys, sealing one value, blind indexes."""

from __future__ import annotations

import base64
import os
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paykit.encryption import ENCRYPTION_KEYS_VARIABLE, KeyRing, generate_key
from paykit.encryption._envelope import (
    InvalidTag,
    Sealer,
    associated_data,
    blind_index,
    blind_index_key,
    split,
)
from paykit.encryption._format import is_sealed, key_ref_of

KEY = os.urandom(32)


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_the_first_key_encrypts_and_every_key_is_held() -> None:
    """``id:base64,...`` parses in order; the first id is the primary."""
    ring = KeyRing.from_string(f" k2:{_b64(KEY)} , k1:{_b64(os.urandom(16))} ,")
    assert ring.primary_id == "k2"
    assert ring.key_ids == ("k2", "k1")
    assert ring.key("k2") == KEY
    assert ring.key("k3") is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "at least one key"),
        ("k1", "'<id>:<base64 key>'"),
        ("k1:not base64!", "not valid base64"),
        (f"k1:{_b64(os.urandom(20))}", "20 bytes"),
        (f"k1:{_b64(KEY)},k1:{_b64(KEY)}", "appears twice"),
        (f"@k:{_b64(KEY)}", "letters, digits"),
    ],
)
def test_bad_key_text_is_refused_without_echoing_a_key(text: str, problem: str) -> None:
    """Each malformed ring says what is wrong, and never quotes the key material."""
    with pytest.raises(ValueError, match=re.escape(problem)) as raised:
        KeyRing.from_string(text)
    assert _b64(KEY) not in str(raised.value)


def test_the_environment_variable_is_read_and_required(monkeypatch: pytest.MonkeyPatch) -> None:
    """``from_env`` reads PAYKIT_ENCRYPTION_KEYS, and says so when it is unset."""
    monkeypatch.delenv(ENCRYPTION_KEYS_VARIABLE, raising=False)
    with pytest.raises(ValueError, match=ENCRYPTION_KEYS_VARIABLE):
        KeyRing.from_env()
    monkeypatch.setenv(ENCRYPTION_KEYS_VARIABLE, f"k1:{generate_key()}")
    assert KeyRing.from_env().primary_id == "k1"


def test_a_callable_ring_refreshes() -> None:
    """A host callable is asked again on ``refresh``: a new first key takes over."""
    answers: list[str | list[tuple[str, bytes]]] = [f"k1:{_b64(KEY)}", [("k2", KEY), ("k1", KEY)]]
    ring = KeyRing.from_callable(lambda: answers.pop(0))
    assert repr(ring) == "KeyRing(<not fetched yet>)"
    assert ring.primary_id == "k1"
    ring.refresh()
    assert ring.key_ids == ("k2", "k1")


@given(st.binary(max_size=300), st.text(max_size=20))
def test_a_sealed_value_opens_only_in_its_place(data: bytes, row_id: str) -> None:
    """A value opens with its own associated data and fails with any other."""
    sealer = Sealer("k1", KEY)
    here = associated_data("payments", "metadata", row_id)
    sealed = sealer.seal(data, here)
    assert is_sealed(sealed)
    assert key_ref_of(sealed) == "k1"
    ref, blob = split(sealed)
    assert ref == "k1"
    assert sealer.open(blob, here) == data
    with pytest.raises(InvalidTag):
        sealer.open(blob, associated_data("payments", "metadata", row_id + "x"))
    with pytest.raises(InvalidTag):
        sealer.open(blob, associated_data("payments", "description", row_id))


def test_malformed_envelopes_are_refused() -> None:
    """Missing parts, bad base64 and a truncated blob are ``ValueError``."""
    for value in ("pkenc1:", "pkenc1:k1", "pkenc1:k1:***", "pkenc1:k1:" + _b64(b"short")):
        with pytest.raises(ValueError, match="malformed"):
            split(value)


def test_blind_indexes_are_equal_for_equal_values_and_keyed() -> None:
    """Same key and value, same index; another key or scope, another index."""
    index_key = blind_index_key(KEY)
    assert index_key != KEY
    one = blind_index(index_key, "payment_methods.token", "tok_1")
    assert one == blind_index(index_key, "payment_methods.token", "tok_1")
    assert one != blind_index(index_key, "payment_methods.token", "tok_2")
    assert one != blind_index(index_key, "risk.email", "tok_1")
    assert one != blind_index(blind_index_key(os.urandom(32)), "payment_methods.token", "tok_1")
    assert len(one) == 43
