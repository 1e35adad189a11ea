"""The attributes a fraud rule may name (``:amount:``, ``:card_country:``...), and their kinds.

Three families:

* fixed names (:data:`ATTRIBUTES`): the payment, the :class:`RiskContext`, the saved
  method's card details, the external scorer's answer, and -- after authorization only --
  the provider's own risk signal and card checks;
* ``:amount_in_<currency>:``, the amount converted with the host's rate table
  (:class:`ExchangeRates`), e.g. ``:amount_in_usd:``;
* velocity counters ``:<metric>_per_<key>_<N><unit>:``, counted from paykit's own storage
  over the last N minutes (``m``), hours (``h``) or days (``d``): ``metric`` is ``payments``,
  ``declines`` or ``amount`` (a total in the payment's currency), ``key`` is ``customer``,
  ``email``, ``card`` (fingerprint) or ``ip``. E.g. ``:payments_per_card_1h:``,
  ``:declines_per_ip_10m:``, ``:amount_per_email_24h:``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Final

import attrs

from paykit._currency_table import ISO_4217_MINOR_UNITS

__all__ = [
    "ATTRIBUTES",
    "POST_AUTHORIZATION_ATTRIBUTES",
    "Kind",
    "Velocity",
    "kind_of",
    "parse_conversion",
    "parse_velocity",
]


class Kind(StrEnum):
    """What kind of value an attribute holds, which decides the operators it takes."""

    NUMBER = "number"
    TEXT = "text"
    BOOLEAN = "boolean"


ATTRIBUTES: Final[dict[str, Kind]] = {
    "amount": Kind.NUMBER,
    "currency": Kind.TEXT,
    "customer_id": Kind.TEXT,
    "payment_method_type": Kind.TEXT,
    "email": Kind.TEXT,
    "email_domain": Kind.TEXT,
    "ip_address": Kind.TEXT,
    "ip_country": Kind.TEXT,
    "billing_country": Kind.TEXT,
    "shipping_country": Kind.TEXT,
    "device_id": Kind.TEXT,
    "account_age_days": Kind.NUMBER,
    "card_country": Kind.TEXT,
    "card_fingerprint": Kind.TEXT,
    "card_brand": Kind.TEXT,
    "wallet": Kind.TEXT,
    "scorer_score": Kind.NUMBER,
    "scorer_unavailable": Kind.BOOLEAN,
}
"""Attributes known before the provider is called."""

POST_AUTHORIZATION_ATTRIBUTES: Final[dict[str, Kind]] = {
    "provider_risk_level": Kind.TEXT,
    "provider_risk_score": Kind.NUMBER,
    "provider_cvc_check": Kind.TEXT,
    "provider_address_check": Kind.TEXT,
    "provider_seller_protection": Kind.TEXT,
}
"""The provider's own signal: Stripe Radar's ``outcome.risk_level`` / ``risk_score``, the card
checks (``pass``, ``fail``, ``unavailable``, ``unchecked``; PayPal's AVS and CVV codes put in
those words) and PayPal's seller protection (``eligible``, ``partially_eligible``,
``not_eligible``). Only rules with ``stage = "after_authorization"`` may use these."""

VELOCITY_KEYS: Final = {
    "customer": "customer_id",
    "email": "email",
    "card": "card_fingerprint",
    "ip": "ip_address",
}
"""Rule spelling -> the stored field a counter groups by."""

_UNITS: Final = {"m": "minutes", "h": "hours", "d": "days"}
_MAX_WINDOW: Final = timedelta(days=90)
_VELOCITY: Final = re.compile(
    r"(?P<metric>payments|declines|amount)_per_(?P<key>customer|email|card|ip)_"
    r"(?P<count>[1-9][0-9]{0,4})(?P<unit>[mhd])"
)
_CONVERSION: Final = re.compile(r"amount_in_(?P<currency>[a-z]{3})")


@attrs.frozen
class Velocity:
    """One velocity counter: ``metric`` of the payments sharing ``key`` in the last ``window``."""

    metric: str
    key: str
    """The stored field (``card_fingerprint``), not the rule's spelling (``card``)."""
    window: timedelta


def parse_velocity(name: str) -> Velocity | None:
    """The counter an attribute name spells, or ``None`` if it is not a velocity counter.

    Raises ``ValueError`` for a window above 90 days.
    """
    match = _VELOCITY.fullmatch(name)
    if match is None:
        return None
    window = timedelta(**{_UNITS[match["unit"]]: int(match["count"])})
    if window > _MAX_WINDOW:
        msg = f"the window of :{name}: is longer than 90 days"
        raise ValueError(msg)
    return Velocity(match["metric"], VELOCITY_KEYS[match["key"]], window)


def parse_conversion(name: str) -> str | None:
    """The currency ``:amount_in_<currency>:`` converts to, or ``None`` for another name."""
    match = _CONVERSION.fullmatch(name)
    if match is None:
        return None
    currency = match["currency"].upper()
    if currency not in ISO_4217_MINOR_UNITS:
        msg = f":{name}: names {currency}, which is not an ISO 4217 currency"
        raise ValueError(msg)
    return currency


def kind_of(name: str, *, after_authorization: bool) -> Kind | None:
    """The kind of attribute ``name``, or ``None`` if there is no such attribute (at that stage).

    Raises ``ValueError`` with the reason for a name that is almost right (a 120-day window,
    an unknown currency, a provider signal before authorization).
    """
    if name in ATTRIBUTES:
        return ATTRIBUTES[name]
    if name in POST_AUTHORIZATION_ATTRIBUTES:
        if not after_authorization:
            msg = (
                f":{name}: is known only after the provider answered; use it in a rule "
                'with stage = "after_authorization"'
            )
            raise ValueError(msg)
        return POST_AUTHORIZATION_ATTRIBUTES[name]
    if parse_velocity(name) is not None or parse_conversion(name) is not None:
        return Kind.NUMBER
    return None
