"""Fraud screening with rules as data: a seeded stream, a block, two reviews, a backtest.

Runs offline (in-memory storage, the sandbox gateway), in a second::

    python examples/fraud_rules.py

1. A small history is recorded, some of it fraud (a refund for fraud, disputes).
2. A rule file is loaded and backtested over that history: per rule and in total, what it
   would have blocked or sent to review against what happened.
3. Screening is turned on and a stream of new payments goes through it: a listed email is
   blocked (the sandbox never sees it), two large payments are held for review -- one
   approved (captured), one rejected (voided).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from paykit import InMemoryStorage, Money, PaymentService, SandboxGateway
from paykit.domain.dispute import Dispute, DisputeStatus
from paykit.fraud import FraudScreening, RiskContext, RuleSet, backtest

RULES = """\
[[rules]]
name = "listed_email"
condition = ":email: in @blocked_emails"
action = "block"
score = 100

[[rules]]
name = "disposable_domain"
condition = ":email_domain: in ('mailinator.com', 'trashmail.io')"
action = "block"
score = 80

[[rules]]
name = "large_cross_border"
condition = ":amount: >= 500 and :ip_country: != :billing_country:"
action = "review"
score = 40

[[rules]]
name = "repeat_email"
condition = ":payments_per_email_1h: >= 1"
action = "review"
score = 20
shadow = true
"""

START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
CARD = "tok_visa"
"""The sandbox's test token for a card that charges (a provider token, never a card number)."""

# (email, amount, ip country, billing country, what happened)
HISTORY = [
    ("ana@example.com", "35.00", "PT", "PT", ""),
    ("bo@trashmail.io", "640.00", "NG", "US", "refund for fraud"),
    ("chen@example.com", "820.00", "US", "US", ""),
    ("dee@mailinator.com", "95.00", "RO", "GB", "dispute lost"),
    ("eli@example.com", "710.00", "FR", "DE", ""),
    ("fay@example.com", "60.00", "BR", "BR", "fraudulent dispute"),
    ("gus@example.com", "25.00", "US", "US", ""),
    ("gus@example.com", "25.00", "US", "US", ""),
]


class Clock:
    """The demo's clock: moved by hand so that the output is the same on every run."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        """The time the demo set."""
        return self.now


def record_history(service: PaymentService, clock: Clock) -> None:
    """Charge the history's payments, then record what became of them."""
    card = service.add_payment_method("cus_demo", type="credit_card", token=CARD)
    for number, (email, amount, ip_country, billing, outcome) in enumerate(HISTORY):
        clock.now = START + timedelta(minutes=15 * number)
        payment = service.create_payment(
            customer_id="cus_demo",
            order_id=f"hist_{number}",
            payment_method_id=card.id,
            amount=amount,
            currency="USD",
            risk=RiskContext(email=email, ip_country=ip_country, billing_country=billing),
        )
        service.process_payment(payment.id)
        if outcome == "refund for fraud":
            refund = service.create_refund(payment.id, reason="fraudulent")
            service.process_refund(refund.id)
        elif outcome:
            _dispute(service, payment.id, amount, lost=outcome == "dispute lost")


def _dispute(service: PaymentService, payment_id: str, amount: str, *, lost: bool) -> None:
    """A dispute as the provider's webhook would have recorded it (kept short for the demo)."""
    with service.storage.unit_of_work() as uow:
        uow.disputes.add(
            Dispute(
                id=f"dp_{payment_id}",
                payment_id=payment_id,
                provider="sandbox",
                provider_dispute_id=f"sb_dp_{payment_id}",
                amount=Money.of(amount, "USD"),
                reason="general" if lost else "fraudulent",
                status=DisputeStatus.LOST if lost else DisputeStatus.WON,
                created_at=START,
                updated_at=START,
            )
        )
        uow.commit()


def main() -> None:
    """Seed, backtest, then screen a live stream."""
    clock = Clock()
    storage = InMemoryStorage()
    sandbox = SandboxGateway()
    rules = RuleSet.from_text(RULES, source="rules.toml")
    service = PaymentService(
        storage, {"credit_card": sandbox}, clock=clock, fraud=FraudScreening(rules)
    )
    service.risk_lists.add("blocked_emails", "mallory@example.com", note="chargebacks", by="ops")
    # The history was screened with no rules (every payment allowed, its context recorded).
    history = PaymentService(
        storage, {"credit_card": sandbox}, clock=clock, fraud=FraudScreening([])
    )
    record_history(history, clock)

    print("Backtest of rules.toml over the history:")
    print(backtest(storage, rules).table())

    card = service.add_payment_method("cus_live", type="credit_card", token=CARD)
    calls_before = len(sandbox.calls)
    stream = [
        ("mallory@example.com", "45.00", "US", "US"),
        ("ivy@example.com", "620.00", "VN", "US"),
        ("jon@example.com", "30.00", "US", "US"),
        ("kim@example.com", "900.00", "RU", "DE"),
    ]
    for number, (email, amount, ip_country, billing) in enumerate(stream):
        clock.now = START + timedelta(days=1, minutes=number)
        payment = service.create_payment(
            customer_id="cus_live",
            order_id=f"live_{number}",
            payment_method_id=card.id,
            amount=amount,
            currency="USD",
            risk=RiskContext(email=email, ip_country=ip_country, billing_country=billing),
        )
        payment = service.process_payment(payment.id)
        reason = payment.failure_code or ""
        print(f"{email:<22} {amount:>7} USD -> {payment.status} {reason}".rstrip())

    print(f"sandbox calls for the 4 payments: {sandbox.calls[calls_before:]}")
    queue = service.list_reviews()
    for assessment in queue:
        print(f"in review: {assessment.email} ({', '.join(assessment.fired_rules)})")
    approved = service.approve_review(queue[0].id, by="alice")
    rejected = service.reject_review(queue[1].id, by="bob")
    print(f"approved by alice -> {approved.status}; rejected by bob -> {rejected.status}")
    for entry in service.get_transaction_log(rejected.id):
        print(f"  {entry.log_type:<20} {entry.message}")


if __name__ == "__main__":
    main()
