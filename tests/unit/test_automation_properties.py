"""Properties of the automated refund policies over random histories (hypothesis).

Whatever the payments (captured, authorized, pending, partly refunded, duplicated), the
policies never give back more than was captured, and running them a second time changes
nothing: no money moves, no record or audit entry is added.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paykit import (
    InMemoryStorage,
    Money,
    Payment,
    PaymentService,
    PaymentStatus,
    SandboxGateway,
)
from paykit.automation import (
    ActionMode,
    AutomationSettings,
    DuplicateChargePolicy,
    EarlyDisputePolicy,
    ExpiringAuthorizationPolicy,
    OrderState,
    Policy,
    UnwantedPaymentPolicy,
)
from paykit.domain.dispute import DisputeStatus
from paykit.gateways import LedgerKind
from paykit.gateways.base import WebhookEventType

_P = PaymentStatus
T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)

payment_specs = st.lists(
    st.fixed_dictionaries(
        {
            "cents": st.sampled_from([500, 1000, 2500, 9999]),
            "order": st.sampled_from(["ord_a", "ord_b", "ord_c"]),
            "customer": st.sampled_from(["cus_1", "cus_2"]),
            "how": st.sampled_from(["capture", "authorize", "pending", "partly_refunded"]),
            "inquiry": st.booleans(),
            "minutes_later": st.integers(min_value=0, max_value=90),
        }
    ),
    min_size=1,
    max_size=8,
)


class _Clock:
    """A clock moved by hand; each reading is a millisecond after the last."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        """The time now (and a millisecond later next time)."""
        self.now += timedelta(milliseconds=1)
        return self.now


def _all_on(order_states: dict[str, OrderState]) -> AutomationSettings:
    auto = ActionMode.AUTO
    return AutomationSettings(
        order_cancelled=Policy(mode=auto),
        duplicate_charge=DuplicateChargePolicy(mode=auto),
        late_success=Policy(mode=auto),
        early_dispute=EarlyDisputePolicy(mode=auto, threshold={"USD": "50.00"}),
        expiring_authorization=ExpiringAuthorizationPolicy(mode=auto, void_after=timedelta(days=1)),
        unwanted_payment=UnwantedPaymentPolicy(
            mode=auto,
            order_state=lambda order_id, _payment: order_states.get(order_id, OrderState.OPEN),
        ),
    )


def _make(
    service: PaymentService, sandbox: SandboxGateway, clock: _Clock, spec: dict[str, object]
) -> Payment:
    clock.now += timedelta(minutes=int(str(spec["minutes_later"])))
    customer = str(spec["customer"])
    cents = int(str(spec["cents"]))
    card = service.add_payment_method(customer, type="credit_card", token="tok_visa")
    how = spec["how"]
    payment = service.create_payment(
        customer_id=customer,
        order_id=str(spec["order"]),
        payment_method_id=card.id,
        amount=f"{cents // 100}.{cents % 100:02d}",
        currency="USD",
        capture=how != "authorize",
    )
    if how == "pending":
        return payment
    payment = service.process_payment(payment.id)
    if how == "partly_refunded":
        refund = service.create_refund(payment.id, "1.00", reason="goodwill")
        service.process_refund(refund.id)
    if spec["inquiry"] and payment.status is _P.COMPLETED:
        assert payment.provider_payment_id is not None
        dispute_id = sandbox.open_dispute(
            payment.provider_payment_id, status=DisputeStatus.WARNING_NEEDS_RESPONSE
        )
        headers, body = sandbox.webhook_for(
            WebhookEventType.DISPUTE_CREATED,
            payment.provider_payment_id,
            provider_dispute_id=dispute_id,
        )
        service.handle_webhook("sandbox", headers, body)
    return service.get_payment(payment.id)


def _snapshot(
    service: PaymentService, storage: InMemoryStorage, sandbox: SandboxGateway
) -> tuple[object, ...]:
    payments = sorted(
        (p.id, p.status, p.captured_amount, p.refunded_amount, p.refund_reserved_amount)
        for p in storage.payments.values()
    )
    actions = sorted((a.id, a.status, a.refund_id) for a in service.automation.actions())
    log_sizes = sorted((pid, len(entries)) for pid, entries in storage.log.items())
    return (len(sandbox.ledger), payments, actions, log_sizes)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    specs=payment_specs, states=st.lists(st.sampled_from(list(OrderState)), min_size=3, max_size=3)
)
def test_policies_never_return_more_than_captured_and_a_rerun_changes_nothing(
    specs: list[dict[str, object]], states: list[OrderState]
) -> None:
    """Every policy on, in auto mode, over a random history: bounded, and idempotent."""
    storage, sandbox, clock = InMemoryStorage(), SandboxGateway(), _Clock()
    quiet = PaymentService(storage, {"credit_card": sandbox}, clock=clock)
    payments = [_make(quiet, sandbox, clock, spec) for spec in specs]
    order_states = dict(zip(["ord_a", "ord_b", "ord_c"], states, strict=True))
    service = PaymentService(
        storage, {"credit_card": sandbox}, clock=clock, automation=_all_on(order_states)
    )
    clock.now += timedelta(days=2)  # every authorization is now due to be voided

    def run_everything() -> None:
        service.automation.sweep()
        service.order_cancelled("ord_c", reason="customer asked")

    run_everything()
    after_first = _snapshot(service, storage, sandbox)
    run_everything()

    assert _snapshot(service, storage, sandbox) == after_first
    for payment in payments:
        stored = service.get_payment(payment.id)
        assert stored.refunded_amount + stored.refund_reserved_amount <= stored.captured_amount
        refunded = [e.amount for e in sandbox.ledger_for(payment.id) if e.kind is LedgerKind.REFUND]
        charged = sandbox.charged_total(payment.id)
        total = sum(refunded, Money.zero("USD"))
        assert total <= (charged or Money.zero("USD"))
        if payment.status is _P.AUTHORIZED:  # void before refund: a hold is never refunded
            assert refunded == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=payment_specs,
    policy=st.sampled_from(
        [
            "order_cancelled",
            "duplicate_charge",
            "early_dispute",
            "expiring_authorization",
            "unwanted_payment",
        ]
    ),
    mode=st.sampled_from([ActionMode.DRY_RUN, ActionMode.PROPOSE, ActionMode.AUTO]),
)
def test_any_one_policy_run_twice_on_each_payment_changes_nothing_the_second_time(
    specs: list[dict[str, object]], policy: str, mode: ActionMode
) -> None:
    """One policy, in any mode, run on every payment twice: the second pass is a no-op."""
    storage, sandbox, clock = InMemoryStorage(), SandboxGateway(), _Clock()
    quiet = PaymentService(storage, {"credit_card": sandbox}, clock=clock)
    payments = [_make(quiet, sandbox, clock, spec) for spec in specs]
    everything = _all_on({"ord_a": OrderState.PAID, "ord_b": OrderState.EXPIRED})
    chosen = attrs.evolve(everything.policy(policy), mode=mode)
    service = PaymentService(
        storage,
        {"credit_card": sandbox},
        clock=clock,
        automation=AutomationSettings(**{policy: chosen}),  # type: ignore[arg-type]  # by name
    )
    clock.now += timedelta(days=2)
    moves_before = len(sandbox.ledger)

    for payment in payments:
        service.automation.run(policy, payment.id)
    after_first = _snapshot(service, storage, sandbox)
    for payment in payments:
        assert service.automation.run(policy, payment.id) is None
    assert _snapshot(service, storage, sandbox) == after_first
    if mode is not ActionMode.AUTO:  # dry runs and proposals move no money
        assert len(sandbox.ledger) == moves_before
