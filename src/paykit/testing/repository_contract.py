"""The storage contract of ``paykit.storage.base`` as a pytest suite any storage can run.

Subclass :class:`RepositoryContract` (under a ``Test...`` name) and implement
:meth:`~RepositoryContract.make_storage`; see ``paykit.testing`` for an example. The suite
checks what the contract promises and what the service relies on:

* records come back exactly as stored (every field, exact ``Money``, aware datetimes,
  metadata), as copies, with the stored ``version`` on the caller's object after a commit;
* a unit of work sees its own staged writes, nobody else does, and nothing is written
  without a commit;
* a commit is atomic, and one that loses a race -- a changed record or a unique key taken
  twice -- raises ``ConcurrencyConflict`` and writes nothing at all;
* a unit of work knows whether a record it read (by ``get``, a find or a listing) has been
  changed or removed by another unit since (``has_stale_reads``);
* listings filter and sort oldest first; the audit log is append-only and keeps its order;
* disputes and webhook inbox entries are unique by their provider's id, and lookups by a
  provider's id are scoped to that provider;
* the reconciliation sweep's listings pick exactly the records that are due, least
  recently updated first;
* under threads, retried units of work keep the refund ceiling.

Records are built by the small factories below: fixed UTC datetimes, random ``uuid`` ids,
so the tests do not depend on one another's data.
"""

# The suite's checks are pytest asserts and the literals are the expected values; the
# per-file ignores that tests/ gets in pyproject.toml do not reach this shipped module.
# ruff: noqa: S101, PLR2004

from __future__ import annotations

import abc
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final

import pytest

from paykit.domain.dispute import Dispute, DisputeStatus
from paykit.domain.metadata import (
    MAX_METADATA_DEPTH,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_STRING_LENGTH,
)
from paykit.domain.payment import NextAction, Payment, PaymentStatus
from paykit.domain.payment_method import PaymentMethod, PaymentMethodType
from paykit.domain.refund import Refund, RefundStatus
from paykit.domain.transaction_log import LogType, TransactionLogEntry
from paykit.domain.webhook_inbox import InboxEntry, InboxStatus
from paykit.errors import (
    ConcurrencyConflict,
    InvalidRefundAmountError,
    NotFound,
    ValidationError,
)
from paykit.money import Money
from paykit.storage.base import Storage, UnitOfWork

__all__ = ["RepositoryContract"]


T0: Final = datetime(2024, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
"""The suite's fixed clock; the microseconds catch a storage that truncates them."""

CUSTOMER: Final = "cus_contract"

Record = PaymentMethod | Payment | Refund | TransactionLogEntry | Dispute | InboxEntry


def _at(minutes: int) -> datetime:
    """``T0`` plus ``minutes``: for records whose order matters."""
    return T0 + timedelta(minutes=minutes)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _method(
    *,
    customer_id: str = CUSTOMER,
    is_default: bool = False,
    created_at: datetime = T0,
) -> PaymentMethod:
    """A saved card with every optional field filled in."""
    return PaymentMethod(
        id=_new_id("pm"),
        customer_id=customer_id,
        type=PaymentMethodType.CREDIT_CARD,
        provider="sandbox",
        provider_payment_method_id=_new_id("tok"),
        brand="visa",
        last4="4242",
        exp_month=12,
        exp_year=2031,
        is_default=is_default,
        metadata={"label": "work card", "tags": ["travel", "office"], "limits": {"daily": 500}},
        created_at=created_at,
        updated_at=created_at,
    )


def _payment(  # noqa: PLR0913 - one keyword per fact a listing test varies
    *,
    customer_id: str = CUSTOMER,
    order_id: str = "ord_contract",
    status: PaymentStatus = PaymentStatus.PENDING,
    amount: str = "100.00",
    currency: str = "USD",
    idempotency_key: str | None = None,
    created_at: datetime = T0,
) -> Payment:
    """A payment; from ``completed`` on, its whole amount counts as captured."""
    money = Money.of(amount, currency)
    zero = Money.zero(currency)
    settled = status in (
        PaymentStatus.COMPLETED,
        PaymentStatus.PARTIALLY_REFUNDED,
        PaymentStatus.REFUNDED,
    )
    return Payment(
        id=_new_id("pay"),
        customer_id=customer_id,
        order_id=order_id,
        payment_method_id=_new_id("pm"),
        payment_method_type=PaymentMethodType.CREDIT_CARD,
        provider="sandbox",
        amount=money,
        status=status,
        captured_amount=money if settled else zero,
        refunded_amount=zero,
        refund_reserved_amount=zero,
        metadata={"cart": {"items": 3}},
        idempotency_key=idempotency_key,
        created_at=created_at,
        updated_at=created_at,
        completed_at=created_at if settled else None,
    )


def _refund(
    payment: Payment,
    *,
    amount: str = "10.00",
    idempotency_key: str | None = None,
    created_at: datetime = T0,
) -> Refund:
    """A pending refund of ``payment``."""
    return Refund(
        id=_new_id("re"),
        payment_id=payment.id,
        amount=Money.of(amount, payment.currency),
        reason="requested_by_customer",
        metadata={"ticket": "T-1"},
        idempotency_key=idempotency_key,
        created_at=created_at,
        updated_at=created_at,
    )


def _entry(
    payment_id: str,
    *,
    message: str = "payment created",
    entry_id: str | None = None,
    created_at: datetime = T0,
) -> TransactionLogEntry:
    """An audit entry for ``payment_id``."""
    return TransactionLogEntry(
        id=entry_id or _new_id("log"),
        payment_id=payment_id,
        log_type=LogType.PAYMENT_CREATED,
        message=message,
        created_at=created_at,
        data={"gateway": {"request_id": "req_1"}},
    )


def _dispute(
    payment: Payment,
    *,
    provider: str = "sandbox",
    provider_dispute_id: str | None = None,
    created_at: datetime = T0,
) -> Dispute:
    """An open dispute of ``payment`` with every optional field filled in."""
    return Dispute(
        id=_new_id("dp"),
        payment_id=payment.id,
        provider=provider,
        provider_dispute_id=provider_dispute_id or _new_id("du"),
        amount=Money.of("25.00", payment.currency),
        reason="fraudulent",
        status=DisputeStatus.NEEDS_RESPONSE,
        provider_status="needs_response",
        evidence_due_by=created_at + timedelta(days=7),
        created_at=created_at,
        updated_at=created_at,
    )


def _inbox_entry(  # noqa: PLR0913 - one keyword per fact a listing test varies
    *,
    provider: str = "sandbox",
    event_id: str | None = None,
    status: InboxStatus = InboxStatus.UNMATCHED,
    payment_id: str | None = None,
    provider_payment_id: str | None = None,
    provider_refund_id: str | None = None,
    received_at: datetime = T0,
) -> InboxEntry:
    """A received event naming the given ids."""
    return InboxEntry(
        id=_new_id("wh"),
        provider=provider,
        event_id=event_id or _new_id("evt"),
        event_type="payment.completed",
        provider_type="payment_intent.succeeded",
        status=status,
        payment_id=payment_id,
        provider_payment_id=provider_payment_id,
        provider_refund_id=provider_refund_id,
        received_at=received_at,
        payload={"type": "payment_intent.succeeded", "data": {"id": provider_payment_id}},
    )


def _nested(levels: int) -> dict[str, object]:
    """Metadata nested ``levels`` mappings deep, built without recursion."""
    nested: dict[str, object] = {}
    for _ in range(levels - 1):
        nested = {"a": nested}
    return nested


def _stage(uow: UnitOfWork, *records: Record) -> None:
    """Stage ``records`` as new in ``uow``."""
    for record in records:
        if isinstance(record, PaymentMethod):
            uow.payment_methods.add(record)
        elif isinstance(record, Payment):
            uow.payments.add(record)
        elif isinstance(record, Refund):
            uow.refunds.add(record)
        elif isinstance(record, Dispute):
            uow.disputes.add(record)
        elif isinstance(record, InboxEntry):
            uow.webhook_inbox.add(record)
        else:
            uow.transaction_log.append(record)


def _save(storage: Storage, *records: Record) -> None:
    """Add ``records`` in one unit of work and commit it."""
    with storage.unit_of_work() as uow:
        _stage(uow, *records)
        uow.commit()


def _ids(records: Iterable[Record]) -> list[str]:
    return [record.id for record in records]


def _run_threads(target: Callable[[], None], count: int, timeout: float = 60) -> None:
    """Run ``target`` in ``count`` threads and wait for all of them."""
    threads = [threading.Thread(target=target, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"


class _RefundRace:
    """Threads that each reserve 30.00 of one payment, retrying on ``ConcurrencyConflict``.

    A barrier holds every thread after its first read, so all of them read the same version
    before any commits: the race is real, not a matter of scheduling luck.
    """

    max_attempts: Final = 50

    def __init__(self, storage: Storage, payment_id: str, *, threads: int) -> None:
        self.storage = storage
        self.payment_id = payment_id
        self.barrier = threading.Barrier(threads, timeout=30)
        self.lock = threading.Lock()
        self.outcomes: list[str] = []
        self.errors: list[BaseException] = []
        self.conflicts = 0

    def worker(self) -> None:
        """One thread: reserve with retries, record ``reserved`` or ``refused``."""
        try:
            outcome = self._reserve_with_retries()
        except BaseException as exc:  # noqa: BLE001 - the test thread reports it
            with self.lock:
                self.errors.append(exc)
        else:
            with self.lock:
                self.outcomes.append(outcome)

    def _reserve_with_retries(self) -> str:
        for attempt in range(self.max_attempts):
            try:
                self._reserve(first_attempt=attempt == 0)
            except ConcurrencyConflict:
                with self.lock:
                    self.conflicts += 1
            except InvalidRefundAmountError:
                return "refused"
            else:
                return "reserved"
        msg = f"still conflicting after {self.max_attempts} attempts"
        raise AssertionError(msg)

    def _reserve(self, *, first_attempt: bool) -> None:
        with self.storage.unit_of_work() as uow:
            payment = uow.payments.get(self.payment_id)
            if first_attempt:
                self.barrier.wait()
            payment.reserve_refund(Money.of("30.00", "USD"))
            uow.payments.update(payment)
            refund = _refund(payment, amount="30.00")
            uow.refunds.add(refund)
            uow.transaction_log.append(_entry(payment.id, message=f"reserved {refund.id}"))
            uow.commit()


class RepositoryContract(abc.ABC):
    """Every test a storage must pass; subclass it as ``Test<YourStorage>``."""

    @abc.abstractmethod
    def make_storage(self) -> Storage:
        """Return a new, empty storage (schema created) for one test."""

    def dispose_storage(self, storage: Storage) -> None:
        """Release what :meth:`make_storage` created; by default there is nothing to release."""
        del storage

    @pytest.fixture
    def storage(self) -> Iterator[Storage]:
        """A fresh storage from :meth:`make_storage`, disposed of after the test."""
        storage = self.make_storage()
        try:
            yield storage
        finally:
            self.dispose_storage(storage)

    # -- round trips --------------------------------------------------------------------

    def test_payment_method_round_trips(self, storage: Storage) -> None:
        """A committed payment method comes back equal in every field, as a copy."""
        method = _method(is_default=True)
        method.is_active = False
        _save(storage, method)

        assert method.version >= 1
        with storage.unit_of_work() as uow:
            got = uow.payment_methods.get(method.id)
        assert got is not method
        assert got == method
        assert got.version == method.version
        assert got.metadata == {
            "label": "work card",
            "tags": ["travel", "office"],
            "limits": {"daily": 500},
        }
        assert got.created_at.utcoffset() == timedelta(0)
        assert got.created_at.microsecond == 123456

    @pytest.mark.parametrize(
        ("currency", "amounts"),
        [
            ("USD", ("100.00", "90.10", "20.05", "0.01")),
            ("USD", ("9999999999.99", "9999999999.99", "0.01", "1234567.89")),
            ("JPY", ("10000", "9000", "1500", "1")),
            ("KWD", ("12.345", "12.345", "1.001", "0.999")),
        ],
    )
    def test_payment_round_trips(
        self, storage: Storage, currency: str, amounts: tuple[str, str, str, str]
    ) -> None:
        """A committed payment comes back equal in every field, amounts exact to the minor unit."""
        amount, captured, refunded, reserved = amounts
        payment = Payment(
            id=_new_id("pay"),
            customer_id="cus_round_trip",
            order_id="ord_round_trip",
            payment_method_id=_new_id("pm"),
            payment_method_type=PaymentMethodType.DIGITAL_WALLET,
            provider="sandbox",
            amount=Money.of(amount, currency),
            capture=False,
            status=PaymentStatus.PARTIALLY_REFUNDED,
            captured_amount=Money.of(captured, currency),
            refunded_amount=Money.of(refunded, currency),
            refund_reserved_amount=Money.of(reserved, currency),
            provider_payment_id="pi_123",
            description="Two tickets",
            metadata={"cart": {"items": [1, 2]}, "note": "gift", "vip": True},
            idempotency_key="key-round-trip",
            attempt_count=2,
            failure_code="card_declined",
            failure_message="declined once, then succeeded",
            next_action=NextAction(type="redirect", redirect_url="https://example.com/3ds"),
            created_at=T0,
            updated_at=_at(5),
            completed_at=_at(3),
        )
        _save(storage, payment)

        assert payment.version >= 1
        with storage.unit_of_work() as uow:
            got = uow.payments.get(payment.id)
        assert got is not payment
        assert got == payment
        assert got.version == payment.version
        for field in ("amount", "captured_amount", "refunded_amount", "refund_reserved_amount"):
            stored: Money = getattr(got, field)
            expected: Money = getattr(payment, field)
            assert type(stored.amount) is Decimal
            assert str(stored.amount) == str(expected.amount)
            assert stored.currency == currency
        assert got.refundable_amount == payment.refundable_amount
        assert got.updated_at.utcoffset() == timedelta(0)
        assert got.updated_at == _at(5)
        assert got.completed_at == _at(3)
        assert got.metadata == {"cart": {"items": [1, 2]}, "note": "gift", "vip": True}

    def test_refund_round_trips(self, storage: Storage) -> None:
        """A committed refund comes back equal in every field, as a copy."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        refund = Refund(
            id=_new_id("re"),
            payment_id=payment.id,
            amount=Money.of("12.34", "USD"),
            reason="duplicate",
            status=RefundStatus.FAILED,
            provider_refund_id="re_provider_1",
            metadata={"ticket": "T-9", "lines": [{"sku": "A", "qty": 1}]},
            idempotency_key="refund-key",
            attempt_count=3,
            failure_code="expired_card",
            failure_message="the card has expired",
            created_at=T0,
            updated_at=_at(1),
            completed_at=_at(1),
        )
        _save(storage, payment, refund)

        assert refund.version >= 1
        with storage.unit_of_work() as uow:
            got = uow.refunds.get(refund.id)
        assert got is not refund
        assert got == refund
        assert got.version == refund.version
        assert str(got.amount.amount) == "12.34"
        assert got.completed_at is not None
        assert got.completed_at.utcoffset() == timedelta(0)

    def test_log_entry_round_trips(self, storage: Storage) -> None:
        """A committed log entry comes back equal in every field."""
        payment = _payment()
        entry = TransactionLogEntry(
            id=_new_id("log"),
            payment_id=payment.id,
            log_type=LogType.REFUND_PROCESSED,
            message="refund of 5.00 USD completed",
            created_at=T0,
            refund_id=_new_id("re"),
            amount=Money.of("5.00", "USD"),
            previous_status="processing",
            new_status="completed",
            data={"gateway": {"request_id": "req_9", "codes": [1, 2]}},
        )
        _save(storage, payment, entry)

        with storage.unit_of_work() as uow:
            got = uow.transaction_log.list_for_payment(payment.id)
        assert list(got) == [entry]
        assert got[0].created_at.utcoffset() == timedelta(0)

    def test_update_commits_a_new_version(self, storage: Storage) -> None:
        """An update is stored on commit and the caller's object carries the new version."""
        payment = _payment()
        _save(storage, payment)
        first_version = payment.version

        with storage.unit_of_work() as uow:
            loaded = uow.payments.get(payment.id)
            loaded.transition_to(PaymentStatus.PROCESSING, _at(1))
            loaded.metadata["step"] = "submitted"
            uow.payments.update(loaded)
            uow.commit()
        assert loaded.version > first_version

        with storage.unit_of_work() as uow:
            again = uow.payments.get(payment.id)
        assert again == loaded
        assert again.status is PaymentStatus.PROCESSING
        assert again.metadata["step"] == "submitted"
        assert again.version == loaded.version

    def test_get_of_a_missing_id_raises_not_found(self, storage: Storage) -> None:
        """``get`` of an unknown id raises ``NotFound`` naming the kind and the id."""
        with storage.unit_of_work() as uow:
            with pytest.raises(NotFound) as method_error:
                uow.payment_methods.get("pm_missing")
            with pytest.raises(NotFound) as payment_error:
                uow.payments.get("pay_missing")
            with pytest.raises(NotFound) as refund_error:
                uow.refunds.get("re_missing")
        assert (method_error.value.kind, method_error.value.record_id) == (
            "payment method",
            "pm_missing",
        )
        assert (payment_error.value.kind, payment_error.value.record_id) == (
            "payment",
            "pay_missing",
        )
        assert (refund_error.value.kind, refund_error.value.record_id) == ("refund", "re_missing")

    # -- the unit of work ---------------------------------------------------------------

    def test_leaving_without_commit_writes_nothing(self, storage: Storage) -> None:
        """Leaving the ``with`` block without a commit discards every staged write."""
        method = _method()
        payment = _payment()
        refund = _refund(payment)
        with storage.unit_of_work() as uow:
            _stage(uow, method, payment, refund, _entry(payment.id))

        with storage.unit_of_work() as uow:
            with pytest.raises(NotFound):
                uow.payment_methods.get(method.id)
            with pytest.raises(NotFound):
                uow.payments.get(payment.id)
            with pytest.raises(NotFound):
                uow.refunds.get(refund.id)
            assert list(uow.transaction_log.list_for_payment(payment.id)) == []
            assert list(uow.payments.list(customer_id=CUSTOMER)) == []

    def test_an_exception_in_the_block_writes_nothing(self, storage: Storage) -> None:
        """An exception that leaves the ``with`` block rolls the unit of work back."""
        payment = _payment()

        def fail_midway() -> None:
            with storage.unit_of_work() as uow:
                uow.payments.add(payment)
                msg = "boom"
                raise RuntimeError(msg)

        with pytest.raises(RuntimeError, match="boom"):
            fail_midway()
        with storage.unit_of_work() as uow, pytest.raises(NotFound):
            uow.payments.get(payment.id)

    def test_rollback_discards_staged_writes(self, storage: Storage) -> None:
        """After ``rollback`` the staged records are gone, even if the unit then commits."""
        kept = _payment()
        _save(storage, kept)
        dropped = _payment()
        with storage.unit_of_work() as uow:
            uow.payments.add(dropped)
            uow.transaction_log.append(_entry(dropped.id))
            loaded = uow.payments.get(kept.id)
            loaded.transition_to(PaymentStatus.CANCELLED, _at(1))
            uow.payments.update(loaded)
            uow.rollback()
            with pytest.raises(NotFound):
                uow.payments.get(dropped.id)
            uow.commit()

        with storage.unit_of_work() as uow:
            with pytest.raises(NotFound):
                uow.payments.get(dropped.id)
            assert uow.payments.get(kept.id).status is PaymentStatus.PENDING
            assert list(uow.transaction_log.list_for_payment(dropped.id)) == []

    def test_a_unit_of_work_reads_its_own_staged_writes(self, storage: Storage) -> None:
        """Inside one unit of work, gets, finds and listings include its uncommitted writes."""
        stored = _payment(created_at=_at(0))
        _save(storage, stored)
        with storage.unit_of_work() as uow:
            method = _method()
            payment = _payment(idempotency_key="own-key", created_at=_at(1))
            refund = _refund(stored, idempotency_key="own-refund-key")
            entry = _entry(stored.id)
            _stage(uow, method, payment, refund, entry)
            changed = uow.payments.get(stored.id)
            changed.transition_to(PaymentStatus.PROCESSING, _at(2))
            uow.payments.update(changed)

            assert uow.payment_methods.get(method.id) == method
            assert uow.payments.get(payment.id) == payment
            assert uow.refunds.get(refund.id) == refund
            assert uow.payments.get(stored.id).status is PaymentStatus.PROCESSING
            assert _ids(uow.payment_methods.list_for_customer(CUSTOMER)) == [method.id]
            assert _ids(uow.payments.list(customer_id=CUSTOMER)) == [stored.id, payment.id]
            assert _ids(uow.payments.list(status=PaymentStatus.PROCESSING)) == [stored.id]
            assert _ids(uow.refunds.list_for_payment(stored.id)) == [refund.id]
            found = uow.payments.find_by_idempotency_key(CUSTOMER, "own-key")
            assert found is not None
            assert found.id == payment.id
            found_refund = uow.refunds.find_by_idempotency_key(stored.id, "own-refund-key")
            assert found_refund is not None
            assert found_refund.id == refund.id
            assert list(uow.transaction_log.list_for_payment(stored.id)) == [entry]

    def test_uncommitted_writes_are_invisible_to_other_units_of_work(
        self, storage: Storage
    ) -> None:
        """Another unit of work sees none of the staged writes until they are committed."""
        stored = _payment(created_at=_at(0))
        _save(storage, stored)
        with storage.unit_of_work() as writer, storage.unit_of_work() as reader:
            method = _method()
            payment = _payment(idempotency_key="hidden-key", created_at=_at(1))
            refund = _refund(stored, idempotency_key="hidden-refund-key")
            _stage(writer, method, payment, refund, _entry(stored.id))
            changed = writer.payments.get(stored.id)
            changed.transition_to(PaymentStatus.PROCESSING, _at(2))
            writer.payments.update(changed)

            with pytest.raises(NotFound):
                reader.payment_methods.get(method.id)
            with pytest.raises(NotFound):
                reader.payments.get(payment.id)
            with pytest.raises(NotFound):
                reader.refunds.get(refund.id)
            assert reader.payments.get(stored.id).status is PaymentStatus.PENDING
            assert list(reader.payment_methods.list_for_customer(CUSTOMER)) == []
            assert _ids(reader.payments.list(customer_id=CUSTOMER)) == [stored.id]
            assert list(reader.payments.list(status=PaymentStatus.PROCESSING)) == []
            assert list(reader.refunds.list_for_payment(stored.id)) == []
            assert reader.payments.find_by_idempotency_key(CUSTOMER, "hidden-key") is None
            assert reader.refunds.find_by_idempotency_key(stored.id, "hidden-refund-key") is None
            assert list(reader.transaction_log.list_for_payment(stored.id)) == []
            writer.commit()

        with storage.unit_of_work() as uow:
            assert uow.payments.get(stored.id).status is PaymentStatus.PROCESSING
            assert uow.payments.get(payment.id) == payment
            assert len(uow.transaction_log.list_for_payment(stored.id)) == 1

    # -- copies -------------------------------------------------------------------------

    def test_a_record_from_get_is_a_copy(self, storage: Storage) -> None:
        """Changing a record read with ``get`` stores nothing without ``update`` and commit."""
        payment = _payment()
        method = _method()
        _save(storage, payment, method)
        with storage.unit_of_work() as uow:
            loaded = uow.payments.get(payment.id)
            loaded.transition_to(PaymentStatus.PROCESSING, _at(1))
            loaded.metadata["leaked"] = True
            loaded_method = uow.payment_methods.get(method.id)
            loaded_method.is_active = False
            loaded_method.metadata.clear()
            uow.commit()

        with storage.unit_of_work() as uow:
            again = uow.payments.get(payment.id)
            again_method = uow.payment_methods.get(method.id)
        assert again.status is PaymentStatus.PENDING
        assert "leaked" not in again.metadata
        assert again == payment
        assert again_method == method

    def test_nested_metadata_of_a_read_record_is_a_copy(self, storage: Storage) -> None:
        """Changing a list or dict inside a read record's metadata does not change the store."""
        payment = _payment()
        method = _method()
        payment.metadata = {"cart": {"items": 3}, "tags": ["a"]}
        _save(storage, payment, method)
        with storage.unit_of_work() as uow:
            loaded = uow.payments.get(payment.id)
            loaded.metadata["cart"]["items"] = 99
            loaded.metadata["tags"].append("leaked")
            uow.payment_methods.get(method.id).metadata["tags"].append("leaked")

        with storage.unit_of_work() as uow:
            assert uow.payments.get(payment.id).metadata == {"cart": {"items": 3}, "tags": ["a"]}
            assert uow.payment_methods.get(method.id).metadata["tags"] == ["travel", "office"]

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
            with pytest.raises(NotFound):
                uow.payments.get(payment.id)
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

    def test_listed_records_are_copies(self, storage: Storage) -> None:
        """Records from listings and finds can be changed without changing what is stored."""
        payment = _payment(idempotency_key="copy-key")
        refund = _refund(payment)
        method = _method()
        _save(storage, payment, refund, method)
        with storage.unit_of_work() as uow:
            uow.payments.list(customer_id=CUSTOMER)[0].metadata["leaked"] = 1
            found = uow.payments.find_by_idempotency_key(CUSTOMER, "copy-key")
            assert found is not None
            found.description = "leaked"
            uow.refunds.list_for_payment(payment.id)[0].reason = "leaked"
            uow.payment_methods.list_for_customer(CUSTOMER)[0].is_default = True
            uow.commit()

        with storage.unit_of_work() as uow:
            assert uow.payments.get(payment.id) == payment
            assert uow.refunds.get(refund.id) == refund
            assert uow.payment_methods.get(method.id) == method

    def test_changing_the_callers_object_after_commit_changes_nothing(
        self, storage: Storage
    ) -> None:
        """The store keeps what was committed, not a reference to the caller's object."""
        payment = _payment()
        _save(storage, payment)
        payment.description = "changed afterwards"
        payment.metadata["cart"]["items"] = 0
        payment.metadata["late"] = True

        with storage.unit_of_work() as uow:
            got = uow.payments.get(payment.id)
        assert got.description == ""
        assert got.metadata == {"cart": {"items": 3}}

    def test_log_entries_cannot_be_changed_through_a_reference(self, storage: Storage) -> None:
        """The ``data`` of an appended or listed entry is read-only: the log stays as written."""
        payment = _payment()
        entry = _entry(payment.id)
        _save(storage, payment, entry)
        with pytest.raises(TypeError):
            entry.data["gateway"]["request_id"] = "forged"
        with storage.unit_of_work() as uow:
            listed = uow.transaction_log.list_for_payment(payment.id)
            with pytest.raises(TypeError):
                listed[0].data["forged"] = True  # type: ignore[index]

        with storage.unit_of_work() as uow:
            [stored] = uow.transaction_log.list_for_payment(payment.id)
        assert stored.data == {"gateway": {"request_id": "req_1"}}

    # -- optimistic concurrency ---------------------------------------------------------

    def test_concurrent_payment_updates_first_commit_wins(self, storage: Storage) -> None:
        """Of two units that changed one payment, the second commit conflicts and writes nothing."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        _save(storage, payment, _entry(payment.id, message="created"))
        with storage.unit_of_work() as first, storage.unit_of_work() as second:
            mine = first.payments.get(payment.id)
            theirs = second.payments.get(payment.id)
            mine.reserve_refund(Money.of("60.00", "USD"))
            first.payments.update(mine)
            first.transaction_log.append(_entry(payment.id, message="first"))
            theirs.reserve_refund(Money.of("70.00", "USD"))
            second.payments.update(theirs)
            # Everything else the losing unit staged must vanish with it.
            lost_method = _method(customer_id="cus_lost")
            lost_payment = _payment(customer_id="cus_lost", idempotency_key="lost-key")
            lost_refund = _refund(payment, idempotency_key="lost-refund-key")
            _stage(second, lost_method, lost_payment, lost_refund)
            second.transaction_log.append(_entry(payment.id, message="second"))
            second.transaction_log.append(_entry(lost_payment.id, message="second, new"))

            first.commit()
            with pytest.raises(ConcurrencyConflict):
                second.commit()

        with storage.unit_of_work() as uow:
            stored = uow.payments.get(payment.id)
            assert stored.refund_reserved_amount == Money.of("60.00", "USD")
            assert stored.version == mine.version
            log = uow.transaction_log.list_for_payment(payment.id)
            assert [e.message for e in log] == ["created", "first"]
            assert list(uow.transaction_log.list_for_payment(lost_payment.id)) == []
            with pytest.raises(NotFound):
                uow.payment_methods.get(lost_method.id)
            with pytest.raises(NotFound):
                uow.payments.get(lost_payment.id)
            with pytest.raises(NotFound):
                uow.refunds.get(lost_refund.id)
            assert list(uow.payments.list(customer_id="cus_lost")) == []
            assert uow.payments.find_by_idempotency_key("cus_lost", "lost-key") is None

        # Retrying from the start works, and the keys the loser staged are still free.
        with storage.unit_of_work() as uow:
            retried = uow.payments.get(payment.id)
            retried.reserve_refund(Money.of("30.00", "USD"))
            uow.payments.update(retried)
            again = _payment(customer_id="cus_lost", idempotency_key="lost-key")
            _stage(uow, again, _refund(payment, idempotency_key="lost-refund-key"))
            uow.commit()
        with storage.unit_of_work() as uow:
            assert uow.payments.get(payment.id).refund_reserved_amount == Money.of("90.00", "USD")

    def test_concurrent_refund_updates_conflict(self, storage: Storage) -> None:
        """Two units that changed one refund: the second commit raises and writes nothing."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        refund = _refund(payment)
        _save(storage, payment, refund)
        with storage.unit_of_work() as first, storage.unit_of_work() as second:
            mine = first.refunds.get(refund.id)
            theirs = second.refunds.get(refund.id)
            mine.transition_to(RefundStatus.PROCESSING, _at(1))
            first.refunds.update(mine)
            theirs.transition_to(RefundStatus.CANCELLED, _at(2))
            second.refunds.update(theirs)
            second.transaction_log.append(_entry(payment.id, message="cancelled"))
            first.commit()
            with pytest.raises(ConcurrencyConflict):
                second.commit()

        with storage.unit_of_work() as uow:
            assert uow.refunds.get(refund.id).status is RefundStatus.PROCESSING
            assert list(uow.transaction_log.list_for_payment(payment.id)) == []

    # -- stale reads ---------------------------------------------------------------------

    def test_reads_nobody_else_changed_are_not_stale(self, storage: Storage) -> None:
        """Reads are current while other units change only other records; own writes don't count."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        other = _payment(customer_id="cus_other")
        _save(storage, payment, _refund(payment), other)
        with storage.unit_of_work() as uow, storage.unit_of_work() as elsewhere:
            mine = uow.payments.get(payment.id)
            uow.refunds.list_for_payment(payment.id)
            mine.reserve_refund(Money.of("10.00", "USD"))
            uow.payments.update(mine)
            theirs = elsewhere.payments.get(other.id)
            theirs.description = "a record the first unit never read"
            elsewhere.payments.update(theirs)
            elsewhere.commit()

            assert not uow.has_stale_reads()

    def test_a_record_changed_after_it_was_read_makes_the_reads_stale(
        self, storage: Storage
    ) -> None:
        """A refund read before another unit's commit changed it: the unit's pair is stale."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        refund = _refund(payment)
        _save(storage, payment, refund)
        with storage.unit_of_work() as uow, storage.unit_of_work() as elsewhere:
            uow.refunds.get(refund.id)
            moved = elsewhere.refunds.get(refund.id)
            moved.transition_to(RefundStatus.PROCESSING, _at(1))
            elsewhere.refunds.update(moved)
            elsewhere.commit()
            uow.payments.get(payment.id)  # read after that commit: current on its own

            assert uow.has_stale_reads()

    def test_listed_found_and_removed_records_count_as_read(self, storage: Storage) -> None:
        """Records from listings and finds are reads too, and a removed one is stale."""
        payment = _payment(status=PaymentStatus.COMPLETED, idempotency_key="stale-key")
        method = _method()
        entry = _inbox_entry(event_id="evt_stale")
        _save(storage, payment, method, entry)
        reads: list[Callable[[UnitOfWork], object]] = [
            lambda uow: uow.payments.find_by_idempotency_key(CUSTOMER, "stale-key"),
            lambda uow: uow.payment_methods.list_for_customer(CUSTOMER),
            lambda uow: uow.webhook_inbox.find(entry.provider, "evt_stale"),
        ]
        with ExitStack() as open_units:
            readers = [open_units.enter_context(storage.unit_of_work()) for _ in reads]
            for uow, read in zip(readers, reads, strict=True):
                read(uow)
            assert not any(uow.has_stale_reads() for uow in readers)
            with storage.unit_of_work() as elsewhere:
                changed = elsewhere.payments.get(payment.id)
                changed.description = "changed"
                elsewhere.payments.update(changed)
                elsewhere.payment_methods.remove(elsewhere.payment_methods.get(method.id))
                applied = elsewhere.webhook_inbox.find(entry.provider, "evt_stale")
                assert applied is not None
                applied.status = InboxStatus.APPLIED
                elsewhere.webhook_inbox.update(applied)
                elsewhere.commit()

            assert [uow.has_stale_reads() for uow in readers] == [True] * len(reads)

    def test_commit_and_rollback_forget_what_was_read(self, storage: Storage) -> None:
        """After its own commit, or a rollback, a unit's earlier reads no longer count."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        _save(storage, payment)
        with storage.unit_of_work() as uow:
            mine = uow.payments.get(payment.id)
            mine.description = "committed by this unit"
            uow.payments.update(mine)
            uow.commit()

            assert not uow.has_stale_reads()
        with storage.unit_of_work() as uow, storage.unit_of_work() as elsewhere:
            uow.payments.get(payment.id)
            theirs = elsewhere.payments.get(payment.id)
            theirs.description = "committed by another unit"
            elsewhere.payments.update(theirs)
            elsewhere.commit()
            uow.rollback()

            assert not uow.has_stale_reads()

    def test_concurrent_payment_method_updates_conflict(self, storage: Storage) -> None:
        """Two units that changed one method: the second commit raises and writes nothing."""
        method = _method()
        _save(storage, method)
        with storage.unit_of_work() as first, storage.unit_of_work() as second:
            mine = first.payment_methods.get(method.id)
            theirs = second.payment_methods.get(method.id)
            mine.is_active = False
            first.payment_methods.update(mine)
            theirs.brand = "mastercard"
            second.payment_methods.update(theirs)
            first.commit()
            with pytest.raises(ConcurrencyConflict):
                second.commit()

        with storage.unit_of_work() as uow:
            stored = uow.payment_methods.get(method.id)
        assert stored.is_active is False
        assert stored.brand == "visa"

    def test_removing_a_method_changed_by_someone_else_conflicts(self, storage: Storage) -> None:
        """A remove based on a stale read conflicts, and the method stays with its new value."""
        method = _method()
        _save(storage, method)
        with storage.unit_of_work() as first, storage.unit_of_work() as second:
            mine = first.payment_methods.get(method.id)
            theirs = second.payment_methods.get(method.id)
            mine.last4 = "1881"
            first.payment_methods.update(mine)
            second.payment_methods.remove(theirs)
            first.commit()
            with pytest.raises(ConcurrencyConflict):
                second.commit()

        with storage.unit_of_work() as uow:
            assert uow.payment_methods.get(method.id).last4 == "1881"

    def test_updating_a_method_removed_by_someone_else_conflicts(self, storage: Storage) -> None:
        """An update of a method another unit removed conflicts instead of resurrecting it."""
        method = _method()
        _save(storage, method)
        with storage.unit_of_work() as first, storage.unit_of_work() as second:
            first.payment_methods.remove(first.payment_methods.get(method.id))
            theirs = second.payment_methods.get(method.id)
            theirs.is_active = False
            second.payment_methods.update(theirs)
            first.commit()
            with pytest.raises(ConcurrencyConflict):
                second.commit()

        with storage.unit_of_work() as uow, pytest.raises(NotFound):
            uow.payment_methods.get(method.id)

    def test_adding_an_id_that_exists_conflicts(self, storage: Storage) -> None:
        """Adding a record under a taken id conflicts and leaves the stored record alone."""
        payment = _payment()
        _save(storage, payment)
        twin = _payment(customer_id="cus_twin")
        twin.id = payment.id
        with storage.unit_of_work() as uow:
            uow.payments.add(twin)
            with pytest.raises(ConcurrencyConflict):
                uow.commit()

        with storage.unit_of_work() as uow:
            assert uow.payments.get(payment.id).customer_id == CUSTOMER

    # -- unique keys --------------------------------------------------------------------

    def test_payment_idempotency_key_is_unique_per_customer(self, storage: Storage) -> None:
        """Two units adding a payment with one customer's key: the second commit conflicts."""
        with storage.unit_of_work() as first, storage.unit_of_work() as second:
            winner = _payment(idempotency_key="order-42")
            loser = _payment(idempotency_key="order-42")
            first.payments.add(winner)
            second.payments.add(loser)
            second.transaction_log.append(_entry(loser.id))
            first.commit()
            with pytest.raises(ConcurrencyConflict):
                second.commit()

        with storage.unit_of_work() as uow:
            assert _ids(uow.payments.list(customer_id=CUSTOMER)) == [winner.id]
            assert list(uow.transaction_log.list_for_payment(loser.id)) == []

    def test_a_committed_payment_key_cannot_be_taken_again(self, storage: Storage) -> None:
        """A payment added later with a customer's committed key conflicts on commit."""
        _save(storage, _payment(idempotency_key="order-7"))
        with storage.unit_of_work() as uow:
            uow.payments.add(_payment(idempotency_key="order-7"))
            with pytest.raises(ConcurrencyConflict):
                uow.commit()

    def test_one_unit_cannot_take_a_payment_key_twice(self, storage: Storage) -> None:
        """Two payments with one customer's key in a single unit of work conflict on commit."""
        first = _payment(idempotency_key="order-9")
        second = _payment(idempotency_key="order-9")
        with storage.unit_of_work() as uow:
            _stage(uow, first, second)
            with pytest.raises(ConcurrencyConflict):
                uow.commit()

        with storage.unit_of_work() as uow:
            assert list(uow.payments.list(customer_id=CUSTOMER)) == []

    def test_other_customers_may_reuse_a_payment_key(self, storage: Storage) -> None:
        """The payment key is scoped to the customer: another customer may use the same key."""
        with storage.unit_of_work() as first, storage.unit_of_work() as second:
            first.payments.add(_payment(customer_id="cus_a", idempotency_key="shared"))
            second.payments.add(_payment(customer_id="cus_b", idempotency_key="shared"))
            first.commit()
            second.commit()

        with storage.unit_of_work() as uow:
            for customer in ("cus_a", "cus_b"):
                found = uow.payments.find_by_idempotency_key(customer, "shared")
                assert found is not None
                assert found.customer_id == customer

    def test_refund_idempotency_key_is_unique_per_payment(self, storage: Storage) -> None:
        """Two units adding a refund with one payment's key: the second commit conflicts."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        other = _payment(status=PaymentStatus.COMPLETED)
        _save(storage, payment, other)
        with storage.unit_of_work() as first, storage.unit_of_work() as second:
            winner = _refund(payment, idempotency_key="refund-1")
            loser = _refund(payment, idempotency_key="refund-1")
            first.refunds.add(winner)
            second.refunds.add(loser)
            first.commit()
            with pytest.raises(ConcurrencyConflict):
                second.commit()

        with storage.unit_of_work() as uow:
            assert _ids(uow.refunds.list_for_payment(payment.id)) == [winner.id]
            uow.refunds.add(_refund(other, idempotency_key="refund-1"))
            uow.commit()  # another payment may use the same key
        with storage.unit_of_work() as uow:
            found = uow.refunds.find_by_idempotency_key(other.id, "refund-1")
            assert found is not None
            assert found.payment_id == other.id

    def test_a_customer_has_at_most_one_default_method(self, storage: Storage) -> None:
        """Two units each adding a default method for one customer: the second commit conflicts."""
        with storage.unit_of_work() as first, storage.unit_of_work() as second:
            winner = _method(is_default=True)
            loser = _method(is_default=True)
            first.payment_methods.add(winner)
            second.payment_methods.add(loser)
            first.commit()
            with pytest.raises(ConcurrencyConflict):
                second.commit()

        with storage.unit_of_work() as uow:
            assert _ids(uow.payment_methods.list_for_customer(CUSTOMER)) == [winner.id]

    def test_defaults_of_different_customers_and_non_defaults_do_not_conflict(
        self, storage: Storage
    ) -> None:
        """One default per customer still allows other customers' defaults and any non-defaults."""
        with storage.unit_of_work() as first, storage.unit_of_work() as second:
            first.payment_methods.add(_method(customer_id="cus_a", is_default=True))
            first.payment_methods.add(_method(customer_id="cus_a"))
            second.payment_methods.add(_method(customer_id="cus_b", is_default=True))
            second.payment_methods.add(_method(customer_id="cus_a"))
            first.commit()
            second.commit()

        with storage.unit_of_work() as uow:
            assert len(uow.payment_methods.list_for_customer("cus_a")) == 3
            assert len(uow.payment_methods.list_for_customer("cus_b")) == 1

    def test_moving_the_default_in_one_unit_is_allowed(self, storage: Storage) -> None:
        """Clearing the old default and setting a new one in the same unit of work commits."""
        old = _method(is_default=True)
        _save(storage, old)
        with storage.unit_of_work() as uow:
            previous = uow.payment_methods.get(old.id)
            previous.is_default = False
            uow.payment_methods.update(previous)
            new = _method(is_default=True)
            uow.payment_methods.add(new)
            uow.commit()

        with storage.unit_of_work() as uow:
            defaults = [
                m.id for m in uow.payment_methods.list_for_customer(CUSTOMER) if m.is_default
            ]
        assert defaults == [new.id]

    def test_find_by_idempotency_key_finds_committed_records(self, storage: Storage) -> None:
        """Committed keys are found by customer (payments) or payment (refunds), nothing else."""
        payment = _payment(idempotency_key="pay-key")
        refund = _refund(payment, idempotency_key="re-key")
        _save(storage, payment, refund, _payment(customer_id="cus_other"))
        with storage.unit_of_work() as uow:
            assert uow.payments.find_by_idempotency_key(CUSTOMER, "pay-key") == payment
            assert uow.payments.find_by_idempotency_key("cus_other", "pay-key") is None
            assert uow.payments.find_by_idempotency_key(CUSTOMER, "other-key") is None
            assert uow.refunds.find_by_idempotency_key(payment.id, "re-key") == refund
            assert uow.refunds.find_by_idempotency_key(payment.id, "pay-key") is None
            assert uow.refunds.find_by_idempotency_key("pay_other", "re-key") is None

    # -- listings -----------------------------------------------------------------------

    def test_payments_list_filters_by_every_given_filter(self, storage: Storage) -> None:
        """``payments.list`` keeps the payments matching all of customer, order and status."""
        a1 = _payment(customer_id="cus_a", order_id="ord_1", created_at=_at(1))
        a2 = _payment(
            customer_id="cus_a", order_id="ord_2", status=PaymentStatus.COMPLETED, created_at=_at(2)
        )
        b1 = _payment(
            customer_id="cus_b", order_id="ord_1", status=PaymentStatus.COMPLETED, created_at=_at(3)
        )
        b3 = _payment(customer_id="cus_b", order_id="ord_3", created_at=_at(4))
        _save(storage, a1, a2, b1, b3)
        completed = PaymentStatus.COMPLETED
        with storage.unit_of_work() as uow:
            assert _ids(uow.payments.list()) == [a1.id, a2.id, b1.id, b3.id]
            assert _ids(uow.payments.list(customer_id="cus_a")) == [a1.id, a2.id]
            assert _ids(uow.payments.list(order_id="ord_1")) == [a1.id, b1.id]
            assert _ids(uow.payments.list(status=completed)) == [a2.id, b1.id]
            assert _ids(uow.payments.list(customer_id="cus_b", order_id="ord_1")) == [b1.id]
            assert _ids(uow.payments.list(customer_id="cus_a", status=completed)) == [a2.id]
            assert _ids(uow.payments.list(order_id="ord_1", status=completed)) == [b1.id]
            assert (
                _ids(uow.payments.list(customer_id="cus_b", order_id="ord_3", status=completed))
                == []
            )
            assert _ids(uow.payments.list(customer_id="cus_nobody")) == []
            assert uow.payments.list(customer_id="cus_a", order_id="ord_2")[0] == a2

    def test_payments_list_oldest_first(self, storage: Storage) -> None:
        """Payments are listed by ``created_at``, whatever order they were written in."""
        newest = _payment(created_at=_at(30))
        oldest = _payment(created_at=_at(-30))
        middle = _payment(created_at=_at(0))
        _save(storage, newest)
        _save(storage, oldest, middle)
        with storage.unit_of_work() as uow:
            listed = _ids(uow.payments.list(customer_id=CUSTOMER))
        assert listed == [oldest.id, middle.id, newest.id]

    def test_refunds_list_for_payment(self, storage: Storage) -> None:
        """``refunds.list_for_payment`` gives that payment's refunds only, oldest first."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        other = _payment(status=PaymentStatus.COMPLETED)
        late = _refund(payment, created_at=_at(10))
        early = _refund(payment, created_at=_at(1))
        _save(storage, payment, other, late, _refund(other), early)
        with storage.unit_of_work() as uow:
            assert _ids(uow.refunds.list_for_payment(payment.id)) == [early.id, late.id]
            assert list(uow.refunds.list_for_payment("pay_unknown")) == []

    def test_payment_methods_list_for_customer(self, storage: Storage) -> None:
        """``list_for_customer`` gives that customer's methods only, oldest first."""
        late = _method(created_at=_at(5))
        early = _method(created_at=_at(-5))
        _save(storage, late, _method(customer_id="cus_other"), early)
        with storage.unit_of_work() as uow:
            assert _ids(uow.payment_methods.list_for_customer(CUSTOMER)) == [early.id, late.id]
            assert list(uow.payment_methods.list_for_customer("cus_nobody")) == []

    def test_removed_methods_disappear(self, storage: Storage) -> None:
        """A removed method is gone from ``get`` and the listing, in its unit and after commit."""
        kept = _method(created_at=_at(1))
        removed = _method(created_at=_at(2))
        _save(storage, kept, removed)
        with storage.unit_of_work() as uow, storage.unit_of_work() as other:
            uow.payment_methods.remove(uow.payment_methods.get(removed.id))
            with pytest.raises(NotFound):
                uow.payment_methods.get(removed.id)
            assert _ids(uow.payment_methods.list_for_customer(CUSTOMER)) == [kept.id]
            assert other.payment_methods.get(removed.id) == removed
            uow.commit()

        with storage.unit_of_work() as uow:
            with pytest.raises(NotFound):
                uow.payment_methods.get(removed.id)
            assert _ids(uow.payment_methods.list_for_customer(CUSTOMER)) == [kept.id]

    # -- the transaction log ------------------------------------------------------------

    def test_the_log_is_append_only(self, storage: Storage) -> None:
        """The log repository offers no way to change or delete an entry."""
        with storage.unit_of_work() as uow:
            log = uow.transaction_log
            for name in ("update", "remove", "delete", "clear", "truncate", "replace"):
                assert not hasattr(log, name), f"the transaction log must not offer {name}()"
            assert callable(log.append)

    def test_log_entries_come_back_in_the_order_written(self, storage: Storage) -> None:
        """Entries of a payment are listed in the order written, across commits and timestamps."""
        payment = _payment()
        other = _payment()
        # Same timestamp, ids in reverse alphabetical order: only the write order is left.
        entries = [
            _entry(payment.id, message=f"step {n}", entry_id=f"log_{9 - n}_{uuid.uuid4().hex}")
            for n in range(6)
        ]
        _save(storage, payment, other, entries[0], entries[1], _entry(other.id), entries[2])
        _save(storage, entries[3])
        _save(storage, entries[4], _entry(other.id), entries[5])
        with storage.unit_of_work() as uow:
            assert list(uow.transaction_log.list_for_payment(payment.id)) == entries
            assert len(uow.transaction_log.list_for_payment(other.id)) == 2
            assert list(uow.transaction_log.list_for_payment("pay_unknown")) == []

    def test_log_entries_appear_only_after_commit(self, storage: Storage) -> None:
        """Staged entries are invisible to other units of work and lost on rollback."""
        payment = _payment()
        _save(storage, payment)
        rolled_back = _entry(payment.id, message="rolled back")
        committed = _entry(payment.id, message="committed")
        with storage.unit_of_work() as writer, storage.unit_of_work() as reader:
            writer.transaction_log.append(rolled_back)
            writer.rollback()
            writer.transaction_log.append(committed)
            assert list(reader.transaction_log.list_for_payment(payment.id)) == []
            writer.commit()

        with storage.unit_of_work() as uow:
            assert list(uow.transaction_log.list_for_payment(payment.id)) == [committed]

    # -- new fields and records: round trips -------------------------------------------

    @pytest.mark.parametrize(
        ("currency", "amount", "chargeback"),
        [("USD", "100.00", "30.05"), ("JPY", "10000", "1500"), ("KWD", "12.345", "1.001")],
    )
    def test_chargeback_and_reconcile_fields_of_a_payment_round_trip(
        self, storage: Storage, currency: str, amount: str, chargeback: str
    ) -> None:
        """``chargeback_amount`` comes back exact; the sweep's bookkeeping comes back as set."""
        payment = _payment(status=PaymentStatus.COMPLETED, amount=amount, currency=currency)
        payment.chargeback_amount = Money.of(chargeback, currency)
        payment.reconcile_attempts = 4
        payment.next_reconcile_at = _at(7) + timedelta(microseconds=1)
        _save(storage, payment)

        with storage.unit_of_work() as uow:
            got = uow.payments.get(payment.id)
        assert got == payment
        assert type(got.chargeback_amount.amount) is Decimal
        assert str(got.chargeback_amount.amount) == chargeback
        assert got.chargeback_amount.currency == currency
        assert got.refundable_amount == payment.captured_amount - payment.chargeback_amount
        assert got.reconcile_attempts == 4
        assert got.next_reconcile_at == _at(7) + timedelta(microseconds=1)
        assert got.next_reconcile_at.utcoffset() == timedelta(0)

    def test_new_payment_fields_default_to_zero_and_unset(self, storage: Storage) -> None:
        """A payment that never met a dispute or a sweep stores a zero chargeback, no schedule."""
        payment = _payment(currency="JPY", amount="500")
        _save(storage, payment)

        with storage.unit_of_work() as uow:
            got = uow.payments.get(payment.id)
        assert got.chargeback_amount == Money.zero("JPY")
        assert got.chargeback_amount.currency == "JPY"
        assert got.reconcile_attempts == 0
        assert got.next_reconcile_at is None
        assert got == payment

    def test_reconcile_fields_of_a_refund_round_trip(self, storage: Storage) -> None:
        """A refund's sweep bookkeeping comes back as set, and unset when never set."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        swept = _refund(payment)
        swept.transition_to(RefundStatus.PROCESSING, _at(1))
        swept.reconcile_attempts = 2
        swept.next_reconcile_at = _at(9)
        fresh = _refund(payment)
        _save(storage, payment, swept, fresh)

        with storage.unit_of_work() as uow:
            got = uow.refunds.get(swept.id)
            got_fresh = uow.refunds.get(fresh.id)
        assert got == swept
        assert got.reconcile_attempts == 2
        assert got.next_reconcile_at == _at(9)
        assert got.next_reconcile_at.utcoffset() == timedelta(0)
        assert (got_fresh.reconcile_attempts, got_fresh.next_reconcile_at) == (0, None)

    @pytest.mark.parametrize(
        ("currency", "amount"), [("USD", "9999999999.99"), ("JPY", "1"), ("KWD", "0.001")]
    )
    def test_dispute_round_trips(self, storage: Storage, currency: str, amount: str) -> None:
        """A committed dispute comes back equal in every field, as a copy, amount exact."""
        payment = _payment(status=PaymentStatus.COMPLETED, currency=currency, amount=amount)
        dispute = Dispute(
            id=_new_id("dp"),
            payment_id=payment.id,
            provider="stripe",
            provider_dispute_id="du_round_trip",
            amount=Money.of(amount, currency),
            reason="product_not_received",
            status=DisputeStatus.LOST,
            provider_status="lost",
            evidence_due_by=_at(60 * 24 * 7),
            created_at=T0,
            updated_at=_at(3),
            closed_at=_at(3),
        )
        _save(storage, payment, dispute)

        assert dispute.version >= 1
        with storage.unit_of_work() as uow:
            got = uow.disputes.get(dispute.id)
        assert got is not dispute
        assert got == dispute
        assert got.version == dispute.version
        assert type(got.amount.amount) is Decimal
        assert str(got.amount.amount) == amount
        assert got.amount.currency == currency
        assert got.status is DisputeStatus.LOST
        assert got.is_closed
        for stamp in (got.created_at, got.updated_at, got.closed_at, got.evidence_due_by):
            assert stamp is not None
            assert stamp.utcoffset() == timedelta(0)
        assert got.created_at.microsecond == 123456

    def test_a_dispute_with_defaults_round_trips(self, storage: Storage) -> None:
        """Empty reason and provider status, no deadline and not closed come back as such."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        dispute = Dispute(
            id=_new_id("dp"),
            payment_id=payment.id,
            provider="paypal",
            provider_dispute_id="PP-D-1",
            amount=Money.of("0.01", "USD"),
            status=DisputeStatus.WARNING_NEEDS_RESPONSE,
            created_at=T0,
            updated_at=T0,
        )
        _save(storage, payment, dispute)

        with storage.unit_of_work() as uow:
            got = uow.disputes.get(dispute.id)
        assert got == dispute
        assert (got.reason, got.provider_status) == ("", "")
        assert got.evidence_due_by is None
        assert got.closed_at is None

    def test_inbox_entry_round_trips(self, storage: Storage) -> None:
        """A committed inbox entry comes back equal, payload nested and frozen, times aware."""
        payload = {
            "id": "evt_1",
            "type": "charge.refunded",
            "data": {
                "object": {
                    "id": "ch_1",
                    "amount": 1234,
                    "ratio": 1.5,
                    "paid": True,
                    "failure": None,
                    "refunds": [{"id": "re_1", "tags": ["a", "b"]}, "Zürich ✓"],
                }
            },
        }
        entry = InboxEntry(
            id=_new_id("wh"),
            provider="stripe",
            event_id="evt_1",
            event_type="refund.completed",
            provider_type="charge.refunded",
            status=InboxStatus.APPLIED,
            payment_id="pay_1",
            provider_payment_id="pi_1",
            provider_refund_id="re_1",
            received_at=T0,
            applied_at=_at(1),
            payload=payload,
        )
        _save(storage, entry)

        assert entry.version >= 1
        with storage.unit_of_work() as uow:
            got = uow.webhook_inbox.find("stripe", "evt_1")
        assert got is not None
        assert got is not entry
        assert got == entry
        assert got.version == entry.version
        assert got.status is InboxStatus.APPLIED
        assert got.received_at.utcoffset() == timedelta(0)
        assert got.received_at.microsecond == 123456
        assert got.applied_at == _at(1)
        refunds = got.payload["data"]["object"]["refunds"]
        assert refunds[0] == {"id": "re_1", "tags": ("a", "b")}
        assert refunds[1] == "Zürich ✓"
        assert got.payload["data"]["object"]["amount"] == 1234
        assert got.payload["data"]["object"]["failure"] is None
        with pytest.raises(TypeError):
            got.payload["data"]["forged"] = True

    def test_an_inbox_entry_with_no_ids_round_trips(self, storage: Storage) -> None:
        """An ignored event naming nothing, never applied, with an empty payload."""
        entry = InboxEntry(
            id=_new_id("wh"),
            provider="paypal",
            event_id="WH-1",
            event_type="ignored",
            provider_type="CUSTOMER.PROFILE.UPDATED",
            status=InboxStatus.IGNORED,
            received_at=T0,
        )
        _save(storage, entry)

        with storage.unit_of_work() as uow:
            got = uow.webhook_inbox.find("paypal", "WH-1")
        assert got == entry
        assert got is not None
        assert (got.payment_id, got.provider_payment_id, got.provider_refund_id) == (None,) * 3
        assert got.applied_at is None
        assert dict(got.payload) == {}

    # -- disputes -----------------------------------------------------------------------

    def test_get_of_a_missing_dispute_raises_not_found(self, storage: Storage) -> None:
        """``disputes.get`` of an unknown id raises ``NotFound`` naming the kind and the id."""
        with storage.unit_of_work() as uow, pytest.raises(NotFound) as error:
            uow.disputes.get("dp_missing")
        assert (error.value.kind, error.value.record_id) == ("dispute", "dp_missing")

    def test_a_dispute_update_commits_a_new_version(self, storage: Storage) -> None:
        """A dispute moved and updated is stored on commit; the caller's object has the version."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        dispute = _dispute(payment)
        _save(storage, payment, dispute)
        first_version = dispute.version

        with storage.unit_of_work() as uow:
            loaded = uow.disputes.get(dispute.id)
            loaded.transition_to(DisputeStatus.UNDER_REVIEW, _at(1))
            loaded.provider_status = "under_review"
            uow.disputes.update(loaded)
            assert uow.disputes.get(dispute.id).status is DisputeStatus.UNDER_REVIEW
            uow.commit()
        assert loaded.version > first_version

        with storage.unit_of_work() as uow:
            again = uow.disputes.get(dispute.id)
            again.transition_to(DisputeStatus.WON, _at(2))
            uow.disputes.update(again)
            uow.commit()
        with storage.unit_of_work() as uow:
            stored = uow.disputes.get(dispute.id)
        assert stored == again
        assert stored.status is DisputeStatus.WON
        assert stored.provider_status == "under_review"
        assert stored.closed_at == _at(2)
        assert stored.version > loaded.version

    def test_a_dispute_read_is_a_copy(self, storage: Storage) -> None:
        """Changing a dispute read with ``get`` or a listing stores nothing without ``update``."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        dispute = _dispute(payment, provider_dispute_id="du_copy")
        _save(storage, payment, dispute)
        with storage.unit_of_work() as uow:
            uow.disputes.get(dispute.id).transition_to(DisputeStatus.LOST, _at(1))
            uow.disputes.list_for_payment(payment.id)[0].reason = "leaked"
            found = uow.disputes.find_by_provider_id("sandbox", "du_copy")
            assert found is not None
            found.provider_status = "leaked"
            uow.commit()

        with storage.unit_of_work() as uow:
            assert uow.disputes.get(dispute.id) == dispute

    def test_find_dispute_by_provider_id(self, storage: Storage) -> None:
        """Disputes are found by (provider, provider's id), in their unit before commit."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        sandbox = _dispute(payment, provider_dispute_id="du_shared")
        stripe = _dispute(payment, provider="stripe", provider_dispute_id="du_shared")
        _save(storage, payment, sandbox, stripe)
        with storage.unit_of_work() as uow, storage.unit_of_work() as other:
            assert uow.disputes.find_by_provider_id("sandbox", "du_shared") == sandbox
            assert uow.disputes.find_by_provider_id("stripe", "du_shared") == stripe
            assert uow.disputes.find_by_provider_id("paypal", "du_shared") is None
            assert uow.disputes.find_by_provider_id("sandbox", "du_missing") is None

            staged = _dispute(payment, provider_dispute_id="du_staged")
            uow.disputes.add(staged)
            found = uow.disputes.find_by_provider_id("sandbox", "du_staged")
            assert found is not None
            assert found.id == staged.id
            assert other.disputes.find_by_provider_id("sandbox", "du_staged") is None
            uow.rollback()
            assert uow.disputes.find_by_provider_id("sandbox", "du_staged") is None

        with storage.unit_of_work() as uow:
            assert uow.disputes.find_by_provider_id("sandbox", "du_staged") is None
            with pytest.raises(NotFound):
                uow.disputes.get(staged.id)

    def test_disputes_list_for_payment(self, storage: Storage) -> None:
        """A payment's disputes only, oldest first, with the unit's staged changes."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        other = _payment(status=PaymentStatus.COMPLETED)
        late = _dispute(payment, created_at=_at(10))
        early = _dispute(payment, created_at=_at(1))
        _save(storage, payment, other, late, _dispute(other), early)
        with storage.unit_of_work() as uow:
            assert _ids(uow.disputes.list_for_payment(payment.id)) == [early.id, late.id]
            assert list(uow.disputes.list_for_payment("pay_unknown")) == []

            middle = _dispute(payment, created_at=_at(5))
            uow.disputes.add(middle)
            changed = uow.disputes.get(late.id)
            changed.transition_to(DisputeStatus.UNDER_REVIEW, _at(11))
            uow.disputes.update(changed)
            listed = uow.disputes.list_for_payment(payment.id)
            assert _ids(listed) == [early.id, middle.id, late.id]
            assert listed[2].status is DisputeStatus.UNDER_REVIEW
            assert len(uow.disputes.list_for_payment(other.id)) == 1

        with storage.unit_of_work() as uow:
            assert _ids(uow.disputes.list_for_payment(payment.id)) == [early.id, late.id]

    def test_a_disputes_provider_id_is_unique_per_provider(self, storage: Storage) -> None:
        """Two units adding one provider's dispute: the second conflicts and writes nothing."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        _save(storage, payment)
        with storage.unit_of_work() as first, storage.unit_of_work() as second:
            assert first.disputes.find_by_provider_id("sandbox", "du_race") is None
            assert second.disputes.find_by_provider_id("sandbox", "du_race") is None
            winner = _dispute(payment, provider_dispute_id="du_race")
            loser = _dispute(payment, provider_dispute_id="du_race")
            first.disputes.add(winner)
            second.disputes.add(loser)
            second.transaction_log.append(_entry(payment.id, message="dispute opened"))
            lost_entry = _inbox_entry(event_id="evt_lost_with_the_dispute")
            second.webhook_inbox.add(lost_entry)
            first.commit()
            with pytest.raises(ConcurrencyConflict):
                second.commit()

        with storage.unit_of_work() as uow:
            assert _ids(uow.disputes.list_for_payment(payment.id)) == [winner.id]
            found = uow.disputes.find_by_provider_id("sandbox", "du_race")
            assert found is not None
            assert found.id == winner.id
            with pytest.raises(NotFound):
                uow.disputes.get(loser.id)
            assert list(uow.transaction_log.list_for_payment(payment.id)) == []
            assert uow.webhook_inbox.find("sandbox", "evt_lost_with_the_dispute") is None

        # Later, alone, or twice in one unit: still taken. Another provider may use the id.
        with storage.unit_of_work() as uow:
            uow.disputes.add(_dispute(payment, provider_dispute_id="du_race"))
            with pytest.raises(ConcurrencyConflict):
                uow.commit()
        with storage.unit_of_work() as uow:
            uow.disputes.add(_dispute(payment, provider_dispute_id="du_twice"))
            uow.disputes.add(_dispute(payment, provider_dispute_id="du_twice"))
            with pytest.raises(ConcurrencyConflict):
                uow.commit()
        with storage.unit_of_work() as uow:
            uow.disputes.add(_dispute(payment, provider="stripe", provider_dispute_id="du_race"))
            uow.commit()
        with storage.unit_of_work() as uow:
            assert len(uow.disputes.list_for_payment(payment.id)) == 2
            assert uow.disputes.find_by_provider_id("sandbox", "du_twice") is None

    def test_concurrent_dispute_updates_conflict(self, storage: Storage) -> None:
        """Two units that changed one dispute: the second commit raises and writes nothing."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        dispute = _dispute(payment)
        _save(storage, payment, dispute)
        with storage.unit_of_work() as first, storage.unit_of_work() as second:
            mine = first.disputes.get(dispute.id)
            theirs = second.disputes.get(dispute.id)
            mine.transition_to(DisputeStatus.UNDER_REVIEW, _at(1))
            first.disputes.update(mine)
            theirs.transition_to(DisputeStatus.LOST, _at(2))
            second.disputes.update(theirs)
            lost_payment = second.payments.get(payment.id)
            lost_payment.chargeback_amount = Money.of("25.00", "USD")
            second.payments.update(lost_payment)
            first.commit()
            with pytest.raises(ConcurrencyConflict):
                second.commit()

        with storage.unit_of_work() as uow:
            stored = uow.disputes.get(dispute.id)
            assert stored.status is DisputeStatus.UNDER_REVIEW
            assert stored.version == mine.version
            assert uow.payments.get(payment.id).chargeback_amount == Money.zero("USD")

    # -- the webhook inbox --------------------------------------------------------------

    def test_find_inbox_entry_by_provider_and_event_id(self, storage: Storage) -> None:
        """Entries are found by (provider, event id); staged ones by their own unit only."""
        sandbox = _inbox_entry(event_id="evt_shared")
        stripe = _inbox_entry(provider="stripe", event_id="evt_shared")
        _save(storage, sandbox, stripe)
        with storage.unit_of_work() as uow, storage.unit_of_work() as other:
            assert uow.webhook_inbox.find("sandbox", "evt_shared") == sandbox
            assert uow.webhook_inbox.find("stripe", "evt_shared") == stripe
            assert uow.webhook_inbox.find("paypal", "evt_shared") is None
            assert uow.webhook_inbox.find("sandbox", "evt_missing") is None

            staged = _inbox_entry(event_id="evt_staged")
            uow.webhook_inbox.add(staged)
            found = uow.webhook_inbox.find("sandbox", "evt_staged")
            assert found is not None
            assert found.id == staged.id
            assert other.webhook_inbox.find("sandbox", "evt_staged") is None
            assert _ids(other.webhook_inbox.list_unmatched()) == [sandbox.id, stripe.id]

        with storage.unit_of_work() as uow:  # left without a commit: nothing was written
            assert uow.webhook_inbox.find("sandbox", "evt_staged") is None

    def test_an_inbox_update_commits_a_new_version(self, storage: Storage) -> None:
        """An unmatched entry applied later: matched to its payment, gone from the unmatched."""
        entry = _inbox_entry(event_id="evt_late", provider_payment_id="pi_late")
        _save(storage, entry)
        first_version = entry.version
        with storage.unit_of_work() as uow:
            loaded = uow.webhook_inbox.find("sandbox", "evt_late")
            assert loaded is not None
            loaded.status = InboxStatus.APPLIED
            loaded.payment_id = "pay_late"
            loaded.applied_at = _at(5)
            uow.webhook_inbox.update(loaded)
            assert list(uow.webhook_inbox.list_unmatched()) == []
            uow.commit()
        assert loaded.version > first_version

        with storage.unit_of_work() as uow:
            stored = uow.webhook_inbox.find("sandbox", "evt_late")
            assert stored == loaded
            assert stored is not None
            assert stored.version == loaded.version
            assert stored.applied_at == _at(5)
            assert list(uow.webhook_inbox.list_unmatched()) == []
            assert _ids(uow.webhook_inbox.list_for_payment("pay_late")) == [entry.id]

    def test_an_event_id_is_unique_per_provider(self, storage: Storage) -> None:
        """One provider's event twice (committed, or twice in a unit) conflicts on commit."""
        _save(storage, _inbox_entry(event_id="evt_dup"))
        duplicate = _inbox_entry(event_id="evt_dup", received_at=_at(1))
        with storage.unit_of_work() as uow:
            uow.webhook_inbox.add(duplicate)
            with pytest.raises(ConcurrencyConflict):
                uow.commit()
        with storage.unit_of_work() as uow:
            uow.webhook_inbox.add(_inbox_entry(event_id="evt_twice"))
            uow.webhook_inbox.add(_inbox_entry(event_id="evt_twice"))
            with pytest.raises(ConcurrencyConflict):
                uow.commit()
        with storage.unit_of_work() as uow:
            uow.webhook_inbox.add(_inbox_entry(provider="stripe", event_id="evt_dup"))
            uow.commit()

        with storage.unit_of_work() as uow:
            found = uow.webhook_inbox.find("sandbox", "evt_dup")
            assert found is not None
            assert found.id != duplicate.id
            assert uow.webhook_inbox.find("sandbox", "evt_twice") is None
            assert uow.webhook_inbox.find("stripe", "evt_dup") is not None
            assert len(uow.webhook_inbox.list_unmatched()) == 2

    def test_two_deliveries_of_one_event_racing_first_commit_wins(self, storage: Storage) -> None:
        """Both units find nothing and add the event: the second commit conflicts, writes nothing.

        On its retry, the loser finds the winner's entry: a duplicate delivery changes nothing.
        """
        payment = _payment(status=PaymentStatus.PROCESSING)
        _save(storage, payment)
        with storage.unit_of_work() as first, storage.unit_of_work() as second:
            assert first.webhook_inbox.find("sandbox", "evt_race") is None
            assert second.webhook_inbox.find("sandbox", "evt_race") is None
            winner = _inbox_entry(event_id="evt_race", payment_id=payment.id)
            loser = _inbox_entry(event_id="evt_race", payment_id=payment.id)
            first.webhook_inbox.add(winner)
            second.webhook_inbox.add(loser)
            applied = second.payments.get(payment.id)
            applied.transition_to(PaymentStatus.FAILED, _at(1))
            second.payments.update(applied)
            second.transaction_log.append(_entry(payment.id, message="applied twice"))
            first.commit()
            with pytest.raises(ConcurrencyConflict):
                second.commit()

        with storage.unit_of_work() as uow:
            found = uow.webhook_inbox.find("sandbox", "evt_race")
            assert found is not None
            assert found.id == winner.id
            assert _ids(uow.webhook_inbox.list_unmatched(payment_id=payment.id)) == [winner.id]
            assert uow.payments.get(payment.id).status is PaymentStatus.PROCESSING
            assert list(uow.transaction_log.list_for_payment(payment.id)) == []

    def test_concurrent_inbox_updates_conflict(self, storage: Storage) -> None:
        """Two units applying one unmatched entry: the second commit raises and writes nothing."""
        entry = _inbox_entry(event_id="evt_both")
        _save(storage, entry)
        with storage.unit_of_work() as first, storage.unit_of_work() as second:
            mine = first.webhook_inbox.find("sandbox", "evt_both")
            theirs = second.webhook_inbox.find("sandbox", "evt_both")
            assert mine is not None
            assert theirs is not None
            mine.status = InboxStatus.APPLIED
            mine.payment_id = "pay_first"
            first.webhook_inbox.update(mine)
            theirs.status = InboxStatus.IGNORED
            theirs.payment_id = "pay_second"
            second.webhook_inbox.update(theirs)
            first.commit()
            with pytest.raises(ConcurrencyConflict):
                second.commit()

        with storage.unit_of_work() as uow:
            stored = uow.webhook_inbox.find("sandbox", "evt_both")
            assert stored is not None
            assert (stored.status, stored.payment_id) == (InboxStatus.APPLIED, "pay_first")
            assert stored.version == mine.version
            assert list(uow.webhook_inbox.list_for_payment("pay_second")) == []

    def test_list_unmatched_filters(self, storage: Storage) -> None:
        """Unmatched entries only; a provider narrows; an entry matches when any given id does."""
        by_pi = _inbox_entry(provider_payment_id="pi_1", received_at=_at(1))
        stripe_pi = _inbox_entry(provider="stripe", provider_payment_id="pi_1", received_at=_at(2))
        by_pay = _inbox_entry(payment_id="pay_1", received_at=_at(3))
        by_re = _inbox_entry(
            provider_refund_id="re_1", provider_payment_id="pi_9", received_at=_at(4)
        )
        bare = _inbox_entry(received_at=_at(5))
        both = _inbox_entry(payment_id="pay_1", provider_payment_id="pi_2", received_at=_at(6))
        applied = _inbox_entry(
            status=InboxStatus.APPLIED, payment_id="pay_1", provider_payment_id="pi_1"
        )
        ignored = _inbox_entry(status=InboxStatus.IGNORED, provider_refund_id="re_1")
        # Written in another order than received, across commits.
        _save(storage, both, applied, by_re)
        _save(storage, bare, by_pi, ignored)
        _save(storage, stripe_pi, by_pay)

        with storage.unit_of_work() as uow:
            inbox = uow.webhook_inbox
            everything = [by_pi.id, stripe_pi.id, by_pay.id, by_re.id, bare.id, both.id]
            assert _ids(inbox.list_unmatched()) == everything
            assert _ids(inbox.list_unmatched(provider="sandbox")) == [
                by_pi.id,
                by_pay.id,
                by_re.id,
                bare.id,
                both.id,
            ]
            assert _ids(inbox.list_unmatched(provider="stripe")) == [stripe_pi.id]
            assert list(inbox.list_unmatched(provider="paypal")) == []
            assert _ids(inbox.list_unmatched(provider_payment_id="pi_1")) == [
                by_pi.id,
                stripe_pi.id,
            ]
            assert _ids(inbox.list_unmatched(provider_payment_id="pi_2")) == [both.id]
            assert _ids(inbox.list_unmatched(payment_id="pay_1")) == [by_pay.id, both.id]
            assert _ids(inbox.list_unmatched(provider_refund_id="re_1")) == [by_re.id]
            assert list(inbox.list_unmatched(provider_refund_id="re_unknown")) == []
            assert _ids(inbox.list_unmatched(provider="stripe", provider_payment_id="pi_1")) == [
                stripe_pi.id
            ]
            assert list(inbox.list_unmatched(provider="stripe", payment_id="pay_1")) == []
            combined = inbox.list_unmatched(
                provider="sandbox",
                payment_id="pay_1",
                provider_payment_id="pi_1",
                provider_refund_id="re_1",
            )
            assert _ids(combined) == [by_pi.id, by_pay.id, by_re.id, both.id]
            assert _ids(inbox.list_unmatched(payment_id="pay_1", provider_payment_id="pi_9")) == [
                by_pay.id,
                by_re.id,
                both.id,
            ]

    def test_list_unmatched_limit(self, storage: Storage) -> None:
        """``limit`` keeps the oldest entries, after the filters."""
        entries = [
            _inbox_entry(provider_payment_id=f"pi_{n % 2}", received_at=_at(-n)) for n in range(6)
        ]
        _save(storage, *entries)
        oldest_first = [entry.id for entry in reversed(entries)]
        with storage.unit_of_work() as uow:
            inbox = uow.webhook_inbox
            assert _ids(inbox.list_unmatched(limit=2)) == oldest_first[:2]
            assert _ids(inbox.list_unmatched(limit=6)) == oldest_first
            assert _ids(inbox.list_unmatched(limit=100)) == oldest_first
            odd = [entries[5].id, entries[3].id]
            assert _ids(inbox.list_unmatched(provider_payment_id="pi_1", limit=2)) == odd
            assert _ids(inbox.list_unmatched(provider="sandbox", limit=1)) == oldest_first[:1]
            assert list(inbox.list_unmatched(provider="stripe", limit=3)) == []

    def test_an_expired_entry_is_kept_but_no_longer_listed_as_unmatched(
        self, storage: Storage
    ) -> None:
        """Giving up on an entry takes it out of every unmatched listing; it stays findable."""
        given_up, waiting = (
            _inbox_entry(provider_payment_id="pi_x", received_at=_at(n)) for n in (1, 2)
        )
        _save(storage, given_up, waiting)
        with storage.unit_of_work() as uow:
            loaded = uow.webhook_inbox.find(given_up.provider, given_up.event_id)
            assert loaded is not None
            loaded.status = InboxStatus.EXPIRED
            uow.webhook_inbox.update(loaded)
            assert _ids(uow.webhook_inbox.list_unmatched()) == [waiting.id]
            uow.commit()
        with storage.unit_of_work() as uow:
            inbox = uow.webhook_inbox
            assert _ids(inbox.list_unmatched()) == [waiting.id]
            assert _ids(inbox.list_unmatched(provider_payment_id="pi_x")) == [waiting.id]
            found = inbox.find(given_up.provider, given_up.event_id)
            assert found is not None
            assert found.status is InboxStatus.EXPIRED

    def test_list_unmatched_sees_the_units_own_writes(self, storage: Storage) -> None:
        """Staged entries are listed in their unit, in time order; entries it applied are not."""
        stored = [_inbox_entry(provider_payment_id="pi_x", received_at=_at(n)) for n in (1, 2, 3)]
        _save(storage, *stored)
        with storage.unit_of_work() as uow, storage.unit_of_work() as other:
            inbox = uow.webhook_inbox
            earliest = _inbox_entry(provider_payment_id="pi_x", received_at=_at(0))
            inbox.add(earliest)
            inbox.add(_inbox_entry(status=InboxStatus.IGNORED, provider_payment_id="pi_x"))
            for entry in stored[:2]:  # the two oldest stored ones get applied in this unit
                loaded = inbox.find(entry.provider, entry.event_id)
                assert loaded is not None
                loaded.status = InboxStatus.APPLIED
                inbox.update(loaded)
            late = _inbox_entry(provider_refund_id="re_x", received_at=_at(2))
            inbox.add(late)

            assert _ids(inbox.list_unmatched()) == [earliest.id, late.id, stored[2].id]
            assert _ids(inbox.list_unmatched(limit=2)) == [earliest.id, late.id]
            assert _ids(inbox.list_unmatched(provider_payment_id="pi_x", limit=2)) == [
                earliest.id,
                stored[2].id,
            ]
            assert _ids(inbox.list_unmatched(provider_refund_id="re_x")) == [late.id]
            assert _ids(other.webhook_inbox.list_unmatched(limit=2)) == _ids(stored[:2])

    def test_inbox_list_for_payment(self, storage: Storage) -> None:
        """Every entry matched to a payment, whatever its status, oldest first, staged included."""
        late = _inbox_entry(status=InboxStatus.APPLIED, payment_id="pay_a", received_at=_at(9))
        early = _inbox_entry(status=InboxStatus.IGNORED, payment_id="pay_a", received_at=_at(1))
        waiting = _inbox_entry(payment_id="pay_a", received_at=_at(5))
        _save(storage, late, _inbox_entry(payment_id="pay_b"), early, waiting)
        with storage.unit_of_work() as uow:
            inbox = uow.webhook_inbox
            assert _ids(inbox.list_for_payment("pay_a")) == [early.id, waiting.id, late.id]
            assert len(inbox.list_for_payment("pay_b")) == 1
            assert list(inbox.list_for_payment("pay_unknown")) == []
            staged = _inbox_entry(
                status=InboxStatus.APPLIED, payment_id="pay_a", received_at=_at(3)
            )
            inbox.add(staged)
            assert _ids(inbox.list_for_payment("pay_a")) == [
                early.id,
                staged.id,
                waiting.id,
                late.id,
            ]
        with storage.unit_of_work() as uow:
            assert len(uow.webhook_inbox.list_for_payment("pay_a")) == 3

    # -- lookups by the provider's id ---------------------------------------------------

    def test_find_payment_by_provider_id(self, storage: Storage) -> None:
        """A payment is found by (provider, provider's id), scoped to that provider."""
        sandbox = _payment(status=PaymentStatus.COMPLETED)
        sandbox.provider_payment_id = "pi_shared"
        stripe = _payment(status=PaymentStatus.COMPLETED)
        stripe.provider = "stripe"
        stripe.provider_payment_id = "pi_shared"
        _save(storage, sandbox, stripe, _payment())
        with storage.unit_of_work() as uow:
            assert uow.payments.find_by_provider_id("sandbox", "pi_shared") == sandbox
            assert uow.payments.find_by_provider_id("stripe", "pi_shared") == stripe
            assert uow.payments.find_by_provider_id("paypal", "pi_shared") is None
            assert uow.payments.find_by_provider_id("sandbox", "pi_missing") is None
            found = uow.payments.find_by_provider_id("stripe", "pi_shared")
            assert found is not None
            found.description = "leaked"  # a copy: changes nothing without an update
            uow.commit()
        with storage.unit_of_work() as uow:
            assert uow.payments.find_by_provider_id("stripe", "pi_shared") == stripe

    def test_find_payment_by_provider_id_sees_the_units_own_writes(self, storage: Storage) -> None:
        """A provider id the unit added or just learned is found there, and nowhere else yet."""
        submitted = _payment(status=PaymentStatus.PROCESSING)
        _save(storage, submitted)
        with storage.unit_of_work() as uow, storage.unit_of_work() as other:
            added = _payment(status=PaymentStatus.PROCESSING)
            added.provider_payment_id = "pi_added"
            uow.payments.add(added)
            learned = uow.payments.get(submitted.id)
            learned.provider_payment_id = "pi_learned"  # the charge's answer named it
            uow.payments.update(learned)

            found_added = uow.payments.find_by_provider_id("sandbox", "pi_added")
            found_learned = uow.payments.find_by_provider_id("sandbox", "pi_learned")
            assert found_added is not None
            assert found_added.id == added.id
            assert found_learned is not None
            assert found_learned.id == submitted.id
            assert uow.payments.find_by_provider_id("stripe", "pi_added") is None
            assert other.payments.find_by_provider_id("sandbox", "pi_added") is None
            assert other.payments.find_by_provider_id("sandbox", "pi_learned") is None
            uow.commit()

        with storage.unit_of_work() as uow:
            found = uow.payments.find_by_provider_id("sandbox", "pi_learned")
            assert found is not None
            assert found.id == submitted.id
            assert found.version == learned.version

    def test_find_refund_by_provider_id_is_scoped_by_the_payments_provider(
        self, storage: Storage
    ) -> None:
        """A refund is found by its provider's id, only under the provider of its payment."""
        sandbox_payment = _payment(status=PaymentStatus.COMPLETED)
        stripe_payment = _payment(status=PaymentStatus.COMPLETED)
        stripe_payment.provider = "stripe"
        sandbox_refund = _refund(sandbox_payment)
        sandbox_refund.provider_refund_id = "re_sandbox"
        stripe_refund = _refund(stripe_payment)
        stripe_refund.provider_refund_id = "re_stripe"
        _save(storage, sandbox_payment, stripe_payment, sandbox_refund, stripe_refund)
        with storage.unit_of_work() as uow:
            assert uow.refunds.find_by_provider_id("sandbox", "re_sandbox") == sandbox_refund
            assert uow.refunds.find_by_provider_id("stripe", "re_stripe") == stripe_refund
            assert uow.refunds.find_by_provider_id("stripe", "re_sandbox") is None
            assert uow.refunds.find_by_provider_id("sandbox", "re_stripe") is None
            assert uow.refunds.find_by_provider_id("sandbox", "re_missing") is None

    def test_two_providers_may_use_the_same_refund_id(self, storage: Storage) -> None:
        """Providers name refunds independently: one id under two providers finds each."""
        sandbox_payment = _payment(status=PaymentStatus.COMPLETED)
        stripe_payment = _payment(status=PaymentStatus.COMPLETED)
        stripe_payment.provider = "stripe"
        sandbox_refund = _refund(sandbox_payment)
        sandbox_refund.provider_refund_id = "re_shared"
        stripe_refund = _refund(stripe_payment)
        stripe_refund.provider_refund_id = "re_shared"
        _save(storage, sandbox_payment, stripe_payment, sandbox_refund, stripe_refund)
        with storage.unit_of_work() as uow:
            assert uow.refunds.find_by_provider_id("sandbox", "re_shared") == sandbox_refund
            assert uow.refunds.find_by_provider_id("stripe", "re_shared") == stripe_refund
            assert uow.refunds.find_by_provider_id("paypal", "re_shared") is None

    def test_find_refund_by_provider_id_sees_the_units_own_writes(self, storage: Storage) -> None:
        """A refund whose provider id the unit added or learned is found in that unit only."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        stripe_payment = _payment(status=PaymentStatus.COMPLETED)
        stripe_payment.provider = "stripe"
        submitted = _refund(payment)
        _save(storage, payment, stripe_payment, submitted)
        with storage.unit_of_work() as uow, storage.unit_of_work() as other:
            learned = uow.refunds.get(submitted.id)
            learned.provider_refund_id = "re_learned"
            uow.refunds.update(learned)
            added = _refund(stripe_payment)
            added.provider_refund_id = "re_added"
            uow.refunds.add(added)

            found_learned = uow.refunds.find_by_provider_id("sandbox", "re_learned")
            found_added = uow.refunds.find_by_provider_id("stripe", "re_added")
            assert found_learned is not None
            assert found_learned.id == submitted.id
            assert found_added is not None
            assert found_added.id == added.id
            assert uow.refunds.find_by_provider_id("sandbox", "re_added") is None
            assert uow.refunds.find_by_provider_id("stripe", "re_learned") is None
            assert other.refunds.find_by_provider_id("sandbox", "re_learned") is None
            assert other.refunds.find_by_provider_id("stripe", "re_added") is None
            uow.commit()

        with storage.unit_of_work() as uow:
            found = uow.refunds.find_by_provider_id("sandbox", "re_learned")
            assert found is not None
            assert found.id == submitted.id
            assert uow.refunds.find_by_provider_id("stripe", "re_added") == added

    # -- reconciliation sweeps ----------------------------------------------------------

    def _swept_payment(
        self,
        status: PaymentStatus,
        updated_at: datetime,
        next_reconcile_at: datetime | None = None,
    ) -> Payment:
        """A payment last changed at ``updated_at``, created later the older it was changed."""
        payment = _payment(status=status, created_at=T0 - (updated_at - T0))
        payment.updated_at = updated_at
        payment.next_reconcile_at = next_reconcile_at
        return payment

    def test_payments_due_for_reconciliation(self, storage: Storage) -> None:
        """Given statuses, changed strictly before the cut-off, due by now; least recent first."""
        cutoff = _at(60)
        processing = PaymentStatus.PROCESSING
        old = self._swept_payment(processing, _at(10))
        oldest = self._swept_payment(processing, _at(5), next_reconcile_at=cutoff)
        scheduled = self._swept_payment(processing, _at(20), next_reconcile_at=_at(30))
        just_before = self._swept_payment(processing, cutoff - timedelta(microseconds=1))
        at_cutoff = self._swept_payment(processing, cutoff)
        backing_off = self._swept_payment(
            processing, _at(1), next_reconcile_at=cutoff + timedelta(microseconds=1)
        )
        action = self._swept_payment(PaymentStatus.REQUIRES_ACTION, _at(2))
        completed = self._swept_payment(PaymentStatus.COMPLETED, _at(0))
        _save(storage, just_before, completed, scheduled, at_cutoff, action)
        _save(storage, backing_off, old, oldest)

        with storage.unit_of_work() as uow:

            def due(
                statuses: list[PaymentStatus], *, due_by: datetime = cutoff, limit: int = 100
            ) -> list[str]:
                return _ids(
                    uow.payments.list_due_for_reconciliation(
                        statuses, updated_before=cutoff, due_by=due_by, limit=limit
                    )
                )

            expected = [oldest.id, old.id, scheduled.id, just_before.id]
            assert due([processing]) == expected
            assert due([processing, PaymentStatus.REQUIRES_ACTION]) == [action.id, *expected]
            assert due([PaymentStatus.REQUIRES_ACTION]) == [action.id]
            assert due([processing], limit=2) == expected[:2]
            assert due([processing], limit=1) == expected[:1]
            assert due([processing], due_by=_at(30)) == [old.id, scheduled.id, just_before.id]
            assert due([processing], due_by=_at(29)) == [old.id, just_before.id]
            assert due([PaymentStatus.AUTHORIZED]) == []
            [first] = uow.payments.list_due_for_reconciliation(
                [processing], updated_before=cutoff, due_by=cutoff, limit=1
            )
            assert first == oldest

    def test_payments_due_for_reconciliation_see_the_units_own_writes(
        self, storage: Storage
    ) -> None:
        """A payment the unit claimed drops out there, and a later one fills the ``limit``."""
        cutoff = _at(60)
        processing = PaymentStatus.PROCESSING
        first, second, third = (self._swept_payment(processing, _at(n)) for n in (1, 2, 3))
        _save(storage, first, second, third)
        with storage.unit_of_work() as uow, storage.unit_of_work() as other:
            for payment_id in (first.id, second.id):  # claimed by this worker
                claimed = uow.payments.get(payment_id)
                claimed.next_reconcile_at = _at(120)
                claimed.reconcile_attempts += 1
                uow.payments.update(claimed)
            staged = self._swept_payment(processing, _at(0))
            uow.payments.add(staged)

            listed = uow.payments.list_due_for_reconciliation(
                [processing], updated_before=cutoff, due_by=cutoff, limit=2
            )
            assert _ids(listed) == [staged.id, third.id]
            assert _ids(
                other.payments.list_due_for_reconciliation(
                    [processing], updated_before=cutoff, due_by=cutoff, limit=2
                )
            ) == [first.id, second.id]
            uow.commit()

        with storage.unit_of_work() as uow:
            listed = uow.payments.list_due_for_reconciliation(
                [processing], updated_before=cutoff, due_by=cutoff, limit=10
            )
            assert _ids(listed) == [staged.id, third.id]
            claimed_later = uow.payments.list_due_for_reconciliation(
                [processing], updated_before=cutoff, due_by=_at(120), limit=10
            )
            assert _ids(claimed_later) == [staged.id, first.id, second.id, third.id]
            assert claimed_later[1].reconcile_attempts == 1

    def test_refunds_due_for_reconciliation(self, storage: Storage) -> None:
        """Processing refunds only, changed before the cut-off, due by now; least recent first."""
        cutoff = _at(60)
        payment = _payment(status=PaymentStatus.COMPLETED, amount="1000.00")

        def refund(
            status: RefundStatus, updated_at: datetime, next_reconcile_at: datetime | None = None
        ) -> Refund:
            record = _refund(payment, created_at=T0 - (updated_at - T0))
            record.status = status
            record.updated_at = updated_at
            record.next_reconcile_at = next_reconcile_at
            return record

        old = refund(RefundStatus.PROCESSING, _at(10))
        oldest = refund(RefundStatus.PROCESSING, _at(5), next_reconcile_at=cutoff)
        scheduled = refund(RefundStatus.PROCESSING, _at(20), next_reconcile_at=_at(30))
        at_cutoff = refund(RefundStatus.PROCESSING, cutoff)
        backing_off = refund(RefundStatus.PROCESSING, _at(1), next_reconcile_at=_at(61))
        others = [
            refund(status, _at(0))
            for status in RefundStatus
            if status is not RefundStatus.PROCESSING
        ]
        _save(storage, payment, scheduled, *others, at_cutoff, old)
        _save(storage, backing_off, oldest)

        with storage.unit_of_work() as uow:

            def due(*, due_by: datetime = cutoff, limit: int = 100) -> list[str]:
                return _ids(
                    uow.refunds.list_due_for_reconciliation(
                        updated_before=cutoff, due_by=due_by, limit=limit
                    )
                )

            assert due() == [oldest.id, old.id, scheduled.id]
            assert due(limit=2) == [oldest.id, old.id]
            assert due(due_by=_at(29)) == [old.id]
            assert due(due_by=_at(61)) == [backing_off.id, oldest.id, old.id, scheduled.id]

            claimed = uow.refunds.get(oldest.id)
            claimed.next_reconcile_at = _at(120)
            uow.refunds.update(claimed)
            assert due(limit=2) == [old.id, scheduled.id]

    # -- threads ------------------------------------------------------------------------

    def test_refund_ceiling_holds_under_concurrency(self, storage: Storage) -> None:
        """Eight threads racing to reserve 30.00 of 100.00 and retrying: exactly three succeed."""
        payment = _payment(status=PaymentStatus.COMPLETED, amount="100.00")
        _save(storage, payment)
        race = _RefundRace(storage, payment.id, threads=8)

        _run_threads(race.worker, 8)

        assert race.errors == []
        assert sorted(race.outcomes) == ["refused"] * 5 + ["reserved"] * 3
        assert race.conflicts >= 7, "the threads did not overlap"
        with storage.unit_of_work() as uow:
            stored = uow.payments.get(payment.id)
            assert stored.refund_reserved_amount == Money.of("90.00", "USD")
            assert stored.refundable_amount == Money.of("10.00", "USD")
            assert len(uow.refunds.list_for_payment(payment.id)) == 3
            assert len(uow.transaction_log.list_for_payment(payment.id)) == 3

    def test_reads_are_safe_while_another_thread_commits(self, storage: Storage) -> None:
        """Listings in one thread do not fail while another thread keeps committing new records."""
        _save(storage, *[_payment(created_at=_at(n)) for n in range(1000)])
        done = threading.Event()
        errors: list[BaseException] = []

        def writer() -> None:
            try:
                for _ in range(300):
                    with storage.unit_of_work() as uow:
                        uow.payments.add(_payment(customer_id="cus_writer"))
                        uow.payment_methods.add(_method(customer_id="cus_writer"))
                        uow.commit()
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread below
                errors.append(exc)
            finally:
                done.set()

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        try:
            while not done.is_set():  # read for as long as the writer writes
                with storage.unit_of_work() as uow:
                    assert list(uow.payments.list(customer_id="cus_nobody")) == []
                    assert list(uow.payment_methods.list_for_customer("cus_nobody")) == []
        finally:
            thread.join(60)
        assert not thread.is_alive()
        assert errors == []
        with storage.unit_of_work() as uow:
            assert len(uow.payments.list(customer_id="cus_writer")) == 300
