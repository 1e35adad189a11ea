"""The gateway contract of ``paykit.gateways.base`` as a pytest suite any adapter can run.

Subclass :class:`GatewayConformance` (under a ``Test...`` name) and implement
:meth:`~GatewayConformance.make_harness`; the :class:`GatewayHarness` it returns says how to
build the gateway and how to make its provider succeed, decline, ask for 3-D Secure, lose an
answer or refuse a refund (see ``paykit.testing`` for an example). The suite drives the
gateway only through the :class:`~paykit.gateways.base.Gateway` protocol, with the requests
``PaymentService`` sends (fresh paykit ids, idempotency keys derived from them), and checks
what the service relies on:

* a purchase takes exactly the amount asked; an authorization holds it, a capture (all or
  part) takes it, a void releases it;
* a decline is a value with a code and a customer-safe message, and nothing was charged;
* refunds -- full, partial, several -- give back what they say, and one above what remains
  is refused without moving money;
* the same idempotency key never moves money twice, and a lost answer is ``unknown`` (never
  ``declined``, never a :class:`~paykit.errors.PaykitError`), after which ``retrieve_payment``
  tells the truth, even without the provider's id;
* ``requires_action`` hands back a ``next_action`` and the payment completes after the
  customer acts;
* webhooks, where the gateway has them, verify and normalise, and a tampered one is refused.

Optional capabilities (``GatewayHarness.supports``) that a provider lacks skip their tests
with a reason that names the capability, so a skipped test is visible in ``pytest -ra``.
Amounts are built from minor units of :meth:`GatewayHarness.currency`, multiples of 100, so
the suite runs in any currency the provider accepts.

**Both sides.** Every scenario is written once, against :class:`GatewayCalls`, and runs on
each :class:`Side` the gateway has: ``[sync]`` calls ``charge``, ``refund``, ... as
``PaymentService`` does; ``[async]`` awaits their ``*_async`` twins (``charge_async``, ...)
on an event loop, as ``AsyncPaymentService`` does, and expects the same outcomes. A gateway
with no ``*_async`` method gets ``[sync]`` tests only, and
:meth:`GatewayConformance.test_async_methods_cover_every_operation` skips once, saying so; a
gateway with some twins but not all of :data:`ASYNC_OPERATIONS` fails that test, which
names the missing ones (``AsyncPaymentService`` would run those in worker threads). A
harness that can count the requests each of the gateway's HTTP clients sends
(:meth:`GatewayHarness.requests_by_side`, :class:`ClientCounter`) also gets every test
checked for requests sent through the other side's client. :func:`run_conformance_test`
runs one test by name, on either side, outside pytest's collection.
"""

# The suite's checks are pytest asserts and the literals are the expected values; the
# per-file ignores that tests/ gets in pyproject.toml do not reach this shipped module.
# ruff: noqa: S101, PLR2004

from __future__ import annotations

import abc
import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from functools import cache, partial
from typing import Any, Final, Protocol

import attrs
import pytest
from pydantic import SecretStr

from paykit._defaults import new_id
from paykit.domain.payment_method import PaymentMethodType
from paykit.errors import PaykitError, WebhookSignatureError
from paykit.gateways.base import (
    AUTHENTICATION_REQUIRED,
    CaptureRequest,
    ChargeRequest,
    Gateway,
    GatewayOutcome,
    GatewayResult,
    PaymentLookup,
    RefundLookup,
    RefundRequest,
    VoidRequest,
    WebhookEvent,
    WebhookEventType,
    WebhookGateway,
)
from paykit.money import Money, from_minor_units
from paykit.service._steps import GATEWAY_OPERATIONS

__all__ = [
    "ASYNC_OPERATIONS",
    "CAPABILITIES",
    "Behaviour",
    "ClientCounter",
    "GatewayCalls",
    "GatewayConformance",
    "GatewayHarness",
    "Side",
    "gateway_calls",
    "run_conformance_test",
]

_O = GatewayOutcome


class Behaviour(StrEnum):
    """What a test needs the provider to do with a charge."""

    SUCCEED = "succeed"
    """The charge succeeds (or is authorized, for ``capture=False``); refunds succeed."""
    DECLINE = "decline"
    """The provider declines the charge."""
    REQUIRE_ACTION = "require_action"
    """The customer must finish 3-D Secure (or a redirect) before money moves."""
    TIMEOUT = "timeout"
    """The charge happens at the provider but the answer is lost (the outcome is unknown)."""
    REFUND_FAIL = "refund_fail"
    """The charge succeeds, refunds of it are declined."""


class Side(StrEnum):
    """How the suite calls the gateway; every scenario runs on both sides."""

    SYNC = "sync"
    """The gateway's methods, called as ``PaymentService`` calls them."""
    ASYNC = "async"
    """The gateway's ``*_async`` twins, awaited on an event loop as ``AsyncPaymentService``
    awaits them."""


CAPABILITIES: Final = frozenset(
    {"authorize", "void", "require_action", "timeout", "refund_fail", "webhooks", "off_session"}
)
"""The optional capabilities a harness may list in :attr:`GatewayHarness.supports`."""

_TOTAL: Final = 10_000
"""Every payment's amount, in minor units (100.00 USD, 10000 JPY, 10.000 KWD)."""


class GatewayHarness(abc.ABC):
    """How the suite drives one gateway implementation.

    ``supports`` lists the optional capabilities (names from :data:`CAPABILITIES`) the
    gateway and the harness provide; the tests of any other capability are skipped:

    * ``"authorize"`` -- ``capture=False`` charges, then ``capture`` (all or part);
    * ``"void"`` -- ``void`` of an authorization or of a payment awaiting action;
    * ``"require_action"`` -- :attr:`Behaviour.REQUIRE_ACTION`; the tests that also need
      the customer to finish are skipped unless :meth:`complete_action` is implemented;
    * ``"timeout"`` -- :attr:`Behaviour.TIMEOUT`;
    * ``"refund_fail"`` -- :attr:`Behaviour.REFUND_FAIL`;
    * ``"webhooks"`` -- the gateway is a :class:`~paykit.gateways.base.WebhookGateway` and
      :meth:`signed_webhook` is implemented;
    * ``"off_session"`` -- the provider charges a saved method with the customer away
      (:attr:`~paykit.gateways.base.ChargeRequest.off_session`): at once, and with a decline
      (``authentication_required``) where the method would ask for 3-D Secure.

    Purchases, declines, refunds, lookups and idempotency are not optional.
    """

    supports: frozenset[str] = frozenset()

    def __init_subclass__(cls, **kwargs: object) -> None:
        """Refuse a misspelt capability when the harness class is defined, not by skipping."""
        super().__init_subclass__(**kwargs)
        _check_capabilities(cls.__name__, cls.supports)

    @property
    @abc.abstractmethod
    def gateway(self) -> Gateway:
        """The gateway under test (the same object on every access)."""

    @abc.abstractmethod
    def token_for(self, behaviour: Behaviour) -> str:
        """Return a payment-method token that makes the provider behave so."""

    def currency(self) -> str:
        """The currency every test pays in; override it to run the suite in another one."""
        return "USD"

    def complete_action(self, provider_payment_id: str) -> None:
        """Play the customer finishing 3-D Secure (or approving a redirect) for a payment.

        Not implemented by default: the tests that need it are skipped. A provider that asks
        the payer for every payment must implement it; the suite then completes the action
        for every charge that is not meant to stop at ``requires_action``.
        """
        msg = f"{type(self).__name__} cannot complete a customer action"
        raise NotImplementedError(msg)

    def signed_webhook(
        self, event_type: str, provider_payment_id: str
    ) -> tuple[dict[str, str], bytes]:
        """Return the headers and body of a genuine provider webhook about a payment.

        ``event_type`` is a :class:`~paykit.gateways.base.WebhookEventType` value
        (``"payment.succeeded"``); send what the provider sends for it
        (``payment_intent.succeeded`` at Stripe), signed as the provider signs it.
        """
        msg = f"{type(self).__name__} cannot make webhooks"
        raise NotImplementedError(msg)

    def requests_by_side(self) -> Mapping[Side, int] | None:
        """How many requests the gateway has sent through its sync and its async client.

        ``None`` (the default) when the harness cannot tell. When it can (a
        :class:`ClientCounter` between the gateway and the stand-in provider does the
        counting), the suite checks after every test that no request went through the other
        side's client: an ``*_async`` method that quietly calls its sync twin, blocking the
        event loop, fails.
        """
        return None

    def tampered(self, headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
        """Return a forgery of a genuine webhook; by default, one byte of the body changed.

        The byte changed is a letter or digit near the middle, so a JSON body stays valid
        JSON and only the signature can tell. Override it for a provider whose signature
        covers something else.
        """
        return dict(headers), _flip_a_byte(body)


def _check_capabilities(harness_name: str, supports: frozenset[str]) -> None:
    unknown = set(supports) - CAPABILITIES
    if unknown:
        msg = (
            f"{harness_name}.supports names unknown capabilities {sorted(unknown)}; "
            f"the known ones are {sorted(CAPABILITIES)}"
        )
        raise ValueError(msg)


def _flip_a_byte(body: bytes) -> bytes:
    """Change one letter or digit near the middle of ``body`` (or its last byte)."""
    data = bytearray(body)
    middle = len(data) // 2
    for index in [*range(middle, len(data)), *range(middle)]:
        char = chr(data[index])
        if char.isascii() and char.isdigit():
            data[index] = ord(str((int(char) + 1) % 10))
            return bytes(data)
        if char.isascii() and char.isalpha():
            data[index] = ord(char.swapcase())
            return bytes(data)
    if not data:
        return b"x"
    data[-1] ^= 0x01
    return bytes(data)


# -- the two sides: called as PaymentService calls, or awaited as AsyncPaymentService does --


ASYNC_OPERATIONS: Final = tuple(sorted(GATEWAY_OPERATIONS))
"""The operations whose ``<name>_async`` twin ``AsyncPaymentService`` awaits when the gateway
has it (and otherwise runs the sync method in a worker thread): all or none of them."""


class GatewayCalls(Protocol):
    """The gateway's operations as one :class:`Side` reaches them, each called like a function.

    On the sync side a call is the gateway's method; on the async side it awaits the
    ``*_async`` twin on the test's event loop and returns (or raises) what the twin did, so
    one scenario checks both. ``parse_webhook`` awaits ``parse_webhook_async`` where the
    gateway has one (paykit's webhook handling calls ``parse_webhook``, so it is optional).
    """

    @property
    def side(self) -> Side:
        """The side these calls go through."""

    def charge(self, request: ChargeRequest) -> GatewayResult:
        """``charge`` (or ``charge_async``)."""

    def capture(self, request: CaptureRequest) -> GatewayResult:
        """``capture`` (or ``capture_async``)."""

    def void(self, request: VoidRequest) -> GatewayResult:
        """``void`` (or ``void_async``)."""

    def refund(self, request: RefundRequest) -> GatewayResult:
        """``refund`` (or ``refund_async``)."""

    def retrieve_payment(self, lookup: PaymentLookup) -> GatewayResult:
        """``retrieve_payment`` (or ``retrieve_payment_async``)."""

    def retrieve_refund(self, lookup: RefundLookup) -> GatewayResult:
        """``retrieve_refund`` (or ``retrieve_refund_async``)."""

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """``parse_webhook`` (or ``parse_webhook_async``, where the gateway has it)."""


class _Calls:
    """:class:`GatewayCalls` over ``invoke(operation, *arguments)``, which one side supplies."""

    def __init__(self, side: Side, invoke: Callable[..., Any]) -> None:
        self._side = side
        self._invoke = invoke

    @property
    def side(self) -> Side:
        return self._side

    def charge(self, request: ChargeRequest) -> GatewayResult:
        result: GatewayResult = self._invoke("charge", request)
        return result

    def capture(self, request: CaptureRequest) -> GatewayResult:
        result: GatewayResult = self._invoke("capture", request)
        return result

    def void(self, request: VoidRequest) -> GatewayResult:
        result: GatewayResult = self._invoke("void", request)
        return result

    def refund(self, request: RefundRequest) -> GatewayResult:
        result: GatewayResult = self._invoke("refund", request)
        return result

    def retrieve_payment(self, lookup: PaymentLookup) -> GatewayResult:
        result: GatewayResult = self._invoke("retrieve_payment", lookup)
        return result

    def retrieve_refund(self, lookup: RefundLookup) -> GatewayResult:
        result: GatewayResult = self._invoke("retrieve_refund", lookup)
        return result

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        event: WebhookEvent = self._invoke("parse_webhook", headers, body)
        return event


def _async_twin(gateway: object, operation: str) -> Callable[..., Awaitable[Any]] | None:
    """The gateway's ``<operation>_async``, found as ``AsyncPaymentService`` finds it."""
    twin: Callable[..., Awaitable[Any]] | None = getattr(gateway, f"{operation}_async", None)
    return twin if callable(twin) else None


def _missing_async_twins(gateway: object) -> list[str]:
    """The ``*_async`` twins of :data:`ASYNC_OPERATIONS` the gateway lacks."""
    return [f"{op}_async" for op in ASYNC_OPERATIONS if _async_twin(gateway, op) is None]


def _no_async_side(gateway: object) -> str:
    return (
        f"{type(gateway).__name__} has no *_async methods, so AsyncPaymentService runs its "
        "sync methods in worker threads (the [sync] tests cover them); add "
        f"{', '.join(f'{op}_async' for op in ASYNC_OPERATIONS)} to have them checked here"
    )


def _half_async_side(gateway: object, missing: list[str]) -> str:
    return (
        f"{type(gateway).__name__} has some *_async methods but not {', '.join(missing)}: "
        "AsyncPaymentService would await the others and silently run these sync methods "
        "in worker threads; add them (or drop every *_async method)"
    )


@contextmanager
def gateway_calls(harness: GatewayHarness, side: Side) -> Iterator[GatewayCalls]:
    """The harness's gateway as ``side`` calls it, for the length of the ``with`` block.

    The async side calls the gateway as ``AsyncPaymentService`` does: it starts an event loop
    in a worker thread (``anyio``'s blocking portal) and awaits each ``*_async`` twin on it; an
    operation without a twin is called as it is (the service would run it in a worker
    thread; :meth:`GatewayConformance.test_async_methods_cover_every_operation` fails such a
    gateway). At the end it awaits the gateway's ``aclose()``, if it has one, on the same
    loop, as a host closes its clients before its loop ends. A gateway with no ``*_async``
    methods at all skips the test.

    When the block ends without an error and the harness counts requests by side
    (:meth:`GatewayHarness.requests_by_side`), none may have gone through the other side's
    client.
    """
    gateway = harness.gateway
    if side is Side.SYNC:
        yield _Calls(side, partial(_call, gateway))
    else:
        if len(_missing_async_twins(gateway)) == len(ASYNC_OPERATIONS):
            pytest.skip(_no_async_side(gateway))
        with _awaiting(gateway) as awaited:
            yield _Calls(side, awaited)
    _check_no_crossing(harness, side)


@contextmanager
def _awaiting(gateway: object) -> Iterator[Callable[..., Any]]:
    """``invoke(operation, *arguments)`` awaiting ``<operation>_async`` on an event loop."""
    # anyio comes with paykit's async extras; a sync-only adapter never gets this far.
    from anyio.from_thread import start_blocking_portal  # noqa: PLC0415

    with start_blocking_portal() as portal:

        def awaited(operation: str, *arguments: object) -> Any:  # noqa: ANN401 - per operation
            twin = _async_twin(gateway, operation)
            if twin is None:
                return _call(gateway, operation, *arguments)

            async def call() -> Any:  # noqa: ANN401 - per operation
                return await twin(*arguments)

            return portal.call(call)

        try:
            yield awaited
        finally:
            aclose = getattr(gateway, "aclose", None)
            if callable(aclose):
                portal.call(aclose)


def _call(gateway: object, operation: str, *arguments: object) -> Any:  # noqa: ANN401
    """``gateway.<operation>(*arguments)``: the sync side of every call."""
    return getattr(gateway, operation)(*arguments)


class ClientCounter:
    """Counts the requests an ``httpx`` adapter sends through its sync and its async client.

    Put it between the adapter and the stand-in provider's ``httpx.MockTransport`` handler,
    and let the harness report it (``pip install httpx``)::

        counter = ClientCounter(server.transport().handler)
        gateway = AcmeGateway(
            transport=counter.sync_transport, async_transport=counter.async_transport
        )
        ...
        def requests_by_side(self) -> Mapping[Side, int]:
            return counter.sent
    """

    def __init__(self, handler: Callable[[Any], Any]) -> None:
        import httpx  # noqa: PLC0415 - only harnesses of httpx adapters need it

        self.sent: dict[Side, int] = dict.fromkeys(Side, 0)
        """Requests sent so far, by the side whose client sent them."""
        self.sync_transport = httpx.MockTransport(partial(self._count, Side.SYNC, handler))
        """The transport for the adapter's synchronous client."""
        self.async_transport = httpx.MockTransport(partial(self._count, Side.ASYNC, handler))
        """The transport for the adapter's asynchronous client."""

    def _count(self, side: Side, handler: Callable[[Any], Any], request: object) -> Any:  # noqa: ANN401
        self.sent[side] += 1
        return handler(request)


def _check_no_crossing(harness: GatewayHarness, side: Side) -> None:
    """Fail unless every request of this test went through ``side``'s client (if known)."""
    sent = harness.requests_by_side()
    if sent is None:
        return
    other = Side.SYNC if side is Side.ASYNC else Side.ASYNC
    assert not sent.get(other), (
        f"on the {side} side {type(harness.gateway).__name__} sent {sent[other]} request(s) "
        f"through its {other} client (sent by side: {dict(sent)})"
    )


@cache
def _sides_of(suite: type[GatewayConformance]) -> tuple[Side, ...]:
    """The sides to generate for ``suite``: both, unless its gateway has no ``*_async`` method.

    Found by building one harness while the tests are collected. A harness that cannot be
    built then (one the ``harness`` fixture builds from other fixtures) gets both sides, and
    a sync-only gateway's ``[async]`` tests skip one by one, never go silently untested.
    """
    try:
        gateway = suite().make_harness().gateway
    except (Exception, pytest.skip.Exception):  # noqa: BLE001 - "let each test find out"
        return (Side.SYNC, Side.ASYNC)
    if len(_missing_async_twins(gateway)) == len(ASYNC_OPERATIONS):
        return (Side.SYNC,)
    return (Side.SYNC, Side.ASYNC)


# -- building requests the way PaymentService does -------------------------------------------


class _Shop:
    """Requests for one test, with fresh paykit ids and keys derived from them."""

    def __init__(self, harness: GatewayHarness, calls: GatewayCalls) -> None:
        self.harness = harness
        self.calls = calls
        """The gateway's operations, through the side (sync or async) this test runs on."""
        self.currency = harness.currency()
        self.customer_id = new_id("cus")

    def money(self, units: int) -> Money:
        """``units`` minor units of the harness's currency."""
        return from_minor_units(units, self.currency)

    def charge_request(
        self,
        behaviour: Behaviour,
        *,
        units: int = _TOTAL,
        capture: bool = True,
        off_session: bool = False,
    ) -> ChargeRequest:
        payment_id = new_id("pay")
        return ChargeRequest(
            payment_id=payment_id,
            amount=self.money(units),
            payment_method_token=self.harness.token_for(behaviour),
            payment_method_type=PaymentMethodType.CREDIT_CARD,
            customer_id=self.customer_id,
            idempotency_key=f"paykit:{payment_id}:charge",
            capture=capture,
            description="paykit gateway conformance",
            return_url="https://shop.example/return",
            metadata={"suite": "paykit.testing.gateway_conformance"},
            off_session=off_session,
        )

    def charge(
        self, behaviour: Behaviour, *, units: int = _TOTAL, capture: bool = True
    ) -> tuple[ChargeRequest, GatewayResult]:
        """Charge with ``behaviour``; the answer once the payer did what the provider asks.

        Some providers need the payer for every payment (PayPal's approval, a bank transfer):
        a ``requires_action`` answer to any behaviour but ``REQUIRE_ACTION`` itself is followed
        by :meth:`GatewayHarness.complete_action` and a lookup, as paykit's reconciliation
        does, and the lookup's answer is returned.
        """
        request = self.charge_request(behaviour, units=units, capture=capture)
        result = self.calls.charge(request)
        if result.outcome is _O.REQUIRES_ACTION and behaviour is not Behaviour.REQUIRE_ACTION:
            assert result.provider_id, result
            self.harness.complete_action(result.provider_id)
            result = self.retrieve(request, result.provider_id)
        return request, result

    def paid(self, behaviour: Behaviour = Behaviour.SUCCEED) -> tuple[ChargeRequest, str]:
        """A captured payment of ``_TOTAL``; returns its request and provider id."""
        request, result = self.charge(behaviour)
        assert result.outcome is _O.SUCCEEDED, result
        assert result.provider_id, result
        return request, result.provider_id

    def authorized(self) -> tuple[ChargeRequest, str]:
        """An authorization of ``_TOTAL``; returns its request and provider id."""
        request, result = self.charge(Behaviour.SUCCEED, capture=False)
        assert result.outcome is _O.AUTHORIZED, result
        assert result.provider_id, result
        return request, result.provider_id

    def lookup(self, request: ChargeRequest, provider_payment_id: str | None) -> PaymentLookup:
        return PaymentLookup(
            payment_id=request.payment_id,
            provider_payment_id=provider_payment_id,
            idempotency_key=request.idempotency_key,
            amount=request.amount,
        )

    def retrieve(self, request: ChargeRequest, provider_payment_id: str | None) -> GatewayResult:
        return self.calls.retrieve_payment(self.lookup(request, provider_payment_id))

    def capture_request(
        self, charge: ChargeRequest, provider_payment_id: str, units: int, *, attempt: int = 1
    ) -> CaptureRequest:
        suffix = "" if attempt == 1 else f":{attempt}"
        return CaptureRequest(
            payment_id=charge.payment_id,
            provider_payment_id=provider_payment_id,
            amount=self.money(units),
            idempotency_key=f"paykit:{charge.payment_id}:capture{suffix}",
        )

    def void_request(self, charge: ChargeRequest, provider_payment_id: str) -> VoidRequest:
        return VoidRequest(
            payment_id=charge.payment_id,
            provider_payment_id=provider_payment_id,
            idempotency_key=f"paykit:{charge.payment_id}:void",
        )

    def refund_request(
        self, charge: ChargeRequest, provider_payment_id: str, units: int
    ) -> RefundRequest:
        refund_id = new_id("re")
        return RefundRequest(
            refund_id=refund_id,
            payment_id=charge.payment_id,
            provider_payment_id=provider_payment_id,
            amount=self.money(units),
            idempotency_key=f"paykit:{refund_id}:refund",
            reason="requested_by_customer",
        )

    def refund(
        self, charge: ChargeRequest, provider_payment_id: str, units: int
    ) -> tuple[RefundRequest, GatewayResult]:
        request = self.refund_request(charge, provider_payment_id, units)
        return request, self.calls.refund(request)

    def retrieve_refund(
        self, request: RefundRequest, provider_refund_id: str | None
    ) -> GatewayResult:
        return self.calls.retrieve_refund(
            RefundLookup(
                refund_id=request.refund_id,
                provider_refund_id=provider_refund_id,
                provider_payment_id=request.provider_payment_id,
                idempotency_key=request.idempotency_key,
                amount=request.amount,
            )
        )


def _require(harness: GatewayHarness, *capabilities: str) -> None:
    """Skip the test, naming the capability, unless the harness supports all of them."""
    for capability in capabilities:
        if capability not in harness.supports:
            pytest.skip(
                f"{type(harness).__name__} does not support {capability!r} "
                "(add it to the harness's `supports` to run this test)"
            )


def _require_complete_action(harness: GatewayHarness) -> None:
    """Skip the test unless the harness can play the customer finishing 3-D Secure."""
    _require(harness, "require_action")
    if type(harness).complete_action is GatewayHarness.complete_action:
        pytest.skip(
            f"{type(harness).__name__} does not implement complete_action, so "
            "'require_action' cannot be completed"
        )


def _refused(call: Callable[[], GatewayResult]) -> GatewayResult | PaykitError:
    """Run a request that must be refused; return the DECLINED answer or the paykit error."""
    try:
        result = call()
    except PaykitError as error:
        return error
    assert isinstance(result, GatewayResult), result
    assert result.outcome is _O.DECLINED, result
    return result


def _not_holding_money(result: GatewayResult) -> None:
    """The provider's truth about a payment that must neither hold nor have taken money."""
    assert result.outcome not in {_O.SUCCEEDED, _O.AUTHORIZED, _O.PENDING}, result


def _lost_answer(shop: _Shop) -> tuple[ChargeRequest, GatewayResult | None]:
    """Charge with the lost-answer token; ``None`` when the adapter raised (unknown)."""
    request = shop.charge_request(Behaviour.TIMEOUT)
    try:
        result = shop.calls.charge(request)
    except PaykitError as error:
        pytest.fail(
            f"a lost answer raised {error!r}; a PaykitError means 'refused, nothing "
            "moved', but this charge did happen: return outcome 'unknown' instead"
        )
    except Exception:  # noqa: BLE001 - any other exception is read as "unknown"
        return request, None
    assert result.outcome in {_O.UNKNOWN, _O.SUCCEEDED}, (
        f"a lost answer must be 'unknown' (or, after the adapter's own retry with the same "
        f"key, 'succeeded'), never a decline: {result}"
    )
    return request, result


def _require_webhooks(harness: GatewayHarness) -> None:
    """Skip unless webhooks are supported; then the gateway must be a ``WebhookGateway``."""
    _require(harness, "webhooks")
    assert isinstance(harness.gateway, WebhookGateway), (
        f"{type(harness).__name__} supports 'webhooks' but its gateway has no parse_webhook"
    )


class GatewayConformance(abc.ABC):
    """Every test a gateway must pass; subclass it as ``Test<YourGateway>``."""

    @abc.abstractmethod
    def make_harness(self) -> GatewayHarness:
        """Return a harness around a new gateway, for one test."""

    @pytest.fixture
    def harness(self) -> GatewayHarness:
        """A fresh harness from :meth:`make_harness`, its capabilities checked."""
        harness = self.make_harness()
        _check_capabilities(type(harness).__name__, harness.supports)
        return harness

    @classmethod
    def scenarios(cls) -> list[str]:
        """The names of the tests that run on both sides (those that take ``calls``)."""
        return sorted(
            name
            for name in dir(cls)
            if name.startswith("test_")
            and "calls" in inspect.signature(getattr(cls, name)).parameters
        )

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Run each test that takes ``calls`` once per side: ``[sync]``, and ``[async]``.

        ``[async]`` is generated when the gateway has ``*_async`` methods; a sync-only
        gateway gets ``[sync]`` alone, and :meth:`test_async_methods_cover_every_operation`
        skips with the reason, once.
        """
        if "calls" in metafunc.fixturenames:
            sides = [side.value for side in _sides_of(type(self))]
            metafunc.parametrize("calls", sides, indirect=True)

    @pytest.fixture
    def calls(
        self, request: pytest.FixtureRequest, harness: GatewayHarness
    ) -> Iterator[GatewayCalls]:
        """The harness's gateway through the side this test runs on (see :func:`gateway_calls`)."""
        side = Side(getattr(request, "param", Side.SYNC.value))
        with gateway_calls(harness, side) as calls:
            yield calls

    # -- the protocol -------------------------------------------------------------------

    def test_gateway_implements_the_protocol(self, harness: GatewayHarness) -> None:
        """The gateway is a ``Gateway`` with a non-empty provider name."""
        gateway = harness.gateway
        assert isinstance(gateway, Gateway)
        assert isinstance(gateway.name, str)
        assert gateway.name

    def test_async_methods_cover_every_operation(self, harness: GatewayHarness) -> None:
        """An async gateway has the ``*_async`` twin of every operation, not just some.

        ``AsyncPaymentService`` awaits a twin where there is one and runs the sync method in
        a worker thread where there is none, so a half-async gateway would quietly block
        threads for some operations. A gateway with no twins at all is sync-only: skipped.
        """
        gateway = harness.gateway
        missing = _missing_async_twins(gateway)
        if len(missing) == len(ASYNC_OPERATIONS):
            pytest.skip(_no_async_side(gateway))
        assert not missing, _half_async_side(gateway, missing)

    # -- purchase and decline -----------------------------------------------------------

    def test_purchase_succeeds_with_the_amount_asked(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """A purchase succeeds, names the provider's payment and took exactly the amount."""
        shop = _Shop(harness, calls)
        request, result = shop.charge(Behaviour.SUCCEED)

        assert result.outcome is _O.SUCCEEDED, result
        assert result.provider_id
        assert result.amount == request.amount

    def test_retrieve_reports_a_purchase(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """Retrieving a purchase by the provider's id says it succeeded, for the whole amount."""
        shop = _Shop(harness, calls)
        request, provider_id = shop.paid()

        truth = shop.retrieve(request, provider_id)

        assert truth.outcome is _O.SUCCEEDED, truth
        assert truth.provider_id == provider_id
        assert truth.amount == request.amount

    def test_decline_is_an_outcome_with_code_and_message(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """A decline is a ``declined`` answer carrying the provider's code and a message."""
        shop = _Shop(harness, calls)
        _, result = shop.charge(Behaviour.DECLINE)

        assert result.outcome is _O.DECLINED, result
        assert result.decline_code
        assert result.message

    def test_declined_charge_took_no_money(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """After a decline the provider's truth is ``declined``: nothing was charged."""
        shop = _Shop(harness, calls)
        request, result = shop.charge(Behaviour.DECLINE)
        assert result.outcome is _O.DECLINED, result

        truth = shop.retrieve(request, result.provider_id)

        assert truth.outcome is _O.DECLINED, truth

    # -- authorize, capture, void -------------------------------------------------------

    def test_authorization_holds_the_amount(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """An authorize-only charge is ``authorized`` for the amount, and retrieve agrees."""
        _require(harness, "authorize")
        shop = _Shop(harness, calls)
        request, result = shop.charge(Behaviour.SUCCEED, capture=False)

        assert result.outcome is _O.AUTHORIZED, result
        assert result.provider_id
        assert result.amount == request.amount
        truth = shop.retrieve(request, result.provider_id)
        assert truth.outcome is _O.AUTHORIZED, truth

    def test_partial_capture_takes_only_that_amount(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """Capturing part of an authorization succeeds and takes exactly that part."""
        _require(harness, "authorize")
        shop = _Shop(harness, calls)
        request, provider_id = shop.authorized()

        captured = shop.calls.capture(shop.capture_request(request, provider_id, 4_000))

        assert captured.outcome is _O.SUCCEEDED, captured
        assert captured.amount == shop.money(4_000)
        truth = shop.retrieve(request, provider_id)
        assert truth.outcome is _O.SUCCEEDED, truth
        assert truth.amount == shop.money(4_000)

    def test_full_capture_takes_the_whole_amount(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """Capturing the whole authorization succeeds and takes the whole amount."""
        _require(harness, "authorize")
        shop = _Shop(harness, calls)
        request, provider_id = shop.authorized()

        captured = shop.calls.capture(shop.capture_request(request, provider_id, _TOTAL))

        assert captured.outcome is _O.SUCCEEDED, captured
        assert captured.amount == request.amount
        assert shop.retrieve(request, provider_id).amount == request.amount

    def test_capture_above_the_authorization_is_refused(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """A capture above the authorized amount is refused and the hold stays capturable."""
        _require(harness, "authorize")
        shop = _Shop(harness, calls)
        request, provider_id = shop.authorized()

        _refused(
            lambda: shop.calls.capture(shop.capture_request(request, provider_id, _TOTAL + 100))
        )

        assert shop.retrieve(request, provider_id).outcome is _O.AUTHORIZED
        retry = shop.capture_request(request, provider_id, _TOTAL, attempt=2)
        assert shop.calls.capture(retry).outcome is _O.SUCCEEDED

    def test_void_releases_the_authorization(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """Voiding an authorization succeeds, and the provider then holds no money for it."""
        _require(harness, "authorize", "void")
        shop = _Shop(harness, calls)
        request, provider_id = shop.authorized()

        voided = shop.calls.void(shop.void_request(request, provider_id))

        assert voided.outcome is _O.SUCCEEDED, voided
        _not_holding_money(shop.retrieve(request, provider_id))

    def test_capture_after_void_is_refused(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """A voided authorization cannot be captured: the capture is refused, nothing moves."""
        _require(harness, "authorize", "void")
        shop = _Shop(harness, calls)
        request, provider_id = shop.authorized()
        assert shop.calls.void(shop.void_request(request, provider_id)).outcome is _O.SUCCEEDED

        _refused(lambda: shop.calls.capture(shop.capture_request(request, provider_id, _TOTAL)))

        _not_holding_money(shop.retrieve(request, provider_id))

    # -- refunds ------------------------------------------------------------------------

    def test_full_refund(self, harness: GatewayHarness, calls: GatewayCalls) -> None:
        """Refunding the whole payment succeeds with its own provider id and the amount."""
        shop = _Shop(harness, calls)
        charge, provider_id = shop.paid()

        refund, result = shop.refund(charge, provider_id, _TOTAL)

        assert result.outcome is _O.SUCCEEDED, result
        assert result.provider_id
        assert result.provider_id != provider_id
        assert result.amount == refund.amount

    def test_partial_refund(self, harness: GatewayHarness, calls: GatewayCalls) -> None:
        """Refunding part of a payment succeeds for exactly that part."""
        shop = _Shop(harness, calls)
        charge, provider_id = shop.paid()

        _, result = shop.refund(charge, provider_id, 3_000)

        assert result.outcome is _O.SUCCEEDED, result
        assert result.amount == shop.money(3_000)

    def test_partial_refunds_add_up_to_the_total(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """Several partial refunds that sum to the payment all succeed, each its own refund."""
        shop = _Shop(harness, calls)
        charge, provider_id = shop.paid()

        results = [shop.refund(charge, provider_id, units)[1] for units in (2_500,) * 4]

        assert [r.outcome for r in results] == [_O.SUCCEEDED] * 4, results
        assert len({r.provider_id for r in results}) == 4
        assert None not in {r.provider_id for r in results}

    def test_refund_above_what_remains_moves_no_money(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """A refund above the balance is refused and refunds nothing; the balance stays whole."""
        shop = _Shop(harness, calls)
        charge, provider_id = shop.paid()
        _, first = shop.refund(charge, provider_id, 7_000)
        assert first.outcome is _O.SUCCEEDED, first

        too_much = shop.refund_request(charge, provider_id, 4_000)
        answer = _refused(lambda: shop.calls.refund(too_much))

        provider_refund_id = answer.provider_id if isinstance(answer, GatewayResult) else None
        truth = shop.retrieve_refund(too_much, provider_refund_id)
        assert truth.outcome is _O.DECLINED, truth
        _, rest = shop.refund(charge, provider_id, 3_000)
        assert rest.outcome is _O.SUCCEEDED, rest

    def test_retrieve_refund_by_provider_id(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """Retrieving a refund by the provider's id says it succeeded, for its amount."""
        shop = _Shop(harness, calls)
        charge, provider_id = shop.paid()
        refund, result = shop.refund(charge, provider_id, 3_000)
        assert result.provider_id, result

        truth = shop.retrieve_refund(refund, result.provider_id)

        assert truth.outcome is _O.SUCCEEDED, truth
        assert truth.provider_id == result.provider_id
        assert truth.amount == refund.amount

    def test_retrieve_refund_without_provider_id(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """A refund whose answer never arrived is found by paykit's refund id and key."""
        shop = _Shop(harness, calls)
        charge, provider_id = shop.paid()
        refund, result = shop.refund(charge, provider_id, 3_000)
        assert result.outcome is _O.SUCCEEDED, result

        truth = shop.retrieve_refund(refund, None)

        assert truth.outcome is _O.SUCCEEDED, truth
        assert truth.provider_id == result.provider_id
        assert truth.amount == refund.amount

    def test_failed_refund_is_declined(self, harness: GatewayHarness, calls: GatewayCalls) -> None:
        """A refund the provider cannot make is ``declined``, and retrieve agrees."""
        _require(harness, "refund_fail")
        shop = _Shop(harness, calls)
        charge, provider_id = shop.paid(Behaviour.REFUND_FAIL)

        refund, result = shop.refund(charge, provider_id, 3_000)

        assert result.outcome is _O.DECLINED, result
        truth = shop.retrieve_refund(refund, result.provider_id)
        assert truth.outcome is _O.DECLINED, truth

    # -- idempotency --------------------------------------------------------------------

    def test_repeated_charge_charges_once(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """The same charge request sent twice is one charge: the same provider payment."""
        shop = _Shop(harness, calls)
        request, first = shop.charge(Behaviour.SUCCEED)

        second = shop.calls.charge(request)

        assert first.outcome is _O.SUCCEEDED, first
        assert second.outcome is _O.SUCCEEDED, second
        assert second.provider_id == first.provider_id
        assert shop.retrieve(request, None).provider_id == first.provider_id

    def test_reused_key_with_other_parameters_never_charges_twice(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """A charge key reused for another amount is refused or replayed, never charged again."""
        shop = _Shop(harness, calls)
        request, provider_id = shop.paid()
        other = attrs.evolve(request, amount=shop.money(_TOTAL + 100))

        try:
            answer = shop.calls.charge(other)
        except PaykitError:
            pass
        else:
            assert answer.outcome is _O.DECLINED or answer.provider_id == provider_id, answer
        truth = shop.retrieve(request, None)
        assert truth.provider_id == provider_id
        assert truth.amount == request.amount

    def test_repeated_capture_captures_once(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """The same capture request sent twice captures the amount once."""
        _require(harness, "authorize")
        shop = _Shop(harness, calls)
        request, provider_id = shop.authorized()
        capture = shop.capture_request(request, provider_id, 4_000)

        first = shop.calls.capture(capture)
        second = shop.calls.capture(capture)

        assert first.outcome is _O.SUCCEEDED, first
        assert second.outcome is _O.SUCCEEDED, second
        assert shop.retrieve(request, provider_id).amount == shop.money(4_000)

    def test_repeated_refund_refunds_once(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """The same refund request sent twice is one refund, so the rest is still refundable."""
        shop = _Shop(harness, calls)
        charge, provider_id = shop.paid()
        refund = shop.refund_request(charge, provider_id, 3_000)

        first = shop.calls.refund(refund)
        second = shop.calls.refund(refund)

        assert first.outcome is _O.SUCCEEDED, first
        assert second.outcome is _O.SUCCEEDED, second
        assert second.provider_id == first.provider_id
        _, rest = shop.refund(charge, provider_id, 7_000)
        assert rest.outcome is _O.SUCCEEDED, rest

    # -- unknown outcomes ---------------------------------------------------------------

    def test_lost_answer_is_unknown_never_declined(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """A charge whose answer is lost is ``unknown``, never declined or a paykit error."""
        _require(harness, "timeout")

        _lost_answer(_Shop(harness, calls))  # its checks are shared with the tests below

    def test_lost_answer_then_retrieve_without_provider_id(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """After a lost answer, retrieve by paykit's ids alone finds the charge that happened."""
        _require(harness, "timeout")
        shop = _Shop(harness, calls)
        request, _ = _lost_answer(shop)

        truth = shop.retrieve(request, None)

        assert truth.outcome is _O.SUCCEEDED, truth
        assert truth.provider_id
        assert truth.amount == request.amount

    def test_lost_answer_then_retrieve_by_provider_id(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """After a lost answer, retrieve by the provider's id (given or found) agrees."""
        _require(harness, "timeout")
        shop = _Shop(harness, calls)
        request, result = _lost_answer(shop)
        # The lost answer may or may not have named the payment; if not, paykit finds the id
        # by its own ids first, as reconciliation does, then keeps using the provider's.
        provider_id = result.provider_id if result is not None else None
        if provider_id is None:
            provider_id = shop.retrieve(request, None).provider_id
        assert provider_id

        truth = shop.retrieve(request, provider_id)

        assert truth.outcome is _O.SUCCEEDED, truth
        assert truth.provider_id == provider_id
        assert truth.amount == request.amount

    def test_retry_after_lost_answer_charges_once(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """Retrying a charge whose answer was lost returns that charge, never a second one."""
        _require(harness, "timeout")
        shop = _Shop(harness, calls)
        request, _ = _lost_answer(shop)
        before = shop.retrieve(request, None)
        assert before.outcome is _O.SUCCEEDED, before

        retry = shop.calls.charge(request)

        assert retry.outcome is _O.SUCCEEDED, retry
        assert retry.provider_id == before.provider_id
        after = shop.retrieve(request, None)
        assert after.provider_id == before.provider_id
        assert after.amount == request.amount

    # -- customer action (3-D Secure) ---------------------------------------------------

    def test_require_action_hands_back_next_action(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """A charge needing 3-D Secure is ``requires_action`` with a way for the customer on."""
        _require(harness, "require_action")
        shop = _Shop(harness, calls)
        request, result = shop.charge(Behaviour.REQUIRE_ACTION)

        assert result.outcome is _O.REQUIRES_ACTION, result
        assert result.provider_id
        action = result.next_action
        assert action is not None
        assert action.redirect_url or action.client_secret
        if action.client_secret is not None:
            assert isinstance(action.client_secret, SecretStr)
            assert action.client_secret.get_secret_value() not in repr(result)
        truth = shop.retrieve(request, result.provider_id)
        assert truth.outcome is _O.REQUIRES_ACTION, truth

    def test_completed_action_takes_the_payment(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """Once the customer finishes 3-D Secure the provider says the payment succeeded."""
        _require_complete_action(harness)
        shop = _Shop(harness, calls)
        request, result = shop.charge(Behaviour.REQUIRE_ACTION)
        assert result.outcome is _O.REQUIRES_ACTION, result
        assert result.provider_id

        harness.complete_action(result.provider_id)

        truth = shop.retrieve(request, result.provider_id)
        assert truth.outcome is _O.SUCCEEDED, truth
        assert truth.amount == request.amount

    def test_completed_action_on_authorization_holds_it(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """An authorize-only charge is ``authorized`` once the customer finishes 3-D Secure."""
        _require(harness, "authorize")
        _require_complete_action(harness)
        shop = _Shop(harness, calls)
        request, result = shop.charge(Behaviour.REQUIRE_ACTION, capture=False)
        assert result.outcome is _O.REQUIRES_ACTION, result
        assert result.provider_id

        harness.complete_action(result.provider_id)

        assert shop.retrieve(request, result.provider_id).outcome is _O.AUTHORIZED

    def test_void_cancels_a_payment_awaiting_action(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """Voiding a payment that awaits the customer succeeds, and it then holds no money."""
        _require(harness, "require_action", "void")
        shop = _Shop(harness, calls)
        request, result = shop.charge(Behaviour.REQUIRE_ACTION)
        assert result.outcome is _O.REQUIRES_ACTION, result
        assert result.provider_id

        voided = shop.calls.void(shop.void_request(request, result.provider_id))

        assert voided.outcome is _O.SUCCEEDED, voided
        _not_holding_money(shop.retrieve(request, result.provider_id))

    # -- off-session charges ------------------------------------------------------------

    def test_off_session_charge_takes_the_money_at_once(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """A renewal with the customer away is charged without asking them anything."""
        _require(harness, "off_session")
        shop = _Shop(harness, calls)
        request = shop.charge_request(Behaviour.SUCCEED, off_session=True)

        result = shop.calls.charge(request)

        assert result.outcome is _O.SUCCEEDED, result
        assert result.amount == request.amount
        assert result.next_action is None

    def test_off_session_charge_needing_the_customer_is_declined(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """Off-session, a charge that would ask for 3-D Secure is declined, never left waiting."""
        _require(harness, "off_session", "require_action")
        shop = _Shop(harness, calls)
        request = shop.charge_request(Behaviour.REQUIRE_ACTION, off_session=True)

        result = shop.calls.charge(request)

        assert result.outcome is _O.DECLINED, result
        assert result.decline_code == AUTHENTICATION_REQUIRED, result
        assert result.next_action is None
        assert result.message
        _not_holding_money(shop.retrieve(request, result.provider_id))

    # -- webhooks -----------------------------------------------------------------------

    def test_webhook_round_trip(self, harness: GatewayHarness, calls: GatewayCalls) -> None:
        """A genuine webhook about a payment verifies and names the payment and event type."""
        _require_webhooks(harness)
        shop = _Shop(harness, calls)
        _, provider_id = shop.paid()
        headers, body = harness.signed_webhook(WebhookEventType.PAYMENT_SUCCEEDED, provider_id)

        event = shop.calls.parse_webhook(headers, body)

        assert event.type is WebhookEventType.PAYMENT_SUCCEEDED, event
        assert event.provider_payment_id == provider_id
        assert event.event_id
        if event.result is not None:
            assert event.result.outcome is _O.SUCCEEDED, event.result

    def test_tampered_webhook_is_refused(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """A webhook changed after signing raises ``WebhookSignatureError``."""
        _require_webhooks(harness)
        shop = _Shop(harness, calls)
        _, provider_id = shop.paid()
        headers, body = harness.tampered(
            *harness.signed_webhook(WebhookEventType.PAYMENT_SUCCEEDED, provider_id)
        )

        with pytest.raises(WebhookSignatureError):
            shop.calls.parse_webhook(headers, body)

    def test_unsigned_webhook_is_refused(
        self, harness: GatewayHarness, calls: GatewayCalls
    ) -> None:
        """A webhook body without the provider's headers raises ``WebhookSignatureError``."""
        _require_webhooks(harness)
        shop = _Shop(harness, calls)
        _, provider_id = shop.paid()
        _, body = harness.signed_webhook(WebhookEventType.PAYMENT_SUCCEEDED, provider_id)
        no_headers: Mapping[str, str] = {}

        with pytest.raises(WebhookSignatureError):
            shop.calls.parse_webhook(no_headers, body)


class _Direct(GatewayConformance):
    """The suite for :func:`run_conformance_test`, which hands each test its harness."""

    def make_harness(self) -> GatewayHarness:
        msg = "run_conformance_test hands the harness to the test"
        raise NotImplementedError(msg)


def run_conformance_test(name: str, harness: GatewayHarness, side: Side = Side.SYNC) -> None:
    """Run the suite's test ``name`` once against ``harness``, on ``side``, outside collection.

    For running a chosen part of the suite (a gateway for which only some tests fit) or
    checking a deliberately flawed gateway; it raises what the test raises (an
    ``AssertionError``, or pytest's skip or fail exception).
    """
    test: Callable[..., None] = getattr(_Direct(), name)
    if name not in GatewayConformance.scenarios():
        test(harness)
        return
    with gateway_calls(harness, side) as calls:
        test(harness, calls)
