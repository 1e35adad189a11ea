"""The key ring: the host's AES keys, by id; the first one encrypts, any one decrypts.

Keys come from the host, never from paykit's own tables: a string
(``PAYKIT_ENCRYPTION_KEYS="k2:<base64 key>,k1:<base64 key>"``) or a callable that returns
the keys -- and may fetch them from a KMS or a secrets manager. A ring built from a callable
calls it at first use and again on :meth:`KeyRing.refresh`.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Final

__all__ = ["ENCRYPTION_KEYS_VARIABLE", "KeyRing", "KeySource", "generate_key"]

ENCRYPTION_KEYS_VARIABLE: Final = "PAYKIT_ENCRYPTION_KEYS"
"""The environment variable :meth:`KeyRing.from_env` reads: ``id:base64key,...``."""

KEY_SIZES: Final = frozenset({16, 24, 32})
"""AES-128, AES-192 or AES-256; :func:`generate_key` makes 256-bit keys."""

_KEY_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")

KeySource = Callable[[], "str | Iterable[tuple[str, bytes]] | Mapping[str, bytes]"]
"""What a host callable returns: the ``id:base64key,...`` text, ``(id, key)`` pairs in
order (newest first), or a mapping in that order."""


def generate_key() -> str:
    """A new random 256-bit key, base64-encoded: the part after ``id:`` in the variable."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


def _parse(text: str) -> list[tuple[str, bytes]]:
    """``id:base64key`` items separated by commas (spaces around them ignored)."""
    keys = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        if not sep:
            msg = "each encryption key must read '<id>:<base64 key>'; an item has no ':'"
            raise ValueError(msg)
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error:
            msg = f"encryption key {key_id.strip()!r} is not valid base64"
            raise ValueError(msg) from None
        keys.append((key_id.strip(), key))
    return keys


def _checked(keys: Iterable[tuple[str, bytes]]) -> dict[str, bytes]:
    """The keys by id, in order, after checking ids, sizes and duplicates."""
    checked: dict[str, bytes] = {}
    for key_id, key in keys:
        if not _KEY_ID.fullmatch(key_id):
            msg = (
                f"encryption key id {key_id!r} must be 1-32 letters, digits, '_', '.' or '-', "
                "starting with a letter or digit"
            )
            raise ValueError(msg)
        if len(key) not in KEY_SIZES:
            msg = f"encryption key {key_id!r} is {len(key)} bytes; AES needs 16, 24 or 32"
            raise ValueError(msg)
        if key_id in checked:
            msg = f"encryption key id {key_id!r} appears twice"
            raise ValueError(msg)
        checked[key_id] = key
    if not checked:
        msg = "an encryption key ring needs at least one key"
        raise ValueError(msg)
    return checked


def _keys_of(value: str | Iterable[tuple[str, bytes]] | Mapping[str, bytes]) -> dict[str, bytes]:
    if isinstance(value, str):
        return _checked(_parse(value))
    if isinstance(value, Mapping):
        return _checked(value.items())
    return _checked(value)


class KeyRing:
    """The host's encryption keys by id: the first encrypts, every one decrypts.

    Build it from ``(id, key)`` pairs (newest first), from the ``id:base64key,...`` text
    (:meth:`from_string`), from the environment (:meth:`from_env`) or from a callable that
    fetches them (:meth:`from_callable`). Keys are 16, 24 or 32 raw bytes. The repr shows
    the key ids only, never a key.
    """

    def __init__(self, keys: Iterable[tuple[str, bytes]] | Mapping[str, bytes] = ()) -> None:
        self._source: KeySource | None = None
        self._lock = threading.Lock()
        self._keys: dict[str, bytes] | None = None
        if isinstance(keys, Mapping) or keys != ():
            self._keys = _keys_of(keys)

    @classmethod
    def from_string(cls, text: str) -> KeyRing:
        """The ring that ``id:base64key,id:base64key`` describes (the first key encrypts)."""
        return cls(_parse(text))

    @classmethod
    def from_env(cls, variable: str = ENCRYPTION_KEYS_VARIABLE) -> KeyRing:
        """The ring in the environment variable (default ``PAYKIT_ENCRYPTION_KEYS``)."""
        text = os.environ.get(variable, "")
        if not text.strip():
            msg = f"{variable} is not set; it holds the encryption keys as id:base64key,..."
            raise ValueError(msg)
        return cls.from_string(text)

    @classmethod
    def from_callable(cls, source: KeySource) -> KeyRing:
        """A ring whose keys ``source()`` returns, called at first use and on :meth:`refresh`."""
        ring = cls()
        ring._source = source
        return ring

    def refresh(self) -> None:
        """Fetch the keys again from the callable (a no-op for a ring of fixed keys)."""
        if self._source is not None:
            keys = _keys_of(self._source())
            with self._lock:
                self._keys = keys

    def _loaded(self) -> dict[str, bytes]:
        keys = self._keys
        if keys is None:
            if self._source is None:
                msg = "an encryption key ring needs at least one key"
                raise ValueError(msg)
            with self._lock:
                if self._keys is None:
                    self._keys = _keys_of(self._source())
                keys = self._keys
        return keys

    @property
    def primary_id(self) -> str:
        """The id of the key that encrypts: the first one."""
        return next(iter(self._loaded()))

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id, the primary first."""
        return tuple(self._loaded())

    def key(self, key_id: str) -> bytes | None:
        """The key with that id, or ``None`` when the ring lacks it."""
        return self._loaded().get(key_id)

    def __repr__(self) -> str:
        if self._keys is None:
            return "KeyRing(<not fetched yet>)"
        return f"KeyRing(key_ids={list(self._keys)!r})"
