"""Automated refund policies: a cancelled order, a duplicate charge, a proposal approved.

Runs offline against the sandbox gateway and the in-memory storage:

    python examples/automated_refunds.py

1. The host cancels an order with one authorized and one captured payment: the hold is
   voided (not refunded), the capture refunded.
2. A customer double-clicks "pay": the second charge is refunded (reason ``duplicate``).
3. A payment arrives for a checkout the host says expired: the policy runs in ``propose``
   mode, so it waits for a person, who approves it.
"""

from __future__ import annotations

from paykit import InMemoryStorage, Payment, PaymentService, SandboxGateway, SandboxToken
from paykit.automation import (
    ActionMode,
    AutomationSettings,
    DuplicateChargePolicy,
    OrderState,
    Policy,
    UnwantedPaymentPolicy,
)

EXPIRED_CHECKOUTS = {"ord_late"}


def order_state(order_id: str, payment: Payment) -> OrderState:
    """The host's answer: is this order still waiting for a payment?"""
    del payment
    return OrderState.EXPIRED if order_id in EXPIRED_CHECKOUTS else OrderState.OPEN


settings = AutomationSettings(
    order_cancelled=Policy(mode=ActionMode.AUTO),
    duplicate_charge=DuplicateChargePolicy(mode=ActionMode.AUTO, daily_count_cap=50),
    unwanted_payment=UnwantedPaymentPolicy(mode=ActionMode.PROPOSE, order_state=order_state),
)
sandbox = SandboxGateway()
service = PaymentService(InMemoryStorage(), {"credit_card": sandbox}, automation=settings)
card = service.add_payment_method("cus_1", type="credit_card", token=SandboxToken.SUCCESS)


def pay(order_id: str, amount: str, *, capture: bool = True) -> Payment:
    """Create and process a card payment for ``order_id``."""
    payment = service.create_payment(
        customer_id="cus_1",
        order_id=order_id,
        payment_method_id=card.id,
        amount=amount,
        currency="USD",
        capture=capture,
    )
    return service.process_payment(payment.id)


def ledger(payment: Payment) -> list[str]:
    """What the sandbox did with the payment's money, e.g. ``['charge 30.00 USD']``."""
    return [f"{e.kind} {e.amount}" for e in sandbox.ledger_for(payment.id)]


print("1. the host cancels an order")
deposit = pay("ord_cancel", "30.00", capture=False)
balance = pay("ord_cancel", "70.00")
for action in service.order_cancelled("ord_cancel", reason="out of stock"):
    print(f"   {action.policy}: {action.kind} {action.amount} -> {action.status}")
print(f"   deposit: {service.get_payment_status(deposit.id)}, sandbox: {ledger(deposit)}")
print(f"   balance: {service.get_payment_status(balance.id)}, sandbox: {ledger(balance)}")

print("2. a duplicate charge")
first = pay("ord_dup", "25.00")
second = pay("ord_dup", "25.00")
[refund] = service.list_refunds(second.id)
print(f"   first: {service.get_payment_status(first.id)}")
print(f"   second: {service.get_payment_status(second.id)}, refund reason {refund.reason!r}")
print(f"   processed_by: {refund.metadata['processed_by']}")

print("3. a payment for an expired checkout, proposed and approved")
late = pay("ord_late", "12.00")
[proposal] = service.automation.proposals()
print(f"   proposed: {proposal.kind} {proposal.amount} ({proposal.reason})")
done = service.automation.approve(proposal.id, by="alice")
print(f"   approved by {done.actor}: {done.status}, payment {service.get_payment_status(late.id)}")
print(f"   sandbox: {ledger(late)}")
