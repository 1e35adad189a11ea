"""paykit's Stripe adapter (the ``paykit[stripe]`` extra): PaymentIntents over the official SDK.

::

    from paykit.gateways.stripe import StripeGateway

    stripe_gateway = StripeGateway(
        api_key=os.environ["STRIPE_SECRET_KEY"],
        webhook_secrets=[os.environ["STRIPE_WEBHOOK_SECRET"]],
    )
    service = PaymentService(storage, gateways={"credit_card": stripe_gateway})

To test an application against :class:`StripeGateway` offline, use ``FakeStripe``, a
scripted, in-process Stripe behind ``httpx.MockTransport``, from its home
:mod:`paykit.testing.fake_stripe`. ``FakeStripe``, ``FakeToken`` and ``Fault`` are still
importable from here; the fake is loaded only when one of them is used, so the adapter alone
never loads it.

This package imports ``stripe`` and ``httpx``; ``import paykit`` never imports it.
"""

import importlib
from typing import TYPE_CHECKING, Final

from paykit.gateways.stripe._amounts import from_stripe_amount, stripe_exponent, to_stripe_amount
from paykit.gateways.stripe._gateway import StripeGateway
from paykit.gateways.stripe._http import HttpxStripeClient

if TYPE_CHECKING:
    from paykit.testing.fake_stripe import FakeStripe, FakeToken, Fault

__all__ = [
    "FakeStripe",
    "FakeToken",
    "Fault",
    "HttpxStripeClient",
    "StripeGateway",
    "from_stripe_amount",
    "stripe_exponent",
    "to_stripe_amount",
]

_FAKE: Final = frozenset({"FakeStripe", "FakeToken", "Fault"})


def __getattr__(name: str) -> object:
    """The fake's names, from :mod:`paykit.testing.fake_stripe` on first use."""
    if name in _FAKE:
        return getattr(importlib.import_module("paykit.testing.fake_stripe"), name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
