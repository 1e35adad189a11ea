"""NextAction: payer instructions are read-only values, and an expired action cancels."""

from __future__ import annotations

import copy
import pickle

import pytest
from pydantic import SecretStr

from paykit import InMemoryStorage, NextAction, PaymentService, PaymentStatus
from paykit.gateways import (
    EXPIRED,
    ChargeRequest,
    GatewayOutcome,
    GatewayResult,
    PaymentLookup,
)
from paykit.gateways.sandbox import SandboxGateway


def test_instructions_are_read_only_and_survive_copies() -> None:
    """Instructions cannot be changed in place and survive deepcopy, pickle and redaction."""
    action = NextAction(
        type="bank_transfer",
        client_secret=SecretStr("s3cr3t"),
        instructions={"reference": "PK-7Q2M", "iban": "DE02 1203 0000 0000 2020 51"},
    )
    with pytest.raises(TypeError):
        action.instructions["reference"] = "forged"  # type: ignore[index]
    assert copy.deepcopy(action) == action
    assert pickle.loads(pickle.dumps(action.without_secret())) == action.without_secret()  # noqa: S301 - our own bytes, round-tripped
    stored = action.without_secret()
    assert stored.client_secret is None
    assert dict(stored.instructions) == {
        "reference": "PK-7Q2M",
        "iban": "DE02 1203 0000 0000 2020 51",
    }
    assert hash(stored) == hash(action.without_secret())


class _TransferGateway(SandboxGateway):
    """Asks the payer to transfer money, then reports the transfer expired."""

    def charge(self, request: ChargeRequest) -> GatewayResult:
        return GatewayResult(
            outcome=GatewayOutcome.REQUIRES_ACTION,
            provider_id=f"ref_{request.payment_id}",
            next_action=NextAction(type="bank_transfer", instructions={"reference": "PK-1"}),
        )

    def retrieve_payment(self, lookup: PaymentLookup) -> GatewayResult:
        return GatewayResult(
            outcome=GatewayOutcome.DECLINED,
            provider_id=lookup.provider_payment_id,
            decline_code=EXPIRED,
            message="The transfer was not made in time.",
        )


def test_an_expired_transfer_cancels_the_payment_and_keeps_its_instructions() -> None:
    """A payer who never paid leaves the payment cancelled, not failed; instructions are stored."""
    service = PaymentService(InMemoryStorage(), gateways={"bank_transfer": _TransferGateway()})
    method = service.add_payment_method("cus_1", type="bank_transfer", token="bank")
    payment = service.create_payment(
        customer_id="cus_1",
        order_id="o",
        payment_method_id=method.id,
        amount="80.00",
        currency="EUR",
    )
    waiting = service.process_payment(payment.id)
    stored = service.get_payment(payment.id)
    assert waiting.status is PaymentStatus.REQUIRES_ACTION
    assert stored.next_action is not None
    assert stored.next_action.instructions["reference"] == "PK-1"

    assert service.reconcile_payment(payment.id).status is PaymentStatus.CANCELLED
