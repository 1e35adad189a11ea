"""Refunds: create (reserving the amount), process, cancel, read, reconcile."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from paykit.domain.events import EventType
from paykit.domain.metadata import check_metadata
from paykit.domain.payment import Payment, PaymentStatus
from paykit.domain.refund import Refund, RefundStatus
from paykit.domain.transaction_log import LogType
from paykit.errors import (
    IdempotencyConflict,
    InvalidAmountError,
    InvalidRefundAmountError,
    RefundProcessingError,
)
from paykit.gateways.base import (
    Gateway,
    GatewayResult,
    RefundLookup,
    RefundRequest,
)
from paykit.money import AmountLike, Money
from paykit.service._context import (
    ServiceContext,
    provider_id,
)
from paykit.service._rules.inbox import settle_refund
from paykit.service._rules.provider_keys import Operation, provider_key
from paykit.service._rules.settlement import fail_refund
from paykit.service._rules.transaction import Transaction
from paykit.service._rules.validation import (
    checked_id,
    checked_text,
)
from paykit.service._steps import Steps, call, read, run_sync, transact

__all__ = ["Refunds"]


_P = PaymentStatus
_R = RefundStatus


class Refunds:
    """Refunds: create, process, cancel, read, reconcile (``service.refunds``)."""

    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    def create(
        self,
        payment_id: str,
        amount: AmountLike | None = None,
        *,
        reason: str = "",
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Refund:
        """Record a ``pending`` refund, reserving ``amount`` (default: all that is refundable).

        The balance check and the reservation are one commit, so concurrent refunds can
        never together exceed what was captured.
        """
        payment_id = checked_id(payment_id, "payment_id")
        reason = checked_text(reason, "reason", required=False)
        extra = check_metadata(metadata)
        if idempotency_key is not None:
            idempotency_key = checked_text(idempotency_key, "idempotency_key", max_length=255)

        def work(tx: Transaction) -> Refund:
            payment = tx.uow.payments.get(payment_id)
            money = None if amount is None else _refund_money(amount, payment.currency)
            if idempotency_key is not None:
                existing = tx.uow.refunds.find_by_idempotency_key(payment_id, idempotency_key)
                if existing is not None:
                    if (
                        (money is not None and existing.amount != money)
                        or existing.reason != reason
                        or existing.metadata != extra
                    ):
                        msg = (
                            f"idempotency key {idempotency_key!r} was used for refund "
                            f"{existing.id} with different parameters"
                        )
                        raise IdempotencyConflict(msg)
                    return existing
            if money is None:
                money = payment.refundable_amount
                if money.is_zero() and payment.status in (_P.COMPLETED, _P.PARTIALLY_REFUNDED):
                    msg = "nothing is left to refund on this payment"
                    raise InvalidRefundAmountError(msg, field="amount")
            payment.reserve_refund(money)
            tx.uow.payments.update(payment)
            refund = Refund(
                id=tx.new_id("re"),
                payment_id=payment.id,
                amount=money,
                reason=reason,
                metadata=extra,
                idempotency_key=idempotency_key,
                created_at=tx.now,
                updated_at=tx.now,
            )
            tx.uow.refunds.add(refund)
            tx.log(
                payment.id,
                LogType.REFUND_CREATED,
                f"refund of {money} created" + (f": {reason}" if reason else ""),
                refund_id=refund.id,
                amount=money,
                new_status=refund.status,
            )
            tx.emit(EventType.REFUND_CREATED, payment, refund)
            return refund

        return self._context.transact(work)

    def process(self, refund_id: str) -> Refund:
        """Send a ``pending`` refund to the payment's gateway and record the outcome."""
        return run_sync(self._context, self.process_steps(refund_id))

    def process_steps(self, refund_id: str) -> Steps[Refund]:
        """:meth:`process` as steps, for either driver (see ``_steps``)."""
        refund_id = checked_id(refund_id, "refund_id")

        def claim(tx: Transaction) -> tuple[Refund, Payment]:
            refund, payment = tx.uow.refunds.get_with_payment(refund_id)
            # Everything that can fail locally fails before the claim, not after it.
            self._context.gateways.by_name(payment.provider)
            provider_id(payment)
            refund.attempt_count += 1
            refund.submitted_at = tx.now
            tx.move_refund(
                refund,
                payment,
                _R.PROCESSING,
                LogType.REFUND_PROCESSING,
                f"refund of {refund.amount} submitted to {payment.provider}",
            )
            return refund, payment

        refund, payment = yield from transact(claim)
        gateway = self._context.gateways.by_name(payment.provider)
        request = RefundRequest(
            refund_id=refund.id,
            payment_id=payment.id,
            provider_payment_id=provider_id(payment),
            amount=refund.amount,
            idempotency_key=provider_key(refund.id, Operation.REFUND),
            reason=refund.reason,
        )
        result = yield from self._call_refund_gateway(
            gateway, "refund", request, refund, Operation.REFUND
        )
        return (
            yield from transact(
                partial(
                    settle_refund, refund_id=refund.id, result=result, operation=Operation.REFUND
                )
            )
        )

    def cancel(self, refund_id: str) -> Refund:
        """Cancel a ``pending`` refund and release its reservation."""
        refund_id = checked_id(refund_id, "refund_id")

        def work(tx: Transaction) -> Refund:
            refund, payment = tx.uow.refunds.get_with_payment(refund_id)
            tx.move_refund(
                refund, payment, _R.CANCELLED, LogType.REFUND_CANCELLED, "refund cancelled"
            )
            payment.release_refund(refund.amount)
            tx.uow.payments.update(payment)
            return refund

        return self._context.transact(work)

    def get(self, refund_id: str) -> Refund:
        """Return one refund (``NotFound`` if there is none)."""
        return run_sync(self._context, self.get_steps(refund_id))

    def get_steps(self, refund_id: str) -> Steps[Refund]:
        """:meth:`get` as steps, for either driver (see ``_steps``)."""
        refund_id = checked_id(refund_id, "refund_id")
        return (yield from read(lambda tx: tx.uow.refunds.get(refund_id)))

    def list_for_payment(self, payment_id: str) -> list[Refund]:
        """Every refund of a payment, oldest first."""
        payment_id = checked_id(payment_id, "payment_id")
        return list(self._context.read(lambda tx: tx.uow.refunds.list_for_payment(payment_id)))

    def reconcile(self, refund_id: str) -> Refund:
        """Ask the provider about a ``processing`` refund; any other refund is returned as is."""
        return run_sync(self._context, self.reconcile_steps(refund_id))

    def reconcile_steps(self, refund_id: str) -> Steps[Refund]:
        """:meth:`reconcile` as steps, for either driver (see ``_steps``)."""
        refund = yield from self.get_steps(refund_id)
        if refund.status is not _R.PROCESSING:
            return refund
        payment = yield from read(lambda tx: tx.uow.payments.get(refund.payment_id))
        gateway = self._context.gateways.by_name(payment.provider)
        lookup = RefundLookup(
            refund_id=refund.id,
            provider_refund_id=refund.provider_refund_id,
            provider_payment_id=provider_id(payment),
            idempotency_key=provider_key(refund.id, Operation.REFUND),
            amount=refund.amount,
        )
        result = yield from self._call_refund_gateway(
            gateway, "retrieve_refund", lookup, refund, Operation.RECONCILE
        )
        result = self._context.believable(result, refund.submitted_at or refund.updated_at)
        return (
            yield from transact(
                partial(
                    settle_refund,
                    refund_id=refund.id,
                    result=result,
                    operation=Operation.RECONCILE,
                )
            )
        )

    def _call_refund_gateway(
        self,
        gateway: Gateway,
        method: str,
        argument: object,
        refund: Refund,
        operation: Operation,
    ) -> Steps[GatewayResult]:
        """Like ``_call_gateway`` for refunds.

        A refused refund *request* fails the refund (no money moved). A refused lookup during
        reconciliation proves nothing about the refund, so it only logs; anything else leaves
        the refund waiting for the next reconciliation.
        """
        outcome = yield from call(gateway, method, argument)
        if isinstance(outcome, GatewayResult):
            return outcome

        def record(tx: Transaction) -> None:
            current = tx.uow.refunds.get(refund.id)
            payment = tx.uow.payments.get(current.payment_id)
            tx.log(
                payment.id,
                LogType.ERROR,
                f"{operation} {outcome.describe()}",
                refund_id=current.id,
                data=outcome.data,
            )
            if (
                operation is Operation.REFUND
                and outcome.refused
                and current.status is _R.PROCESSING
            ):
                fail_refund(tx, current, payment, outcome.code, str(outcome.error))

        yield from transact(record)
        msg = f"refund {refund.id} failed: {outcome.error}"
        raise RefundProcessingError(msg, refund_id=refund.id) from outcome.error


def _refund_money(amount: AmountLike, currency: str) -> Money:
    """Parse a refund amount; every way it can be wrong is an ``InvalidRefundAmountError``."""
    try:
        return Money.of(amount, currency)
    except InvalidAmountError as error:
        raise InvalidRefundAmountError(error.detail, field=error.field) from None
