"""PaymentService: the application layer, the only place that knows storage, domain and gateways.

Each operation loads records in a short unit of work, asks the domain whether the step is
allowed, and commits. Calls to a provider happen *between* units of work, never inside one:
the service claims the work (``pending -> processing``) and commits, calls the gateway, then
records the outcome in a second unit of work. An unknown outcome (timeout, 5xx) leaves the
payment in ``processing``; :meth:`PaymentService.reconcile_payment` asks the provider later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

import attrs

from paykit._defaults import new_id, utc_now
from paykit._settlement import (
    apply_payment_result,
    apply_refund_result,
    fail_refund,
    result_data,
)
from paykit._transaction import Transaction, run_in_transaction
from paykit._validation import (
    check_expiry,
    check_last4,
    checked_metadata,
    checked_text,
    parse_payment_status,
)
from paykit.domain.events import EventType
from paykit.domain.payment import Payment, PaymentStatus
from paykit.domain.payment_method import PaymentMethod, PaymentMethodType
from paykit.domain.refund import Refund, RefundStatus
from paykit.domain.transaction_log import LogType, TransactionLogEntry
from paykit.errors import (
    IdempotencyConflict,
    InvalidAmountError,
    InvalidRefundAmountError,
    InvalidStateTransition,
    PaykitError,
    PaymentMethodInactiveError,
    PaymentMethodOwnershipError,
    PaymentProcessingError,
    RefundProcessingError,
    UnsupportedPaymentMethodError,
)
from paykit.event_bus import EventBus
from paykit.gateways.base import (
    NOT_FOUND,
    CaptureRequest,
    ChargeRequest,
    Gateway,
    GatewayOutcome,
    GatewayResult,
    PaymentLookup,
    PaymentMethodGateway,
    RefundLookup,
    RefundRequest,
    VoidRequest,
)
from paykit.gateways.registry import GatewayRegistry, parse_method_type
from paykit.money import AmountLike, Money
from paykit.storage.base import Storage

__all__ = ["PaymentService"]

T = TypeVar("T")

_P = PaymentStatus
_R = RefundStatus
_O = GatewayOutcome

_RECONCILABLE: Final = frozenset({_P.PROCESSING, _P.REQUIRES_ACTION, _P.AUTHORIZED})
"""Payments whose truth may differ at the provider: reconciliation asks about these."""


class PaymentService:
    """Payment methods, payments, refunds and their audit log, over any storage and gateways.

    ``gateways`` maps each payment method type to the gateway that serves it, e.g.
    ``{"credit_card": sandbox, "debit_card": sandbox, "digital_wallet": sandbox}``.
    ``clock`` and ``id_factory`` can be replaced to make tests and demos deterministic.
    ``in_flight_grace`` is how long after submitting a request paykit waits before it
    believes a provider that says it has never heard of it (see ``gateways.base.NOT_FOUND``).
    """

    def __init__(  # noqa: PLR0913 - each collaborator is a separate, optional seam
        self,
        storage: Storage,
        gateways: Mapping[PaymentMethodType | str, Gateway] | GatewayRegistry,
        *,
        events: EventBus | None = None,
        clock: Callable[[], datetime] = utc_now,
        id_factory: Callable[[str], str] = new_id,
        conflict_attempts: int = 50,
        in_flight_grace: timedelta = timedelta(minutes=10),
    ) -> None:
        self.storage = storage
        self.gateways = (
            gateways if isinstance(gateways, GatewayRegistry) else GatewayRegistry(gateways)
        )
        self.events = events if events is not None else EventBus()
        self._clock = clock
        self._new_id = id_factory
        self._attempts = conflict_attempts
        self._in_flight_grace = in_flight_grace

    def _transact(self, work: Callable[[Transaction], T]) -> T:
        return run_in_transaction(
            self.storage,
            work,
            clock=self._clock,
            new_id=self._new_id,
            events=self.events,
            attempts=self._attempts,
        )

    def _read(self, work: Callable[[Transaction], T]) -> T:
        """Run read-only ``work`` in a unit of work that is rolled back."""
        with self.storage.unit_of_work() as uow:
            return work(Transaction(uow, self._clock(), self._new_id))

    # -- payment methods ------------------------------------------------------------------

    def add_payment_method(  # noqa: PLR0913 - mirrors the record's fields
        self,
        customer_id: str,
        *,
        type: PaymentMethodType | str,  # noqa: A002 - the domain's own word
        token: str,
        provider: str | None = None,
        brand: str | None = None,
        last4: str | None = None,
        exp_month: int | None = None,
        exp_year: int | None = None,
        is_default: bool = False,
        metadata: Mapping[str, Any] | None = None,
        provider_customer_id: str | None = None,
    ) -> PaymentMethod:
        """Save a provider token as a payment method of ``customer_id``.

        ``provider`` defaults to the gateway configured for ``type``. When that gateway can
        manage saved methods (:class:`~paykit.gateways.PaymentMethodGateway`), the token is
        attached to ``provider_customer_id`` at the provider and the display details the
        caller left out (brand, last 4, expiry) are read from it -- before anything is stored.
        With ``is_default`` the customer's previous default stops being the default, in the
        same commit.
        """
        customer_id = checked_text(customer_id, "customer_id", max_length=255)
        method_type = parse_method_type(type)
        token = checked_text(token, "token", max_length=255)
        gateway: Gateway | None
        if provider is None:
            gateway = self.gateways.for_method_type(method_type)
            provider = gateway.name
        else:
            provider = checked_text(provider, "provider", max_length=64)
            gateway = self.gateways.find(provider)
        extra = checked_metadata(metadata)
        manager = _method_manager(gateway)
        if manager is not None:
            details = manager.attach_payment_method(
                token, provider_customer_id=provider_customer_id
            )
            brand = brand or details.brand
            last4 = last4 or details.last4
            exp_month = exp_month or details.exp_month
            exp_year = exp_year or details.exp_year
        if brand is not None:
            brand = checked_text(brand, "brand", max_length=32)
        check_last4(last4)
        check_expiry(exp_month, exp_year)

        def work(tx: Transaction) -> PaymentMethod:
            method = PaymentMethod(
                id=tx.new_id("pm"),
                customer_id=customer_id,
                type=method_type,
                provider=provider,
                provider_payment_method_id=token,
                brand=brand,
                last4=last4,
                exp_month=exp_month,
                exp_year=exp_year,
                metadata=extra,
                created_at=tx.now,
                updated_at=tx.now,
            )
            tx.uow.payment_methods.add(method)
            if is_default:
                self._make_default(tx, method)
            return method

        return self._transact(work)

    def get_payment_method(self, payment_method_id: str) -> PaymentMethod:
        """Return one payment method (``NotFound`` if there is none)."""
        return self._read(lambda tx: tx.uow.payment_methods.get(payment_method_id))

    def list_payment_methods(
        self, customer_id: str, *, include_inactive: bool = False
    ) -> list[PaymentMethod]:
        """The customer's payment methods, oldest first; active ones only unless asked."""
        methods = self._read(lambda tx: tx.uow.payment_methods.list_for_customer(customer_id))
        return [m for m in methods if include_inactive or m.is_active]

    def update_payment_method(
        self,
        payment_method_id: str,
        *,
        exp_month: int | None = None,
        exp_year: int | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> PaymentMethod:
        """Change the expiry or replace the metadata of a payment method."""
        extra = None if metadata is None else checked_metadata(metadata)

        def work(tx: Transaction) -> PaymentMethod:
            method = tx.uow.payment_methods.get(payment_method_id)
            month = method.exp_month if exp_month is None else exp_month
            year = method.exp_year if exp_year is None else exp_year
            check_expiry(month, year)
            method.exp_month, method.exp_year = month, year
            if extra is not None:
                method.metadata = extra
            method.updated_at = tx.now
            tx.uow.payment_methods.update(method)
            return method

        return self._transact(work)

    def set_default_payment_method(self, payment_method_id: str) -> PaymentMethod:
        """Make the method its customer's default (and the previous default not)."""

        def work(tx: Transaction) -> PaymentMethod:
            method = tx.uow.payment_methods.get(payment_method_id)
            if not method.is_active:
                msg = f"payment method {method.id} is inactive and cannot be the default"
                raise PaymentMethodInactiveError(msg)
            self._make_default(tx, method)
            return method

        return self._transact(work)

    def deactivate_payment_method(self, payment_method_id: str) -> PaymentMethod:
        """Stop a method from being charged again; it also stops being the default."""

        def work(tx: Transaction) -> PaymentMethod:
            method = tx.uow.payment_methods.get(payment_method_id)
            method.is_active = False
            method.is_default = False
            method.updated_at = tx.now
            tx.uow.payment_methods.update(method)
            return method

        return self._transact(work)

    def remove_payment_method(self, payment_method_id: str) -> None:
        """Delete a payment method; payments made with it keep their own records.

        A gateway that manages saved methods is asked to detach it first; if that fails,
        nothing is deleted.
        """
        method = self.get_payment_method(payment_method_id)
        manager = _method_manager(self.gateways.find(method.provider))
        if manager is not None:
            manager.detach_payment_method(method.provider_payment_method_id)

        def work(tx: Transaction) -> None:
            tx.uow.payment_methods.remove(tx.uow.payment_methods.get(payment_method_id))

        self._transact(work)

    @staticmethod
    def _make_default(tx: Transaction, method: PaymentMethod) -> None:
        for other in tx.uow.payment_methods.list_for_customer(method.customer_id):
            if other.is_default and other.id != method.id:
                other.is_default = False
                other.updated_at = tx.now
                tx.uow.payment_methods.update(other)
        method.is_default = True
        method.updated_at = tx.now
        tx.uow.payment_methods.update(method)

    # -- payments -------------------------------------------------------------------------

    def create_payment(  # noqa: PLR0913 - the fields of a payment
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
    ) -> Payment:
        """Record a ``pending`` payment of ``amount`` for the host's ``order_id``.

        ``capture=False`` makes it authorize-only (capture later with :meth:`capture_payment`).
        The same ``idempotency_key`` (per customer) returns the same payment; the same key with
        different parameters raises :class:`~paykit.errors.IdempotencyConflict`.
        """
        customer_id = checked_text(customer_id, "customer_id", max_length=255)
        order_id = checked_text(order_id, "order_id", max_length=255)
        payment_method_id = checked_text(payment_method_id, "payment_method_id", max_length=255)
        money = Money.of(amount, currency)
        if money.is_zero():
            raise InvalidAmountError("must be above zero", field="amount")
        description = checked_text(description, "description", required=False)
        extra = checked_metadata(metadata)
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
            _require_active(method)
            gateway = self.gateways.for_method_type(method.type)
            if gateway.name != method.provider:
                msg = (
                    f"payment method {method.id} holds a {method.provider!r} token but "
                    f"{method.type} payments go to {gateway.name!r}"
                )
                raise UnsupportedPaymentMethodError(msg)
            zero = Money.zero(money.currency)
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
                created_at=tx.now,
                updated_at=tx.now,
            )
            tx.uow.payments.add(payment)
            tx.log(
                payment.id,
                LogType.PAYMENT_CREATED,
                f"payment of {money} created for order {order_id}",
                amount=money,
                new_status=payment.status,
            )
            tx.emit(EventType.PAYMENT_CREATED, payment)
            return payment

        return self._transact(work)

    def process_payment(self, payment_id: str, *, return_url: str | None = None) -> Payment:
        """Submit a ``pending`` payment to its gateway and record the outcome.

        Returns the payment: ``completed`` (or ``authorized``), ``failed`` on a decline,
        ``requires_action`` with ``next_action`` (its client secret is on the returned object
        only, never stored), or still ``processing`` when the outcome is unknown.
        """
        if return_url is not None:
            return_url = checked_text(return_url, "return_url", max_length=2048)

        def claim(tx: Transaction) -> tuple[Payment, str]:
            payment = tx.uow.payments.get(payment_id)
            if payment.status is not _P.PENDING:
                msg = (
                    f"payment {payment.id} is {payment.status}; only pending payments are "
                    "processed (use reconcile_payment for one in processing)"
                )
                raise InvalidStateTransition(
                    msg, current=str(payment.status), requested=str(_P.PROCESSING)
                )
            method = tx.uow.payment_methods.get(payment.payment_method_id)
            _require_active(method)
            self.gateways.by_name(payment.provider)  # refuse before claiming, not after
            payment.attempt_count += 1
            payment.submitted_at = tx.now
            tx.move_payment(
                payment,
                _P.PROCESSING,
                LogType.PAYMENT_PROCESSING,
                f"submitted to {payment.provider} (attempt {payment.attempt_count})",
            )
            return payment, method.provider_payment_method_id

        payment, token = self._transact(claim)
        gateway = self.gateways.by_name(payment.provider)
        request = ChargeRequest(
            payment_id=payment.id,
            amount=payment.amount,
            payment_method_token=token,
            payment_method_type=payment.payment_method_type,
            customer_id=payment.customer_id,
            idempotency_key=f"paykit:{payment.id}:charge",
            capture=payment.capture,
            description=payment.description,
            return_url=return_url,
            metadata={key: str(value) for key, value in payment.metadata.items()},
        )
        result = self._call_gateway(lambda: gateway.charge(request), payment.id, "charge")
        return self._record_payment_result(payment.id, result, "charge")

    def capture_payment(self, payment_id: str, amount: AmountLike | None = None) -> Payment:
        """Capture an ``authorized`` payment, all of it or ``amount`` of it."""

        def check(tx: Transaction) -> tuple[Payment, Money]:
            payment = tx.uow.payments.get(payment_id)
            _require_status(payment, _P.AUTHORIZED, "capture")
            money = payment.amount if amount is None else Money.of(amount, payment.currency)
            payment.check_capture_amount(money)
            return payment, money

        payment, money = self._read(check)
        gateway = self.gateways.by_name(payment.provider)
        request = CaptureRequest(
            payment_id=payment.id,
            provider_payment_id=_provider_id(payment),
            amount=money,
            idempotency_key=f"paykit:{payment.id}:capture",
        )
        result = self._call_gateway(lambda: gateway.capture(request), payment.id, "capture")
        if result.outcome is _O.SUCCEEDED and result.amount is None:
            result = _with_amount(result, money)
        return self._record_payment_result(payment.id, result, "capture", raise_on_decline=True)

    def void_payment(self, payment_id: str) -> Payment:
        """Release the hold of an ``authorized`` payment (it becomes ``cancelled``)."""
        payment = self.get_payment(payment_id)
        _require_status(payment, _P.AUTHORIZED, "void")
        return self._void(payment)

    def cancel_payment(self, payment_id: str) -> Payment:
        """Cancel a payment that has not taken money: pending, requires_action or authorized."""
        payment = self.get_payment(payment_id)
        if payment.status in (_P.AUTHORIZED, _P.REQUIRES_ACTION):
            return self._void(payment)

        def work(tx: Transaction) -> Payment:
            current = tx.uow.payments.get(payment_id)
            tx.move_payment(current, _P.CANCELLED, LogType.PAYMENT_CANCELLED, "payment cancelled")
            return current

        return self._transact(work)

    def _void(self, payment: Payment) -> Payment:
        gateway = self.gateways.by_name(payment.provider)
        request = VoidRequest(
            payment_id=payment.id,
            provider_payment_id=_provider_id(payment),
            idempotency_key=f"paykit:{payment.id}:void",
        )
        result = self._call_gateway(lambda: gateway.void(request), payment.id, "void")
        return self._record_payment_result(payment.id, result, "void", raise_on_decline=True)

    def get_payment(self, payment_id: str) -> Payment:
        """Return one payment (``NotFound`` if there is none)."""
        return self._read(lambda tx: tx.uow.payments.get(payment_id))

    def get_payment_status(self, payment_id: str) -> PaymentStatus:
        """Return the status of one payment."""
        return self.get_payment(payment_id).status

    def list_payments(
        self,
        *,
        customer_id: str | None = None,
        order_id: str | None = None,
        status: PaymentStatus | str | None = None,
    ) -> list[Payment]:
        """Payments matching every given filter, oldest first."""
        wanted = None if status is None else parse_payment_status(status)
        return list(
            self._read(
                lambda tx: tx.uow.payments.list(
                    customer_id=customer_id, order_id=order_id, status=wanted
                )
            )
        )

    def get_transaction_log(self, payment_id: str) -> list[TransactionLogEntry]:
        """The payment's audit log, oldest entry first (``NotFound`` for an unknown payment)."""

        def work(tx: Transaction) -> list[TransactionLogEntry]:
            tx.uow.payments.get(payment_id)
            return list(tx.uow.transaction_log.list_for_payment(payment_id))

        return self._read(work)

    def reconcile_payment(self, payment_id: str) -> Payment:
        """Ask the provider for the truth about a payment whose outcome paykit does not know.

        Only ``processing``, ``requires_action`` and ``authorized`` payments are asked about;
        any other payment is returned unchanged without calling the provider.
        """
        payment = self.get_payment(payment_id)
        if payment.status not in _RECONCILABLE:
            return payment
        gateway = self.gateways.by_name(payment.provider)
        lookup = PaymentLookup(
            payment_id=payment.id,
            provider_payment_id=payment.provider_payment_id,
            idempotency_key=f"paykit:{payment.id}:charge",
            amount=payment.amount,
        )
        result = self._call_gateway(
            lambda: gateway.retrieve_payment(lookup), payment.id, "retrieve"
        )
        result = self._believable(result, payment.submitted_at or payment.updated_at)
        return self._record_payment_result(payment.id, result, "reconcile")

    def _believable(self, result: GatewayResult, claimed_at: datetime) -> GatewayResult:
        """A "not found" within ``in_flight_grace`` of the claim is no proof of anything.

        The request being looked for may still be on its way to the provider; failing the
        record now would lose money the provider is about to take or pay out. Until the
        grace has passed, such an answer counts as unknown.
        """
        too_early = self._clock() - claimed_at < self._in_flight_grace
        if result.outcome is _O.DECLINED and result.decline_code == NOT_FOUND and too_early:
            return attrs.evolve(
                result,
                outcome=_O.UNKNOWN,
                message="not found at the provider yet; the request may still be on its way",
            )
        return result

    def _call_gateway(
        self, call: Callable[[], GatewayResult], payment_id: str, operation: str
    ) -> GatewayResult:
        """Call the provider for a payment; turn an exception into an audit entry and an error.

        A refused charge (see :func:`_call_provider`) fails the payment: nothing moved. An
        exception of unknown meaning leaves the payment where it is, for reconciliation.
        """
        outcome = _call_provider(call)
        if isinstance(outcome, GatewayResult):
            return outcome

        def record(tx: Transaction) -> None:
            payment = tx.uow.payments.get(payment_id)
            tx.log(
                payment.id, LogType.ERROR, f"{operation} {outcome.describe()}", data=outcome.data
            )
            if operation == "charge" and outcome.refused:
                payment.failure_code = outcome.code
                payment.failure_message = str(outcome.error)
                tx.move_payment(
                    payment, _P.FAILED, LogType.PAYMENT_FAILED, "the provider refused the request"
                )

        self._transact(record)
        msg = f"{operation} of payment {payment_id} failed: {outcome.error}"
        raise PaymentProcessingError(msg, payment_id=payment_id) from outcome.error

    def _record_payment_result(
        self,
        payment_id: str,
        result: GatewayResult,
        operation: str,
        *,
        raise_on_decline: bool = False,
    ) -> Payment:
        """Apply what the provider said to the payment, in one unit of work."""
        declined: list[str] = []

        def work(tx: Transaction) -> Payment:
            payment = tx.uow.payments.get(payment_id)
            if result.provider_id and payment.provider_payment_id is None:
                payment.provider_payment_id = result.provider_id
                tx.uow.payments.update(payment)
            if result.outcome is _O.DECLINED and raise_on_decline:
                declined.append(result.message or result.decline_code or "declined")
                tx.log(
                    payment.id,
                    LogType.ERROR,
                    f"{operation} declined by {payment.provider}: {declined[0]}",
                    data=result_data(result),
                )
                return payment
            apply_payment_result(tx, payment, result, operation)
            return payment

        payment = self._transact(work)
        if declined:
            msg = f"{operation} of payment {payment_id} was declined: {declined[0]}"
            raise PaymentProcessingError(msg, payment_id=payment_id)
        if result.next_action is not None and payment.status is _P.REQUIRES_ACTION:
            # Hand the client secret to this caller only: storage and the published event
            # keep the redacted copy.
            payment = attrs.evolve(payment, next_action=result.next_action)
        return payment

    # -- refunds --------------------------------------------------------------------------

    def create_refund(
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
        reason = checked_text(reason, "reason", required=False)
        extra = checked_metadata(metadata)
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

        return self._transact(work)

    def process_refund(self, refund_id: str) -> Refund:
        """Send a ``pending`` refund to the payment's gateway and record the outcome."""

        def claim(tx: Transaction) -> tuple[Refund, Payment]:
            refund = tx.uow.refunds.get(refund_id)
            payment = tx.uow.payments.get(refund.payment_id)
            # Everything that can fail locally fails before the claim, not after it.
            self.gateways.by_name(payment.provider)
            _provider_id(payment)
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

        refund, payment = self._transact(claim)
        gateway = self.gateways.by_name(payment.provider)
        request = RefundRequest(
            refund_id=refund.id,
            payment_id=payment.id,
            provider_payment_id=_provider_id(payment),
            amount=refund.amount,
            idempotency_key=f"paykit:{refund.id}:refund",
            reason=refund.reason,
        )
        result = self._call_refund_gateway(lambda: gateway.refund(request), refund, "refund")
        return self._transact(lambda tx: apply_refund_result(tx, refund.id, result, "refund"))

    def cancel_refund(self, refund_id: str) -> Refund:
        """Cancel a ``pending`` refund and release its reservation."""

        def work(tx: Transaction) -> Refund:
            refund = tx.uow.refunds.get(refund_id)
            payment = tx.uow.payments.get(refund.payment_id)
            tx.move_refund(
                refund, payment, _R.CANCELLED, LogType.REFUND_CANCELLED, "refund cancelled"
            )
            payment.release_refund(refund.amount)
            tx.uow.payments.update(payment)
            return refund

        return self._transact(work)

    def get_refund(self, refund_id: str) -> Refund:
        """Return one refund (``NotFound`` if there is none)."""
        return self._read(lambda tx: tx.uow.refunds.get(refund_id))

    def list_refunds(self, payment_id: str) -> list[Refund]:
        """Every refund of a payment, oldest first."""
        return list(self._read(lambda tx: tx.uow.refunds.list_for_payment(payment_id)))

    def reconcile_refund(self, refund_id: str) -> Refund:
        """Ask the provider about a ``processing`` refund; any other refund is returned as is."""
        refund = self.get_refund(refund_id)
        if refund.status is not _R.PROCESSING:
            return refund
        payment = self.get_payment(refund.payment_id)
        gateway = self.gateways.by_name(payment.provider)
        lookup = RefundLookup(
            refund_id=refund.id,
            provider_refund_id=refund.provider_refund_id,
            provider_payment_id=_provider_id(payment),
            idempotency_key=f"paykit:{refund.id}:refund",
            amount=refund.amount,
        )
        result = self._call_refund_gateway(
            lambda: gateway.retrieve_refund(lookup), refund, "reconcile"
        )
        result = self._believable(result, refund.submitted_at or refund.updated_at)
        return self._transact(lambda tx: apply_refund_result(tx, refund.id, result, "reconcile"))

    def _call_refund_gateway(
        self, call: Callable[[], GatewayResult], refund: Refund, operation: str
    ) -> GatewayResult:
        """Like ``_call_gateway`` for refunds.

        A refused refund *request* fails the refund (no money moved). A refused lookup during
        reconciliation proves nothing about the refund, so it only logs; anything else leaves
        the refund waiting for the next reconciliation.
        """
        outcome = _call_provider(call)
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
            if operation == "refund" and outcome.refused and current.status is _R.PROCESSING:
                fail_refund(tx, current, payment, outcome.code, str(outcome.error))

        self._transact(record)
        msg = f"refund {refund.id} failed: {outcome.error}"
        raise RefundProcessingError(msg, refund_id=refund.id) from outcome.error


@attrs.frozen
class _ProviderFailure:
    """A provider call that raised instead of answering."""

    error: Exception
    refused: bool
    """True for a :class:`PaykitError` (the provider refused; nothing moved), else unknown."""

    @property
    def code(self) -> str:
        return getattr(self.error, "code", "gateway_error")

    @property
    def data(self) -> dict[str, Any]:
        return {"error_type": type(self.error).__name__, "error_code": self.code}

    def describe(self) -> str:
        kind = "refused" if self.refused else "outcome unknown"
        return f"{kind}: {type(self.error).__name__}: {self.error}"


def _call_provider(call: Callable[[], GatewayResult]) -> GatewayResult | _ProviderFailure:
    """Run a gateway call, turning an exception into a :class:`_ProviderFailure`.

    Adapters raise :class:`PaykitError` only when the provider refused the request
    (credentials, request shape); any other exception may have happened after the request
    left, so its outcome is unknown.
    """
    try:
        return call()
    except PaykitError as error:
        return _ProviderFailure(error, refused=True)
    except Exception as error:  # noqa: BLE001 - any failure may hide a request that was sent
        return _ProviderFailure(error, refused=False)


# -- small checks ----------------------------------------------------------------------------


def _method_manager(gateway: object) -> PaymentMethodGateway | None:
    """The gateway as a manager of saved methods, if it is one (an optional capability)."""
    return gateway if isinstance(gateway, PaymentMethodGateway) else None


def _require_active(method: PaymentMethod) -> None:
    if not method.is_active:
        msg = f"payment method {method.id} is inactive; add or choose another method"
        raise PaymentMethodInactiveError(msg)


def _require_status(payment: Payment, status: PaymentStatus, operation: str) -> None:
    if payment.status is not status:
        msg = f"cannot {operation} payment {payment.id}: it is {payment.status}, not {status}"
        raise InvalidStateTransition(msg, current=str(payment.status), requested=operation)


def _provider_id(payment: Payment) -> str:
    if payment.provider_payment_id is None:
        msg = f"payment {payment.id} has no provider id yet; reconcile it first"
        raise InvalidStateTransition(msg, current=str(payment.status), requested="provider call")
    return payment.provider_payment_id


def _refund_money(amount: AmountLike, currency: str) -> Money:
    """Parse a refund amount; every way it can be wrong is an ``InvalidRefundAmountError``."""
    try:
        return Money.of(amount, currency)
    except InvalidAmountError as error:
        raise InvalidRefundAmountError(error.detail, field=error.field) from None


def _with_amount(result: GatewayResult, amount: Money) -> GatewayResult:
    return attrs.evolve(result, amount=amount)
