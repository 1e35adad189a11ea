"""Which gateway serves which payment method type: configuration, not code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from paykit.domain.payment_method import PaymentMethodType
from paykit.errors import UnsupportedPaymentMethodError, ValidationError
from paykit.gateways.base import Gateway
from paykit.money import currency_exponent

__all__ = ["GatewayRegistry", "Route"]

Route = Gateway | Sequence[Gateway]
"""One gateway, or gateways in the order to try them (the first is the primary)."""

RouteKey = PaymentMethodType | str | tuple[PaymentMethodType | str, str]
"""A payment method type, or a (method type, currency) pair for a currency-specific route."""


class GatewayRegistry:
    """Routes payments to gateways and finds gateways by provider name.

    ::

        GatewayRegistry({
            "credit_card": [stripe_eu, stripe_us],     # stripe_us only if stripe_eu fails over
            ("credit_card", "USD"): [stripe_us],       # a currency-specific route wins
            "digital_wallet": [stripe_eu, stripe_us],  # wallets go to the card gateways
            "paypal": paypal,
            "bank_transfer": manual,
        })

    Later gateways in a route are tried only when an earlier one definitely did not take the
    money (see ``PaymentService.process_payment``), with the same payment method token: put
    gateways in one route only if they accept the same tokens (several accounts of one
    provider, or gateways behind one tokenization service).
    """

    def __init__(self, routes: Mapping[RouteKey, Route]) -> None:
        self._routes: dict[tuple[PaymentMethodType, str | None], tuple[Gateway, ...]] = {}
        self._by_name: dict[str, Gateway] = {}
        for key, route in routes.items():
            method_type, currency = key if isinstance(key, tuple) else (key, None)
            if currency is not None:
                currency_exponent(currency, field="gateways")  # a real ISO 4217 code
            gateways = (route,) if isinstance(route, Gateway) else tuple(route)
            if not gateways:
                msg = f"the route for {key!r} names no gateway"
                raise ValidationError(msg, field="gateways")
            self._routes[parse_method_type(method_type, "gateways"), currency] = gateways
            for gateway in gateways:
                known = self._by_name.setdefault(gateway.name, gateway)
                if known is not gateway:
                    msg = (
                        f"two different gateways are both named {gateway.name!r}; payments "
                        "record the gateway by name, so each must have its own"
                    )
                    raise ValidationError(msg, field="gateways")

    def route(
        self, method_type: PaymentMethodType, currency: str | None = None
    ) -> tuple[Gateway, ...]:
        """The gateways for ``method_type`` (in ``currency``), in the order to try them."""
        route = self._routes.get((method_type, currency)) or self._routes.get((method_type, None))
        if route is None and method_type is PaymentMethodType.DIGITAL_WALLET:
            # Apple Pay, Google Pay and friends are cards underneath: without a route of
            # their own they go to the card gateways.
            return self.route(PaymentMethodType.CREDIT_CARD, currency)
        if route is None:
            configured = ", ".join(sorted({str(t) for t, _ in self._routes})) or "none"
            msg = (
                f"no gateway is configured for {method_type!s} payments (configured: "
                f"{configured}); add one to the service's gateways"
            )
            raise UnsupportedPaymentMethodError(msg)
        return route

    def for_method_type(
        self, method_type: PaymentMethodType, currency: str | None = None
    ) -> Gateway:
        """The primary gateway for ``method_type`` (in ``currency``)."""
        return self.route(method_type, currency)[0]

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
