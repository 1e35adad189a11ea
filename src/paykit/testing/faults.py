"""The fault vocabulary of paykit's test kit, and seeded fault injection around the sandbox.

A real provider's answers get lost, arrive as 5xx or 429, and its webhooks come twice, out of
order, before the API response, or never. :class:`FaultKind` names each of those failures
once, for every injector paykit ships: :class:`FaultyGateway` here (seeded, around the
sandbox) and ``FakeStripe`` / ``FakePayPal`` (scripted, at the HTTP level). A kind means the
same thing wherever it is injected:

* ``connection_refused`` -- the request never reaches the provider: nothing happened.
  FaultyGateway raises ``ConnectionRefusedError``; the fakes ``httpx.ConnectError``.
* ``timeout_after_success`` -- the provider acts, then no answer arrives in time.
  ``TimeoutError``; ``httpx.ReadTimeout``.
* ``dropped_response`` -- the provider acts, then the connection is reset before the answer.
  ``ConnectionResetError``; ``httpx.RemoteProtocolError``.
* ``server_error`` -- a 5xx, after which the caller cannot tell whether the provider acted.
  FaultyGateway flips a seeded coin and answers ``GatewayResult(outcome=UNKNOWN)``; a fake
  answers the scripted 5xx without acting.
* ``rate_limited`` -- a 429: the provider did nothing. FaultyGateway raises
  :class:`~paykit.errors.GatewayError` (``gateway_code="rate_limit"``, ``retryable=True``);
  a fake answers the scripted 429.
* ``error_response`` -- any other error answer a test scripts on a fake (401, 409, 422...);
  the provider did nothing. FaultyGateway does not inject it.
* ``lost_webhook``, ``duplicate_webhook``, ``out_of_order_webhooks``, ``early_webhook`` --
  the provider's webhooks go astray (below); FaultyGateway only.

The fakes script a fault per request with their ``Fault`` (``Fault.connection_refused()``,
``Fault.timeout_after_success()``, ``Fault.dropped_response()``, ``Fault.error(status, ...)``,
whose kind follows from the status); :data:`FAKE_PROVIDER_FAULTS` lists what they inject.

:class:`FaultyGateway` wraps a :class:`~paykit.gateways.SandboxGateway` (built with
``send_webhooks=True``) and injects :data:`FAULTY_GATEWAY_FAULTS`, chosen by a
:class:`FaultPlan`'s seeded random generator, so a failing run can be replayed exactly::

    sandbox = SandboxGateway(send_webhooks=True)
    plan = FaultPlan(seed=1234)
    faulty = FaultyGateway(sandbox, plan)
    service = PaymentService(storage, gateways={"credit_card": faulty})
    faulty.deliver = lambda headers, body: service.handle_webhook("sandbox", headers, body)

    ...  # drive payments, refunds, reconciliation through the service
    faulty.deliver_webhooks()  # the provider's webhooks, with duplicates, shuffles and losses
    print(plan.summary())      # what the run injected

Request faults (one at most per call, decided before the call): ``charge``, ``capture``,
``void`` and ``refund`` meet all of :data:`REQUEST_FAULTS`; ``retrieve_payment`` and
``retrieve_refund`` (lookups move no money) only :data:`LOOKUP_FAULTS`, at ``lookup_factor``
times their rate.

Webhook faults:

* ``lost_webhook`` -- a delivery is never made (kept in :attr:`FaultyGateway.lost`);
* ``duplicate_webhook`` -- a delivery is made again at the end of its batch;
* ``out_of_order_webhooks`` -- a batch of two or more is delivered in a shuffled order;
* ``early_webhook`` -- inside a mutating call, after the sandbox acted and before the answer
  (or the error) returns to the caller, the pending webhooks are delivered right then: the
  webhook overtakes the API response.

The same seed and the same sequence of calls give the same faults (from one thread: calls
racing each other draw in whatever order they run).
"""

from __future__ import annotations

import collections
import random
import threading
from collections.abc import Callable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final, TypeVar

import attrs

from paykit.errors import GatewayError, PaykitError
from paykit.gateways.base import (
    CaptureRequest,
    ChargeRequest,
    GatewayOutcome,
    GatewayResult,
    PaymentLookup,
    RefundLookup,
    RefundRequest,
    VoidRequest,
    WebhookEvent,
)
from paykit.gateways.sandbox import SandboxGateway

__all__ = [
    "DEFAULT_RATES",
    "FAKE_PROVIDER_FAULTS",
    "FAULTY_GATEWAY_FAULTS",
    "LOOKUP_FAULTS",
    "REQUEST_FAULTS",
    "WEBHOOK_FAULTS",
    "Deliver",
    "FaultKind",
    "FaultPlan",
    "FaultyGateway",
]


class FaultKind(StrEnum):
    """A failure paykit's test kit injects: one word for it everywhere (see the module docstring).

    :class:`FaultyGateway` injects :data:`FAULTY_GATEWAY_FAULTS`; ``FakeStripe`` and
    ``FakePayPal`` script :data:`FAKE_PROVIDER_FAULTS`.
    """

    CONNECTION_REFUSED = "connection_refused"
    TIMEOUT_AFTER_SUCCESS = "timeout_after_success"
    SERVER_ERROR = "server_error"
    RATE_LIMITED = "rate_limited"
    DROPPED_RESPONSE = "dropped_response"
    ERROR_RESPONSE = "error_response"
    DUPLICATE_WEBHOOK = "duplicate_webhook"
    OUT_OF_ORDER_WEBHOOKS = "out_of_order_webhooks"
    EARLY_WEBHOOK = "early_webhook"
    LOST_WEBHOOK = "lost_webhook"


_F = FaultKind

REQUEST_FAULTS: Final = (
    _F.CONNECTION_REFUSED,
    _F.TIMEOUT_AFTER_SUCCESS,
    _F.SERVER_ERROR,
    _F.RATE_LIMITED,
    _F.DROPPED_RESPONSE,
)
"""The faults a mutating call (charge, capture, void, refund) can meet, at most one per call."""

LOOKUP_FAULTS: Final = (_F.CONNECTION_REFUSED, _F.TIMEOUT_AFTER_SUCCESS, _F.SERVER_ERROR)
"""The faults a lookup (``retrieve_payment``, ``retrieve_refund``) can meet."""

WEBHOOK_FAULTS: Final = (
    _F.DUPLICATE_WEBHOOK,
    _F.OUT_OF_ORDER_WEBHOOKS,
    _F.EARLY_WEBHOOK,
    _F.LOST_WEBHOOK,
)
"""The faults of webhook delivery."""

FAULTY_GATEWAY_FAULTS: Final = REQUEST_FAULTS + WEBHOOK_FAULTS
"""Every fault :class:`FaultyGateway` injects (all but ``error_response``)."""

FAKE_PROVIDER_FAULTS: Final = (
    _F.CONNECTION_REFUSED,
    _F.TIMEOUT_AFTER_SUCCESS,
    _F.DROPPED_RESPONSE,
    _F.SERVER_ERROR,
    _F.RATE_LIMITED,
    _F.ERROR_RESPONSE,
)
"""The faults ``FakeStripe`` and ``FakePayPal`` script per request (their ``Fault.kind``)."""

DEFAULT_RATES: Final[Mapping[FaultKind, float]] = MappingProxyType(
    {
        _F.CONNECTION_REFUSED: 0.04,
        _F.TIMEOUT_AFTER_SUCCESS: 0.04,
        _F.SERVER_ERROR: 0.04,
        _F.RATE_LIMITED: 0.04,
        _F.DROPPED_RESPONSE: 0.04,
        _F.DUPLICATE_WEBHOOK: 0.10,
        _F.OUT_OF_ORDER_WEBHOOKS: 0.25,
        _F.EARLY_WEBHOOK: 0.15,
        _F.LOST_WEBHOOK: 0.05,
    }
)
"""Rates of a :class:`FaultPlan` given none: about one mutating call in five meets a request
fault; ``duplicate``, ``early`` and ``lost`` apply per delivery or call, ``out_of_order`` per
batch."""

Deliver = Callable[[dict[str, str], bytes], object]
"""Receives one webhook delivery, as ``service.handle_webhook("sandbox", headers, body)`` does."""

_T = TypeVar("_T")


class FaultPlan:
    """Which faults to inject, how often, from which seed; and what was injected.

    ``rates`` maps a fault to the chance (0 to 1) that it strikes where it can: per mutating
    call for request faults (their sum may not exceed 1: one draw picks at most one), per
    delivery for ``duplicate_webhook`` and ``lost_webhook``, per batch for
    ``out_of_order_webhooks``, per mutating call for ``early_webhook``. Given ``rates``
    replace :data:`DEFAULT_RATES` entirely: a fault not named there is never injected, so a
    test can provoke exactly one kind. Lookups meet their faults at ``lookup_factor`` times
    these rates. A rate for ``error_response``, which only the fakes script, is refused.

    ``random`` is the one ``random.Random(seed)`` every decision draws from; ``counts`` counts
    every fault injected and ``history`` lists them in order as ``(operation, fault)``.
    """

    def __init__(
        self,
        seed: int,
        rates: Mapping[FaultKind, float] | None = None,
        *,
        lookup_factor: float = 0.5,
    ) -> None:
        chosen = DEFAULT_RATES if rates is None else rates
        table = dict.fromkeys(FAULTY_GATEWAY_FAULTS, 0.0)
        for name, rate in chosen.items():
            kind = FaultKind(name)
            if kind not in FAULTY_GATEWAY_FAULTS:
                msg = f"FaultyGateway does not inject {kind}: a fake provider scripts it"
                raise ValueError(msg)
            if not 0.0 <= rate <= 1.0:
                msg = f"the rate of {kind} must be between 0 and 1, not {rate}"
                raise ValueError(msg)
            table[kind] = float(rate)
        request_total = sum(table[kind] for kind in REQUEST_FAULTS)
        if request_total > 1.0:
            msg = f"the request fault rates add up to {request_total}, above 1"
            raise ValueError(msg)
        if not 0.0 <= lookup_factor <= 1.0:
            msg = f"lookup_factor must be between 0 and 1, not {lookup_factor}"
            raise ValueError(msg)
        self.seed = seed
        self.rates: Mapping[FaultKind, float] = MappingProxyType(table)
        self.lookup_factor = lookup_factor
        self.random = random.Random(seed)  # noqa: S311 - reproducible test faults, not secrets
        self.counts: collections.Counter[FaultKind] = collections.Counter()
        self.history: list[tuple[str, FaultKind]] = []
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"FaultPlan(seed={self.seed}, injected={sum(self.counts.values())})"

    def request_fault(self, *, lookup: bool = False) -> FaultKind | None:
        """Draw the fault (or ``None``) for one mutating call, or one lookup if ``lookup``."""
        kinds, factor = (LOOKUP_FAULTS, self.lookup_factor) if lookup else (REQUEST_FAULTS, 1.0)
        with self._lock:
            draw = self.random.random()
        threshold = 0.0
        for kind in kinds:
            threshold += self.rates[kind] * factor
            if draw < threshold:
                return kind
        return None

    def strikes(self, kind: FaultKind) -> bool:
        """Draw whether ``kind`` strikes this once (one draw, whatever its rate)."""
        with self._lock:
            return self.random.random() < self.rates[kind]

    def coin(self) -> bool:
        """A fair seeded coin (whether a 5xx happened before or after the provider acted)."""
        with self._lock:
            return self.random.random() < 0.5  # noqa: PLR2004 - a fair coin

    def shuffled(self, items: list[_T]) -> list[_T]:
        """``items`` in a seeded order that differs from the given one (two or more items)."""
        order = list(range(len(items)))
        with self._lock:
            self.random.shuffle(order)
        if order == sorted(order):
            order[0], order[1] = order[1], order[0]
        return [items[index] for index in order]

    def record(self, operation: str, kind: FaultKind) -> None:
        """Count one injected fault."""
        with self._lock:
            self.counts[kind] += 1
            self.history.append((operation, kind))

    def summary(self) -> str:
        """One line saying what the run injected: ``seed 7: 2 connection_refused, ...``."""
        with self._lock:
            parts = [f"{self.counts[kind]} {kind}" for kind in FaultKind if self.counts[kind]]
        return f"seed {self.seed}: {', '.join(parts) or 'no faults'}"


@attrs.define
class _Delivery:
    headers: dict[str, str]
    body: bytes
    attempts: int = 0


class FaultyGateway:
    """The sandbox behind an unreliable network (see the module docstring).

    Implements ``Gateway`` and ``WebhookGateway`` under the sandbox's name, delegating to it.
    ``deliver`` receives each webhook delivery; set it here or later as an attribute (the
    service that receives them usually needs this gateway first). A delivery that raises, or
    whose answer has a ``status_code`` outside 2xx (``service.handle_webhook`` answers 503
    when it could not record an event), is delivered again on the next
    :meth:`deliver_webhooks`, as providers retry, up to ``max_attempts`` times in all; then it
    is put in :attr:`undeliverable`. Exceptions raised by ``deliver`` are kept in
    :attr:`delivery_errors`.
    """

    def __init__(
        self,
        sandbox: SandboxGateway,
        plan: FaultPlan,
        *,
        deliver: Deliver | None = None,
        max_attempts: int = 3,
    ) -> None:
        if max_attempts < 1:
            msg = f"max_attempts must be at least 1, not {max_attempts}"
            raise ValueError(msg)
        self.sandbox = sandbox
        self.plan = plan
        self.deliver = deliver
        self.max_attempts = max_attempts
        self.lost: list[tuple[dict[str, str], bytes]] = []
        """Deliveries a ``lost_webhook`` fault swallowed."""
        self.undeliverable: list[tuple[dict[str, str], bytes]] = []
        """Deliveries refused ``max_attempts`` times."""
        self.delivery_errors: list[Exception] = []
        """Every exception ``deliver`` raised, in order."""
        self._retries: list[_Delivery] = []
        self._delivering = threading.RLock()

    @property
    def name(self) -> str:
        """The sandbox's name: payments and webhooks are the sandbox's."""
        return self.sandbox.name

    def __repr__(self) -> str:
        return f"FaultyGateway({self.sandbox!r}, {self.plan!r})"

    # -- Gateway ------------------------------------------------------------------------

    def charge(self, request: ChargeRequest) -> GatewayResult:
        """The sandbox's charge, through the faults."""
        return self._mutating("charge", lambda: self.sandbox.charge(request))

    def capture(self, request: CaptureRequest) -> GatewayResult:
        """The sandbox's capture, through the faults."""
        return self._mutating("capture", lambda: self.sandbox.capture(request))

    def void(self, request: VoidRequest) -> GatewayResult:
        """The sandbox's void, through the faults."""
        return self._mutating("void", lambda: self.sandbox.void(request))

    def refund(self, request: RefundRequest) -> GatewayResult:
        """The sandbox's refund, through the faults."""
        return self._mutating("refund", lambda: self.sandbox.refund(request))

    def retrieve_payment(self, lookup: PaymentLookup) -> GatewayResult:
        """The sandbox's payment lookup, through the lookup faults."""
        return self._lookup("retrieve_payment", lambda: self.sandbox.retrieve_payment(lookup))

    def retrieve_refund(self, lookup: RefundLookup) -> GatewayResult:
        """The sandbox's refund lookup, through the lookup faults."""
        return self._lookup("retrieve_refund", lambda: self.sandbox.retrieve_refund(lookup))

    # -- WebhookGateway -----------------------------------------------------------------

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """The sandbox verifies and normalises its own webhooks (no faults here)."""
        return self.sandbox.parse_webhook(headers, body)

    # -- webhook delivery ---------------------------------------------------------------

    def deliver_webhooks(self) -> int:
        """Deliver the sandbox's queued webhooks with the webhook faults; return attempts made.

        Deliveries awaiting a retry go first, as they are; then the sandbox's outbox, with
        losses, duplicates and a shuffle drawn from the plan. Raises the first exception
        ``deliver`` raised (after trying every delivery).
        """
        attempts, errors = self._deliver_pending()
        if errors:
            raise errors[0]
        return attempts

    @property
    def awaiting_retry(self) -> int:
        """How many deliveries failed and will be tried again by :meth:`deliver_webhooks`."""
        with self._delivering:
            return len(self._retries)

    # -- internals ----------------------------------------------------------------------

    def _mutating(self, operation: str, call: Callable[[], GatewayResult]) -> GatewayResult:
        plan = self.plan
        fault = plan.request_fault()
        acts = fault not in {_F.CONNECTION_REFUSED, _F.RATE_LIMITED}
        if fault is _F.SERVER_ERROR:
            acts = plan.coin()
        early = plan.strikes(_F.EARLY_WEBHOOK)
        if fault is _F.CONNECTION_REFUSED:
            plan.record(operation, fault)
            msg = f"injected: the sandbox refused the connection ({operation})"
            raise ConnectionRefusedError(msg)
        if fault is _F.RATE_LIMITED:
            plan.record(operation, fault)
            msg = f"injected: the sandbox answered 429 Too Many Requests ({operation})"
            raise GatewayError(msg, gateway_code="rate_limit", retryable=True)
        answer, refusal = self._call(call) if acts else (None, None)
        if acts and early:
            self._deliver_early(operation)
        return self._answer(operation, fault, answer, refusal)

    def _lookup(self, operation: str, call: Callable[[], GatewayResult]) -> GatewayResult:
        plan = self.plan
        fault = plan.request_fault(lookup=True)
        acts = fault is not _F.CONNECTION_REFUSED
        if fault is _F.SERVER_ERROR:
            acts = plan.coin()
        if fault is _F.CONNECTION_REFUSED:
            plan.record(operation, fault)
            msg = f"injected: the sandbox refused the connection ({operation})"
            raise ConnectionRefusedError(msg)
        answer, refusal = self._call(call) if acts else (None, None)
        return self._answer(operation, fault, answer, refusal)

    @staticmethod
    def _call(
        call: Callable[[], GatewayResult],
    ) -> tuple[GatewayResult | None, PaykitError | None]:
        """The sandbox's answer, or its refusal (which a lost answer hides like any other)."""
        try:
            return call(), None
        except PaykitError as refusal:
            return None, refusal

    def _answer(
        self,
        operation: str,
        fault: FaultKind | None,
        answer: GatewayResult | None,
        refusal: PaykitError | None,
    ) -> GatewayResult:
        """What reaches the caller once the sandbox acted (or not)."""
        if fault is None:
            if refusal is not None:
                raise refusal
            assert answer is not None  # noqa: S101 - the sandbox answered or refused
            return answer
        self.plan.record(operation, fault)
        if fault is _F.TIMEOUT_AFTER_SUCCESS:
            msg = f"injected: no answer from the sandbox in time ({operation})"
            raise TimeoutError(msg)
        if fault is _F.DROPPED_RESPONSE:
            msg = f"injected: the connection was reset before the answer arrived ({operation})"
            raise ConnectionResetError(msg)
        return GatewayResult(
            outcome=GatewayOutcome.UNKNOWN,
            message=f"injected: the sandbox answered 500 Internal Server Error ({operation})",
            raw={"status": 500, "fault": str(fault)},
        )

    def _deliver_early(self, operation: str) -> None:
        """The webhooks overtake the answer; a failed delivery never reaches the caller."""
        if self.deliver is None:
            return
        attempts, _ = self._deliver_pending()
        if attempts:
            self.plan.record(operation, _F.EARLY_WEBHOOK)

    def _deliver_pending(self) -> tuple[int, list[Exception]]:
        deliver = self.deliver
        if deliver is None:
            msg = "FaultyGateway.deliver is not set: there is nowhere to deliver webhooks"
            raise RuntimeError(msg)
        with self._delivering:
            batch, self._retries = self._retries, []
            batch += self._with_faults(self.sandbox.take_webhooks())
            errors: list[Exception] = []
            for delivery in batch:
                delivery.attempts += 1
                try:
                    answer = deliver(delivery.headers, delivery.body)
                except Exception as error:  # noqa: BLE001 - kept, retried, and raised later
                    errors.append(error)
                    self.delivery_errors.append(error)
                    self._failed(delivery)
                    continue
                status = getattr(answer, "status_code", None)
                if isinstance(status, int) and not 200 <= status < 300:  # noqa: PLR2004
                    self._failed(delivery)
            return len(batch), errors

    def _failed(self, delivery: _Delivery) -> None:
        if delivery.attempts >= self.max_attempts:
            self.undeliverable.append((delivery.headers, delivery.body))
        else:
            self._retries.append(delivery)

    def _with_faults(self, outbox: list[tuple[dict[str, str], bytes]]) -> list[_Delivery]:
        """The outbox as the network delivers it: some lost, some twice, maybe shuffled."""
        plan = self.plan
        kept: list[_Delivery] = []
        for headers, body in outbox:
            if plan.strikes(_F.LOST_WEBHOOK):
                plan.record("webhook", _F.LOST_WEBHOOK)
                self.lost.append((headers, body))
            else:
                kept.append(_Delivery(headers, body))
        duplicates: list[_Delivery] = []
        for delivery in kept:
            if plan.strikes(_F.DUPLICATE_WEBHOOK):
                plan.record("webhook", _F.DUPLICATE_WEBHOOK)
                duplicates.append(_Delivery(delivery.headers, delivery.body))
        batch = kept + duplicates
        if len(batch) >= 2 and plan.strikes(_F.OUT_OF_ORDER_WEBHOOKS):  # noqa: PLR2004
            plan.record("webhook", _F.OUT_OF_ORDER_WEBHOOKS)
            batch = plan.shuffled(batch)
        return batch
