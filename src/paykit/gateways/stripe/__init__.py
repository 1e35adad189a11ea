"""paykit's Stripe adapter (the ``paykit[stripe]`` extra): PaymentIntents over the official SDK.

::

    from paykit.gateways.stripe import StripeGateway

    stripe_gateway = StripeGateway(
        api_key=os.environ["STRIPE_SECRET_KEY"],
        webhook_secrets=[os.environ["STRIPE_WEBHOOK_SECRET"]],
    )
    service = PaymentService(storage, gateways={"credit_card": stripe_gateway})

:class:`FakeStripe` is a scripted, in-process Stripe behind ``httpx.MockTransport`` for
testing an application against :class:`StripeGateway` offline.

This package imports ``stripe`` and ``httpx``; ``import paykit`` never imports it.
"""

from paykit.gateways.stripe._amounts import from_stripe_amount, stripe_exponent, to_stripe_amount
from paykit.gateways.stripe._fake import FakeStripe, FakeToken, Fault
from paykit.gateways.stripe._gateway import StripeGateway
from paykit.gateways.stripe._http import HttpxStripeClient

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
