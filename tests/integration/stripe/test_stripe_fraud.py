"""Fraud screening against Stripe's shapes: card details on save, Radar's outcome after a charge."""

from __future__ import annotations

from _stripe_support import make_fake, make_gateway

from paykit import InMemoryStorage, LogType, PaymentService, PaymentStatus
from paykit.fraud import FRAUD_BLOCKED, FraudScreening, RiskContext, Rule, Stage, provider_signal
from paykit.gateways import GatewayOutcome, GatewayResult
from paykit.testing.fake_stripe import FakeStripe

_P = PaymentStatus
LEDGER_OF_A_VOID = ["authorization", "void"]

RADAR_REVIEW = Rule(
    name="radar_elevated",
    condition=":provider_risk_level: = 'elevated' or :provider_risk_score: >= 65",
    action="review",
    score=20,
    stage=Stage.AFTER_AUTHORIZATION,
)
RADAR_BLOCK = Rule(
    name="radar_highest",
    condition=":provider_risk_level: = 'highest'",
    action="block",
    score=80,
    stage=Stage.AFTER_AUTHORIZATION,
)


def _service(fake: FakeStripe, *rules: Rule) -> PaymentService:
    gateway = make_gateway(fake.transport)
    return PaymentService(
        InMemoryStorage(), gateways={"credit_card": gateway}, fraud=FraudScreening(rules)
    )


def _pay(service: PaymentService, amount: str = "50.00") -> str:
    card = service.add_payment_method("cus_1", type="credit_card", token="pm_card_visa")
    payment = service.create_payment(
        customer_id="cus_1",
        order_id="ord_1",
        payment_method_id=card.id,
        amount=amount,
        currency="USD",
        risk=RiskContext(email="buyer@example.com", ip_country="US"),
    )
    return service.process_payment(payment.id).id


def test_saving_a_card_keeps_its_country_and_fingerprint() -> None:
    """Stripe's ``card.country`` and ``card.fingerprint`` land on the saved method."""
    service = _service(make_fake())
    card = service.add_payment_method("cus_1", type="credit_card", token="pm_card_visa")
    assert card.card_country == "US"
    assert card.card_fingerprint == "AOB934RVNwzk6xtn"  # the fixture's
    again = service.add_payment_method("cus_1", type="credit_card", token="pm_card_visa")
    assert again.card_fingerprint == card.card_fingerprint


def test_card_country_and_fingerprint_feed_the_rules() -> None:
    """A block on the card's country reads what the adapter learned."""
    rule = Rule(name="card_country", condition=":card_country: = 'US'", action="block")
    fake = make_fake()
    service = _service(fake, rule)
    payment = service.get_payment(_pay(service))
    assert payment.failure_code == FRAUD_BLOCKED
    assert not [r for r in fake.requests if r.path.startswith("/v1/payment_intents")]


def test_the_charge_is_expanded_and_radar_s_outcome_recorded() -> None:
    """The adapter asks for the Charge; its ``outcome`` is stored on the assessment."""
    fake = make_fake()
    fake.set_outcome("pm_card_visa", risk_level="normal", risk_score=21)
    service = _service(fake, RADAR_BLOCK)
    payment_id = _pay(service)
    [create] = [r for r in fake.requests if r.path == "/v1/payment_intents"]
    assert create.form["expand[0]"] == "latest_charge"
    assert create.form["capture_method"] == "manual"  # authorize, check, then capture
    assessment = service.reviews.get(payment_id)
    assert assessment is not None
    assert (assessment.provider_risk_level, assessment.provider_risk_score) == ("normal", 21)
    assert service.get_payment(payment_id).status is _P.COMPLETED
    assert [line.kind for line in fake.ledger] == ["authorization", "capture"]


def test_an_elevated_radar_answer_sends_the_payment_to_review() -> None:
    """``risk_level = elevated`` after authorization holds the payment for a person."""
    fake = make_fake()
    fake.set_outcome("pm_card_visa", risk_level="elevated", risk_score=70)
    service = _service(fake, RADAR_REVIEW, RADAR_BLOCK)
    held: list[object] = []
    service.events.subscribe("payment.review_required", held.append)

    payment_id = _pay(service)

    assert service.get_payment(payment_id).status is _P.AUTHORIZED
    assert len(held) == 1
    assert [a.id for a in service.list_reviews()] == [payment_id]
    entry = [
        e for e in service.get_transaction_log(payment_id) if e.log_type is LogType.FRAUD_SCREENED
    ][-1]
    assert entry.data["stage"] == "after_authorization"
    assert entry.data["provider_risk_level"] == "elevated"
    assert entry.data["rules"][0]["inputs"] == {
        "provider_risk_level": "elevated",
        "provider_risk_score": "70",
    }
    assert service.approve_review(payment_id, by="alice").status is _P.COMPLETED
    assert [line.kind for line in fake.ledger] == ["authorization", "capture"]


def test_a_highest_radar_answer_voids_the_authorization() -> None:
    """``risk_level = highest`` after authorization voids the payment: no money is taken."""
    fake = make_fake()
    fake.set_outcome("pm_card_visa", risk_level="highest", risk_score=95)
    service = _service(fake, RADAR_REVIEW, RADAR_BLOCK)

    payment_id = _pay(service)

    assert service.get_payment(payment_id).status is _P.CANCELLED
    assert [line.kind for line in fake.ledger] == LEDGER_OF_A_VOID
    assessment = service.reviews.get(payment_id)
    assert assessment is not None
    assert assessment.decision == "block"
    assert assessment.declined


def test_provider_signal_reads_the_charge_shapes() -> None:
    """The signal is found on a Charge, an expanded ``latest_charge`` or ``charges.data``."""
    outcome = {"risk_level": "elevated", "risk_score": 66}
    shapes = [
        {"object": "charge", "outcome": outcome},
        {"object": "payment_intent", "latest_charge": {"outcome": outcome}},
        {"object": "payment_intent", "charges": {"data": [{"outcome": outcome}]}},
    ]
    for raw in shapes:
        signal = provider_signal(GatewayResult(outcome=GatewayOutcome.SUCCEEDED, raw=raw))
        assert signal is not None
        assert (signal.risk_level, signal.risk_score) == ("elevated", 66)
    bare = GatewayResult(outcome=GatewayOutcome.SUCCEEDED, raw={"latest_charge": "ch_1"})
    assert provider_signal(bare) is None


def test_a_request_3ds_rule_asks_stripe_for_a_challenge() -> None:
    """``request_3ds`` sends ``request_three_d_secure=any``; Stripe asks the customer."""
    ask = Rule(name="foreign_ip", condition=":ip_country: != 'FR'", action="request_3ds")
    fake = make_fake()
    service = _service(fake, ask)
    payment_id = _pay(service)
    [create] = [r for r in fake.requests if r.path == "/v1/payment_intents"]
    assert create.form["payment_method_options[card][request_three_d_secure]"] == "any"
    payment = service.get_payment(payment_id)
    assert payment.status is _P.REQUIRES_ACTION
    assessment = service.reviews.get(payment_id)
    assert assessment is not None
    assert assessment.three_d_secure
