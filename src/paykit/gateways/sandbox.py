"""A deterministic sandbox gateway, shipped so applications can test without a provider.

Behaviour is chosen by the payment method token, in the spirit of Stripe's test cards:

=========================  ==================================================================
token                      what happens
=========================  ==================================================================
``tok_visa`` (any other)   charge succeeds
``tok_decline``            declined, ``generic_decline``
``tok_insufficient_funds`` declined, ``insufficient_funds``
``tok_threeds``            ``requires_action`` (3-D Secure); :meth:`SandboxGateway.complete_action`
                           plays the customer finishing (or failing) the challenge.
                           Off-session (no customer to ask): declined,
                           ``authentication_required``
``tok_timeout``            the charge happens here but the answer is lost: ``unknown``;
                           ``retrieve_payment`` then tells the truth (succeeded)
``tok_processing_error``   declined, ``processing_error``
``tok_refund_fail``        charge succeeds, every refund of it is declined
``tok_refund_timeout``     charge succeeds, refunds happen but answer ``unknown``
``tok_pending``            ``pending`` (an asynchronous method); :meth:`SandboxGateway.settle`
                           completes it
=========================  ==================================================================

The sandbox keeps a :attr:`~SandboxGateway.ledger` of every movement of money it made, so
tests can check that nothing was charged or refunded twice, and honours idempotency keys the
way providers do: the same key returns the first answer, and the same key with other
parameters is an error. ``latency`` (seconds) is slept on every call, for benchmarks.

It also sends webhooks the way providers do. With ``send_webhooks=True`` every state change
it makes (a charge's outcome, capture, void, 3-D Secure, settlement, refunds, disputes) puts
one event in an outbox, in order, which :meth:`SandboxGateway.take_webhooks` empties,
signing each delivery as it hands it over;
an idempotent replay changes nothing and sends nothing. :meth:`SandboxGateway.webhook_for`
builds a signed event about one of its payments on request (a ``Sandbox-Signature`` header in
Stripe's timestamped HMAC scheme, see ``paykit.gateways._signatures``) and
:meth:`SandboxGateway.parse_webhook` verifies and normalises both kinds.

Disputes are opened and decided by the test (:meth:`SandboxGateway.open_dispute`,
:meth:`SandboxGateway.update_dispute`), as a card network would; a lost dispute is booked in
the ledger as a ``chargeback``.
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

from paykit.domain.dispute import CLOSED_DISPUTE_STATUSES, DISPUTE_TRANSITIONS, DisputeStatus
from paykit.domain.payment import NextAction
from paykit.errors import GatewayConfigurationError, IdempotencyConflict, WebhookSignatureError
from paykit.gateways._signatures import TimestampedSignature, signature_header
from paykit.gateways.base import (
    AUTHENTICATION_REQUIRED,
    NOT_FOUND,
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
_OFF_SESSION_DECLINE: Final = (
    AUTHENTICATION_REQUIRED,
    "Your card needs you to confirm this payment; please pay again while you are here.",
)


class LedgerKind(StrEnum):
    """A movement of money in the sandbox ledger."""

    CHARGE = "charge"
    AUTHORIZATION = "authorization"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"
    CHARGEBACK = "chargeback"
    """A dispute the merchant lost: the customer's bank took the disputed amount back."""


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


_INTENT_OUTCOMES: Final = {
    _IntentStatus.PENDING: GatewayOutcome.PENDING,
    _IntentStatus.AUTHORIZED: GatewayOutcome.AUTHORIZED,
    _IntentStatus.SUCCEEDED: GatewayOutcome.SUCCEEDED,
    _IntentStatus.CANCELLED: GatewayOutcome.DECLINED,
    _IntentStatus.FAILED: GatewayOutcome.DECLINED,
}
"""What a provider says about an intent in each status (3-D Secure is answered apart)."""


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
    charged_back: Money | None = None


@attrs.define
class _SandboxRefund:
    provider_id: str
    payment_id: str
    amount: Money
    succeeded: bool
    refund_id: str | None = None
    """paykit's refund id (``RefundRequest.refund_id``), echoed in webhooks."""
    decline_code: str | None = None


@attrs.define
class _SandboxDispute:
    provider_id: str
    intent: _Intent
    amount: Money
    reason: str
    status: DisputeStatus
    evidence_due_by: datetime | None


class SandboxGateway:
    """A deterministic, in-process payment provider (see the module docstring)."""

    def __init__(
        self,
        *,
        name: str = "sandbox",
        latency: float = 0.0,
        webhook_secret: str = "whsec_sandbox",  # noqa: S107 - a sandbox's public test secret
        send_webhooks: bool = False,
    ) -> None:
        self._name = name
        self.latency = latency
        self.send_webhooks = send_webhooks
        """Whether state changes put signed events in the outbox (see :meth:`take_webhooks`)."""
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
        # The first request and answer per idempotency key, in two dicts rather than one of
        # pairs: a pair per call is one more object for the garbage collector to walk.
        self._first_requests: dict[str, object] = {}
        self._replies: dict[str, GatewayResult] = {}
        self._disputes: dict[str, _SandboxDispute] = {}
        self._outbox: list[bytes] = []
        """Event bodies waiting for :meth:`take_webhooks`, unsigned: signed when taken."""

    @property
    def name(self) -> str:
        """The provider name payment methods and payments carry."""
        return self._name

    def __repr__(self) -> str:
        return (
            f"SandboxGateway(name={self._name!r}, latency={self.latency}, "
            f"send_webhooks={self.send_webhooks})"
        )

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
        provider_dispute_id: str | None = None,
        timestamp: int | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """The headers and body of a signed webhook about one of the sandbox's payments.

        It describes the payment (and the refund or dispute, if named) as it is now; it does
        not go through the outbox.
        """
        with self._lock:
            intent = self._intent(provider_payment_id)
            refund = None if provider_refund_id is None else self._find_refund(provider_refund_id)
            dispute = None
            if provider_dispute_id is not None:
                dispute = self._find_dispute(provider_dispute_id)
            event = self._event(event_type, _payment_body(intent), refund=refund, dispute=dispute)
        if timestamp is not None:
            event["created"] = timestamp
        return self._signed(event, timestamp)

    def take_webhooks(self) -> list[tuple[dict[str, str], bytes]]:
        """Remove and return every queued webhook delivery ``(headers, body)``, oldest first.

        Empty unless the sandbox was built with ``send_webhooks=True``. Each is signed now,
        as a provider signs each delivery attempt, so events held for a while still verify.
        """
        with self._lock:
            taken, self._outbox = self._outbox, []
        return [self._signed_body(body) for body in taken]

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Verify a sandbox webhook's signature and normalise it (see :meth:`webhook_for`).

        A verified body that is not a sandbox event -- not JSON, a field missing or of the
        wrong type -- raises :class:`~paykit.errors.WebhookSignatureError`; an amount or
        currency that is not valid money raises the :class:`~paykit.errors.ValidationError`
        that names it (``refund.amount``). The service answers both with 400.
        """
        self._signature.verify(headers, body)
        try:
            return _normalise_event(json.loads(body), provider=self._name)
        except (ValueError, KeyError, TypeError, OverflowError, OSError) as error:
            msg = f"the webhook body is not a sandbox event: {error}"
            raise WebhookSignatureError(msg) from None

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
                self._emit_payment(WebhookEventType.PAYMENT_FAILED, intent)

    def open_dispute(
        self,
        provider_payment_id: str,
        *,
        amount: Money | None = None,
        reason: str = "fraudulent",
        status: DisputeStatus = DisputeStatus.NEEDS_RESPONSE,
        evidence_due_by: datetime | None = None,
    ) -> str:
        """Play the customer's bank disputing a captured payment; return the dispute's id.

        ``amount`` defaults to what the customer is still out of pocket (captured, less
        refunds and earlier chargebacks); it may be up to everything captured and not charged
        back yet (a customer may dispute money already refunded). ``status``
        must be an open one (an inquiry, ``warning_*``, or a chargeback). Emits
        ``dispute.created``. Raises :class:`~paykit.errors.GatewayConfigurationError` if the
        payment was not captured, already has an open dispute, or ``amount`` does not fit.
        """
        with self._lock:
            intent = self._intent(provider_payment_id)
            captured = intent.captured
            if captured is None or intent.status is not _IntentStatus.SUCCEEDED:
                msg = f"sandbox intent {provider_payment_id} is {intent.status}, not captured"
                raise GatewayConfigurationError(msg)
            if status in CLOSED_DISPUTE_STATUSES:
                msg = f"a dispute cannot be opened as {status}, a closed status"
                raise GatewayConfigurationError(msg)
            if any(
                dispute.intent is intent and dispute.status not in CLOSED_DISPUTE_STATUSES
                for dispute in self._disputes.values()
            ):
                msg = f"sandbox intent {provider_payment_id} already has an open dispute"
                raise GatewayConfigurationError(msg)
            zero = Money.zero(captured.currency)
            available = captured - (intent.charged_back or zero)
            if amount is None:
                # What the customer is still out of pocket: captured, less refunds and
                # earlier chargebacks.
                refunded = intent.refunded or zero
                disputed = available - refunded if refunded < available else zero
            else:
                disputed = amount
            if disputed.currency != captured.currency or not zero < disputed <= available:
                msg = (
                    f"a dispute of {disputed} does not fit sandbox intent {provider_payment_id} "
                    f"({available} captured and not charged back)"
                )
                raise GatewayConfigurationError(msg)
            dispute = _SandboxDispute(
                provider_id=self._new_id("dp"),
                intent=intent,
                amount=disputed,
                reason=reason,
                status=DisputeStatus(status),
                evidence_due_by=evidence_due_by,
            )
            self._disputes[dispute.provider_id] = dispute
            self._emit_dispute(WebhookEventType.DISPUTE_CREATED, dispute)
            return dispute.provider_id

    def update_dispute(self, dispute_id: str, status: DisputeStatus) -> None:
        """Move a dispute to ``status``, as the card network decides it.

        Emits ``dispute.closed`` when ``status`` decides the dispute (won, lost, prevented,
        an inquiry closed), ``dispute.updated`` otherwise. Losing books a ``chargeback`` in
        the ledger. Moves follow :data:`paykit.domain.dispute.DISPUTE_TRANSITIONS`; any other
        raises :class:`~paykit.errors.GatewayConfigurationError` and changes nothing.
        """
        with self._lock:
            dispute = self._find_dispute(dispute_id)
            target = DisputeStatus(status)
            allowed = DISPUTE_TRANSITIONS[dispute.status]
            if target not in allowed:
                moves = ", ".join(sorted(allowed)) or "nothing (it is closed)"
                msg = (
                    f"sandbox dispute {dispute_id} cannot move from {dispute.status} to "
                    f"{target}; it can move to: {moves}"
                )
                raise GatewayConfigurationError(msg)
            dispute.status = target
            if target is DisputeStatus.LOST:
                intent = dispute.intent
                already = intent.charged_back or Money.zero(dispute.amount.currency)
                intent.charged_back = already + dispute.amount
                self.ledger.append(
                    LedgerEntry(
                        LedgerKind.CHARGEBACK,
                        intent.payment_id,
                        dispute.provider_id,
                        dispute.amount,
                    )
                )
            closed = target in CLOSED_DISPUTE_STATUSES
            kind = WebhookEventType.DISPUTE_CLOSED if closed else WebhookEventType.DISPUTE_UPDATED
            self._emit_dispute(kind, dispute)

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

    def charged_back_total(self, payment_id: str) -> Money | None:
        """What the ledger says lost disputes took back for ``payment_id`` (``None`` if nothing)."""
        return self._ledger_total(payment_id, {LedgerKind.CHARGEBACK})

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
        if self.latency:
            time.sleep(self.latency)
        with self._lock:  # one acquisition: record the call and answer it
            self.calls.append(operation)
            first = self._replies.get(key)
            if first is not None:
                if self._first_requests[key] != request:
                    msg = f"idempotency key {key!r} was used with different parameters"
                    raise IdempotencyConflict(msg)
                return self._replay(first)
            result = perform(request)
            self._first_requests[key] = request
            self._replies[key] = result
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

    def _find_dispute(self, provider_id: str) -> _SandboxDispute:
        try:
            return self._disputes[provider_id]
        except KeyError:
            msg = f"the sandbox has no dispute {provider_id!r}"
            raise GatewayConfigurationError(msg, gateway_code="resource_missing") from None

    # -- outgoing webhooks (called with the lock held, right after the change they report) --

    def _event(
        self,
        event_type: WebhookEventType | str,
        payment: dict[str, Any],
        *,
        refund: _SandboxRefund | None = None,
        dispute: _SandboxDispute | None = None,
        failure: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "id": self._new_id("evt"),
            "type": str(event_type),
            "created": int(time.time()),
            "payment": payment,
        }
        if refund is not None:
            event["refund"] = {
                "id": refund.provider_id,
                "paykit_refund_id": refund.refund_id,
                "amount": str(refund.amount.amount),
            }
        if dispute is not None:
            due_by = dispute.evidence_due_by
            event["dispute"] = {
                "id": dispute.provider_id,
                "status": str(dispute.status),
                "amount": str(dispute.amount.amount),
                "reason": dispute.reason,
                "evidence_due_by": None if due_by is None else due_by.isoformat(),
            }
        if failure is not None:
            event["failure"] = {"code": failure[0], "message": failure[1]}
        return event

    def _signed(
        self, event: dict[str, Any], timestamp: int | None = None
    ) -> tuple[dict[str, str], bytes]:
        return self._signed_body(json.dumps(event).encode(), timestamp)

    def _signed_body(
        self, body: bytes, timestamp: int | None = None
    ) -> tuple[dict[str, str], bytes]:
        header = signature_header(self._webhook_secret, body, timestamp)
        return {SIGNATURE_HEADER: header, "Content-Type": "application/json"}, body

    def _emit(
        self,
        event_type: WebhookEventType,
        payment: dict[str, Any],
        *,
        refund: _SandboxRefund | None = None,
        dispute: _SandboxDispute | None = None,
        failure: tuple[str, str] | None = None,
    ) -> None:
        if not self.send_webhooks:
            return
        event = self._event(event_type, payment, refund=refund, dispute=dispute, failure=failure)
        self._outbox.append(json.dumps(event).encode())  # as it is now, whatever comes later

    def _emit_payment(self, event_type: WebhookEventType, intent: _Intent) -> None:
        if not self.send_webhooks:
            return  # build no event body that nobody will receive
        failure = None
        result = self._intent_result(intent)
        if result.decline_code is not None:
            failure = (result.decline_code, result.message or "")
        self._emit(event_type, _payment_body(intent), failure=failure)

    def _emit_refund(self, refund: _SandboxRefund, intent: _Intent) -> None:
        if not self.send_webhooks:
            return
        if refund.succeeded:
            self._emit(WebhookEventType.REFUND_SUCCEEDED, _payment_body(intent), refund=refund)
        else:
            failure = (refund.decline_code or "refund_failed", _REFUND_FAILED_MESSAGE)
            self._emit(
                WebhookEventType.REFUND_FAILED,
                _payment_body(intent),
                refund=refund,
                failure=failure,
            )

    def _emit_dispute(self, event_type: WebhookEventType, dispute: _SandboxDispute) -> None:
        if not self.send_webhooks:
            return
        self._emit(event_type, _payment_body(dispute.intent), dispute=dispute)

    def _charge(self, request: object) -> GatewayResult:
        assert isinstance(request, ChargeRequest)  # noqa: S101 - internal dispatch
        token = request.payment_method_token
        if token in _DECLINES or (request.off_session and token == SandboxToken.THREE_D_SECURE):
            code, message = _DECLINES.get(token, _OFF_SESSION_DECLINE)
            # A declined charge leaves no sandbox payment, so the event names none.
            declined = {
                "id": None,
                "paykit_payment_id": request.payment_id,
                "amount": str(request.amount.amount),
                "currency": request.amount.currency,
            }
            self._emit(WebhookEventType.PAYMENT_FAILED, declined, failure=(code, message))
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
            self._emit_payment(WebhookEventType.PAYMENT_REQUIRES_ACTION, intent)
            return self._intent_result(intent)
        if token == SandboxToken.PENDING:
            self._emit_payment(WebhookEventType.PAYMENT_PROCESSING, intent)
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
        event = (
            WebhookEventType.PAYMENT_SUCCEEDED
            if intent.capture
            else WebhookEventType.PAYMENT_AUTHORIZED
        )
        self._emit_payment(event, intent)

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
        self._emit_payment(WebhookEventType.PAYMENT_SUCCEEDED, intent)
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
        self._emit_payment(WebhookEventType.PAYMENT_CANCELED, intent)
        return GatewayResult(outcome=GatewayOutcome.SUCCEEDED, provider_id=intent.provider_id)

    def _refund(self, request: object) -> GatewayResult:
        assert isinstance(request, RefundRequest)  # noqa: S101 - internal dispatch
        intent = self._intent(request.provider_payment_id)
        captured = intent.captured
        zero = Money.zero(request.amount.currency)
        already = intent.refunded or zero
        # Money a lost dispute took back cannot be given back a second time.
        taken = already + (intent.charged_back or zero)
        if captured is None or intent.status is not _IntentStatus.SUCCEEDED:
            succeeded, code = False, "charge_not_captured"
        elif request.amount + taken > captured:
            succeeded, code = False, "amount_too_large"
        else:
            succeeded, code = intent.token != SandboxToken.REFUND_FAIL, "refund_failed"
        refund = _SandboxRefund(
            self._new_id("re"),
            intent.payment_id,
            request.amount,
            succeeded,
            refund_id=request.refund_id,
            decline_code=None if succeeded else code,
        )
        self._refunds[refund.provider_id] = refund
        self._refund_by_key[request.idempotency_key] = refund.provider_id
        if not succeeded:
            self._emit_refund(refund, intent)
            return GatewayResult(
                outcome=GatewayOutcome.DECLINED,
                provider_id=refund.provider_id,
                decline_code=code,
                message=_REFUND_FAILED_MESSAGE,
            )
        intent.refunded = already + request.amount
        self.ledger.append(
            LedgerEntry(LedgerKind.REFUND, intent.payment_id, refund.provider_id, request.amount)
        )
        self._emit_refund(refund, intent)
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
        outcome = _INTENT_OUTCOMES[status]
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
            message=_REFUND_FAILED_MESSAGE,
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


_REFUND_FAILED_MESSAGE: Final = "The refund could not be made to the customer's card."


def _payment_body(intent: _Intent) -> dict[str, Any]:
    """How a sandbox event describes a payment: both ids, the amount moved, the currency."""
    return {
        "id": intent.provider_id,
        "paykit_payment_id": intent.payment_id,
        "amount": str((intent.captured or intent.amount).amount),
        "currency": intent.amount.currency,
    }


def _normalise_event(event: object, *, provider: str) -> WebhookEvent:
    """A verified sandbox event, normalised; shape errors raise, bad money raises its own."""
    if not isinstance(event, dict):
        msg = "the body is not a JSON object"
        raise TypeError(msg)
    payment = _part(event, "payment")
    refund = _part(event, "refund") if event.get("refund") is not None else None
    currency = payment["currency"]
    provider_type = _string(event, "type")
    known = provider_type in set(WebhookEventType)
    kind = WebhookEventType(provider_type) if known else WebhookEventType.IGNORED
    outcome = _WEBHOOK_OUTCOMES.get(kind)
    result = None
    if outcome is not None:
        failure = _part(event, "failure") if event.get("failure") is not None else {}
        declined = outcome is GatewayOutcome.DECLINED
        moved, part = (refund, "refund") if refund is not None else (payment, "payment")
        result = GatewayResult(
            outcome=outcome,
            provider_id=_optional_string(moved, "id"),
            amount=Money.of(
                moved["amount"],
                currency,
                field=f"{part}.amount",
                currency_field="payment.currency",
            ),
            decline_code=failure.get("code", "webhook") if declined else None,
            message=failure.get("message") if declined else None,
        )
    created = event["created"]
    if isinstance(created, bool) or not isinstance(created, int):
        msg = f"created is {type(created).__name__}, not a Unix timestamp"
        raise TypeError(msg)
    return WebhookEvent(
        provider=provider,
        event_id=_string(event, "id"),
        type=kind,
        provider_type=provider_type,
        created=datetime.fromtimestamp(created, UTC),
        provider_payment_id=_optional_string(payment, "id"),  # none for a declined charge
        provider_refund_id=None if refund is None else _string(refund, "id"),
        payment_id=_optional_string(payment, "paykit_payment_id"),
        refund_id=None if refund is None else _optional_string(refund, "paykit_refund_id"),
        result=result,
        dispute=_dispute_details(event.get("dispute"), currency),
        raw=event,
    )


def _part(event: dict[str, Any], name: str) -> dict[str, Any]:
    """The object ``event[name]`` (a ``KeyError`` or ``TypeError`` if it is not one)."""
    value = event[name]
    if not isinstance(value, dict):
        msg = f"{name} is {type(value).__name__}, not an object"
        raise TypeError(msg)
    return value


def _string(body: dict[str, Any], name: str) -> str:
    """The text ``body[name]`` (a ``KeyError`` or ``TypeError`` if it is not text)."""
    value = _optional_string(body, name)
    if value is None:
        raise KeyError(name)
    return value


def _optional_string(body: dict[str, Any], name: str) -> str | None:
    """The text ``body[name]``, ``None`` if it is missing or null (``TypeError`` if not text)."""
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        msg = f"{name} is {type(value).__name__}, not a string"
        raise TypeError(msg)
    return value


def _dispute_details(body: object, currency: str) -> DisputeDetails | None:
    """The ``dispute`` part of a sandbox event, normalised (``None`` when there is none)."""
    if body is None:
        return None
    if not isinstance(body, dict):
        msg = "dispute is not an object"
        raise TypeError(msg)
    due_by = body.get("evidence_due_by")
    status = str(body["status"])
    return DisputeDetails(
        provider_dispute_id=str(body["id"]),
        status=DisputeStatus(status),
        amount=Money.of(
            body["amount"], currency, field="dispute.amount", currency_field="payment.currency"
        ),
        reason=str(body.get("reason") or ""),
        provider_status=status,
        evidence_due_by=None if due_by is None else datetime.fromisoformat(due_by),
    )
