"""RiskContext: what the host knows about the person paying, handed to screening.

A context given to ``create_payment`` waits on the payment (``Payment.risk_context``) until
the claim screens it; :meth:`RiskContext.document` is the form storage keeps it in.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

import attrs

from paykit.domain.pci import reject_card_data
from paykit.errors import ValidationError

__all__ = ["RiskContext"]

_MAX_TEXT = 255
_MICROSECOND: Final = timedelta(microseconds=1)
_AGE_KEY: Final = "account_age_microseconds"


def _checked_text(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("must be a non-empty string or None", field=field)
    value = value.strip()
    if len(value) > _MAX_TEXT:
        raise ValidationError(f"at most {_MAX_TEXT} characters", field=field)
    reject_card_data(field, value)
    return value


def _checked_country(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 2 or not (value.isascii() and value.isalpha()):  # noqa: PLR2004 - ISO 3166-1 alpha-2
        raise ValidationError("must be a two-letter ISO 3166-1 country code", field=field)
    return value.upper()


def _email(value: object) -> str | None:
    text = _checked_text(value, "risk.email")
    if text is None:
        return None
    if text.count("@") != 1 or text.startswith("@") or text.endswith("@"):
        raise ValidationError("must be an email address (name@domain)", field="risk.email")
    return text.lower()


def _device(value: object) -> str | None:
    return _checked_text(value, "risk.device_id")


def _ip_country(value: object) -> str | None:
    return _checked_country(value, "risk.ip_country")


def _billing_country(value: object) -> str | None:
    return _checked_country(value, "risk.billing_country")


def _shipping_country(value: object) -> str | None:
    return _checked_country(value, "risk.shipping_country")


def _ip(value: object) -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise ValidationError("must be an IPv4 or IPv6 address", field="risk.ip_address") from None


def _age(value: object) -> timedelta | None:
    if value is None:
        return None
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise ValidationError("must be a timedelta of zero or more", field="risk.account_age")
    return value


@attrs.frozen(kw_only=True)
class RiskContext:
    """What the host knows about a payment's customer, for fraud screening; all optional.

    Pass it to ``create_payment`` or ``process_payment`` (``risk=RiskContext(...)``). Values
    are normalised on the way in: the email lower-cased, countries upper-cased (ISO 3166-1
    alpha-2), the IP address in its canonical form. Card country, card fingerprint and wallet
    are not here: they come from the saved payment method, as the provider reported them.
    Nothing here may hold a card number (refused like any other field).
    """

    email: str | None = attrs.field(default=None, converter=_email)
    ip_address: str | None = attrs.field(default=None, converter=_ip)
    ip_country: str | None = attrs.field(default=None, converter=_ip_country)
    billing_country: str | None = attrs.field(
        default=None,
        converter=_billing_country,
    )
    shipping_country: str | None = attrs.field(
        default=None,
        converter=_shipping_country,
    )
    device_id: str | None = attrs.field(default=None, converter=_device)
    account_age: timedelta | None = attrs.field(default=None, converter=_age)
    """How long the customer has had an account with the host."""

    @property
    def email_domain(self) -> str | None:
        """The part of the email after the ``@``."""
        return None if self.email is None else self.email.rsplit("@", 1)[1]

    def merged_over(self, earlier: RiskContext) -> RiskContext:
        """This context, with the fields it leaves unset taken from ``earlier``."""
        values = {
            field.name: getattr(self, field.name)
            if getattr(self, field.name) is not None
            else getattr(earlier, field.name)
            for field in attrs.fields(RiskContext)
        }
        return RiskContext(**values)

    def document(self) -> dict[str, str | int]:
        """The fields given, as JSON: the account's age in whole microseconds (exact)."""
        document: dict[str, str | int] = {}
        for field in attrs.fields(RiskContext):
            value = getattr(self, field.name)
            if isinstance(value, timedelta):
                document[_AGE_KEY] = value // _MICROSECOND
            elif value is not None:
                document[field.name] = value
        return document

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> RiskContext:
        """The context :meth:`document` wrote (checked again on the way in)."""
        values = {name: value for name, value in document.items() if name != _AGE_KEY}
        microseconds = document.get(_AGE_KEY)
        age = None if microseconds is None else microseconds * _MICROSECOND
        return cls(**values, account_age=age)
