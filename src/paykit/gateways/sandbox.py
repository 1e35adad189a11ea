"""A deterministic sandbox gateway, shipped so applications can test without a provider.

Behaviour is chosen by the payment method token, in the spirit of Stripe's test cards:

=========================  ==================================================================
token                      what happens
=========================  ==================================================================
``tok_visa`` (any other)   charge succeeds
``tok_decline``            declined, ``generic_decline``
``tok_insufficient_funds`` declined, ``insufficient_funds``
``tok_threeds``            ``requires_action`` (3-D Secure); :meth:`SandboxGateway.complete_action`
                           plays the customer finishing (or failing) the challenge
``tok_timeout``            the charge happens here but the answer is lost: ``unknown``;
                           ``retrieve_payment`` then tells the truth (succeeded)
``tok_processing_error``   declined, ``processing_error``
``tok_refund_fail``        charge succeeds, every refund of it is declined
``tok_refund_timeout``     charge succeeds, refunds happen but answer ``unknown``
``tok_pending``            ``pending`` (an asynchronous method); :meth:`SandboxGateway.settle`
                           completes it
=========================  ==================================================================

The sandbox keeps a :attr:`ledger` of every movement of money it made, so tests can check
that nothing was charged or refunded twice, and honours idempotency keys the way providers
do: the same key returns the first answer, and the same key with other parameters is an
error. ``latency`` (seconds) is slept on every call, for benchmarks.

It also sends webhooks the way providers do: :meth:`SandboxGateway.webhook_for` builds a
signed event about one of its payments (a ``Sandbox-Signature`` header in Stripe's
timestamped HMAC scheme, see ``paykit.gateways._signatures``) and
:meth:`SandboxGateway.parse_webhook` verifies and normalises it.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

import attrs
from pydantic import SecretStr

from paykit.domain.payment import NextAction
from paykit.errors import GatewayConfigurationError, IdempotencyConflict, WebhookSignatureError
from paykit.gateways._signatures import TimestampedSignature, signature_header
from paykit.gateways.base import (
    NOT_FOUND,
    CaptureRequest,
    ChargeRequest,
    GatewayOutcome,
    GatewayResult,
    PaymentLookup,
    RefundLookup,
    RefundRequest,
    VoidRequest,
    WebhookEvent,
    WebhookEventType,
)
from paykit.money import Money

__all__ = ["SIGNATURE_HEADER", "LedgerEntry", "LedgerKind", "SandboxGateway", "SandboxToken"]

SIGNATURE_HEADER: Final = "Sandbox-Signature"

_W = WebhookEventType
_O = GatewayOutcome
_WEBHOOK_OUTCOMES: Final = {
    _W.PAYMENT_SUCCEEDED: _O.SUCCEEDED,
    _W.PAYMENT_FAILED: _O.DECLINED,
    _W.PAYMENT_REQUIRES_ACTION: _O.REQUIRES_ACTION,
    _W.PAYMENT_PROCESSING: _O.PENDING,
    _W.PAYMENT_AUTHORIZED: _O.AUTHORIZED,
    _W.PAYMENT_CANCELED: _O.DECLINED,
    _W.REFUND_SUCCEEDED: _O.SUCCEEDED,
    _W.REFUND_FAILED: _O.DECLINED,
    _W.REFUND_PENDING: _O.PENDING,
}


class SandboxToken:
    """The tokens with special behaviour (see the module docstring)."""

    SUCCESS: Final = "tok_visa"
    DECLINE: Final = "tok_decline"
    INSUFFICIENT_FUNDS: Final = "tok_insufficient_funds"
    THREE_D_SECURE: Final = "tok_threeds"
    TIMEOUT: Final = "tok_timeout"
    PROCESSING_ERROR: Final = "tok_processing_error"
    REFUND_FAIL: Final = "tok_refund_fail"
    REFUND_TIMEOUT: Final = "tok_refund_timeout"
    PENDING: Final = "tok_pending"


_DECLINES: Final = {
    SandboxToken.DECLINE: ("generic_decline", "Your card was declined."),
    SandboxToken.INSUFFICIENT_FUNDS: ("insufficient_funds", "Your card has insufficient funds."),
    SandboxToken.PROCESSING_ERROR: (
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
}


class LedgerKind(StrEnum):
    """A movement of money in the sandbox ledger."""

    CHARGE = "charge"
    AUTHORIZATION = "authorization"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"


@attrs.frozen
class LedgerEntry:
    """One movement the sandbox made: what, for which paykit payment, how much."""

    kind: LedgerKind
    payment_id: str
    provider_id: str
    amount: Money


class _IntentStatus(StrEnum):
    REQUIRES_ACTION = "requires_action"
    PENDING = "pending"
    AUTHORIZED = "authorized"
    SUCCEEDED = "succeeded"
    CANCELLED = "cancelled"
    FAILED = "failed"


@attrs.define
class _Intent:
    """The sandbox's own record of a payment."""

    provider_id: str
    payment_id: str
    token: str
    amount: Money
    capture: bool
    status: _IntentStatus
    captured: Money | None = None
    refunded: Money | None = None


@attrs.define
class _SandboxRefund:
    provider_id: str
    payment_id: str
    amount: Money
    succeeded: bool


class SandboxGateway:
    """A deterministic, in-process payment provider (see the module docstring)."""

    def __init__(
        self,
        *,
        name: str = "sandbox",
        latency: float = 0.0,
        webhook_secret: str = "whsec_sandbox",  # noqa: S107 - a sandbox's public test secret
    ) -> None:
        self._name = name
        self.latency = latency
        self._webhook_secret = SecretStr(webhook_secret)
        self._signature = TimestampedSignature(SIGNATURE_HEADER, [self._webhook_secret])
        self.ledger: list[LedgerEntry] = []
        self.calls: list[str] = []
        """The operations asked of the sandbox, in order (``"charge"``, ``"refund"``...)."""
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        # Ids stay unique across sandbox instances (a second worker process, a demo restarted
        # against the same database), which providers' ids are and storage relies on.
        self._instance = os.urandom(4).hex()
        self._intents: dict[str, _Intent] = {}
        self._intent_by_payment: dict[str, str] = {}
        self._refunds: dict[str, _SandboxRefund] = {}
        self._refund_by_key: dict[str, str] = {}
        self._replies: dict[str, tuple[object, GatewayResult]] = {}

    @property
    def name(self) -> str:
        """The provider name payment methods and payments carry."""
        return self._name

    def __repr__(self) -> str:
        return f"SandboxGateway(name={self._name!r}, latency={self.latency})"

    # -- the Gateway Protocol ------------------------------------------------------------

    def charge(self, request: ChargeRequest) -> GatewayResult:
        """Charge or authorize according to the token's scripted behaviour."""
        return self._idempotent("charge", request.idempotency_key, request, self._charge)

    def capture(self, request: CaptureRequest) -> GatewayResult:
        """Capture an authorized intent, fully or partly (once, as Stripe allows)."""
        return self._idempotent("capture", request.idempotency_key, request, self._capture)

    def void(self, request: VoidRequest) -> GatewayResult:
        """Cancel an authorized intent or one waiting for customer action."""
        return self._idempotent("void", request.idempotency_key, request, self._void)

    def refund(self, request: RefundRequest) -> GatewayResult:
        """Refund part or all of a captured intent."""
        return self._idempotent("refund", request.idempotency_key, request, self._refund)

    def retrieve_payment(self, lookup: PaymentLookup) -> GatewayResult:
        """Report the truth about a payment, found by provider id or by paykit's id."""
        self._call("retrieve_payment")
        with self._lock:
            provider_id = lookup.provider_payment_id or self._intent_by_payment.get(
                lookup.payment_id
            )
            if provider_id is None:
                # The request never reached us: nothing was charged, so it definitely failed.
                return GatewayResult(
                    outcome=GatewayOutcome.DECLINED,
                    decline_code=NOT_FOUND,
                    message="The payment was never received by the provider.",
                )
            return self._intent_result(self._intent(provider_id))

    def retrieve_refund(self, lookup: RefundLookup) -> GatewayResult:
        """Report the truth about a refund, found by provider id or idempotency key."""
        self._call("retrieve_refund")
        with self._lock:
            provider_id = lookup.provider_refund_id or self._refund_by_key.get(
                lookup.idempotency_key
            )
            if provider_id is None:
                return GatewayResult(
                    outcome=GatewayOutcome.DECLINED,
                    decline_code=NOT_FOUND,
                    message="The refund was never received by the provider.",
                )
            return self._refund_result(self._find_refund(provider_id))

    # -- webhooks -------------------------------------------------------------------------

    def webhook_for(
        self,
        event_type: WebhookEventType | str,
        provider_payment_id: str,
        *,
        provider_refund_id: str | None = None,
        timestamp: int | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """The headers and body of a signed webhook about one of the sandbox's payments."""
        with self._lock:
            intent = self._intent(provider_payment_id)
            event = {
                "id": self._new_id("evt"),
                "type": str(event_type),
                "created": int(time.time()) if timestamp is None else timestamp,
                "payment": {
                    "id": intent.provider_id,
                    "paykit_payment_id": intent.payment_id,
                    "amount": str((intent.captured or intent.amount).amount),
                    "currency": intent.amount.currency,
                },
            }
            if provider_refund_id is not None:
                refund = self._find_refund(provider_refund_id)
                event["refund"] = {"id": refund.provider_id, "amount": str(refund.amount.amount)}
        body = json.dumps(event).encode()
        header = signature_header(self._webhook_secret, body, timestamp)
        return {SIGNATURE_HEADER: header, "Content-Type": "application/json"}, body

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Verify a sandbox webhook's signature and normalise it (see :meth:`webhook_for`)."""
        self._signature.verify(headers, body)
        try:
            event: dict[str, Any] = json.loads(body)
            payment = event["payment"]
            currency = payment["currency"]
            provider_type = str(event["type"])
        except (ValueError, KeyError, TypeError) as error:
            msg = f"the webhook body is not a sandbox event: {error}"
            raise WebhookSignatureError(msg) from None
        known = provider_type in set(WebhookEventType)
        kind = WebhookEventType(provider_type) if known else WebhookEventType.IGNORED
        refund = event.get("refund")
        moved = refund["amount"] if refund else payment["amount"]
        outcome = _WEBHOOK_OUTCOMES.get(kind)
        result = None
        if outcome is not None:
            result = GatewayResult(
                outcome=outcome,
                provider_id=refund["id"] if refund else payment["id"],
                amount=Money.of(moved, currency),
                decline_code="webhook" if outcome is GatewayOutcome.DECLINED else None,
            )
        return WebhookEvent(
            provider=self._name,
            event_id=event["id"],
            type=kind,
            provider_type=provider_type,
            created=datetime.fromtimestamp(event["created"], UTC),
            provider_payment_id=payment["id"],
            provider_refund_id=refund["id"] if refund else None,
            payment_id=payment.get("paykit_payment_id"),
            result=result,
            raw=event,
        )

    # -- test controls ------------------------------------------------------------------

    def complete_action(self, provider_payment_id: str, *, succeed: bool = True) -> None:
        """Play the customer finishing (or failing) 3-D Secure for a ``requires_action`` intent."""
        with self._lock:
            intent = self._intent(provider_payment_id)
            if intent.status is not _IntentStatus.REQUIRES_ACTION:
                msg = (
                    f"sandbox intent {provider_payment_id} is {intent.status}, not requires_action"
                )
                raise GatewayConfigurationError(msg)
            if succeed:
                self._take_money(intent)
            else:
                intent.status = _IntentStatus.FAILED

    def settle(self, provider_payment_id: str) -> None:
        """Complete a ``pending`` (asynchronous) intent, as a bank would a few days later."""
        with self._lock:
            intent = self._intent(provider_payment_id)
            if intent.status is not _IntentStatus.PENDING:
                msg = f"sandbox intent {provider_payment_id} is {intent.status}, not pending"
                raise GatewayConfigurationError(msg)
            self._take_money(intent)

    def charged_total(self, payment_id: str) -> Money | None:
        """What the ledger says was captured for ``payment_id`` (``None`` if nothing)."""
        return self._ledger_total(payment_id, {LedgerKind.CHARGE, LedgerKind.CAPTURE})

    def refunded_total(self, payment_id: str) -> Money | None:
        """What the ledger says was refunded for ``payment_id`` (``None`` if nothing)."""
        return self._ledger_total(payment_id, {LedgerKind.REFUND})

    def ledger_for(self, payment_id: str) -> list[LedgerEntry]:
        """Every ledger entry of one paykit payment, in order."""
        with self._lock:
            return [entry for entry in self.ledger if entry.payment_id == payment_id]

    # -- internals ----------------------------------------------------------------------

    def _call(self, operation: str) -> None:
        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            self.calls.append(operation)

    def _idempotent(
        self,
        operation: str,
        key: str,
        request: object,
        perform: Callable[[object], GatewayResult],
    ) -> GatewayResult:
        """Answer a repeated key with the first answer, as providers do."""
        self._call(operation)
        with self._lock:
            if key in self._replies:
                first_request, first_result = self._replies[key]
                if first_request != request:
                    msg = f"idempotency key {key!r} was used with different parameters"
                    raise IdempotencyConflict(msg)
                return self._replay(first_result)
            result = perform(request)
            self._replies[key] = (request, result)
            return result

    def _replay(self, first: GatewayResult) -> GatewayResult:
        """A retry after a lost answer gets the real answer, as Stripe's replays do."""
        if first.outcome is GatewayOutcome.UNKNOWN and first.provider_id is not None:
            if first.provider_id in self._intents:
                return self._intent_result(self._intents[first.provider_id])
            return self._refund_result(self._find_refund(first.provider_id))
        return first

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_sbx_{self._instance}_{next(self._ids):06d}"

    def _intent(self, provider_id: str) -> _Intent:
        try:
            return self._intents[provider_id]
        except KeyError:
            msg = f"the sandbox has no payment {provider_id!r}"
            raise GatewayConfigurationError(msg, gateway_code="resource_missing") from None

    def _find_refund(self, provider_id: str) -> _SandboxRefund:
        try:
            return self._refunds[provider_id]
        except KeyError:
            msg = f"the sandbox has no refund {provider_id!r}"
            raise GatewayConfigurationError(msg, gateway_code="resource_missing") from None

    def _charge(self, request: object) -> GatewayResult:
        assert isinstance(request, ChargeRequest)  # noqa: S101 - internal dispatch
        token = request.payment_method_token
        if token in _DECLINES:
            code, message = _DECLINES[token]
            return GatewayResult(
                outcome=GatewayOutcome.DECLINED, decline_code=code, message=message
            )
        intent = _Intent(
            provider_id=self._new_id("pi"),
            payment_id=request.payment_id,
            token=token,
            amount=request.amount,
            capture=request.capture,
            status=_IntentStatus.PENDING,
        )
        self._intents[intent.provider_id] = intent
        self._intent_by_payment[request.payment_id] = intent.provider_id
        if token == SandboxToken.THREE_D_SECURE:
            intent.status = _IntentStatus.REQUIRES_ACTION
            return self._intent_result(intent)
        if token == SandboxToken.PENDING:
            return self._intent_result(intent)
        self._take_money(intent)
        if token == SandboxToken.TIMEOUT:
            # The money moved, but the answer is lost on the way back.
            return GatewayResult(outcome=GatewayOutcome.UNKNOWN, provider_id=intent.provider_id)
        return self._intent_result(intent)

    def _take_money(self, intent: _Intent) -> None:
        if intent.capture:
            intent.status = _IntentStatus.SUCCEEDED
            intent.captured = intent.amount
            kind = LedgerKind.CHARGE
        else:
            intent.status = _IntentStatus.AUTHORIZED
            kind = LedgerKind.AUTHORIZATION
        self.ledger.append(LedgerEntry(kind, intent.payment_id, intent.provider_id, intent.amount))

    def _capture(self, request: object) -> GatewayResult:
        assert isinstance(request, CaptureRequest)  # noqa: S101 - internal dispatch
        intent = self._intent(request.provider_payment_id)
        if intent.status is not _IntentStatus.AUTHORIZED:
            return GatewayResult(
                outcome=GatewayOutcome.DECLINED,
                provider_id=intent.provider_id,
                decline_code="payment_intent_unexpected_state",
                message=f"The payment is {intent.status}, not authorized.",
            )
        if request.amount > intent.amount:
            return GatewayResult(
                outcome=GatewayOutcome.DECLINED,
                provider_id=intent.provider_id,
                decline_code="amount_too_large",
                message="The capture amount is above the authorized amount.",
            )
        intent.status = _IntentStatus.SUCCEEDED
        intent.captured = request.amount
        self.ledger.append(
            LedgerEntry(LedgerKind.CAPTURE, intent.payment_id, intent.provider_id, request.amount)
        )
        return self._intent_result(intent)

    def _void(self, request: object) -> GatewayResult:
        assert isinstance(request, VoidRequest)  # noqa: S101 - internal dispatch
        intent = self._intent(request.provider_payment_id)
        voidable = {_IntentStatus.AUTHORIZED, _IntentStatus.REQUIRES_ACTION, _IntentStatus.PENDING}
        if intent.status not in voidable:
            return GatewayResult(
                outcome=GatewayOutcome.DECLINED,
                provider_id=intent.provider_id,
                decline_code="payment_intent_unexpected_state",
                message=f"The payment is {intent.status} and can no longer be cancelled.",
            )
        if intent.status is _IntentStatus.AUTHORIZED:
            self.ledger.append(
                LedgerEntry(LedgerKind.VOID, intent.payment_id, intent.provider_id, intent.amount)
            )
        intent.status = _IntentStatus.CANCELLED
        return GatewayResult(outcome=GatewayOutcome.SUCCEEDED, provider_id=intent.provider_id)

    def _refund(self, request: object) -> GatewayResult:
        assert isinstance(request, RefundRequest)  # noqa: S101 - internal dispatch
        intent = self._intent(request.provider_payment_id)
        captured = intent.captured
        already = intent.refunded or Money.zero(request.amount.currency)
        if captured is None or intent.status is not _IntentStatus.SUCCEEDED:
            succeeded, code = False, "charge_not_captured"
        elif request.amount + already > captured:
            succeeded, code = False, "amount_too_large"
        else:
            succeeded, code = intent.token != SandboxToken.REFUND_FAIL, "refund_failed"
        refund = _SandboxRefund(self._new_id("re"), intent.payment_id, request.amount, succeeded)
        self._refunds[refund.provider_id] = refund
        self._refund_by_key[request.idempotency_key] = refund.provider_id
        if not succeeded:
            return GatewayResult(
                outcome=GatewayOutcome.DECLINED,
                provider_id=refund.provider_id,
                decline_code=code,
                message="The refund could not be made to the customer's card.",
            )
        intent.refunded = already + request.amount
        self.ledger.append(
            LedgerEntry(LedgerKind.REFUND, intent.payment_id, refund.provider_id, request.amount)
        )
        if intent.token == SandboxToken.REFUND_TIMEOUT:
            return GatewayResult(outcome=GatewayOutcome.UNKNOWN, provider_id=refund.provider_id)
        return self._refund_result(refund)

    def _intent_result(self, intent: _Intent) -> GatewayResult:
        status = intent.status
        if status is _IntentStatus.REQUIRES_ACTION:
            return GatewayResult(
                outcome=GatewayOutcome.REQUIRES_ACTION,
                provider_id=intent.provider_id,
                next_action=NextAction(
                    type="redirect_to_url",
                    redirect_url=f"https://sandbox.paykit.invalid/3ds/{intent.provider_id}",
                    client_secret=SecretStr(f"{intent.provider_id}_secret_sandbox"),
                ),
            )
        outcome = {
            _IntentStatus.PENDING: GatewayOutcome.PENDING,
            _IntentStatus.AUTHORIZED: GatewayOutcome.AUTHORIZED,
            _IntentStatus.SUCCEEDED: GatewayOutcome.SUCCEEDED,
            _IntentStatus.CANCELLED: GatewayOutcome.DECLINED,
            _IntentStatus.FAILED: GatewayOutcome.DECLINED,
        }[status]
        if status is _IntentStatus.FAILED:
            return GatewayResult(
                outcome=outcome,
                provider_id=intent.provider_id,
                decline_code="authentication_failed",
                message="The customer did not complete 3-D Secure.",
            )
        if status is _IntentStatus.CANCELLED:
            return GatewayResult(
                outcome=outcome,
                provider_id=intent.provider_id,
                decline_code="canceled",
                message="The payment was cancelled.",
            )
        amount = intent.captured if status is _IntentStatus.SUCCEEDED else intent.amount
        return GatewayResult(outcome=outcome, provider_id=intent.provider_id, amount=amount)

    def _refund_result(self, refund: _SandboxRefund) -> GatewayResult:
        if refund.succeeded:
            return GatewayResult(
                outcome=GatewayOutcome.SUCCEEDED,
                provider_id=refund.provider_id,
                amount=refund.amount,
            )
        return GatewayResult(
            outcome=GatewayOutcome.DECLINED,
            provider_id=refund.provider_id,
            decline_code="refund_failed",
            message="The refund could not be made to the customer's card.",
        )

    def _ledger_total(self, payment_id: str, kinds: set[LedgerKind]) -> Money | None:
        with self._lock:
            amounts = [
                e.amount for e in self.ledger if e.payment_id == payment_id and e.kind in kinds
            ]
        if not amounts:
            return None
        total = amounts[0]
        for amount in amounts[1:]:
            total += amount
        return total
