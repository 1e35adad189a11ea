"""The event outbox: host events stored with the change they describe, until delivered.

A message comes back equal, its event's records included (exact ``Money``, aware
datetimes, metadata), at the version the same commit wrote them at; it is unique by id.
Listings are in commit order -- a unit's own messages after the stored ones, in the order it
added them -- filtered by status and payment, up to a limit. An update (a delivery) is
version-checked and changes the bookkeeping, never the event; a removal deletes. Nothing is
visible to another unit before the commit.
"""

# The suite's checks are pytest asserts and the literals are the expected values; the
# per-file ignores that tests/ gets in pyproject.toml do not reach this shipped module.
# ruff: noqa: S101, PLR2004

from __future__ import annotations

from datetime import timedelta

import pytest

from paykit.domain.events import Event, EventType
from paykit.domain.outbox import OutboxMessage, OutboxStatus
from paykit.domain.payment import Payment, PaymentStatus
from paykit.errors import NotFound
from paykit.storage.base import Storage
from paykit.testing.repository_contract._records import (
    T0,
    _at,
    _dispute,
    _new_id,
    _payment,
    _racing_units,
    _refund,
    _save,
)


def _message(
    payment: Payment,
    event_type: EventType = EventType.PAYMENT_CREATED,
    *,
    minutes: int = 0,
    **records: object,
) -> OutboxMessage:
    """A pending message of an event about ``payment`` (and a refund or dispute, if given)."""
    event = Event(
        id=_new_id("evt"),
        type=event_type,
        payment=payment,
        occurred_at=_at(minutes),
        detail="the provider says otherwise",
        **records,  # type: ignore[arg-type]  # refund= or dispute=
    )
    return OutboxMessage(
        id=event.id,
        payment_id=payment.id,
        event=event,
        created_at=_at(minutes),
        next_attempt_at=_at(minutes + 1),
    )


def _add(storage: Storage, *messages: OutboxMessage) -> None:
    with storage.unit_of_work() as uow:
        for message in messages:
            uow.outbox.add(message)
        uow.commit()


class OutboxContract:
    """The outbox repository: round trips, commit order, version checks."""

    def test_a_message_comes_back_with_its_event_and_records(self, storage: Storage) -> None:
        """Every field of the message and of its event's payment, refund and dispute survives."""
        payment = _payment(status=PaymentStatus.COMPLETED, amount="12.345", currency="KWD")
        _save(storage, payment)
        refund, dispute = _refund(payment, amount="1.005"), _dispute(payment)
        _save(storage, refund, dispute)
        with_refund = _message(payment, EventType.REFUND_CREATED, refund=refund)
        with_dispute = _message(payment, EventType.DISPUTE_CREATED, dispute=dispute)
        _add(storage, with_refund, with_dispute)

        with storage.unit_of_work() as uow:
            got_refund = uow.outbox.get(with_refund.id)
            got_dispute = uow.outbox.get(with_dispute.id)
        assert got_refund is not with_refund
        assert got_refund == with_refund
        assert got_refund.event == with_refund.event
        assert got_refund.event.refund == refund
        assert got_refund.event.payment.amount == payment.amount
        assert got_refund.next_attempt_at.utcoffset() == timedelta(0)
        assert got_dispute.event.dispute == dispute
        assert got_refund.version == with_refund.version == 1

    def test_the_event_carries_the_records_at_the_version_committed_with_it(
        self, storage: Storage
    ) -> None:
        """A message committed with a change to its payment holds the payment as written."""
        payment = _payment()
        _save(storage, payment)
        with storage.unit_of_work() as uow:
            stored = uow.payments.get(payment.id)
            stored.status = PaymentStatus.CANCELLED
            uow.payments.update(stored)
            message = _message(stored, EventType.PAYMENT_CANCELLED)
            uow.outbox.add(message)
            uow.commit()

        with storage.unit_of_work() as uow:
            assert uow.outbox.get(message.id).event.payment == uow.payments.get(payment.id)

    def test_nothing_is_visible_before_the_commit(self, storage: Storage) -> None:
        """Another unit sees no staged message; the staging unit lists its own."""
        payment = _payment()
        message = _message(payment)
        with storage.unit_of_work() as uow, storage.unit_of_work() as other:
            uow.outbox.add(message)
            assert [m.id for m in uow.outbox.list_pending()] == [message.id]
            assert list(other.outbox.list_pending(payment_id=payment.id)) == []
            with pytest.raises(NotFound):
                other.outbox.get(message.id)

    def test_listings_are_in_commit_order_then_the_units_own(self, storage: Storage) -> None:
        """Pending messages come oldest commit first, whatever their times; staged ones last."""
        payment, other = _payment(), _payment()
        first = _message(payment, minutes=5)
        second = _message(other, minutes=1)
        third, fourth = _message(payment, minutes=3), _message(payment, minutes=2)
        _add(storage, first)
        _add(storage, second, third)
        with storage.unit_of_work() as uow:
            uow.outbox.add(fourth)
            pending = uow.outbox.list_pending()
            of_payment = uow.outbox.list_pending(payment_id=payment.id)
            limited = uow.outbox.list_pending(payment_id=payment.id, limit=2)
        ids = [m.id for m in pending if m.id in {first.id, second.id, third.id, fourth.id}]
        assert ids == [first.id, second.id, third.id, fourth.id]
        assert [m.id for m in of_payment] == [first.id, third.id, fourth.id]
        assert [m.id for m in limited] == [first.id, third.id]

    def test_a_delivery_is_recorded_and_listed_by_status(self, storage: Storage) -> None:
        """Delivered and dead messages leave the pending listing and are listed by status."""
        payment = _payment()
        delivered, dead, waiting = _message(payment), _message(payment), _message(payment)
        _add(storage, delivered, dead, waiting)
        with storage.unit_of_work() as uow:
            delivered.status, delivered.delivered_at = OutboxStatus.DELIVERED, _at(9)
            delivered.attempts = 1
            dead.status, dead.attempts, dead.last_error = OutboxStatus.DEAD, 5, "ValueError: no"
            uow.outbox.update(delivered)
            uow.outbox.update(dead)
            uow.commit()

        with storage.unit_of_work() as uow:
            pending = uow.outbox.list_pending(payment_id=payment.id)
            dead_letters = uow.outbox.list(status=OutboxStatus.DEAD, payment_id=payment.id)
            everything = uow.outbox.list(payment_id=payment.id)
            got = uow.outbox.get(delivered.id)
        assert [m.id for m in pending] == [waiting.id]
        assert [(m.id, m.attempts, m.last_error) for m in dead_letters] == [
            (dead.id, 5, "ValueError: no")
        ]
        assert [m.id for m in everything] == [delivered.id, dead.id, waiting.id]
        assert (got.status, got.delivered_at, got.version) == (OutboxStatus.DELIVERED, _at(9), 2)
        assert got.event == delivered.event

    def test_an_update_of_a_message_changed_meanwhile_conflicts(self, storage: Storage) -> None:
        """Two dispatchers leasing one message: the second commit raises and writes nothing."""
        message = _message(_payment())
        _add(storage, message)
        with _racing_units(storage) as (first, second):
            mine, theirs = first.outbox.get(message.id), second.outbox.get(message.id)
            mine.next_attempt_at = theirs.next_attempt_at = T0 + timedelta(hours=1)
            theirs.attempts = 3
            first.outbox.update(mine)
            second.outbox.update(theirs)

        with storage.unit_of_work() as uow:
            assert uow.outbox.get(message.id).attempts == 0

    def test_an_id_is_stored_once(self, storage: Storage) -> None:
        """Two units adding a message with one id: the second commit conflicts."""
        message = _message(_payment())
        twin = _message(_payment())
        twin.id = message.id
        with _racing_units(storage) as (first, second):
            first.outbox.add(message)
            second.outbox.add(twin)

    def test_a_removed_message_is_gone(self, storage: Storage) -> None:
        """A purge deletes: the message is no longer found or listed."""
        payment = _payment()
        kept, purged = _message(payment), _message(payment)
        _add(storage, kept, purged)
        with storage.unit_of_work() as uow:
            uow.outbox.remove(uow.outbox.get(purged.id))
            uow.commit()

        with storage.unit_of_work() as uow:
            with pytest.raises(NotFound):
                uow.outbox.get(purged.id)
            assert [m.id for m in uow.outbox.list(payment_id=payment.id)] == [kept.id]

    def test_an_acknowledgement_delivers_a_pending_message_and_never_conflicts(
        self, storage: Storage
    ) -> None:
        """Acknowledged: pending ones become delivered, others stay as they are, nothing raises."""
        payment = _payment()
        waiting, dead, other = _message(payment), _message(payment), _message(_payment())
        _add(storage, waiting, dead, other)
        with storage.unit_of_work() as uow:
            dead.status = OutboxStatus.DEAD
            uow.outbox.update(dead)
            uow.commit()
        with storage.unit_of_work() as uow, storage.unit_of_work() as meanwhile:
            uow.outbox.acknowledge({waiting.id: _at(7), dead.id: _at(7), "evt_unknown": _at(7)})
            uow.outbox.add(acked_with := _message(payment))
            leased = meanwhile.outbox.get(waiting.id)
            leased.next_attempt_at = _at(30)
            meanwhile.outbox.update(leased)
            meanwhile.commit()  # a change the acknowledgement must not conflict with
            uow.commit()

        with storage.unit_of_work() as uow:
            got = uow.outbox.get(waiting.id)
            assert (got.status, got.delivered_at, got.attempts) == (
                OutboxStatus.DELIVERED,
                _at(7),
                1,
            )
            assert got.version == 3
            assert uow.outbox.get(dead.id).status is OutboxStatus.DEAD
            assert uow.outbox.get(other.id).status is OutboxStatus.PENDING
            pending = uow.outbox.list_pending(payment_id=payment.id)
            assert [m.id for m in pending] == [acked_with.id]
