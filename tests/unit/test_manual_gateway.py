"""ManualGateway: offline bank transfers and crypto, at the gateway and through the service."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from paykit import (
    CurrencyMismatchError,
    GatewayConfigurationError,
    IdempotencyConflict,
    InMemoryStorage,
    InvalidAmountError,
    Money,
    NotFound,
    Payment,
    PaymentMethodType,
    PaymentService,
    PaymentStatus,
    RefundStatus,
    ValidationError,
    WebhookOutcome,
    WebhookSignatureError,
)
from paykit.gateways import (
    EXPIRED,
    NOT_FOUND,
    CaptureRequest,
    ChargeRequest,
    Gateway,
    GatewayOutcome,
    GatewayResult,
    PaymentLookup,
    RefundLookup,
    RefundRequest,
    VoidRequest,
    WebhookEventType,
    WebhookGateway,
)
from paykit.gateways._signatures import signature_header
from paykit.gateways.manual import SIGNATURE_HEADER, ManualGateway, TransferClosedError
from paykit.testing.gateway_conformance import Behaviour, GatewayHarness, run_conformance_test

_O = GatewayOutcome
_P = PaymentStatus
SECRET = "ntf_secret_for_tests"
IBAN = "DE89370400440532013000"
WALLET = "bc1qexampleaddress0000000000000000000000"
REFERENCE = re.compile(r"^PK-[A-HJ-NP-Z2-9]{10}$")


class Clock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        """The current (fake) time."""
        return self.now

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta``."""
        self.now += delta


@pytest.fixture
def clock() -> Clock:
    """A clock fixed at noon, 1 January 2030."""
    return Clock()


@pytest.fixture
def manual(clock: Clock) -> ManualGateway:
    """A manual gateway with bank and wallet details, a secret and the test clock."""
    return ManualGateway(
        bank_details={"iban": IBAN, "bic": "COBADEFFXXX", "account_holder": "Shop GmbH"},
        crypto_details={"network": "bitcoin", "address": WALLET},
        notification_secret=SECRET,
        clock=clock,
    )


def _charge(  # noqa: PLR0913 - the fields of a charge
    manual: ManualGateway,
    *,
    amount: str = "100.00",
    method: PaymentMethodType = PaymentMethodType.BANK_TRANSFER,
    payment_id: str = "pay_a",
    key: str | None = None,
    capture: bool = True,
) -> tuple[ChargeRequest, GatewayResult]:
    request = ChargeRequest(
        payment_id=payment_id,
        amount=Money.of(amount, "EUR"),
        payment_method_token="manual",
        payment_method_type=method,
        customer_id="cus_a",
        idempotency_key=key or f"paykit:{payment_id}:charge",
        capture=capture,
    )
    return request, manual.charge(request)


def _lookup(request: ChargeRequest, provider_id: str | None) -> PaymentLookup:
    return PaymentLookup(
        payment_id=request.payment_id,
        provider_payment_id=provider_id,
        idempotency_key=request.idempotency_key,
        amount=request.amount,
    )


def _reference(result: GatewayResult) -> str:
    assert result.provider_id is not None
    return result.provider_id


def _received(manual: ManualGateway, amount: str = "100.00") -> tuple[ChargeRequest, str]:
    request, result = _charge(manual, amount=amount)
    reference = _reference(result)
    manual.record_received(reference, request.amount)
    return request, reference


def _refund_request(reference: str, amount: str, refund_id: str = "re_a") -> RefundRequest:
    return RefundRequest(
        refund_id=refund_id,
        payment_id="pay_a",
        provider_payment_id=reference,
        amount=Money.of(amount, "EUR"),
        idempotency_key=f"paykit:{refund_id}:refund",
    )


def _refund_lookup(request: RefundRequest, provider_id: str | None) -> RefundLookup:
    return RefundLookup(
        refund_id=request.refund_id,
        provider_refund_id=provider_id,
        provider_payment_id=request.provider_payment_id,
        idempotency_key=request.idempotency_key,
        amount=request.amount,
    )


# -- charge and instructions ------------------------------------------------------------------


def test_implements_gateway_and_webhook_protocols(manual: ManualGateway) -> None:
    """The manual gateway is a Gateway and a WebhookGateway named "manual" by default."""
    assert isinstance(manual, Gateway)
    assert isinstance(manual, WebhookGateway)
    assert manual.name == "manual"
    assert ManualGateway(name="offline").name == "offline"


def test_bank_transfer_charge_hands_back_instructions(manual: ManualGateway) -> None:
    """A bank transfer charge is requires_action with reference, amount, deadline and IBAN."""
    _, result = _charge(manual)

    assert result.outcome is _O.REQUIRES_ACTION
    assert REFERENCE.match(_reference(result))
    action = result.next_action
    assert action is not None
    assert action.type == "bank_transfer"
    assert action.client_secret is None
    assert dict(action.instructions) == {
        "reference": result.provider_id,
        "amount": "100.00",
        "currency": "EUR",
        "pay_by": "2030-01-08T12:00:00+00:00",
        "iban": IBAN,
        "bic": "COBADEFFXXX",
        "account_holder": "Shop GmbH",
    }


def test_crypto_charge_shows_the_wallet(manual: ManualGateway) -> None:
    """A crypto charge is a crypto_transfer naming the wallet address, not the bank details."""
    _, result = _charge(manual, method=PaymentMethodType.CRYPTO)

    action = result.next_action
    assert action is not None
    assert action.type == "crypto_transfer"
    assert action.instructions["address"] == WALLET
    assert "iban" not in action.instructions


def test_expires_after_sets_the_deadline(clock: Clock) -> None:
    """The deadline is ``expires_after`` from the charge, on the injected clock."""
    manual = ManualGateway(
        bank_details={"iban": IBAN}, expires_after=timedelta(hours=2), clock=clock
    )

    _, result = _charge(manual)

    assert result.next_action is not None
    assert result.next_action.instructions["pay_by"] == "2030-01-01T14:00:00+00:00"


def test_references_are_unique(manual: ManualGateway) -> None:
    """Every charge gets its own reference."""
    references = {_reference(_charge(manual, payment_id=f"pay_{n}")[1]) for n in range(200)}

    assert len(references) == 200


def test_same_key_returns_the_same_transfer(manual: ManualGateway) -> None:
    """Charging twice with one idempotency key returns the same reference and instructions."""
    request, first = _charge(manual)

    second = manual.charge(request)

    assert second == first


def test_same_key_other_parameters_is_a_conflict(manual: ManualGateway) -> None:
    """A key reused for another amount raises IdempotencyConflict."""
    _charge(manual, key="k")

    with pytest.raises(IdempotencyConflict):
        _charge(manual, key="k", amount="5.00")


def test_authorize_only_is_refused(manual: ManualGateway) -> None:
    """capture=False raises a configuration error explaining offline money cannot be held."""
    with pytest.raises(GatewayConfigurationError, match="cannot be authorized"):
        _charge(manual, capture=False)


def test_missing_payee_details_are_a_configuration_error(clock: Clock) -> None:
    """A crypto charge on a gateway without crypto_details is refused, naming the setting."""
    manual = ManualGateway(bank_details={"iban": IBAN}, clock=clock)

    with pytest.raises(GatewayConfigurationError, match="crypto_details"):
        _charge(manual, method=PaymentMethodType.CRYPTO)


def test_payee_details_cannot_override_the_reference() -> None:
    """Payee details that set a reserved key such as "reference" are refused at construction."""
    with pytest.raises(GatewayConfigurationError, match="reference"):
        ManualGateway(bank_details={"reference": "mine"})


def test_secret_is_not_in_repr(manual: ManualGateway) -> None:
    """The notification secret never shows in the gateway's repr."""
    assert SECRET not in repr(manual)
    assert "ManualGateway" in repr(manual)


# -- retrieve_payment ---------------------------------------------------------------------


def test_awaiting_transfer_is_still_requires_action(manual: ManualGateway) -> None:
    """An unpaid transfer within its deadline is requires_action with the same instructions."""
    request, result = _charge(manual)

    truth = manual.retrieve_payment(_lookup(request, result.provider_id))

    assert truth.outcome is _O.REQUIRES_ACTION
    assert truth.next_action == result.next_action


def test_received_transfer_succeeded_with_the_amount(manual: ManualGateway) -> None:
    """A received transfer is succeeded for its amount, found by reference or payment id."""
    request, reference = _received(manual)

    for provider_id in (reference, None):
        truth = manual.retrieve_payment(_lookup(request, provider_id))
        assert truth.outcome is _O.SUCCEEDED
        assert truth.provider_id == reference
        assert truth.amount == request.amount


def test_unpaid_transfer_past_deadline_is_expired(manual: ManualGateway, clock: Clock) -> None:
    """An unpaid transfer past pay_by is declined with decline_code EXPIRED."""
    request, result = _charge(manual)
    clock.advance(timedelta(days=7, seconds=1))

    truth = manual.retrieve_payment(_lookup(request, result.provider_id))

    assert truth.outcome is _O.DECLINED
    assert truth.decline_code == EXPIRED


def test_unknown_payment_is_not_found(manual: ManualGateway) -> None:
    """A reference or payment id the gateway never issued is declined NOT_FOUND."""
    request, _ = _charge(manual)
    other = ChargeRequest(
        payment_id="pay_other",
        amount=request.amount,
        payment_method_token="manual",
        payment_method_type=PaymentMethodType.BANK_TRANSFER,
        customer_id="cus_a",
        idempotency_key="k",
    )

    for lookup in (_lookup(request, "PK-NOSUCHREF0"), _lookup(other, None)):
        truth = manual.retrieve_payment(lookup)
        assert truth.outcome is _O.DECLINED
        assert truth.decline_code == NOT_FOUND


# -- capture and void ---------------------------------------------------------------------


def test_capture_is_refused(manual: ManualGateway) -> None:
    """Capture raises a configuration error: offline payments are never authorized."""
    request, result = _charge(manual)
    capture = CaptureRequest(
        payment_id=request.payment_id,
        provider_payment_id=_reference(result),
        amount=request.amount,
        idempotency_key="paykit:pay_a:capture",
    )

    with pytest.raises(GatewayConfigurationError):
        manual.capture(capture)


def test_void_cancels_an_awaiting_transfer(manual: ManualGateway) -> None:
    """Voiding an unpaid transfer succeeds and the transfer is then declined "canceled"."""
    request, result = _charge(manual)
    void = VoidRequest(
        payment_id=request.payment_id,
        provider_payment_id=_reference(result),
        idempotency_key="paykit:pay_a:void",
    )

    assert manual.void(void).outcome is _O.SUCCEEDED
    truth = manual.retrieve_payment(_lookup(request, result.provider_id))
    assert truth.outcome is _O.DECLINED
    assert truth.decline_code == "canceled"


def test_void_after_the_money_arrived_is_declined(manual: ManualGateway) -> None:
    """A transfer whose money arrived cannot be voided, and stays succeeded."""
    request, reference = _received(manual)
    void = VoidRequest(
        payment_id=request.payment_id, provider_payment_id=reference, idempotency_key="v"
    )

    assert manual.void(void).outcome is _O.DECLINED
    assert manual.retrieve_payment(_lookup(request, reference)).outcome is _O.SUCCEEDED


# -- record_received ----------------------------------------------------------------------


def test_record_received_returns_the_payment_id_and_is_repeatable(manual: ManualGateway) -> None:
    """Recording a receipt returns paykit's payment id, and recording it again changes nothing."""
    request, result = _charge(manual)
    reference = _reference(result)

    assert manual.record_received(reference, request.amount) == "pay_a"
    assert manual.record_received(reference.lower(), request.amount) == "pay_a"


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        (Money.of("99.99", "EUR"), InvalidAmountError),
        (Money.of("100.01", "EUR"), InvalidAmountError),
        (Money.of("100.00", "USD"), CurrencyMismatchError),
    ],
)
def test_record_received_refuses_another_amount(
    manual: ManualGateway, amount: Money, error: type[ValidationError]
) -> None:
    """Money that is not exactly what is due raises a ValidationError on "amount"."""
    request, result = _charge(manual)

    with pytest.raises(error) as raised:
        manual.record_received(_reference(result), amount)

    assert raised.value.field == "amount"
    assert manual.retrieve_payment(_lookup(request, None)).outcome is _O.REQUIRES_ACTION


def test_record_received_unknown_reference(manual: ManualGateway) -> None:
    """Money for a reference the gateway never issued raises NotFound."""
    with pytest.raises(NotFound):
        manual.record_received("PK-NOSUCHREF0", Money.of("1.00", "EUR"))


def test_record_received_after_expiry_says_return_it(manual: ManualGateway, clock: Clock) -> None:
    """Money arriving after the deadline raises TransferClosedError: return it by hand."""
    request, result = _charge(manual)
    clock.advance(timedelta(days=8))

    with pytest.raises(TransferClosedError, match="by hand"):
        manual.record_received(_reference(result), request.amount)


def test_record_received_after_cancel_says_return_it(manual: ManualGateway) -> None:
    """Money arriving for a cancelled transfer raises TransferClosedError."""
    request, result = _charge(manual)
    reference = _reference(result)
    manual.void(VoidRequest(payment_id="pay_a", provider_payment_id=reference, idempotency_key="v"))

    with pytest.raises(TransferClosedError, match="cancelled"):
        manual.record_received(reference, request.amount)


# -- refunds and payouts ------------------------------------------------------------------


def test_refund_is_a_pending_payout_until_paid(manual: ManualGateway) -> None:
    """A refund is pending with a payout id; after record_payout it is succeeded."""
    _, reference = _received(manual)
    request = _refund_request(reference, "30.00")

    result = manual.refund(request)

    assert result.outcome is _O.PENDING
    payout_id = result.provider_id
    assert payout_id is not None
    assert payout_id.startswith("PO-")
    assert manual.retrieve_refund(_refund_lookup(request, None)).outcome is _O.PENDING
    assert manual.record_payout(payout_id) == "re_a"
    for provider_id in (payout_id, None):
        truth = manual.retrieve_refund(_refund_lookup(request, provider_id))
        assert truth.outcome is _O.SUCCEEDED
        assert truth.amount == request.amount
    assert manual.record_payout(payout_id) == "re_a"


def test_refund_is_idempotent_by_key(manual: ManualGateway) -> None:
    """The same refund request twice is one payout; the rest remains refundable."""
    _, reference = _received(manual)
    request = _refund_request(reference, "30.00")

    first = manual.refund(request)
    second = manual.refund(request)

    assert second.provider_id == first.provider_id
    assert manual.refund(_refund_request(reference, "70.00", "re_b")).outcome is _O.PENDING


def test_refund_key_reused_for_another_amount_is_a_conflict(manual: ManualGateway) -> None:
    """A refund key reused with another amount raises IdempotencyConflict."""
    _, reference = _received(manual)
    manual.refund(_refund_request(reference, "30.00"))

    with pytest.raises(IdempotencyConflict):
        manual.refund(_refund_request(reference, "31.00"))


def test_refund_above_what_remains_is_declined(manual: ManualGateway) -> None:
    """A refund above what remains (pending payouts included) is declined and moves nothing."""
    _, reference = _received(manual)
    manual.refund(_refund_request(reference, "70.00"))
    too_much = _refund_request(reference, "40.00", "re_b")

    result = manual.refund(too_much)

    assert result.outcome is _O.DECLINED
    assert result.decline_code == "amount_too_large"
    assert manual.retrieve_refund(_refund_lookup(too_much, None)).outcome is _O.DECLINED
    assert manual.refund(_refund_request(reference, "30.00", "re_c")).outcome is _O.PENDING


def test_refund_of_unpaid_transfer_is_declined(manual: ManualGateway) -> None:
    """Only money that arrived can be refunded."""
    _, result = _charge(manual)

    refund = manual.refund(_refund_request(_reference(result), "10.00"))

    assert refund.outcome is _O.DECLINED
    assert refund.decline_code == "not_received"


def test_unknown_refund_and_payout(manual: ManualGateway) -> None:
    """An unknown refund is declined NOT_FOUND; an unknown payout id raises NotFound."""
    truth = manual.retrieve_refund(_refund_lookup(_refund_request("PK-X", "1.00"), None))

    assert truth.outcome is _O.DECLINED
    assert truth.decline_code == NOT_FOUND
    with pytest.raises(NotFound):
        manual.record_payout("PO-NOSUCHPAY0")


# -- notifications (the webhook path) -------------------------------------------------------


def test_notification_records_the_receipt(manual: ManualGateway) -> None:
    """A signed transfer.received notification records the money and names the payment."""
    request, result = _charge(manual)
    reference = _reference(result)
    headers, body = manual.notification(reference, request.amount, event_id="ntf_1")

    event = manual.parse_webhook(headers, body)

    assert event.type is WebhookEventType.PAYMENT_SUCCEEDED
    assert event.event_id == "ntf_1"
    assert event.provider_payment_id == reference
    assert event.payment_id == "pay_a"
    assert event.result == GatewayResult(
        outcome=_O.SUCCEEDED, provider_id=reference, amount=request.amount
    )
    assert manual.retrieve_payment(_lookup(request, reference)).outcome is _O.SUCCEEDED
    assert manual.parse_webhook(headers, body) == event


def test_notification_of_another_type_is_ignored(manual: ManualGateway, clock: Clock) -> None:
    """A verified notification of another type is returned as ignored."""
    body = b'{"id": "ntf_2", "type": "transfer.returned"}'
    header = signature_header(SecretStr(SECRET), body, int(clock().timestamp()))

    event = manual.parse_webhook({SIGNATURE_HEADER: header}, body)

    assert event.type is WebhookEventType.IGNORED
    assert event.result is None


def test_tampered_notification_is_refused(manual: ManualGateway) -> None:
    """A notification changed after signing raises WebhookSignatureError and records nothing."""
    request, result = _charge(manual)
    headers, body = manual.notification(_reference(result), request.amount)
    forged = body.replace(b"100.00", b"100.01")

    with pytest.raises(WebhookSignatureError):
        manual.parse_webhook(headers, forged)
    assert manual.retrieve_payment(_lookup(request, None)).outcome is _O.REQUIRES_ACTION


def test_notification_without_secret_is_refused(clock: Clock) -> None:
    """A gateway without notification_secret refuses every notification and cannot sign one."""
    manual = ManualGateway(bank_details={"iban": IBAN}, clock=clock)

    with pytest.raises(WebhookSignatureError):
        manual.parse_webhook({SIGNATURE_HEADER: "t=1,v1=00"}, b"{}")
    with pytest.raises(GatewayConfigurationError):
        manual.notification("PK-X", Money.of("1.00", "EUR"))


# -- thread safety ------------------------------------------------------------------------


def test_concurrent_refunds_never_exceed_the_payment(manual: ManualGateway) -> None:
    """Refunds racing on one transfer never promise back more than arrived."""
    _, reference = _received(manual)
    results: list[GatewayResult] = []
    lock = threading.Lock()

    def refund(n: int) -> None:
        result = manual.refund(_refund_request(reference, "30.00", f"re_{n}"))
        with lock:
            results.append(result)

    threads = [threading.Thread(target=refund, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(r.outcome is _O.PENDING for r in results) == 3


# -- through PaymentService ---------------------------------------------------------------


@pytest.fixture
def service(manual: ManualGateway, clock: Clock) -> PaymentService:
    """A service over memory routing bank transfers and crypto to the manual gateway."""
    return PaymentService(
        InMemoryStorage(), {"bank_transfer": manual, "crypto": manual}, clock=clock
    )


PayOffline = Callable[..., Payment]


@pytest.fixture
def pay_offline(service: PaymentService) -> PayOffline:
    """Create and process an offline payment of 100.00 EUR (bank transfer by default)."""

    def pay(method_type: str = "bank_transfer") -> Payment:
        method = service.add_payment_method("cus_a", type=method_type, token="manual")
        payment = service.create_payment(
            customer_id="cus_a",
            order_id="ord_1",
            payment_method_id=method.id,
            amount="100.00",
            currency="EUR",
        )
        return service.process_payment(payment.id)

    return pay


def test_service_stores_the_instructions(service: PaymentService, pay_offline: PayOffline) -> None:
    """Processing leaves the payment requires_action with the instructions stored on it."""
    payment = pay_offline("crypto")

    stored = service.get_payment(payment.id)
    assert stored.status is _P.REQUIRES_ACTION
    assert stored.next_action is not None
    assert stored.next_action.type == "crypto_transfer"
    assert stored.next_action.instructions["reference"] == stored.provider_payment_id
    assert stored.next_action.instructions["address"] == WALLET


def test_service_receipt_completes_the_payment(
    service: PaymentService, manual: ManualGateway, pay_offline: PayOffline
) -> None:
    """record_received and reconcile_payment complete the payment for the amount due."""
    payment = pay_offline()
    assert payment.provider_payment_id is not None

    payment_id = manual.record_received(payment.provider_payment_id, payment.amount)
    done = service.reconcile_payment(payment_id)

    assert done.status is _P.COMPLETED
    assert done.captured_amount == Money.of("100.00", "EUR")
    assert done.next_action is None


def test_service_expired_transfer_is_cancelled(
    service: PaymentService, clock: Clock, pay_offline: PayOffline
) -> None:
    """Past pay_by, reconcile_payment cancels the unpaid payment (it does not fail it)."""
    payment = pay_offline()
    clock.advance(timedelta(days=7, minutes=1))

    assert service.reconcile_payment(payment.id).status is _P.CANCELLED


def test_service_cancel_voids_the_transfer(
    service: PaymentService, manual: ManualGateway, pay_offline: PayOffline
) -> None:
    """Cancelling an unpaid payment voids its transfer, so late money is refused."""
    payment = pay_offline()
    assert payment.provider_payment_id is not None

    assert service.cancel_payment(payment.id).status is _P.CANCELLED
    with pytest.raises(TransferClosedError):
        manual.record_received(payment.provider_payment_id, payment.amount)


def test_service_refund_waits_for_the_payout(
    service: PaymentService, manual: ManualGateway, pay_offline: PayOffline
) -> None:
    """A refund stays processing until record_payout and reconcile_refund complete it."""
    payment = pay_offline()
    assert payment.provider_payment_id is not None
    manual.record_received(payment.provider_payment_id, payment.amount)
    service.reconcile_payment(payment.id)

    refund = service.process_refund(service.create_refund(payment.id).id)
    assert refund.status is RefundStatus.PROCESSING
    assert refund.provider_refund_id is not None
    assert service.reconcile_refund(refund.id).status is RefundStatus.PROCESSING

    refund_id = manual.record_payout(refund.provider_refund_id)
    assert service.reconcile_refund(refund_id).status is RefundStatus.COMPLETED
    assert service.get_payment(payment.id).status is _P.REFUNDED


def test_service_webhook_path(
    service: PaymentService, manual: ManualGateway, pay_offline: PayOffline
) -> None:
    """A signed bank notification is parsed, and reconciliation applies its result."""
    payment = pay_offline()
    assert payment.provider_payment_id is not None
    headers, body = manual.notification(payment.provider_payment_id, payment.amount)

    event = manual.parse_webhook(headers, body)
    assert event.payment_id == payment.id

    assert service.reconcile_payment(event.payment_id).status is _P.COMPLETED


def test_service_tampered_webhook_changes_nothing(
    service: PaymentService, manual: ManualGateway, pay_offline: PayOffline
) -> None:
    """A tampered notification raises WebhookSignatureError and the payment still waits."""
    payment = pay_offline()
    assert payment.provider_payment_id is not None
    headers, body = manual.notification(payment.provider_payment_id, payment.amount)

    with pytest.raises(WebhookSignatureError):
        manual.parse_webhook(headers, body.replace(b"transfer", b"Transfer"))
    assert service.reconcile_payment(payment.id).status is _P.REQUIRES_ACTION


@pytest.mark.parametrize(
    "change", [{"amount": "NaN"}, {"amount": "1e2"}, {"currency": "eur"}], ids=repr
)
def test_service_signed_notification_with_unreadable_money_answers_400(
    service: PaymentService,
    manual: ManualGateway,
    pay_offline: PayOffline,
    clock: Clock,
    change: dict[str, str],
) -> None:
    """A validly signed notification whose amount or currency is not money: 400, nothing kept."""
    payment = pay_offline()
    assert payment.provider_payment_id is not None
    _, body = manual.notification(payment.provider_payment_id, payment.amount)
    event = {**json.loads(body), **change}
    forged = json.dumps(event).encode()
    stamp = int(clock().timestamp())
    headers = {SIGNATURE_HEADER: signature_header(SecretStr(SECRET), forged, stamp)}
    log_before = service.get_transaction_log(payment.id)

    result = service.handle_webhook("manual", headers, forged)

    assert (result.status_code, result.outcome) == (400, WebhookOutcome.REJECTED)
    [field] = change
    assert f"{field}: " in result.body
    assert SECRET not in result.body
    assert service.get_transaction_log(payment.id) == log_before
    assert service.list_unmatched_webhook_events() == []
    assert service.reconcile_payment(payment.id).status is _P.REQUIRES_ACTION


# -- the conformance kit's tests that fit an offline method -----------------------------------


class _ManualHarness(GatewayHarness):
    """The kit's harness: the payer 'completes the action' by paying the transfer."""

    supports = frozenset({"webhooks"})

    def __init__(self) -> None:
        self._gateway = ManualGateway(bank_details={"iban": IBAN}, notification_secret=SECRET)

    @property
    def gateway(self) -> ManualGateway:
        return self._gateway

    def token_for(self, behaviour: Behaviour) -> str:
        return f"manual_{behaviour}"

    def _due(self, reference: str) -> Money:
        any_amount = Money.of("1", "USD")
        lookup = PaymentLookup(
            payment_id="", provider_payment_id=reference, idempotency_key="", amount=any_amount
        )
        result = self._gateway.retrieve_payment(lookup)
        if result.amount is not None:
            return result.amount
        assert result.next_action is not None
        instructions = result.next_action.instructions
        return Money.of(instructions["amount"], instructions["currency"])

    def complete_action(self, provider_payment_id: str) -> None:
        self._gateway.record_received(provider_payment_id, self._due(provider_payment_id))

    def signed_webhook(
        self, event_type: str, provider_payment_id: str
    ) -> tuple[dict[str, str], bytes]:
        assert event_type == WebhookEventType.PAYMENT_SUCCEEDED
        return self._gateway.notification(provider_payment_id, self._due(provider_payment_id))


KIT_TESTS_THAT_FIT = [
    "test_gateway_implements_the_protocol",
    "test_purchase_succeeds_with_the_amount_asked",
    "test_retrieve_reports_a_purchase",
    "test_repeated_charge_charges_once",
    "test_reused_key_with_other_parameters_never_charges_twice",
    "test_webhook_round_trip",
    "test_tampered_webhook_is_refused",
    "test_unsigned_webhook_is_refused",
]


@pytest.mark.parametrize("name", KIT_TESTS_THAT_FIT)
def test_conformance_kit(name: str) -> None:
    """The conformance kit's test of that name passes against the manual gateway."""
    run_conformance_test(name, _ManualHarness())
