"""Which gateway serves which payment method type: configuration, not code."""

from __future__ import annotations

from collections.abc import Mapping

from paykit.domain.payment_method import PaymentMethodType
from paykit.errors import UnsupportedPaymentMethodError, ValidationError
from paykit.gateways.base import Gateway

__all__ = ["GatewayRegistry"]


class GatewayRegistry:
    """Routes payment method types to gateways and finds gateways by provider name.

    ``GatewayRegistry({"credit_card": stripe, "digital_wallet": stripe, "paypal": paypal})``
    """

    def __init__(self, routes: Mapping[PaymentMethodType | str, Gateway]) -> None:
        self._routes: dict[PaymentMethodType, Gateway] = {}
        self._by_name: dict[str, Gateway] = {}
        for method_type, gateway in routes.items():
            self._routes[parse_method_type(method_type)] = gateway
            known = self._by_name.setdefault(gateway.name, gateway)
            if known is not gateway:
                msg = (
                    f"two different gateways are both named {gateway.name!r}; payments record "
                    "the gateway by name, so each must have its own"
                )
                raise ValidationError(msg, field="gateways")

    def for_method_type(self, method_type: PaymentMethodType) -> Gateway:
        """The gateway configured for ``method_type``."""
        try:
            return self._routes[method_type]
        except KeyError:
            configured = ", ".join(sorted(self._routes)) or "none"
            msg = (
                f"no gateway is configured for {method_type!s} payments (configured: "
                f"{configured}); add one to the service's gateways"
            )
            raise UnsupportedPaymentMethodError(msg) from None

    def find(self, name: str) -> Gateway | None:
        """The gateway whose provider name is ``name``, or ``None`` if none is configured."""
        return self._by_name.get(name)

    def by_name(self, name: str) -> Gateway:
        """The gateway whose provider name is ``name``."""
        try:
            return self._by_name[name]
        except KeyError:
            msg = f"no gateway named {name!r} is configured; configured: {sorted(self._by_name)}"
            raise UnsupportedPaymentMethodError(msg) from None


def parse_method_type(value: PaymentMethodType | str, field: str = "type") -> PaymentMethodType:
    """Turn ``"credit_card"`` into ``PaymentMethodType.CREDIT_CARD`` or say what is allowed."""
    try:
        return PaymentMethodType(value)
    except ValueError:
        allowed = ", ".join(t.value for t in PaymentMethodType)
        msg = f"{value!r} is not a payment method type; use one of: {allowed}"
        raise ValidationError(msg, field=field) from None
