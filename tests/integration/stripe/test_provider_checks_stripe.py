"""Stripe's card checks after authorization: read from the Charge, acted on, stored, backtested.

At the HTTP level through :class:`FakeStripe`: the adapter expands the Charge, whose
``payment_method_details.card.checks`` the fake scripts with ``set_checks``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _stripe_support import make_fake, make_gateway

from paykit import InMemoryStorage, LogType, PaymentService, PaymentStatus
from paykit.fraud import FraudScreening, RiskContext, Rule, RuleSet, Stage, backtest
from paykit.storage.base import Storage
from paykit.testing.fake_stripe import FakeStripe

_P = PaymentStatus

CVC_FAILED = Rule(
    name="cvc_failed",
    condition=":provider_cvc_check: = 'fail'",
    action="block",
    score=90,
    stage=Stage.AFTER_AUTHORIZATION,
)
ADDRESS_FAILED = Rule(
    name="address_failed",
    condition=":provider_address_check: = 'fail'",
    action="review",
    score=30,
    stage=Stage.AFTER_AUTHORIZATION,
)


def _service(fake: FakeStripe, *rules: Rule, storage: Storage | None = None) -> PaymentService:
    return PaymentService(
        storage or InMemoryStorage(),
        gateways={"credit_card": make_gateway(fake.transport)},
        fraud=FraudScreening(rules),
    )


def _pay(service: PaymentService, method: str = "pm_card_visa", order_id: str = "ord_1") -> str:
    card = service.add_payment_method("cus_1", type="credit_card", token=method)
    payment = service.create_payment(
        customer_id="cus_1",
        order_id=order_id,
        payment_method_id=card.id,
        amount="50.00",
        currency="USD",
        risk=RiskContext(email="buyer@example.com"),
    )
    return service.process_payment(payment.id).id


def test_a_failed_cvc_check_voids_the_authorization() -> None:
    """``:provider_cvc_check: = 'fail'`` -> block: authorized, then voided; nothing captured."""
    fake = make_fake()
    fake.set_checks("pm_card_visa", cvc_check="fail", address_postal_code_check="unavailable")
    service = _service(fake, CVC_FAILED, ADDRESS_FAILED)

    payment_id = _pay(service)

    assert service.get_payment(payment_id).status is _P.CANCELLED
    assert [line.kind for line in fake.ledger] == ["authorization", "void"]
    assessment = service.reviews.get(payment_id)
    assert assessment is not None
    assert assessment.decision == "block"
    assert assessment.declined
    assert (assessment.provider_cvc_check, assessment.provider_address_check) == ("fail", "pass")
    assert assessment.provider_seller_protection is None  # PayPal's alone
    entry = [
        e for e in service.get_transaction_log(payment_id) if e.log_type is LogType.FRAUD_SCREENED
    ][-1]
    assert entry.data["stage"] == "after_authorization"
    assert entry.data["provider_cvc_check"] == "fail"
    assert entry.data["provider_address_check"] == "pass"
    assert entry.data["provider_seller_protection"] is None
    assert entry.data["rules"][0]["inputs"] == {"provider_cvc_check": "fail"}


def test_a_failed_address_check_holds_the_payment_for_review() -> None:
    """A failed postal code makes the address ``fail`` though the street passed: review."""
    fake = make_fake()
    fake.set_checks("pm_card_visa", address_postal_code_check="fail")
    service = _service(fake, CVC_FAILED, ADDRESS_FAILED)

    payment_id = _pay(service)

    assert service.get_payment(payment_id).status is _P.AUTHORIZED
    assert [a.id for a in service.list_reviews()] == [payment_id]
    assert service.approve_review(payment_id, by="alice").status is _P.COMPLETED
    assert [line.kind for line in fake.ledger] == ["authorization", "capture"]


def test_passing_checks_are_recorded_and_the_payment_captured() -> None:
    """The fake's default checks all pass: no rule matches; the checks are kept anyway."""
    fake = make_fake()
    service = _service(fake, CVC_FAILED, ADDRESS_FAILED)

    payment_id = _pay(service)

    assert service.get_payment(payment_id).status is _P.COMPLETED
    assessment = service.reviews.get(payment_id)
    assert assessment is not None
    assert (assessment.provider_cvc_check, assessment.provider_address_check) == ("pass", "pass")
    assert (assessment.provider_risk_level, assessment.provider_risk_score) == ("normal", 12)


def test_checks_the_customer_gave_nothing_for_are_not_recorded() -> None:
    """Null checks (no CVC, no address given): no value, so no rule on them matches."""
    fake = make_fake()
    fake.set_checks(
        "pm_card_visa", cvc_check=None, address_line1_check=None, address_postal_code_check=None
    )
    unchecked = Rule(
        name="unchecked_cvc",
        condition=":provider_cvc_check: != 'pass'",
        action="block",
        stage=Stage.AFTER_AUTHORIZATION,
    )
    service = _service(fake, unchecked)

    payment_id = _pay(service)

    assert service.get_payment(payment_id).status is _P.COMPLETED
    assessment = service.reviews.get(payment_id)
    assert assessment is not None
    assert (assessment.provider_cvc_check, assessment.provider_address_check) == (None, None)


@pytest.fixture(params=["memory", "sqlite"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    """An empty store: in memory, or a migrated SQLite file."""
    if request.param == "memory":
        yield InMemoryStorage()
        return
    from paykit.storage.sql import SqlStorage  # noqa: PLC0415 - the sql extra

    sql = SqlStorage(f"sqlite:///{tmp_path / 'paykit.db'}")
    sql.upgrade()
    yield sql
    sql.dispose()


def test_a_backtest_reads_the_stored_checks(storage: Storage) -> None:
    """Recorded without post-authorization rules, the checks feed a later backtest's rules."""
    fake = make_fake()
    fake.set_checks("pm_card_mastercard", cvc_check="fail")
    service = _service(fake, storage=storage)  # screening on, no rules: captured at once
    good = _pay(service, "pm_card_visa", "ord_good")
    bad = _pay(service, "pm_card_mastercard", "ord_bad")
    assert {service.get_payment(p).status for p in (good, bad)} == {_P.COMPLETED}
    with storage.unit_of_work() as uow:
        stored = uow.risk_assessments.find(bad)
    assert stored is not None
    assert stored.provider_cvc_check == "fail"

    report = backtest(storage, RuleSet([CVC_FAILED, ADDRESS_FAILED]))

    assert report.payments == 2
    cvc, address = report.rules
    assert (cvc.blocked, cvc.reviewed) == (1, 0)
    assert (address.blocked, address.reviewed) == (0, 0)
    assert report.total.blocked == 1
