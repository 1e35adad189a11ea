"""Stripe's currency rules, table-driven: what amount is sent, and what is refused unsent.

Each row is one rule from https://docs.stripe.com/currencies: ordinary two-decimal (USD),
zero-decimal (JPY, KRW, and MGA which ISO counts in hundredths), three-decimal with a last
digit of 0 (BHD, KWD), the two-decimal whole-unit special cases (ISK, UGX), the payout-only
special cases that charge in hundredths (HUF, TWD), and an ISO three-decimal currency
Stripe counts in hundredths (IQD).
"""

from __future__ import annotations

import pytest
from _stripe_support import charge_request, make_fake, make_gateway, refund_request

from paykit.errors import InvalidAmountError
from paykit.gateways import GatewayOutcome
from paykit.gateways.stripe import from_stripe_amount, stripe_exponent, to_stripe_amount
from paykit.money import Money

SENT = [
    # (amount, currency, Stripe amount): the rule each row checks is in the comment
    ("25.00", "USD", 2500),  # two-decimal: hundredths
    ("0.01", "USD", 1),
    ("500", "JPY", 500),  # zero-decimal: whole yen
    ("1", "JPY", 1),
    ("15000", "KRW", 15000),  # zero-decimal: whole won
    ("1200.00", "MGA", 1200),  # zero-decimal at Stripe although ISO says two decimals
    ("5.120", "BHD", 5120),  # three-decimal: thousandths, last digit 0
    ("10.000", "KWD", 10000),
    ("0.010", "KWD", 10),
    ("5", "ISK", 500),  # whole kronur sent as two-decimal hundredths
    ("1234", "ISK", 123400),
    ("3700", "UGX", 370000),  # whole shillings sent as two-decimal hundredths
    ("10.45", "HUF", 1045),  # HUF charges keep two decimals (zero-decimal only for payouts)
    ("100", "HUF", 10000),
    ("99.50", "TWD", 9950),  # TWD likewise
    ("12.340", "IQD", 1234),  # ISO three-decimal, but Stripe counts hundredths
]

REFUSED = [
    # (amount, currency, words the message must contain)
    ("1.50", "MGA", "whole units"),  # a fraction Stripe cannot count
    ("5.124", "KWD", "last digit"),  # three-decimal, last digit not 0
    ("0.005", "BHD", "last digit"),
    ("1.001", "KWD", "use 1.000 or 1.010"),  # names the nearest amounts Stripe takes
    ("1.234", "IQD", "decimal places"),  # ISO allows thousandths, Stripe does not
    ("0", "USD", "zero"),  # Stripe moves no money for zero
    ("0", "JPY", "zero"),
]


@pytest.mark.parametrize(
    ("amount", "currency", "units"), SENT, ids=[f"{a} {c}" for a, c, _ in SENT]
)
def test_charge_sends_stripes_integer_amount(amount: str, currency: str, units: int) -> None:
    """A charge sends the amount in Stripe's units for the currency, and reads it back."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)

    result = gateway.charge(charge_request(amount=amount, currency=currency))

    sent = fake.requests[0].form
    assert (sent["amount"], sent["currency"]) == (str(units), currency.lower())
    assert result.outcome is GatewayOutcome.SUCCEEDED
    assert result.amount == Money.of(amount, currency)


@pytest.mark.parametrize(
    ("amount", "currency", "words"), REFUSED, ids=[f"{a} {c}" for a, c, _ in REFUSED]
)
def test_unrepresentable_amounts_are_refused_before_any_request(
    amount: str, currency: str, words: str
) -> None:
    """An amount Stripe cannot represent raises InvalidAmountError and nothing is sent."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)

    with pytest.raises(InvalidAmountError, match=words) as caught:
        gateway.charge(charge_request(amount=amount, currency=currency))

    assert caught.value.field == "amount"
    assert fake.requests == []


def test_refunds_and_captures_follow_the_same_rules() -> None:
    """Refund and capture amounts are converted, and refused, by the same rules."""
    fake = make_fake()
    gateway = make_gateway(fake.transport)
    charged = gateway.charge(charge_request(amount="10.000", currency="KWD"))
    assert charged.provider_id
    sent_before = len(fake.requests)

    refunded = gateway.refund(refund_request(charged.provider_id, "2.500", currency="KWD"))
    with pytest.raises(InvalidAmountError):
        gateway.refund(refund_request(charged.provider_id, "2.505", currency="KWD"))

    assert fake.requests[sent_before].form["amount"] == "2500"
    assert len(fake.requests) == sent_before + 1
    assert refunded.amount == Money.of("2.500", "KWD")


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [
        ("USD", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("MGA", 0),
        ("BHD", 3),
        ("KWD", 3),
        ("ISK", 2),
        ("UGX", 2),
        ("HUF", 2),
        ("TWD", 2),
        ("IQD", 2),
    ],
)
def test_stripe_exponent_per_currency(currency: str, exponent: int) -> None:
    """Stripe's decimal places per currency, independent of ISO's."""
    assert stripe_exponent(currency) == exponent


@pytest.mark.parametrize(
    ("amount", "currency", "units"), SENT, ids=[f"{a} {c}" for a, c, _ in SENT]
)
def test_stripe_amounts_round_trip(amount: str, currency: str, units: int) -> None:
    """Converting to Stripe's units and back gives the same Money (lower-case codes too)."""
    money = Money.of(amount, currency)

    assert to_stripe_amount(money) == units
    assert from_stripe_amount(units, currency.lower()) == money


def test_a_fractional_isk_amount_from_stripe_is_not_guessed() -> None:
    """An ISK amount Stripe reports with a fraction (old charges) is refused, not rounded."""
    with pytest.raises(InvalidAmountError):
        from_stripe_amount(550, "isk")
