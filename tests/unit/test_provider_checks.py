"""Reading the provider's card checks and seller protection from Stripe- and PayPal-shaped answers.

The dicts use the providers' own field names: Stripe's Charge
``payment_method_details.card.checks`` and PayPal's Orders v2
``purchase_units[].payments.authorizations[] / captures[]`` with ``processor_response`` and
``seller_protection`` (checkout_orders_v2.json).
"""

from __future__ import annotations

from typing import Any

import pytest

from paykit.fraud import provider_signal
from paykit.fraud._attributes import POST_AUTHORIZATION_ATTRIBUTES, Kind, kind_of
from paykit.fraud._signals import PAYPAL_AVS_CHECKS, PAYPAL_CVV_CHECKS, ProviderSignal
from paykit.gateways import GatewayOutcome, GatewayResult


def _signal(raw: dict[str, Any]) -> ProviderSignal | None:
    return provider_signal(GatewayResult(outcome=GatewayOutcome.SUCCEEDED, raw=raw))


# -- Stripe -----------------------------------------------------------------------------------


def _charge(**checks: object) -> dict[str, Any]:
    """A Charge whose card checks are ``checks`` (Stripe's three, null unless given)."""
    given: dict[str, object] = {
        "address_line1_check": None,
        "address_postal_code_check": None,
        "cvc_check": None,
    }
    given.update(checks)
    return {
        "object": "charge",
        "payment_method_details": {"card": {"brand": "visa", "checks": given}, "type": "card"},
    }


def test_stripe_checks_are_read_from_every_charge_shape() -> None:
    """The Charge itself, an expanded ``latest_charge`` and ``charges.data`` all give checks."""
    charge = _charge(cvc_check="fail", address_postal_code_check="pass")
    shapes = [
        charge,
        {"object": "payment_intent", "latest_charge": charge},
        {"object": "payment_intent", "charges": {"data": [charge]}},
    ]
    for raw in shapes:
        assert _signal(raw) == ProviderSignal(cvc_check="fail", address_check="pass")


@pytest.mark.parametrize(
    ("line1", "postal", "expected"),
    [
        ("pass", "pass", "pass"),
        ("pass", "fail", "fail"),  # either failing fails the address
        ("fail", "pass", "fail"),
        ("fail", "unavailable", "fail"),
        ("unavailable", "pass", "pass"),  # one passed, the other was not checked
        ("unchecked", "pass", "pass"),
        ("unavailable", "unchecked", "unchecked"),  # nothing decided: the first present
        ("unchecked", "unavailable", "unavailable"),
        (None, "unavailable", "unavailable"),
        ("unchecked", None, "unchecked"),
        (None, None, None),
    ],
)
def test_stripe_address_check_combines_line1_and_postal_code(
    line1: str | None, postal: str | None, expected: str | None
) -> None:
    """``fail`` if either failed, else ``pass`` if either passed, else the first value present."""
    raw = _charge(cvc_check="pass", address_line1_check=line1, address_postal_code_check=postal)
    signal = _signal(raw)
    assert signal is not None
    assert signal.address_check == expected
    assert signal.cvc_check == "pass"


@pytest.mark.parametrize("value", ["pass", "fail", "unavailable", "unchecked"])
def test_stripe_cvc_check_keeps_stripe_s_values(value: str) -> None:
    """Stripe's four values are kept as they are."""
    assert _signal(_charge(cvc_check=value)) == ProviderSignal(cvc_check=value)


@pytest.mark.parametrize("odd", ["maybe", "", 1, {"nested": "pass"}, ["pass"], True])
def test_an_undocumented_stripe_check_is_unavailable(odd: object) -> None:
    """A value Stripe does not document is ``unavailable``, never an exception."""
    signal = _signal(_charge(cvc_check=odd, address_line1_check=odd))
    assert signal == ProviderSignal(cvc_check="unavailable", address_check="unavailable")


def test_stripe_outcome_and_checks_come_together() -> None:
    """Radar's outcome and the card checks of one Charge make one signal."""
    charge = _charge(cvc_check="pass", address_line1_check="pass", address_postal_code_check="fail")
    charge["outcome"] = {"risk_level": "elevated", "risk_score": 70, "type": "authorized"}
    assert _signal({"object": "payment_intent", "latest_charge": charge}) == ProviderSignal(
        risk_level="elevated", risk_score=70, cvc_check="pass", address_check="fail"
    )


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"object": "payment_intent", "latest_charge": "ch_1"},  # not expanded
        {"object": "charge", "payment_method_details": {"type": "card"}},  # no card
        {"object": "charge", "payment_method_details": {"card": {"checks": None}}},
        {"object": "charge", "payment_method_details": "card"},
        _charge(),  # every check null: the customer gave nothing to check
    ],
)
def test_a_stripe_answer_without_checks_or_outcome_gives_no_signal(raw: dict[str, Any]) -> None:
    """Nothing to read: ``None``, as before the checks existed."""
    assert _signal(raw) is None


# -- PayPal -----------------------------------------------------------------------------------


def _order(
    *,
    authorizations: list[dict[str, Any]] | None = None,
    captures: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A PayPal order whose one purchase unit holds these authorizations and captures."""
    payments: dict[str, Any] = {}
    if authorizations is not None:
        payments["authorizations"] = authorizations
    if captures is not None:
        payments["captures"] = captures
    return {
        "id": "5O190127TN364715T",
        "status": "COMPLETED",
        "intent": "AUTHORIZE",
        "purchase_units": [{"reference_id": "default", "payments": payments}],
    }


def _movement(
    avs: str | None = None, cvv: str | None = None, protection: str | None = None
) -> dict[str, Any]:
    """An authorization or capture with these codes (``None``: the field is absent)."""
    movement: dict[str, Any] = {"id": "0VF52814937998046", "status": "CREATED"}
    response: dict[str, Any] = {}
    if avs is not None:
        response["avs_code"] = avs
    if cvv is not None:
        response["cvv_code"] = cvv
    if response:
        movement["processor_response"] = {**response, "response_code": "0000"}
    if protection is not None:
        movement["seller_protection"] = {
            "status": protection,
            "dispute_categories": ["ITEM_NOT_RECEIVED", "UNAUTHORIZED_TRANSACTION"],
        }
    return movement


CVV_CASES = [
    ("M", "pass"),
    ("N", "fail"),
    ("E", "unavailable"),
    ("I", "unavailable"),
    ("P", "unavailable"),
    ("S", "unavailable"),
    ("U", "unavailable"),
    ("X", "unavailable"),
    ("All others", "unavailable"),  # PayPal's enum spells "any other code" so
    ("0", "pass"),  # Maestro
    ("1", "fail"),
    ("2", "unavailable"),
    ("3", "unavailable"),
    ("4", "unavailable"),
]
AVS_CASES = [
    # full matches
    ("D", "pass"),
    ("F", "pass"),
    ("M", "pass"),
    ("X", "pass"),
    ("Y", "pass"),
    ("0", "pass"),
    # a part matched, the other not verified
    ("B", "pass"),
    ("P", "pass"),
    # a part matched, the other did not
    ("A", "fail"),
    ("W", "fail"),
    ("Z", "fail"),
    ("2", "fail"),
    # no match
    ("C", "fail"),
    ("N", "fail"),
    ("1", "fail"),
    # not checked
    ("E", "unavailable"),
    ("G", "unavailable"),
    ("I", "unavailable"),
    ("R", "unavailable"),
    ("S", "unavailable"),
    ("U", "unavailable"),
    ("Null", "unavailable"),
    ("3", "unavailable"),
    ("4", "unavailable"),
]


@pytest.mark.parametrize(("code", "expected"), CVV_CASES)
def test_paypal_cvv_codes_in_stripe_s_words(code: str, expected: str) -> None:
    """Each of PayPal's CVV codes becomes ``pass``, ``fail`` or ``unavailable``."""
    signal = _signal(_order(authorizations=[_movement(cvv=code)]))
    assert signal == ProviderSignal(cvc_check=expected)


@pytest.mark.parametrize(("code", "expected"), AVS_CASES)
def test_paypal_avs_codes_in_stripe_s_words(code: str, expected: str) -> None:
    """Each of PayPal's AVS codes becomes ``pass``, ``fail`` or ``unavailable``."""
    signal = _signal(_order(captures=[_movement(avs=code)]))
    assert signal == ProviderSignal(address_check=expected)


def test_every_code_of_paypal_s_enums_is_mapped_or_deliberately_unavailable() -> None:
    """The cases above cover PayPal's whole enums (checkout_orders_v2.json), nothing more."""
    avs_enum = {*"ABCDEFGIMNPRSUWXYZ", "Null", "0", "1", "2", "3", "4"}
    cvv_enum = {*"EIMNPSUX", "All others", "0", "1", "2", "3", "4"}
    assert {code for code, _ in AVS_CASES} == avs_enum == set(PAYPAL_AVS_CHECKS)
    assert {code for code, _ in CVV_CASES} == cvv_enum == set(PAYPAL_CVV_CHECKS) | {"All others"}


@pytest.mark.parametrize("odd", ["Q", "", "m", 7, None, ["M"]])
def test_an_unknown_paypal_code_is_unavailable(odd: object) -> None:
    """A code PayPal does not document is ``unavailable``; an absent one (null) is nothing."""
    raw = _order(authorizations=[{"processor_response": {"avs_code": odd, "cvv_code": odd}}])
    expected = (
        None
        if odd is None
        else ProviderSignal(cvc_check="unavailable", address_check="unavailable")
    )
    assert _signal(raw) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("ELIGIBLE", "eligible"),
        ("PARTIALLY_ELIGIBLE", "partially_eligible"),
        ("NOT_ELIGIBLE", "not_eligible"),
        ("SOMETHING_NEW", None),
        ("eligible", None),
    ],
)
def test_paypal_seller_protection(status: str, expected: str | None) -> None:
    """PayPal's three statuses, lower-cased; another value is not reported."""
    signal = _signal(_order(captures=[_movement(protection=status)]))
    assert signal == (None if expected is None else ProviderSignal(seller_protection=expected))


def test_a_paypal_account_payment_has_protection_but_no_card_checks() -> None:
    """No ``processor_response`` (a PayPal balance or bank): only the seller protection."""
    signal = _signal(_order(captures=[_movement(protection="NOT_ELIGIBLE")]))
    assert signal == ProviderSignal(seller_protection="not_eligible")


def test_the_latest_paypal_movement_carrying_each_part_wins() -> None:
    """A capture follows its authorization: its codes and protection count, where it has them."""
    authorized = _movement(avs="N", cvv="N", protection="ELIGIBLE")
    captured = _movement(protection="NOT_ELIGIBLE")  # no processor_response on this capture
    signal = _signal(_order(authorizations=[authorized], captures=[captured]))
    assert signal == ProviderSignal(
        cvc_check="fail", address_check="fail", seller_protection="not_eligible"
    )
    reauthorized = _movement(avs="Y", cvv="M")
    signal = _signal(_order(authorizations=[authorized, reauthorized]))
    assert signal == ProviderSignal(
        cvc_check="pass", address_check="pass", seller_protection="eligible"
    )


def test_a_paypal_card_payment_gives_all_three() -> None:
    """A card authorization: AVS, CVV and seller protection together; no score."""
    signal = _signal(_order(authorizations=[_movement("A", "M", "PARTIALLY_ELIGIBLE")]))
    assert signal == ProviderSignal(
        cvc_check="pass", address_check="fail", seller_protection="partially_eligible"
    )
    assert signal.risk_level is None
    assert signal.risk_score is None


@pytest.mark.parametrize(
    "raw",
    [
        {"purchase_units": []},
        {"purchase_units": "default"},
        {"purchase_units": [None, "x", {"payments": None}]},
        {"purchase_units": [{"payments": {"authorizations": "x", "captures": [None, 3]}}]},
        _order(authorizations=[{"id": "1", "processor_response": "M", "seller_protection": []}]),
        _order(captures=[{"id": "1", "processor_response": {"response_code": "0000"}}]),
        _order(authorizations=[], captures=[]),  # created, not yet paid
    ],
)
def test_a_paypal_answer_without_signals_gives_none(raw: dict[str, Any]) -> None:
    """Malformed or empty: ``None``, never an exception."""
    assert _signal(raw) is None


# -- attributes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["provider_cvc_check", "provider_address_check", "provider_seller_protection"]
)
def test_the_checks_are_text_attributes_after_authorization_only(name: str) -> None:
    """Known after authorization as text; named before the charge, refused with the reason."""
    assert POST_AUTHORIZATION_ATTRIBUTES[name] is Kind.TEXT
    assert kind_of(name, after_authorization=True) is Kind.TEXT
    with pytest.raises(ValueError, match="after_authorization"):
        kind_of(name, after_authorization=False)
