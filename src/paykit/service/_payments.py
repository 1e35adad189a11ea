"""Payments: create, process, capture, void, cancel, read, reconcile."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, Final, NoReturn

import attrs

from paykit.domain.events import EventType
from paykit.domain.metadata import check_metadata
from paykit.domain.payment import Payment, PaymentStatus
from paykit.domain.transaction_log import LogType, TransactionLogEntry
from paykit.errors import (
    IdempotencyConflict,
    InvalidAmountError,
    InvalidStateTransition,
    PaymentMethodOwnershipError,
    PaymentProcessingError,
    UnsupportedPaymentMethodError,
)
from paykit.gateways.base import (
    CaptureRequest,
    ChargeRequest,
    Gateway,
    GatewayOutcome,
    GatewayResult,
    PaymentLookup,
    VoidRequest,
)
from paykit.money import AmountLike, Money
from paykit.service._context import (
    ProviderFailure,
    ServiceContext,
    Verdict,
    provider_id,
    require_active,
)
from paykit.service._rules.inbox import settle_payment
from paykit.service._rules.provider_keys import Operation, provider_key
from paykit.service._rules.settlement import learn_provider_payment_id, result_data
from paykit.service._rules.transaction import Transaction
from paykit.service._rules.validation import (
    checked_id,
    checked_text,
    parse_payment_status,
)
from paykit.service._steps import Steps, call, read, run_sync, transact

if TYPE_CHECKING:
    from paykit.fraud import RiskContext

__all__ = ["RECONCILABLE_STATUSES", "Payments"]


_P = PaymentStatus
_O = GatewayOutcome

RECONCILABLE_STATUSES: Final = frozenset({_P.PROCESSING, _P.REQUIRES_ACTION, _P.AUTHORIZED})
"""The payments ``reconcile_payment`` asks the provider about (any other is settled)."""
"""Payments whose truth may differ at the provider: reconciliation asks about these."""


class Payments:
    """Payments: create, process, capture, void, cancel, read, reconcile (``service.payments``)."""

    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    def create(  # noqa: PLR0913 - the fields of a payment
        self,
        *,
        customer_id: str,
        order_id: str,
        payment_method_id: str,
        amount: AmountLike,
        currency: str,
        capture: bool = True,
        description: str = "",
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        risk: RiskContext | None = None,
    ) -> Payment:
        """Record a ``pending`` payment of ``amount`` for the host's ``order_id``.

        ``capture=False`` makes it authorize-only (capture later with
        :meth:`PaymentService.capture_payment`). The same ``idempotency_key`` (per customer)
        returns the same payment; the same key with different parameters raises
        :class:`~paykit.errors.IdempotencyConflict`. ``risk`` (a
        :class:`~paykit.fraud.RiskContext`) is kept for fraud screening when the service
        has it (``PaymentService(fraud=...)``); without screening it is ignored.
        """
        return run_sync(
            self._context,
            self.create_steps(
                customer_id=customer_id,
                order_id=order_id,
                payment_method_id=payment_method_id,
                amount=amount,
                currency=currency,
                capture=capture,
                description=description,
                metadata=metadata,
                idempotency_key=idempotency_key,
                risk=risk,
            ),
        )

    def create_steps(  # noqa: PLR0913 - the fields of a payment
        self,
        *,
        customer_id: str,
        order_id: str,
        payment_method_id: str,
        amount: AmountLike,
        currency: str,
        capture: bool = True,
        description: str = "",
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        risk: RiskContext | None = None,
    ) -> Steps[Payment]:
        """:meth:`create` as steps (one unit of work), for either driver (see ``_steps``)."""
        customer_id = checked_text(customer_id, "customer_id", max_length=255)
        order_id = checked_text(order_id, "order_id", max_length=255)
        payment_method_id = checked_text(payment_method_id, "payment_method_id", max_length=255)
        money = Money.of(amount, currency)
        if money.is_zero():
            raise InvalidAmountError("must be above zero", field="amount")
        description = checked_text(description, "description", required=False)
        extra = check_metadata(metadata)
        if idempotency_key is not None:
            idempotency_key = checked_text(idempotency_key, "idempotency_key", max_length=255)

        def work(tx: Transaction) -> Payment:
            if idempotency_key is not None:
                existing = tx.uow.payments.find_by_idempotency_key(customer_id, idempotency_key)
                if existing is not None:
                    same = (
                        existing.order_id == order_id
                        and existing.payment_method_id == payment_method_id
                        and existing.amount == money
                        and existing.capture == capture
                        and existing.description == description
                        and existing.metadata == extra
                    )
                    if not same:
                        msg = (
                            f"idempotency key {idempotency_key!r} was used for payment "
                            f"{existing.id} with different parameters"
                        )
                        raise IdempotencyConflict(msg)
                    return existing
            method = tx.uow.payment_methods.get(payment_method_id)
            if method.customer_id != customer_id:
                msg = f"payment method {method.id} does not belong to customer {customer_id!r}"
                raise PaymentMethodOwnershipError(msg)
            require_active(method)
            gateway = self._context.gateways.for_method_type(method.type, money.currency)
            if gateway.name != method.provider:
                msg = (
                    f"payment method {method.id} holds a {method.provider!r} token but "
                    f"{method.type} payments go to {gateway.name!r}"
                )
                raise UnsupportedPaymentMethodError(msg)
            zero = Money.zero(money.currency)
            screening = self._context.screening
            payment = Payment(
                id=tx.new_id("pay"),
                customer_id=customer_id,
                order_id=order_id,
                payment_method_id=method.id,
                payment_method_type=method.type,
                provider=gateway.name,
                amount=money,
                capture=capture,
                captured_amount=zero,
                refunded_amount=zero,
                refund_reserved_amount=zero,
                description=description,
                metadata=extra,
                idempotency_key=idempotency_key,
                risk_context=None if screening is None else screening.context_to_keep(risk),
                created_at=tx.now,
                updated_at=tx.now,
            )
            tx.uow.payments.add(payment)
            tx.log(
                payment.id,
                LogType.PAYMENT_CREATED,
                f"payment of {money} created for order {order_id}, routed to {gateway.name}",
                amount=money,
                new_status=payment.status,
                data={
                    "route": [
                        g.name for g in self._context.gateways.route(method.type, money.currency)
                    ]
                },
            )
            tx.emit(EventType.PAYMENT_CREATED, payment)
            return payment

        return (yield from transact(work))

    def process(
        self,
        payment_id: str,
        *,
        return_url: str | None = None,
        off_session: bool = False,
        risk: RiskContext | None = None,
    ) -> Payment:
        """Submit a ``pending`` payment to its gateway and record the outcome.

        Returns the payment: ``completed`` (or ``authorized``), ``failed`` on a decline,
        ``requires_action`` with ``next_action`` (its client secret is on the returned object
        only, never stored), or still ``processing`` when the outcome is unknown.
        ``off_session=True`` says the customer is not there (a renewal, a delayed charge):
        a charge their bank wants authenticated fails with ``authentication_required``
        instead of waiting for an action nobody will take.

        With fraud screening (``PaymentService(fraud=...)``) the payment is screened first,
        with ``risk`` laid over the context given to ``create_payment``: a ``block`` fails
        it (``failure_code="fraud_blocked"``) and sends nothing to the provider; a
        ``review`` authorizes it only and holds it for ``approve_review`` or
        ``reject_review`` (see docs/fraud.md).
        """
        return run_sync(
            self._context,
            self.process_steps(
                payment_id, return_url=return_url, off_session=off_session, risk=risk
            ),
        )

    def process_steps(
        self,
        payment_id: str,
        *,
        return_url: str | None = None,
        off_session: bool = False,
        risk: RiskContext | None = None,
    ) -> Steps[Payment]:
        """:meth:`process` as steps, for either driver (see ``_steps``)."""
        payment_id = checked_id(payment_id, "payment_id")
        if return_url is not None:
            return_url = checked_text(return_url, "return_url", max_length=2048)
        screening = self._context.screening
        decide = None if screening is None else (yield from screening.screen(payment_id, risk))

        def claim(tx: Transaction) -> tuple[Payment, str, Verdict | None]:
            payment, method = tx.uow.payments.get_with_method(payment_id)
            if payment.status is not _P.PENDING:
                msg = (
                    f"payment {payment.id} is {payment.status}; only pending payments are "
                    "processed (use reconcile_payment for one in processing)"
                )
                raise InvalidStateTransition(
                    msg, current=str(payment.status), requested=str(_P.PROCESSING)
                )
            require_active(method)
            self._context.gateways.by_name(payment.provider)  # refuse before claiming, not after
            verdict = None if decide is None else decide(tx, payment, method)
            if verdict is not None:
                verdict.record(tx, payment)  # a block fails the payment here: nothing is sent
                if verdict.blocks:
                    return payment, method.provider_payment_method_id, verdict
            payment.attempt_count += 1
            payment.submitted_at = tx.now
            tx.move_payment(
                payment,
                _P.PROCESSING,
                LogType.PAYMENT_PROCESSING,
                f"submitted to {payment.provider} (attempt {payment.attempt_count}"
                f"{', customer not present' if off_session else ''})",
            )
            return payment, method.provider_payment_method_id, verdict

        payment, token, verdict = yield from transact(claim)
        if verdict is not None and verdict.blocks:
            return payment
        request = ChargeRequest(
            payment_id=payment.id,
            amount=payment.amount,
            payment_method_token=token,
            payment_method_type=payment.payment_method_type,
            customer_id=payment.customer_id,
            idempotency_key=provider_key(payment.id, Operation.CHARGE),
            capture=payment.capture and (verdict is None or verdict.captures),
            request_three_d_secure=verdict is not None and verdict.three_d_secure,
            description=payment.description,
            return_url=return_url,
            metadata={key: str(value) for key, value in payment.metadata.items()},
            off_session=off_session,
        )
        outcome = yield from self._charge_along_route(payment, request)
        if isinstance(outcome, ProviderFailure):
            return (yield from self._record_failure(payment.id, Operation.CHARGE, outcome))
        payment = yield from self._record_payment_result(payment.id, outcome, Operation.CHARGE)
        if verdict is None:
            return payment
        return (yield from self._after_screened_charge(payment, outcome, verdict))

    def _after_screened_charge(
        self, payment: Payment, outcome: GatewayResult, verdict: Verdict
    ) -> Steps[Payment]:
        """Capture, void or hold a screened payment, as the post-authorization check says."""
        screening = self._context.screening
        assert screening is not None  # noqa: S101 - only screened payments come here
        after = yield from screening.after_charge(payment, outcome, verdict)
        if after == "capture":
            return (yield from self.capture_steps(payment.id))
        if after == "void":
            return (yield from self._void(payment))
        return payment

    def _charge_along_route(
        self, payment: Payment, request: ChargeRequest
    ) -> Steps[GatewayResult | ProviderFailure]:
        """Charge through the payment's gateway, failing over along its route when allowed.

        The next gateway is tried only when the previous one definitely did not take the
        money (:func:`_failover_reason`); each move is written to the transaction log.
        """
        route = self._route(payment)
        for position, gateway in enumerate(route):
            if gateway.name != payment.provider:
                payment = yield from transact(
                    partial(self._fail_over, payment=payment, gateway=gateway)
                )
            outcome = yield from call(gateway, "charge", request)
            reason = _failover_reason(outcome)
            if reason is None or position == len(route) - 1:
                return outcome
            yield from transact(partial(_log_failover, payment_id=payment.id, reason=reason))
        msg = "unreachable: a route has at least one gateway"  # pragma: no cover
        raise AssertionError(msg)  # pragma: no cover

    def _route(self, payment: Payment) -> tuple[Gateway, ...]:
        """The gateways this payment may still try: its own, then the later ones of its route."""
        route = self._context.gateways.route(payment.payment_method_type, payment.currency)
        names = [gateway.name for gateway in route]
        if payment.provider not in names:  # re-configured since: only its own gateway
            return (self._context.gateways.by_name(payment.provider),)
        return route[names.index(payment.provider) :]

    @staticmethod
    def _fail_over(tx: Transaction, *, payment: Payment, gateway: Gateway) -> Payment:
        """Move a payment that definitely was not taken to the next gateway of its route."""
        current = tx.uow.payments.get(payment.id)
        previous = current.provider
        current.provider = gateway.name
        current.updated_at = tx.now
        tx.uow.payments.update(current)
        tx.log(
            current.id,
            LogType.PAYMENT_ROUTED,
            f"failover from {previous} to {gateway.name}",
            data={"from": previous, "to": gateway.name},
        )
        return current

    def capture(self, payment_id: str, amount: AmountLike | None = None) -> Payment:
        """Capture an ``authorized`` payment, all of it or ``amount`` of it."""
        return run_sync(self._context, self.capture_steps(payment_id, amount))

    def capture_steps(self, payment_id: str, amount: AmountLike | None = None) -> Steps[Payment]:
        """:meth:`capture` as steps, for either driver (see ``_steps``)."""
        payment_id = checked_id(payment_id, "payment_id")

        def check(tx: Transaction) -> tuple[Payment, Money]:
            payment = tx.uow.payments.get(payment_id)
            _require_status(payment, _P.AUTHORIZED, "capture")
            if self._context.screening is not None:
                self._context.screening.check_capture(tx, payment)  # not while held for review
            money = payment.amount if amount is None else Money.of(amount, payment.currency)
            payment.check_capture_amount(money)
            return payment, money

        payment, money = yield from read(check)
        gateway = self._context.gateways.by_name(payment.provider)
        request = CaptureRequest(
            payment_id=payment.id,
            provider_payment_id=provider_id(payment),
            amount=money,
            idempotency_key=provider_key(payment.id, Operation.CAPTURE),
        )
        result = yield from self._call_gateway(
            gateway, "capture", request, payment.id, Operation.CAPTURE
        )
        if result.outcome is _O.SUCCEEDED and result.amount is None:
            result = _with_amount(result, money)
        return (
            yield from self._record_payment_result(
                payment.id, result, Operation.CAPTURE, raise_on_decline=True
            )
        )

    def void(self, payment_id: str) -> Payment:
        """Release the hold of an ``authorized`` payment (it becomes ``cancelled``)."""
        return run_sync(self._context, self.void_steps(payment_id))

    def void_steps(self, payment_id: str) -> Steps[Payment]:
        """:meth:`void` as steps, for either driver (see ``_steps``)."""
        payment = yield from self.get_steps(payment_id)
        _require_status(payment, _P.AUTHORIZED, "void")
        return (yield from self._void(payment))

    def cancel(self, payment_id: str) -> Payment:
        """Cancel a payment that has not taken money: pending, requires_action or authorized."""
        return run_sync(self._context, self.cancel_steps(payment_id))

    def cancel_steps(self, payment_id: str) -> Steps[Payment]:
        """:meth:`cancel` as steps, for either driver (see ``_steps``)."""
        payment = yield from self.get_steps(payment_id)
        if payment.status in (_P.AUTHORIZED, _P.REQUIRES_ACTION):
            return (yield from self._void(payment))

        def work(tx: Transaction) -> Payment:
            current = tx.uow.payments.get(payment_id)
            tx.move_payment(current, _P.CANCELLED, LogType.PAYMENT_CANCELLED, "payment cancelled")
            return current

        return (yield from transact(work))

    def _void(self, payment: Payment) -> Steps[Payment]:
        gateway = self._context.gateways.by_name(payment.provider)
        request = VoidRequest(
            payment_id=payment.id,
            provider_payment_id=provider_id(payment),
            idempotency_key=provider_key(payment.id, Operation.VOID),
        )
        result = yield from self._call_gateway(gateway, "void", request, payment.id, Operation.VOID)
        return (
            yield from self._record_payment_result(
                payment.id, result, Operation.VOID, raise_on_decline=True
            )
        )

    def get(self, payment_id: str) -> Payment:
        """Return one payment (``NotFound`` if there is none)."""
        return run_sync(self._context, self.get_steps(payment_id))

    def get_steps(self, payment_id: str) -> Steps[Payment]:
        """:meth:`get` as steps, for either driver (see ``_steps``)."""
        payment_id = checked_id(payment_id, "payment_id")
        return (yield from read(lambda tx: tx.uow.payments.get(payment_id)))

    def get_status(self, payment_id: str) -> PaymentStatus:
        """Return the status of one payment."""
        return self.get(payment_id).status

    def find(
        self,
        *,
        customer_id: str | None = None,
        order_id: str | None = None,
        status: PaymentStatus | str | None = None,
    ) -> list[Payment]:
        """Payments matching every given filter, oldest first."""
        if customer_id is not None:
            customer_id = checked_id(customer_id, "customer_id")
        if order_id is not None:
            order_id = checked_id(order_id, "order_id")
        wanted = None if status is None else parse_payment_status(status)
        return list(
            self._context.read(
                lambda tx: tx.uow.payments.list(
                    customer_id=customer_id, order_id=order_id, status=wanted
                )
            )
        )

    def transaction_log(self, payment_id: str) -> list[TransactionLogEntry]:
        """The payment's audit log, oldest entry first (``NotFound`` for an unknown payment)."""
        payment_id = checked_id(payment_id, "payment_id")

        def work(tx: Transaction) -> list[TransactionLogEntry]:
            tx.uow.payments.get(payment_id)
            return list(tx.uow.transaction_log.list_for_payment(payment_id))

        return self._context.read(work)

    def reconcile(self, payment_id: str) -> Payment:
        """Ask the provider for the truth about a payment whose outcome paykit does not know.

        Only ``processing``, ``requires_action`` and ``authorized`` payments are asked about;
        any other payment is returned unchanged without calling the provider.
        """
        return run_sync(self._context, self.reconcile_steps(payment_id))

    def reconcile_steps(self, payment_id: str) -> Steps[Payment]:
        """:meth:`reconcile` as steps, for either driver (see ``_steps``)."""
        payment = yield from self.get_steps(payment_id)
        if payment.status not in RECONCILABLE_STATUSES:
            return payment
        gateway = self._context.gateways.by_name(payment.provider)
        lookup = PaymentLookup(
            payment_id=payment.id,
            provider_payment_id=payment.provider_payment_id,
            idempotency_key=provider_key(payment.id, Operation.CHARGE),
            amount=payment.amount,
            submitted_at=payment.submitted_at,
        )
        result = yield from self._call_gateway(
            gateway, "retrieve_payment", lookup, payment.id, Operation.RETRIEVE
        )
        result = self._context.believable(result, payment.submitted_at or payment.updated_at)
        return (yield from self._record_payment_result(payment.id, result, Operation.RECONCILE))

    def _call_gateway(
        self,
        gateway: Gateway,
        method: str,
        argument: object,
        payment_id: str,
        operation: Operation,
    ) -> Steps[GatewayResult]:
        """Call the provider for a payment; turn an exception into an audit entry and an error.

        A refused charge (see ``call_provider`` in ``_context.py``) fails the payment:
        nothing moved. An exception of unknown meaning leaves the payment where it is, for
        reconciliation.
        """
        outcome = yield from call(gateway, method, argument)
        if isinstance(outcome, GatewayResult):
            return outcome
        return (yield from self._record_failure(payment_id, operation, outcome))

    def _record_failure(
        self, payment_id: str, operation: Operation, outcome: ProviderFailure
    ) -> Steps[NoReturn]:
        """Log a provider call that raised; a refused charge fails the payment. Then raise."""

        def record(tx: Transaction) -> None:
            payment = tx.uow.payments.get(payment_id)
            tx.log(
                payment.id, LogType.ERROR, f"{operation} {outcome.describe()}", data=outcome.data
            )
            if operation is Operation.CHARGE and outcome.refused:
                payment.failure_code = outcome.code
                payment.failure_message = str(outcome.error)
                tx.move_payment(
                    payment, _P.FAILED, LogType.PAYMENT_FAILED, "the provider refused the request"
                )

        yield from transact(record)
        msg = f"{operation} of payment {payment_id} failed: {outcome.error}"
        raise PaymentProcessingError(msg, payment_id=payment_id) from outcome.error

    def _record_payment_result(
        self,
        payment_id: str,
        result: GatewayResult,
        operation: Operation,
        *,
        raise_on_decline: bool = False,
    ) -> Steps[Payment]:
        """Apply what the provider said to the payment, in one unit of work."""
        declined: list[str] = []

        def work(tx: Transaction) -> Payment:
            payment, events_waiting = tx.uow.payments.get_noting_waiting_events(
                payment_id, result.provider_id
            )
            if result.outcome is _O.DECLINED and raise_on_decline:
                learn_provider_payment_id(tx, payment, result.provider_id)
                declined.append(result.message or result.decline_code or "declined")
                tx.log(
                    payment.id,
                    LogType.ERROR,
                    f"{operation} declined by {payment.provider}: {declined[0]}",
                    data=result_data(result),
                )
                return payment
            settle_payment(tx, payment, result, operation, events_waiting=events_waiting)
            return payment

        payment = yield from transact(work)
        if declined:
            msg = f"{operation} of payment {payment_id} was declined: {declined[0]}"
            raise PaymentProcessingError(msg, payment_id=payment_id)
        if result.next_action is not None and payment.status is _P.REQUIRES_ACTION:
            # Hand the client secret to this caller only: storage and the published event
            # keep the redacted copy.
            payment = attrs.evolve(payment, next_action=result.next_action)
        return payment


TECHNICAL_DECLINES: Final = frozenset(
    {
        "processing_error",
        "gateway_unavailable",
        "issuer_not_available",
        "service_unavailable",
        "try_again_later",
    }
)
"""Decline codes that say the gateway could not process the charge, not that the card or
the customer said no: the next gateway of the route may take it."""


def _failover_reason(outcome: GatewayResult | ProviderFailure) -> str | None:
    """Why the next gateway may be tried, or ``None`` if it must not be.

    Only when the money definitely was not taken: the provider refused the request (a
    paykit error: nothing moved), or declined it for a technical reason. Never after an
    unknown outcome or a customer-side decline: a second gateway could charge twice, or
    charge a card its owner's bank refused.
    """
    if isinstance(outcome, ProviderFailure):
        return f"refused the request ({outcome.code})" if outcome.refused else None
    if outcome.outcome is _O.DECLINED and outcome.decline_code in TECHNICAL_DECLINES:
        return f"declined for a technical reason ({outcome.decline_code})"
    return None


def _log_failover(tx: Transaction, *, payment_id: str, reason: str) -> None:
    payment = tx.uow.payments.get(payment_id)
    tx.log(
        payment.id,
        LogType.PAYMENT_ROUTED,
        f"{payment.provider} {reason}; the payment was not taken, trying the next gateway",
        data={"from": payment.provider, "reason": reason},
    )


def _require_status(payment: Payment, status: PaymentStatus, operation: str) -> None:
    if payment.status is not status:
        msg = f"cannot {operation} payment {payment.id}: it is {payment.status}, not {status}"
        raise InvalidStateTransition(msg, current=str(payment.status), requested=operation)


def _with_amount(result: GatewayResult, amount: Money) -> GatewayResult:
    return attrs.evolve(result, amount=amount)
