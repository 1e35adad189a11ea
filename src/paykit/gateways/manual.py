"""A gateway for money paid outside any provider: bank transfers and crypto.

:class:`ManualGateway` never moves money. Charging a payment hands back payment instructions
(``requires_action``): a unique reference the payer quotes, the amount, the currency, a
deadline (``pay_by``) and the payee details the host configured (an IBAN and BIC, a wallet
address). The payment completes when the host tells the gateway the money arrived -- an
operator's :meth:`ManualGateway.record_received`, or a signed bank notification through
:meth:`ManualGateway.parse_webhook` -- and paykit's reconciliation asks again. An unpaid
transfer past its deadline is reported ``declined`` with ``decline_code`` ``expired``, which
paykit turns into a *cancelled* payment. A refund is a payout the host makes by hand: it stays
``pending`` until :meth:`ManualGateway.record_payout` says it was paid.

The gateway keeps its state in memory: it is the record of what the host told it, nothing
more, and it is lost when the process ends. The durable truth is paykit's own payment and
refund records: ``PaymentService.reconcile_payment`` / ``reconcile_refund`` ask this gateway
and write its answer to storage. Reconcile after each receipt or payout you record.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

import attrs
from pydantic import SecretStr

from paykit._defaults import new_id, utc_now
from paykit.domain.payment import NextAction
from paykit.domain.payment_method import PaymentMethodType
from paykit.errors import (
    CurrencyMismatchError,
    GatewayConfigurationError,
    IdempotencyConflict,
    InvalidAmountError,
    NotFound,
    PaykitError,
    WebhookSignatureError,
)
from paykit.gateways._signatures import (
    DEFAULT_TOLERANCE,
    TimestampedSignature,
    signature_header,
)
from paykit.gateways.base import (
    EXPIRED,
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

__all__ = ["RECEIVED_EVENT", "SIGNATURE_HEADER", "ManualGateway", "TransferClosedError"]

SIGNATURE_HEADER: Final = "Manual-Signature"
"""The header a bank notification is signed in (``t=...,v1=...``, see ``_signatures``)."""

RECEIVED_EVENT: Final = "transfer.received"
"""The notification type that reports money received for a reference."""

_ALPHABET: Final = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""Upper-case letters and digits without the look-alikes 0/O and 1/I."""

_CODE_LENGTH: Final = 10
_RESERVED_KEYS: Final = frozenset({"reference", "amount", "currency", "pay_by"})
_O = GatewayOutcome


class TransferClosedError(PaykitError):
    """Money arrived for a transfer that was cancelled or expired; return it by hand."""

    code = "transfer_closed"


class _Status(StrEnum):
    AWAITING = "awaiting"
    RECEIVED = "received"
    CANCELLED = "cancelled"


@attrs.define
class _Transfer:
    reference: str
    payment_id: str
    amount: Money
    pay_by: datetime
    action: NextAction
    status: _Status = _Status.AWAITING
    refunded: Money | None = None
    """Paid out or promised (pending payouts) back to the payer."""


class _PayoutStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    DECLINED = "declined"


@attrs.define
class _Payout:
    payout_id: str
    refund_id: str
    reference: str
    amount: Money
    status: _PayoutStatus
    decline_code: str | None = None
    message: str | None = None


class ManualGateway:
    """Bank transfers and crypto paid outside any provider, confirmed by the host.

    ``bank_details`` and ``crypto_details`` are the payee details shown to the payer with
    every ``bank_transfer`` / ``crypto`` payment (``{"iban": ..., "bic": ...}``,
    ``{"network": ..., "address": ...}``); other method types get the bank details.
    ``expires_after`` is how long the payer has to pay, measured on ``clock`` (an aware
    ``datetime`` factory, replaceable in tests). ``notification_secret`` signs and verifies
    bank notifications (the ``Manual-Signature`` header); without it, every notification is
    refused.

    State lives in memory and is guarded by one lock: it is the record of what the host told
    the gateway, while paykit's storage keeps the durable truth (see the module docstring).
    """

    def __init__(  # noqa: PLR0913 - each is a separate, optional setting
        self,
        *,
        name: str = "manual",
        bank_details: Mapping[str, str] | None = None,
        crypto_details: Mapping[str, str] | None = None,
        expires_after: timedelta = timedelta(days=7),
        notification_secret: str | SecretStr | None = None,
        clock: Callable[[], datetime] = utc_now,
        tolerance: int = DEFAULT_TOLERANCE,
    ) -> None:
        if expires_after <= timedelta(0):
            msg = "expires_after must be a positive duration"
            raise GatewayConfigurationError(msg)
        self._name = name
        self._details = {
            "bank_transfer": _checked_details(bank_details, "bank_details"),
            "crypto_transfer": _checked_details(crypto_details, "crypto_details"),
        }
        self._expires_after = expires_after
        self._clock = clock
        if isinstance(notification_secret, str):
            notification_secret = SecretStr(notification_secret)
        self._secret = notification_secret
        self._signature = TimestampedSignature(
            SIGNATURE_HEADER,
            [] if notification_secret is None else [notification_secret],
            tolerance=tolerance,
            clock=lambda: self._clock().timestamp(),
        )
        self._lock = threading.Lock()
        self._transfers: dict[str, _Transfer] = {}
        self._by_payment: dict[str, str] = {}
        self._charges: dict[str, tuple[ChargeRequest, str]] = {}
        self._payouts: dict[str, _Payout] = {}
        self._refunds: dict[str, tuple[RefundRequest, str]] = {}
        self._events: dict[str, WebhookEvent] = {}

    @property
    def name(self) -> str:
        """The provider name payment methods and payments carry."""
        return self._name

    def __repr__(self) -> str:
        return f"ManualGateway(name={self._name!r}, expires_after={self._expires_after!r})"

    # -- the Gateway Protocol ------------------------------------------------------------

    def charge(self, request: ChargeRequest) -> GatewayResult:
        """Issue payment instructions: ``requires_action`` with a new reference.

        The same idempotency key returns the same transfer (its current state); the same key
        with other parameters raises :class:`~paykit.errors.IdempotencyConflict`.
        """
        if not request.capture:
            msg = (
                "an offline payment (bank transfer, crypto) cannot be authorized: the payer "
                "sends the money or not, nothing can be held; charge with capture=True"
            )
            raise GatewayConfigurationError(msg)
        kind = (
            "crypto_transfer"
            if request.payment_method_type is PaymentMethodType.CRYPTO
            else "bank_transfer"
        )
        details = self._details[kind]
        if details is None:
            argument = "crypto_details" if kind == "crypto_transfer" else "bank_details"
            msg = f"{self._name} has no {argument}, so it cannot tell the payer where to pay"
            raise GatewayConfigurationError(msg)
        with self._lock:
            known = self._charges.get(request.idempotency_key)
            if known is not None:
                first, reference = known
                if first != request:
                    msg = (
                        f"idempotency key {request.idempotency_key!r} was used with "
                        "different parameters"
                    )
                    raise IdempotencyConflict(msg)
                return self._transfer_result(self._transfers[reference])
            reference = self._new_code("PK-", self._transfers)
            pay_by = self._clock() + self._expires_after
            instructions = {
                "reference": reference,
                "amount": str(request.amount.amount),
                "currency": request.amount.currency,
                "pay_by": pay_by.isoformat(),
                **details,
            }
            transfer = _Transfer(
                reference=reference,
                payment_id=request.payment_id,
                amount=request.amount,
                pay_by=pay_by,
                action=NextAction(type=kind, instructions=instructions),
            )
            self._transfers[reference] = transfer
            self._by_payment[request.payment_id] = reference
            self._charges[request.idempotency_key] = (request, reference)
            return self._transfer_result(transfer)

    def capture(self, request: CaptureRequest) -> GatewayResult:
        """Refuse: an offline payment is never authorized, so there is nothing to capture."""
        msg = (
            f"{self._name} cannot capture payment {request.payment_id}: offline payments are "
            "never authorized, they complete when the money arrives"
        )
        raise GatewayConfigurationError(msg)

    def void(self, request: VoidRequest) -> GatewayResult:
        """Cancel a transfer still awaiting the money; ``declined`` once the money arrived."""
        with self._lock:
            transfer = self._transfers.get(request.provider_payment_id)
            if transfer is None:
                return _not_found("payment")
            if transfer.status is _Status.RECEIVED:
                return GatewayResult(
                    outcome=_O.DECLINED,
                    provider_id=transfer.reference,
                    decline_code="already_received",
                    message="The money already arrived; refund it instead.",
                )
            transfer.status = _Status.CANCELLED
            return GatewayResult(outcome=_O.SUCCEEDED, provider_id=transfer.reference)

    def refund(self, request: RefundRequest) -> GatewayResult:
        """Record a payout the host must make by hand: ``pending`` with a payout id.

        Only a received transfer can be refunded, never above what remains of it; a refused
        refund is ``declined``. The same idempotency key returns the same payout.
        """
        with self._lock:
            known = self._refunds.get(request.idempotency_key)
            if known is not None:
                first, payout_id = known
                if first != request:
                    msg = (
                        f"idempotency key {request.idempotency_key!r} was used with "
                        "different parameters"
                    )
                    raise IdempotencyConflict(msg)
                return _payout_result(self._payouts[payout_id])
            transfer = self._transfers.get(request.provider_payment_id)
            payout = _Payout(
                payout_id=self._new_code("PO-", self._payouts),
                refund_id=request.refund_id,
                reference=request.provider_payment_id,
                amount=request.amount,
                status=_PayoutStatus.PENDING,
            )
            refusal = _refusal(transfer, request.amount)
            if refusal is not None:
                payout.status = _PayoutStatus.DECLINED
                payout.decline_code, payout.message = refusal
            elif transfer is not None:
                transfer.refunded = (transfer.refunded or Money.zero(request.amount.currency)) + (
                    request.amount
                )
            self._payouts[payout.payout_id] = payout
            self._refunds[request.idempotency_key] = (request, payout.payout_id)
            return _payout_result(payout)

    def retrieve_payment(self, lookup: PaymentLookup) -> GatewayResult:
        """Report a transfer, found by its reference or by paykit's payment id."""
        with self._lock:
            reference = lookup.provider_payment_id or self._by_payment.get(lookup.payment_id)
            transfer = None if reference is None else self._transfers.get(reference)
            if transfer is None:
                return _not_found("payment")
            return self._transfer_result(transfer)

    def retrieve_refund(self, lookup: RefundLookup) -> GatewayResult:
        """Report a payout, found by its id or by the refund's idempotency key."""
        with self._lock:
            payout_id = lookup.provider_refund_id
            if payout_id is None and lookup.idempotency_key in self._refunds:
                payout_id = self._refunds[lookup.idempotency_key][1]
            payout = None if payout_id is None else self._payouts.get(payout_id)
            if payout is None:
                return _not_found("refund")
            return _payout_result(payout)

    # -- operator calls ------------------------------------------------------------------

    def record_received(self, reference: str, amount: Money) -> str:
        """Record that ``amount`` arrived for ``reference``; return paykit's payment id.

        ``amount`` must be exactly what is due (else a :class:`~paykit.errors.ValidationError`
        on ``amount``). Recording the same receipt twice changes nothing. Money for an
        unknown reference raises :class:`~paykit.errors.NotFound`; for a transfer that expired
        or was cancelled, :class:`TransferClosedError`: return that money by hand.
        Call ``PaymentService.reconcile_payment`` with the returned id afterwards.
        """
        with self._lock:
            return self._record_received(reference, amount)

    def record_payout(self, payout_id: str) -> str:
        """Record that the host paid a refund's payout back; return paykit's refund id.

        Recording it twice changes nothing. Call ``PaymentService.reconcile_refund`` with the
        returned id afterwards.
        """
        with self._lock:
            payout = self._payouts.get(payout_id.strip())
            if payout is None:
                raise NotFound("payout", payout_id)
            if payout.status is _PayoutStatus.DECLINED:
                msg = f"payout {payout.payout_id} was refused ({payout.message}); nothing is owed"
                raise TransferClosedError(msg)
            payout.status = _PayoutStatus.PAID
            return payout.refund_id

    # -- bank notifications (the webhook path) -------------------------------------------

    def notification(
        self, reference: str, amount: Money, *, event_id: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        """The headers and body of a signed ``transfer.received`` notification.

        For the host's bank integration (sign what the bank reported) and for tests.
        """
        if self._secret is None:
            msg = f"{self._name} has no notification_secret to sign notifications with"
            raise GatewayConfigurationError(msg)
        event = {
            "id": event_id or new_id("ntf"),
            "type": RECEIVED_EVENT,
            "reference": reference,
            "amount": str(amount.amount),
            "currency": amount.currency,
        }
        body = json.dumps(event).encode()
        stamp = int(self._clock().timestamp())
        header = signature_header(self._secret, body, stamp)
        return {SIGNATURE_HEADER: header, "Content-Type": "application/json"}, body

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Verify a bank notification, record the receipt it reports and normalise it.

        A ``transfer.received`` notification is recorded like :meth:`record_received` (and
        raises what it raises) once per event id; a repeat returns the first event. Other
        types are returned as ``ignored``.
        """
        timestamp = self._signature.verify(headers, body)
        try:
            event: dict[str, Any] = json.loads(body)
            event_id = str(event["id"])
            provider_type = str(event["type"])
        except (ValueError, KeyError, TypeError) as error:
            msg = f"the notification body is not a {self._name} event: {error}"
            raise WebhookSignatureError(msg) from None
        created = datetime.fromtimestamp(timestamp, UTC)
        if provider_type != RECEIVED_EVENT:
            return WebhookEvent(
                provider=self._name,
                event_id=event_id,
                type=WebhookEventType.IGNORED,
                provider_type=provider_type,
                created=created,
                raw=event,
            )
        try:
            reference = str(event["reference"])
            amount = Money.of(event["amount"], str(event["currency"]))
        except (KeyError, TypeError) as error:
            msg = f"the {RECEIVED_EVENT} notification lacks {error}"
            raise WebhookSignatureError(msg) from None
        with self._lock:
            if event_id in self._events:
                return self._events[event_id]
            payment_id = self._record_received(reference, amount)
            transfer = self._transfers[reference.strip().upper()]
            parsed = WebhookEvent(
                provider=self._name,
                event_id=event_id,
                type=WebhookEventType.PAYMENT_SUCCEEDED,
                provider_type=provider_type,
                created=created,
                provider_payment_id=transfer.reference,
                payment_id=payment_id,
                result=GatewayResult(
                    outcome=_O.SUCCEEDED, provider_id=transfer.reference, amount=transfer.amount
                ),
                raw=event,
            )
            self._events[event_id] = parsed
            return parsed

    # -- internals ----------------------------------------------------------------------

    def _record_received(self, reference: str, amount: Money) -> str:
        transfer = self._transfers.get(reference.strip().upper())
        if transfer is None:
            raise NotFound("transfer", reference)
        if transfer.status is _Status.CANCELLED or self._expired(transfer):
            state = "was cancelled" if transfer.status is _Status.CANCELLED else "expired"
            msg = (
                f"transfer {transfer.reference} {state}; paykit will not take {amount} for it. "
                "Return the money to the payer by hand."
            )
            raise TransferClosedError(msg)
        if amount.currency != transfer.amount.currency:
            msg = f"{amount} is not in {transfer.amount.currency}, the currency due"
            raise CurrencyMismatchError(msg, field="amount")
        if amount != transfer.amount:
            msg = f"{amount} received but {transfer.amount} is due for {transfer.reference}"
            raise InvalidAmountError(msg, field="amount")
        transfer.status = _Status.RECEIVED
        return transfer.payment_id

    def _expired(self, transfer: _Transfer) -> bool:
        return transfer.status is _Status.AWAITING and self._clock() > transfer.pay_by

    def _transfer_result(self, transfer: _Transfer) -> GatewayResult:
        reference = transfer.reference
        if transfer.status is _Status.RECEIVED:
            return GatewayResult(
                outcome=_O.SUCCEEDED, provider_id=reference, amount=transfer.amount
            )
        if transfer.status is _Status.CANCELLED:
            return GatewayResult(
                outcome=_O.DECLINED,
                provider_id=reference,
                decline_code="canceled",
                message="The transfer was cancelled.",
            )
        if self._expired(transfer):
            return GatewayResult(
                outcome=_O.DECLINED,
                provider_id=reference,
                decline_code=EXPIRED,
                message="The payer did not pay before the deadline.",
            )
        return GatewayResult(
            outcome=_O.REQUIRES_ACTION,
            provider_id=reference,
            next_action=transfer.action,
            raw={"pay_by": transfer.pay_by.isoformat()},
        )

    @staticmethod
    def _new_code(prefix: str, taken: Mapping[str, object]) -> str:
        while True:
            code = prefix + "".join(secrets.choice(_ALPHABET) for _ in range(_CODE_LENGTH))
            if code not in taken:
                return code


def _checked_details(details: Mapping[str, str] | None, argument: str) -> dict[str, str] | None:
    if details is None:
        return None
    clash = _RESERVED_KEYS & set(details)
    if clash:
        msg = f"{argument} may not set {sorted(clash)}: the gateway fills those in"
        raise GatewayConfigurationError(msg)
    return dict(details)


def _refusal(transfer: _Transfer | None, amount: Money) -> tuple[str, str] | None:
    """Why a refund of ``amount`` cannot be paid out, or ``None`` if it can."""
    if transfer is None:
        return NOT_FOUND, "There is no such transfer."
    if transfer.status is not _Status.RECEIVED:
        return "not_received", "The money never arrived, so there is nothing to return."
    if amount.currency != transfer.amount.currency:
        return "currency_mismatch", f"The transfer was paid in {transfer.amount.currency}."
    already = transfer.refunded or Money.zero(amount.currency)
    if amount.is_zero() or amount + already > transfer.amount:
        return "amount_too_large", f"Only {transfer.amount - already} remains to refund."
    return None


def _payout_result(payout: _Payout) -> GatewayResult:
    if payout.status is _PayoutStatus.DECLINED:
        return GatewayResult(
            outcome=_O.DECLINED,
            provider_id=payout.payout_id,
            decline_code=payout.decline_code,
            message=payout.message,
        )
    outcome = _O.SUCCEEDED if payout.status is _PayoutStatus.PAID else _O.PENDING
    return GatewayResult(outcome=outcome, provider_id=payout.payout_id, amount=payout.amount)


def _not_found(kind: str) -> GatewayResult:
    return GatewayResult(
        outcome=_O.DECLINED,
        decline_code=NOT_FOUND,
        message=f"The {kind} is not known to the manual gateway.",
    )
