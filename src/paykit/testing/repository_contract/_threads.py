"""Threads: under real thread races, retried units of work keep the refund ceiling.

Eight threads reserve refunds of one payment at once, each retrying on
``ConcurrencyConflict``; exactly as many succeed as the payment allows. Listings in one
thread keep working while another thread commits. A storage shared between threads must be
safe to share.
"""

# The suite's checks are pytest asserts and the literals are the expected values; the
# per-file ignores that tests/ gets in pyproject.toml do not reach this shipped module.
# ruff: noqa: S101, PLR2004

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final

from paykit.domain.payment import PaymentStatus
from paykit.errors import ConcurrencyConflict, InvalidRefundAmountError
from paykit.money import Money
from paykit.storage.base import Storage
from paykit.testing.repository_contract._records import (
    _at,
    _entry,
    _method,
    _payment,
    _refund,
    _save,
)

COMMITS_WHILE_READING: Final = 100
"""How many units the writer commits while the reader lists. On SQLite each takes tens of
milliseconds then: the reader's tight loop gets nearly all of the interpreter's time (55,000
listings while the writer committed 50, with no lock ever busy), so 300 took 28 s."""


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


class ThreadContract:
    """Racing threads keep the refund ceiling, and reads stay safe while another thread writes."""

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
                for _ in range(COMMITS_WHILE_READING):
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
            assert len(uow.payments.list(customer_id="cus_writer")) == COMMITS_WHILE_READING
