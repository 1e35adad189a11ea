"""Fraud screening in the service: block, review and approve/reject, velocity, lists, scorer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from paykit import (
    Event,
    InMemoryStorage,
    InvalidStateTransition,
    LogType,
    Money,
    Payment,
    PaymentMethod,
    PaymentMethodType,
    PaymentService,
    PaymentStatus,
    SandboxGateway,
)
from paykit.errors import ValidationError
from paykit.fraud import (
    FRAUD_BLOCKED,
    FakeFraudCheck,
    FraudScreening,
    ReviewState,
    RiskAction,
    RiskContext,
    Rule,
    Stage,
)
from paykit.gateways import LedgerKind

_P = PaymentStatus
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        """The time the test set."""
        return self.now


def _service(
    *rules: Rule, clock: Clock | None = None, **screening: object
) -> tuple[PaymentService, SandboxGateway, PaymentMethod]:
    sandbox = SandboxGateway()
    service = PaymentService(
        InMemoryStorage(),
        {"credit_card": sandbox},
        clock=clock or Clock(),
        fraud=FraudScreening(rules, **screening),  # type: ignore[arg-type]
    )
    card = service.add_payment_method("cus_1", type="credit_card", token="tok_visa")
    return service, sandbox, card


def _create(
    service: PaymentService,
    card: PaymentMethod,
    risk: RiskContext | None,
    *,
    amount: str = "20.00",
    capture: bool = True,
) -> Payment:
    """A pending USD payment of ``cus_1``, ``risk`` given to ``create_payment``."""
    return service.create_payment(
        customer_id="cus_1",
        order_id="ord_1",
        payment_method_id=card.id,
        amount=amount,
        currency="USD",
        capture=capture,
        risk=risk,
    )


def _pay(  # noqa: PLR0913 - the payment's facts a test varies
    service: PaymentService,
    card: PaymentMethod,
    amount: str = "20.00",
    *,
    email: str = "good@example.com",
    capture: bool = True,
    at_create: bool = False,
) -> Payment:
    risk = RiskContext(email=email, ip_address="203.0.113.9", ip_country="FR")
    payment = _create(service, card, risk if at_create else None, amount=amount, capture=capture)
    return service.process_payment(payment.id, risk=None if at_create else risk)


BLOCK_LISTED = Rule(name="listed", condition=":email: in @blocked", action="block", score=90)
BIG = Rule(name="big", condition=":amount: >= 500", action="review", score=30)


def test_block_fails_the_payment_and_sends_nothing_to_the_gateway() -> None:
    """A blocked payment is failed with ``fraud_blocked``; the sandbox never hears of it."""
    service, sandbox, card = _service(BLOCK_LISTED)
    service.risk_lists.add("blocked", "Thief@Example.com", by="ops")
    failed: list[Event] = []
    service.events.subscribe("payment.failed", failed.append)

    payment = _pay(service, card, email="thief@example.com")

    assert payment.status is _P.FAILED
    assert payment.failure_code == FRAUD_BLOCKED == "fraud_blocked"
    assert payment.attempt_count == 0
    assert sandbox.calls == []
    assert sandbox.ledger_for(payment.id) == []
    assert [event.payment.id for event in failed] == [payment.id]
    screened = [
        e for e in service.get_transaction_log(payment.id) if e.log_type is LogType.FRAUD_SCREENED
    ]
    assert len(screened) == 1
    assert screened[0].data["decision"] == "block"
    assert screened[0].data["score"] == 90
    assert screened[0].data["rules"][0]["inputs"] == {"email": "thief@example.com"}
    assessment = service.reviews.get(payment.id)
    assert assessment is not None
    assert assessment.declined


def test_an_allowed_payment_goes_on_as_without_screening() -> None:
    """Nothing matched: captured in one charge, the decision logged as ``allow``."""
    service, sandbox, card = _service(BLOCK_LISTED, BIG)
    payment = _pay(service, card)
    assert payment.status is _P.COMPLETED
    assert sandbox.calls == ["charge"]
    assert sandbox.charged_total(payment.id) == Money.of("20.00", "USD")
    log = service.get_transaction_log(payment.id)
    assert [e.data["decision"] for e in log if e.log_type is LogType.FRAUD_SCREENED] == ["allow"]


def test_review_authorizes_only_and_holds_the_payment() -> None:
    """``review`` on a purchase authorizes, emits ``payment.review_required`` and lists it."""
    service, sandbox, card = _service(BIG)
    held: list[Event] = []
    service.events.subscribe("payment.review_required", held.append)

    payment = _pay(service, card, "600.00")

    assert payment.status is _P.AUTHORIZED
    assert payment.capture is True  # the host's wish stands: approving captures
    assert sandbox.charged_total(payment.id) is None  # authorized, not captured
    assert [e.payment.id for e in held] == [payment.id]
    assert "big" in held[0].detail
    assert [a.id for a in service.list_reviews()] == [payment.id]
    with pytest.raises(InvalidStateTransition, match="held for fraud review"):
        service.capture_payment(payment.id)


def test_approving_a_review_captures_and_logs_who() -> None:
    """``approve_review`` captures the held payment and logs the reviewer."""
    service, sandbox, card = _service(BIG)
    payment = _pay(service, card, "600.00")

    approved = service.approve_review(payment.id, by="alice")

    assert approved.status is _P.COMPLETED
    assert sandbox.charged_total(payment.id) == Money.of("600.00", "USD")
    assert service.list_reviews() == []
    entry = [
        e for e in service.get_transaction_log(payment.id) if e.log_type is LogType.FRAUD_REVIEW
    ][-1]
    assert entry.data["by"] == "alice"
    assert entry.data["review_state"] == "approved"
    assessment = service.reviews.get(payment.id)
    assert assessment is not None
    assert (assessment.review_state, assessment.reviewed_by) == (ReviewState.APPROVED, "alice")


def test_approving_an_authorize_only_payment_leaves_it_authorized() -> None:
    """With ``capture=False`` the host captures later; approval only releases the hold."""
    service, _, card = _service(BIG)
    payment = _pay(service, card, "600.00", capture=False)
    assert service.approve_review(payment.id, by="alice").status is _P.AUTHORIZED
    assert service.capture_payment(payment.id).status is _P.COMPLETED


def test_rejecting_a_review_voids_the_authorization() -> None:
    """``reject_review`` voids the hold: nothing was ever captured."""
    service, sandbox, card = _service(BIG)
    payment = _pay(service, card, "600.00")

    rejected = service.reject_review(payment.id, by="bob")

    assert rejected.status is _P.CANCELLED
    assert sandbox.charged_total(payment.id) is None
    assert [entry.kind for entry in sandbox.ledger_for(payment.id)] == [
        LedgerKind.AUTHORIZATION,
        LedgerKind.VOID,
    ]
    assert "fraud review rejected by bob" in [
        e.message for e in service.get_transaction_log(payment.id)
    ]


def test_rejecting_after_approval_refunds_the_capture() -> None:
    """A payment approved and captured, then rejected, is refunded in full for fraud."""
    service, sandbox, card = _service(BIG)
    payment = _pay(service, card, "600.00")
    service.approve_review(payment.id, by="alice")

    rejected = service.reject_review(payment.id, by="bob")

    assert rejected.status is _P.REFUNDED
    assert sandbox.refunded_total(payment.id) == Money.of("600.00", "USD")
    [refund] = service.list_refunds(payment.id)
    assert refund.reason == "fraudulent"
    with pytest.raises(InvalidStateTransition):
        service.reject_review(payment.id, by="bob")  # decided already: nothing to redo


def test_a_payment_not_in_review_cannot_be_approved() -> None:
    """Approving an allowed payment is an illegal move; nothing changes."""
    service, _, card = _service(BIG)
    payment = _pay(service, card, "10.00")
    with pytest.raises(InvalidStateTransition, match="fraud review is none"):
        service.approve_review(payment.id, by="alice")


def test_a_declined_review_payment_leaves_the_queue() -> None:
    """The provider declined the held payment: nothing to review, and it counts as a decline."""
    service, _, _ = _service(BIG)
    card = service.add_payment_method("cus_1", type="credit_card", token="tok_decline")
    payment = _pay(service, card, "600.00")
    assert payment.status is _P.FAILED
    assert service.list_reviews() == []
    assessment = service.reviews.get(payment.id)
    assert assessment is not None
    assert assessment.declined


def test_context_given_at_create_is_used_at_process() -> None:
    """A context passed to ``create_payment`` is stored and screened at ``process_payment``."""
    service, sandbox, card = _service(BLOCK_LISTED)
    service.risk_lists.add("blocked", "thief@example.com")
    payment = _pay(service, card, email="thief@example.com", at_create=True)
    assert payment.failure_code == FRAUD_BLOCKED
    assert sandbox.calls == []


def test_a_context_given_at_process_is_laid_over_the_one_given_at_create() -> None:
    """What ``process_payment``'s context gives wins; what it leaves out stays as kept."""
    sanctioned = Rule(name="sanctioned", condition=":ip_country: in ('KP')", action="block")
    service, sandbox, card = _service(BLOCK_LISTED, sanctioned)
    service.risk_lists.add("blocked", "thief@example.com")
    payment = _create(
        service,
        card,
        RiskContext(email="thief@example.com", ip_country="FR", device_id="dev_1"),
    )

    processed = service.process_payment(
        payment.id, risk=RiskContext(email="good@example.com", ip_country="KP")
    )

    assert processed.failure_message == "blocked by fraud rule sanctioned"
    assert sandbox.calls == []
    decided = service.reviews.get(payment.id)
    assert decided is not None
    assert (decided.email, decided.ip_country, decided.device_id) == (
        "good@example.com",
        "KP",
        "dev_1",
    )
    assert decided.fired_rules == ("sanctioned",)


def test_a_context_given_at_create_waits_on_the_payment_until_the_claim() -> None:
    """No assessment before the claim, which writes the one assessment and clears the copy.

    Until then the context is the payment's (``risk_context``); the claim's assessment holds
    it with the method's card details, and the payment keeps no personal data twice.
    """
    storage = InMemoryStorage()
    service = PaymentService(
        storage, {"credit_card": SandboxGateway()}, clock=Clock(), fraud=FraudScreening([BIG])
    )
    card = PaymentMethod(
        id="pm_wallet",
        customer_id="cus_1",
        type=PaymentMethodType.CREDIT_CARD,
        provider="sandbox",
        provider_payment_method_id="tok_visa",
        card_country="GB",
        card_fingerprint="fp_1",
        wallet="apple_pay",
        created_at=T0,
        updated_at=T0,
    )
    with storage.unit_of_work() as uow:
        uow.payment_methods.add(card)
        uow.commit()
    payment = _create(service, card, RiskContext(email="a@example.com"))
    assert service.reviews.get(payment.id) is None  # nothing screened, nothing counted yet
    with storage.unit_of_work() as uow:
        assert uow.payments.get(payment.id).risk_context == RiskContext(email="a@example.com")
    service.process_payment(payment.id)
    decided = service.reviews.get(payment.id)
    assert decided is not None
    assert (decided.decision, decided.email, decided.version) == (
        RiskAction.ALLOW,
        "a@example.com",
        1,
    )
    assert (decided.card_fingerprint, decided.card_country, decided.wallet) == (
        "fp_1",
        "GB",
        "apple_pay",
    )
    with storage.unit_of_work() as uow:
        assert uow.payments.get(payment.id).risk_context is None


def test_a_kept_context_is_let_go_when_the_payment_leaves_pending() -> None:
    """Cancelled, or processed by a service that no longer screens: the payment keeps none."""
    service, _, card = _service(BIG)
    storage = service.context.storage
    unscreened = PaymentService(storage, {"credit_card": SandboxGateway()}, clock=Clock())
    kept = RiskContext(email="a@example.com")
    ids = [_create(service, card, kept).id for _ in range(2)]
    with storage.unit_of_work() as uow:
        assert [uow.payments.get(i).risk_context for i in ids] == [kept, kept]

    service.cancel_payment(ids[0])
    unscreened.process_payment(ids[1])

    with storage.unit_of_work() as uow:
        assert [uow.payments.get(i).risk_context for i in ids] == [None, None]
        assert uow.risk_assessments.find(ids[1]) is None  # never screened


def test_shadow_rules_are_logged_and_never_act() -> None:
    """A matching shadow ``block`` leaves the payment completed, named in the log."""
    shadow = Rule(name="watch", condition=":amount: > 1", action="block", score=50, shadow=True)
    service, _, card = _service(shadow)
    payment = _pay(service, card)
    assert payment.status is _P.COMPLETED
    [entry] = [
        e for e in service.get_transaction_log(payment.id) if e.log_type is LogType.FRAUD_SCREENED
    ]
    assert entry.data["score"] == 0
    assert [hit["name"] for hit in entry.data["shadow_rules"]] == ["watch"]


def test_request_3ds_is_recorded_on_the_assessment() -> None:
    """A ``request_3ds`` rule flags the assessment; allow/block/review still decide."""
    ask = Rule(name="ask", condition=":ip_country: != 'US'", action="request_3ds")
    service, _, card = _service(ask)
    payment = _pay(service, card)
    assessment = service.reviews.get(payment.id)
    assert assessment is not None
    assert assessment.three_d_secure is True
    assert assessment.decision is RiskAction.ALLOW


# -- velocity counters at the edges of their windows -------------------------------------------


def test_velocity_counts_the_window_and_not_before_it() -> None:
    """Three other payments by one email in the last 10 minutes send the next to review."""
    clock = Clock()
    rule = Rule(name="burst", condition=":payments_per_email_10m: >= 3", action="review")
    service, _, card = _service(rule, clock=clock)
    for minute in (0, 1, 2):
        clock.now = T0 + timedelta(minutes=minute)
        assert _pay(service, card).status is _P.COMPLETED
    clock.now = T0 + timedelta(minutes=9, seconds=59)
    assert _pay(service, card).status is _P.AUTHORIZED  # 3 others inside: reviewed
    clock.now = T0 + timedelta(minutes=10, seconds=1)
    # Window [00:01, 10:01): payments at 1, 2 and 9:59 -> 3 -> reviewed still.
    assert _pay(service, card).status is _P.AUTHORIZED
    clock.now = T0 + timedelta(minutes=30)
    assert _pay(service, card).status is _P.COMPLETED  # window empty again


def test_velocity_window_start_is_inclusive() -> None:
    """A payment created exactly N minutes before counts; one a microsecond older does not."""
    clock = Clock()
    rule = Rule(name="second", condition=":payments_per_email_5m: >= 1", action="review")
    service, _, card = _service(rule, clock=clock)
    _pay(service, card)
    clock.now = T0 + timedelta(minutes=5)
    assert _pay(service, card).status is _P.AUTHORIZED
    service.reject_review(service.list_reviews()[0].id, by="ops")
    other = RiskContext(email="fresh@example.com")
    payment = service.create_payment(
        customer_id="cus_1", order_id="o", payment_method_id=card.id, amount="1.00", currency="USD"
    )
    clock.now = T0 + timedelta(minutes=10, microseconds=1)
    assert service.process_payment(payment.id, risk=other).status is _P.COMPLETED


def test_declines_and_amount_totals() -> None:
    """Two declines by one customer within the hour block the third payment."""
    declines = Rule(name="declines", condition=":declines_per_customer_1h: >= 2", action="block")
    total = Rule(name="total", condition=":amount_per_email_1h: >= 100", action="review")
    service, _, good = _service(declines, total)
    bad = service.add_payment_method("cus_1", type="credit_card", token="tok_decline")
    assert _pay(service, bad, email="a@x.io").status is _P.FAILED
    assert _pay(service, bad, email="b@x.io").status is _P.FAILED
    blocked = _pay(service, good, email="c@x.io")
    assert blocked.failure_code == FRAUD_BLOCKED


def test_amount_totals_sum_the_window() -> None:
    """Two 60.00 payments by one email: the third is reviewed (120.00 >= 100)."""
    total = Rule(name="total", condition=":amount_per_email_1h: >= 100", action="review")
    service, _, card = _service(total)
    assert _pay(service, card, "60.00").status is _P.COMPLETED
    assert _pay(service, card, "60.00").status is _P.COMPLETED
    assert _pay(service, card, "1.00").status is _P.AUTHORIZED


# -- converted amounts and external scorers ------------------------------------------------------


def test_amount_in_a_reference_currency() -> None:
    """``:amount_in_usd:`` converts with the host's rates; no rate, no match."""
    from paykit.fraud import ExchangeRates  # noqa: PLC0415 - used here only

    rule = Rule(name="usd", condition=":amount_in_usd: > 100", action="review")
    sandbox = SandboxGateway()
    service = PaymentService(
        InMemoryStorage(),
        {"credit_card": sandbox},
        fraud=FraudScreening([rule], rates=ExchangeRates("USD", {"EUR": "1.10"})),
    )
    card = service.add_payment_method("cus_1", type="credit_card", token="tok_visa")
    for amount, currency, expected in (
        ("95.00", "EUR", _P.AUTHORIZED),
        ("90.00", "EUR", _P.COMPLETED),
        ("20000", "JPY", _P.COMPLETED),
    ):
        payment = service.create_payment(
            customer_id="cus_1",
            order_id="o",
            payment_method_id=card.id,
            amount=amount,
            currency=currency,
        )
        assert service.process_payment(payment.id).status is expected, (amount, currency)


def test_a_scorer_score_is_a_rule_input() -> None:
    """``:scorer_score:`` comes from the external scorer; it is told no card number."""
    scorer = FakeFraudCheck(scores={"risky@example.com": 91}, default=5)
    rule = Rule(name="scored", condition=":scorer_score: >= 90", action="block")
    service, sandbox, card = _service(rule, scorer=scorer)
    assert _pay(service, card).status is _P.COMPLETED
    assert _pay(service, card, email="risky@example.com").failure_code == FRAUD_BLOCKED
    assert scorer.requests[1].facts["email"] == "risky@example.com"
    assert "payments_per_email_1h" not in scorer.requests[1].facts
    assert sandbox.calls == ["charge"]


@pytest.mark.parametrize(
    ("fallback", "expected"), [("review", _P.AUTHORIZED), ("allow", _P.COMPLETED)]
)
def test_a_scorer_timeout_never_blocks_the_fallback_decides(
    fallback: str, expected: PaymentStatus
) -> None:
    """The scorer timed out: a ``block`` on its score cannot fire; the fallback decides."""
    scorer = FakeFraudCheck(fail_with=TimeoutError("no answer in 2s"))
    rule = Rule(name="scored", condition=":scorer_score: >= 0", action="block")
    service, _, card = _service(rule, scorer=scorer, fallback=fallback)
    payment = _pay(service, card)
    assert payment.status is expected
    [entry] = [
        e for e in service.get_transaction_log(payment.id) if e.log_type is LogType.FRAUD_SCREENED
    ]
    assert "scorer unavailable (TimeoutError)" in entry.message


def test_a_rule_block_still_blocks_when_the_scorer_is_down() -> None:
    """The fallback replaces only an unmatched ``allow``: a listed email is blocked anyway."""
    scorer = FakeFraudCheck(fail_with=ConnectionError("down"))
    service, sandbox, card = _service(BLOCK_LISTED, scorer=scorer)
    service.risk_lists.add("blocked", "thief@example.com")
    assert _pay(service, card, email="thief@example.com").failure_code == FRAUD_BLOCKED
    assert sandbox.calls == []


def test_block_is_never_a_fallback() -> None:
    """``fallback="block"`` is refused: a scorer outage must not block payments."""
    with pytest.raises(ValidationError, match="never block"):
        FraudScreening([], fallback="block")


# -- post-authorization rules on the provider's signal ------------------------------------------


def test_post_authorization_rules_capture_when_nothing_matches() -> None:
    """With post-authorization rules a purchase is authorized, checked, then captured."""
    post = Rule(
        name="radar",
        condition=":provider_risk_level: = 'highest'",
        action="block",
        stage=Stage.AFTER_AUTHORIZATION,
    )
    service, sandbox, card = _service(post)
    payment = _pay(service, card)
    assert payment.status is _P.COMPLETED
    assert [entry.kind for entry in sandbox.ledger_for(payment.id)] == [
        LedgerKind.AUTHORIZATION,
        LedgerKind.CAPTURE,
    ]


# -- lists ----------------------------------------------------------------------------------------


def test_lists_are_managed_by_the_host() -> None:
    """Entries are added once, case-insensitively, listed and removed."""
    service, _, _ = _service()
    first = service.risk_lists.add("blocked", "A@B.io", note="chargeback", by="ops")
    assert service.risk_lists.add("blocked", "a@b.io").id == first.id
    assert service.risk_lists.contains("blocked", "a@B.IO")
    assert [e.value for e in service.risk_lists.entries("blocked")] == ["a@b.io"]
    assert service.risk_lists.remove("blocked", "a@b.io") is True
    assert service.risk_lists.remove("blocked", "a@b.io") is False
    with pytest.raises(ValidationError):
        service.risk_lists.add("no spaces", "x")


def test_a_wrong_risk_argument_is_refused() -> None:
    """``risk`` must be a RiskContext."""
    service, _, card = _service()
    payment = service.create_payment(
        customer_id="cus_1", order_id="o", payment_method_id=card.id, amount="1.00", currency="USD"
    )
    with pytest.raises(ValidationError, match="RiskContext"):
        service.process_payment(payment.id, risk={"email": "x@y.z"})  # type: ignore[arg-type]


def test_without_screening_risk_is_ignored_and_nothing_is_stored() -> None:
    """A service without ``fraud`` takes ``risk`` and behaves exactly as before."""
    sandbox = SandboxGateway()
    service = PaymentService(InMemoryStorage(), {"credit_card": sandbox})
    card = service.add_payment_method("cus_1", type="credit_card", token="tok_visa")
    payment = _pay(service, card, "600.00")
    assert payment.status is _P.COMPLETED
    assert service.reviews.get(payment.id) is None
    assert all(
        e.log_type is not LogType.FRAUD_SCREENED for e in service.get_transaction_log(payment.id)
    )


# -- the async service shares the steps -----------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    """The async test runs on asyncio."""
    return "asyncio"


@pytest.mark.anyio
async def test_the_async_service_screens_and_reviews_alike() -> None:
    """``AsyncPaymentService`` blocks, holds and approves through the same steps."""
    from paykit.service import AsyncPaymentService  # noqa: PLC0415 - needs anyio

    sandbox = SandboxGateway()
    service = AsyncPaymentService(
        InMemoryStorage(), {"credit_card": sandbox}, fraud=FraudScreening([BIG, BLOCK_LISTED])
    )
    sync = PaymentService(service.storage, {"credit_card": sandbox})
    card = sync.add_payment_method("cus_1", type="credit_card", token="tok_visa")
    sync.risk_lists.add("blocked", "thief@example.com")
    blocked = await service.create_payment(
        customer_id="cus_1",
        order_id="o",
        payment_method_id=card.id,
        amount="5.00",
        currency="USD",
        risk=RiskContext(email="thief@example.com"),
    )
    assert (await service.process_payment(blocked.id)).failure_code == FRAUD_BLOCKED
    held = await service.create_payment(
        customer_id="cus_1",
        order_id="o",
        payment_method_id=card.id,
        amount="700.00",
        currency="USD",
    )
    assert (await service.process_payment(held.id)).status is _P.AUTHORIZED
    assert [a.id for a in await service.list_reviews()] == [held.id]
    assert (await service.approve_review(held.id, by="alice")).status is _P.COMPLETED
    assert sandbox.calls == ["charge", "capture"]
