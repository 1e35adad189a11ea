"""Authenticated encryption of one stored value, and blind indexes for equality lookups.

A sealed value is text: ``pkenc1:<key ref>:<base64 of nonce + ciphertext + tag>``, AES-GCM
with a fresh 96-bit nonce. ``<key ref>`` is the id of a ring key, or ``@<id>`` of a
customer's data key. The associated data names the place the value belongs to (table,
column, row id), so a ciphertext copied elsewhere does not authenticate.

A blind index is an HMAC-SHA256 of the plaintext under a key derived from a ring key (with
HKDF): equal plaintexts give equal indexes under one key, and the index says nothing else.
Needs the ``cryptography`` package (the ``encryption`` extra).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from paykit.encryption._format import PREFIX, SEPARATOR

__all__ = ["InvalidTag", "Sealer", "associated_data", "blind_index", "blind_index_key", "split"]

NONCE_SIZE: Final = 12
_INDEX_INFO: Final = b"paykit blind index v1"


def associated_data(table: str, column: str, row_id: str) -> bytes:
    """What binds a value to its place: the logical table name, the column and the row id."""
    return f"paykit\x1f{table}\x1f{column}\x1f{row_id}".encode()


def split(value: str) -> tuple[str, bytes]:
    """The key ref and the raw nonce + ciphertext of an envelope; ``ValueError`` if malformed."""
    body = value[len(PREFIX) :]
    key_ref, sep, encoded = body.partition(SEPARATOR)
    if not sep or not key_ref:
        msg = "malformed encrypted value"
        raise ValueError(msg)
    try:
        blob = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        msg = "malformed encrypted value"
        raise ValueError(msg) from None
    if len(blob) < NONCE_SIZE + 16:
        msg = "malformed encrypted value"
        raise ValueError(msg)
    return key_ref, blob


class Sealer:
    """Seals and opens values under one AES key, known to the world as ``key_ref``."""

    __slots__ = ("_aead", "key_ref")

    def __init__(self, key_ref: str, key: bytes) -> None:
        self.key_ref = key_ref
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, aad: bytes) -> str:
        """The envelope text of ``plaintext`` bound to ``aad``."""
        nonce = os.urandom(NONCE_SIZE)
        blob = nonce + self._aead.encrypt(nonce, plaintext, aad)
        return f"{PREFIX}{self.key_ref}{SEPARATOR}{base64.b64encode(blob).decode('ascii')}"

    def open(self, blob: bytes, aad: bytes) -> bytes:
        """The plaintext of a split envelope; ``InvalidTag`` if it does not authenticate."""
        return self._aead.decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], aad)


def blind_index_key(key: bytes) -> bytes:
    """The HMAC key of blind indexes under one ring key (never the encryption key itself)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INDEX_INFO).derive(key)


def blind_index(index_key: bytes, scope: str, value: str) -> str:
    """The blind index of ``value`` in ``scope`` (a table and column): 43 characters."""
    digest = hmac.new(index_key, f"{scope}\x1f{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
