"""Records and helpers every part of the storage contract suite builds on.

The factories make records with fixed UTC datetimes (``T0``, :func:`_at`) and random
``uuid`` ids, so the tests do not depend on one another's data; each fills in the optional
fields, so a round trip checks them too. The helpers stage and save records, read them
back, and say in one line what a test expects of a commit or a lookup.
"""

# The helpers check with pytest asserts; the per-file ignores that tests/ gets in
# pyproject.toml do not reach this shipped module.
# ruff: noqa: S101

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Final

import pytest

from paykit.domain.dispute import Dispute, DisputeStatus
from paykit.domain.payment import Payment, PaymentStatus
from paykit.domain.payment_method import PaymentMethod, PaymentMethodType
from paykit.domain.refund import Refund
from paykit.domain.transaction_log import LogType, TransactionLogEntry
from paykit.domain.webhook_inbox import InboxEntry, InboxStatus
from paykit.errors import ConcurrencyConflict, NotFound
from paykit.money import Money
from paykit.storage.base import Storage, UnitOfWork

T0: Final = datetime(2024, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
"""The suite's fixed clock; the microseconds catch a storage that truncates them."""

CUSTOMER: Final = "cus_contract"

Record = PaymentMethod | Payment | Refund | TransactionLogEntry | Dispute | InboxEntry
Versioned = PaymentMethod | Payment | Refund | Dispute | InboxEntry
"""The records that carry a ``version``."""
Gettable = PaymentMethod | Payment | Refund | Dispute
"""The records whose repository has ``get`` by id."""


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
    provider: str = "sandbox",
    provider_payment_id: str | None = None,
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
        provider=provider,
        provider_payment_id=provider_payment_id,
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
    provider_refund_id: str | None = None,
    created_at: datetime = T0,
) -> Refund:
    """A pending refund of ``payment``."""
    return Refund(
        id=_new_id("re"),
        payment_id=payment.id,
        amount=Money.of(amount, payment.currency),
        reason="requested_by_customer",
        provider_refund_id=provider_refund_id,
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


def _get(uow: UnitOfWork, record: Gettable) -> Gettable:
    """Read ``record`` again by its id from the repository of its kind."""
    if isinstance(record, PaymentMethod):
        return uow.payment_methods.get(record.id)
    if isinstance(record, Payment):
        return uow.payments.get(record.id)
    if isinstance(record, Refund):
        return uow.refunds.get(record.id)
    return uow.disputes.get(record.id)


def _ids(records: Iterable[Record]) -> list[str]:
    return [record.id for record in records]


def _id_of(found: Record | None) -> str | None:
    """The id of what a find returned, or ``None`` when it found nothing."""
    return None if found is None else found.id


def _assert_stored_copy(got: Versioned | None, record: Versioned) -> None:
    """``got``, read back, is another object equal to ``record``, stored version included."""
    assert got is not None
    assert got is not record
    assert got == record
    assert got.version == record.version


def _assert_missing(uow: UnitOfWork, *records: Gettable) -> None:
    """``uow`` sees none of ``records``: ``get`` of each id raises ``NotFound``."""
    for record in records:
        with pytest.raises(NotFound):
            _get(uow, record)


def _assert_commit_conflicts(uow: UnitOfWork) -> None:
    """``uow``'s commit raises ``ConcurrencyConflict`` (and so writes nothing)."""
    with pytest.raises(ConcurrencyConflict):
        uow.commit()


@contextmanager
def _racing_units(storage: Storage) -> Iterator[tuple[UnitOfWork, UnitOfWork]]:
    """Two units of work open at once; when the block ends, the first commit wins.

    The block reads and stages in both units. At its end the first unit commits and the
    second unit's commit must raise ``ConcurrencyConflict``.
    """
    with storage.unit_of_work() as first, storage.unit_of_work() as second:
        yield first, second
        first.commit()
        _assert_commit_conflicts(second)
