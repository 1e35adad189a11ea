"""The sandbox's outbox: one signed webhook per state change, in order; and its disputes."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from paykit import (
    IdempotencyConflict,
    InMemoryStorage,
    PaymentMethodType,
    PaymentService,
    SandboxGateway,
    SandboxToken,
    WebhookSignatureError,
)
from paykit.domain.dispute import DisputeStatus
from paykit.errors import GatewayConfigurationError
from paykit.gateways import (
    CaptureRequest,
    ChargeRequest,
    GatewayOutcome,
    GatewayResult,
    LedgerKind,
    RefundRequest,
    VoidRequest,
    WebhookEvent,
    WebhookEventType,
)
from paykit.gateways._signatures import TimestampedSignature, signature_header
from paykit.money import Money

_E = WebhookEventType
_O = GatewayOutcome


@pytest.fixture
def sandbox() -> SandboxGateway:
    """A sandbox that sends webhooks (the suite's shared fixture does not)."""
    return SandboxGateway(send_webhooks=True)


def charge(
    sandbox: SandboxGateway,
    payment_id: str = "pay_1",
    token: str = SandboxToken.SUCCESS,
    *,
    amount: str = "10.00",
    capture: bool = True,
) -> GatewayResult:
    """Charge ``amount`` USD for ``payment_id`` with ``token``."""
    return sandbox.charge(
        ChargeRequest(
            payment_id=payment_id,
            amount=Money.of(amount, "USD"),
            payment_method_token=token,
            payment_method_type=PaymentMethodType.CREDIT_CARD,
            customer_id="cus_1",
            idempotency_key=f"paykit:{payment_id}:charge",
            capture=capture,
        )
    )


def refund(
    sandbox: SandboxGateway,
    provider_payment_id: str,
    amount: str,
    *,
    refund_id: str = "ref_1",
    payment_id: str = "pay_1",
) -> GatewayResult:
    """Refund ``amount`` USD of a sandbox payment as paykit's refund ``refund_id``."""
    return sandbox.refund(
        RefundRequest(
            refund_id=refund_id,
            payment_id=payment_id,
            provider_payment_id=provider_payment_id,
            amount=Money.of(amount, "USD"),
            idempotency_key=f"paykit:{refund_id}:refund",
        )
    )


def capture(sandbox: SandboxGateway, provider_payment_id: str, amount: str) -> GatewayResult:
    """Capture ``amount`` USD of an authorization of ``pay_1``."""
    return sandbox.capture(
        CaptureRequest(
            payment_id="pay_1",
            provider_payment_id=provider_payment_id,
            amount=Money.of(amount, "USD"),
            idempotency_key="paykit:pay_1:capture",
        )
    )


def void(sandbox: SandboxGateway, provider_payment_id: str) -> GatewayResult:
    """Void ``pay_1``'s sandbox payment."""
    return sandbox.void(
        VoidRequest(
            payment_id="pay_1",
            provider_payment_id=provider_payment_id,
            idempotency_key="paykit:pay_1:void",
        )
    )


def events(sandbox: SandboxGateway) -> list[WebhookEvent]:
    """Take the outbox and parse every delivery (which verifies its signature)."""
    return [sandbox.parse_webhook(headers, body) for headers, body in sandbox.take_webhooks()]


def types(sandbox: SandboxGateway) -> list[WebhookEventType]:
    """The types of the outbox's events, in order (the outbox is emptied)."""
    return [event.type for event in events(sandbox)]


def provider_id(result: GatewayResult) -> str:
    """The provider id of an answer that must carry one."""
    assert result.provider_id is not None
    return result.provider_id


# -- the outbox ---------------------------------------------------------------------------


def test_a_sandbox_sends_no_webhooks_unless_asked() -> None:
    """By default nothing is queued: existing users see no change."""
    quiet = SandboxGateway()
    result = charge(quiet)
    refund(quiet, provider_id(result), "1.00")
    assert quiet.take_webhooks() == []
    assert quiet.send_webhooks is False


def test_take_webhooks_pops_everything(sandbox: SandboxGateway) -> None:
    """A second take finds nothing: each delivery is handed out once."""
    charge(sandbox, "pay_1")
    charge(sandbox, "pay_2")
    assert len(sandbox.take_webhooks()) == 2
    assert sandbox.take_webhooks() == []


def test_a_delivery_is_signed_when_taken_so_a_held_one_still_verifies(
    sandbox: SandboxGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event queued ten minutes ago verifies: the sandbox signs each delivery as it goes."""
    queued_at = time.time() - 600  # twice the signature's tolerance
    with monkeypatch.context() as past:
        past.setattr(time, "time", lambda: queued_at)
        charge(sandbox, "pay_1")

    [(headers, body)] = sandbox.take_webhooks()

    stamp = int(headers["Sandbox-Signature"].split(",")[0].removeprefix("t="))
    assert stamp >= int(queued_at) + 600
    assert sandbox.parse_webhook(headers, body).type is _E.PAYMENT_SUCCEEDED


@pytest.mark.parametrize(
    ("token", "capture_now", "expected", "code"),
    [
        (SandboxToken.SUCCESS, True, _E.PAYMENT_SUCCEEDED, None),
        (SandboxToken.SUCCESS, False, _E.PAYMENT_AUTHORIZED, None),
        (SandboxToken.THREE_D_SECURE, True, _E.PAYMENT_REQUIRES_ACTION, None),
        (SandboxToken.PENDING, True, _E.PAYMENT_PROCESSING, None),
        (SandboxToken.TIMEOUT, True, _E.PAYMENT_SUCCEEDED, None),
        (SandboxToken.REFUND_FAIL, True, _E.PAYMENT_SUCCEEDED, None),
        (SandboxToken.DECLINE, True, _E.PAYMENT_FAILED, "generic_decline"),
        (SandboxToken.INSUFFICIENT_FUNDS, True, _E.PAYMENT_FAILED, "insufficient_funds"),
        (SandboxToken.PROCESSING_ERROR, True, _E.PAYMENT_FAILED, "processing_error"),
    ],
)
def test_each_charge_outcome_sends_one_event(
    sandbox: SandboxGateway,
    token: str,
    capture_now: bool,
    expected: WebhookEventType,
    code: str | None,
) -> None:
    """A charge sends exactly one event saying what happened, with paykit's payment id."""
    result = charge(sandbox, "pay_7", token, amount="12.34", capture=capture_now)

    [event] = events(sandbox)
    assert event.type is expected
    assert event.provider_type == str(expected)
    assert event.provider == "sandbox"
    assert event.payment_id == "pay_7"
    assert event.provider_payment_id == result.provider_id
    assert event.result is not None
    assert event.result.amount == Money.of("12.34", "USD")
    assert event.result.decline_code == code
    if code is not None:
        assert event.provider_payment_id is None  # a declined charge leaves no payment
        assert event.result.message == result.message


def test_a_lost_answer_still_sends_the_truth(sandbox: SandboxGateway) -> None:
    """The charge's answer is lost (``unknown``), but its webhook says it succeeded."""
    result = charge(sandbox, token=SandboxToken.TIMEOUT)
    assert result.outcome is _O.UNKNOWN

    [event] = events(sandbox)
    assert event.type is _E.PAYMENT_SUCCEEDED
    assert event.result is not None
    assert event.result.outcome is _O.SUCCEEDED
    assert event.provider_payment_id == result.provider_id


def test_authorize_then_partial_capture(sandbox: SandboxGateway) -> None:
    """Authorizing, then capturing part, sends ``authorized`` then ``succeeded`` (the part)."""
    held = provider_id(charge(sandbox, capture=False))
    assert capture(sandbox, held, "6.00").outcome is _O.SUCCEEDED

    authorized, captured = events(sandbox)
    assert (authorized.type, captured.type) == (_E.PAYMENT_AUTHORIZED, _E.PAYMENT_SUCCEEDED)
    assert authorized.result is not None
    assert authorized.result.amount == Money.of("10.00", "USD")
    assert captured.result is not None
    assert captured.result.amount == Money.of("6.00", "USD")


def test_refused_captures_and_voids_send_nothing(sandbox: SandboxGateway) -> None:
    """A capture or void the sandbox declines changes nothing, so it sends nothing."""
    paid = provider_id(charge(sandbox, "pay_1"))
    held = provider_id(charge(sandbox, "pay_2", capture=False))
    sandbox.take_webhooks()

    assert capture(sandbox, paid, "10.00").outcome is _O.DECLINED  # not authorized
    too_much = CaptureRequest(
        payment_id="pay_2",
        provider_payment_id=held,
        amount=Money.of("10.01", "USD"),
        idempotency_key="paykit:pay_2:capture",
    )
    assert sandbox.capture(too_much).outcome is _O.DECLINED
    assert void(sandbox, paid).outcome is _O.DECLINED  # captured: too late
    assert sandbox.take_webhooks() == []


@pytest.mark.parametrize(
    ("token", "capture_now"),
    [
        (SandboxToken.SUCCESS, False),
        (SandboxToken.THREE_D_SECURE, True),
        (SandboxToken.PENDING, True),
    ],
)
def test_a_void_sends_payment_canceled(
    sandbox: SandboxGateway, token: str, capture_now: bool
) -> None:
    """Voiding an authorization, a 3-D Secure or a pending payment sends ``canceled``."""
    result = charge(sandbox, token=token, capture=capture_now)
    assert void(sandbox, provider_id(result)).outcome is _O.SUCCEEDED

    first, canceled = events(sandbox)
    assert first.type is not _E.PAYMENT_CANCELED
    assert canceled.type is _E.PAYMENT_CANCELED
    assert canceled.payment_id == "pay_1"
    assert canceled.result is not None
    assert canceled.result.outcome is _O.DECLINED
    assert canceled.result.decline_code == "canceled"


@pytest.mark.parametrize(
    ("succeed", "capture_now", "expected", "code"),
    [
        (True, True, _E.PAYMENT_SUCCEEDED, None),
        (True, False, _E.PAYMENT_AUTHORIZED, None),
        (False, True, _E.PAYMENT_FAILED, "authentication_failed"),
    ],
)
def test_completing_three_d_secure(
    sandbox: SandboxGateway,
    succeed: bool,
    capture_now: bool,
    expected: WebhookEventType,
    code: str | None,
) -> None:
    """The customer's 3-D Secure answer sends one event after ``requires_action``."""
    intent = provider_id(charge(sandbox, token=SandboxToken.THREE_D_SECURE, capture=capture_now))
    sandbox.complete_action(intent, succeed=succeed)

    asked, finished = events(sandbox)
    assert asked.type is _E.PAYMENT_REQUIRES_ACTION
    assert finished.type is expected
    assert finished.provider_payment_id == intent
    assert finished.result is not None
    assert finished.result.decline_code == code


def test_settling_a_pending_payment(sandbox: SandboxGateway) -> None:
    """``settle`` sends ``payment.succeeded`` after ``payment.processing``."""
    intent = provider_id(charge(sandbox, token=SandboxToken.PENDING))
    sandbox.settle(intent)
    assert types(sandbox) == [_E.PAYMENT_PROCESSING, _E.PAYMENT_SUCCEEDED]


def test_a_refund_echoes_paykits_refund_id(sandbox: SandboxGateway) -> None:
    """A refund's event names the payment and the refund on both sides."""
    intent = provider_id(charge(sandbox))
    sandbox.take_webhooks()
    answer = refund(sandbox, intent, "4.00", refund_id="ref_abc")

    [event] = events(sandbox)
    assert event.type is _E.REFUND_SUCCEEDED
    assert (event.payment_id, event.refund_id) == ("pay_1", "ref_abc")
    assert event.provider_payment_id == intent
    assert event.provider_refund_id == answer.provider_id
    assert event.result is not None
    assert event.result.outcome is _O.SUCCEEDED
    assert event.result.provider_id == answer.provider_id
    assert event.result.amount == Money.of("4.00", "USD")


@pytest.mark.parametrize(
    ("token", "amount", "expected", "code"),
    [
        (SandboxToken.REFUND_FAIL, "4.00", _E.REFUND_FAILED, "refund_failed"),
        (SandboxToken.SUCCESS, "10.01", _E.REFUND_FAILED, "amount_too_large"),
        (SandboxToken.REFUND_TIMEOUT, "4.00", _E.REFUND_SUCCEEDED, None),
    ],
)
def test_refund_outcomes(
    sandbox: SandboxGateway, token: str, amount: str, expected: WebhookEventType, code: str | None
) -> None:
    """A refused refund sends ``refund.failed`` with its code; a lost answer the truth."""
    intent = provider_id(charge(sandbox, token=token))
    sandbox.take_webhooks()
    answer = refund(sandbox, intent, amount)

    [event] = events(sandbox)
    assert event.type is expected
    assert event.refund_id == "ref_1"
    assert event.provider_refund_id == answer.provider_id
    assert event.result is not None
    assert event.result.decline_code == code


def test_a_refund_of_an_uncaptured_payment_fails(sandbox: SandboxGateway) -> None:
    """The sandbox records the refused refund, and says so: ``charge_not_captured``."""
    intent = provider_id(charge(sandbox, capture=False))
    sandbox.take_webhooks()
    refund(sandbox, intent, "1.00")
    [event] = events(sandbox)
    assert event.type is _E.REFUND_FAILED
    assert event.result is not None
    assert event.result.decline_code == "charge_not_captured"


def test_events_come_in_the_order_things_happened(sandbox: SandboxGateway) -> None:
    """A whole life: authorize, capture, two refunds, a dispute opened and lost."""
    intent = provider_id(charge(sandbox, capture=False))
    capture(sandbox, intent, "10.00")
    refund(sandbox, intent, "2.00", refund_id="ref_1")
    refund(sandbox, intent, "3.00", refund_id="ref_2")
    dispute = sandbox.open_dispute(intent)
    sandbox.update_dispute(dispute, DisputeStatus.UNDER_REVIEW)
    sandbox.update_dispute(dispute, DisputeStatus.LOST)

    received = events(sandbox)
    assert [event.type for event in received] == [
        _E.PAYMENT_AUTHORIZED,
        _E.PAYMENT_SUCCEEDED,
        _E.REFUND_SUCCEEDED,
        _E.REFUND_SUCCEEDED,
        _E.DISPUTE_CREATED,
        _E.DISPUTE_UPDATED,
        _E.DISPUTE_CLOSED,
    ]
    assert [event.refund_id for event in received[2:4]] == ["ref_1", "ref_2"]
    assert {event.payment_id for event in received} == {"pay_1"}


# -- idempotent replays change nothing and send nothing -------------------------------------


def test_replays_send_nothing(sandbox: SandboxGateway) -> None:
    """Repeating charge, capture, refund and void with their keys sends no second event."""
    paid = provider_id(charge(sandbox, "pay_1"))
    refund(sandbox, paid, "1.00")
    held = provider_id(charge(sandbox, "pay_2", capture=False))
    capture_request = CaptureRequest(
        payment_id="pay_2",
        provider_payment_id=held,
        amount=Money.of("5.00", "USD"),
        idempotency_key="k2:capture",
    )
    sandbox.capture(capture_request)
    voided = provider_id(charge(sandbox, "pay_3", capture=False))
    void_request = VoidRequest(payment_id="pay_3", provider_payment_id=voided, idempotency_key="v")
    sandbox.void(void_request)
    first = types(sandbox)
    assert len(first) == 6

    charge(sandbox, "pay_1")
    refund(sandbox, paid, "1.00")
    charge(sandbox, "pay_2", capture=False)
    sandbox.capture(capture_request)
    charge(sandbox, "pay_3", capture=False)
    sandbox.void(void_request)
    charge(sandbox, "pay_4", SandboxToken.DECLINE)
    assert types(sandbox) == [_E.PAYMENT_FAILED]  # only the new charge
    charge(sandbox, "pay_4", SandboxToken.DECLINE)
    assert sandbox.take_webhooks() == []


def test_a_replay_after_a_lost_answer_sends_nothing(sandbox: SandboxGateway) -> None:
    """The replay learns the truth, but the money moved once: one event in all."""
    assert charge(sandbox, token=SandboxToken.TIMEOUT).outcome is _O.UNKNOWN
    assert charge(sandbox, token=SandboxToken.TIMEOUT).outcome is _O.SUCCEEDED
    assert types(sandbox) == [_E.PAYMENT_SUCCEEDED]


def test_a_conflicting_key_sends_nothing(sandbox: SandboxGateway) -> None:
    """A key reused with other parameters is refused and sends nothing."""
    charge(sandbox)
    sandbox.take_webhooks()
    with pytest.raises(IdempotencyConflict):
        charge(sandbox, amount="11.00")
    assert sandbox.take_webhooks() == []


# -- signatures and ids ---------------------------------------------------------------------


def test_deliveries_are_signed_with_the_webhook_secret() -> None:
    """Each delivery verifies under the sandbox's secret, and under no other."""
    sandbox = SandboxGateway(send_webhooks=True, webhook_secret="whsec_mine")
    charge(sandbox)
    [(headers, body)] = sandbox.take_webhooks()

    assert headers["Content-Type"] == "application/json"
    mine = TimestampedSignature("Sandbox-Signature", [SecretStr("whsec_mine")])
    mine.verify(headers, body)
    with pytest.raises(WebhookSignatureError):
        SandboxGateway(webhook_secret="whsec_other").parse_webhook(headers, body)
    with pytest.raises(WebhookSignatureError):
        sandbox.parse_webhook(headers, body.replace(b"10.00", b"99.00"))


def test_event_ids_are_unique(sandbox: SandboxGateway) -> None:
    """Every event has its own id, also across sandbox instances."""
    other = SandboxGateway(send_webhooks=True)
    for number in range(20):
        intent = provider_id(charge(sandbox, f"pay_{number}"))
        refund(sandbox, intent, "1.00", refund_id=f"ref_{number}")
        charge(other, f"pay_{number}")
    ids = [event.event_id for event in events(sandbox) + events(other)]
    assert len(ids) == 60
    assert len(set(ids)) == 60


def test_concurrent_calls_queue_every_event_once() -> None:
    """Charges from many threads each queue exactly one event."""
    sandbox = SandboxGateway(send_webhooks=True)

    def pay(worker: int) -> None:
        for number in range(25):
            charge(sandbox, f"pay_{worker}_{number}")

    threads = [threading.Thread(target=pay, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    received = events(sandbox)
    assert len(received) == 200
    assert len({event.payment_id for event in received}) == 200


def test_webhook_for_still_builds_events_on_request(sandbox: SandboxGateway) -> None:
    """``webhook_for`` describes a payment, refund or dispute now, outside the outbox."""
    intent = provider_id(charge(sandbox))
    answer = refund(sandbox, intent, "3.00", refund_id="ref_9")
    dispute = sandbox.open_dispute(intent, reason="duplicate")
    sandbox.take_webhooks()

    event = sandbox.parse_webhook(*sandbox.webhook_for(_E.PAYMENT_SUCCEEDED, intent))
    assert (event.type, event.payment_id, event.refund_id) == (_E.PAYMENT_SUCCEEDED, "pay_1", None)
    refunded = sandbox.parse_webhook(
        *sandbox.webhook_for(
            _E.REFUND_SUCCEEDED, intent, provider_refund_id=provider_id(answer), timestamp=None
        )
    )
    assert refunded.refund_id == "ref_9"
    disputed = sandbox.parse_webhook(
        *sandbox.webhook_for(_E.DISPUTE_UPDATED, intent, provider_dispute_id=dispute)
    )
    assert disputed.dispute is not None
    assert disputed.dispute.reason == "duplicate"
    assert sandbox.take_webhooks() == []


# -- disputes -------------------------------------------------------------------------------


def test_opening_a_dispute(sandbox: SandboxGateway) -> None:
    """``dispute.created`` carries the dispute's details and both payment ids."""
    intent = provider_id(charge(sandbox, "pay_d", amount="50.00"))
    sandbox.take_webhooks()
    due = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)
    dispute = sandbox.open_dispute(
        intent, amount=Money.of("20.00", "USD"), reason="product_not_received", evidence_due_by=due
    )

    [event] = events(sandbox)
    assert event.type is _E.DISPUTE_CREATED
    assert (event.provider_payment_id, event.payment_id) == (intent, "pay_d")
    assert event.result is None
    assert event.dispute is not None
    assert event.dispute.provider_dispute_id == dispute
    assert event.dispute.status is DisputeStatus.NEEDS_RESPONSE
    assert event.dispute.provider_status == "needs_response"
    assert event.dispute.amount == Money.of("20.00", "USD")
    assert event.dispute.reason == "product_not_received"
    assert event.dispute.evidence_due_by == due
    assert dispute.startswith("dp_sbx_")


def test_a_dispute_defaults_to_what_the_customer_paid_and_kept_paid(
    sandbox: SandboxGateway,
) -> None:
    """With no amount, the dispute is for what was captured less what was refunded."""
    intent = provider_id(charge(sandbox))
    refund(sandbox, intent, "3.00")
    sandbox.take_webhooks()
    sandbox.open_dispute(intent)
    [event] = events(sandbox)
    assert event.dispute is not None
    assert event.dispute.amount == Money.of("7.00", "USD")


@pytest.mark.parametrize(
    ("path", "final_type"),
    [
        ([DisputeStatus.UNDER_REVIEW, DisputeStatus.WON], _E.DISPUTE_CLOSED),
        ([DisputeStatus.PREVENTED], _E.DISPUTE_CLOSED),
        ([DisputeStatus.UNDER_REVIEW, DisputeStatus.NEEDS_RESPONSE], _E.DISPUTE_UPDATED),
    ],
)
def test_disputes_that_are_not_lost_take_nothing_back(
    sandbox: SandboxGateway, path: list[DisputeStatus], final_type: WebhookEventType
) -> None:
    """Each update sends one event; only ``lost`` books a chargeback."""
    intent = provider_id(charge(sandbox))
    sandbox.take_webhooks()
    dispute = sandbox.open_dispute(intent)
    for status in path:
        sandbox.update_dispute(dispute, status)

    received = events(sandbox)
    assert [event.type for event in received][1:-1] == [_E.DISPUTE_UPDATED] * (len(path) - 1)
    assert received[-1].type is final_type
    assert received[-1].dispute is not None
    assert received[-1].dispute.status is path[-1]
    assert [entry.kind for entry in sandbox.ledger_for("pay_1")] == [LedgerKind.CHARGE]
    assert sandbox.charged_back_total("pay_1") is None


def test_an_inquiry_closes_without_money_moving(sandbox: SandboxGateway) -> None:
    """A ``warning_*`` inquiry is created, then closed; the ledger does not change."""
    intent = provider_id(charge(sandbox))
    sandbox.take_webhooks()
    inquiry = sandbox.open_dispute(intent, status=DisputeStatus.WARNING_NEEDS_RESPONSE)
    sandbox.update_dispute(inquiry, DisputeStatus.WARNING_CLOSED)
    created, closed = events(sandbox)
    assert created.dispute is not None
    assert created.dispute.status is DisputeStatus.WARNING_NEEDS_RESPONSE
    assert closed.type is _E.DISPUTE_CLOSED
    assert len(sandbox.ledger) == 1


def test_a_lost_dispute_is_a_chargeback_in_the_ledger(sandbox: SandboxGateway) -> None:
    """Losing books the disputed amount as a ``chargeback`` and limits later refunds."""
    intent = provider_id(charge(sandbox, amount="30.00"))
    dispute = sandbox.open_dispute(intent, amount=Money.of("25.00", "USD"))
    sandbox.update_dispute(dispute, DisputeStatus.LOST)

    assert [(entry.kind, entry.provider_id, str(entry.amount)) for entry in sandbox.ledger] == [
        (LedgerKind.CHARGE, intent, "30.00 USD"),
        (LedgerKind.CHARGEBACK, dispute, "25.00 USD"),
    ]
    assert sandbox.charged_back_total("pay_1") == Money.of("25.00", "USD")
    assert sandbox.charged_total("pay_1") == Money.of("30.00", "USD")  # unchanged
    closed = events(sandbox)[-1]
    assert closed.type is _E.DISPUTE_CLOSED
    assert closed.dispute is not None
    assert closed.dispute.status is DisputeStatus.LOST

    # The bank took 25.00 back: only 5.00 is left to refund.
    too_much = refund(sandbox, intent, "5.01", refund_id="ref_1")
    assert (too_much.outcome, too_much.decline_code) == (_O.DECLINED, "amount_too_large")
    assert refund(sandbox, intent, "5.00", refund_id="ref_2").outcome is _O.SUCCEEDED


def test_an_inquiry_can_be_lost_outright(sandbox: SandboxGateway) -> None:
    """PayPal resolves some inquiries for the buyer: that is money out too."""
    intent = provider_id(charge(sandbox))
    inquiry = sandbox.open_dispute(intent, status=DisputeStatus.WARNING_UNDER_REVIEW)
    sandbox.update_dispute(inquiry, DisputeStatus.LOST)
    assert sandbox.charged_back_total("pay_1") == Money.of("10.00", "USD")


def test_a_second_dispute_after_the_first_closes(sandbox: SandboxGateway) -> None:
    """One open dispute per payment; once decided, another may follow, within what is left."""
    intent = provider_id(charge(sandbox))
    first = sandbox.open_dispute(intent, amount=Money.of("4.00", "USD"))
    with pytest.raises(GatewayConfigurationError, match="already has an open dispute"):
        sandbox.open_dispute(intent)
    sandbox.update_dispute(first, DisputeStatus.LOST)
    with pytest.raises(GatewayConfigurationError, match="does not fit"):
        sandbox.open_dispute(intent, amount=Money.of("6.01", "USD"))
    second = sandbox.open_dispute(intent)
    sandbox.update_dispute(second, DisputeStatus.LOST)
    assert sandbox.charged_back_total("pay_1") == Money.of("10.00", "USD")


def test_refused_dispute_controls_change_nothing(sandbox: SandboxGateway) -> None:
    """Disputing what was never captured, bad amounts and illegal moves raise and send nothing."""
    held = provider_id(charge(sandbox, "pay_1", capture=False))
    paid = provider_id(charge(sandbox, "pay_2"))
    sandbox.take_webhooks()

    with pytest.raises(GatewayConfigurationError, match="not captured"):
        sandbox.open_dispute(held)
    with pytest.raises(GatewayConfigurationError, match="closed status"):
        sandbox.open_dispute(paid, status=DisputeStatus.LOST)
    with pytest.raises(GatewayConfigurationError, match="does not fit"):
        sandbox.open_dispute(paid, amount=Money.of("10.01", "USD"))
    with pytest.raises(GatewayConfigurationError, match="does not fit"):
        sandbox.open_dispute(paid, amount=Money.of("5.00", "EUR"))
    with pytest.raises(GatewayConfigurationError, match="does not fit"):
        sandbox.open_dispute(paid, amount=Money.zero("USD"))
    with pytest.raises(GatewayConfigurationError) as missing:
        sandbox.open_dispute("pi_sbx_nope")
    assert missing.value.gateway_code == "resource_missing"
    with pytest.raises(GatewayConfigurationError) as unknown:
        sandbox.update_dispute("dp_sbx_nope", DisputeStatus.WON)
    assert unknown.value.gateway_code == "resource_missing"
    assert sandbox.take_webhooks() == []

    dispute = sandbox.open_dispute(paid)
    sandbox.update_dispute(dispute, DisputeStatus.WON)
    sandbox.take_webhooks()
    with pytest.raises(GatewayConfigurationError, match="cannot move from won to lost"):
        sandbox.update_dispute(dispute, DisputeStatus.LOST)
    assert sandbox.take_webhooks() == []
    assert sandbox.charged_back_total("pay_2") is None


def test_a_malformed_dispute_body_is_refused(sandbox: SandboxGateway) -> None:
    """A signed body whose dispute status is not one paykit knows is refused, not guessed."""
    intent = provider_id(charge(sandbox))
    dispute = sandbox.open_dispute(intent)
    sandbox.take_webhooks()
    headers, body = sandbox.webhook_for(_E.DISPUTE_UPDATED, intent, provider_dispute_id=dispute)
    forged = body.replace(b'"needs_response"', b'"escalated"')
    resigned = SandboxGateway()  # same default secret: the forgery is validly signed
    headers = {"Sandbox-Signature": signature_header(SecretStr("whsec_sandbox"), forged)}
    with pytest.raises(WebhookSignatureError, match="not a sandbox event"):
        resigned.parse_webhook(headers, forged)


# -- through the service ---------------------------------------------------------------------


def test_events_name_paykits_own_records(sandbox: SandboxGateway) -> None:
    """Driven by the service, events carry the ids of paykit's payment and refund."""
    service = PaymentService(InMemoryStorage(), gateways={"credit_card": sandbox})
    card = service.add_payment_method("cus_1", type="credit_card", token=SandboxToken.SUCCESS)
    payment = service.process_payment(
        service.create_payment(
            customer_id="cus_1",
            order_id="ord_1",
            payment_method_id=card.id,
            amount="40.00",
            currency="USD",
        ).id
    )
    made = service.process_refund(service.create_refund(payment.id, "15.00").id)

    paid, refunded = events(sandbox)
    assert (paid.type, paid.payment_id) == (_E.PAYMENT_SUCCEEDED, payment.id)
    assert paid.provider_payment_id == payment.provider_payment_id
    assert (refunded.type, refunded.payment_id, refunded.refund_id) == (
        _E.REFUND_SUCCEEDED,
        payment.id,
        made.id,
    )
    assert refunded.provider_refund_id == made.provider_refund_id
