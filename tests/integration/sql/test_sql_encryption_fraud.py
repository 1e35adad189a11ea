"""Encryption at rest for fraud screening: emails, IPs and lists sealed, counters still count.

A risk assessment's email, its domain, IP address, device id and card fingerprint are sealed
under the customer's data key; velocity counters and list membership compare blind indexes.
Seeded values are looked for in the SQLite file and in every PostgreSQL row read as text
(the same search finds them with encryption off, so it can fail); counters are checked on
rows sealed, rows written before encryption was on, and rows under two ring keys during a
rotation; erasure leaves the amounts and the decision.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from sqlalchemy import Engine, select, text

from paykit import PaymentService, SandboxGateway
from paykit.domain.payment_method import PaymentMethod
from paykit.domain.risk import RiskAction, RiskAssessment, RiskListEntry, VelocityCount
from paykit.encryption import ERASED, KeyRing
from paykit.event_bus import ALL_EVENTS
from paykit.fraud import FraudScreening, RiskContext, Rule
from paykit.money import Money
from paykit.storage.sql import SqlStorage
from paykit.storage.sql._rotation import rotate
from paykit.testing.repository_contract._records import T0, _at, _method, _new_id

EMAIL = "mallory.seeded@example.org"
DOMAIN = "example.org"
IP = "198.51.100.77"
DEVICE = "device-seeded-5521"
FINGERPRINT = "fp_SeededFingerprint8812"
LISTED = "listed.thief@badmail.test"
SEEDED = (EMAIL, IP, DEVICE, FINGERPRINT, LISTED)

K1 = ("k1", os.urandom(32))
K2 = ("k2", os.urandom(32))

RULES = [
    Rule(name="listed", condition=":email: in @blocked_emails", action="block", score=90),
    Rule(name="burst", condition=":payments_per_email_1h: >= 2", action="review", score=40),
]

Opener = Callable[..., SqlStorage]


@pytest.fixture
def opened(database: tuple[str, str | None]) -> Iterator[Opener]:
    """Opens storages on one migrated database (SQLite, then PostgreSQL), disposed after."""
    url, schema = database
    storages: list[SqlStorage] = []

    def open_storage(*keys: tuple[str, bytes]) -> SqlStorage:
        storage = SqlStorage(url, schema=schema, encryption=KeyRing(list(keys)) if keys else None)
        if not storages:
            storage.upgrade()
        storages.append(storage)
        return storage

    yield open_storage
    for storage in storages:
        storage.dispose()


def _assessment(customer_id: str = "cus_risk", minutes: int = 0, **fields: Any) -> RiskAssessment:
    values: dict[str, Any] = {
        "email": EMAIL,
        "email_domain": DOMAIN,
        "ip_address": IP,
        "device_id": DEVICE,
        "card_fingerprint": FINGERPRINT,
    }
    values.update(fields)
    return RiskAssessment(
        id=_new_id("pay"),
        customer_id=customer_id,
        amount=Money.of("10.00", "USD"),
        ip_country="NL",
        decision=RiskAction.ALLOW,
        score=15,
        fired_rules=("small",),
        created_at=_at(minutes),
        updated_at=_at(minutes),
        **values,
    )


def _save(storage: SqlStorage, *records: RiskAssessment | RiskListEntry | PaymentMethod) -> None:
    with storage.unit_of_work() as uow:
        for record in records:
            if isinstance(record, RiskAssessment):
                uow.risk_assessments.add(record)
            elif isinstance(record, PaymentMethod):
                uow.payment_methods.add(record)
            else:
                uow.risk_lists.add(record)
        uow.commit()


def _card(customer_id: str = "cus_risk") -> PaymentMethod:
    """A saved card whose display details carry the seeded fingerprint."""
    return attrs.evolve(_method(customer_id=customer_id), card_fingerprint=FINGERPRINT)


def _listed(value: str, list_name: str = "blocked_emails") -> RiskListEntry:
    return RiskListEntry(
        id=_new_id("rl"), list_name=list_name, value=value, note=f"seen with {value}", created_at=T0
    )


def _counts(storage: SqlStorage, **values: str) -> dict[str, list[int]]:
    """Payments per key in the windows from minute 0 and from minute 5, until minute 10."""
    with storage.unit_of_work() as uow:
        counts = uow.risk_assessments.velocity(
            values, windows=[_at(0), _at(5)], until=_at(10), currency="USD"
        )
    return {key: [count.payments for count in found] for key, found in counts.items()}


def _service(storage: SqlStorage) -> PaymentService:
    return PaymentService(storage, {"credit_card": SandboxGateway()}, fraud=FraudScreening(RULES))


def _screen_through_the_service(storage: SqlStorage) -> PaymentService:
    """A listed email blocked, then three payments of one email and IP (the third held)."""
    service = _service(storage)
    service.risk_lists.add("blocked_emails", LISTED, by="ops")
    card = service.add_payment_method("cus_service", type="credit_card", token="tok_visa")
    for email in (LISTED, EMAIL, EMAIL, EMAIL):
        payment = service.create_payment(
            customer_id="cus_service",
            order_id=_new_id("ord"),
            payment_method_id=card.id,
            amount="10.00",
            currency="USD",
        )
        service.process_payment(
            payment.id, risk=RiskContext(email=email, ip_address=IP, device_id=DEVICE)
        )
    return service


# -- what reaches the disk ---------------------------------------------------------------


def _sqlite_bytes(storage: SqlStorage) -> bytes:
    url = str(storage.engine.url)
    storage.dispose()  # the last connection closing checkpoints the WAL into the file
    return Path(url.removeprefix("sqlite:///")).read_bytes()


def test_screening_inputs_never_reach_the_sqlite_file(sqlite_url: str) -> None:
    """Email, IP, device id and a listed value: absent from the file, yet screening works."""
    storage = SqlStorage(sqlite_url, encryption=KeyRing([K1]))
    storage.upgrade()
    service = _screen_through_the_service(storage)
    card = _card()
    _save(storage, _assessment(), card)  # a card fingerprint too, on both
    outcomes = [a.decision for a in service.context.read(_every_assessment)]
    found = _sqlite_bytes(storage)

    assert b"cus_service" in found  # the search does see the rows
    assert [value for value in SEEDED if value.encode() in found] == []
    assert outcomes.count(RiskAction.BLOCK) == 1
    assert outcomes.count(RiskAction.REVIEW) == 1  # the third payment of one email
    assert service.risk_lists.contains("blocked_emails", LISTED)
    assert [entry.value for entry in service.risk_lists.entries()] == [LISTED]
    assert service.get_payment_method(card.id).card_fingerprint == FINGERPRINT


def test_a_context_kept_by_create_payment_is_sealed_on_its_payment(sqlite_url: str) -> None:
    """A pending payment's kept context: absent from the file, read back, erased with its key."""
    storage = SqlStorage(sqlite_url, encryption=KeyRing([K1]))
    storage.upgrade()
    service = _service(storage)
    card = service.add_payment_method("cus_waiting", type="credit_card", token="tok_visa")
    context = RiskContext(email=EMAIL, ip_address=IP, device_id=DEVICE, ip_country="NL")
    payment = service.create_payment(
        customer_id="cus_waiting",
        order_id=_new_id("ord"),
        payment_method_id=card.id,
        amount="10.00",
        currency="USD",
        risk=context,
    )
    service.outbox.flush()
    with storage.unit_of_work() as uow:
        assert uow.payments.get(payment.id).risk_context == context

    found = _sqlite_bytes(storage)

    assert b"cus_waiting" in found  # the search does see the rows
    assert [value for value in (EMAIL, IP, DEVICE) if value.encode() in found] == []
    storage = SqlStorage(sqlite_url, encryption=KeyRing([K1]))
    _service(storage).erase_customer("cus_waiting")
    with storage.unit_of_work() as uow:
        assert uow.payments.get(payment.id).risk_context is None
    storage.dispose()


def test_a_kept_context_stays_out_of_the_payments_events(sqlite_url: str) -> None:
    """The outbox stores a copy of the payment in each event, without the kept risk context."""
    storage = SqlStorage(sqlite_url)  # plaintext: the events' text can be searched
    storage.upgrade()
    service = _service(storage)
    service.events.subscribe(ALL_EVENTS, lambda _event: None)  # else no event is stored
    card = service.add_payment_method("cus_waiting", type="credit_card", token="tok_visa")
    service.create_payment(
        customer_id="cus_waiting",
        order_id=_new_id("ord"),
        payment_method_id=card.id,
        amount="10.00",
        currency="USD",
        risk=RiskContext(email=EMAIL, ip_address=IP),
    )
    outbox = storage.tables.outbox
    with storage.engine.connect() as connection:
        events = [str(event) for event in connection.execute(select(outbox.c.event)).scalars()]

    assert len(events) == 1
    assert "cus_waiting" in events[0]
    assert [value for value in (EMAIL, IP) if value in events[0]] == []
    storage.dispose()


def _every_assessment(tx: Any) -> list[RiskAssessment]:
    return list(tx.uow.risk_assessments.list_created_between(None, None))


def test_the_same_search_finds_them_without_encryption(sqlite_url: str) -> None:
    """The control: a plaintext storage writes every seeded value to the file."""
    storage = SqlStorage(sqlite_url)
    storage.upgrade()
    _screen_through_the_service(storage)
    _save(storage, _assessment(), _card())
    found = _sqlite_bytes(storage)
    assert [value for value in SEEDED if value.encode() not in found] == []


def _postgres_rows(engine: Engine, schema: str) -> str:
    with engine.connect() as connection:
        names = connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema}
        ).scalars()
        return "\n".join(
            row[0]
            for name in list(names)
            for row in connection.execute(text(f'SELECT t::text FROM "{schema}"."{name}" t'))  # noqa: S608 - our own names
        )


def test_screening_inputs_never_reach_postgres_rows(
    postgres_engine: Engine, postgres_schema: str
) -> None:
    """No seeded value in any PostgreSQL row read as text; without a ring every one is."""
    sealed = SqlStorage(engine=postgres_engine, schema=postgres_schema, encryption=KeyRing([K1]))
    sealed.upgrade()
    _screen_through_the_service(sealed)
    _save(sealed, _assessment(), _card())
    rows = _postgres_rows(postgres_engine, postgres_schema)
    assert "cus_service" in rows
    assert [value for value in SEEDED if value in rows] == []

    plain = SqlStorage(engine=postgres_engine, schema=postgres_schema)
    _save(plain, _assessment("cus_plain"), _listed(LISTED, "plain_list"))
    rows = _postgres_rows(postgres_engine, postgres_schema)
    assert [value for value in SEEDED if value not in rows] == []


# -- velocity counters and lists ------------------------------------------------------------


def test_velocity_counts_by_email_ip_and_card_over_sealed_rows(opened: Opener) -> None:
    """Counters by each key count the sealed rows of that value only, in each window."""
    storage = opened(K1)
    _save(
        storage,
        _assessment(minutes=1),
        _assessment("cus_other", minutes=6),  # another customer, the same email: counted
        _assessment(minutes=7, email="someone@else.test", ip_address="192.0.2.1"),
        _assessment(minutes=8, card_fingerprint="fp_other", device_id=None),
    )
    assert _counts(storage, email=EMAIL, ip_address=IP, card_fingerprint=FINGERPRINT) == {
        "email": [3, 2],
        "ip_address": [3, 2],
        "card_fingerprint": [3, 2],
    }
    assert _counts(storage, email="nobody@example.org", customer_id="cus_risk") == {
        "email": [0, 0],
        "customer_id": [3, 2],
    }
    emails = storage.tables.risk_assessments.c.email
    with storage.engine.connect() as connection:
        stored = set(connection.execute(select(emails)).scalars())
    assert EMAIL not in stored
    assert {len(value) for value in stored} == {43}  # blind indexes


def test_velocity_counts_plaintext_rows_and_both_keys_of_a_rotation(opened: Opener) -> None:
    """Rows from before encryption, under k1 and under k2 all count; after rotation k2 alone."""
    _save(opened(), _assessment(minutes=1))  # written before encryption was turned on
    _save(opened(K1), _assessment(minutes=2))
    rotating = opened(K2, K1)
    _save(rotating, _assessment(minutes=6))
    expected = {"email": [3, 1], "ip_address": [3, 1], "card_fingerprint": [3, 1]}
    keys = {"email": EMAIL, "ip_address": IP, "card_fingerprint": FINGERPRINT}
    assert _counts(rotating, **keys) == expected

    report = rotate(rotating)

    assert report.rewritten == 2  # the plaintext row and the row indexed under k1
    assert _counts(opened(K2), **keys) == expected
    nothing = {"email": [0, 0], "ip_address": [0, 0], "card_fingerprint": [0, 0]}
    assert _counts(opened(), **keys) == nothing  # no plaintext left to match


def test_list_membership_works_sealed_and_across_a_rotation(opened: Opener) -> None:
    """Find, members, listing and removal by value, on sealed and plaintext entries."""
    _save(opened(), _listed("old@plain.test"))  # listed before encryption was on
    storage = opened(K1)
    _save(storage, _listed(LISTED), _listed("10.0.0.1", "blocked_ips"))
    values = storage.tables.risk_list_entries.c.value
    with storage.engine.connect() as connection:
        assert LISTED not in set(connection.execute(select(values)).scalars())

    def members(storage: SqlStorage) -> dict[str, set[str]]:
        with storage.unit_of_work() as uow:
            return uow.risk_lists.members(
                {
                    "blocked_emails": [LISTED, "old@plain.test", "fine@ok.test"],
                    "blocked_ips": ["10.0.0.1", "10.0.0.2"],
                }
            )

    expected = {"blocked_emails": {LISTED, "old@plain.test"}, "blocked_ips": {"10.0.0.1"}}
    assert members(storage) == expected
    with storage.unit_of_work() as uow:
        found = uow.risk_lists.find("blocked_emails", LISTED)
        assert found is not None
        assert (found.value, found.note) == (LISTED, f"seen with {LISTED}")
        assert uow.risk_lists.find("blocked_ips", LISTED) is None
        assert sorted(e.value for e in uow.risk_lists.list("blocked_emails")) == [
            LISTED,
            "old@plain.test",
        ]

    rotate(opened(K2, K1))
    alone = opened(K2)
    assert members(alone) == expected
    service = _service(alone)
    assert service.risk_lists.remove("blocked_emails", "old@plain.test")  # sealed by rotation
    assert service.risk_lists.add("blocked_emails", LISTED).id == found.id  # already there
    assert members(alone)["blocked_emails"] == {LISTED}


# -- rotation and erasure ----------------------------------------------------------------


def _stored(storage: SqlStorage, table_name: str, record_id: str) -> dict[str, Any]:
    table = getattr(storage.tables, table_name)
    with storage.engine.connect() as connection:
        row = connection.execute(select(table).where(table.c.id == record_id)).mappings().one()
    return dict(row)


def test_rotation_seals_plaintext_risk_rows_and_follows_the_ring(opened: Opener) -> None:
    """A plaintext assessment and list entry are sealed by rotation, then re-indexed under k2."""
    plain = opened()
    assessment, entry = _assessment(), _listed(LISTED)
    _save(plain, assessment, entry)

    assert rotate(opened(K1)).rewritten == 2
    sealed_row = _stored(plain, "risk_assessments", assessment.id)
    sealed_entry = _stored(plain, "risk_list_entries", entry.id)
    assert sealed_row["personal"].startswith("pkenc1:@")  # the customer's data key
    assert sealed_row["email_domain"] is None
    assert [value for value in SEEDED if value in str(sealed_row)] == []
    assert sealed_entry["sealed_value"].startswith("pkenc1:k1:")
    assert sealed_entry["note"].startswith("pkenc1:k1:")

    assert rotate(opened(K2, K1)).rewritten == 2  # the indexes and the entry follow the ring
    after = _stored(plain, "risk_assessments", assessment.id)
    assert after["personal"] == sealed_row["personal"]  # still under the customer's key
    assert after["email"] != sealed_row["email"]
    assert _stored(plain, "risk_list_entries", entry.id)["sealed_value"].startswith("pkenc1:k2:")
    with opened(K2).unit_of_work() as uow:
        assert uow.risk_assessments.find(assessment.id) == attrs.evolve(assessment, version=1)
        assert uow.risk_lists.find("blocked_emails", LISTED) is not None


def test_erasure_makes_personal_fields_unavailable_and_keeps_the_decision(
    opened: Opener,
) -> None:
    """The erased customer's email, IP... read as erased; amount, decision and score stay."""
    storage = opened(K1)
    gone = _assessment("cus_gone", device_id=None)
    kept = _assessment("cus_kept", minutes=1)
    _save(storage, gone, kept)

    _service(storage).erase_customer("cus_gone")

    with storage.unit_of_work() as uow:
        erased = uow.risk_assessments.find(gone.id)
        assert erased is not None
        assert uow.risk_assessments.find(kept.id) == attrs.evolve(kept, version=1)
        erased.reviewed_by = "ops"  # written back: nothing is indexed as "[erased]"
        uow.risk_assessments.update(erased)
        uow.commit()
    assert (erased.email, erased.email_domain, erased.ip_address) == (ERASED, ERASED, ERASED)
    assert (erased.card_fingerprint, erased.device_id) == (ERASED, None)  # none was given
    assert (erased.amount, erased.decision, erased.score) == (gone.amount, gone.decision, 15)
    assert erased.fired_rules == ("small",)
    with storage.unit_of_work() as uow:
        again = uow.risk_assessments.find(gone.id)
        assert again is not None
        assert (again.email, again.reviewed_by) == (ERASED, "ops")
        assert uow.risk_assessments.velocity(
            {"email": ERASED}, windows=[_at(0)], until=_at(10), currency="USD"
        ) == {"email": [VelocityCount()]}


def test_erasure_seals_a_plaintext_assessment_first(opened: Opener) -> None:
    """An assessment written before encryption was on is sealed, then shredded with the key."""
    gone = _assessment("cus_gone")
    _save(opened(), gone)
    storage = opened(K1)
    _service(storage).erase_customer("cus_gone")
    row = _stored(storage, "risk_assessments", gone.id)
    assert [value for value in SEEDED if value in str(row)] == []
    with storage.unit_of_work() as uow:
        erased = uow.risk_assessments.find(gone.id)
    assert erased is not None
    assert (erased.email, erased.ip_address, erased.device_id) == (ERASED, ERASED, ERASED)
