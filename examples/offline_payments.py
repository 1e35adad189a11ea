"""Offline payments: a bank transfer paid, one left to expire, a refund paid out by hand.

Runs offline: ``python examples/offline_payments.py``. The manual gateway keeps what the host
told it in memory; paykit's storage keeps the payments, updated by each reconciliation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TypeVar

from paykit import InMemoryStorage, Money, PaymentService
from paykit.gateways.manual import ManualGateway, TransferClosedError

T = TypeVar("T")


def known(value: T | None, what: str) -> T:
    """``value``, which the gateway's answer always sets here."""
    if value is None:
        msg = f"{what} is missing"
        raise RuntimeError(msg)
    return value


class Clock:
    """A clock the demo moves forward, to show expiry without waiting a week."""

    def __init__(self) -> None:
        """Start on 1 January 2030, 09:00 UTC."""
        self.now = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        """The demo's current time."""
        return self.now


def main() -> None:
    """Walk one transfer to completion and refund, and another to expiry."""
    clock = Clock()
    manual = ManualGateway(
        bank_details={"iban": "DE89370400440532013000", "bic": "COBADEFFXXX"},
        crypto_details={"network": "bitcoin", "address": "bc1qexampleaddress"},
        notification_secret="ntf_demo_secret",  # noqa: S106 - a demo's public secret
        clock=clock,
    )
    service = PaymentService(
        InMemoryStorage(), {"bank_transfer": manual, "crypto": manual}, clock=clock
    )
    # The token means nothing to the manual gateway; any non-empty string does.
    method = service.add_payment_method("cus_1", type="bank_transfer", token="offline")  # noqa: S106

    def order(order_id: str, amount: str) -> str:
        payment = service.create_payment(
            customer_id="cus_1",
            order_id=order_id,
            payment_method_id=method.id,
            amount=amount,
            currency="EUR",
        )
        return service.process_payment(payment.id).id

    paid_id = order("ord_1", "250.00")
    paid = service.get_payment(paid_id)
    reference = known(paid.provider_payment_id, "the reference")
    print(f"order ord_1: {paid.status}; show the payer:")
    for key, value in known(paid.next_action, "the instructions").instructions.items():
        print(f"  {key:>8}: {value}")

    headers, body = manual.notification(reference, Money.of("250.00", "EUR"))
    event = manual.parse_webhook(headers, body)
    paid = service.reconcile_payment(known(event.payment_id, "the payment id"))
    print(f"bank notified {event.provider_payment_id}: {paid.status}, {paid.captured_amount}")

    late_id = order("ord_2", "80.00")
    late_reference = known(service.get_payment(late_id).provider_payment_id, "the reference")
    clock.now += timedelta(days=8)
    print(f"order ord_2 unpaid after 8 days: {service.reconcile_payment(late_id).status}")
    try:
        manual.record_received(late_reference, Money.of("80.00", "EUR"))
    except TransferClosedError as error:
        print(f"late money refused: {error.message}")

    refund = service.process_refund(service.create_refund(paid_id, "50.00").id)
    print(f"refund of {refund.amount}: {refund.status}, pay out {refund.provider_refund_id}")
    payout_id = known(refund.provider_refund_id, "the payout id")
    refund = service.reconcile_refund(manual.record_payout(payout_id))
    payment = service.get_payment(paid_id)
    print(f"payout recorded: refund {refund.status}; payment is {payment.status}")


if __name__ == "__main__":
    main()
