"""PayPal's AVS / CVV codes and seller protection after authorization, through the fake.

At the HTTP level: the gateway talks to :class:`FakePayPal` through the validating transport
(every answer checked against PayPal's OpenAPI schemas), the fake scripts
``processor_response`` (``set_checks``) and ``seller_protection`` (``set_seller_protection``).
"""

from __future__ import annotations

from _paypal_support import make_fake, make_gateway

from paykit import InMemoryStorage, LogType, PaymentService, PaymentStatus
from paykit.fraud import FraudScreening, RiskContext, Rule, RuleSet, Stage, backtest
from paykit.testing.fake_paypal import FakePayPal, FakeVault

_P = PaymentStatus

CVC_FAILED = Rule(
    name="cvc_failed",
    condition=":provider_cvc_check: = 'fail'",
    action="block",
    score=90,
    stage=Stage.AFTER_AUTHORIZATION,
)
UNPROTECTED = Rule(
    name="unprotected",
    condition=":provider_seller_protection: = 'not_eligible'",
    action="review",
    score=30,
    stage=Stage.AFTER_AUTHORIZATION,
)


def _service(fake: FakePayPal, *rules: Rule) -> PaymentService:
    paypal = make_gateway(fake=fake)
    return PaymentService(
        InMemoryStorage(),
        gateways={"credit_card": paypal, "paypal": paypal},
        fraud=FraudScreening(rules),
    )


def _pay(
    service: PaymentService, token: str = FakeVault.SUCCESS, *, kind: str = "credit_card"
) -> str:
    method = service.add_payment_method("cus_1", type=kind, token=token)
    payment = service.create_payment(
        customer_id="cus_1",
        order_id="order-1",
        payment_method_id=method.id,
        amount="80.00",
        currency="USD",
        risk=RiskContext(email="buyer@example.com"),
    )
    return service.process_payment(payment.id).id


def _ledger(fake: FakePayPal) -> list[str]:
    return [line.kind for line in fake.ledger]


def test_a_cvv_mismatch_voids_the_card_authorization() -> None:
    """CVV ``N`` is ``fail``: the block rule voids the authorization PayPal made."""
    fake = make_fake()
    fake.set_checks(FakeVault.SUCCESS, avs_code="Z", cvv_code="N")
    service = _service(fake, CVC_FAILED, UNPROTECTED)

    payment_id = _pay(service)

    payment = service.get_payment(payment_id)
    assert payment.status is _P.CANCELLED
    assert _ledger(fake) == ["authorization", "void"]
    assert payment.provider_payment_id is not None
    assert fake.authorization_of(payment.provider_payment_id)["status"] == "VOIDED"
    assessment = service.reviews.get(payment_id)
    assert assessment is not None
    assert assessment.decision == "block"
    assert (
        assessment.provider_cvc_check,
        assessment.provider_address_check,
        assessment.provider_seller_protection,
    ) == ("fail", "fail", "eligible")
    assert (assessment.provider_risk_level, assessment.provider_risk_score) == (None, None)
    entry = [
        e for e in service.get_transaction_log(payment_id) if e.log_type is LogType.FRAUD_SCREENED
    ][-1]
    assert entry.data["stage"] == "after_authorization"
    assert entry.data["provider_cvc_check"] == "fail"
    assert entry.data["provider_seller_protection"] == "eligible"


def test_no_seller_protection_holds_a_paypal_payment_for_review() -> None:
    """A PayPal account payment without protection: held; the reviewer's approval captures."""
    fake = make_fake()
    fake.set_seller_protection(FakeVault.SUCCESS, "NOT_ELIGIBLE")
    service = _service(fake, CVC_FAILED, UNPROTECTED)
    held: list[object] = []
    service.events.subscribe("payment.review_required", held.append)

    payment_id = _pay(service, kind="paypal")

    assert service.get_payment(payment_id).status is _P.AUTHORIZED
    assert len(held) == 1
    assert [a.id for a in service.list_reviews()] == [payment_id]
    assessment = service.reviews.get(payment_id)
    assert assessment is not None
    # No card, no processor_response: only the protection is known.
    assert (
        assessment.provider_cvc_check,
        assessment.provider_address_check,
        assessment.provider_seller_protection,
    ) == (None, None, "not_eligible")
    assert service.approve_review(payment_id, by="alice").status is _P.COMPLETED
    assert _ledger(fake) == ["authorization", "capture"]


def test_a_matched_card_is_captured_with_its_checks_recorded() -> None:
    """The fake's defaults (AVS ``Y``, CVV ``M``, ELIGIBLE) match no rule: captured."""
    fake = make_fake()
    service = _service(fake, CVC_FAILED, UNPROTECTED)

    payment_id = _pay(service)

    assert service.get_payment(payment_id).status is _P.COMPLETED
    assert _ledger(fake) == ["authorization", "capture"]
    assessment = service.reviews.get(payment_id)
    assert assessment is not None
    assert (
        assessment.provider_cvc_check,
        assessment.provider_address_check,
        assessment.provider_seller_protection,
    ) == ("pass", "pass", "eligible")


def test_a_backtest_reads_paypal_s_stored_signal() -> None:
    """Captured without post-authorization rules, the stored protection feeds a backtest."""
    fake = make_fake()
    fake.set_seller_protection(FakeVault.SUCCESS, "NOT_ELIGIBLE")
    service = _service(fake)
    payment_id = _pay(service, kind="paypal")
    assert service.get_payment(payment_id).status is _P.COMPLETED

    report = backtest(service.storage, RuleSet([CVC_FAILED, UNPROTECTED]))

    assert report.payments == 1
    cvc, unprotected = report.rules
    assert (cvc.blocked, unprotected.reviewed) == (0, 1)
