"""Field-level encryption of the sensitive columns: the codec hook of the SQL storage.

What is sealed (AES-GCM, see :mod:`paykit.encryption._envelope`) and under which key:

============================  =========================================  =================
table                         columns                                     key
============================  =========================================  =================
``payment_methods``           ``provider_token`` (the provider's token),  the customer's
                              ``display`` (brand, last 4, expiry, card    data key
                              fingerprint), ``metadata``
``payments``                  ``description``, ``metadata``,              the customer's
                              ``next_action``, ``risk_context`` (the      data key
                              fraud context until the claim screens)
``refunds``                   ``reason``, ``metadata``                    the ring's first
``transaction_log``           ``message`` (quotes refund reasons),        the ring's first
                              ``data`` (provider responses, details)
``webhook_inbox``             ``payload`` (the raw event body)            the ring's first
``idempotent_requests``       ``response_body`` (API answers)             the ring's first
``risk_assessments``          ``personal`` (email, its domain, IP         the customer's
                              address, device id, card fingerprint)       data key
``risk_list_entries``         ``sealed_value`` (the listed email, IP...), the ring's first
                              ``note``
============================  =========================================  =================

Amounts, currencies, statuses, ids and timestamps stay plain, so every query, index and
report keeps working. A payment method's token moves to ``provider_token``; its plain
column ``provider_payment_method_id`` then holds the token's blind index (an HMAC), which
serves equality lookups, and ``brand``, ``last4``, ``exp_month``, ``exp_year`` and
``card_fingerprint`` are NULL.
Fraud screening works the same way (:data:`BLIND_INDEXES`): a risk assessment's ``email``,
``ip_address``, ``device_id`` and ``card_fingerprint`` columns hold blind indexes, which
velocity counters compare, and ``email_domain`` is NULL; a list entry's ``value`` holds the
listed value's blind index, which membership tests compare.

Reads accept plaintext rows (a database written before encryption was turned on), until
``paykit keys rotate`` seals them. A storage without a key ring refuses to hand out an
encrypted value as if it were plaintext: it raises
:class:`~paykit.errors.EncryptionKeyMissingError`.

A field sealed under a customer data key that :meth:`CustomerKeys.erase` destroyed reads as
unavailable: :data:`ERASED` for text (the token, a description), ``None`` for the display
details, the next action and a payment's waiting risk context, ``{}`` for metadata. An
erased risk assessment's personal fields read as :data:`ERASED` where they were given
(``None`` where not); its amount, decision, score and rules stay.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeVar

import attrs
from sqlalchemy import Connection, Table, bindparam, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from paykit.encryption import ERASED
from paykit.encryption._format import CUSTOMER_KEY_MARK, is_sealed, key_ref_of
from paykit.errors import DecryptionError, EncryptionKeyMissingError

if TYPE_CHECKING:
    from paykit.encryption._envelope import Sealer
    from paykit.encryption._keyring import KeyRing

__all__ = [
    "BLIND_INDEXES",
    "CUSTOMER_TABLES",
    "ERASED",
    "RISK_PERSONAL",
    "SENSITIVE_COLUMNS",
    "TOKEN_SCOPE",
    "CustomerKeys",
    "FieldEncryption",
    "NewCustomerKeys",
    "RowCodecs",
    "open_with_ring",
    "payment_method_ids_by_token",
]

R = TypeVar("R")


TEXT: Final = "text"
JSON_DOCUMENT: Final = "json"

SENSITIVE_COLUMNS: Final[Mapping[str, Mapping[str, str]]] = {
    "payment_methods": {"provider_token": TEXT, "display": TEXT, "metadata": JSON_DOCUMENT},
    "payments": {
        "description": TEXT,
        "metadata": JSON_DOCUMENT,
        "next_action": JSON_DOCUMENT,
        "risk_context": JSON_DOCUMENT,
    },
    "refunds": {"reason": TEXT, "metadata": JSON_DOCUMENT},
    "transaction_log": {"message": TEXT, "data": JSON_DOCUMENT},
    "webhook_inbox": {"payload": JSON_DOCUMENT},
    "idempotent_requests": {"response_body": TEXT},
    "risk_assessments": {"personal": TEXT},
    "risk_list_entries": {"sealed_value": TEXT, "note": TEXT},
    # An event carries its payment and refund records whole (description, metadata, next
    # action, reason) until it is delivered and purged.
    "outbox": {"event": JSON_DOCUMENT},
}
"""The encrypted columns of each table (by its logical name) and how each is serialised.
A ``json`` column keeps its JSON type and holds the envelope as a JSON string."""

CUSTOMER_TABLES: Final = frozenset({"payment_methods", "payments", "risk_assessments"})
"""Tables whose rows carry a ``customer_id`` and are sealed under that customer's data key."""

_ERASED_VALUES: Final[Mapping[str, Any]] = {
    "provider_token": ERASED,
    "display": None,
    "description": ERASED,
    "next_action": None,
    "risk_context": None,
    "personal": None,
}
"""What an erased field reads as; metadata reads as a fresh ``{}``."""

_DISPLAY: Final = ("brand", "last4", "exp_month", "exp_year", "card_fingerprint")
"""A payment method's display details, sealed together in ``display``. The fingerprint
(the provider's stable id of a card number) links a card across customers: sealed too."""
_RECENT_LIMIT: Final = 20_000
"""Places remembered by :class:`FieldEncryption` before the memory is cleared and refilled."""
TOKEN_SCOPE: Final = "payment_methods.provider_payment_method_id"  # noqa: S105 - a name
"""The blind index scope of provider tokens."""

RISK_PERSONAL: Final = ("email", "email_domain", "ip_address", "device_id", "card_fingerprint")
"""A risk assessment's personal fields, sealed together in its ``personal`` column.

Countries, the account's age and the wallet stay plain: coarse, and read by reports."""

BLIND_INDEXES: Final[Mapping[str, Mapping[str, str]]] = {
    "payment_methods": {"provider_payment_method_id": TOKEN_SCOPE},
    "risk_assessments": {
        column: f"risk_assessments.{column}"
        for column in ("email", "ip_address", "device_id", "card_fingerprint")
    },
    "risk_list_entries": {"value": "risk_list_entries.value"},
}
"""The plain columns that hold a blind index of a sealed value, and each one's scope.

Equality lookups (a token, velocity counters, list membership) compare these; the scope
keeps one value's index in two columns apart."""


def _location(table: str, column: str, row_id: object) -> str:
    return f"{table}.{column}[{row_id}]"


class _KeyRow(NamedTuple):
    """A customer key row as :meth:`CustomerKeys.for_writing` reads it."""

    id: str
    wrapped_key: str


class CustomerKeys:
    """Per-customer data keys, stored wrapped by the ring in the ``customer_keys`` table.

    A customer's first encrypted write creates their key, inserted by that write's own
    transaction (:meth:`for_writing`); the unwrapped keys are cached for ``cache_seconds``,
    so a key erased by another process is still used here until its cache entry expires
    (an erasure in this process drops it at once).
    """

    def __init__(
        self,
        ring: KeyRing,
        table: Table,
        connect: Callable[[], Connection],
        *,
        cache_seconds: float = 60.0,
    ) -> None:
        self._ring = ring
        self._table = table
        self._connect = connect
        self._ttl = cache_seconds
        self._lock = threading.Lock()
        self._by_customer: dict[str, tuple[float, Sealer]] = {}
        self._by_ref: dict[str, tuple[float, Sealer | None]] = {}
        columns = table.c
        self._active = select(columns.id, columns.wrapped_key).where(
            columns.customer_id == bindparam("customer_id"), columns.destroyed_at.is_(None)
        )
        self._by_id = select(columns.id, columns.wrapped_key).where(columns.id == bindparam("id"))
        self.insert = table.insert().inline()  # batched with the commit (storage.sql._pipeline)
        self._local = threading.local()

    def forget(self) -> None:
        """Drop every cached key (the next use reads them again)."""
        with self._lock:
            self._by_customer.clear()
            self._by_ref.clear()

    def for_writing(self, customer_id: str, ring_sealer: Callable[[str], Sealer]) -> Sealer:
        """The customer's live data key, created (and wrapped under the ring) if they have none.

        Inside a unit of work's commit (:meth:`new_keys`) a new key is inserted by that
        commit's own transaction, so it exists exactly when the rows sealed under it do; two
        commits creating one customer's first key conflict, and the loser is retried. Outside
        one (a rotation, an erasure) it is inserted at once.
        """
        now = time.monotonic()
        cached = self._by_customer.get(customer_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        commit: NewCustomerKeys | None = getattr(self._local, "commit", None)
        if commit is not None and customer_id in commit.sealers:
            return commit.sealers[customer_id]
        with self._connect() as connection:
            row = connection.execute(self._active, {"customer_id": customer_id}).first()
            if row is None:
                key_row, values = self._new_key(customer_id, ring_sealer)
                if commit is not None:
                    sealer = self._unwrap(key_row.id, key_row.wrapped_key)
                    assert sealer is not None  # noqa: S101 - just wrapped
                    commit.add(customer_id, values, sealer)
                    return sealer
                row = self._insert(connection, customer_id, key_row, values)
        sealer = self._unwrap(row.id, row.wrapped_key)
        assert sealer is not None  # noqa: S101 - a live key has its wrapped key
        self._cache(customer_id, sealer, now)
        return sealer

    def _cache(self, customer_id: str, sealer: Sealer, now: float) -> None:
        with self._lock:
            self._by_customer[customer_id] = (now + self._ttl, sealer)
            self._by_ref[sealer.key_ref] = (now + self._ttl, sealer)

    def new_keys(self) -> NewCustomerKeys:
        """Collect the keys this thread's commit creates, until its ``close()``."""
        commit = NewCustomerKeys(self)
        self._local.commit = commit
        return commit

    def adopt(self, commit: NewCustomerKeys) -> None:
        """Cache the keys a commit has written."""
        now = time.monotonic()
        for customer_id, sealer in commit.sealers.items():
            self._cache(customer_id, sealer, now)

    def for_reading(self, key_ref: str) -> Sealer | None:
        """The data key an envelope names, or ``None`` if it was erased."""
        now = time.monotonic()
        cached = self._by_ref.get(key_ref)
        if cached is not None and cached[0] > now:
            return cached[1]
        with self._connect() as connection:
            row = connection.execute(
                self._by_id, {"id": key_ref.removeprefix(CUSTOMER_KEY_MARK)}
            ).first()
        if row is None:
            msg = f"customer data key {key_ref!r} is not in the customer_keys table"
            raise EncryptionKeyMissingError(msg, key_id=key_ref)
        sealer = self._unwrap(row.id, row.wrapped_key)
        with self._lock:
            self._by_ref[key_ref] = (now + self._ttl, sealer)
        return sealer

    def erase(self, customer_id: str) -> int:
        """Destroy every data key of ``customer_id``; how many there were."""
        columns = self._table.c
        statement = (
            update(self._table)
            .where(columns.customer_id == customer_id, columns.destroyed_at.is_(None))
            .values(wrapped_key=None, destroyed_at=datetime.now(UTC), version=columns.version + 1)
        )
        with self._connect() as connection:
            destroyed = connection.execute(statement).rowcount
        self.forget()
        return destroyed

    def _new_key(
        self, customer_id: str, ring_sealer: Callable[[str], Sealer]
    ) -> tuple[_KeyRow, dict[str, Any]]:
        """A fresh random data key for ``customer_id``, wrapped under the ring's first key."""
        from paykit.encryption._envelope import associated_data  # noqa: PLC0415 - optional dependency

        key_id = f"dk_{os.urandom(12).hex()}"
        aad = associated_data("customer_keys", "wrapped_key", key_id)
        wrapped = ring_sealer(self._ring.primary_id).seal(os.urandom(32), aad)
        values = {
            "id": key_id,
            "customer_id": customer_id,
            "wrapped_key": wrapped,
            "created_at": datetime.now(UTC),
            "destroyed_at": None,
            "version": 1,
        }
        return _KeyRow(key_id, wrapped), values

    def _insert(
        self, connection: Connection, customer_id: str, row: _KeyRow, values: dict[str, Any]
    ) -> Any:  # noqa: ANN401 - a result row
        try:
            connection.execute(self.insert, values)
        except IntegrityError:  # another writer created it first: use theirs
            return connection.execute(self._active, {"customer_id": customer_id}).one()
        return row

    def _unwrap(self, key_id: str, wrapped: str | None) -> Sealer | None:
        from paykit.encryption._envelope import (  # noqa: PLC0415 - optional dependency
            Sealer,
            associated_data,
        )

        if wrapped is None:
            return None
        location = _location("customer_keys", "wrapped_key", key_id)
        aad = associated_data("customer_keys", "wrapped_key", key_id)
        return Sealer(
            CUSTOMER_KEY_MARK + key_id, open_with_ring(self._ring, wrapped, aad, location)
        )


def _missing_ring_key(ring: KeyRing, key_ref: str, location: str) -> EncryptionKeyMissingError:
    msg = (
        f"the value at {location} was encrypted with key {key_ref!r}, which the key "
        f"ring (keys {list(ring.key_ids)}) does not hold; add it to PAYKIT_ENCRYPTION_KEYS"
    )
    return EncryptionKeyMissingError(msg, key_id=key_ref)


def open_with_ring(ring: KeyRing, value: str, aad: bytes, location: str) -> bytes:
    """The plaintext of an envelope sealed under a ring key."""
    from paykit.encryption._envelope import InvalidTag, Sealer, split  # noqa: PLC0415

    try:
        key_ref, blob = split(value)
    except ValueError:
        msg = f"the encrypted value at {location} is malformed"
        raise DecryptionError(msg, location=location) from None
    key = ring.key(key_ref)
    if key is None:
        raise _missing_ring_key(ring, key_ref, location)
    try:
        return Sealer(key_ref, key).open(blob, aad)
    except InvalidTag:
        msg = (
            f"the encrypted value at {location} does not authenticate: it was altered, or "
            "copied from another row or column"
        )
        raise DecryptionError(msg, location=location) from None


class NewCustomerKeys:
    """The customer data keys one commit creates: its first insert, in its transaction.

    A unit of work takes one with :meth:`RowCodecs.new_keys` before planning its writes,
    inserts :attr:`rows` first if there are any, calls :meth:`written` after its
    transaction committed, and :meth:`close` in any case.
    """

    def __init__(self, keys: CustomerKeys | None) -> None:
        self._keys = keys
        self.rows: list[dict[str, Any]] = []
        self.sealers: dict[str, Sealer] = {}
        self.insert: Any = None if keys is None else keys.insert

    def add(self, customer_id: str, values: dict[str, Any], sealer: Sealer) -> None:
        """A key this commit creates for ``customer_id``."""
        self.rows.append(values)
        self.sealers[customer_id] = sealer

    def written(self) -> None:
        """The commit's transaction committed: its keys are live; cache them."""
        if self._keys is not None and self.sealers:
            self._keys.adopt(self)

    def close(self) -> None:
        """The commit is over (committed or not): later seals create keys their own way."""
        if self._keys is not None:
            self._keys._local.commit = None  # noqa: SLF001 - the two classes work as one


_NO_NEW_KEYS: Final = NewCustomerKeys(None)
"""What a storage without customer keys hands every commit: nothing to insert."""


class FieldEncryption:
    """Seals a row's sensitive columns on the way in and opens them on the way out.

    ``ring`` is ``None`` for a storage without encryption: rows are written in plaintext,
    and reading an encrypted value raises :class:`~paykit.errors.EncryptionKeyMissingError`.
    """

    def __init__(
        self,
        ring: KeyRing | None,
        customer_keys: CustomerKeys | None,
        connect: Callable[[], Connection] | None = None,
    ) -> None:
        if ring is not None:
            try:
                import paykit.encryption._envelope  # noqa: F401, PLC0415 - needs cryptography
            except ImportError as error:
                msg = "encryption at rest needs the extra: pip install 'paykit[encryption]'"
                raise ImportError(msg) from error
        self.ring = ring
        self.customer_keys = customer_keys
        self.connect = connect
        """An autocommit connection to the storage's database (for rotation and erasure)."""
        self._sealers: dict[tuple[str, bytes], Sealer] = {}
        self._recent: dict[tuple[str, str, str], tuple[str, bytes]] = {}
        """The last ciphertext and plaintext seen in each place (table, column, row id): a
        read of the same ciphertext skips the decryption, and a write of an unchanged value
        keeps the stored ciphertext, so an update writes only the columns that changed.
        Consulted only after the key is found live (an erased key is never bypassed)."""
        self._index_keys: dict[tuple[str, bytes], bytes] = {}

    @property
    def enabled(self) -> bool:
        """Whether writes are encrypted."""
        return self.ring is not None

    # -- keys ------------------------------------------------------------------------------

    def ring_sealer(self, key_id: str) -> Sealer:
        """The sealer of ring key ``key_id`` (cached per key id and key)."""
        from paykit.encryption._envelope import Sealer  # noqa: PLC0415 - optional dependency

        assert self.ring is not None  # noqa: S101 - only called with a ring
        key = self.ring.key(key_id)
        if key is None:
            msg = f"the key ring holds no key {key_id!r}"
            raise EncryptionKeyMissingError(msg, key_id=key_id)
        sealer = self._sealers.get((key_id, key))
        if sealer is None:
            sealer = self._sealers[key_id, key] = Sealer(key_id, key)
        return sealer

    def blind_indexes(self, scope: str, value: str, *, primary_only: bool = False) -> list[str]:
        """The blind index of ``value`` under every ring key (or the first only), first first."""
        from paykit.encryption._envelope import blind_index, blind_index_key  # noqa: PLC0415

        assert self.ring is not None  # noqa: S101 - only called with a ring
        indexes = []
        key_ids = self.ring.key_ids
        for key_id in key_ids[:1] if primary_only else key_ids:
            key = self.ring.key(key_id)
            assert key is not None  # noqa: S101 - listed by the ring
            index_key = self._index_keys.get((key_id, key))
            if index_key is None:
                index_key = self._index_keys[key_id, key] = blind_index_key(key)
            indexes.append(blind_index(index_key, scope, value))
        return indexes

    def _sealer_for(self, table: str, row: Mapping[str, Any]) -> Sealer:
        assert self.ring is not None  # noqa: S101 - only called with a ring
        if table in CUSTOMER_TABLES and self.customer_keys is not None:
            return self.customer_keys.for_writing(row["customer_id"], self.ring_sealer)
        return self.ring_sealer(self.ring.primary_id)

    # -- rows ------------------------------------------------------------------------------

    def seal_row(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        """Encrypt ``row``'s sensitive columns in place (and return it)."""
        from paykit.encryption._envelope import associated_data  # noqa: PLC0415

        if table == "payment_methods":
            self._pack_method(row)
        elif table == "risk_assessments":
            self._pack_risk(row)
        elif table == "risk_list_entries":
            self._pack_list_entry(row)
        sealer = self._sealer_for(table, row)
        row_id = row["id"]
        recent = self._recent
        for column, kind in SENSITIVE_COLUMNS[table].items():
            value = row.get(column)
            if value is None:
                continue
            data = value.encode() if kind == TEXT else _dump_json(value)
            place = (table, column, row_id)
            known = recent.get(place)
            if known is not None and known[1] == data and key_ref_of(known[0]) == sealer.key_ref:
                row[column] = known[0]  # unchanged: the stored ciphertext, not written again
                continue
            sealed = sealer.seal(data, associated_data(table, column, row_id))
            self._remember(place, sealed, data)
            row[column] = sealed
        return row

    def _remember(self, place: tuple[str, str, str], sealed: str, data: bytes) -> None:
        if len(self._recent) >= _RECENT_LIMIT:
            self._recent.clear()
        self._recent[place] = (sealed, data)

    def _pack_method(self, row: dict[str, Any]) -> None:
        """Move the token and display details to their sealed columns; index the token."""
        token = row["provider_payment_method_id"]
        row["provider_token"] = token
        row["provider_payment_method_id"] = self.blind_indexes(
            TOKEN_SCOPE, token, primary_only=True
        )[0]
        display = {name: row[name] for name in _DISPLAY}
        row["display"] = None if all(v is None for v in display.values()) else _dump_text(display)
        for name in _DISPLAY:
            row[name] = None

    def _index(self, table: str, column: str, value: str) -> str:
        """The blind index of ``value`` in ``column`` under the ring's first key."""
        return self.blind_indexes(BLIND_INDEXES[table][column], value, primary_only=True)[0]

    def _pack_risk(self, row: dict[str, Any]) -> None:
        """Seal the personal fields together; leave their blind indexes for the counters.

        An erased value written back (an erased assessment updated) gets no index: it must
        never count with other erased values.
        """
        personal = {name: row[name] for name in RISK_PERSONAL if row[name] is not None}
        row["personal"] = _dump_text(personal) if personal else None
        indexed = BLIND_INDEXES["risk_assessments"]
        for name in RISK_PERSONAL:
            value = row[name]
            keep = value is not None and value != ERASED and name in indexed
            row[name] = self._index("risk_assessments", name, value) if keep else None

    def _pack_list_entry(self, row: dict[str, Any]) -> None:
        """Seal a listed value; its blind index serves membership tests and uniqueness."""
        row["sealed_value"] = row["value"]
        row["value"] = self._index("risk_list_entries", "value", row["value"])

    def lookup_values(self, table: str, column: str, value: str) -> list[str]:
        """What ``column`` of ``table`` may hold for ``value``, for an ``IN (...)`` lookup.

        The value itself (a row written before encryption was turned on) and, when this
        storage encrypts, its blind index under every ring key (a rotation may be under way).
        An erased value matches nothing.
        """
        if value == ERASED and table in CUSTOMER_TABLES:
            return []
        if not self.enabled:
            return [value]
        return [value, *self.blind_indexes(BLIND_INDEXES[table][column], value)]

    def open_row(self, table: str, row: Mapping[str, Any]) -> Mapping[str, Any]:
        """``row`` with its sensitive columns decrypted (the row itself if none is sealed)."""
        columns = SENSITIVE_COLUMNS[table]
        opened: dict[str, Any] | None = None
        for column, kind in columns.items():
            value = row.get(column)
            if not is_sealed(value):
                continue
            if opened is None:
                opened = dict(row)
            opened[column] = self._open_value(table, column, row["id"], value, kind)
        if opened is None:
            return row
        if table == "payment_methods":
            _unpack_method(opened)
        elif table == "risk_assessments":
            _unpack_risk(opened, row)
        elif table == "risk_list_entries" and opened["sealed_value"] is not None:
            opened["value"] = opened["sealed_value"]
        return opened

    def _open_value(self, table: str, column: str, row_id: str, value: str, kind: str) -> Any:  # noqa: ANN401 - a column's value
        from paykit.encryption._envelope import (  # noqa: PLC0415
            InvalidTag,
            associated_data,
            split,
        )

        key_ref = key_ref_of(value)
        if self.ring is None:
            msg = (
                f"the value at {_location(table, column, row_id)} is encrypted (key "
                f"{key_ref!r}) but this storage has no key ring; pass "
                "encryption=KeyRing.from_env() to SqlStorage"
            )
            raise EncryptionKeyMissingError(msg, key_id=key_ref)
        if not key_ref.startswith(CUSTOMER_KEY_MARK):
            if self.ring.key(key_ref) is None:
                raise _missing_ring_key(self.ring, key_ref, _location(table, column, row_id))
            sealer: Sealer | None = self.ring_sealer(key_ref)
        elif self.customer_keys is None:
            msg = f"the value at {_location(table, column, row_id)} is sealed under {key_ref!r}"
            raise EncryptionKeyMissingError(msg, key_id=key_ref)
        else:
            sealer = self.customer_keys.for_reading(key_ref)
            if sealer is None:
                return {} if column == "metadata" else _ERASED_VALUES[column]
        assert sealer is not None  # noqa: S101 - a ring key was found above
        place = (table, column, row_id)
        known = self._recent.get(place)
        if known is not None and known[0] == value:  # the same ciphertext in the same place
            data = known[1]
            return data.decode() if kind == TEXT else json.loads(data)
        try:
            _, blob = split(value)
            data = sealer.open(blob, associated_data(table, column, row_id))
            self._remember(place, value, data)
        except (ValueError, InvalidTag):
            location = _location(table, column, row_id)
            msg = (
                f"the encrypted value at {location} does not authenticate: it was "
                "altered, or copied from another row or column"
            )
            raise DecryptionError(msg, location=location) from None
        return data.decode() if kind == TEXT else json.loads(data)

    def needs_sealing(self, table: str, row: Mapping[str, Any]) -> bool:
        """Whether rotation should rewrite ``row``: plaintext left, or an old ring key."""
        assert self.ring is not None  # noqa: S101 - rotation needs a ring
        primary = self.ring.primary_id
        per_customer = table in CUSTOMER_TABLES and self.customer_keys is not None
        if _plaintext_left(table, row):
            return True
        for column in SENSITIVE_COLUMNS[table]:
            value = row.get(column)
            if value is None:
                continue
            if not is_sealed(value):
                return True  # plaintext, from before encryption was turned on
            ref = key_ref_of(value)
            current = ref.startswith(CUSTOMER_KEY_MARK) if per_customer else ref == primary
            if not current:
                return True
        return False


def _plaintext_left(table: str, row: Mapping[str, Any]) -> bool:
    """Whether ``row`` still holds in a plain column what sealing moves to a sealed one."""
    if table == "payment_methods":
        # No sealed token yet, or sealed before the fingerprint joined the display details.
        return row.get("provider_token") is None or row.get("card_fingerprint") is not None
    if table == "risk_assessments":
        return row.get("personal") is None and any(row[name] is not None for name in RISK_PERSONAL)
    if table == "risk_list_entries":
        return row.get("sealed_value") is None
    return False


def _unpack_method(row: dict[str, Any]) -> None:
    """Put a decrypted token and display details back where the codec reads them."""
    token = row.get("provider_token")
    if token is not None:
        row["provider_payment_method_id"] = token
    display = row.get("display")
    if isinstance(display, str) and display != ERASED:
        row.update(json.loads(display))


def _unpack_risk(row: dict[str, Any], stored: Mapping[str, Any]) -> None:
    """Put a risk assessment's decrypted personal fields back where the codec reads them.

    Erased (``personal`` opened to ``None``), a field reads as :data:`ERASED` where its
    blind index shows it was given, and ``None`` where not; the domain follows the email.
    """
    personal = row["personal"]
    if personal is None:
        given = {name: stored[name] is not None for name in RISK_PERSONAL}
        given["email_domain"] = given["email"]
        row.update({name: ERASED if given[name] else None for name in RISK_PERSONAL})
        return
    values = json.loads(personal)
    row.update({name: values.get(name) for name in RISK_PERSONAL})


def _dump_json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _dump_text(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


@attrs.frozen
class RowCodecs:
    """The codec functions of each table, wrapped by :class:`FieldEncryption`.

    ``decoder(table, decode)`` and ``encoder(table, encode)`` give the functions a unit of
    work uses for rows of ``table``; a table with no sensitive columns gets them unwrapped.
    """

    fields: FieldEncryption
    _made: dict[tuple[str, object], Any] = attrs.field(factory=dict, init=False)

    def new_keys(self) -> NewCustomerKeys:
        """The customer keys a commit about to be planned creates (see :class:`NewCustomerKeys`)."""
        keys = self.fields.customer_keys
        return _NO_NEW_KEYS if keys is None else keys.new_keys()

    """The wrapped functions, made once per storage rather than once per unit of work."""

    def decoder(self, table: str, decode: Callable[[RowMapping], R]) -> Callable[[RowMapping], R]:
        """``decode`` that first opens the row's sealed columns."""
        if table not in SENSITIVE_COLUMNS:
            return decode
        made = self._made.get((table, decode))
        if made is None:
            open_row = self.fields.open_row

            def made(row: RowMapping) -> R:
                return decode(open_row(table, row))  # type: ignore[arg-type]  # the row's mapping

            self._made[table, decode] = made
        return made

    def encoder(
        self, table: str, encode: Callable[..., dict[str, Any]]
    ) -> Callable[..., dict[str, Any]]:
        """``encode`` that then seals the row's sensitive columns (as is without a ring)."""
        if table not in SENSITIVE_COLUMNS or not self.fields.enabled:
            return encode
        made = self._made.get((table, encode))
        if made is None:
            seal_row = self.fields.seal_row

            def made(*args: Any) -> dict[str, Any]:  # noqa: ANN401 - the codec's arguments
                return seal_row(table, encode(*args))

            self._made[table, encode] = made
        return made


PLAINTEXT: Final = RowCodecs(FieldEncryption(None, None))
"""The codecs of a storage without encryption: plaintext writes, envelope-refusing reads."""


def payment_method_ids_by_token(
    connection: Connection, table: Table, fields: FieldEncryption, provider: str, token: str
) -> list[str]:
    """Ids of the payment methods of ``provider`` holding ``token``, found by its blind index.

    A sealed row keeps the token's HMAC under some ring key in ``provider_payment_method_id``
    (one index per key, as rotation may be under way); a plaintext row keeps the token
    itself. One indexed equality lookup finds both, never reading the token in plaintext.
    """
    candidates = [token]
    if fields.enabled:
        candidates += fields.blind_indexes(TOKEN_SCOPE, token)
    columns = table.c
    statement = (
        select(columns.id)
        .where(columns.provider == provider, columns.provider_payment_method_id.in_(candidates))
        .order_by(columns.seq)
    )
    return [row.id for row in connection.execute(statement)]
