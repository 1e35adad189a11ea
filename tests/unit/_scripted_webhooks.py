"""A gateway whose webhooks are the normalised events themselves, for service-level tests.

The adapters' own parsing is tested with each adapter; these tests need to deliver exactly
the normalised event a scenario calls for. Payments go to the wrapped sandbox.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from paykit import Money, SandboxGateway
from paykit.domain.dispute import DisputeStatus
from paykit.gateways.base import (
    CaptureRequest,
    ChargeRequest,
    DisputeDetails,
    GatewayOutcome,
    GatewayResult,
    PaymentLookup,
    RefundLookup,
    RefundRequest,
    VoidRequest,
    WebhookEvent,
    WebhookEventType,
)


class ScriptedWebhooks:
    """The webhook half of a gateway: the 'signed body' is the event itself, as JSON.

    Lets a test deliver exactly the normalised event it needs (the adapters' own parsing is
    tested with each adapter); it delegates payments to the sandbox it wraps.
    """

    def __init__(self, sandbox: SandboxGateway) -> None:
        self.sandbox = sandbox
        self.name = sandbox.name
        self.lose_answers = False

    def capture(self, request: CaptureRequest) -> GatewayResult:
        """The sandbox's capture."""
        return self.sandbox.capture(request)

    def void(self, request: VoidRequest) -> GatewayResult:
        """The sandbox's void."""
        return self.sandbox.void(request)

    def refund(self, request: RefundRequest) -> GatewayResult:
        """The sandbox's refund."""
        return self.sandbox.refund(request)

    def retrieve_payment(self, lookup: PaymentLookup) -> GatewayResult:
        """The sandbox's payment lookup."""
        return self.sandbox.retrieve_payment(lookup)

    def retrieve_refund(self, lookup: RefundLookup) -> GatewayResult:
        """The sandbox's refund lookup."""
        return self.sandbox.retrieve_refund(lookup)

    def charge(self, request: ChargeRequest) -> GatewayResult:
        """Charge at the sandbox; with ``lose_answers`` the answer is lost on the way back."""
        result = self.sandbox.charge(request)
        if self.lose_answers:
            msg = "read timed out"
            raise TimeoutError(msg)
        return result

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Turn a :func:`delivery` body back into the event it describes."""
        fields = json.loads(body)
        result = fields.pop("result", None)
        dispute = fields.pop("dispute", None)
        return WebhookEvent(
            dispute=None if dispute is None else _dispute(dispute),
            provider=self.name,
            created=datetime(2024, 1, 1, tzinfo=UTC),
            result=None
            if result is None
            else GatewayResult(
                outcome=GatewayOutcome(result["outcome"]),
                provider_id=result.get("provider_id"),
                amount=None if "amount" not in result else Money.of(result["amount"], "USD"),
            ),
            type=WebhookEventType(fields.pop("type")),
            provider_type=fields.pop("type_name", "test.event"),
            **fields,
        )


def delivery(**fields: object) -> bytes:
    """The body of a scripted delivery: the event's fields as JSON."""
    return json.dumps(fields).encode()


def _dispute(fields: dict[str, Any]) -> DisputeDetails:
    return DisputeDetails(
        provider_dispute_id=fields["id"],
        status=DisputeStatus(fields["status"]),
        amount=Money.of(fields["amount"], fields.get("currency", "USD")),
        reason=fields.get("reason", "fraudulent"),
        provider_status=fields.get("provider_status", fields["status"]),
    )
