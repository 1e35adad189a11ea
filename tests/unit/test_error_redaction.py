"""No error paykit raises carries a card number: not in its message, not in any attribute."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest

import paykit.gateways.manual
import paykit.gateways.paypal
import paykit.gateways.stripe  # noqa: F401 - imported for the error classes they define
from paykit import InMemoryStorage, PaykitError, PaymentService, SandboxGateway
from paykit._card_numbers import REDACTED_CARD_NUMBER, contains_card_number, redact_card_numbers

CARD = "4242424242424242"
TEXTS = [CARD, f"ref {CARD} end", "4242 4242 4242 4242", "3782-822463-10005"]


def _error_classes() -> Iterator[type[PaykitError]]:
    """PaykitError and every subclass defined anywhere in paykit, adapters included."""
    seen: list[type[PaykitError]] = [PaykitError]
    while seen:
        cls = seen.pop()
        yield cls
        seen.extend(cls.__subclasses__())


def _build(cls: type[PaykitError], text: str) -> PaykitError:
    """An instance of ``cls`` with ``text`` in every string parameter its constructor takes."""
    arguments: dict[str, Any] = {}
    positional: list[Any] = []
    for name, parameter in inspect.signature(cls).parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        value: Any = False if "bool" in str(parameter.annotation) else text
        if name.endswith("_at") or "datetime" in str(parameter.annotation):
            continue
        if parameter.kind is parameter.POSITIONAL_ONLY:
            positional.append(value)
        elif parameter.default is parameter.empty or isinstance(parameter.default, str | None):
            arguments[name] = value
    return cls(*positional, **arguments)


def _shown(error: PaykitError) -> list[str]:
    """Every text the error exposes: str, repr, args and attributes."""
    return [str(error), repr(error), *map(str, error.args), *map(str, vars(error).values())]


def test_the_walk_finds_the_adapters_errors() -> None:
    """The class walk reaches errors defined outside paykit.errors (so the test is not empty)."""
    names = {cls.__name__ for cls in _error_classes()}
    assert {"NotFound", "InvalidAmountError", "GatewayError", "TransferClosedError"} <= names


@pytest.mark.parametrize("cls", list(_error_classes()), ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("text", TEXTS)
def test_no_error_class_keeps_a_card_number(cls: type[PaykitError], text: str) -> None:
    """Built with a card number in every text parameter, no error shows it anywhere."""
    error = _build(cls, text)

    for shown in _shown(error):
        assert not contains_card_number(shown), shown


def test_an_attribute_set_after_construction_is_redacted() -> None:
    """A subclass (or integrator) setting an attribute later cannot store a card number either."""
    error = PaykitError("declined")
    error.detail = f"card {CARD}"  # an ad-hoc attribute

    assert vars(error)["detail"] == f"card {REDACTED_CARD_NUMBER}"


def test_the_amount_is_not_echoed() -> None:
    """A card number passed as an amount is refused without being repeated (issue #11.1)."""
    service = PaymentService(InMemoryStorage(), {"credit_card": SandboxGateway()})
    method = service.add_payment_method("c", type="credit_card", token="tok_visa")

    with pytest.raises(PaykitError) as caught:
        service.create_payment(
            customer_id="c", order_id="o", payment_method_id=method.id, amount=CARD, currency="USD"
        )

    assert caught.value.code == "invalid_amount"
    assert REDACTED_CARD_NUMBER in caught.value.message
    assert all(not contains_card_number(shown) for shown in _shown(caught.value))


def test_not_found_keeps_no_card_number_in_record_id() -> None:
    """``NotFound.record_id`` holds the redacted id, not the number (issue #11.2)."""
    service = PaymentService(InMemoryStorage(), {"credit_card": SandboxGateway()})

    with pytest.raises(PaykitError) as caught:
        service.get_payment(CARD)

    assert caught.value.record_id == REDACTED_CARD_NUMBER  # type: ignore[attr-defined]
    assert all(not contains_card_number(shown) for shown in _shown(caught.value))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (CARD, REDACTED_CARD_NUMBER),
        (
            f"ref 12 {CARD[:4]} {CARD[4:8]} {CARD[8:12]} {CARD[12:]} ok",
            f"ref {REDACTED_CARD_NUMBER} ok",
        ),
        ("order 1234567890123 and 42", "order 1234567890123 and 42"),
        (
            "a 25-digit reference 1234567890123456789012345",
            "a 25-digit reference 1234567890123456789012345",
        ),
        (f"{CARD},{CARD}", f"{REDACTED_CARD_NUMBER},{REDACTED_CARD_NUMBER}"),
    ],
)
def test_redaction_replaces_the_whole_run_and_nothing_else(text: str, expected: str) -> None:
    """The digit run holding a card goes whole; other numbers stay as they were."""
    assert redact_card_numbers(text) == expected
