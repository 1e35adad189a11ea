"""The webhook inbox: received events stored exactly, unique per provider, listed when due.

An inbox entry comes back equal, its payload nested and read-only, its times aware; it is
found by (provider, event id), and one provider's event id taken twice -- by two racing
deliveries, a later one, or twice in a unit -- conflicts, as does one entry applied by two
units. ``list_unmatched`` gives the unmatched entries only (not applied, ignored or expired),
oldest first, narrowed by provider and matching when any given id does, with ``limit`` after
the filters and the unit's own writes included; ``list_for_payment`` gives every entry
matched to a payment.
"""

# The suite's checks are pytest asserts and the literals are the expected values; the
# per-file ignores that tests/ gets in pyproject.toml do not reach this shipped module.
# ruff: noqa: S101, PLR2004

from __future__ import annotations

from datetime import timedelta

import pytest

from paykit.domain.payment import PaymentStatus
from paykit.domain.webhook_inbox import InboxEntry, InboxStatus
from paykit.errors import NotFound
from paykit.storage.base import Storage
from paykit.testing.repository_contract._records import (
    T0,
    _assert_commit_conflicts,
    _assert_stored_copy,
    _at,
    _entry,
    _id_of,
    _ids,
    _inbox_entry,
    _new_id,
    _payment,
    _racing_units,
    _refund,
    _save,
)


class WebhookInboxContract:
    """Inbox entries round-trip, are unique per provider, and are listed as the sweep needs."""

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
        _assert_stored_copy(got, entry)
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
            assert _id_of(uow.webhook_inbox.find("sandbox", "evt_staged")) == staged.id
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
            _assert_commit_conflicts(uow)
        with storage.unit_of_work() as uow:
            uow.webhook_inbox.add(_inbox_entry(event_id="evt_twice"))
            uow.webhook_inbox.add(_inbox_entry(event_id="evt_twice"))
            _assert_commit_conflicts(uow)
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
        with _racing_units(storage) as (first, second):
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

        with storage.unit_of_work() as uow:
            assert _id_of(uow.webhook_inbox.find("sandbox", "evt_race")) == winner.id
            assert _ids(uow.webhook_inbox.list_unmatched(payment_id=payment.id)) == [winner.id]
            assert uow.payments.get(payment.id).status is PaymentStatus.PROCESSING
            assert list(uow.transaction_log.list_for_payment(payment.id)) == []

    def test_concurrent_inbox_updates_conflict(self, storage: Storage) -> None:
        """Two units applying one unmatched entry: the second commit raises and writes nothing."""
        entry = _inbox_entry(event_id="evt_both")
        _save(storage, entry)
        with _racing_units(storage) as (first, second):
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

    def test_reads_for_an_answer_note_the_events_waiting_for_its_id(self, storage: Storage) -> None:
        """``*_noting_waiting_events``: the record(s) as ``get``, and whether events wait.

        Only unmatched entries of the payment's own provider naming the given id count;
        an applied one, another provider's, or one naming another id does not, and ``None``
        never waits. The unit's own staged entries count, as in ``list_unmatched``.
        """
        payment = _payment(status=PaymentStatus.COMPLETED)
        refund = _refund(payment)
        _save(
            storage,
            payment,
            refund,
            _inbox_entry(provider_payment_id="pi_waiting", provider_refund_id="re_waiting"),
            _inbox_entry(provider_payment_id="pi_applied", status=InboxStatus.APPLIED),
            _inbox_entry(provider="stripe", provider_payment_id="pi_stripe"),
        )
        with storage.unit_of_work() as uow:
            payments, refunds = uow.payments, uow.refunds
            assert payments.get_noting_waiting_events(payment.id, "pi_waiting") == (payment, True)
            for quiet in ("pi_applied", "pi_stripe", "pi_other", None):
                assert payments.get_noting_waiting_events(payment.id, quiet) == (payment, False)
            found = refunds.get_with_payment_noting_waiting_events(refund.id, "re_waiting")
            assert found == (refund, payment, True)
            for quiet in ("pi_waiting", "re_other", None):
                found = refunds.get_with_payment_noting_waiting_events(refund.id, quiet)
                assert found == (refund, payment, False)
            uow.webhook_inbox.add(_inbox_entry(provider_payment_id="pi_staged"))
            assert payments.get_noting_waiting_events(payment.id, "pi_staged")[1] is True
            with pytest.raises(NotFound):
                payments.get_noting_waiting_events("pay_missing", "pi_waiting")
            with pytest.raises(NotFound):
                refunds.get_with_payment_noting_waiting_events("re_missing", "re_waiting")

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
