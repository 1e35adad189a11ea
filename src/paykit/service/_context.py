"""What every part of the service shares: one context, units of work, provider calls.

``PaymentService`` builds one :class:`ServiceContext` and hands it to each of its parts
(payment methods, payments, refunds, webhooks, the reconciler), so they share the storage,
the gateways, the event bus, the clock and the id factory without inheriting from one
another.

A provider call never happens inside a unit of work. :func:`call_provider` runs it and turns
an exception into a :class:`ProviderFailure`; the operations record that in a unit of work
of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, TypeVar

import attrs

from paykit._defaults import new_id, utc_now
from paykit.domain.payment import Payment
from paykit.domain.payment_method import PaymentMethod
from paykit.domain.risk_context import RiskContext
from paykit.errors import (
    InvalidStateTransition,
    PaykitError,
    PaymentMethodInactiveError,
)
from paykit.event_bus import EventBus
from paykit.gateways.base import (
    NOT_FOUND,
    GatewayOutcome,
    GatewayResult,
)
from paykit.gateways.registry import GatewayRegistry, Route, RouteKey
from paykit.outbox import OutboxDispatcher
from paykit.service._rules.transaction import Transaction, run_in_transaction
from paykit.storage.base import Storage

if TYPE_CHECKING:
    from paykit.service._steps import Steps

__all__ = [
    "AfterCharge",
    "Decide",
    "ProviderFailure",
    "Screening",
    "ServiceContext",
    "Verdict",
    "call_provider",
    "provider_id",
    "require_active",
]

T = TypeVar("T")

_O = GatewayOutcome


AfterCharge = Literal["capture", "void", "hold", "none"]
"""What fraud screening asks of the payments part once the provider answered a charge."""


class Verdict(Protocol):
    """Fraud screening's decision about one payment, before the provider is called."""

    @property
    def blocks(self) -> bool:
        """Fail the payment (``fraud_blocked``) and send nothing to the provider."""
        ...

    @property
    def captures(self) -> bool:
        """Whether the charge may capture now; ``False`` defers it (review, later rules)."""
        ...

    @property
    def three_d_secure(self) -> bool:
        """Whether the charge asks the provider for 3-D Secure (a ``request_3ds`` rule)."""
        ...

    def record(self, tx: Transaction, payment: Payment) -> None:
        """Write the decision (and, for a block, fail the payment) in the claim's unit of work."""
        ...


Decide: TypeAlias = Callable[[Transaction, Payment, PaymentMethod], Verdict]
"""Fraud screening's decision, made in the claim's unit of work from what the claim read (the
payment, with the context ``create_payment`` kept, and its method, in one read):
reading the counters there rather than in a unit of work of their own saves a connection
checkout and a second read of the payment on every screened charge."""


class Screening(Protocol):
    """Fraud screening as the payments part calls it (``paykit.fraud.FraudScreening``).

    The service knows this much and no more: fraud sits above the service (see
    docs/architecture.md), so the service never imports it.
    """

    def context_to_keep(self, risk: object) -> RiskContext | None:
        """The risk context given to ``create_payment``, checked, for the payment to keep."""
        ...

    def screen(self, payment_id: str, risk: object) -> Steps[Decide]:
        """Prepare the decision about a pending payment: the claim's unit of work makes it.

        Whatever must happen outside a unit of work (an external scorer's call, and the
        read of the facts it is told) happens in these steps; what they return decides
        inside the claim, from the payment and method the claim read.
        """
        ...

    def after_charge(
        self, payment: Payment, result: GatewayResult | None, verdict: Verdict
    ) -> Steps[AfterCharge]:
        """Record the provider's signal, run post-authorization rules, say what comes next."""
        ...

    def check_capture(self, tx: Transaction, payment: Payment) -> None:
        """Refuse to capture a payment held for review (raise ``InvalidStateTransition``)."""
        ...


class ServiceContext:
    """The collaborators every operation shares, and the two ways to run a unit of work.

    ``PaymentService`` (see ``paykit.service``) documents the constructor's arguments.
    """

    def __init__(  # noqa: PLR0913 - each collaborator is a separate, optional seam
        self,
        storage: Storage,
        gateways: Mapping[RouteKey, Route] | GatewayRegistry,
        *,
        events: EventBus | None = None,
        clock: Callable[[], datetime] = utc_now,
        id_factory: Callable[[str], str] = new_id,
        conflict_attempts: int = 50,
        in_flight_grace: timedelta = timedelta(minutes=10),
        screening: Screening | None = None,
    ) -> None:
        self.storage = storage
        self.screening = screening
        """Fraud screening, when the host configured it (``PaymentService(fraud=...)``)."""
        self.gateways = (
            gateways if isinstance(gateways, GatewayRegistry) else GatewayRegistry(gateways)
        )
        self.events = events if events is not None else EventBus()
        self.clock = clock
        self.new_id = id_factory
        self.conflict_attempts = conflict_attempts
        self.in_flight_grace = in_flight_grace
        self.outbox = OutboxDispatcher(storage, self.events, clock=clock)
        """Writes each unit's events with it and delivers them (see ``paykit.outbox``)."""

    def transact(self, work: Callable[[Transaction], T]) -> T:
        """Run ``work`` in a unit of work and commit it, retrying it after a conflict."""
        return run_in_transaction(
            self.storage,
            work,
            clock=self.clock,
            new_id=self.new_id,
            outbox=self.outbox,
            attempts=self.conflict_attempts,
        )

    def read(self, work: Callable[[Transaction], T]) -> T:
        """Run read-only ``work`` in a unit of work that is rolled back."""
        with self.storage.unit_of_work() as uow:
            return work(Transaction(uow, self.clock(), self.new_id))

    def believable(self, result: GatewayResult, claimed_at: datetime) -> GatewayResult:
        """A "not found" within ``in_flight_grace`` of the claim is no proof of anything.

        The request being looked for may still be on its way to the provider; failing the
        record now would lose money the provider is about to take or pay out. Until the
        grace has passed, such an answer counts as unknown.
        """
        too_early = self.clock() - claimed_at < self.in_flight_grace
        if result.outcome is _O.DECLINED and result.decline_code == NOT_FOUND and too_early:
            return attrs.evolve(
                result,
                outcome=_O.UNKNOWN,
                message="not found at the provider yet; the request may still be on its way",
            )
        return result


@attrs.frozen
class ProviderFailure:
    """A provider call that raised instead of answering."""

    error: Exception
    refused: bool
    """True for a :class:`PaykitError` (the provider refused; nothing moved), else unknown."""

    @property
    def code(self) -> str:
        """The provider's own code when it gave one (``rate_limit``), else paykit's."""
        for attribute in ("gateway_code", "code"):
            code = getattr(self.error, attribute, None)
            if isinstance(code, str) and code:
                return code
        return "gateway_error"

    @property
    def data(self) -> dict[str, Any]:
        return {"error_type": type(self.error).__name__, "error_code": self.code}

    def describe(self) -> str:
        kind = "refused" if self.refused else "outcome unknown"
        return f"{kind}: {type(self.error).__name__}: {self.error}"


def call_provider(call: Callable[[], GatewayResult]) -> GatewayResult | ProviderFailure:
    """Run a gateway call, turning an exception into a :class:`ProviderFailure`.

    Adapters raise :class:`PaykitError` only when the provider refused the request
    (credentials, request shape); any other exception may have happened after the request
    left, so its outcome is unknown.
    """
    try:
        return call()
    except PaykitError as error:
        return ProviderFailure(error, refused=True)
    except Exception as error:  # noqa: BLE001 - any failure may hide a request that was sent
        return ProviderFailure(error, refused=False)


def require_active(method: PaymentMethod) -> None:
    if not method.is_active:
        msg = f"payment method {method.id} is inactive; add or choose another method"
        raise PaymentMethodInactiveError(msg)


def provider_id(payment: Payment) -> str:
    if payment.provider_payment_id is None:
        msg = f"payment {payment.id} has no provider id yet; reconcile it first"
        raise InvalidStateTransition(msg, current=str(payment.status), requested="provider call")
    return payment.provider_payment_id
