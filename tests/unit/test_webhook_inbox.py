"""The webhook inbox through the public service API: verify, record once, apply, answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from _scripted_webhooks import ScriptedWebhooks, delivery

from paykit import (
    ALL_EVENTS,
    Event,
    EventType,
    InboxStatus,
    InMemoryStorage,
    LogType,
    Payment,
    PaymentProcessingError,
    PaymentService,
    PaymentStatus,
    RefundStatus,
    SandboxGateway,
    SandboxToken,
    ValidationError,
    WebhookOutcome,
)
from paykit.gateways.base import (
    WebhookEventType,
)
from paykit.storage.base import UnitOfWork
from paykit.testing import RunBeforeCommit

_W = WebhookEventType
_P = PaymentStatus


def _log_types(service: PaymentService, payment_id: str) -> list[LogType]:
    return [entry.log_type for entry in service.get_transaction_log(payment_id)]


def _pay(service: PaymentService, token: str, amount: str = "9.00") -> Payment:
    """Create a payment with a card of ``token``'s behaviour and process it."""
    method = service.add_payment_method("cus_1", type="credit_card", token=token)
    payment = service.create_payment(
        customer_id="cus_1",
        order_id="ord_1",
        payment_method_id=method.id,
        amount=amount,
        currency="USD",
    )
    return service.process_payment(payment.id)


def _threeds_payment(service: PaymentService, sandbox: SandboxGateway) -> tuple[str, str]:
    """A payment waiting for 3-D Secure that the customer then completes at the sandbox."""
    waiting = _pay(service, SandboxToken.THREE_D_SECURE, "25.00")
    payment = waiting
    assert waiting.status is _P.REQUIRES_ACTION
    assert waiting.provider_payment_id is not None
    sandbox.complete_action(waiting.provider_payment_id)
    return payment.id, waiting.provider_payment_id


# -- delivery outcomes -------------------------------------------------------------------------


def test_a_verified_event_is_applied_logged_and_stored(
    service: PaymentService, sandbox: SandboxGateway, events: list[Event]
) -> None:
    """A signed event moves the payment, logs webhook_received and is kept in the inbox."""
    payment_id, provider_id = _threeds_payment(service, sandbox)
    headers, body = sandbox.webhook_for(_W.PAYMENT_SUCCEEDED, provider_id)

    result = service.handle_webhook("sandbox", headers, body)

    assert (result.status_code, result.outcome) == (200, WebhookOutcome.APPLIED)
    assert result.ok
    assert service.get_payment_status(payment_id) is _P.COMPLETED
    log = _log_types(service, payment_id)
    assert log[-2:] == [LogType.WEBHOOK_RECEIVED, LogType.PAYMENT_PROCESSED]
    [entry] = service.list_webhook_events(payment_id)
    assert entry.status is InboxStatus.APPLIED
    assert entry.event_id == result.event_id
    assert entry.payload["type"] == "payment.succeeded"
    assert EventType.PAYMENT_COMPLETED in [event.type for event in events]


def test_a_duplicate_delivery_is_acknowledged_and_changes_nothing(
    service: PaymentService, sandbox: SandboxGateway, events: list[Event]
) -> None:
    """The same event twice: 200 both times, applied once, no second host event."""
    payment_id, provider_id = _threeds_payment(service, sandbox)
    headers, body = sandbox.webhook_for(_W.PAYMENT_SUCCEEDED, provider_id)
    service.handle_webhook("sandbox", headers, body)
    log_before = service.get_transaction_log(payment_id)
    events_before = len(events)

    again = service.handle_webhook("sandbox", headers, body)

    assert (again.status_code, again.outcome) == (200, WebhookOutcome.DUPLICATE)
    assert service.get_transaction_log(payment_id) == log_before
    assert len(events) == events_before
    assert len(service.list_webhook_events(payment_id)) == 1


def test_a_bad_signature_answers_400_and_stores_nothing(
    service: PaymentService, sandbox: SandboxGateway
) -> None:
    """A tampered body is refused and leaves no trace but the rejection."""
    payment_id, provider_id = _threeds_payment(service, sandbox)
    headers, body = sandbox.webhook_for(_W.PAYMENT_SUCCEEDED, provider_id)
    log_before = service.get_transaction_log(payment_id)

    result = service.handle_webhook("sandbox", headers, body.replace(b"payment", b"pay_ment"))

    assert (result.status_code, result.outcome) == (400, WebhookOutcome.REJECTED)
    assert service.get_payment_status(payment_id) is _P.REQUIRES_ACTION
    assert service.get_transaction_log(payment_id) == log_before
    assert service.list_webhook_events(payment_id) == []
    assert service.list_unmatched_webhook_events() == []


def test_an_unknown_provider_answers_404(service: PaymentService) -> None:
    """A URL naming no configured gateway is answered 404, naming it."""
    result = service.handle_webhook("strype", {}, b"{}")

    assert (result.status_code, result.outcome) == (404, WebhookOutcome.UNKNOWN_PROVIDER)
    assert "strype" in result.body


class _BrokenStorage:
    """Storage whose database is down: every unit of work fails on first use."""

    def unit_of_work(self) -> UnitOfWork:
        msg = "could not connect to server: Connection refused"
        raise ConnectionError(msg)


def test_storage_being_down_answers_503_so_the_provider_retries(
    sandbox: SandboxGateway,
) -> None:
    """When nothing can be recorded the provider is told to deliver again."""
    healthy = PaymentService(InMemoryStorage(), {"credit_card": sandbox})
    payment = _pay(healthy, SandboxToken.SUCCESS)
    assert payment.provider_payment_id is not None
    headers, body = sandbox.webhook_for(_W.PAYMENT_SUCCEEDED, payment.provider_payment_id)
    down = PaymentService(_BrokenStorage(), {"credit_card": sandbox})

    result = down.handle_webhook("sandbox", headers, body)

    assert (result.status_code, result.outcome) == (503, WebhookOutcome.UNAVAILABLE)
    assert not result.ok


# -- never backwards, contradictions flagged ---------------------------------------------------


def test_a_late_failure_after_completed_is_logged_and_ignored(
    service: PaymentService, sandbox: SandboxGateway
) -> None:
    """A payment_failed event after completed never moves the payment back."""
    payment = _pay(service, SandboxToken.SUCCESS)
    assert payment.provider_payment_id is not None
    headers, body = sandbox.webhook_for(_W.PAYMENT_FAILED, payment.provider_payment_id)

    result = service.handle_webhook("sandbox", headers, body)

    assert result.outcome is WebhookOutcome.APPLIED
    assert service.get_payment_status(payment.id) is _P.COMPLETED
    assert _log_types(service, payment.id)[-2:] == [
        LogType.WEBHOOK_RECEIVED,
        LogType.EVENT_IGNORED,
    ]


def test_money_taken_where_paykit_says_failed_is_flagged_for_review(
    service: PaymentService, sandbox: SandboxGateway, events: list[Event]
) -> None:
    """Succeeded at the provider, failed here: flagged, not overwritten."""
    payment_id, provider_id = _threeds_payment(service, sandbox)
    headers, body = sandbox.webhook_for(_W.PAYMENT_FAILED, provider_id)
    service.handle_webhook("sandbox", headers, body)  # paykit now says failed
    assert service.get_payment_status(payment_id) is _P.FAILED
    headers, body = sandbox.webhook_for(_W.PAYMENT_SUCCEEDED, provider_id)

    service.handle_webhook("sandbox", headers, body)

    assert service.get_payment_status(payment_id) is _P.FAILED  # not silently overwritten
    assert _log_types(service, payment_id)[-1] is LogType.NEEDS_REVIEW
    [review] = [event for event in events if event.type is EventType.PAYMENT_NEEDS_REVIEW]
    assert review.payment.id == payment_id
    assert "succeeded" in review.detail


# -- events that overtake the API response ----------------------------------------------------


@pytest.fixture
def scripted(sandbox: SandboxGateway) -> ScriptedWebhooks:
    """A gateway whose webhooks are the normalised events themselves."""
    return ScriptedWebhooks(sandbox)


@pytest.fixture
def scripted_service(scripted: ScriptedWebhooks, events: list[Event]) -> PaymentService:
    """A service over the scripted gateway with a fixed clock."""
    clock = [datetime(2024, 1, 1, 12, tzinfo=UTC)]
    service = PaymentService(InMemoryStorage(), {"credit_card": scripted}, clock=lambda: clock[0])
    service.events.subscribe(ALL_EVENTS, events.append)
    return service


def _pay_and_lose_the_answer(service: PaymentService, scripted: ScriptedWebhooks) -> Payment:
    """A payment the sandbox charged whose answer never reached paykit."""
    scripted.lose_answers = True
    with pytest.raises(PaymentProcessingError):
        _pay(service, SandboxToken.SUCCESS)
    scripted.lose_answers = False
    [payment] = service.list_payments(customer_id="cus_1")
    assert payment.status is _P.PROCESSING
    assert payment.provider_payment_id is None
    return payment


def test_an_event_for_an_unknown_payment_waits_and_applies_when_the_answer_lands(
    scripted_service: PaymentService, scripted: ScriptedWebhooks, sandbox: SandboxGateway
) -> None:
    """The charge happened but its answer was lost; the webhook names only the provider id."""
    service = scripted_service
    payment = _pay_and_lose_the_answer(service, scripted)
    [charge] = sandbox.ledger_for(payment.id)
    body = delivery(
        event_id="evt_early",
        type="payment.succeeded",
        provider_payment_id=charge.provider_id,
        result={"outcome": "succeeded", "provider_id": charge.provider_id},
    )

    first = service.handle_webhook("sandbox", {}, body)

    assert first.outcome is WebhookOutcome.UNMATCHED
    assert service.get_payment_status(payment.id) is _P.PROCESSING
    [waiting] = service.list_unmatched_webhook_events()
    assert waiting.provider_payment_id == charge.provider_id

    service.reconcile_payment(payment.id)  # learns the provider's id

    assert service.get_payment_status(payment.id) is _P.COMPLETED
    assert service.list_unmatched_webhook_events() == []
    [entry] = service.list_webhook_events(payment.id)
    assert entry.status is InboxStatus.APPLIED
    assert LogType.WEBHOOK_RECEIVED in _log_types(service, payment.id)
    assert service.handle_webhook("sandbox", {}, body).outcome is WebhookOutcome.DUPLICATE


def test_an_event_naming_paykits_id_settles_a_payment_whose_answer_was_lost(
    scripted_service: PaymentService, sandbox: SandboxGateway
) -> None:
    """An event carrying paykit's payment id settles it and teaches the provider id."""
    service = scripted_service
    payment = _pay(service, SandboxToken.TIMEOUT)
    [charge] = sandbox.ledger_for(payment.id)
    body = delivery(
        event_id="evt_1",
        type="payment.succeeded",
        payment_id=payment.id,
        provider_payment_id=charge.provider_id,
        result={"outcome": "succeeded", "provider_id": charge.provider_id},
    )

    assert service.handle_webhook("sandbox", {}, body).outcome is WebhookOutcome.APPLIED

    settled = service.get_payment(payment.id)
    assert settled.status is _P.COMPLETED
    assert settled.provider_payment_id == charge.provider_id


def test_metadata_naming_a_payment_with_another_provider_id_is_not_trusted(
    scripted_service: PaymentService,
) -> None:
    """Metadata is the host's to set: a provider id mismatch leaves the event unmatched."""
    service = scripted_service
    payment = _pay(service, SandboxToken.SUCCESS)
    body = delivery(
        event_id="evt_x",
        type="payment.failed",
        payment_id=payment.id,
        provider_payment_id="pi_somebody_else",
        result={"outcome": "declined"},
    )

    result = service.handle_webhook("sandbox", {}, body)

    assert result.outcome is WebhookOutcome.UNMATCHED
    assert service.get_payment_status(payment.id) is _P.COMPLETED


def test_a_refund_event_settles_a_refund_whose_answer_was_lost(
    scripted_service: PaymentService, events: list[Event]
) -> None:
    """A refund event naming paykit's refund id completes it and books it on the payment."""
    service = scripted_service
    payment = _pay(service, SandboxToken.REFUND_TIMEOUT)
    refund = service.create_refund(payment.id, "4.00")
    waiting = service.process_refund(refund.id)
    assert waiting.status is RefundStatus.PROCESSING
    body = delivery(
        event_id="evt_r",
        type="refund.succeeded",
        refund_id=refund.id,
        provider_refund_id=waiting.provider_refund_id,
        result={"outcome": "succeeded", "provider_id": waiting.provider_refund_id},
    )

    assert service.handle_webhook("sandbox", {}, body).outcome is WebhookOutcome.APPLIED

    assert service.get_refund(refund.id).status is RefundStatus.COMPLETED
    assert service.get_payment_status(payment.id) is _P.PARTIALLY_REFUNDED
    assert EventType.REFUND_COMPLETED in [event.type for event in events]


def test_the_webhook_path_does_not_call_the_provider_when_the_event_says_enough(
    scripted_service: PaymentService, sandbox: SandboxGateway
) -> None:
    """An event with an outcome is applied without a provider call."""
    service = scripted_service
    payment = _pay(service, SandboxToken.TIMEOUT)
    calls = list(sandbox.calls)
    body = delivery(
        event_id="evt_2",
        type="payment.succeeded",
        payment_id=payment.id,
        result={"outcome": "succeeded"},
    )

    service.handle_webhook("sandbox", {}, body)

    assert sandbox.calls == calls


def test_an_event_without_an_outcome_is_completed_with_one_lookup(
    scripted_service: PaymentService, sandbox: SandboxGateway
) -> None:
    """An event that carries too little is completed by exactly one lookup."""
    service = scripted_service
    payment = _pay(service, SandboxToken.TIMEOUT)
    calls = len(sandbox.calls)
    body = delivery(event_id="evt_3", type="payment.succeeded", payment_id=payment.id)

    service.handle_webhook("sandbox", {}, body)

    assert sandbox.calls[calls:] == ["retrieve_payment"]
    assert service.get_payment_status(payment.id) is _P.COMPLETED


def test_an_event_from_a_gateway_the_payment_failed_over_from_is_history() -> None:
    """After failover, the first gateway's events are logged and ignored."""
    first = ScriptedWebhooks(SandboxGateway(name="first"))
    second = SandboxGateway(name="second")
    service = PaymentService(InMemoryStorage(), {"credit_card": [first, second]})
    # The first gateway declines for a technical reason, so the second is tried.
    routed = _pay(service, SandboxToken.PROCESSING_ERROR)
    payment = routed
    assert routed.provider == "second"
    body = delivery(
        event_id="evt_old",
        type="payment.failed",
        payment_id=payment.id,
        result={"outcome": "declined"},
    )

    service.handle_webhook("first", {}, body)

    assert service.get_payment(payment.id).status is routed.status
    assert _log_types(service, payment.id)[-1] is LogType.EVENT_IGNORED


def test_two_deliveries_of_one_event_at_once_apply_it_once(
    scripted: ScriptedWebhooks,
) -> None:
    """Concurrent deliveries of one event: one applies, the other is a duplicate."""
    inner = InMemoryStorage()
    body = b""
    answers: list[WebhookOutcome] = []

    def deliver_again() -> None:
        answers.append(racing_service.handle_webhook("sandbox", {}, body).outcome)

    racing = RunBeforeCommit(inner, deliver_again)
    setup = PaymentService(inner, {"credit_card": scripted})
    payment = _pay(setup, SandboxToken.TIMEOUT)
    body = delivery(
        event_id="evt_twice",
        type="payment.succeeded",
        payment_id=payment.id,
        result={"outcome": "succeeded"},
    )
    racing_service = PaymentService(inner, {"credit_card": scripted})
    first_service = PaymentService(racing, {"credit_card": scripted})

    answers.append(first_service.handle_webhook("sandbox", {}, body).outcome)

    assert answers == [WebhookOutcome.APPLIED, WebhookOutcome.DUPLICATE]
    assert racing.conflicts == 1  # the first delivery lost the race and re-read
    log = _log_types(setup, payment.id)
    assert log.count(LogType.WEBHOOK_RECEIVED) == 1
    assert log.count(LogType.PAYMENT_PROCESSED) == 1


def test_reconcile_sweeps_apply_events_that_still_wait(
    scripted: ScriptedWebhooks, sandbox: SandboxGateway
) -> None:
    """An event whose payment appeared without teaching paykit the provider id is retried."""
    storage = InMemoryStorage()
    service = PaymentService(storage, {"credit_card": scripted})
    payment = _pay_and_lose_the_answer(service, scripted)
    [charge] = sandbox.ledger_for(payment.id)
    body = delivery(
        event_id="evt_orphan",
        type="payment.succeeded",
        provider_payment_id=charge.provider_id,
        result={"outcome": "succeeded"},
    )
    assert service.handle_webhook("sandbox", {}, body).outcome is WebhookOutcome.UNMATCHED
    with storage.unit_of_work() as uow:  # the host records the provider's id by hand
        record = uow.payments.get(payment.id)
        record.provider_payment_id = charge.provider_id
        uow.payments.update(record)
        uow.commit()

    report = service.reconcile(older_than=timedelta(hours=1))  # too young to ask the provider

    assert (report.webhooks_applied, report.webhooks_waiting) == (1, 0)
    assert report.payments.examined == 0
    assert service.get_payment_status(payment.id) is _P.COMPLETED
    assert service.list_unmatched_webhook_events() == []


def _orphan(event_id: str, provider_payment_id: str = "pi_never_seen") -> bytes:
    """A delivery about a payment this service will never know (made in a dashboard)."""
    return delivery(
        event_id=event_id,
        type="payment.succeeded",
        provider_payment_id=provider_payment_id,
        result={"outcome": "succeeded"},
    )


def test_old_unmatched_events_are_given_up_on_so_newer_ones_get_their_turn(
    scripted: ScriptedWebhooks, sandbox: SandboxGateway
) -> None:
    """Events that never match would hold the sweep's oldest ``limit`` for good; they expire."""
    now = [datetime(2024, 1, 1, 12, tzinfo=UTC)]
    storage = InMemoryStorage()
    service = PaymentService(storage, {"credit_card": scripted}, clock=lambda: now[0])
    for number in range(3):
        assert service.handle_webhook("sandbox", {}, _orphan(f"evt_old_{number}")).outcome == (
            WebhookOutcome.UNMATCHED
        )
    now[0] += timedelta(days=5)
    payment = _pay_and_lose_the_answer(service, scripted)
    [charge] = sandbox.ledger_for(payment.id)
    body = _orphan("evt_late", charge.provider_id)
    assert service.handle_webhook("sandbox", {}, body).outcome is WebhookOutcome.UNMATCHED
    with storage.unit_of_work() as uow:  # the host records the provider's id by hand
        record = uow.payments.get(payment.id)
        record.provider_payment_id = charge.provider_id
        uow.payments.update(record)
        uow.commit()

    def sweep(give_up_after: timedelta | None) -> tuple[int, int, int]:
        report = service.reconcile(
            older_than=timedelta(days=30), limit=2, give_up_after=give_up_after
        )
        return report.webhooks_applied, report.webhooks_expired, report.webhooks_waiting

    # Never giving up: the three orphans fill the limit on every sweep; the late event waits.
    assert sweep(None) == (0, 0, 4)
    assert sweep(None) == (0, 0, 4)
    assert sweep(timedelta(days=6)) == (0, 0, 4)  # the orphans are only five days old
    now[0] += timedelta(days=2)
    assert sweep(timedelta(days=6)) == (0, 2, 2)  # two orphans expire, one is still in line
    assert sweep(timedelta(days=6)) == (1, 1, 0)  # the late event matches; the last orphan goes

    assert service.get_payment_status(payment.id) is _P.COMPLETED
    assert service.list_unmatched_webhook_events() == []
    with storage.unit_of_work() as uow:
        statuses = {
            entry.event_id: entry.status
            for entry in (
                uow.webhook_inbox.find("sandbox", event_id)
                for event_id in ("evt_old_0", "evt_old_1", "evt_old_2", "evt_late")
            )
            if entry is not None
        }
    assert statuses == {
        "evt_old_0": InboxStatus.EXPIRED,
        "evt_old_1": InboxStatus.EXPIRED,
        "evt_old_2": InboxStatus.EXPIRED,
        "evt_late": InboxStatus.APPLIED,
    }
    # A redelivery of an expired event changes nothing: it was received once.
    assert service.handle_webhook("sandbox", {}, _orphan("evt_old_0")).outcome is (
        WebhookOutcome.DUPLICATE
    )


def test_an_old_event_that_matches_now_is_applied_not_expired(
    scripted: ScriptedWebhooks, sandbox: SandboxGateway
) -> None:
    """The sweep tries an event once more before giving up on it."""
    now = [datetime(2024, 1, 1, 12, tzinfo=UTC)]
    storage = InMemoryStorage()
    service = PaymentService(storage, {"credit_card": scripted}, clock=lambda: now[0])
    payment = _pay_and_lose_the_answer(service, scripted)
    [charge] = sandbox.ledger_for(payment.id)
    service.handle_webhook("sandbox", {}, _orphan("evt_1", charge.provider_id))
    with storage.unit_of_work() as uow:
        record = uow.payments.get(payment.id)
        record.provider_payment_id = charge.provider_id
        uow.payments.update(record)
        uow.commit()
    now[0] += timedelta(days=30)

    report = service.reconcile(older_than=timedelta(days=60), give_up_after=timedelta(days=1))

    assert (report.webhooks_applied, report.webhooks_expired) == (1, 0)
    assert service.get_payment_status(payment.id) is _P.COMPLETED


@pytest.mark.parametrize("give_up_after", [timedelta(0), timedelta(seconds=-1)])
def test_give_up_after_must_be_positive(
    scripted_service: PaymentService, give_up_after: timedelta
) -> None:
    """Zero or negative would expire every event at once: refused, naming the field."""
    with pytest.raises(ValidationError) as raised:
        scripted_service.reconcile(give_up_after=give_up_after)

    assert raised.value.field == "give_up_after"
