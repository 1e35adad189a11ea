"""The seeded fault injector: each fault does what it says to the sandbox and to the caller."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Final

import attrs
import pytest

from paykit import PaymentMethodType, SandboxGateway, SandboxToken
from paykit.errors import GatewayError, IdempotencyConflict
from paykit.gateways import (
    CaptureRequest,
    ChargeRequest,
    Gateway,
    GatewayOutcome,
    GatewayResult,
    LedgerKind,
    PaymentLookup,
    RefundLookup,
    RefundRequest,
    VoidRequest,
    WebhookGateway,
)
from paykit.money import Money
from paykit.testing import Behaviour, GatewayConformance, GatewayHarness
from paykit.testing.faults import (
    DEFAULT_RATES,
    FAKE_PROVIDER_FAULTS,
    FAULTY_GATEWAY_FAULTS,
    LOOKUP_FAULTS,
    REQUEST_FAULTS,
    WEBHOOK_FAULTS,
    FaultKind,
    FaultPlan,
    FaultyGateway,
)

_F = FaultKind
_O = GatewayOutcome
USD: Final = "USD"

Delivery = tuple[dict[str, str], bytes]


def only(kind: FaultKind, rate: float = 1.0, *, seed: int = 1) -> FaultPlan:
    """A plan that injects ``kind`` alone, at ``rate``."""
    return FaultPlan(seed, {kind: rate})


def charge_request(
    payment_id: str = "pay_1", token: str = SandboxToken.SUCCESS, *, capture: bool = True
) -> ChargeRequest:
    """A 10.00 USD charge request for ``payment_id``."""
    return ChargeRequest(
        payment_id=payment_id,
        amount=Money.of("10.00", USD),
        payment_method_token=token,
        payment_method_type=PaymentMethodType.CREDIT_CARD,
        customer_id="cus_1",
        idempotency_key=f"paykit:{payment_id}:charge",
        capture=capture,
    )


def lookup(payment_id: str = "pay_1", provider_payment_id: str | None = None) -> PaymentLookup:
    """A lookup of ``payment_id`` (by paykit's id unless a provider id is given)."""
    return PaymentLookup(
        payment_id=payment_id,
        provider_payment_id=provider_payment_id,
        idempotency_key=f"paykit:{payment_id}:charge",
        amount=Money.of("10.00", USD),
    )


def event_types(deliveries: list[Delivery]) -> list[str]:
    """The ``type`` of each delivered body, in delivery order."""
    return [json.loads(body)["type"] for _, body in deliveries]


def event_ids(deliveries: list[Delivery]) -> list[str]:
    """The event id of each delivered body, in delivery order."""
    return [json.loads(body)["id"] for _, body in deliveries]


@pytest.fixture
def sandbox() -> SandboxGateway:
    """A sandbox that queues webhooks."""
    return SandboxGateway(send_webhooks=True)


@pytest.fixture
def received() -> list[Delivery]:
    """Every webhook delivery, in the order it arrived."""
    return []


def faulty_gateway(
    sandbox: SandboxGateway, plan: FaultPlan, received: list[Delivery]
) -> FaultyGateway:
    """``sandbox`` behind ``plan``, delivering webhooks into ``received``."""
    return FaultyGateway(sandbox, plan, deliver=lambda h, b: received.append((h, b)))


# -- the plan -------------------------------------------------------------------------------


def test_the_fault_groups_cover_every_kind() -> None:
    """Request and webhook faults partition the injector's kinds; lookups get a subset."""
    assert FAULTY_GATEWAY_FAULTS == REQUEST_FAULTS + WEBHOOK_FAULTS
    assert not set(REQUEST_FAULTS) & set(WEBHOOK_FAULTS)
    assert set(LOOKUP_FAULTS) == {_F.CONNECTION_REFUSED, _F.TIMEOUT_AFTER_SUCCESS, _F.SERVER_ERROR}


def test_one_vocabulary_names_what_the_injector_and_the_fakes_inject() -> None:
    """Every kind is injected by the sandbox's injector or the fakes; they share the requests."""
    assert set(FAULTY_GATEWAY_FAULTS) | set(FAKE_PROVIDER_FAULTS) == set(FaultKind)
    assert set(FAKE_PROVIDER_FAULTS) - set(REQUEST_FAULTS) == {_F.ERROR_RESPONSE}
    assert not set(FAKE_PROVIDER_FAULTS) & set(WEBHOOK_FAULTS)


def test_a_fault_only_the_fakes_script_gets_no_rate() -> None:
    """A rate for ``error_response`` is refused: the injector would never inject it."""
    with pytest.raises(ValueError, match="does not inject error_response"):
        FaultPlan(1, {_F.ERROR_RESPONSE: 0.1})


def test_default_rates_and_given_rates() -> None:
    """No rates means the defaults; given rates replace them, unnamed kinds never strike."""
    assert FaultPlan(1).rates == DEFAULT_RATES
    assert all(0 < rate < 1 for rate in DEFAULT_RATES.values())
    assert sum(DEFAULT_RATES[kind] for kind in REQUEST_FAULTS) <= 1
    plan = FaultPlan(1, {_F.LOST_WEBHOOK: 0.5})
    assert plan.rates[_F.LOST_WEBHOOK] == 0.5
    assert set(plan.rates) == set(FAULTY_GATEWAY_FAULTS)
    assert {rate for kind, rate in plan.rates.items() if kind is not _F.LOST_WEBHOOK} == {0.0}


@pytest.mark.parametrize(
    ("rates", "lookup_factor"),
    [
        ({_F.SERVER_ERROR: 1.5}, 0.5),
        ({_F.LOST_WEBHOOK: -0.1}, 0.5),
        ({_F.SERVER_ERROR: 0.6, _F.RATE_LIMITED: 0.5}, 0.5),
        ({}, 1.1),
    ],
)
def test_impossible_plans_are_refused(rates: dict[FaultKind, float], lookup_factor: float) -> None:
    """Rates outside 0..1, request rates adding up above 1, or a bad factor raise."""
    with pytest.raises(ValueError, match=r"between 0 and 1|above 1"):
        FaultPlan(1, rates, lookup_factor=lookup_factor)


def test_summary_says_what_was_injected() -> None:
    """``summary`` names the seed and the count of each kind injected."""
    plan = FaultPlan(42)
    assert plan.summary() == "seed 42: no faults"
    plan.record("charge", _F.SERVER_ERROR)
    plan.record("refund", _F.SERVER_ERROR)
    plan.record("webhook", _F.LOST_WEBHOOK)
    assert plan.summary() == "seed 42: 2 server_error, 1 lost_webhook"
    assert plan.history == [
        ("charge", _F.SERVER_ERROR),
        ("refund", _F.SERVER_ERROR),
        ("webhook", _F.LOST_WEBHOOK),
    ]


# -- the gateway without faults -------------------------------------------------------------


def test_it_is_a_gateway_under_the_sandboxs_name() -> None:
    """It implements both protocols and takes the sandbox's name."""
    faulty = FaultyGateway(SandboxGateway(name="sbx-eu"), FaultPlan(1))
    assert isinstance(faulty, Gateway)
    assert isinstance(faulty, WebhookGateway)
    assert faulty.name == "sbx-eu"


def test_without_faults_it_is_transparent(sandbox: SandboxGateway) -> None:
    """With no rates, answers, refusals and lookups are the sandbox's own."""
    faulty = FaultyGateway(sandbox, FaultPlan(1, {}))
    result = faulty.charge(charge_request())
    assert result.outcome is _O.SUCCEEDED
    declined = faulty.charge(charge_request("pay_2", SandboxToken.DECLINE))
    assert declined.decline_code == "generic_decline"
    with pytest.raises(IdempotencyConflict):
        faulty.charge(attrs.evolve(charge_request(), amount=Money.of("11.00", USD)))
    assert faulty.retrieve_payment(lookup()).outcome is _O.SUCCEEDED
    assert sandbox.calls == ["charge", "charge", "charge", "retrieve_payment"]
    assert faulty.plan.counts == {}


class _FaultlessHarness(GatewayHarness):
    """A faultless FaultyGateway, for the conformance suite."""

    supports = frozenset(
        {"authorize", "void", "require_action", "timeout", "refund_fail", "webhooks", "off_session"}
    )

    def __init__(self) -> None:
        self.sandbox = SandboxGateway(send_webhooks=True)
        self._gateway = FaultyGateway(self.sandbox, FaultPlan(0, {}))

    @property
    def gateway(self) -> Gateway:
        return self._gateway

    def token_for(self, behaviour: Behaviour) -> str:
        return {
            Behaviour.SUCCEED: SandboxToken.SUCCESS,
            Behaviour.DECLINE: SandboxToken.DECLINE,
            Behaviour.REQUIRE_ACTION: SandboxToken.THREE_D_SECURE,
            Behaviour.TIMEOUT: SandboxToken.TIMEOUT,
            Behaviour.REFUND_FAIL: SandboxToken.REFUND_FAIL,
        }[behaviour]

    def complete_action(self, provider_payment_id: str) -> None:
        self.sandbox.complete_action(provider_payment_id)

    def signed_webhook(
        self, event_type: str, provider_payment_id: str
    ) -> tuple[dict[str, str], bytes]:
        return self.sandbox.webhook_for(event_type, provider_payment_id)


class TestFaultlessFaultyGateway(GatewayConformance):
    """With every rate at zero, the wrapper meets the whole gateway contract."""

    def make_harness(self) -> GatewayHarness:
        """A faultless wrapper around a new sandbox."""
        return _FaultlessHarness()


# -- request faults -------------------------------------------------------------------------


def test_connection_refused_reaches_nothing(sandbox: SandboxGateway) -> None:
    """The sandbox is never called: no call, no money, no webhook."""
    faulty = FaultyGateway(sandbox, only(_F.CONNECTION_REFUSED))
    with pytest.raises(ConnectionRefusedError):
        faulty.charge(charge_request())
    assert sandbox.calls == []
    assert sandbox.ledger == []
    assert sandbox.take_webhooks() == []
    assert faulty.plan.counts == {_F.CONNECTION_REFUSED: 1}
    assert faulty.plan.history == [("charge", _F.CONNECTION_REFUSED)]


def test_rate_limited_reaches_nothing_and_says_retry(sandbox: SandboxGateway) -> None:
    """A 429 is a retryable ``GatewayError`` with ``rate_limit``; the sandbox is not called."""
    faulty = FaultyGateway(sandbox, only(_F.RATE_LIMITED))
    with pytest.raises(GatewayError) as raised:
        faulty.charge(charge_request())
    assert raised.value.gateway_code == "rate_limit"
    assert raised.value.retryable is True
    assert sandbox.calls == []
    assert sandbox.ledger == []
    assert faulty.plan.counts == {_F.RATE_LIMITED: 1}


@pytest.mark.parametrize(
    ("kind", "error"),
    [(_F.TIMEOUT_AFTER_SUCCESS, TimeoutError), (_F.DROPPED_RESPONSE, ConnectionResetError)],
)
def test_lost_answers_after_the_money_moved(
    sandbox: SandboxGateway, kind: FaultKind, error: type[Exception]
) -> None:
    """The sandbox charges, then the caller gets the network error; a retry charges once."""
    faulty = FaultyGateway(sandbox, only(kind))
    with pytest.raises(error):
        faulty.charge(charge_request())
    assert sandbox.calls == ["charge"]
    assert [entry.kind for entry in sandbox.ledger] == [LedgerKind.CHARGE]
    assert faulty.plan.counts == {kind: 1}

    assert sandbox.charge(charge_request()).outcome is _O.SUCCEEDED  # the replay
    assert sandbox.charged_total("pay_1") == Money.of("10.00", USD)


def test_a_server_error_may_or_may_not_have_acted(sandbox: SandboxGateway) -> None:
    """A 5xx answers ``unknown`` with no provider id; a seeded coin says whether money moved."""
    faulty = FaultyGateway(sandbox, only(_F.SERVER_ERROR, seed=3))
    for number in range(40):
        result = faulty.charge(charge_request(f"pay_{number}"))
        assert result.outcome is _O.UNKNOWN
        assert result.provider_id is None
        assert result.message is not None
        assert "500" in result.message

    charged = {entry.payment_id for entry in sandbox.ledger}
    assert 5 < len(charged) < 35  # both happened
    assert len(sandbox.calls) == len(charged)  # acted exactly when it charged
    assert faulty.plan.counts == {_F.SERVER_ERROR: 40}
    for number in range(40):  # the truth is there for reconciliation to find
        found = sandbox.retrieve_payment(lookup(f"pay_{number}"))
        expected = _O.SUCCEEDED if f"pay_{number}" in charged else _O.DECLINED
        assert found.outcome is expected


def _authorized(sandbox: SandboxGateway) -> str:
    result = sandbox.charge(charge_request(capture=False))
    assert result.provider_id is not None
    return result.provider_id


def _captured(sandbox: SandboxGateway) -> str:
    result = sandbox.charge(charge_request())
    assert result.provider_id is not None
    return result.provider_id


Operation = Callable[[FaultyGateway, str], GatewayResult]

_OPERATIONS: Final[dict[str, tuple[Callable[[SandboxGateway], str], Operation, LedgerKind]]] = {
    "capture": (
        _authorized,
        lambda g, pi: g.capture(
            CaptureRequest(
                payment_id="pay_1",
                provider_payment_id=pi,
                amount=Money.of("10.00", USD),
                idempotency_key="cap",
            )
        ),
        LedgerKind.CAPTURE,
    ),
    "void": (
        _authorized,
        lambda g, pi: g.void(
            VoidRequest(payment_id="pay_1", provider_payment_id=pi, idempotency_key="void")
        ),
        LedgerKind.VOID,
    ),
    "refund": (
        _captured,
        lambda g, pi: g.refund(
            RefundRequest(
                refund_id="ref_1",
                payment_id="pay_1",
                provider_payment_id=pi,
                amount=Money.of("4.00", USD),
                idempotency_key="ref",
            )
        ),
        LedgerKind.REFUND,
    ),
}


@pytest.mark.parametrize("operation", sorted(_OPERATIONS))
@pytest.mark.parametrize(
    ("kind", "acts", "error"),
    [
        (_F.CONNECTION_REFUSED, False, ConnectionRefusedError),
        (_F.RATE_LIMITED, False, GatewayError),
        (_F.TIMEOUT_AFTER_SUCCESS, True, TimeoutError),
        (_F.DROPPED_RESPONSE, True, ConnectionResetError),
    ],
)
def test_request_faults_on_capture_void_and_refund(
    sandbox: SandboxGateway, operation: str, kind: FaultKind, acts: bool, error: type[Exception]
) -> None:
    """Each request fault acts (or not) on the sandbox, then raises, for every mutating call."""
    prepare, call, ledger_kind = _OPERATIONS[operation]
    intent = prepare(sandbox)
    before = len(sandbox.ledger)
    faulty = FaultyGateway(sandbox, only(kind))

    with pytest.raises(error):
        call(faulty, intent)
    moved = [entry.kind for entry in sandbox.ledger[before:]]
    assert moved == ([ledger_kind] if acts else [])
    assert sandbox.calls[-1] == (operation if acts else "charge")
    assert faulty.plan.history == [(operation, kind)]


def test_a_lost_answer_hides_a_refusal(sandbox: SandboxGateway) -> None:
    """A refusal is an answer too: a dropped connection loses it like any other."""
    sandbox.charge(charge_request())
    conflicting = attrs.evolve(charge_request(), amount=Money.of("11.00", USD))
    with pytest.raises(ConnectionResetError):
        FaultyGateway(sandbox, only(_F.DROPPED_RESPONSE)).charge(conflicting)
    with pytest.raises(IdempotencyConflict):
        FaultyGateway(sandbox, FaultPlan(1, {})).charge(conflicting)


# -- lookups --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [_F.RATE_LIMITED, _F.DROPPED_RESPONSE])
def test_lookups_never_meet_money_faults(sandbox: SandboxGateway, kind: FaultKind) -> None:
    """Rate limits and dropped responses are injected on mutating calls only."""
    sandbox.charge(charge_request())
    faulty = FaultyGateway(sandbox, FaultPlan(1, {kind: 1.0}, lookup_factor=1.0))
    for _ in range(20):
        assert faulty.retrieve_payment(lookup()).outcome is _O.SUCCEEDED
    assert faulty.plan.counts == {}


@pytest.mark.parametrize(
    ("kind", "error"),
    [(_F.CONNECTION_REFUSED, ConnectionRefusedError), (_F.TIMEOUT_AFTER_SUCCESS, TimeoutError)],
)
def test_lookup_faults_raise(
    sandbox: SandboxGateway, kind: FaultKind, error: type[Exception]
) -> None:
    """A refused lookup never reaches the sandbox; a timed-out one did, then raised."""
    sandbox.charge(charge_request())
    refund = sandbox.refund(
        RefundRequest(
            refund_id="ref_1",
            payment_id="pay_1",
            provider_payment_id=_captured(sandbox),
            amount=Money.of("1.00", USD),
            idempotency_key="ref",
        )
    )
    faulty = FaultyGateway(sandbox, FaultPlan(1, {kind: 1.0}, lookup_factor=1.0))
    calls = len(sandbox.calls)
    with pytest.raises(error):
        faulty.retrieve_payment(lookup())
    with pytest.raises(error):
        faulty.retrieve_refund(
            RefundLookup(
                refund_id="ref_1",
                provider_refund_id=refund.provider_id,
                provider_payment_id="",
                idempotency_key="ref",
                amount=Money.of("1.00", USD),
            )
        )
    reached = sandbox.calls[calls:]
    if kind is _F.CONNECTION_REFUSED:
        assert reached == []
    else:
        assert reached == ["retrieve_payment", "retrieve_refund"]
    assert faulty.plan.history == [("retrieve_payment", kind), ("retrieve_refund", kind)]


def test_lookups_meet_faults_at_a_lower_rate(sandbox: SandboxGateway) -> None:
    """At ``lookup_factor=0.5`` a rate of 1 strikes about half the lookups."""
    sandbox.charge(charge_request())
    faulty = FaultyGateway(sandbox, FaultPlan(5, {_F.SERVER_ERROR: 1.0}))
    answers = [faulty.retrieve_payment(lookup()).outcome for _ in range(400)]
    unknown = answers.count(_O.UNKNOWN)
    assert 150 < unknown < 250
    assert faulty.plan.counts == {_F.SERVER_ERROR: unknown}
    assert set(answers) == {_O.UNKNOWN, _O.SUCCEEDED}


# -- webhook faults -------------------------------------------------------------------------


def test_webhooks_are_delivered_in_order_without_faults(
    sandbox: SandboxGateway, received: list[Delivery]
) -> None:
    """With no webhook faults each queued event arrives once, in order, and verifies."""
    faulty = faulty_gateway(sandbox, FaultPlan(1, {}), received)
    faulty.charge(charge_request("pay_1"))
    faulty.charge(charge_request("pay_2", capture=False))
    faulty.charge(charge_request("pay_3", SandboxToken.DECLINE))
    assert received == []  # nothing arrives until delivered

    assert faulty.deliver_webhooks() == 3
    assert event_types(received) == ["payment.succeeded", "payment.authorized", "payment.failed"]
    assert [faulty.parse_webhook(h, b).payment_id for h, b in received] == [
        "pay_1",
        "pay_2",
        "pay_3",
    ]
    assert faulty.deliver_webhooks() == 0


def test_lost_webhooks_never_arrive(sandbox: SandboxGateway, received: list[Delivery]) -> None:
    """Every delivery lost: ``deliver`` is never called; the losses are kept and counted."""
    faulty = faulty_gateway(sandbox, only(_F.LOST_WEBHOOK), received)
    for number in range(3):
        faulty.charge(charge_request(f"pay_{number}"))
    assert faulty.deliver_webhooks() == 0
    assert received == []
    assert len(faulty.lost) == 3
    assert faulty.plan.counts == {_F.LOST_WEBHOOK: 3}
    assert faulty.deliver_webhooks() == 0  # gone for good


def test_duplicate_webhooks_arrive_twice(sandbox: SandboxGateway, received: list[Delivery]) -> None:
    """Each delivery is made again, after the batch's originals."""
    faulty = faulty_gateway(sandbox, only(_F.DUPLICATE_WEBHOOK), received)
    faulty.charge(charge_request("pay_1"))
    faulty.charge(charge_request("pay_2"))
    assert faulty.deliver_webhooks() == 4
    ids = event_ids(received)
    assert ids[2:] == ids[:2]
    assert len(set(ids)) == 2
    assert received[2] == received[0]  # byte for byte: the same delivery again
    assert faulty.plan.counts == {_F.DUPLICATE_WEBHOOK: 2}


def test_out_of_order_webhooks_are_shuffled(
    sandbox: SandboxGateway, received: list[Delivery]
) -> None:
    """A batch arrives in another order, every event once; a lone event is left alone."""
    faulty = faulty_gateway(sandbox, only(_F.OUT_OF_ORDER_WEBHOOKS), received)
    for number in range(5):
        faulty.charge(charge_request(f"pay_{number}"))
    queued = sandbox.take_webhooks()
    for _headers, body in queued:  # put them back, so the order they were queued in is known
        sandbox._outbox.append(body)

    faulty.deliver_webhooks()
    assert [body for _headers, body in received] != [body for _headers, body in queued]
    assert sorted(event_ids(received)) == sorted(event_ids(queued))
    assert faulty.plan.counts == {_F.OUT_OF_ORDER_WEBHOOKS: 1}

    faulty.charge(charge_request("pay_9"))
    faulty.deliver_webhooks()
    assert faulty.plan.counts == {_F.OUT_OF_ORDER_WEBHOOKS: 1}


def test_an_early_webhook_overtakes_the_answer(sandbox: SandboxGateway) -> None:
    """The webhook is delivered inside the call, before the answer returns."""
    timeline: list[str] = []
    faulty = FaultyGateway(
        sandbox,
        only(_F.EARLY_WEBHOOK),
        deliver=lambda _h, body: timeline.append(json.loads(body)["type"]),
    )
    faulty.charge(charge_request())
    timeline.append("answer")
    assert timeline == ["payment.succeeded", "answer"]
    assert faulty.plan.history == [("charge", _F.EARLY_WEBHOOK)]
    assert faulty.deliver_webhooks() == 0  # already delivered


def test_an_early_webhook_overtakes_an_error(sandbox: SandboxGateway) -> None:
    """With a dropped response, the webhook still arrives before the error is raised."""
    timeline: list[str] = []
    plan = FaultPlan(1, {_F.DROPPED_RESPONSE: 1.0, _F.EARLY_WEBHOOK: 1.0})
    faulty = FaultyGateway(
        sandbox, plan, deliver=lambda _h, body: timeline.append(json.loads(body)["type"])
    )
    with pytest.raises(ConnectionResetError):
        faulty.charge(charge_request())
    assert timeline == ["payment.succeeded"]
    assert plan.history == [("charge", _F.EARLY_WEBHOOK), ("charge", _F.DROPPED_RESPONSE)]


def test_no_early_webhook_when_the_sandbox_was_not_reached(
    sandbox: SandboxGateway, received: list[Delivery]
) -> None:
    """A refused connection changed nothing, so nothing is delivered early or counted."""
    plan = FaultPlan(1, {_F.CONNECTION_REFUSED: 1.0, _F.EARLY_WEBHOOK: 1.0})
    faulty = faulty_gateway(sandbox, plan, received)
    with pytest.raises(ConnectionRefusedError):
        faulty.charge(charge_request())
    assert received == []
    assert plan.counts == {_F.CONNECTION_REFUSED: 1}


def test_an_early_webhook_needs_somewhere_to_go(sandbox: SandboxGateway) -> None:
    """Without ``deliver`` nothing is delivered early, and ``deliver_webhooks`` says why."""
    faulty = FaultyGateway(sandbox, only(_F.EARLY_WEBHOOK))
    faulty.charge(charge_request())
    assert faulty.plan.counts == {}
    with pytest.raises(RuntimeError, match="deliver is not set"):
        faulty.deliver_webhooks()
    received: list[Delivery] = []
    faulty.deliver = lambda h, b: received.append((h, b))
    assert faulty.deliver_webhooks() == 1


@attrs.frozen
class _Answer:
    status_code: int


def test_refused_deliveries_are_retried_then_given_up(sandbox: SandboxGateway) -> None:
    """A non-2xx answer is retried on the next delivery round, ``max_attempts`` times in all."""
    attempts: list[str] = []

    def unavailable(_headers: dict[str, str], body: bytes) -> _Answer:
        attempts.append(json.loads(body)["id"])
        return _Answer(503)

    faulty = FaultyGateway(sandbox, FaultPlan(1, {}), deliver=unavailable, max_attempts=2)
    faulty.charge(charge_request())
    assert faulty.deliver_webhooks() == 1
    assert faulty.awaiting_retry == 1
    assert faulty.deliver_webhooks() == 1
    assert faulty.awaiting_retry == 0
    assert len(faulty.undeliverable) == 1
    assert len(set(attempts)) == 1
    assert len(attempts) == 2


def test_a_delivery_that_raises_is_kept_and_raised(sandbox: SandboxGateway) -> None:
    """The rest of the batch is still delivered; the error is raised and the event retried."""
    delivered: list[str] = []
    failures = [RuntimeError("inbox down")]

    def flaky(_headers: dict[str, str], body: bytes) -> None:
        if failures:
            raise failures.pop()
        delivered.append(json.loads(body)["payment"]["paykit_payment_id"])

    faulty = FaultyGateway(sandbox, FaultPlan(1, {}), deliver=flaky)
    faulty.charge(charge_request("pay_1"))
    faulty.charge(charge_request("pay_2"))
    with pytest.raises(RuntimeError, match="inbox down"):
        faulty.deliver_webhooks()
    assert delivered == ["pay_2"]
    assert [str(error) for error in faulty.delivery_errors] == ["inbox down"]
    assert faulty.deliver_webhooks() == 1
    assert delivered == ["pay_2", "pay_1"]


# -- reproducibility ------------------------------------------------------------------------


def _run(seed: int) -> tuple[list[tuple[str, FaultKind]], list[str], list[str], list[str]]:
    """A fixed script of calls under the default rates; what happened, as plain values."""
    sandbox = SandboxGateway(send_webhooks=True)
    received: list[Delivery] = []
    plan = FaultPlan(seed)
    faulty = faulty_gateway(sandbox, plan, received)
    answers: list[str] = []
    for number in range(60):
        payment_id = f"pay_{number}"
        try:
            result = faulty.charge(charge_request(payment_id, capture=number % 3 != 0))
            answers.append(str(result.outcome))
        except (OSError, GatewayError) as error:
            answers.append(type(error).__name__)
        found = sandbox.retrieve_payment(lookup(payment_id))
        if found.outcome is _O.AUTHORIZED and found.provider_id is not None:
            try:
                faulty.capture(
                    CaptureRequest(
                        payment_id=payment_id,
                        provider_payment_id=found.provider_id,
                        amount=Money.of("10.00", USD),
                        idempotency_key=f"{payment_id}:capture",
                    )
                )
            except (OSError, GatewayError) as error:
                answers.append(type(error).__name__)
        try:
            answers.append(str(faulty.retrieve_payment(lookup(payment_id)).outcome))
        except OSError as error:
            answers.append(type(error).__name__)
        if number % 10 == 9:
            faulty.deliver_webhooks()
    ledger = [f"{entry.kind}:{entry.payment_id}" for entry in sandbox.ledger]
    delivered = [
        f"{json.loads(b)['type']}:{json.loads(b)['payment']['paykit_payment_id']}"
        for _, b in received
    ]
    return plan.history, answers, ledger, delivered


def test_the_same_seed_gives_the_same_run() -> None:
    """Two runs of one script with one seed inject the same faults with the same effects."""
    first, second = _run(2024), _run(2024)
    assert first == second
    history = first[0]
    assert {kind for _, kind in history} == set(FAULTY_GATEWAY_FAULTS)  # it meets every kind


def test_another_seed_gives_another_run() -> None:
    """The seed decides: another seed injects other faults."""
    assert _run(2024)[0] != _run(2025)[0]


def test_counts_match_the_history() -> None:
    """``counts`` is the tally of ``history``."""
    sandbox = SandboxGateway(send_webhooks=True)
    received: list[Delivery] = []
    plan = FaultPlan(11)
    faulty = faulty_gateway(sandbox, plan, received)
    for number in range(100):
        with contextlib.suppress(OSError, GatewayError):
            faulty.charge(charge_request(f"pay_{number}"))
    faulty.deliver_webhooks()
    assert sum(plan.counts.values()) == len(plan.history) > 0
    for kind in FaultKind:
        assert plan.counts[kind] == sum(1 for _, seen in plan.history if seen is kind)
