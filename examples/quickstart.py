"""paykit in five minutes: a card, a payment, two partial refunds and what can go wrong.

Runs offline against the sandbox gateway, storing everything in a SQLite file (paykit's
embedded default; the schema comes from paykit's own migrations)::

    python examples/quickstart.py            # a fresh SQLite file in a temporary folder
    python examples/quickstart.py shop.db    # or a file of your choice, kept afterwards
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from paykit import (
    Event,
    InvalidRefundAmountError,
    Payment,
    PaymentService,
    SandboxGateway,
    SandboxToken,
)
from paykit.storage.sql import SqlStorage


def main() -> None:
    """Run the walk-through on the SQLite file named on the command line, or a temporary one."""
    if len(sys.argv) > 1:
        walk_through(Path(sys.argv[1]))
        return
    with tempfile.TemporaryDirectory() as folder:
        walk_through(Path(folder) / "paykit.db")


def walk_through(database: Path) -> None:
    """Walk through the main flows and print what happened at each step."""
    storage = SqlStorage(f"sqlite:///{database}")
    storage.upgrade()  # creates the tables on first use, upgrades them later
    print(f"Storage: SQLite file {database.name}, schema at revision {storage.current_revision()}")
    try:
        run(storage)
    finally:
        storage.dispose()


def run(storage: SqlStorage) -> None:
    """The flows themselves: the same code runs on any storage."""
    sandbox = SandboxGateway()
    service = PaymentService(
        storage,
        gateways={"credit_card": sandbox, "debit_card": sandbox, "digital_wallet": sandbox},
    )
    # The host application learns about payments through events, e.g. to confirm orders.
    service.events.subscribe("payment.completed", on_payment_completed)

    print("1. Save a card for customer cus_ada (paykit keeps the token, never the number)")
    card = service.add_payment_method(
        "cus_ada",
        type="credit_card",
        token=SandboxToken.SUCCESS,
        brand="visa",
        last4="4242",
        exp_month=12,
        exp_year=2030,
        is_default=True,
    )
    print(f"   saved {card.display_name}, default={card.is_default}")

    # A new order number per run, so the walk-through also works on a file kept from before.
    order_id = f"ord_{1001 + len(service.list_payments())}"
    print(f"2. Pay 100.00 USD for order {order_id}")
    payment = service.create_payment(
        customer_id="cus_ada",
        order_id=order_id,
        payment_method_id=card.id,
        amount="100.00",
        currency="USD",
        idempotency_key=f"checkout-{order_id}",
    )
    print(f"   created: {payment.status}")
    payment = service.process_payment(payment.id)
    print(f"   processed: {payment.status}, captured {payment.captured_amount}")

    print("3. Refund part of it, twice")
    for amount, reason in (("30.00", "one item returned"), ("25.50", "late delivery")):
        refund = service.process_refund(service.create_refund(payment.id, amount, reason=reason).id)
        payment = service.get_payment(payment.id)
        print(
            f"   refund of {refund.amount}: {refund.status}; payment is {payment.status}, "
            f"{payment.refundable_amount} left to refund"
        )

    print("4. A refund above the balance is refused, and nothing is written")
    entries_before = len(service.get_transaction_log(payment.id))
    try:
        service.create_refund(payment.id, "50.00")
    except InvalidRefundAmountError as error:
        print(f"   refused [{error.code}]: {error.message}")
    entries_after = len(service.get_transaction_log(payment.id))
    print(f"   log entries before and after: {entries_before} and {entries_after}")

    print("5. A declined card")
    declined = pay_with(service, "cus_bob", SandboxToken.INSUFFICIENT_FUNDS, "42.00", "USD")
    print(f"   {declined.status}: {declined.failure_code} - {declined.failure_message}")

    print("6. A card that needs 3-D Secure (in yen, a currency without minor units)")
    pending = pay_with(service, "cus_cy", SandboxToken.THREE_D_SECURE, "5000", "JPY")
    action = pending.next_action
    assert action is not None  # noqa: S101 - the sandbox always asks for 3-D Secure here
    print(f"   {pending.status}: send the customer to {action.redirect_url}")
    assert pending.provider_payment_id is not None  # noqa: S101 - set by the sandbox answer
    sandbox.complete_action(pending.provider_payment_id)  # the customer passes the challenge
    finished = service.reconcile_payment(pending.id)
    print(f"   after the challenge: {finished.status}, captured {finished.captured_amount}")

    print("7. The transaction log of the first payment")
    for entry in service.get_transaction_log(payment.id):
        change = (
            f" [{entry.previous_status or 'new'} -> {entry.new_status}]" if entry.new_status else ""
        )
        print(f"   {entry.log_type:<18} {entry.message}{change}")


def pay_with(
    service: PaymentService, customer_id: str, token: str, amount: str, currency: str
) -> Payment:
    """Save the sandbox card ``token`` for ``customer_id`` and pay ``amount`` with it."""
    method = service.add_payment_method(customer_id, type="credit_card", token=token)
    payment = service.create_payment(
        customer_id=customer_id,
        order_id=f"ord_{customer_id}",
        payment_method_id=method.id,
        amount=amount,
        currency=currency,
    )
    return service.process_payment(payment.id, return_url="https://shop.example/return")


def on_payment_completed(event: Event) -> None:
    """What a shop would do: confirm the order."""
    print(f"   -> event {event.type}: order {event.payment.order_id} confirmed")


if __name__ == "__main__":
    main()
