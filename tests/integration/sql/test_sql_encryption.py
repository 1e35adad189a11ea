"""Encryption at rest in the SQL storage: what reaches the disk, keys, rotation, erasure.

Seeded secrets (a token, an email, a metadata value, a webhook body, a description) are
looked for in the raw bytes of the SQLite file and its WAL, and in every PostgreSQL row read
as text; the same search finds them when encryption is off, so it can fail. Ciphertexts
moved between rows or columns must refuse to decrypt, a missing key must be named, rotation
must lose no concurrent write, and an erased customer's fields must read as unavailable while
amounts and the audit log stay.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from alembic import command
from sqlalchemy import Engine, inspect, select, text, update

from paykit import InMemoryStorage, PaymentService, SandboxGateway, SandboxToken
from paykit.domain.events import Event
from paykit.domain.payment import PaymentStatus
from paykit.domain.transaction_log import LogType
from paykit.encryption import ERASED, KeyRing
from paykit.errors import (
    ConcurrencyConflict,
    DecryptionError,
    EncryptionKeyMissingError,
    ErasureUnavailableError,
)
from paykit.event_bus import ALL_EVENTS
from paykit.storage.sql import SqlStorage, head_revision
from paykit.storage.sql._migrate import CONNECTION_KEY, _transaction, alembic_config
from paykit.storage.sql._rotation import RotationProgress, rotate
from paykit.testing.repository_contract._records import (
    _entry,
    _inbox_entry,
    _method,
    _payment,
    _refund,
    _save,
)

TOKEN = "tok_SeededToken9931"
EMAIL = "alice.seeded@example.com"
META = "MetaSecretValue4471"
BODY = "WebhookSecretBody5512"
DESCRIPTION = "DescriptionSecret3307"
SECRETS = (TOKEN, EMAIL, META, BODY, DESCRIPTION)

K1 = ("k1", os.urandom(32))
K2 = ("k2", os.urandom(32))


def _ring(*keys: tuple[str, bytes]) -> KeyRing:
    return KeyRing(list(keys))


def _seed(storage: SqlStorage, customer_id: str = "cus_seeded") -> dict[str, Any]:
    """A payment method, a payment, a refund, a log entry and a webhook, holding the secrets."""
    method = attrs.evolve(
        _method(customer_id=customer_id),
        provider_payment_method_id=TOKEN,
        metadata={"email": EMAIL, "note": META},
    )
    payment = _payment(customer_id=customer_id, status=PaymentStatus.COMPLETED)
    payment.description = DESCRIPTION
    payment.metadata = {"email": EMAIL}
    refund = attrs.evolve(_refund(payment), metadata={"note": META})
    entry = attrs.evolve(_entry(payment.id), data={"provider": {"receipt_email": EMAIL}})
    inbox = attrs.evolve(_inbox_entry(), payload={"raw": BODY, "email": EMAIL})
    _save(storage, method, payment, refund, entry, inbox)
    return {"method": method, "payment": payment, "refund": refund, "inbox": inbox}


def _sqlite_bytes(url: str) -> bytes:
    path = Path(url.removeprefix("sqlite:///"))
    return b"".join(
        candidate.read_bytes()
        for candidate in (path, path.with_name(path.name + "-wal"))
        if candidate.exists()
    )


@pytest.fixture
def encrypted(sqlite_url: str) -> Iterator[SqlStorage]:
    """A migrated SQLite storage sealing under k1."""
    storage = SqlStorage(sqlite_url, encryption=_ring(K1))
    storage.upgrade()
    yield storage
    storage.dispose()


Opener = Callable[..., SqlStorage]


@pytest.fixture
def opened(database: tuple[str, str | None]) -> Iterator[Opener]:
    """Opens storages on one migrated database (SQLite, then PostgreSQL), disposed after."""
    url, schema = database
    storages: list[SqlStorage] = []

    def open_storage(*keys: tuple[str, bytes], ring: KeyRing | None = None) -> SqlStorage:
        storage = SqlStorage(
            url, schema=schema, encryption=ring or (_ring(*keys) if keys else None)
        )
        if not storages:
            storage.upgrade()
        storages.append(storage)
        return storage

    yield open_storage
    for storage in storages:
        storage.dispose()


# -- what reaches the disk ---------------------------------------------------------------


def test_seeded_secrets_never_reach_the_sqlite_file_or_its_wal(encrypted: SqlStorage) -> None:
    """No secret is in the database file or the WAL, before and after a checkpoint."""
    records = _seed(encrypted)
    with encrypted.unit_of_work() as uow:  # an update seals again, too
        method = uow.payment_methods.get(records["method"].id)
        method.metadata = {"email": EMAIL, "again": META}
        uow.payment_methods.update(method)
        uow.commit()
    url = str(encrypted.engine.url)
    before = _sqlite_bytes(url)
    encrypted.dispose()  # the last connection closing checkpoints the WAL into the file
    after = _sqlite_bytes(url)

    for secret in SECRETS:
        assert secret.encode() not in before
        assert secret.encode() not in after
    with encrypted.unit_of_work() as uow:
        assert uow.payment_methods.get(records["method"].id).metadata["again"] == META


def test_the_same_search_finds_the_secrets_without_encryption(sqlite_url: str) -> None:
    """The control: a plaintext storage writes every seeded secret to the file."""
    storage = SqlStorage(sqlite_url)
    storage.upgrade()
    _seed(storage)
    storage.dispose()
    found = _sqlite_bytes(sqlite_url)
    assert all(secret.encode() in found for secret in SECRETS)


def test_secrets_written_through_the_service_never_reach_the_file(
    encrypted: SqlStorage,
) -> None:
    """A whole lifecycle through the service (audit messages quoting a reason included).

    A subscriber listens, so the outbox holds each event with its records, sealed too.
    """
    service = _service(encrypted)
    heard: list[Event] = []
    service.events.subscribe(ALL_EVENTS, heard.append)
    card = service.add_payment_method(
        "cus_service", type="credit_card", token=SandboxToken.SUCCESS, metadata={"note": META}
    )
    payment = service.create_payment(
        customer_id="cus_service",
        order_id="ord_1",
        payment_method_id=card.id,
        amount="10.00",
        currency="USD",
        description=DESCRIPTION,
        metadata={"email": EMAIL},
    )
    service.process_payment(payment.id)
    refund = service.create_refund(payment.id, "3.00", reason=BODY)
    service.process_refund(refund.id)
    found = _sqlite_bytes(str(encrypted.engine.url))
    assert payment.id.encode() in found
    assert [s for s in (META, DESCRIPTION, EMAIL, BODY) if s.encode() in found] == []
    assert service.get_refund(refund.id).reason == BODY
    messages = [entry.message for entry in service.get_transaction_log(payment.id)]
    assert any(BODY in message for message in messages)
    assert heard[0].payment.description == DESCRIPTION  # delivered from the sealed outbox
    assert any(event.refund is not None and event.refund.reason == BODY for event in heard)


def _postgres_dump(engine: Engine, schema: str) -> str:
    """Every row of every table in ``schema`` as text (``pg_dump`` too, when installed)."""
    parts: list[str] = []
    with engine.connect() as connection:
        names = connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema}
        ).scalars()
        for name in list(names):
            query = f'SELECT t::text FROM "{schema}"."{name}" t'  # noqa: S608 - our own names
            rows = connection.execute(text(query))
            parts.extend(row[0] for row in rows)
    pg_dump = shutil.which("pg_dump")
    if pg_dump is not None:
        url = engine.url.set(drivername="postgresql")
        dumped = subprocess.run(  # noqa: S603 - a fixed binary and our own test URL
            [
                pg_dump,
                "--data-only",
                f"--schema={schema}",
                url.render_as_string(hide_password=False),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "PostgreSQL database dump" in dumped.stdout
        parts.append(dumped.stdout)
    return "\n".join(parts)


def test_seeded_secrets_never_reach_postgres_rows(
    postgres_engine: Engine, postgres_schema: str
) -> None:
    """No secret is in any PostgreSQL row read as text; without a ring every one is."""
    sealed = SqlStorage(engine=postgres_engine, schema=postgres_schema, encryption=_ring(K1))
    sealed.upgrade()
    records = _seed(sealed)
    dump = _postgres_dump(postgres_engine, postgres_schema)
    assert records["payment"].id in dump  # the search does see the rows
    assert not [secret for secret in SECRETS if secret in dump]

    plain = SqlStorage(engine=postgres_engine, schema=postgres_schema)
    _seed(plain, "cus_plain")
    dump = _postgres_dump(postgres_engine, postgres_schema)
    assert all(secret in dump for secret in SECRETS)


# -- tampering and keys --------------------------------------------------------------------


def test_swapping_two_ciphertexts_between_rows_fails_loudly(opened: Opener) -> None:
    """Each value is bound to its row: two refunds' reasons swapped no longer decrypt."""
    encrypted = opened(K1)
    payment = _payment(status=PaymentStatus.COMPLETED)
    first, second = _refund(payment), _refund(payment)
    _save(encrypted, payment, first, second)
    refunds = encrypted.tables.refunds
    with encrypted.engine.begin() as connection:
        reasons = dict(connection.execute(select(refunds.c.id, refunds.c.reason)).all())
        for mine, theirs in ((first.id, second.id), (second.id, first.id)):
            statement = update(refunds).where(refunds.c.id == mine)
            connection.execute(statement.values(reason=reasons[theirs]))

    with encrypted.unit_of_work() as uow, pytest.raises(DecryptionError) as raised:
        uow.refunds.get(first.id)
    assert raised.value.location == f"refunds.reason[{first.id}]"
    assert "copied from another row or column" in raised.value.message


def test_moving_a_ciphertext_to_another_column_fails_loudly(opened: Opener) -> None:
    """A payment's sealed description copied into its own metadata column does not decrypt."""
    encrypted = opened(K1)
    payment = _payment()
    payment.description = DESCRIPTION
    _save(encrypted, payment)
    payments = encrypted.tables.payments
    with encrypted.engine.begin() as connection:
        sealed = connection.execute(
            select(payments.c.description).where(payments.c.id == payment.id)
        ).scalar_one()
        connection.execute(
            update(payments).where(payments.c.id == payment.id).values(metadata=sealed)
        )
    with encrypted.unit_of_work() as uow, pytest.raises(DecryptionError) as raised:
        uow.payments.get(payment.id)
    assert raised.value.location == f"payments.metadata[{payment.id}]"


def test_a_missing_ring_key_is_named(opened: Opener) -> None:
    """Reading under a ring that lacks k1 names k1; a storage with no ring refuses too."""
    encrypted = opened(K1)
    records = _seed(encrypted)
    other = opened(K2)
    with other.unit_of_work() as uow, pytest.raises(EncryptionKeyMissingError) as raised:
        uow.refunds.get(records["refund"].id)
    assert raised.value.key_id == "k1"
    assert "'k1'" in raised.value.message
    assert raised.value.code == "encryption_key_missing"
    with other.unit_of_work() as uow, pytest.raises(EncryptionKeyMissingError) as raised:
        uow.payments.get(records["payment"].id)  # its data key is wrapped under k1
    assert raised.value.key_id == "k1"

    plain = opened()
    with plain.unit_of_work() as uow, pytest.raises(EncryptionKeyMissingError) as raised:
        uow.refunds.get(records["refund"].id)
    assert raised.value.key_id == "k1"


def test_a_ring_from_a_callable_is_fetched_at_first_use(opened: Opener) -> None:
    """A host callable (say, a KMS fetch) supplies the keys once, when they are first needed."""
    calls: list[int] = []

    def fetch() -> list[tuple[str, bytes]]:
        calls.append(1)
        return [K1]

    storage = opened(ring=KeyRing.from_callable(fetch))
    assert calls == []
    records = _seed(storage)
    with storage.unit_of_work() as uow:
        assert uow.payments.get(records["payment"].id).description == DESCRIPTION
    assert calls == [1]


# -- blind index ---------------------------------------------------------------------------


def test_a_token_is_found_by_its_blind_index_not_its_plaintext(opened: Opener) -> None:
    """The token column holds an HMAC; the lookup finds the method, also after a rotation."""
    encrypted = opened(K1)
    records = _seed(encrypted)
    methods = encrypted.tables.payment_methods
    with encrypted.engine.connect() as connection:
        stored = connection.execute(
            select(methods.c.provider_payment_method_id).where(methods.c.id == records["method"].id)
        ).scalar_one()
    assert stored != TOKEN
    assert len(stored) == 43
    assert encrypted.find_payment_methods_by_token("sandbox", TOKEN) == [records["method"].id]
    assert encrypted.find_payment_methods_by_token("sandbox", TOKEN + "x") == []
    assert encrypted.find_payment_methods_by_token("stripe", TOKEN) == []

    rotated = opened(K2, K1)
    rotate(rotated)
    alone = opened(K2)
    assert alone.find_payment_methods_by_token("sandbox", TOKEN) == [records["method"].id]


# -- rotation ------------------------------------------------------------------------------


def _sealed_refs(storage: SqlStorage) -> set[str]:
    """The key refs of every sealed value in the ring-sealed tables and customer keys."""
    refs = set()
    tables = storage.tables
    columns = (
        (tables.refunds, "reason"),
        (tables.transaction_log, "data"),
        (tables.webhook_inbox, "payload"),
        (tables.customer_keys, "wrapped_key"),
        (tables.payments, "description"),
        (tables.payment_methods, "provider_token"),
    )
    with storage.engine.connect() as connection:
        for table, column in columns:
            for value in connection.execute(select(table.c[column])).scalars():
                assert isinstance(value, str), f"{table.name}.{column} holds plaintext"
                assert value.startswith("pkenc1:")
                refs.add(value.split(":")[1] if not value.split(":")[1].startswith("@") else "@")
    return refs


def test_rotation_reseals_under_the_first_key_and_the_old_key_can_go(opened: Opener) -> None:
    """After a rotation to k2 a ring of k2 alone reads everything; a second pass does nothing."""
    encrypted = opened(K1)
    records = _seed(encrypted)
    assert _sealed_refs(encrypted) == {"k1", "@"}
    both = opened(K2, K1)
    seen: list[RotationProgress] = []
    report = rotate(both, batch_size=2, progress=seen.append)

    assert report.customer_keys_rewrapped == 1
    assert report.rewritten == 4  # the refund, the log entry, the webhook, the token index
    assert seen[-1].done == seen[-1].total
    assert _sealed_refs(both) == {"k2", "@"}
    assert rotate(both).rewritten == 0
    alone = opened(K2)
    with alone.unit_of_work() as uow:
        assert uow.payment_methods.get(records["method"].id).provider_payment_method_id == TOKEN
        assert uow.payments.get(records["payment"].id).description == DESCRIPTION
        assert uow.refunds.get(records["refund"].id).metadata == {"note": META}
        assert uow.webhook_inbox.find("sandbox", records["inbox"].event_id) is not None


def test_sharded_workers_together_rotate_every_row(opened: Opener) -> None:
    """Three workers, each on its shard of the rows, leave nothing under the old key."""
    storage = opened(K1)
    for number in range(4):
        _seed(storage, f"cus_{number}")
    both = opened(K2, K1)
    reports = [rotate(both, shard=(index, 3), batch_size=2) for index in range(3)]
    assert sum(report.rewritten for report in reports) == 16
    assert sum(report.customer_keys_rewrapped for report in reports) == 4
    assert _sealed_refs(both) == {"k2", "@"}


def test_turning_encryption_on_reads_plaintext_until_rotation_seals_it(opened: Opener) -> None:
    """A plaintext database stays readable with a ring; rotation then seals every row."""
    plain = opened()
    records = _seed(plain)
    sealed = opened(K1)
    with sealed.unit_of_work() as uow:
        assert uow.payment_methods.get(records["method"].id).provider_payment_method_id == TOKEN
    report = rotate(sealed)
    assert report.rewritten == 5
    assert _sealed_refs(sealed) == {"k1", "@"}
    with sealed.unit_of_work() as uow:
        method = uow.payment_methods.get(records["method"].id)
        payment = uow.payments.get(records["payment"].id)
    assert (method.provider_payment_method_id, method.brand, method.last4) == (
        TOKEN,
        "visa",
        "4242",
    )
    assert method.metadata == {"email": EMAIL, "note": META}
    assert payment.description == DESCRIPTION


def test_rotation_never_overwrites_a_write_made_between_its_read_and_its_update(
    opened: Opener,
) -> None:
    """A refund changed after rotation read it keeps the change; rotation counts it skipped."""
    plain = opened()
    records = _seed(plain)
    refund_id = records["refund"].id
    rotating = opened(K1)
    writer = opened(K1)
    original_seal = rotating.encryption.seal_row

    def seal_after_a_concurrent_write(table: str, row: dict[str, Any]) -> dict[str, Any]:
        if table == "refunds" and row["id"] == refund_id:
            with writer.unit_of_work() as uow:
                refund = uow.refunds.get(refund_id)
                refund.metadata = {"note": "newer"}
                uow.refunds.update(refund)
                uow.commit()
        return original_seal(table, row)

    rotating.encryption.seal_row = seal_after_a_concurrent_write  # type: ignore[method-assign]
    report = rotate(rotating)

    assert report.skipped == 1
    with writer.unit_of_work() as uow:
        assert uow.refunds.get(refund_id).metadata == {"note": "newer"}
    assert _sealed_refs(writer) == {"k1", "@"}  # the writer sealed the row itself


def test_rotation_under_concurrent_writes_loses_nothing(opened: Opener) -> None:
    """A writer thread updating refunds and payments while rotation runs: every last write stays."""
    plain = opened()
    seeded = [_seed(plain, f"cus_{number}") for number in range(8)]
    storage = opened(K1)
    last: dict[str, int] = {}
    stop = threading.Event()

    def write() -> None:
        number = 0
        while not stop.is_set() or number < 40:
            number += 1
            records = seeded[number % len(seeded)]
            try:
                with storage.unit_of_work() as uow:
                    refund = uow.refunds.get(records["refund"].id)
                    payment = uow.payments.get(records["payment"].id)
                    refund.metadata = {"n": number}
                    payment.metadata = {"n": number}
                    uow.refunds.update(refund)
                    uow.payments.update(payment)
                    uow.commit()
            except ConcurrencyConflict:
                continue
            last[refund.id] = last[payment.id] = number

    thread = threading.Thread(target=write)
    thread.start()
    reports = [rotate(storage, batch_size=1) for _ in range(3)]
    stop.set()
    thread.join()

    assert sum(report.rewritten for report in reports) > 0
    with storage.unit_of_work() as uow:
        for records in seeded:
            refund = uow.refunds.get(records["refund"].id)
            payment = uow.payments.get(records["payment"].id)
            assert refund.metadata == (
                {"n": last[refund.id]} if refund.id in last else {"note": META}
            )
            assert payment.metadata == (
                {"n": last[payment.id]} if payment.id in last else {"email": EMAIL}
            )
    rotate(storage)
    assert _sealed_refs(storage) == {"k1", "@"}


# -- erasure -------------------------------------------------------------------------------


def _service(storage: SqlStorage | InMemoryStorage) -> PaymentService:
    return PaymentService(storage, gateways={"credit_card": SandboxGateway()})


def test_erasing_a_customer_leaves_amounts_and_the_audit_log(opened: Opener) -> None:
    """Their token, details, metadata and description read as erased; money and log stay."""
    encrypted = opened(K1)
    erased = _seed(encrypted, "cus_gone")
    kept = _seed(encrypted, "cus_kept")
    service = _service(encrypted)

    report = service.erase_customer("cus_gone")

    assert (report.keys_destroyed, report.payments_logged) == (1, 1)
    with encrypted.unit_of_work() as uow:
        method = uow.payment_methods.get(erased["method"].id)
        payment = uow.payments.get(erased["payment"].id)
        refund = uow.refunds.get(erased["refund"].id)
        log = uow.transaction_log.list_for_payment(payment.id)
        other = uow.payments.get(kept["payment"].id)
    assert method.provider_payment_method_id == ERASED
    assert (method.brand, method.last4, method.exp_month, method.metadata) == (None, None, None, {})
    assert (payment.description, payment.metadata) == (ERASED, {})
    assert payment.amount == erased["payment"].amount
    assert payment.captured_amount == erased["payment"].captured_amount
    assert payment.status is PaymentStatus.COMPLETED
    assert refund.amount == erased["refund"].amount  # refunds are sealed under the ring
    assert [entry.log_type for entry in log] == [LogType.PAYMENT_CREATED, LogType.CUSTOMER_ERASED]
    assert log[0].data == {"provider": {"receipt_email": EMAIL}}
    assert log[1].data == {"customer_id": "cus_gone", "keys_destroyed": 1}
    assert other.description == DESCRIPTION
    assert service.erase_customer("cus_gone").keys_destroyed == 0


def test_erasure_deletes_the_customers_delivered_events(opened: Opener) -> None:
    """Delivered events copy the customer's records under the ring key: erasure drops them."""
    encrypted = opened(K1)
    service = _service(encrypted)
    heard: list[Event] = []
    service.events.subscribe(ALL_EVENTS, heard.append)
    for customer in ("cus_gone", "cus_kept"):
        card = service.add_payment_method(customer, type="credit_card", token=SandboxToken.SUCCESS)
        service.create_payment(
            customer_id=customer,
            order_id="ord_1",
            payment_method_id=card.id,
            amount="10.00",
            currency="USD",
            description=DESCRIPTION,
        )
    service.outbox.flush()
    assert {event.payment.customer_id for event in heard} == {"cus_gone", "cus_kept"}
    assert _event_owners(encrypted) == {"cus_gone", "cus_kept"}

    service.erase_customer("cus_gone")

    assert _event_owners(encrypted) == {"cus_kept"}


def _event_owners(storage: SqlStorage) -> set[str]:
    """The customers whose payments have events in the outbox."""
    outbox, payments = storage.tables.outbox, storage.tables.payments
    with storage.engine.connect() as connection:
        owners = connection.execute(
            select(payments.c.customer_id).join(outbox, outbox.c.payment_id == payments.c.id)
        ).scalars()
        return set(owners)


def test_erasure_also_reaches_a_key_cached_in_another_storage_after_its_ttl(opened: Opener) -> None:
    """Another process's cache expires; with no cache its next read shows the erasure."""
    storage = opened(K1)
    records = _seed(storage)
    elsewhere = opened(K1)
    with elsewhere.unit_of_work() as uow:
        assert uow.payments.get(records["payment"].id).description == DESCRIPTION
    _service(storage).erase_customer("cus_seeded")
    assert elsewhere.encryption.customer_keys is not None
    elsewhere.encryption.customer_keys.forget()  # what the cache's expiry does
    with elsewhere.unit_of_work() as uow:
        assert uow.payments.get(records["payment"].id).description == ERASED


def test_erasing_seals_what_was_still_plaintext_first(opened: Opener) -> None:
    """Rows written before encryption was on are sealed, then shredded with the key."""
    plain = opened()
    records = _seed(plain)
    sealed = opened(K1)
    _service(sealed).erase_customer("cus_seeded")
    with sealed.unit_of_work() as uow:
        assert uow.payment_methods.get(records["method"].id).provider_payment_method_id == ERASED
        assert uow.payments.get(records["payment"].id).description == ERASED


def test_erasure_needs_an_encrypting_storage() -> None:
    """The in-memory store keeps plaintext, so there is no key to destroy: a clear error."""
    with pytest.raises(ErasureUnavailableError) as raised:
        _service(InMemoryStorage()).erase_customer("cus_1")
    assert raised.value.code == "erasure_unavailable"


def test_the_key_ring_never_shows_a_key() -> None:
    """The ring's repr lists key ids only."""
    ring = KeyRing.from_string(f"k1:{base64.b64encode(K1[1]).decode()}")
    assert repr(ring) == "KeyRing(key_ids=['k1'])"
    assert base64.b64encode(K1[1]).decode() not in repr(ring)


# -- the migration -------------------------------------------------------------------------


def _downgrade(storage: SqlStorage, revision: str) -> None:
    config = alembic_config(schema=storage.schema, table_prefix=storage.table_prefix)
    with _transaction(storage.engine) as connection:
        config.attributes[CONNECTION_KEY] = connection
        command.downgrade(config, revision)


def test_the_downgrade_refuses_while_values_are_sealed_under_customer_keys(
    opened: Opener,
) -> None:
    """Dropping 0007 would lose the tokens and the data keys: refused, nothing changed."""
    storage = opened(K1)
    records = _seed(storage)
    with pytest.raises(RuntimeError, match="cannot downgrade below 0007"):
        _downgrade(storage, "0006")
    assert storage.current_revision() == head_revision()
    with storage.unit_of_work() as uow:
        assert uow.payment_methods.get(records["method"].id).provider_payment_method_id == TOKEN


def test_a_plaintext_database_downgrades_and_upgrades_again(opened: Opener) -> None:
    """Without sealed data 0007 goes down (table and columns dropped) and up again."""
    storage = opened()
    records = _seed(storage)
    _downgrade(storage, "0006")
    names = inspect(storage.engine).get_table_names(schema=storage.schema)
    assert "customer_keys" not in names
    columns = {
        c["name"]
        for c in inspect(storage.engine).get_columns("payment_methods", schema=storage.schema)
    }
    assert not columns & {"provider_token", "display"}
    storage.upgrade()
    with storage.unit_of_work() as uow:
        assert uow.payment_methods.get(records["method"].id).provider_payment_method_id == TOKEN


# -- customer data keys ----------------------------------------------------------------------


def _live_keys(storage: SqlStorage, customer_id: str) -> int:
    keys = storage.tables.customer_keys
    with storage.engine.connect() as connection:
        statement = select(keys.c.id).where(
            keys.c.customer_id == customer_id, keys.c.destroyed_at.is_(None)
        )
        return len(connection.execute(statement).all())


def test_a_new_customer_key_is_written_with_the_commit_that_needs_it(opened: Opener) -> None:
    """A commit that fails writes no key; the one that succeeds writes one, in its transaction."""
    storage = opened(K1)
    method = _method(customer_id="cus_new")
    _save(storage, method)
    clash = attrs.evolve(_method(customer_id="cus_other"), id=method.id)  # an id taken
    with storage.unit_of_work() as uow:
        uow.payment_methods.add(clash)
        with pytest.raises(ConcurrencyConflict):
            uow.commit()
    assert _live_keys(storage, "cus_new") == 1
    assert _live_keys(storage, "cus_other") == 0


def test_two_processes_creating_one_customers_first_key_conflict_and_retry(
    opened: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second commit to create the key loses the race, and its retry uses the first's key."""
    first, second = opened(K1), opened(K1)  # two caches, as two processes have
    theirs, mine = _method(customer_id="cus_race"), _method(customer_id="cus_race")
    keys = second.encryption.customer_keys
    assert keys is not None
    create_key = keys._new_key  # the moment to race: about to create the key

    def create_after_the_other_commits(*args: Any) -> Any:
        _save(first, theirs)  # the other process commits its first key now
        return create_key(*args)

    monkeypatch.setattr(keys, "_new_key", create_after_the_other_commits)
    with second.unit_of_work() as uow:
        uow.payment_methods.add(mine)
        with pytest.raises(ConcurrencyConflict):
            uow.commit()
    monkeypatch.undo()
    _save(second, mine)

    assert _live_keys(first, "cus_race") == 1
    with first.unit_of_work() as uow:
        assert uow.payment_methods.get(mine.id).provider_payment_method_id == (
            mine.provider_payment_method_id
        )
    with second.unit_of_work() as uow:
        assert uow.payment_methods.get(theirs.id).metadata == theirs.metadata
