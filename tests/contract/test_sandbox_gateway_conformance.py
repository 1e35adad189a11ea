"""The sandbox gateway against the shipped gateway conformance suite."""

from __future__ import annotations

from typing import Final

import attrs
import pytest

from paykit.errors import GatewayError
from paykit.gateways import (
    CaptureRequest,
    ChargeRequest,
    Gateway,
    GatewayOutcome,
    GatewayResult,
    PaymentLookup,
    RefundLookup,
    RefundRequest,
    SandboxGateway,
    SandboxToken,
    VoidRequest,
)
from paykit.testing import Behaviour, GatewayConformance, GatewayHarness
from paykit.testing.gateway_conformance import Side, _sides_of, run_conformance_test

_TOKENS: Final = {
    Behaviour.SUCCEED: SandboxToken.SUCCESS,
    Behaviour.DECLINE: SandboxToken.DECLINE,
    Behaviour.REQUIRE_ACTION: SandboxToken.THREE_D_SECURE,
    Behaviour.TIMEOUT: SandboxToken.TIMEOUT,
    Behaviour.REFUND_FAIL: SandboxToken.REFUND_FAIL,
}


class SandboxHarness(GatewayHarness):
    """Drives a fresh :class:`SandboxGateway` through its test tokens and signed webhooks."""

    supports = frozenset(
        {"authorize", "void", "require_action", "timeout", "refund_fail", "webhooks", "off_session"}
    )

    def __init__(self, currency: str = "USD", sandbox: SandboxGateway | None = None) -> None:
        self.sandbox = SandboxGateway() if sandbox is None else sandbox
        self._currency = currency

    @property
    def gateway(self) -> Gateway:
        """The sandbox under test."""
        return self.sandbox

    def token_for(self, behaviour: Behaviour) -> str:
        """The sandbox test token scripted for ``behaviour``."""
        return _TOKENS[behaviour]

    def currency(self) -> str:
        """The currency this run pays in."""
        return self._currency

    def complete_action(self, provider_payment_id: str) -> None:
        """The customer passes the sandbox's 3-D Secure challenge."""
        self.sandbox.complete_action(provider_payment_id)

    def signed_webhook(
        self, event_type: str, provider_payment_id: str
    ) -> tuple[dict[str, str], bytes]:
        """A webhook the sandbox signs about one of its payments."""
        return self.sandbox.webhook_for(event_type, provider_payment_id)


class TestSandboxGateway(GatewayConformance):
    """Every conformance test, run against the sandbox in US dollars."""

    def make_harness(self) -> GatewayHarness:
        """A harness around a new sandbox."""
        return SandboxHarness()


class TestSandboxGatewayInDinars(GatewayConformance):
    """Every conformance test again in Kuwaiti dinars, a currency with three decimals."""

    def make_harness(self) -> GatewayHarness:
        """A harness around a new sandbox, paying in KWD."""
        return SandboxHarness("KWD")


def test_every_behaviour_has_a_sandbox_token() -> None:
    """The harness maps every behaviour the suite can ask for to a sandbox token."""
    assert set(_TOKENS) == set(Behaviour)


# -- the suite has teeth: a sandbox with one flaw fails the test written for that flaw ------


class _ForgetsKeys(SandboxGateway):
    """Sends every charge with a new idempotency key, so a retry charges again."""

    def charge(self, request: ChargeRequest) -> GatewayResult:
        retry = attrs.evolve(
            request, idempotency_key=f"{request.idempotency_key}:{len(self.calls)}"
        )
        return super().charge(retry)


class _CallsLostAnswersDeclines(SandboxGateway):
    """Reports a lost answer as a decline (paykit would fail a payment that was charged)."""

    def charge(self, request: ChargeRequest) -> GatewayResult:
        result = super().charge(request)
        if result.outcome is GatewayOutcome.UNKNOWN:
            return GatewayResult(outcome=GatewayOutcome.DECLINED, decline_code="timeout")
        return result


class _RaisesOnLostAnswers(SandboxGateway):
    """Raises a paykit error for a lost answer (read as "refused, nothing moved")."""

    def charge(self, request: ChargeRequest) -> GatewayResult:
        result = super().charge(request)
        if result.outcome is GatewayOutcome.UNKNOWN:
            msg = "the provider did not answer"
            raise GatewayError(msg)
        return result


class _CannotFindWithoutProviderId(SandboxGateway):
    """Cannot look a payment up by paykit's ids alone."""

    def retrieve_payment(self, lookup: PaymentLookup) -> GatewayResult:
        if lookup.provider_payment_id is None:
            return GatewayResult(outcome=GatewayOutcome.DECLINED, decline_code="not_found")
        return super().retrieve_payment(lookup)


class _ReportsRefusedRefundsAsDone(SandboxGateway):
    """Says a refund the provider refused succeeded."""

    def refund(self, request: RefundRequest) -> GatewayResult:
        result = super().refund(request)
        return attrs.evolve(result, outcome=GatewayOutcome.SUCCEEDED, amount=request.amount)


@pytest.mark.parametrize(
    ("flawed", "test_name"),
    [
        (_ForgetsKeys, "test_repeated_charge_charges_once"),
        (_CallsLostAnswersDeclines, "test_lost_answer_is_unknown_never_declined"),
        (_RaisesOnLostAnswers, "test_lost_answer_is_unknown_never_declined"),
        (_CannotFindWithoutProviderId, "test_lost_answer_then_retrieve_without_provider_id"),
        (_ReportsRefusedRefundsAsDone, "test_refund_above_what_remains_moves_no_money"),
        (_ReportsRefusedRefundsAsDone, "test_failed_refund_is_declined"),
    ],
)
def test_the_suite_catches_a_flawed_gateway(flawed: type[SandboxGateway], test_name: str) -> None:
    """A sandbox with one flaw fails the conformance test that guards against that flaw."""
    run_conformance_test(test_name, SandboxHarness())  # passes against the real sandbox

    with pytest.raises((AssertionError, pytest.fail.Exception)):
        run_conformance_test(test_name, SandboxHarness(sandbox=flawed()))


# -- the async side: the same scenarios through ``*_async`` twins ----------------------------


class _AwaitableSandbox(SandboxGateway):
    """The sandbox with an ``*_async`` twin of every operation, each awaiting nothing."""

    async def charge_async(self, request: ChargeRequest) -> GatewayResult:
        return self.charge(request)

    async def capture_async(self, request: CaptureRequest) -> GatewayResult:
        return self.capture(request)

    async def void_async(self, request: VoidRequest) -> GatewayResult:
        return self.void(request)

    async def refund_async(self, request: RefundRequest) -> GatewayResult:
        return self.refund(request)

    async def retrieve_payment_async(self, lookup: PaymentLookup) -> GatewayResult:
        return self.retrieve_payment(lookup)

    async def retrieve_refund_async(self, lookup: RefundLookup) -> GatewayResult:
        return self.retrieve_refund(lookup)


class _AsyncTwinForgetsKeys(_AwaitableSandbox):
    """Right when called, wrong when awaited: ``charge_async`` sends a new key every time."""

    async def charge_async(self, request: ChargeRequest) -> GatewayResult:
        retry = attrs.evolve(
            request, idempotency_key=f"{request.idempotency_key}:{len(self.calls)}"
        )
        return self.charge(retry)


class _HalfAsync(SandboxGateway):
    """Awaits charges, and nothing else."""

    async def charge_async(self, request: ChargeRequest) -> GatewayResult:
        return self.charge(request)


class _AwaitableSuite(GatewayConformance):
    """The suite over a sandbox with async twins (not collected: no ``Test`` prefix)."""

    def make_harness(self) -> GatewayHarness:
        return SandboxHarness(sandbox=_AwaitableSandbox())


def test_the_async_side_catches_a_flaw_only_the_async_twin_has() -> None:
    """A flaw in ``charge_async`` alone passes the sync side and fails the async one."""
    test_name = "test_repeated_charge_charges_once"
    run_conformance_test(test_name, SandboxHarness(sandbox=_AwaitableSandbox()), Side.ASYNC)
    run_conformance_test(test_name, SandboxHarness(sandbox=_AsyncTwinForgetsKeys()), Side.SYNC)

    with pytest.raises(AssertionError):
        run_conformance_test(test_name, SandboxHarness(sandbox=_AsyncTwinForgetsKeys()), Side.ASYNC)


def test_a_half_async_gateway_fails_naming_the_missing_twins() -> None:
    """A gateway with only some ``*_async`` methods fails, naming those it lacks."""
    test_name = "test_async_methods_cover_every_operation"
    run_conformance_test(test_name, SandboxHarness(sandbox=_AwaitableSandbox()))

    with pytest.raises(AssertionError) as caught:
        run_conformance_test(test_name, SandboxHarness(sandbox=_HalfAsync()))

    message = str(caught.value)
    assert "_HalfAsync has some *_async methods but not" in message
    for twin in ("capture_async", "void_async", "refund_async", "retrieve_refund_async"):
        assert twin in message
    assert "charge_async" not in message.split("but not")[1]


def test_a_sync_only_gateway_skips_the_async_side_once_naming_it() -> None:
    """The sandbox has no ``*_async`` methods: one skip says so, and no [async] test exists."""
    with pytest.raises(pytest.skip.Exception, match="SandboxGateway has no \\*_async methods"):
        run_conformance_test("test_async_methods_cover_every_operation", SandboxHarness())

    assert _sides_of(TestSandboxGateway) == (Side.SYNC,)
    assert _sides_of(_AwaitableSuite) == (Side.SYNC, Side.ASYNC)


def test_unknown_capabilities_are_refused() -> None:
    """A harness naming a capability the suite does not know fails loudly, not by skipping."""
    with pytest.raises(ValueError, match="'webhook'"):

        class Misspelt(SandboxHarness):
            supports = frozenset({"webhook"})
