"""Automated refund policies: each policy in each mode, caps, void before refund, reruns."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from paykit import (
    ALL_EVENTS,
    Event,
    EventType,
    InMemoryStorage,
    LogType,
    Money,
    Payment,
    PaymentService,
    PaymentStatus,
    SandboxGateway,
    SandboxToken,
    ValidationError,
)
from paykit.automation import (
    ActionKind,
    ActionMode,
    ActionStatus,
    AutomationAction,
    AutomationSettings,
    DuplicateChargePolicy,
    EarlyDisputePolicy,
    ExpiringAuthorizationPolicy,
    OrderState,
    Policy,
    PolicyName,
    UnwantedPaymentPolicy,
)
from paykit.domain.dispute import DisputeStatus
from paykit.errors import InvalidStateTransition
from paykit.gateways import LedgerKind
from paykit.gateways.base import WebhookEventType

_P = PaymentStatus
_S = ActionStatus
_M = ActionMode
T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand; each reading is a millisecond after the last."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        """The time now (and a millisecond later next time)."""
        self.now += timedelta(milliseconds=1)
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the clock forward by ``timedelta(**delta)``."""
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    """The service's clock, starting at ``T0``."""
    return Clock()


Build = Callable[..., PaymentService]


@pytest.fixture
def build(
    storage: InMemoryStorage, sandbox: SandboxGateway, events: list[Event], clock: Clock
) -> Build:
    """A service over the sandbox with the given automation settings, recording its events."""

    def make(settings: AutomationSettings | None = None) -> PaymentService:
        service = PaymentService(
            storage,
            {"credit_card": sandbox},
            clock=clock,
            automation=settings,
        )
        service.events.subscribe(ALL_EVENTS, events.append)
        return service

    return make


def _pay(  # noqa: PLR0913 - the facts of one test payment
    service: PaymentService,
    amount: str = "40.00",
    *,
    order_id: str = "ord_1",
    customer_id: str = "cus_1",
    token: str = SandboxToken.SUCCESS,
    capture: bool = True,
    process: bool = True,
) -> Payment:
    card = service.add_payment_method(customer_id, type="credit_card", token=token)
    payment = service.create_payment(
        customer_id=customer_id,
        order_id=order_id,
        payment_method_id=card.id,
        amount=amount,
        currency="USD",
        capture=capture,
    )
    return service.process_payment(payment.id) if process else payment


def _usd(amount: str) -> Money:
    return Money.of(amount, "USD")


def _moves(sandbox: SandboxGateway, payment_id: str, kind: LedgerKind) -> list[Money]:
    return [entry.amount for entry in sandbox.ledger_for(payment_id) if entry.kind is kind]


def _automation_types(events: list[Event]) -> list[EventType]:
    return [event.type for event in events if event.type.startswith("automation.")]


def _on(policy: str, mode: ActionMode = _M.AUTO, **extra: object) -> AutomationSettings:
    """Settings with one policy on in ``mode``."""
    kinds: dict[str, type[Policy]] = {
        "duplicate_charge": DuplicateChargePolicy,
        "early_dispute": EarlyDisputePolicy,
        "expiring_authorization": ExpiringAuthorizationPolicy,
        "unwanted_payment": UnwantedPaymentPolicy,
    }
    return AutomationSettings(**{policy: kinds.get(policy, Policy)(mode=mode, **extra)})  # type: ignore[arg-type]  # one policy by name


# -- off by default ---------------------------------------------------------------------------


def test_without_settings_nothing_listens_and_nothing_is_refunded(
    build: Build, sandbox: SandboxGateway, storage: InMemoryStorage
) -> None:
    """A service with no policy on keeps its duplicates and records no action."""
    service = build()
    first = _pay(service)
    second = _pay(service)

    assert not service.automation.settings.any_on
    assert service.get_payment_status(first.id) is _P.COMPLETED
    assert service.get_payment_status(second.id) is _P.COMPLETED
    assert _moves(sandbox, second.id, LedgerKind.REFUND) == []
    assert storage.automation_actions == {}
    assert service.automation.sweep().examined == 0
    with pytest.raises(ValidationError, match="order_cancelled policy is off"):
        service.order_cancelled("ord_1")


def test_an_unknown_mode_is_refused() -> None:
    """A misspelt mode is an error naming the choices, not a policy silently off."""
    with pytest.raises(ValidationError, match="dry_run"):
        Policy(mode="dryrun")


def test_unwanted_payment_needs_the_hosts_callback() -> None:
    """The policy cannot be switched on without the host's order_state callback."""
    with pytest.raises(ValidationError, match="order_state"):
        AutomationSettings(unwanted_payment=UnwantedPaymentPolicy(mode=_M.AUTO))


# -- order_cancelled --------------------------------------------------------------------------


def test_order_cancelled_voids_refunds_and_cancels_each_payment(
    build: Build, sandbox: SandboxGateway, events: list[Event]
) -> None:
    """Authorized is voided (never refunded), captured refunded, pending cancelled."""
    service = build(_on("order_cancelled"))
    held = _pay(service, "10.00", capture=False)
    taken = _pay(service, "20.00")
    waiting = _pay(service, "30.00", process=False)
    assert (held.status, taken.status, waiting.status) == (_P.AUTHORIZED, _P.COMPLETED, _P.PENDING)

    actions = service.order_cancelled("ord_1", reason="out of stock")

    assert {(a.payment_id, a.kind, a.status) for a in actions} == {
        (held.id, ActionKind.VOID, _S.DONE),
        (taken.id, ActionKind.REFUND, _S.DONE),
        (waiting.id, ActionKind.CANCEL, _S.DONE),
    }
    assert service.get_payment_status(held.id) is _P.CANCELLED
    assert service.get_payment_status(taken.id) is _P.REFUNDED
    assert service.get_payment_status(waiting.id) is _P.CANCELLED
    assert _moves(sandbox, held.id, LedgerKind.VOID) == [_usd("10.00")]
    assert _moves(sandbox, held.id, LedgerKind.REFUND) == []
    assert _moves(sandbox, taken.id, LedgerKind.REFUND) == [_usd("20.00")]
    [refund] = service.list_refunds(taken.id)
    assert refund.reason == "order_cancelled"
    assert refund.metadata["processed_by"] == "automation:order_cancelled"
    assert refund.metadata["automation_policy"] == "order_cancelled"
    log = service.get_transaction_log(taken.id)
    automation = [entry for entry in log if entry.log_type is LogType.AUTOMATION]
    assert "out of stock" in automation[0].message
    assert automation[-1].data["status"] == "done"
    assert _automation_types(events).count(EventType.AUTOMATION_DONE) == 3


def test_order_cancelled_twice_changes_nothing(build: Build, sandbox: SandboxGateway) -> None:
    """The second call finds the policy's actions and moves no money."""
    service = build(_on("order_cancelled"))
    taken = _pay(service, "20.00")
    first = service.order_cancelled("ord_1")
    ledger, log = list(sandbox.ledger), service.get_transaction_log(taken.id)

    again = service.order_cancelled("ord_1")

    assert again == first
    assert sandbox.ledger == ledger
    assert service.get_transaction_log(taken.id) == log


def test_order_cancelled_leaves_a_payment_in_flight_alone(build: Build) -> None:
    """A payment whose outcome is unknown is not touched; a later call handles it."""
    service = build(_on("order_cancelled"))
    unknown = _pay(service, token=SandboxToken.TIMEOUT)
    assert unknown.status is _P.PROCESSING

    assert service.order_cancelled("ord_1") == []
    assert service.get_payment_status(unknown.id) is _P.PROCESSING


def test_order_cancelled_dry_run_records_and_moves_nothing_then_auto_acts(
    build: Build, sandbox: SandboxGateway, events: list[Event]
) -> None:
    """A dry run logs what it would do; switched to auto, the same decision is carried out."""
    service = build(_on("order_cancelled", _M.DRY_RUN))
    taken = _pay(service, "20.00")

    [action] = service.order_cancelled("ord_1")

    assert (action.status, action.mode, action.amount) == (_S.DRY_RUN, _M.DRY_RUN, _usd("20.00"))
    assert service.get_payment_status(taken.id) is _P.COMPLETED
    assert _moves(sandbox, taken.id, LedgerKind.REFUND) == []
    assert "would refund" in service.get_transaction_log(taken.id)[-1].message
    assert _automation_types(events) == [EventType.AUTOMATION_DRY_RUN]
    assert service.order_cancelled("ord_1") == [action]  # a rerun records nothing new

    service.automation.configure(_on("order_cancelled"))
    [done] = service.order_cancelled("ord_1")

    assert (done.id, done.status, done.mode) == (action.id, _S.DONE, _M.AUTO)
    assert _moves(sandbox, taken.id, LedgerKind.REFUND) == [_usd("20.00")]


def test_order_cancelled_proposals_are_approved_or_dismissed_by_a_person(
    build: Build, sandbox: SandboxGateway, events: list[Event]
) -> None:
    """Proposals wait in a listing; an approval acts and names who, a dismissal moves nothing."""
    service = build(_on("order_cancelled", _M.PROPOSE))
    approved = _pay(service, "20.00")
    dismissed = _pay(service, "5.00", order_id="ord_2")
    service.order_cancelled("ord_1")
    service.order_cancelled("ord_2")
    proposals = service.automation.proposals()
    assert [(p.payment_id, p.status) for p in proposals] == [
        (approved.id, _S.PROPOSED),
        (dismissed.id, _S.PROPOSED),
    ]
    assert _moves(sandbox, approved.id, LedgerKind.REFUND) == []

    done = service.automation.approve(proposals[0].id, by="alice")
    gone = service.automation.dismiss(proposals[1].id, by="bob", note="kept as store credit")

    assert (done.status, done.actor) == (_S.DONE, "alice")
    assert (gone.status, gone.actor) == (_S.DISMISSED, "bob")
    assert _moves(sandbox, approved.id, LedgerKind.REFUND) == [_usd("20.00")]
    assert _moves(sandbox, dismissed.id, LedgerKind.REFUND) == []
    [refund] = service.list_refunds(approved.id)
    assert refund.metadata["approved_by"] == "alice"
    messages = [entry.message for entry in service.get_transaction_log(dismissed.id)]
    assert any("dismissed by bob: kept as store credit" in message for message in messages)
    assert any(
        "approved by alice" in entry.message for entry in service.get_transaction_log(approved.id)
    )
    assert service.automation.proposals() == []
    assert EventType.AUTOMATION_DISMISSED in _automation_types(events)
    with pytest.raises(InvalidStateTransition, match="not proposed"):
        service.automation.approve(gone.id, by="alice")
    assert service.order_cancelled("ord_2")[0].status is _S.DISMISSED  # never proposed again


# -- duplicate_charge -------------------------------------------------------------------------


def test_a_duplicate_charge_is_refunded_in_full_and_the_first_kept(
    build: Build, sandbox: SandboxGateway, clock: Clock
) -> None:
    """The second completed payment of one customer, order and amount is refunded."""
    service = build(_on("duplicate_charge"))
    first = _pay(service)
    clock.advance(minutes=10)
    second = _pay(service)

    assert service.get_payment_status(first.id) is _P.COMPLETED
    assert service.get_payment_status(second.id) is _P.REFUNDED
    [refund] = service.list_refunds(second.id)
    assert (refund.reason, refund.amount) == ("duplicate", _usd("40.00"))
    assert refund.metadata["processed_by"] == "automation:duplicate_charge"
    assert _moves(sandbox, first.id, LedgerKind.REFUND) == []
    [action] = service.automation.actions(policy="duplicate_charge")
    assert action.payment_id == second.id
    assert first.id in action.reason


@pytest.mark.parametrize(
    ("gap", "amount", "customer", "order"),
    [
        (timedelta(hours=2), "40.00", "cus_1", "ord_1"),  # outside the window
        (timedelta(minutes=1), "41.00", "cus_1", "ord_1"),  # another amount
        (timedelta(minutes=1), "40.00", "cus_2", "ord_1"),  # another customer
        (timedelta(minutes=1), "40.00", "cus_1", "ord_2"),  # another order
    ],
)
def test_a_payment_that_is_not_a_duplicate_is_kept(  # noqa: PLR0913, PLR0917 - the varied facts
    build: Build, clock: Clock, gap: timedelta, amount: str, customer: str, order: str
) -> None:
    """Only the same customer, order and amount within the window counts as a duplicate."""
    service = build(_on("duplicate_charge", window=timedelta(hours=1)))
    _pay(service)
    clock.now += gap
    later = _pay(service, amount, customer_id=customer, order_id=order)

    assert service.get_payment_status(later.id) is _P.COMPLETED
    assert service.automation.actions() == []


def test_duplicate_charges_are_found_by_the_sweep_too(
    build: Build, storage: InMemoryStorage, sandbox: SandboxGateway
) -> None:
    """Duplicates made while the policy was off are refunded by the next sweep, once."""
    quiet = build()
    _pay(quiet)
    second = _pay(quiet)
    third = _pay(quiet)
    service = build(_on("duplicate_charge"))

    report = service.automation.sweep()
    again = service.automation.sweep()

    assert report.count(_S.DONE, "duplicate_charge") == 2
    assert again.count(_S.DONE) == 0
    for duplicate in (second, third):
        assert _moves(sandbox, duplicate.id, LedgerKind.REFUND) == [_usd("40.00")]
    assert len(storage.automation_actions) == 2


# -- late_success -----------------------------------------------------------------------------


def _late_success(service: PaymentService, sandbox: SandboxGateway) -> Payment:
    """A payment paykit records as failed that the provider then says succeeded."""
    waiting = _pay(service, "25.00", token=SandboxToken.THREE_D_SECURE)
    provider_id = waiting.provider_payment_id
    assert provider_id is not None
    sandbox.complete_action(provider_id)
    for kind in (WebhookEventType.PAYMENT_FAILED, WebhookEventType.PAYMENT_SUCCEEDED):
        headers, body = sandbox.webhook_for(kind, provider_id)
        service.handle_webhook("sandbox", headers, body)
    return service.get_payment(waiting.id)


def test_a_late_success_is_refunded_at_the_provider(
    build: Build, sandbox: SandboxGateway, events: list[Event]
) -> None:
    """Failed here, succeeded there: refunded at the provider; paykit's record stays failed."""
    service = build(_on("late_success"))

    payment = _late_success(service, sandbox)

    assert payment.status is _P.FAILED
    assert EventType.PAYMENT_NEEDS_REVIEW in [event.type for event in events]
    assert _moves(sandbox, payment.id, LedgerKind.REFUND) == [_usd("25.00")]
    [action] = service.automation.actions(payment_id=payment.id)
    assert (action.kind, action.status) == (ActionKind.PROVIDER_REFUND, _S.DONE)
    assert "refunded at the provider" in service.get_transaction_log(payment.id)[-1].message
    assert service.automation.sweep().count(_S.DONE) == 0  # the sweep does not do it again
    assert _moves(sandbox, payment.id, LedgerKind.REFUND) == [_usd("25.00")]


def test_a_late_success_missed_while_the_policy_was_off_is_found_by_the_sweep(
    build: Build, sandbox: SandboxGateway
) -> None:
    """The review flag stays in the audit log; the sweep reads it and refunds, once."""
    payment = _late_success(build(), sandbox)
    service = build(_on("late_success"))

    first, second = service.automation.sweep(), service.automation.sweep()

    assert (first.count(_S.DONE), second.count(_S.DONE)) == (1, 0)
    assert _moves(sandbox, payment.id, LedgerKind.REFUND) == [_usd("25.00")]


def test_a_late_success_in_propose_mode_waits_for_a_person(
    build: Build, sandbox: SandboxGateway
) -> None:
    """Proposed: nothing moves until a person approves."""
    service = build(_on("late_success", _M.PROPOSE))
    payment = _late_success(service, sandbox)
    [proposal] = service.automation.proposals()
    assert _moves(sandbox, payment.id, LedgerKind.REFUND) == []

    service.automation.approve(proposal.id, by="carol")

    assert _moves(sandbox, payment.id, LedgerKind.REFUND) == [_usd("25.00")]


# -- early_dispute ----------------------------------------------------------------------------


def _dispute(
    service: PaymentService, sandbox: SandboxGateway, payment: Payment, status: DisputeStatus
) -> None:
    provider_id = payment.provider_payment_id
    assert provider_id is not None
    dispute_id = sandbox.open_dispute(provider_id, status=status)
    headers, body = sandbox.webhook_for(
        WebhookEventType.DISPUTE_CREATED, provider_id, provider_dispute_id=dispute_id
    )
    service.handle_webhook("sandbox", headers, body)


@pytest.mark.parametrize(
    ("amount", "status", "refunded"),
    [
        ("20.00", DisputeStatus.WARNING_NEEDS_RESPONSE, True),
        ("25.00", DisputeStatus.WARNING_UNDER_REVIEW, True),  # at the threshold
        ("25.01", DisputeStatus.WARNING_NEEDS_RESPONSE, False),  # above it
        ("20.00", DisputeStatus.NEEDS_RESPONSE, False),  # already a chargeback
    ],
)
def test_a_small_inquiry_is_refunded_before_it_becomes_a_chargeback(
    build: Build, sandbox: SandboxGateway, amount: str, status: DisputeStatus, *, refunded: bool
) -> None:
    """Only an open inquiry at or below the threshold in its currency is refunded."""
    service = build(_on("early_dispute", threshold={"USD": "25.00"}))
    payment = _pay(service, amount)

    _dispute(service, sandbox, payment, status)

    expected = [_usd(amount)] if refunded else []
    assert _moves(sandbox, payment.id, LedgerKind.REFUND) == expected
    if refunded:
        [refund] = service.list_refunds(payment.id)
        assert refund.reason == "early_dispute"


def test_an_inquiry_in_a_currency_without_threshold_is_kept(
    build: Build, sandbox: SandboxGateway
) -> None:
    """A threshold in EUR says nothing about a USD inquiry."""
    service = build(_on("early_dispute", threshold={"EUR": "25.00"}))
    payment = _pay(service, "5.00")

    _dispute(service, sandbox, payment, DisputeStatus.WARNING_NEEDS_RESPONSE)

    assert _moves(sandbox, payment.id, LedgerKind.REFUND) == []


# -- expiring_authorization -------------------------------------------------------------------


def test_an_authorization_about_to_lapse_is_voided_by_the_sweep(
    build: Build, sandbox: SandboxGateway, clock: Clock
) -> None:
    """Older than void_after: voided (never refunded); younger ones are left alone."""
    service = build(_on("expiring_authorization", void_after=timedelta(days=6)))
    old = _pay(service, capture=False)
    clock.advance(days=2)
    young = _pay(service, capture=False, order_id="ord_2")
    clock.advance(days=4, seconds=1)

    report = service.automation.sweep()

    assert report.count(_S.DONE, "expiring_authorization") == 1
    assert service.get_payment_status(old.id) is _P.CANCELLED
    assert service.get_payment_status(young.id) is _P.AUTHORIZED
    assert _moves(sandbox, old.id, LedgerKind.VOID) == [_usd("40.00")]
    assert _moves(sandbox, old.id, LedgerKind.REFUND) == []


def test_a_providers_own_authorization_limit_applies(build: Build, clock: Clock) -> None:
    """``per_provider`` overrides ``void_after`` for that provider."""
    settings = _on(
        "expiring_authorization",
        void_after=timedelta(days=6),
        per_provider={"sandbox": timedelta(days=1)},
    )
    service = build(settings)
    held = _pay(service, capture=False)
    clock.advance(days=1)

    service.automation.sweep()

    assert service.get_payment_status(held.id) is _P.CANCELLED


# -- unwanted_payment -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "capture", "expected"),
    [
        (OrderState.PAID, True, _P.REFUNDED),
        (OrderState.EXPIRED, True, _P.REFUNDED),
        (OrderState.OPEN, True, _P.COMPLETED),
        (OrderState.EXPIRED, False, _P.CANCELLED),  # authorized only: voided
    ],
)
def test_a_payment_for_an_order_already_paid_or_expired_is_given_back(
    build: Build, state: OrderState, *, capture: bool, expected: PaymentStatus
) -> None:
    """The host's answer decides; an authorization is voided rather than refunded."""
    asked: list[tuple[str, str]] = []

    def order_state(order_id: str, payment: Payment) -> OrderState:
        asked.append((order_id, payment.id))
        return state

    service = build(_on("unwanted_payment", order_state=order_state))
    payment = _pay(service, capture=capture)

    assert service.get_payment_status(payment.id) is expected
    assert asked == [("ord_1", payment.id)]


def test_a_bad_answer_from_the_host_is_logged_and_nothing_moves(
    build: Build, caplog: pytest.LogCaptureFixture
) -> None:
    """An order_state answer that is not an OrderState stops nothing but this decision."""
    service = build(_on("unwanted_payment", order_state=lambda _order, _payment: "gone"))
    payment = _pay(service)

    assert service.get_payment_status(payment.id) is _P.COMPLETED
    assert "order_state returned 'gone'" in caplog.text


# -- caps -------------------------------------------------------------------------------------


def test_over_the_daily_count_cap_an_action_is_proposed_instead(
    build: Build, sandbox: SandboxGateway, clock: Clock
) -> None:
    """The cap stops the machine, not the person; a new day starts a new count."""
    service = build(_on("duplicate_charge", daily_count_cap=1, window=timedelta(days=2)))
    _pay(service)
    second = _pay(service)
    third = _pay(service)

    assert service.get_payment_status(second.id) is _P.REFUNDED
    assert service.get_payment_status(third.id) is _P.COMPLETED
    [proposal] = service.automation.proposals()
    assert proposal.payment_id == third.id
    assert "daily cap of 1" in service.get_transaction_log(third.id)[-1].message

    clock.advance(days=1)
    fourth = _pay(service)
    assert service.get_payment_status(fourth.id) is _P.REFUNDED
    service.automation.approve(proposal.id, by="dave")  # a person is not capped
    assert _moves(sandbox, third.id, LedgerKind.REFUND) == [_usd("40.00")]


def test_the_daily_amount_cap_counts_per_currency(build: Build) -> None:
    """Refunds beyond the day's amount cap in that currency are proposed instead."""
    service = build(_on("duplicate_charge", daily_amount_cap={"USD": "50.00"}))
    _pay(service)
    second = _pay(service)
    third = _pay(service)

    assert service.get_payment_status(second.id) is _P.REFUNDED
    assert service.get_payment_status(third.id) is _P.COMPLETED
    assert "daily cap of 50.00 USD" in service.get_transaction_log(third.id)[-1].message


def test_a_cap_in_another_currency_is_refused() -> None:
    """A cap given as money in another currency is an error, not a silent mix-up."""
    with pytest.raises(ValidationError, match="given in EUR"):
        Policy(daily_amount_cap={"USD": Money.of("5", "EUR")})


# -- failures and crashes ---------------------------------------------------------------------


def test_a_refused_refund_fails_the_action_and_tells_the_host(
    build: Build, events: list[Event]
) -> None:
    """The provider refuses the refund: the action is failed with why, for a person."""
    quiet = build()
    _pay(quiet, token=SandboxToken.REFUND_FAIL)
    second = _pay(quiet, token=SandboxToken.REFUND_FAIL)
    service = build(_on("duplicate_charge"))

    report = service.automation.sweep()

    assert report.count(_S.FAILED) == 1
    [action] = service.automation.actions(payment_id=second.id)

    assert action.status is _S.FAILED
    assert action.refund_id is not None
    assert action.error is not None
    assert "failed" in action.error
    assert EventType.AUTOMATION_FAILED in _automation_types(events)
    assert service.get_payment_status(second.id) is _P.COMPLETED


def test_a_sweep_finishes_an_action_a_crashed_worker_left_in_progress(
    build: Build, storage: InMemoryStorage, sandbox: SandboxGateway, clock: Clock
) -> None:
    """Past its lease, another worker takes the action over; the money moves once."""
    service = build(_on("order_cancelled"))
    payment = _pay(service, "20.00")
    stalled = AutomationAction(
        id="act_stalled",
        policy=PolicyName.ORDER_CANCELLED,
        payment_id=payment.id,
        mode=_M.AUTO,
        status=_S.IN_PROGRESS,
        kind=ActionKind.REFUND,
        amount=_usd("20.00"),
        reason="the host cancelled order ord_1",
        actor="automation",
        created_at=clock.now,
        updated_at=clock.now,
        lease_until=clock.now + timedelta(minutes=5),
    )
    with storage.unit_of_work() as uow:
        uow.automation_actions.add(stalled)
        uow.commit()

    assert service.automation.sweep().resumed == 0  # the lease still runs
    clock.advance(minutes=6)
    report = service.automation.sweep()
    again = service.automation.sweep()

    assert (report.resumed, again.resumed) == (1, 0)
    assert service.automation.get_action("act_stalled").status is _S.DONE
    assert _moves(sandbox, payment.id, LedgerKind.REFUND) == [_usd("20.00")]


def test_a_refund_the_crashed_worker_created_is_not_made_twice(
    build: Build, storage: InMemoryStorage, sandbox: SandboxGateway, clock: Clock
) -> None:
    """The resumed action finds the refund by its idempotency key and only processes it."""
    service = build(_on("duplicate_charge"))
    _pay(service)
    second = _pay(service)
    [action] = service.automation.actions()
    refunded = _moves(sandbox, second.id, LedgerKind.REFUND)
    with storage.unit_of_work() as uow:  # as if the worker died before recording the end
        stored = uow.automation_actions.get(action.id)
        stored.status = _S.IN_PROGRESS
        stored.lease_until = clock.now
        uow.automation_actions.update(stored)
        uow.commit()

    clock.advance(seconds=1)
    report = service.automation.sweep()

    assert report.resumed == 1
    assert _moves(sandbox, second.id, LedgerKind.REFUND) == refunded == [_usd("40.00")]
    assert len(service.list_refunds(second.id)) == 1


def test_listing_filters_are_checked(build: Build) -> None:
    """A status that does not exist is an error naming the choices."""
    service = build(_on("duplicate_charge"))
    with pytest.raises(ValidationError, match="proposed"):
        service.automation.actions(status="waiting")
    with pytest.raises(ValueError, match="not a valid PolicyName"):
        service.automation.actions(policy="refund_everything")


def test_amounts_are_exact(build: Build) -> None:
    """Refund amounts keep the currency's decimals (no float anywhere)."""
    service = build(_on("duplicate_charge"))
    _pay(service, "0.10")
    second = _pay(service, "0.10")
    [refund] = service.list_refunds(second.id)
    assert refund.amount.amount == Decimal("0.10")
