"""Concurrency and unique keys: a commit that loses a race raises and writes nothing at all.

Of two units that changed (or removed) one payment method, payment or refund, the second
commit raises ``ConcurrencyConflict`` and nothing else it staged is written; a retry from
the start succeeds. The same holds for a unique key taken twice -- an id, a customer's
payment idempotency key, a payment's refund idempotency key, a customer's default method --
whether by two racing units, by a later unit, or twice in one unit.
"""

# The suite's checks are pytest asserts and the literals are the expected values; the
# per-file ignores that tests/ gets in pyproject.toml do not reach this shipped module.
# ruff: noqa: S101, PLR2004

from __future__ import annotations

from paykit.domain.payment import PaymentStatus
from paykit.domain.refund import RefundStatus
from paykit.money import Money
from paykit.storage.base import Storage
from paykit.testing.repository_contract._records import (
    CUSTOMER,
    _assert_commit_conflicts,
    _assert_missing,
    _at,
    _entry,
    _ids,
    _method,
    _payment,
    _racing_units,
    _refund,
    _save,
    _stage,
)


class ConcurrencyContract:
    """The first commit wins a race for a record or a unique key; the loser writes nothing."""

    # -- optimistic concurrency ---------------------------------------------------------

    def test_concurrent_payment_updates_first_commit_wins(self, storage: Storage) -> None:
        """Of two units that changed one payment, the second commit conflicts and writes nothing."""
        payment = _payment(status=PaymentStatus.COMPLETED)
        _save(storage, payment, _entry(payment.id, message="created"))
        with _racing_units(storage) as (first, second):
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

        with storage.unit_of_work() as uow:
            stored = uow.payments.get(payment.id)
            assert stored.refund_reserved_amount == Money.of("60.00", "USD")
            assert stored.version == mine.version
            log = uow.transaction_log.list_for_payment(payment.id)
            assert [e.message for e in log] == ["created", "first"]
            assert list(uow.transaction_log.list_for_payment(lost_payment.id)) == []
            _assert_missing(uow, lost_method, lost_payment, lost_refund)
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
        with _racing_units(storage) as (first, second):
            mine = first.refunds.get(refund.id)
            theirs = second.refunds.get(refund.id)
            mine.transition_to(RefundStatus.PROCESSING, _at(1))
            first.refunds.update(mine)
            theirs.transition_to(RefundStatus.CANCELLED, _at(2))
            second.refunds.update(theirs)
            second.transaction_log.append(_entry(payment.id, message="cancelled"))

        with storage.unit_of_work() as uow:
            assert uow.refunds.get(refund.id).status is RefundStatus.PROCESSING
            assert list(uow.transaction_log.list_for_payment(payment.id)) == []

    def test_concurrent_payment_method_updates_conflict(self, storage: Storage) -> None:
        """Two units that changed one method: the second commit raises and writes nothing."""
        method = _method()
        _save(storage, method)
        with _racing_units(storage) as (first, second):
            mine = first.payment_methods.get(method.id)
            theirs = second.payment_methods.get(method.id)
            mine.is_active = False
            first.payment_methods.update(mine)
            theirs.brand = "mastercard"
            second.payment_methods.update(theirs)

        with storage.unit_of_work() as uow:
            stored = uow.payment_methods.get(method.id)
        assert stored.is_active is False
        assert stored.brand == "visa"

    def test_removing_a_method_changed_by_someone_else_conflicts(self, storage: Storage) -> None:
        """A remove based on a stale read conflicts, and the method stays with its new value."""
        method = _method()
        _save(storage, method)
        with _racing_units(storage) as (first, second):
            mine = first.payment_methods.get(method.id)
            theirs = second.payment_methods.get(method.id)
            mine.last4 = "1881"
            first.payment_methods.update(mine)
            second.payment_methods.remove(theirs)

        with storage.unit_of_work() as uow:
            assert uow.payment_methods.get(method.id).last4 == "1881"

    def test_updating_a_method_removed_by_someone_else_conflicts(self, storage: Storage) -> None:
        """An update of a method another unit removed conflicts instead of resurrecting it."""
        method = _method()
        _save(storage, method)
        with _racing_units(storage) as (first, second):
            first.payment_methods.remove(first.payment_methods.get(method.id))
            theirs = second.payment_methods.get(method.id)
            theirs.is_active = False
            second.payment_methods.update(theirs)

        with storage.unit_of_work() as uow:
            _assert_missing(uow, method)

    def test_adding_an_id_that_exists_conflicts(self, storage: Storage) -> None:
        """Adding a record under a taken id conflicts and leaves the stored record alone."""
        payment = _payment()
        _save(storage, payment)
        twin = _payment(customer_id="cus_twin")
        twin.id = payment.id
        with storage.unit_of_work() as uow:
            uow.payments.add(twin)
            _assert_commit_conflicts(uow)

        with storage.unit_of_work() as uow:
            assert uow.payments.get(payment.id).customer_id == CUSTOMER

    # -- unique keys --------------------------------------------------------------------

    def test_payment_idempotency_key_is_unique_per_customer(self, storage: Storage) -> None:
        """Two units adding a payment with one customer's key: the second commit conflicts."""
        with _racing_units(storage) as (first, second):
            winner = _payment(idempotency_key="order-42")
            loser = _payment(idempotency_key="order-42")
            first.payments.add(winner)
            second.payments.add(loser)
            second.transaction_log.append(_entry(loser.id))

        with storage.unit_of_work() as uow:
            assert _ids(uow.payments.list(customer_id=CUSTOMER)) == [winner.id]
            assert list(uow.transaction_log.list_for_payment(loser.id)) == []

    def test_a_committed_payment_key_cannot_be_taken_again(self, storage: Storage) -> None:
        """A payment added later with a customer's committed key conflicts on commit."""
        _save(storage, _payment(idempotency_key="order-7"))
        with storage.unit_of_work() as uow:
            uow.payments.add(_payment(idempotency_key="order-7"))
            _assert_commit_conflicts(uow)

    def test_one_unit_cannot_take_a_payment_key_twice(self, storage: Storage) -> None:
        """Two payments with one customer's key in a single unit of work conflict on commit."""
        first = _payment(idempotency_key="order-9")
        second = _payment(idempotency_key="order-9")
        with storage.unit_of_work() as uow:
            _stage(uow, first, second)
            _assert_commit_conflicts(uow)

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
        with _racing_units(storage) as (first, second):
            winner = _refund(payment, idempotency_key="refund-1")
            loser = _refund(payment, idempotency_key="refund-1")
            first.refunds.add(winner)
            second.refunds.add(loser)

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
        with _racing_units(storage) as (first, second):
            winner = _method(is_default=True)
            loser = _method(is_default=True)
            first.payment_methods.add(winner)
            second.payment_methods.add(loser)

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
