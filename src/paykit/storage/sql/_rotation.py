"""Re-encrypt stored rows under the key ring's first key: ``paykit keys rotate``.

A rotation walks each table with sensitive columns in ``seq`` order, a batch at a time
(keyset pagination: ``seq > last seen``), and rewrites a row only when it needs it: a value
still in plaintext (a database written before encryption was turned on) or sealed under a
ring key other than the first. Values under a customer's data key stay as they are -- that
key is rotated by re-wrapping it (``customer_keys``) -- so a rotation rewrites little more
than the customer keys and the ring-sealed tables.

Safe beside live traffic: each rewrite is one statement, ``... WHERE id = :id AND version =
:version`` (the version read), and does not bump the version, since the plaintext is
unchanged. A unit of work that changed the row since the read has bumped the version, so the
rewrite matches nothing and the newer write stands (it was sealed under the writer's first
key). Audit log rows are never updated by paykit, so they are matched by id alone. Several
workers may rotate at once: ``shard=(i, n)`` gives worker ``i`` the rows with
``seq % n == i``; workers that overlap only redo each other's work. A rotation is resumable:
run it again and it skips every row already done. Deploy the new ring to every process
before rotating: a process still encrypting under the old first key writes rows that the
next rotation has to redo.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs
from sqlalchemy import Table, bindparam, func, select, update

from paykit.encryption import ERASED
from paykit.encryption._format import key_ref_of
from paykit.errors import DecryptionError, EncryptionKeyMissingError
from paykit.storage.sql._encryption import (
    BLIND_INDEXES,
    CUSTOMER_TABLES,
    RISK_PERSONAL,
    SENSITIVE_COLUMNS,
    FieldEncryption,
)

if TYPE_CHECKING:
    from paykit.storage.sql._storage import SqlStorage

__all__ = ["DEFAULT_BATCH_SIZE", "RotationProgress", "RotationReport", "rotate"]

DEFAULT_BATCH_SIZE: Final = 500
_PLAIN_COLUMNS: Final[Mapping[str, tuple[str, ...]]] = {
    "payment_methods": (
        "provider_payment_method_id",
        "brand",
        "last4",
        "exp_month",
        "exp_year",
        "card_fingerprint",
    ),
    "risk_assessments": RISK_PERSONAL,
    "risk_list_entries": ("value",),
}
"""The plain columns sealing rewrites beside the sealed ones: blind indexes, and the
plaintext it moves into a sealed column (left NULL)."""


@attrs.frozen
class RotationProgress:
    """Where a rotation is: rows examined of the total, over every table."""

    table: str
    done: int
    total: int


@attrs.frozen
class RotationReport:
    """What a rotation did, in rows.

    ``skipped``: a newer write won the race (and sealed the row itself); ``unreadable``: a
    key is missing or a value does not authenticate, so the row was left as it was.
    """

    examined: int = 0
    rewritten: int = 0
    skipped: int = 0
    unreadable: int = 0
    customer_keys_rewrapped: int = 0

    def __add__(self, other: RotationReport) -> RotationReport:
        return RotationReport(
            examined=self.examined + other.examined,
            rewritten=self.rewritten + other.rewritten,
            skipped=self.skipped + other.skipped,
            unreadable=self.unreadable + other.unreadable,
            customer_keys_rewrapped=self.customer_keys_rewrapped + other.customer_keys_rewrapped,
        )


def rotate(
    storage: SqlStorage,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    shard: tuple[int, int] = (0, 1),
    customer_id: str | None = None,
    progress: Callable[[RotationProgress], None] | None = None,
) -> RotationReport:
    """Seal every row of ``storage`` under its ring's first key (see the module docstring).

    ``customer_id`` limits the work to that customer's payment methods, payments and risk
    assessments (what an erasure seals before destroying the key). ``progress`` is called
    after each batch.
    """
    fields = storage.encryption
    if not fields.enabled:
        msg = "rotation needs a key ring: SqlStorage(..., encryption=KeyRing.from_env())"
        raise ValueError(msg)
    index, count = shard
    if count < 1 or not 0 <= index < count:
        msg = f"shard {index}/{count}: need 0 <= index < count"
        raise ValueError(msg)
    if batch_size < 1:
        msg = "batch_size must be at least 1"
        raise ValueError(msg)
    tables = storage.tables
    names = sorted(CUSTOMER_TABLES) if customer_id is not None else list(SENSITIVE_COLUMNS)
    walk = _Walk(storage, fields, batch_size, shard, customer_id)
    total = 0 if customer_id is not None else walk.count(tables.customer_keys)
    for name in names:
        total += walk.count(getattr(tables, name))
    walk.total = total
    report = RotationReport()
    if customer_id is None:
        report += walk.rewrap(tables.customer_keys, progress)
    for name in names:
        report += walk.table(name, getattr(tables, name), progress)
    return report


class _Walk:
    """One rotation's pass over the tables, batch by batch."""

    def __init__(
        self,
        storage: SqlStorage,
        fields: FieldEncryption,
        batch_size: int,
        shard: tuple[int, int],
        customer_id: str | None,
    ) -> None:
        assert fields.connect is not None  # noqa: S101 - a storage's fields always have it
        self._connect = fields.connect
        self._fields = fields
        self._batch = batch_size
        self._shard = shard
        self._customer = customer_id
        self.total = 0
        self.done = 0
        del storage

    def _filters(self, table: Table) -> list[Any]:
        index, count = self._shard
        filters: list[Any] = []
        if count > 1:
            filters.append(table.c.seq % count == index)
        if self._customer is not None:
            filters.append(table.c.customer_id == self._customer)
        return filters

    def count(self, table: Table) -> int:
        with self._connect() as connection:
            statement = select(func.count()).select_from(table).where(*self._filters(table))
            return int(connection.execute(statement).scalar_one())

    def _batches(self, table: Table) -> Any:  # noqa: ANN401 - an iterator of row batches
        statement = (
            select(table)
            .where(table.c.seq > bindparam("after"), *self._filters(table))
            .order_by(table.c.seq)
            .limit(self._batch)
        )
        after = 0
        while True:
            with self._connect() as connection:
                rows = connection.execute(statement, {"after": after}).mappings().all()
            if not rows:
                return
            yield rows
            after = rows[-1]["seq"]

    def _advance(
        self, name: str, rows: int, progress: Callable[[RotationProgress], None] | None
    ) -> None:
        self.done += rows
        if progress is not None:
            progress(RotationProgress(name, self.done, self.total))

    def rewrap(
        self, table: Table, progress: Callable[[RotationProgress], None] | None
    ) -> RotationReport:
        """Re-wrap the live customer keys under the ring's first key."""
        from paykit.encryption._envelope import associated_data  # noqa: PLC0415 - optional

        ring = self._fields.ring
        assert ring is not None  # noqa: S101 - checked by rotate
        primary = ring.primary_id
        statement = (
            update(table)
            .where(
                table.c.id == bindparam("match_id"), table.c.version == bindparam("match_version")
            )
            .values(wrapped_key=bindparam("new_key"), version=table.c.version + 1)
        )
        report = RotationReport()
        for rows in self._batches(table):
            examined = rewrapped = skipped = unreadable = 0
            for row in rows:
                examined += 1
                wrapped = row["wrapped_key"]
                if wrapped is None or key_ref_of(wrapped) == primary:
                    continue
                aad = associated_data("customer_keys", "wrapped_key", row["id"])
                try:
                    key = _open(ring, wrapped, aad, row["id"])
                except (EncryptionKeyMissingError, DecryptionError):
                    unreadable += 1
                    continue
                new = self._fields.ring_sealer(primary).seal(key, aad)
                params = {"match_id": row["id"], "match_version": row["version"], "new_key": new}
                with self._connect() as connection:
                    if connection.execute(statement, params).rowcount == 1:
                        rewrapped += 1
                    else:
                        skipped += 1
            report += RotationReport(
                examined=examined,
                skipped=skipped,
                unreadable=unreadable,
                customer_keys_rewrapped=rewrapped,
            )
            self._advance("customer_keys", len(rows), progress)
        return report

    def table(
        self, name: str, table: Table, progress: Callable[[RotationProgress], None] | None
    ) -> RotationReport:
        """Seal the rows of one table that need it."""
        columns = [*SENSITIVE_COLUMNS[name], *_PLAIN_COLUMNS.get(name, ())]
        match = [table.c.id == bindparam("match_id")]
        if "version" in table.c:
            match.append(table.c.version == bindparam("match_version"))
        statement = (
            update(table)
            .where(*match)
            .values({column: bindparam(f"new_{column}") for column in columns})
        )
        report = RotationReport()
        for rows in self._batches(table):
            report += self._rewrite(name, rows, columns, statement)
            self._advance(name, len(rows), progress)
        return report

    def _rewrite(
        self,
        name: str,
        rows: Sequence[Any],
        columns: list[str],
        statement: Any,  # noqa: ANN401
    ) -> RotationReport:
        fields = self._fields
        rewritten = skipped = unreadable = 0
        for row in rows:
            try:
                if not fields.needs_sealing(name, row) and not _stale_index(fields, name, row):
                    continue
                sealed = fields.seal_row(name, dict(fields.open_row(name, row)))
            except (EncryptionKeyMissingError, DecryptionError):
                unreadable += 1
                continue
            params = {f"new_{column}": sealed[column] for column in columns}
            params["match_id"] = row["id"]
            params["match_version"] = row.get("version")
            with self._connect() as connection:
                if connection.execute(statement, params).rowcount == 1:
                    rewritten += 1
                else:
                    skipped += 1
        return RotationReport(
            examined=len(rows), rewritten=rewritten, skipped=skipped, unreadable=unreadable
        )


def _open(ring: Any, wrapped: str, aad: bytes, key_id: str) -> bytes:  # noqa: ANN401 - a KeyRing
    from paykit.storage.sql._encryption import open_with_ring  # noqa: PLC0415

    return open_with_ring(ring, wrapped, aad, f"customer_keys.wrapped_key[{key_id}]")


def _stale_index(fields: FieldEncryption, name: str, row: Any) -> bool:  # noqa: ANN401 - a row
    """Whether a sealed row's blind indexes are under an older ring key.

    A payment method's token and a risk assessment's personal fields are sealed under the
    customer's key, which rotation leaves alone (a list entry's value under the ring's),
    but the blind indexes beside them are HMACs under a ring key and must follow the ring.
    """
    indexed = BLIND_INDEXES.get(name)
    if indexed is None:
        return False
    opened = fields.open_row(name, row)
    for column, scope in indexed.items():
        value = opened[column]
        if value is None or value == ERASED:
            continue  # nothing to find, or an erased value that stays unfindable
        if fields.blind_indexes(scope, value, primary_only=True)[0] != row[column]:
            return True
    return False
