"""Reconciling Stripe payments whose charge answer never arrived, through ``PaymentService``.

Without the PaymentIntent id, the adapter finds a payment by searching paykit's metadata.
Search trails writes, so "nothing found" means "not yet" -- until the charge was sent longer
ago than the index can trail (``search_trusted_after``): then Stripe never received it and
the payment fails, instead of waiting in ``processing`` forever.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from _stripe_support import NOW, WEBHOOK_SECRET, charge_request, make_fake, make_gateway

from paykit import (
    ALL_EVENTS,
    Event,
    EventType,
    InMemoryStorage,
    LogType,
    PaymentService,
    PaymentStatus,
    WebhookOutcome,
)
from paykit.gateways import NOT_FOUND
from paykit.testing.fake_stripe import FakeStripe, FakeToken, Fault

_P = PaymentStatus


class Clock:
    """One clock for the service and the adapter, moved by hand."""

    def __init__(self) -> None:
        self.now = datetime.fromtimestamp(NOW, UTC)

    def __call__(self) -> datetime:
        """The service's view of now."""
        return self.now

    def seconds(self) -> float:
        """The same instant as Unix seconds, for the adapter."""
        return self.now.timestamp()


def _shop(fake: FakeStripe, clock: Clock) -> tuple[PaymentService, list[Event]]:
    gateway = make_gateway(fake.transport, max_network_retries=0, clock=clock.seconds)
    service = PaymentService(InMemoryStorage(), gateways={"credit_card": gateway}, clock=clock)
    events: list[Event] = []
    service.events.subscribe(ALL_EVENTS, events.append)
    return service, events


def _charge_with(fake: FakeStripe, fault: Fault, service: PaymentService) -> str:
    """A card payment whose one charge attempt meets ``fault``; it stays ``processing``."""
    card = service.add_payment_method("cus_1", type="credit_card", token=FakeToken.SUCCESS)
    payment = service.create_payment(
        customer_id="cus_1",
        order_id="ord_1",
        payment_method_id=card.id,
        amount="25.00",
        currency="USD",
    )
    fake.inject(fault, method="POST", path="/v1/payment_intents")
    waiting = service.process_payment(payment.id)
    assert (waiting.status, waiting.provider_payment_id) == (_P.PROCESSING, None)
    return payment.id


def test_a_charge_stripe_never_received_fails_once_search_has_caught_up() -> None:
    """Reset before Stripe saw it: unknown for two hours, then failed with ``not_found``."""
    fake, clock = make_fake(), Clock()
    service, events = _shop(fake, clock)
    payment_id = _charge_with(fake, Fault.connection_refused(), service)

    clock.now += timedelta(minutes=30)
    early = service.reconcile(older_than=timedelta(minutes=15))

    assert (early.payments.examined, early.payments.still_unknown) == (1, 1)
    assert service.get_payment_status(payment_id) is _P.PROCESSING

    clock.now += timedelta(hours=2)
    late = service.reconcile(older_than=timedelta(minutes=15), backoff=timedelta(seconds=1))

    assert late.payments.settled == 1
    failed = service.get_payment(payment_id)
    assert failed.status is _P.FAILED
    assert failed.failure_code == NOT_FOUND
    assert [e.type for e in events if e.payment.id == payment_id][-1] is EventType.PAYMENT_FAILED
    assert fake.charged_units(payment_id) == 0
    assert fake.payment_intents_for(payment_id) == []


def test_a_charge_whose_answer_was_lost_is_found_not_failed_however_late() -> None:
    """Stripe charged and the answer was lost: search finds it, even hours later."""
    fake, clock = make_fake(), Clock()
    service, _events = _shop(fake, clock)
    payment_id = _charge_with(fake, Fault.timeout_after_success(), service)

    clock.now += timedelta(hours=5)
    report = service.reconcile(older_than=timedelta(minutes=15))

    assert report.payments.settled == 1
    completed = service.get_payment(payment_id)
    assert completed.status is _P.COMPLETED
    assert completed.provider_payment_id is not None
    assert fake.charged_units(payment_id) == 2500


def test_a_payment_failed_as_never_received_that_turns_up_is_flagged_not_reopened() -> None:
    """Search lagged past the limit after all: Stripe's success event is flagged for review."""
    fake, clock = make_fake(), Clock()
    service, events = _shop(fake, clock)
    payment_id = _charge_with(fake, Fault.connection_refused(), service)
    clock.now += timedelta(hours=3)
    service.reconcile(older_than=timedelta(minutes=15))
    assert service.get_payment_status(payment_id) is _P.FAILED
    # The charge existed at Stripe all along (here: made now, under the same paykit id).
    gateway = make_gateway(fake.transport, clock=clock.seconds)
    charged = gateway.charge(charge_request(payment_id=payment_id))
    assert charged.provider_id is not None
    intent = fake.payment_intent(charged.provider_id)

    result = service.handle_webhook(
        "stripe",
        *fake.sign_webhook(
            fake.event("payment_intent.succeeded", intent),
            secret=WEBHOOK_SECRET,
            timestamp=int(clock.seconds()),  # signed "now" on the shop's clock
        ),
    )

    assert result.outcome is WebhookOutcome.APPLIED
    assert service.get_payment_status(payment_id) is _P.FAILED  # never moved backwards
    log = [entry.log_type for entry in service.get_transaction_log(payment_id)]
    assert log[-1] is LogType.NEEDS_REVIEW
    assert EventType.PAYMENT_NEEDS_REVIEW in [e.type for e in events]
