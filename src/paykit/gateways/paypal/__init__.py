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

To test an application against :class:`PayPalGateway` offline, use ``FakePayPal``, a
scripted, in-process PayPal behind ``httpx.MockTransport``, from its home
:mod:`paykit.testing.fake_paypal`. ``FakePayPal`` and its helpers (``FakePayer``,
``FakeVault``, ``Fault``, ``LedgerLine``, ``RecordedRequest``, ``WebhookSigner``) are still
importable from here, and so is ``FaultKind`` (now :class:`paykit.testing.faults.FaultKind`);
the fake is loaded only when one of them is used, so the adapter alone never loads it.

This package imports ``httpx``, ``anyio`` and ``cryptography``; ``import paykit`` never
imports it.
"""

import importlib
from typing import TYPE_CHECKING, Final

from paykit.gateways.paypal._amounts import (
    PAYPAL_CURRENCIES,
    from_paypal_money,
    paypal_exponent,
    to_paypal_value,
)
from paykit.gateways.paypal._gateway import PayPalGateway
from paykit.gateways.paypal._http import LIVE_URL, SANDBOX_URL
from paykit.gateways.paypal._mapping import CHECKOUT_TOKEN, request_id

if TYPE_CHECKING:
    from paykit.testing.fake_paypal import (
        FakePayer,
        FakePayPal,
        FakeVault,
        Fault,
        LedgerLine,
        RecordedRequest,
        WebhookSigner,
    )
    from paykit.testing.faults import FaultKind

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

_HOMES: Final = {
    **dict.fromkeys(
        (
            "FakePayPal",
            "FakePayer",
            "FakeVault",
            "Fault",
            "LedgerLine",
            "RecordedRequest",
            "WebhookSigner",
        ),
        "paykit.testing.fake_paypal",
    ),
    "FaultKind": "paykit.testing.faults",
}


def __getattr__(name: str) -> object:
    """The fake's names, from :mod:`paykit.testing.fake_paypal` on first use."""
    home = _HOMES.get(name)
    if home is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(home), name)
