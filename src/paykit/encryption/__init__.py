"""Encryption at rest for the SQL storage: the host's key ring and what erasure leaves.

Hand a :class:`KeyRing` to the storage and the sensitive columns are sealed with AES-GCM
(see docs/encryption.md for the list)::

    from paykit.encryption import KeyRing
    from paykit.storage.sql import SqlStorage

    storage = SqlStorage("sqlite:///paykit.db", encryption=KeyRing.from_env())

The ring's first key encrypts and every key decrypts; ``paykit keys rotate`` re-encrypts
the rows under the first key. Importing this package needs nothing beyond paykit; sealing
needs the ``encryption`` extra (``cryptography``).
"""

from paykit.encryption._keyring import ENCRYPTION_KEYS_VARIABLE, KeyRing, KeySource, generate_key

ERASED = "[erased]"
"""What an erased customer's sealed text fields read as (a payment method's token, a
payment's description); their display details and next action read as ``None``, their
metadata as ``{}``."""

__all__ = ["ENCRYPTION_KEYS_VARIABLE", "ERASED", "KeyRing", "KeySource", "generate_key"]
