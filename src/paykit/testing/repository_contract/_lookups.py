"""Listings and lookups: filters, oldest first, and finds by a key or by a provider's id.

Payment, refund and payment-method listings keep what matches every given filter, oldest
first, whatever order the records were written in; a removed method is gone from them.
Idempotency keys are found under their customer (payments) or payment (refunds); a
provider's id is found under that provider only -- a refund under the provider of its
payment -- including ids the unit itself added or just learned.
"""

# The suite's checks are pytest asserts; the per-file ignores that tests/ gets in
# pyproject.toml do not reach this shipped module.
# ruff: noqa: S101

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from paykit.domain.payment import Payment, PaymentStatus
from paykit.domain.refund import Refund
from paykit.domain.risk_context import RiskContext
from paykit.errors import NotFound
from paykit.storage.base import Storage
from paykit.testing.repository_contract._records import (
    CUSTOMER,
    _assert_missing,
    _at,
    _id_of,
    _ids,
    _method,
    _payment,
    _refund,
    _save,
)


def _refunds_of_two_providers(
    storage: Storage, sandbox_refund_id: str, stripe_refund_id: str
) -> tuple[Refund, Refund]:
    """Save a refund of a sandbox payment and one of a Stripe payment, named by each provider."""
    sandbox_payment = _payment(status=PaymentStatus.COMPLETED)
    stripe_payment = _payment(status=PaymentStatus.COMPLETED, provider="stripe")
    sandbox_refund = _refund(sandbox_payment, provider_refund_id=sandbox_refund_id)
    stripe_refund = _refund(stripe_payment, provider_refund_id=stripe_refund_id)
    _save(storage, sandbox_payment, stripe_payment, sandbox_refund, stripe_refund)
    return sandbox_refund, stripe_refund


def _paid_with(method_id: str) -> Payment:
    payment = _payment(status=PaymentStatus.COMPLETED)
    payment.payment_method_id = method_id
    return payment


class ListingAndLookupContract:
    """Listings filter and sort oldest first; finds by key or provider's id are scoped."""

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
            _assert_missing(uow, removed)
            assert _ids(uow.payment_methods.list_for_customer(CUSTOMER)) == [kept.id]
            assert other.payment_methods.get(removed.id) == removed
            uow.commit()

        with storage.unit_of_work() as uow:
            _assert_missing(uow, removed)
            assert _ids(uow.payment_methods.list_for_customer(CUSTOMER)) == [kept.id]

    # -- lookups by an idempotency key or the provider's id -------------------------------

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

    def test_find_payment_by_provider_id(self, storage: Storage) -> None:
        """A payment is found by (provider, provider's id), scoped to that provider."""
        sandbox = _payment(status=PaymentStatus.COMPLETED, provider_payment_id="pi_shared")
        stripe = _payment(
            status=PaymentStatus.COMPLETED, provider="stripe", provider_payment_id="pi_shared"
        )
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
            added = _payment(status=PaymentStatus.PROCESSING, provider_payment_id="pi_added")
            uow.payments.add(added)
            learned = uow.payments.get(submitted.id)
            learned.provider_payment_id = "pi_learned"  # the charge's answer named it
            uow.payments.update(learned)

            assert _id_of(uow.payments.find_by_provider_id("sandbox", "pi_added")) == added.id
            found_learned = uow.payments.find_by_provider_id("sandbox", "pi_learned")
            assert _id_of(found_learned) == submitted.id
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
        sandbox_refund, stripe_refund = _refunds_of_two_providers(
            storage, "re_sandbox", "re_stripe"
        )
        with storage.unit_of_work() as uow:
            assert uow.refunds.find_by_provider_id("sandbox", "re_sandbox") == sandbox_refund
            assert uow.refunds.find_by_provider_id("stripe", "re_stripe") == stripe_refund
            assert uow.refunds.find_by_provider_id("stripe", "re_sandbox") is None
            assert uow.refunds.find_by_provider_id("sandbox", "re_stripe") is None
            assert uow.refunds.find_by_provider_id("sandbox", "re_missing") is None

    def test_two_providers_may_use_the_same_refund_id(self, storage: Storage) -> None:
        """Providers name refunds independently: one id under two providers finds each."""
        sandbox_refund, stripe_refund = _refunds_of_two_providers(storage, "re_shared", "re_shared")
        with storage.unit_of_work() as uow:
            assert uow.refunds.find_by_provider_id("sandbox", "re_shared") == sandbox_refund
            assert uow.refunds.find_by_provider_id("stripe", "re_shared") == stripe_refund
            assert uow.refunds.find_by_provider_id("paypal", "re_shared") is None

    def test_find_refund_by_provider_id_sees_the_units_own_writes(self, storage: Storage) -> None:
        """A refund whose provider id the unit added or learned is found in that unit only."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        stripe_payment = _payment(status=PaymentStatus.COMPLETED, provider="stripe")
        submitted = _refund(payment)
        _save(storage, payment, stripe_payment, submitted)
        with storage.unit_of_work() as uow, storage.unit_of_work() as other:
            learned = uow.refunds.get(submitted.id)
            learned.provider_refund_id = "re_learned"
            uow.refunds.update(learned)
            added = _refund(stripe_payment, provider_refund_id="re_added")
            uow.refunds.add(added)

            found_learned = uow.refunds.find_by_provider_id("sandbox", "re_learned")
            assert _id_of(found_learned) == submitted.id
            assert _id_of(uow.refunds.find_by_provider_id("stripe", "re_added")) == added.id
            assert uow.refunds.find_by_provider_id("sandbox", "re_added") is None
            assert uow.refunds.find_by_provider_id("stripe", "re_learned") is None
            assert other.refunds.find_by_provider_id("sandbox", "re_learned") is None
            assert other.refunds.find_by_provider_id("stripe", "re_added") is None
            uow.commit()

        with storage.unit_of_work() as uow:
            found = uow.refunds.find_by_provider_id("sandbox", "re_learned")
            assert _id_of(found) == submitted.id
            assert uow.refunds.find_by_provider_id("stripe", "re_added") == added

    # -- two records in one read ---------------------------------------------------------

    def test_a_payment_with_its_method_reads_as_two_gets(self, storage: Storage) -> None:
        """``get_with_method`` gives what ``get`` gives for each; a unit's own changes win."""
        method = _method()
        payment = _paid_with(method.id)
        _save(storage, method, payment)
        with storage.unit_of_work() as uow:
            read_payment, read_method = uow.payments.get_with_method(payment.id)
            assert (read_payment, read_method) == (payment, method)
            read_method.brand = "changed in this unit"
            uow.payment_methods.update(read_method)
            assert uow.payments.get_with_method(payment.id)[1].brand == "changed in this unit"
        with storage.unit_of_work() as uow:
            added = _paid_with(method.id)
            uow.payments.add(added)
            assert uow.payments.get_with_method(added.id) == (added, method)

    def test_a_payment_keeps_its_risk_context_until_it_is_cleared(self, storage: Storage) -> None:
        """The context ``create_payment`` kept reads back whole; set to ``None``, it is gone."""
        method = _method()
        context = RiskContext(
            email="Kept@Example.com",
            ip_address="2001:db8::1",
            ip_country="de",
            billing_country="FR",
            shipping_country="NL",
            device_id="dev_1",
            account_age=timedelta(days=3, seconds=7, microseconds=11),
        )
        waiting = attrs.evolve(_paid_with(method.id), risk_context=context)
        _save(storage, method, waiting)
        with storage.unit_of_work() as uow:
            payment, _ = uow.payments.get_with_method(waiting.id)
            assert payment.risk_context == context
            payment.risk_context = None
            uow.payments.update(payment)
            uow.commit()
        with storage.unit_of_work() as uow:
            assert uow.payments.get(waiting.id).risk_context is None

    def test_a_payment_or_method_that_is_gone_is_not_found(self, storage: Storage) -> None:
        """A missing payment, or a payment whose method was removed, raises ``NotFound``."""
        method = _method()
        payment = _paid_with(method.id)
        _save(storage, method, payment)
        with storage.unit_of_work() as uow:
            with pytest.raises(NotFound):
                uow.payments.get_with_method("pay_missing")
            uow.payment_methods.remove(uow.payment_methods.get(method.id))
            with pytest.raises(NotFound):
                uow.payments.get_with_method(payment.id)

    def test_a_refund_with_its_payment_reads_as_two_gets(self, storage: Storage) -> None:
        """``get_with_payment`` gives what ``get`` gives for each; a unit's own changes win."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        refund = _refund(payment)
        _save(storage, payment, refund)
        with storage.unit_of_work() as uow:
            assert uow.refunds.get_with_payment(refund.id) == (refund, payment)
            changed = uow.payments.get(payment.id)
            changed.description = "changed in this unit"
            uow.payments.update(changed)
            _, seen = uow.refunds.get_with_payment(refund.id)
            assert seen.description == "changed in this unit"
            with pytest.raises(NotFound):
                uow.refunds.get_with_payment("re_missing")
