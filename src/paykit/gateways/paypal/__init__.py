"""paykit's PayPal adapter (the ``paykit[paypal]`` extra): Orders v2 on ``httpx``, no SDK.

::

    from paykit.gateways.paypal import PayPalGateway

    paypal = PayPalGateway(
        os.environ["PAYPAL_CLIENT_ID"],
        os.environ["PAYPAL_CLIENT_SECRET"],
        environment="live",
        return_url="https://shop.example/paypal/return",
        webhook_id=os.environ["PAYPAL_WEBHOOK_ID"],
    )
    service = PaymentService(storage, gateways={"paypal": paypal})

A checkout (token :data:`CHECKOUT_TOKEN`) answers ``requires_action`` with PayPal's approval
link; once the payer is back, ``service.reconcile_payment`` captures the approved order. A
PayPal vault id (a saved PayPal account or card) is charged at once.

:class:`FakePayPal` is a scripted, in-process PayPal behind ``httpx.MockTransport`` for
testing an application against :class:`PayPalGateway` offline.

This package imports ``httpx``, ``anyio`` and ``cryptography``; ``import paykit`` never
imports it.
"""

from paykit.gateways.paypal._amounts import (
    PAYPAL_CURRENCIES,
    from_paypal_money,
    paypal_exponent,
    to_paypal_value,
)
from paykit.gateways.paypal._fake import (
    FakePayer,
    FakePayPal,
    FakeVault,
    Fault,
    FaultKind,
    LedgerLine,
    RecordedRequest,
    WebhookSigner,
)
from paykit.gateways.paypal._gateway import PayPalGateway
from paykit.gateways.paypal._http import LIVE_URL, SANDBOX_URL
from paykit.gateways.paypal._mapping import CHECKOUT_TOKEN, request_id

__all__ = [
    "CHECKOUT_TOKEN",
    "LIVE_URL",
    "PAYPAL_CURRENCIES",
    "SANDBOX_URL",
    "FakePayPal",
    "FakePayer",
    "FakeVault",
    "Fault",
    "FaultKind",
    "LedgerLine",
    "PayPalGateway",
    "RecordedRequest",
    "WebhookSigner",
    "from_paypal_money",
    "paypal_exponent",
    "request_id",
    "to_paypal_value",
]
