"""Round trips and copies: records come back exactly as stored, and never by reference.

Payment methods, payments and refunds come back equal in every field -- exact ``Money`` to
the minor unit, aware datetimes with their microseconds, nested metadata, the chargeback and
the sweep's bookkeeping -- with the stored ``version`` on the caller's object after a commit.
What ``get``, a listing or a find returns is a copy: changing it, or the object that was
committed, changes nothing stored.
"""

# The suite's checks are pytest asserts and the literals are the expected values; the
# per-file ignores that tests/ gets in pyproject.toml do not reach this shipped module.
# ruff: noqa: S101, PLR2004

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from paykit.domain.payment import NextAction, Payment, PaymentStatus
from paykit.domain.payment_method import PaymentMethodType
from paykit.domain.refund import Refund, RefundStatus
from paykit.errors import NotFound
from paykit.money import Money
from paykit.storage.base import Storage
from paykit.testing.repository_contract._records import (
    CUSTOMER,
    T0,
    _assert_stored_copy,
    _at,
    _method,
    _new_id,
    _payment,
    _refund,
    _save,
)


class RoundTripContract:
    """Payment methods, payments and refunds are stored exactly, and read as copies."""

    def test_payment_method_round_trips(self, storage: Storage) -> None:
        """A committed payment method comes back equal in every field, as a copy."""
        method = _method(is_default=True)
        method.is_active = False
        _save(storage, method)

        assert method.version >= 1
        with storage.unit_of_work() as uow:
            got = uow.payment_methods.get(method.id)
        _assert_stored_copy(got, method)
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
        _assert_stored_copy(got, payment)
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
        _assert_stored_copy(got, refund)
        assert str(got.amount.amount) == "12.34"
        assert got.completed_at is not None
        assert got.completed_at.utcoffset() == timedelta(0)

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
