"""Reconciliation sweeps: settle what was left waiting, back off, never ask twice at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from _scripted_webhooks import ScriptedWebhooks

from paykit import (
    InMemoryStorage,
    Payment,
    PaymentProcessingError,
    PaymentService,
    PaymentStatus,
    ReconcileProgress,
    ReconcileReport,
    RefundStatus,
    SandboxGateway,
    SandboxToken,
    SweepCounts,
    ValidationError,
)
from paykit.gateways.base import ChargeRequest, GatewayResult, PaymentLookup
from paykit.testing import RunBeforeCommit

_P = PaymentStatus
T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        """The time the test set."""
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the time forward."""
        self.now += timedelta(**delta)


class FlakySandbox(ScriptedWebhooks):
    """The sandbox behind a network that can refuse connections or stall lookups."""

    def __init__(self, sandbox: SandboxGateway) -> None:
        super().__init__(sandbox)
        self.refuse_charges = False
        self.lookups_fail = False
        self.lookups = 0
        self.in_lookup = threading.Event()
        self.release_lookup = threading.Event()
        self.release_lookup.set()

    def charge(self, request: ChargeRequest) -> GatewayResult:
        """Refuse before the request leaves (nothing charged) when asked to."""
        if self.refuse_charges:
            msg = "connection refused"
            raise ConnectionRefusedError(msg)
        return super().charge(request)

    def retrieve_payment(self, lookup: PaymentLookup) -> GatewayResult:
        """Count lookups; optionally fail them or hold them until released."""
        self.lookups += 1
        self.in_lookup.set()
        self.release_lookup.wait(timeout=10)
        if self.lookups_fail:
            msg = "502 bad gateway"
            raise ConnectionError(msg)
        return self.sandbox.retrieve_payment(lookup)


@pytest.fixture
def clock() -> Clock:
    """The sweep's clock."""
    return Clock()


@pytest.fixture
def flaky(sandbox: SandboxGateway) -> FlakySandbox:
    """The sandbox behind a flaky network."""
    return FlakySandbox(sandbox)


@pytest.fixture
def storage() -> InMemoryStorage:
    """One store that several workers may share."""
    return InMemoryStorage()


@pytest.fixture
def service(storage: InMemoryStorage, flaky: FlakySandbox, clock: Clock) -> PaymentService:
    """A service over the flaky sandbox and the hand-moved clock."""
    return PaymentService(storage, {"credit_card": flaky}, clock=clock)


def _submit(service: PaymentService, token: str = SandboxToken.SUCCESS) -> Payment:
    method = service.add_payment_method("cus_1", type="credit_card", token=token)
    payment = service.create_payment(
        customer_id="cus_1",
        order_id="ord_1",
        payment_method_id=method.id,
        amount="20.00",
        currency="USD",
    )
    try:
        return service.process_payment(payment.id)
    except PaymentProcessingError:
        return service.get_payment(payment.id)


def _lost_answer(service: PaymentService, flaky: FlakySandbox) -> Payment:
    flaky.lose_answers = True
    payment = _submit(service)
    flaky.lose_answers = False
    assert payment.status is _P.PROCESSING
    return payment


def test_a_payment_whose_answer_was_lost_is_settled(
    service: PaymentService, flaky: FlakySandbox, clock: Clock
) -> None:
    """The provider charged; the sweep learns it and completes the payment."""
    payment = _lost_answer(service, flaky)
    clock.advance(minutes=16)

    report = service.reconcile()

    assert service.get_payment_status(payment.id) is _P.COMPLETED
    assert report.payments == SweepCounts(examined=1, settled=1)
    assert report.unsettled == 0


def test_records_younger_than_older_than_are_left_alone(
    service: PaymentService, flaky: FlakySandbox, clock: Clock
) -> None:
    """A young payment may still get its answer: the sweep does not ask yet."""
    payment = _lost_answer(service, flaky)
    clock.advance(minutes=5)

    report = service.reconcile(older_than=timedelta(minutes=15))

    assert report.payments == SweepCounts()
    assert flaky.lookups == 0
    assert service.get_payment_status(payment.id) is _P.PROCESSING


def test_a_charge_that_never_left_fails_only_after_the_grace(
    service: PaymentService, flaky: FlakySandbox, clock: Clock
) -> None:
    """A "not found" is believed once the request can no longer be on its way."""
    flaky.refuse_charges = True
    payment = _submit(service)
    flaky.refuse_charges = False
    clock.advance(minutes=1)

    early = service.reconcile(older_than=timedelta(0))

    assert early.payments == SweepCounts(examined=1, still_unknown=1)
    assert service.get_payment_status(payment.id) is _P.PROCESSING
    clock.advance(minutes=10)

    late = service.reconcile(older_than=timedelta(0))

    assert late.payments == SweepCounts(examined=1, settled=1)
    assert service.get_payment_status(payment.id) is _P.FAILED
    assert flaky.sandbox.ledger_for(payment.id) == []


def test_still_unknown_records_back_off_exponentially(
    service: PaymentService, flaky: FlakySandbox, clock: Clock
) -> None:
    """Each failed ask doubles the wait before the next; a sweep in between skips it."""
    payment = _lost_answer(service, flaky)
    flaky.lookups_fail = True
    clock.advance(minutes=16)
    waits: list[timedelta] = []
    for _ in range(3):
        report = service.reconcile(backoff=timedelta(minutes=1))
        assert report.payments.errors == 1
        stored = service.get_payment(payment.id)
        assert stored.next_reconcile_at is not None
        waits.append(stored.next_reconcile_at - clock.now)
        assert service.reconcile().payments == SweepCounts()  # not due yet
        clock.now = stored.next_reconcile_at

    assert waits == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]
    assert service.get_payment(payment.id).reconcile_attempts == 3
    assert flaky.lookups == 3
    flaky.lookups_fail = False
    assert service.reconcile().payments.settled == 1


def test_backoff_stops_growing_at_the_maximum(
    service: PaymentService, flaky: FlakySandbox, clock: Clock
) -> None:
    """The wait never exceeds ``max_backoff``."""
    waits: list[timedelta] = []
    payment = _lost_answer(service, flaky)
    flaky.lookups_fail = True
    clock.advance(minutes=16)
    for _ in range(6):
        service.reconcile(backoff=timedelta(minutes=1), max_backoff=timedelta(minutes=5))
        next_at = service.get_payment(payment.id).next_reconcile_at
        assert next_at is not None
        waits.append(next_at - clock.now)
        clock.now = next_at
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4, 5, 5, 5)]


def test_a_payment_whose_completing_webhook_was_lost_is_settled(
    service: PaymentService, flaky: FlakySandbox, clock: Clock
) -> None:
    """3-D Secure finished at the provider, the webhook never came: the sweep finds out."""
    payment = _submit(service, SandboxToken.THREE_D_SECURE)
    assert payment.provider_payment_id is not None
    flaky.sandbox.complete_action(payment.provider_payment_id)
    clock.advance(minutes=16)

    report = service.reconcile()

    assert report.payments.settled == 1
    assert service.get_payment_status(payment.id) is _P.COMPLETED


def test_a_refund_left_processing_is_settled(service: PaymentService, clock: Clock) -> None:
    """A refund whose answer was unknown is asked about and completed."""
    payment = _submit(service, SandboxToken.REFUND_TIMEOUT)
    refund = service.process_refund(service.create_refund(payment.id, "5.00").id)
    assert refund.status is RefundStatus.PROCESSING
    clock.advance(minutes=16)

    report = service.reconcile()

    assert report.refunds == SweepCounts(examined=1, settled=1)
    assert service.get_refund(refund.id).status is RefundStatus.COMPLETED
    assert service.get_payment_status(payment.id) is _P.PARTIALLY_REFUNDED


def test_progress_is_reported_after_each_record(
    service: PaymentService, flaky: FlakySandbox, clock: Clock
) -> None:
    """A progress bar gets done/total and what happened to each record."""
    first = _lost_answer(service, flaky)
    second = _lost_answer(service, flaky)
    clock.advance(minutes=16)
    seen: list[ReconcileProgress] = []

    service.reconcile(progress=seen.append)

    assert [(p.done, p.total, p.kind, p.outcome) for p in seen] == [
        (1, 2, "payment", "settled"),
        (2, 2, "payment", "settled"),
    ]
    assert {p.record_id for p in seen} == {first.id, second.id}


def test_two_workers_never_ask_about_one_payment_at_once(
    storage: InMemoryStorage, flaky: FlakySandbox, clock: Clock
) -> None:
    """Worker B finds worker A's lease on the payment and skips it; one lookup in all."""
    worker_a = PaymentService(storage, {"credit_card": flaky}, clock=clock)
    worker_b = PaymentService(storage, {"credit_card": flaky}, clock=clock)
    payment = _lost_answer(worker_a, flaky)
    clock.advance(minutes=16)
    flaky.release_lookup.clear()
    reports: dict[str, ReconcileReport] = {}
    thread = threading.Thread(target=lambda: reports.update(a=worker_a.reconcile()))
    thread.start()
    assert flaky.in_lookup.wait(timeout=10)  # A holds the claim and is asking the provider

    reports["b"] = worker_b.reconcile()
    flaky.release_lookup.set()
    thread.join(timeout=10)

    assert reports["a"].payments == SweepCounts(examined=1, settled=1)
    assert reports["b"].payments == SweepCounts()  # under A's lease it is not even due
    assert flaky.lookups == 1
    assert worker_b.get_payment_status(payment.id) is _P.COMPLETED


def test_two_workers_claiming_one_payment_at_once_ask_once(
    storage: InMemoryStorage, flaky: FlakySandbox, clock: Clock
) -> None:
    """Both listed it; B's claim commits first, so A's conflicts, re-reads and skips it."""
    worker_b = PaymentService(storage, {"credit_card": flaky}, clock=clock)
    payment = _lost_answer(worker_b, flaky)
    clock.advance(minutes=16)
    reports: dict[str, ReconcileReport] = {}
    racing = RunBeforeCommit(storage, lambda: reports.update(b=worker_b.reconcile()))
    worker_a = PaymentService(racing, {"credit_card": flaky}, clock=clock)

    reports["a"] = worker_a.reconcile()

    assert racing.conflicts == 1
    assert reports["b"].payments == SweepCounts(examined=1, settled=1)
    assert reports["a"].payments == SweepCounts(skipped=1)
    assert flaky.lookups == 1
    assert worker_a.get_payment_status(payment.id) is _P.COMPLETED


def test_a_claim_whose_lease_ran_out_can_be_taken_over(
    storage: InMemoryStorage, flaky: FlakySandbox, clock: Clock
) -> None:
    """A worker that died mid-sweep holds nothing once its lease has ended."""
    service = PaymentService(storage, {"credit_card": flaky}, clock=clock)
    payment = _lost_answer(service, flaky)
    clock.advance(minutes=16)
    with storage.unit_of_work() as uow:  # what a crashed worker's claim leaves behind
        record = uow.payments.get(payment.id)
        record.next_reconcile_at = clock.now + timedelta(minutes=5)
        uow.payments.update(record)
        uow.commit()
    assert service.reconcile().payments == SweepCounts()
    clock.advance(minutes=5)

    assert service.reconcile().payments.settled == 1


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"older_than": timedelta(minutes=-1)}, "older_than"),
        ({"statuses": ["procesing"]}, "statuses"),
    ],
)
def test_bad_sweep_arguments_are_refused(
    service: PaymentService, arguments: dict[str, object], field: str
) -> None:
    """Each bad knob gets a ValidationError naming it."""
    with pytest.raises(ValidationError) as caught:
        service.reconcile(**arguments)  # type: ignore[arg-type]
    assert caught.value.field == field
