"""The provider's own risk signal, read from its answer to a charge.

Stripe Radar puts ``outcome.risk_level`` (``normal``, ``elevated``, ``highest``, or
``not_assessed``) and ``outcome.risk_score`` (0-99) on the Charge, and the card network's
verification results in ``payment_method_details.card.checks`` (``cvc_check``,
``address_line1_check``, ``address_postal_code_check``: ``pass``, ``fail``, ``unavailable``
or ``unchecked``). The Stripe adapter asks for the PaymentIntent with its ``latest_charge``
expanded, so the answer's ``raw`` holds them.

PayPal reports no score. Its order answer (``raw`` of a PayPal charge) carries, on each
authorization or capture in ``purchase_units[].payments``, the processor's
``processor_response.avs_code`` / ``cvv_code`` (card payments only) and
``seller_protection.status`` (``ELIGIBLE``, ``PARTIALLY_ELIGIBLE``, ``NOT_ELIGIBLE``). The
codes are the card networks' single letters (see :data:`PAYPAL_CVV_CHECKS` and
:data:`PAYPAL_AVS_CHECKS`); they are put in Stripe's vocabulary so that one rule
(``:provider_cvc_check: = 'fail'``) means the same with either provider.

Nothing here raises on an odd answer: an unknown code is ``unavailable``, a missing or
malformed field is ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from paykit.gateways.base import GatewayResult

__all__ = ["PAYPAL_AVS_CHECKS", "PAYPAL_CVV_CHECKS", "ProviderSignal", "provider_signal"]

PASS: Final = "pass"  # noqa: S105 - a check's outcome, not a password
FAIL: Final = "fail"
UNAVAILABLE: Final = "unavailable"
UNCHECKED: Final = "unchecked"
_CHECKS: Final = frozenset({PASS, FAIL, UNAVAILABLE, UNCHECKED})
"""Stripe's values of a card check, which paykit's check attributes hold."""

PAYPAL_CVV_CHECKS: Final[Mapping[str, str]] = {
    # Visa, Mastercard, Discover, American Express:
    "M": PASS,  # the CVV2/CSC matches
    "N": FAIL,  # the CVV2/CSC does not match
    "E": UNAVAILABLE,  # error: unrecognised or unknown response
    "I": UNAVAILABLE,  # invalid or null
    "P": UNAVAILABLE,  # not processed
    "S": UNAVAILABLE,  # the service is not supported
    "U": UNAVAILABLE,  # unknown: the issuer is not certified
    "X": UNAVAILABLE,  # no response (for Maestro: the service is not available)
    # Maestro:
    "0": PASS,  # matched CVV2
    "1": FAIL,  # no match
    "2": UNAVAILABLE,  # the merchant has not implemented CVV2 code handling
    "3": UNAVAILABLE,  # the merchant has indicated that CVV2 is not present on the card
    "4": UNAVAILABLE,  # service not available
}
"""PayPal's ``processor_response.cvv_code`` -> Stripe's ``cvc_check``; any other code
(PayPal's enum ends with "All others": an error) is ``unavailable``."""

PAYPAL_AVS_CHECKS: Final[Mapping[str, str]] = {
    # Visa, Mastercard, Discover, American Express. Stripe reports the street line and the
    # postal code as two checks, and ``address_check`` is ``fail`` when either failed; a
    # partial match counts as ``pass`` here only when the part that did not match was not
    # verified at all (B, P: incompatible formats abroad) -- as Stripe's ``pass`` beside
    # ``unavailable`` makes ``pass``. A partial match whose other part was checked and did
    # not match (A, W, Z, Maestro 2) is ``fail``, as Stripe's ``pass`` beside ``fail`` is,
    # so that a rule on ``:provider_address_check:`` reads the same with either provider.
    "A": FAIL,  # address only: the street matched, the ZIP code did not
    "B": PASS,  # international "A": the street matched, the postal code was not verified
    "C": FAIL,  # international "N": nothing matched
    "D": PASS,  # international "X": address and postal code matched
    "E": UNAVAILABLE,  # not allowed for MOTO (internet/phone) transactions
    "F": PASS,  # UK-specific "X": address and postal code matched
    "G": UNAVAILABLE,  # global unavailable
    "I": UNAVAILABLE,  # international unavailable
    "M": PASS,  # address and postal code matched
    "N": FAIL,  # no: nothing matched
    "P": PASS,  # postal (international "Z"): the postal code matched, the street not verified
    "R": UNAVAILABLE,  # retry: the issuer's system was unavailable
    "S": UNAVAILABLE,  # the service is not supported
    "U": UNAVAILABLE,  # unavailable
    "W": FAIL,  # whole ZIP: the nine-digit ZIP code matched, the street did not
    "X": PASS,  # exact match: street and nine-digit ZIP code
    "Y": PASS,  # yes: street and five-digit ZIP code
    "Z": FAIL,  # ZIP: the five-digit ZIP code matched, the street did not
    "Null": UNAVAILABLE,  # not applicable
    # Maestro:
    "0": PASS,  # all the address information matched
    "1": FAIL,  # none of the address information matched
    "2": FAIL,  # part of the address information matched (the rest did not)
    "3": UNAVAILABLE,  # the merchant did not provide AVS information: not processed
    "4": UNAVAILABLE,  # address not checked, or the acquirer had no response
}
"""PayPal's ``processor_response.avs_code`` -> Stripe's vocabulary (``address_check``); any
other code is ``unavailable``."""

_SELLER_PROTECTION: Final = {
    "ELIGIBLE": "eligible",
    "PARTIALLY_ELIGIBLE": "partially_eligible",
    "NOT_ELIGIBLE": "not_eligible",
}
"""PayPal's ``seller_protection.status``, lower-cased; another value is not reported."""


@attrs.frozen
class ProviderSignal:
    """The provider's risk assessment of a charge, and the card network's checks.

    ``cvc_check`` and ``address_check`` hold Stripe's values (``pass``, ``fail``,
    ``unavailable``, ``unchecked``) whichever provider answered; ``seller_protection``
    (``eligible``, ``partially_eligible``, ``not_eligible``) is PayPal's alone.
    """

    risk_level: str | None = None
    risk_score: int | None = None
    cvc_check: str | None = None
    address_check: str | None = None
    seller_protection: str | None = None

    def fields(self) -> dict[str, str | int | None]:
        """The signal under the names the assessment, the rules and the audit log give it."""
        return {
            "provider_risk_level": self.risk_level,
            "provider_risk_score": self.risk_score,
            "provider_cvc_check": self.cvc_check,
            "provider_address_check": self.address_check,
            "provider_seller_protection": self.seller_protection,
        }


def provider_signal(result: GatewayResult) -> ProviderSignal | None:
    """The signal in a charge answer, or ``None`` when the provider gave none."""
    raw = result.raw
    signal = _paypal_signal(raw) if "purchase_units" in raw else _stripe_signal(raw)
    return None if signal == ProviderSignal() else signal


# -- Stripe -----------------------------------------------------------------------------------


def _stripe_signal(raw: Mapping[str, Any]) -> ProviderSignal:
    outcome = _on_charge(raw, _outcome) or {}
    checks = _on_charge(raw, _checks) or {}
    level = outcome.get("risk_level")
    score = outcome.get("risk_score")
    return ProviderSignal(
        risk_level=level if isinstance(level, str) and level else None,
        risk_score=score if isinstance(score, int) and not isinstance(score, bool) else None,
        cvc_check=_stripe_check(checks.get("cvc_check")),
        address_check=_address_check(
            _stripe_check(checks.get("address_postal_code_check")),
            _stripe_check(checks.get("address_line1_check")),
        ),
    )


def _on_charge(
    raw: Mapping[str, Any], part: Callable[[Mapping[str, Any]], Mapping[str, Any] | None]
) -> Mapping[str, Any] | None:
    """``part`` of the Charge: the object itself, an expanded ``latest_charge``, or listed."""
    for holder in (raw, raw.get("latest_charge"), *_listed_charges(raw)):
        if isinstance(holder, Mapping):
            found = part(holder)
            if found is not None:
                return found
    return None


def _outcome(charge: Mapping[str, Any]) -> Mapping[str, Any] | None:
    outcome = charge.get("outcome")
    return outcome if isinstance(outcome, Mapping) else None


def _checks(charge: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """``payment_method_details.card.checks`` (a card payment's only)."""
    details = charge.get("payment_method_details")
    card = details.get("card") if isinstance(details, Mapping) else None
    checks = card.get("checks") if isinstance(card, Mapping) else None
    return checks if isinstance(checks, Mapping) else None


def _listed_charges(raw: Mapping[str, Any]) -> list[object]:
    """Older API versions list the charges of a PaymentIntent under ``charges.data``."""
    charges = raw.get("charges")
    if isinstance(charges, Mapping) and isinstance(charges.get("data"), list):
        return list(charges["data"])
    return []


def _stripe_check(value: object) -> str | None:
    """A Stripe check as given; ``unavailable`` for a value Stripe does not document."""
    if value is None:
        return None
    return value if isinstance(value, str) and value in _CHECKS else UNAVAILABLE


def _address_check(*checks: str | None) -> str | None:
    """One check of the address from its parts (the postal code, the street line).

    ``fail`` if a part failed, else ``pass`` if one passed, else the first reported
    (``unavailable``, ``unchecked``): a failed part is what a rule must not miss.
    """
    present = [check for check in checks if check is not None]
    if FAIL in present:
        return FAIL
    if PASS in present:
        return PASS
    return present[0] if present else None


# -- PayPal -----------------------------------------------------------------------------------


def _paypal_signal(order: Mapping[str, Any]) -> ProviderSignal:
    """The signal of the order's latest authorization or capture that carries each part."""
    latest_first = list(reversed(_money_movements(order)))
    response = _latest(latest_first, "processor_response")
    protection = _latest(latest_first, "seller_protection")
    status = protection.get("status")
    return ProviderSignal(
        cvc_check=_paypal_code(response.get("cvv_code"), PAYPAL_CVV_CHECKS),
        address_check=_paypal_code(response.get("avs_code"), PAYPAL_AVS_CHECKS),
        seller_protection=_SELLER_PROTECTION.get(status) if isinstance(status, str) else None,
    )


def _money_movements(order: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The authorizations, then the captures, of every purchase unit (paykit sends one).

    A capture follows the authorization it takes, so the last of the list is the latest.
    """
    found: list[Mapping[str, Any]] = []
    units = order.get("purchase_units")
    for unit in units if isinstance(units, list) else []:
        payments = unit.get("payments") if isinstance(unit, Mapping) else None
        if not isinstance(payments, Mapping):
            continue
        for kind in ("authorizations", "captures"):
            listed = payments.get(kind)
            if isinstance(listed, list):
                found.extend(item for item in listed if isinstance(item, Mapping))
    return found


def _latest(latest_first: list[Mapping[str, Any]], name: str) -> Mapping[str, Any]:
    for movement in latest_first:
        part = movement.get(name)
        if isinstance(part, Mapping):
            return part
    return {}


def _paypal_code(code: object, table: Mapping[str, str]) -> str | None:
    """A network code in Stripe's vocabulary: ``unavailable`` if unknown, ``None`` if absent."""
    if code is None:
        return None
    return table.get(code, UNAVAILABLE) if isinstance(code, str) else UNAVAILABLE
