"""The in-memory store's index by payment answers exactly as a scan of every record would.

``list_for_payment`` of refunds, disputes and inbox entries reads a payment's own records
through an index kept at commit (``storage.memory._ByPayment``) rather than scanning the
whole table. The scan (``select``) stays as the reference: after any mix of committed and
staged additions, moves between payments (an inbox entry matched later) and removals, both
give the same records in the same order, ties included.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from hypothesis import given, settings
from hypothesis import strategies as st

from paykit.domain.webhook_inbox import InboxEntry
from paykit.storage.memory import InMemoryStorage, InMemoryUnitOfWork
from paykit.testing.repository_contract._records import T0, _inbox_entry, _payment, _refund

PAYMENTS = ("pay_a", "pay_b", "pay_c")

Step = tuple[str, int, str | None, int]
"""(what, which entry, its payment id, its received_at in minutes)."""

steps = st.tuples(
    st.sampled_from(["add", "move", "remove"]),
    st.integers(0, 50),
    st.sampled_from([None, *PAYMENTS]),
    st.integers(0, 2),  # few distinct times: ties are the common case
)


def _belongs(entry: InboxEntry, *, payment_id: str) -> bool:
    return entry.payment_id == payment_id


def _assert_listings_match_a_scan(uow: InMemoryUnitOfWork) -> None:
    inbox = uow.webhook_inbox
    for payment_id in PAYMENTS:
        indexed = inbox.list_for_payment(payment_id)
        scanned = inbox.select(partial(_belongs, payment_id=payment_id))
        assert [entry.id for entry in indexed] == [entry.id for entry in scanned]
        assert [entry.version for entry in indexed] == [entry.version for entry in scanned]


def _apply(uow: InMemoryUnitOfWork, step: Step, known: list[str], stored: set[str]) -> None:
    what, which, payment_id, minutes = step
    inbox = uow.webhook_inbox
    if what == "add" or not known:
        new = _inbox_entry(payment_id=payment_id, received_at=T0 + timedelta(minutes=minutes))
        inbox.add(new)
        known.append(new.id)
        return
    entry_id = known[which % len(known)]
    if entry_id in inbox.removed:
        return
    entry = inbox.get(entry_id)
    if what == "move":
        entry.payment_id = payment_id
        inbox.update(entry)
    elif entry_id in stored:  # removing what this unit only staged would conflict at commit
        inbox.remove(entry)


@settings(max_examples=150, deadline=None)
@given(batches=st.lists(st.lists(steps, max_size=12), min_size=1, max_size=4))
def test_inbox_listings_by_payment_match_a_scan(batches: list[list[Step]]) -> None:
    """Committed batches, then one left staged: the index and the scan agree after each."""
    storage = InMemoryStorage()
    known: list[str] = []
    stored: set[str] = set()
    *committed, staged = batches
    for batch in committed:
        with storage.unit_of_work() as uow:
            for step in batch:
                _apply(uow, step, known, stored)
            _assert_listings_match_a_scan(uow)
            uow.commit()
        stored = set(storage.inbox)
        known = [entry_id for entry_id in known if entry_id in stored]
    with storage.unit_of_work() as uow:
        _assert_listings_match_a_scan(uow)
        for step in staged:
            _apply(uow, step, known, stored)
            _assert_listings_match_a_scan(uow)


def test_refunds_of_a_payment_come_oldest_first_then_in_the_order_they_were_stored() -> None:
    """Refunds created at one instant list in the order they were committed, as a scan does."""
    storage = InMemoryStorage()
    payment = _payment()
    refunds = [_refund(payment) for _ in range(5)]
    with storage.unit_of_work() as uow:
        uow.payments.add(payment)
        uow.commit()
    for refund in refunds[:3]:
        with storage.unit_of_work() as uow:
            uow.refunds.add(refund)
            uow.commit()
    with storage.unit_of_work() as uow:
        for refund in refunds[3:]:
            uow.refunds.add(refund)
        listed = uow.refunds.list_for_payment(payment.id)
        assert [refund.id for refund in listed] == [refund.id for refund in refunds]
        assert [r.id for r in uow.refunds.list_for_payment("pay_other")] == []
