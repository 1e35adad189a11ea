"""Bad input through the public service API: the right error, the field named, nothing written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from paykit import (
    CardDataRejectedError,
    InMemoryStorage,
    InvalidAmountError,
    InvalidRefundAmountError,
    NotFound,
    PaykitError,
    Payment,
    PaymentMethod,
    PaymentService,
    SandboxGateway,
    UnknownCurrencyError,
    UnsupportedPaymentMethodError,
    ValidationError,
)
from paykit._defaults import new_id
from paykit.domain.metadata import MAX_METADATA_DEPTH
from paykit.domain.pci import contains_card_number

MakeCard = Callable[..., PaymentMethod]
PayWith = Callable[..., Payment]

CARD = "4242424242424242"
"""A Luhn-valid test card number: it must never be stored nor echoed in an error."""
SPACED_CARD = "4242 4242 4242 4242"


@dataclass(frozen=True)
class World:
    """What the table's calls act on: a saved card, a completed and an authorized payment."""

    service: PaymentService
    card_id: str
    completed_id: str
    authorized_id: str


def _pay(w: World, **changes: Any) -> object:
    arguments: dict[str, Any] = {
        "customer_id": "cus_1",
        "order_id": "ord_9",
        "payment_method_id": w.card_id,
        "amount": "10.00",
        "currency": "USD",
    }
    arguments.update(changes)
    return w.service.create_payment(**arguments)


def _add(w: World, **changes: Any) -> object:
    arguments: dict[str, Any] = {"type": "credit_card", "token": "tok_visa"}
    arguments.update(changes)
    customer_id = arguments.pop("customer_id", "cus_1")
    return w.service.add_payment_method(customer_id, **arguments)


def _refund(w: World, amount: Any, **changes: Any) -> object:
    return w.service.create_refund(w.completed_id, amount, **changes)


def _capture(w: World, amount: Any) -> object:
    return w.service.capture_payment(w.authorized_id, amount)


def _nested(levels: int) -> dict[str, object]:
    nested: dict[str, object] = {}
    for _ in range(levels - 1):
        nested = {"a": nested}
    return nested


def _list(w: World, status: Any) -> object:
    return w.service.list_payments(status=status)


@dataclass(frozen=True)
class Row:
    """One bad call and the error it must raise."""

    call: Callable[[World], object]
    error: type[PaykitError]
    code: str
    field: str | None


AMOUNT = "amount"
ROWS: dict[str, Row] = {
    # -- create_payment: amounts
    "pay-float": Row(lambda w: _pay(w, amount=10.5), InvalidAmountError, "invalid_amount", AMOUNT),
    "pay-nan": Row(
        lambda w: _pay(w, amount=Decimal("NaN")), InvalidAmountError, "invalid_amount", AMOUNT
    ),
    "pay-nan-string": Row(
        lambda w: _pay(w, amount="NaN"), InvalidAmountError, "invalid_amount", AMOUNT
    ),
    "pay-infinity": Row(
        lambda w: _pay(w, amount=Decimal("Infinity")), InvalidAmountError, "invalid_amount", AMOUNT
    ),
    "pay-negative": Row(
        lambda w: _pay(w, amount=Decimal("-1.00")), InvalidAmountError, "invalid_amount", AMOUNT
    ),
    "pay-negative-string": Row(
        lambda w: _pay(w, amount="-1.00"), InvalidAmountError, "invalid_amount", AMOUNT
    ),
    "pay-negative-zero": Row(
        lambda w: _pay(w, amount=Decimal("-0")), InvalidAmountError, "invalid_amount", AMOUNT
    ),
    "pay-zero": Row(lambda w: _pay(w, amount="0.00"), InvalidAmountError, "invalid_amount", AMOUNT),
    "pay-zero-int": Row(lambda w: _pay(w, amount=0), InvalidAmountError, "invalid_amount", AMOUNT),
    "pay-bool": Row(lambda w: _pay(w, amount=True), InvalidAmountError, "invalid_amount", AMOUNT),
    "pay-exponent-notation": Row(
        lambda w: _pay(w, amount="1e3"), InvalidAmountError, "invalid_amount", AMOUNT
    ),
    "pay-usd-3-decimals": Row(
        lambda w: _pay(w, amount="10.001"), InvalidAmountError, "invalid_amount", AMOUNT
    ),
    "pay-jpy-decimals": Row(
        lambda w: _pay(w, amount="10.5", currency="JPY"),
        InvalidAmountError,
        "invalid_amount",
        AMOUNT,
    ),
    "pay-above-max": Row(
        lambda w: _pay(w, amount="10000000000.00"), InvalidAmountError, "invalid_amount", AMOUNT
    ),
    # -- create_payment: currency and text fields
    "pay-unknown-currency": Row(
        lambda w: _pay(w, currency="XYZ"), UnknownCurrencyError, "unknown_currency", "currency"
    ),
    "pay-lower-case-currency": Row(
        lambda w: _pay(w, currency="usd"), UnknownCurrencyError, "unknown_currency", "currency"
    ),
    "pay-empty-customer": Row(
        lambda w: _pay(w, customer_id=""), ValidationError, "validation_error", "customer_id"
    ),
    "pay-blank-customer": Row(
        lambda w: _pay(w, customer_id="   "), ValidationError, "validation_error", "customer_id"
    ),
    "pay-int-order-id": Row(
        lambda w: _pay(w, order_id=123), ValidationError, "validation_error", "order_id"
    ),
    "pay-card-in-description": Row(
        lambda w: _pay(w, description=f"paid with {CARD}"),
        CardDataRejectedError,
        "card_data_rejected",
        "description",
    ),
    "pay-spaced-card-in-description": Row(
        lambda w: _pay(w, description=f"card {SPACED_CARD} thanks"),
        CardDataRejectedError,
        "card_data_rejected",
        "description",
    ),
    "pay-card-in-metadata-value": Row(
        lambda w: _pay(w, metadata={"note": f"card {CARD}"}),
        CardDataRejectedError,
        "card_data_rejected",
        "metadata.note",
    ),
    "pay-card-in-nested-metadata": Row(
        lambda w: _pay(w, metadata={"cards": [CARD]}),
        CardDataRejectedError,
        "card_data_rejected",
        "metadata.cards[0]",
    ),
    "pay-card-in-metadata-key": Row(
        lambda w: _pay(w, metadata={CARD: "x"}),
        CardDataRejectedError,
        "card_data_rejected",
        "metadata (a key)",
    ),
    "pay-non-str-metadata-key": Row(
        lambda w: _pay(w, metadata={1: "x"}), ValidationError, "validation_error", "metadata"
    ),
    "pay-card-in-order-id": Row(
        lambda w: _pay(w, order_id=CARD), CardDataRejectedError, "card_data_rejected", "order_id"
    ),
    "pay-card-as-method-id": Row(
        lambda w: _pay(w, payment_method_id=CARD),
        CardDataRejectedError,
        "card_data_rejected",
        "payment_method_id",
    ),
    "pay-unknown-method": Row(
        lambda w: _pay(w, payment_method_id="pm_missing"), NotFound, "not_found", None
    ),
    "pay-card-as-amount": Row(
        lambda w: _pay(w, amount=CARD), InvalidAmountError, "invalid_amount", AMOUNT
    ),
    # -- metadata: bounded JSON only, the same on every storage
    "pay-decimal-in-metadata": Row(
        lambda w: _pay(w, metadata={"a": Decimal(1)}),
        ValidationError,
        "validation_error",
        "metadata.a",
    ),
    "pay-object-in-metadata": Row(
        lambda w: _pay(w, metadata={"a": object()}),
        ValidationError,
        "validation_error",
        "metadata.a",
    ),
    "pay-bytes-in-metadata": Row(
        lambda w: _pay(w, metadata={"a": b"x"}), ValidationError, "validation_error", "metadata.a"
    ),
    "pay-set-in-metadata": Row(
        lambda w: _pay(w, metadata={"a": {"x"}}), ValidationError, "validation_error", "metadata.a"
    ),
    "pay-nan-in-metadata": Row(
        lambda w: _pay(w, metadata={"a": [float("nan")]}),
        ValidationError,
        "validation_error",
        "metadata.a[0]",
    ),
    "pay-float-in-metadata": Row(
        lambda w: _pay(w, metadata={"total": 12.5}),
        ValidationError,
        "validation_error",
        "metadata.total",
    ),
    "pay-huge-int-in-metadata": Row(
        lambda w: _pay(w, metadata={"n": 10**4000}),
        ValidationError,
        "validation_error",
        "metadata.n",
    ),
    "pay-deeply-nested-metadata": Row(
        lambda w: _pay(w, metadata=_nested(5_000)),
        ValidationError,
        "validation_error",
        "metadata" + ".a" * MAX_METADATA_DEPTH,
    ),
    "pay-2mb-metadata-value": Row(
        lambda w: _pay(w, metadata={"a": "x" * 2_000_000}),
        ValidationError,
        "validation_error",
        "metadata.a",
    ),
    "pay-20000-metadata-keys": Row(
        lambda w: _pay(w, metadata={f"k{i}": "v" for i in range(20_000)}),
        ValidationError,
        "validation_error",
        "metadata",
    ),
    "pay-long-metadata-key": Row(
        lambda w: _pay(w, metadata={"k" * 41: "v"}), ValidationError, "validation_error", "metadata"
    ),
    "pay-metadata-over-8-kib": Row(
        lambda w: _pay(w, metadata={f"k{i}": "v" * 400 for i in range(30)}),
        ValidationError,
        "validation_error",
        "metadata",
    ),
    # -- text no database can store: NUL and lone surrogates
    "pay-nul-in-order-id": Row(
        lambda w: _pay(w, order_id="o\x00x"), ValidationError, "validation_error", "order_id"
    ),
    "pay-surrogate-in-order-id": Row(
        lambda w: _pay(w, order_id="o\ud800"), ValidationError, "validation_error", "order_id"
    ),
    "pay-nul-in-description": Row(
        lambda w: _pay(w, description="a\x00"), ValidationError, "validation_error", "description"
    ),
    "pay-surrogate-in-metadata-value": Row(
        lambda w: _pay(w, metadata={"a": "\udfff"}),
        ValidationError,
        "validation_error",
        "metadata.a",
    ),
    "pay-nul-in-metadata-key": Row(
        lambda w: _pay(w, metadata={"a\x00": "b"}),
        ValidationError,
        "validation_error",
        "metadata (a key)",
    ),
    "pay-nul-in-idempotency-key": Row(
        lambda w: _pay(w, idempotency_key="k\x00"),
        ValidationError,
        "validation_error",
        "idempotency_key",
    ),
    # -- lookups: ids no database could compare are refused; card numbers are never echoed
    "get-card-as-payment-id": Row(
        lambda w: w.service.get_payment(CARD), NotFound, "not_found", None
    ),
    "get-spaced-card-as-refund-id": Row(
        lambda w: w.service.get_refund(SPACED_CARD), NotFound, "not_found", None
    ),
    "get-nul-in-payment-id": Row(
        lambda w: w.service.get_payment("pay_\x00"),
        ValidationError,
        "validation_error",
        "payment_id",
    ),
    "get-surrogate-in-method-id": Row(
        lambda w: w.service.get_payment_method("pm_\ud800"),
        ValidationError,
        "validation_error",
        "payment_method_id",
    ),
    "get-int-payment-id": Row(
        lambda w: w.service.get_payment(123),  # type: ignore[arg-type]  # the point
        ValidationError,
        "validation_error",
        "payment_id",
    ),
    "list-nul-in-customer-id": Row(
        lambda w: w.service.list_payments(customer_id="c\x00"),
        ValidationError,
        "validation_error",
        "customer_id",
    ),
    "process-nul-in-payment-id": Row(
        lambda w: w.service.process_payment("pay_\x00"),
        ValidationError,
        "validation_error",
        "payment_id",
    ),
    # -- add_payment_method
    "add-card-as-token": Row(
        lambda w: _add(w, token=CARD), CardDataRejectedError, "card_data_rejected", "token"
    ),
    "add-card-in-metadata": Row(
        lambda w: _add(w, metadata={"pan": SPACED_CARD}),
        CardDataRejectedError,
        "card_data_rejected",
        "metadata.pan",
    ),
    "add-empty-token": Row(
        lambda w: _add(w, token=""), ValidationError, "validation_error", "token"
    ),
    "add-empty-customer": Row(
        lambda w: _add(w, customer_id=""), ValidationError, "validation_error", "customer_id"
    ),
    "add-short-last4": Row(
        lambda w: _add(w, last4="424"), ValidationError, "validation_error", "last4"
    ),
    "add-letters-last4": Row(
        lambda w: _add(w, last4="42a2"), ValidationError, "validation_error", "last4"
    ),
    "add-full-card-as-last4": Row(
        lambda w: _add(w, last4=CARD), ValidationError, "validation_error", "last4"
    ),
    "add-exp-month-13": Row(
        lambda w: _add(w, exp_month=13), ValidationError, "validation_error", "exp_month"
    ),
    "add-exp-month-0": Row(
        lambda w: _add(w, exp_month=0), ValidationError, "validation_error", "exp_month"
    ),
    "add-exp-year-99": Row(
        lambda w: _add(w, exp_year=99), ValidationError, "validation_error", "exp_year"
    ),
    "add-bool-exp-month": Row(
        lambda w: _add(w, exp_month=True), ValidationError, "validation_error", "exp_month"
    ),
    "add-str-exp-year": Row(
        lambda w: _add(w, exp_year="2030"), ValidationError, "validation_error", "exp_year"
    ),
    "add-unknown-type": Row(
        lambda w: _add(w, type="cheque"), ValidationError, "validation_error", "type"
    ),
    "add-bank-transfer-unrouted": Row(
        lambda w: _add(w, type="bank_transfer"),
        UnsupportedPaymentMethodError,
        "unsupported_payment_method",
        None,
    ),
    "add-nul-in-token": Row(
        lambda w: _add(w, token="tok_\x00"), ValidationError, "validation_error", "token"
    ),
    "add-surrogate-in-customer": Row(
        lambda w: _add(w, customer_id="cus_\ud800"),
        ValidationError,
        "validation_error",
        "customer_id",
    ),
    "update-float-in-metadata": Row(
        lambda w: w.service.update_payment_method(w.card_id, metadata={"a": 0.1}),
        ValidationError,
        "validation_error",
        "metadata.a",
    ),
    "update-exp-month-13": Row(
        lambda w: w.service.update_payment_method(w.card_id, exp_month=13),
        ValidationError,
        "validation_error",
        "exp_month",
    ),
    # -- capture_payment
    "capture-float": Row(lambda w: _capture(w, 5.0), InvalidAmountError, "invalid_amount", AMOUNT),
    "capture-zero": Row(lambda w: _capture(w, "0"), InvalidAmountError, "invalid_amount", AMOUNT),
    "capture-above-authorized": Row(
        lambda w: _capture(w, "100.01"), InvalidAmountError, "invalid_amount", AMOUNT
    ),
    "capture-3-decimals": Row(
        lambda w: _capture(w, "1.001"), InvalidAmountError, "invalid_amount", AMOUNT
    ),
    # -- create_refund
    "refund-zero": Row(
        lambda w: _refund(w, "0"), InvalidRefundAmountError, "invalid_refund_amount", AMOUNT
    ),
    "refund-negative": Row(
        lambda w: _refund(w, Decimal("-5.00")),
        InvalidRefundAmountError,
        "invalid_refund_amount",
        AMOUNT,
    ),
    # Every way a refund amount can be wrong is an InvalidRefundAmountError (a subclass of
    # InvalidAmountError, so code catching either keeps working).
    "refund-float": Row(
        lambda w: _refund(w, 5.0), InvalidRefundAmountError, "invalid_refund_amount", AMOUNT
    ),
    "refund-3-decimals": Row(
        lambda w: _refund(w, "10.001"), InvalidRefundAmountError, "invalid_refund_amount", AMOUNT
    ),
    "refund-above-captured": Row(
        lambda w: _refund(w, "100.01"), InvalidRefundAmountError, "invalid_refund_amount", AMOUNT
    ),
    "refund-card-in-reason": Row(
        lambda w: _refund(w, "1.00", reason=f"refund to {CARD}"),
        CardDataRejectedError,
        "card_data_rejected",
        "reason",
    ),
    "refund-nul-in-reason": Row(
        lambda w: _refund(w, "1.00", reason="r\x00"), ValidationError, "validation_error", "reason"
    ),
    "refund-set-in-metadata": Row(
        lambda w: _refund(w, "1.00", metadata={"a": {1}}),
        ValidationError,
        "validation_error",
        "metadata.a",
    ),
    "refund-unknown-payment": Row(
        lambda w: w.service.create_refund("pay_missing", "1.00"), NotFound, "not_found", None
    ),
    # -- list_payments
    "list-unknown-status": Row(
        lambda w: _list(w, "done"), ValidationError, "validation_error", "status"
    ),
    "list-upper-case-status": Row(
        lambda w: _list(w, "COMPLETED"), ValidationError, "validation_error", "status"
    ),
}


@pytest.fixture
def world(service: PaymentService, make_card: MakeCard, paid: PayWith) -> World:
    """A saved card, a completed 100.00 USD payment and an authorized 100.00 USD one."""
    return World(
        service=service,
        card_id=make_card("cus_1").id,
        completed_id=paid("100.00").id,
        authorized_id=paid("100.00", capture=False).id,
    )


def _snapshot(storage: InMemoryStorage, sandbox: SandboxGateway) -> tuple[object, ...]:
    """Everything a bad call could have changed."""
    return (
        storage.commits,
        dict(storage.payments),
        dict(storage.refunds),
        dict(storage.methods),
        {payment_id: list(entries) for payment_id, entries in storage.log.items()},
        set(storage.payment_keys),
        set(storage.refund_keys),
        list(sandbox.calls),
        list(sandbox.ledger),
    )


def assert_no_card_number(error: PaykitError) -> None:
    """Neither the error's text nor any of its attributes or arguments holds the card."""
    shown = [str(error), repr(error), *map(str, error.args), *map(str, vars(error).values())]
    for text in shown:
        assert CARD not in text
        assert SPACED_CARD not in text
        assert not contains_card_number(text)


@pytest.mark.parametrize("row", list(ROWS.values()), ids=list(ROWS))
def test_bad_input_is_refused_and_writes_nothing(
    world: World, storage: InMemoryStorage, sandbox: SandboxGateway, row: Row
) -> None:
    """Each bad call raises its error class, code and field, writes nothing and echoes no card."""
    before = _snapshot(storage, sandbox)

    with pytest.raises(PaykitError) as caught:
        row.call(world)

    error = caught.value
    assert type(error) is row.error
    assert error.code == row.code
    if issubclass(row.error, ValidationError):
        assert isinstance(error, ValidationError)
        assert error.field == row.field
        assert str(error).startswith(f"{row.field}: ")
    assert_no_card_number(error)
    assert _snapshot(storage, sandbox) == before


def test_the_table_is_large_enough() -> None:
    """The table covers at least 80 bad inputs across the public entry points."""
    assert len(ROWS) >= 80
    prefixes = {name.split("-")[0] for name in ROWS}
    assert {"pay", "add", "capture", "refund", "list", "get", "process"} <= prefixes


def test_generated_ids_are_never_mistaken_for_card_numbers() -> None:
    """Ids paykit makes itself never trip the card-number guard that create_payment applies."""
    rejected = [i for i in (new_id("pm") for _ in range(20_000)) if contains_card_number(i)]

    assert rejected == []
