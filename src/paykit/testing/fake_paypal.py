"""``FakePayPal``: a scripted, in-process PayPal behind ``httpx.MockTransport``.

Test against :class:`~paykit.gateways.paypal.PayPalGateway` offline with it::

    from paykit.testing.fake_paypal import FakePayPal, FakeVault, Fault

    fake = FakePayPal()
    gateway = PayPalGateway(fake.client_id, fake.client_secret, transport=fake.transport)

(``paykit.gateways.paypal`` still re-exports this module's names, and imports it only when
one of them is used.)

It answers the part of PayPal's REST API that :class:`~paykit.gateways.paypal.PayPalGateway`
uses -- the OAuth2 token, Orders v2 (create, show, update, authorize, capture), Payments v2
(authorizations: show, capture, void; captures: show, refund; refunds: show), webhook
signature verification and the webhook signing certificate -- as a small state machine with
PayPal's object shapes and error bodies (every answer validates against PayPal's OpenAPI
schemas; paykit's tests check that). It honours ``PayPal-Request-Id`` the way PayPal
documents it: a known id answers with the latest state of what the first request created
(HTTP 200), whatever the new body says; an error answer is not remembered.

Behaviour is chosen by the payment-method token, as paykit sends it:

================================================  ==================================================
token                                             what happens
================================================  ==================================================
``paypal:checkout`` (optionally ``:<email>``)     ``PAYER_ACTION_REQUIRED`` until
                                                  :meth:`FakePayPal.approve`; then paykit captures.
                                                  The payer e-mails in :class:`FakePayer` script
                                                  declines, pending captures and failing refunds.
:data:`FakeVault.SUCCESS` (any other vault id)    paid (or authorized) at once
:data:`FakeVault.DECLINED`                        422 ``INSTRUMENT_DECLINED``; no order is made
:data:`FakeVault.PROCESSOR_DECLINED`              the order completes with a DECLINED capture
                                                  (DENIED authorization) and a processor code
:data:`FakeVault.REQUIRES_3DS`                    ``PAYER_ACTION_REQUIRED`` until approved
:data:`FakeVault.PENDING`                         the capture is PENDING (``PENDING_REVIEW``)
:data:`FakeVault.LOST_ANSWER`                     paid, but the first answer is lost
                                                  (``httpx.ReadTimeout``); a retry with the same
                                                  ``PayPal-Request-Id`` gets the order
:data:`FakeVault.REFUND_FAILS`                    paid; its refunds come back FAILED
================================================  ==================================================

A card payment's authorizations and captures carry ``processor_response`` with AVS code ``Y``
and CVV code ``M`` (both matched), every payment ``seller_protection`` ``ELIGIBLE``:
:meth:`FakePayPal.set_checks` and :meth:`FakePayPal.set_seller_protection` script others.

:meth:`FakePayPal.inject` scripts faults for the next matching requests, named as everywhere
in paykit's test kit (:class:`~paykit.testing.faults.FaultKind`): ``Fault.connection_refused()``,
``Fault.timeout_after_success()``, ``Fault.dropped_response()`` and ``Fault.error(status,
issue, description)``, an error answer in PayPal's shape. Every request is recorded in
:attr:`FakePayPal.requests`, every movement of money in :attr:`FakePayPal.ledger`.
:meth:`FakePayPal.event` and :meth:`FakePayPal.sign_webhook` make genuine-looking webhooks,
signed by a throwaway certificate authority the fake generates (see :class:`WebhookSigner`)
and serves at a ``paypal.com`` certificate URL.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import itertools
import json
import re
import secrets
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Self
from urllib.parse import parse_qsl

import attrs
import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from paykit.testing._fake_http import FaultScript, ScriptedFault

__all__ = [
    "FakePayPal",
    "FakePayer",
    "FakeVault",
    "Fault",
    "LedgerLine",
    "RecordedRequest",
    "WebhookSigner",
]


class FakeVault:
    """Vault ids with scripted behaviour (see the module docstring)."""

    SUCCESS: Final = "fakevault-success"
    DECLINED: Final = "fakevault-instrument-declined"
    PROCESSOR_DECLINED: Final = "fakevault-processor-declined"
    REQUIRES_3DS: Final = "fakevault-3ds-required"
    PENDING: Final = "fakevault-pending-review"
    LOST_ANSWER: Final = "fakevault-lost-answer"
    REFUND_FAILS: Final = "fakevault-refund-fails"


class FakePayer:
    """Payer e-mails for ``paypal:checkout:<email>`` with scripted behaviour."""

    DECLINED: Final = "declined@buyer.example"
    """The payer approves, but the funding is declined when paykit captures."""
    PENDING: Final = "pending@buyer.example"
    """The capture stays PENDING (PENDING_REVIEW)."""
    REFUND_FAILS: Final = "refund-fails@buyer.example"
    """The payment succeeds; its refunds come back FAILED."""


_ERROR_MESSAGES: Final = {
    400: (
        "INVALID_REQUEST",
        "Request is not well-formed, syntactically incorrect, or violates schema.",
    ),
    401: (
        "AUTHENTICATION_FAILURE",
        (
            "Authentication failed due to missing authorization header, or invalid "
            "authentication credentials."
        ),
    ),
    403: ("NOT_AUTHORIZED", "Authorization failed due to insufficient permissions."),
    404: ("RESOURCE_NOT_FOUND", "The specified resource does not exist."),
    409: ("RESOURCE_CONFLICT", "The server has detected a conflict while processing this request."),
    422: (
        "UNPROCESSABLE_ENTITY",
        (
            "The requested action could not be performed, semantically incorrect, or failed "
            "business validation."
        ),
    ),
    429: ("RATE_LIMIT_REACHED", "Too many requests. Blocked due to rate limiting."),
    500: ("INTERNAL_SERVER_ERROR", "An internal server error occurred."),
    503: ("SERVICE_UNAVAILABLE", "Service Unavailable."),
}


def _error_body(
    status: int, issue: str | None = None, description: str | None = None
) -> dict[str, Any]:
    """A PayPal error object (``name``, ``message``, ``debug_id``, ``details``, ``links``)."""
    name, message = _ERROR_MESSAGES.get(
        status, ("INTERNAL_SERVER_ERROR", "An internal server error occurred.")
    )
    body: dict[str, Any] = {"name": name, "message": message, "debug_id": secrets.token_hex(7)}
    if issue is not None:
        detail: dict[str, Any] = {"issue": issue}
        if description is not None:
            detail["description"] = description
        body["details"] = [detail]
        body["links"] = [
            {
                "href": f"https://developer.paypal.com/api/rest/reference/orders/v2/errors/#{issue}",
                "rel": "information_link",
                "method": "GET",
            }
        ]
    return body


class Fault(ScriptedFault):
    """A failure scripted for a request to :class:`FakePayPal` (hand it to ``fake.inject``).

    :meth:`error` is an error answer in PayPal's shape; the other constructors are every
    fake's (``connection_refused``, ``timeout_after_success``, ``dropped_response``).
    """

    @classmethod
    def error(cls, status: int, issue: str | None = None, description: str | None = None) -> Self:
        """PayPal answers ``status`` with its error object (and ``issue`` in ``details``).

        PayPal answers instead of acting; the status gives the kind (``rate_limited``,
        ``server_error`` or ``error_response``).
        """
        return cls._answering(status, _error_body(status, issue, description))


@attrs.frozen
class RecordedRequest:
    """One request the fake received, as the adapter sent it."""

    method: str
    url: str
    path: str
    body: Any
    """The JSON body (or the form fields of a token request); ``None`` when there is none."""
    headers: dict[str, str] = attrs.field(repr=False)
    """Lower-cased header names; holds the ``Authorization`` header, so not in the repr."""
    content: bytes = attrs.field(repr=False)

    @property
    def request_id(self) -> str | None:
        """The ``PayPal-Request-Id`` header, if any."""
        return self.headers.get("paypal-request-id")


@attrs.frozen
class LedgerLine:
    """One movement of money the fake made."""

    kind: str
    """``charge``, ``authorization``, ``capture``, ``void`` or ``refund``."""
    object_id: str
    order_id: str
    amount: Decimal
    currency: str


@attrs.frozen
class _Answer:
    status: int
    body: Any = None
    lose: bool = False
    replay: Callable[[bool], Any] | None = None
    """Re-renders what this request created, for a later request with the same request id."""


@attrs.define
class _OrderState:
    """What the fake knows about an order beyond what PayPal shows."""

    token: str
    payer: str | None = None
    approved_by: str | None = None


_ZERO_DECIMAL: Final = frozenset({"HUF", "JPY", "TWD"})
_OK: Final = 200
_REDIRECT: Final = 300
_MERCHANT: Final = {"email_address": "merchant@shop.example", "merchant_id": "FAKEMERCHANT2"}
_API_HOST: Final = "https://api-m.sandbox.paypal.com"
_WEB_HOST: Final = "https://www.sandbox.paypal.com"
_CHECKOUT: Final = "paypal:checkout"
_VAULT_ID: Final = re.compile(r"[0-9a-zA-Z_-]{1,255}")


# -- webhook signing -----------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class WebhookSigner:
    """A throwaway certificate authority and signing certificate, signing like PayPal does.

    :meth:`generate` makes a root CA and a leaf issued to ``leaf_name`` (a ``paypal.com``
    host by default), valid from ``not_before`` to ``not_after``. :attr:`cert_pem` is what the
    fake serves at :attr:`cert_url`; :attr:`root_pem` is the root to trust offline.
    """

    def __init__(  # noqa: PLR0913 - the parts of a signing identity
        self,
        *,
        key: rsa.RSAPrivateKey,
        certificate: x509.Certificate,
        chain: list[x509.Certificate],
        root: x509.Certificate,
        cert_url: str,
        root_key: rsa.RSAPrivateKey | None = None,
    ) -> None:
        self._key = key
        self.root_key = root_key
        """The root's private key, to issue more certificates under the same root."""
        self.certificate = certificate
        self.chain = chain
        self.root = root
        self.cert_url = cert_url

    def __repr__(self) -> str:
        return f"WebhookSigner(cert_url={self.cert_url!r})"

    @classmethod
    def generate(  # noqa: PLR0913 - the facts of a certificate
        cls,
        *,
        leaf_name: str = "messageverificationcerts.sandbox.paypal.com",
        cert_url: str | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        root_key: rsa.RSAPrivateKey | None = None,
        root: x509.Certificate | None = None,
    ) -> WebhookSigner:
        """A new root (unless ``root`` and ``root_key`` are given) and a leaf signed by it."""
        now = dt.datetime.now(dt.UTC)
        start = not_before or now - dt.timedelta(days=1)
        end = not_after or now + dt.timedelta(days=365)
        if root is None or root_key is None:
            root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            root = (
                x509.CertificateBuilder()
                .subject_name(_name("paykit fake PayPal root CA"))
                .issuer_name(_name("paykit fake PayPal root CA"))
                .public_key(root_key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=2))
                .not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(root_key, hashes.SHA256())
            )
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        leaf = (
            x509.CertificateBuilder()
            .subject_name(_name(leaf_name))
            .issuer_name(root.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(leaf_name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(root_key, hashes.SHA256())
        )
        url = (
            cert_url
            or f"{_API_HOST}/v1/notifications/certs/CERT-paykit-fake-{secrets.token_hex(6)}"
        )
        return cls(
            key=key, certificate=leaf, chain=[leaf], root=root, cert_url=url, root_key=root_key
        )

    @property
    def cert_pem(self) -> bytes:
        """The PEM served at :attr:`cert_url` (the leaf, then any intermediates)."""
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    @property
    def root_pem(self) -> bytes:
        """The root certificate, to pass as ``PayPalGateway(webhook_trust_roots=[...])``."""
        return self.root.public_bytes(serialization.Encoding.PEM)

    def signature(self, message: bytes) -> str:
        """Base64 SHA256withRSA signature of ``message``."""
        raw = self._key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(raw).decode("ascii")

    def sign(self, body: bytes, *, webhook_id: str, transmission_time: str) -> dict[str, str]:
        """The five ``PAYPAL-*`` headers PayPal would send with ``body``."""
        crc = zlib.crc32(body) & 0xFFFFFFFF
        while True:
            transmission_id = (
                f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-11ef-paykit-{secrets.token_hex(6)}"
            )
            message = f"{transmission_id}|{transmission_time}|{webhook_id}|{crc}".encode()
            sig = self.signature(message)
            if sig[0].isalnum():  # PayPal's schema wants a word character first
                break
        return {
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-TIME": transmission_time,
            "PAYPAL-TRANSMISSION-SIG": sig,
            "PAYPAL-CERT-URL": self.cert_url,
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        }

    def verifies(self, signature: str, message: bytes) -> bool:
        """Whether ``signature`` is this certificate's signature of ``message``."""
        key = self.certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):  # pragma: no cover - RSA by construction
            return False
        try:
            key.verify(
                base64.b64decode(signature, validate=True),
                message,
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            return False
        return True


_DEFAULT_SIGNER: list[WebhookSigner] = []
_SIGNER_LOCK = threading.Lock()


def _default_signer() -> WebhookSigner:
    """One generated signer per process: RSA keys take a moment to make."""
    with _SIGNER_LOCK:
        if not _DEFAULT_SIGNER:
            _DEFAULT_SIGNER.append(WebhookSigner.generate())
        return _DEFAULT_SIGNER[0]


# -- the fake ------------------------------------------------------------------------------------


class FakePayPal:
    """A scripted PayPal for offline tests and demos (see the module docstring).

    ``client_id`` / ``client_secret`` are the only credentials the token endpoint accepts;
    tokens live ``token_lifetime`` seconds on ``clock``. ``webhook_id`` names the webhook
    :meth:`sign_webhook` signs for by default. ``signer`` replaces the generated certificate.
    """

    def __init__(  # noqa: PLR0913 - every option is an independent seam
        self,
        *,
        client_id: str = "fake-client-id",
        client_secret: str = "fake-client-secret",  # noqa: S107 - the fake's own demo value
        webhook_id: str = "FAKEWEBHOOK1",
        token_lifetime: int = 32400,
        token_delay: float = 0.0,
        clock: Callable[[], float] = time.time,
        signer: WebhookSigner | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        """The only secret the token endpoint accepts (a demo value, not a credential)."""
        self.webhook_id = webhook_id
        self.token_lifetime = token_lifetime
        self._token_delay = token_delay
        self._clock = clock
        self.signer = signer or _default_signer()
        self._certificates: dict[str, WebhookSigner] = {self.signer.cert_url: self.signer}
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._tokens: dict[str, float] = {}
        self._orders: dict[str, dict[str, Any]] = {}
        self._states: dict[str, _OrderState] = {}
        self._authorizations: dict[str, str] = {}
        self._captures: dict[str, str] = {}
        self._refunds: dict[str, str] = {}
        self._refunded_capture: dict[str, str] = {}
        self._replies: dict[str, tuple[int, Callable[[bool], Any]]] = {}
        self._faults = FaultScript("PayPal")
        self.requests: list[RecordedRequest] = []
        """Every request received, in order."""
        self.ledger: list[LedgerLine] = []
        """Every movement of money, in order."""
        self.transport = httpx.MockTransport(self._handle)
        """The transport to hand to ``PayPalGateway(transport=...)`` (sync and async)."""
        self.card_checks: dict[str, dict[str, str]] = {}
        """``processor_response`` codes of card payments per vault id (see :meth:`set_checks`)."""
        self.seller_protection: dict[str, str] = {}
        """``seller_protection.status`` per vault id (see :meth:`set_seller_protection`)."""

    def __repr__(self) -> str:
        return f"FakePayPal(orders={len(self._orders)}, refunds={len(self._refunds)})"

    # -- scripting and inspection -------------------------------------------------------

    @property
    def token_requests(self) -> int:
        """How many token requests arrived."""
        with self._lock:
            return sum(1 for r in self.requests if r.path == "/v1/oauth2/token")

    def inject(
        self, fault: Fault, *, method: str | None = None, path: str | None = None, times: int = 1
    ) -> None:
        """Apply ``fault`` to the next ``times`` requests matching ``method`` and ``path``.

        ``path`` matches as a prefix (``"/v2/checkout/orders"`` covers its sub-paths).
        """
        self._faults.add(fault, method=method, path=path, times=times)

    def set_checks(self, vault_id: str, *, avs_code: str = "Y", cvv_code: str = "M") -> None:
        """Script the AVS and CVV codes of card payments made with ``vault_id``.

        Every authorization or capture of a card payment carries ``processor_response``
        (default: ``Y``, street and five-digit ZIP code matched; ``M``, the CVV2 matched).
        PayPal's codes are the card networks' (``N`` no match, ``U`` unavailable...).
        """
        with self._lock:
            self.card_checks[vault_id] = {"avs_code": avs_code, "cvv_code": cvv_code}

    def set_seller_protection(self, token: str, status: str) -> None:
        """Script ``seller_protection.status`` of payments made with ``token`` (a vault id).

        ``status`` is ``ELIGIBLE`` (the default), ``PARTIALLY_ELIGIBLE`` or ``NOT_ELIGIBLE``;
        ``"paypal:checkout"`` scripts every checkout.
        """
        with self._lock:
            self.seller_protection[token] = status

    def revoke_tokens(self) -> None:
        """Forget every access token issued so far (the next API call gets a 401)."""
        with self._lock:
            self._tokens.clear()

    def approve(self, order_id: str, *, payer: str | None = None) -> None:
        """Play the payer approving the order at PayPal (or passing 3-D Secure for a card).

        ``payer`` is the PayPal login used; a :class:`FakePayer` e-mail scripts what follows.
        """
        with self._lock:
            order = self._orders[order_id]
            state = self._states[order_id]
            if order["status"] not in ("CREATED", "PAYER_ACTION_REQUIRED"):
                msg = f"order {order_id} is {order['status']}, not waiting for the payer"
                raise ValueError(msg)
            email = payer or state.payer or "payer@buyer.example"
            state.approved_by = email
            order["status"] = "APPROVED"
            order["update_time"] = self._now()
            if "card" in order.get("payment_source", {}):
                order["payment_source"]["card"]["authentication_result"] = {
                    "liability_shift": "POSSIBLE",
                    "three_d_secure": {"enrollment_status": "Y", "authentication_status": "Y"},
                }
            else:
                order["payment_source"] = {"paypal": _payer_details(email)}
                order["payer"] = {
                    "name": {"given_name": "Pat", "surname": "Payer"},
                    "email_address": email,
                    "payer_id": "FAKEPAYER2345",
                }
            order["links"] = self._order_links(order_id, approved=True)

    def order(self, order_id: str) -> dict[str, Any]:
        """A copy of an order as ``GET /v2/checkout/orders/{id}`` shows it."""
        with self._lock:
            return copy.deepcopy(self._orders[order_id])

    def orders_for(self, payment_id: str) -> list[dict[str, Any]]:
        """Copies of the orders whose ``custom_id`` is paykit's ``payment_id``."""
        with self._lock:
            return [
                copy.deepcopy(order)
                for order in self._orders.values()
                if order["purchase_units"][0].get("custom_id") == payment_id
            ]

    def capture_of(self, order_id: str) -> dict[str, Any]:
        """The order's first capture as ``GET /v2/payments/captures/{id}`` shows it."""
        with self._lock:
            captures = self._orders[order_id]["purchase_units"][0]["payments"]["captures"]
            return self._capture_2(captures[0]["id"])

    def authorization_of(self, order_id: str) -> dict[str, Any]:
        """The order's authorization as ``GET /v2/payments/authorizations/{id}`` shows it."""
        with self._lock:
            auths = self._orders[order_id]["purchase_units"][0]["payments"]["authorizations"]
            return self._authorization_2(auths[-1]["id"])

    def refund(self, refund_id: str) -> dict[str, Any]:
        """A refund as ``GET /v2/payments/refunds/{id}`` shows it."""
        with self._lock:
            return copy.deepcopy(self._refund_obj(refund_id))

    def reverse(self, order_id: str, amount: str | None = None) -> dict[str, Any]:
        """PayPal takes back the order's capture (all, or ``amount``) on its own account.

        A reversal is a refund paykit did not ask for, so it carries none of paykit's ids;
        PayPal announces it with ``PAYMENT.CAPTURE.REVERSED`` about this refund-shaped
        resource, whose ``up`` link names the capture. It is booked like a refund.
        """
        with self._lock:
            capture_id = self._payments(order_id)["captures"][0]["id"]
            body: dict[str, Any] = {"note_to_payer": "Payment reversed"}
            if amount is not None:
                currency = self._unit(order_id)["amount"]["currency_code"]
                body["amount"] = {"currency_code": currency, "value": amount}
            request = RecordedRequest("POST", "", "", body, {}, b"")
            answer = self._refund_capture(request, capture_id)
            if answer.status != 201:  # noqa: PLR2004 - PayPal's "created"
                msg = f"the capture of {order_id} cannot be reversed: {answer.body}"
                raise ValueError(msg)
            return self._refund_obj(self._payments(order_id)["refunds"][-1]["id"])

    def charged(self, order_id: str) -> Decimal:
        """Everything charged or captured for the order."""
        return self._total(order_id, {"charge", "capture"})

    def refunded(self, order_id: str) -> Decimal:
        """Everything refunded for the order."""
        return self._total(order_id, {"refund"})

    def _total(self, order_id: str, kinds: set[str]) -> Decimal:
        with self._lock:
            return sum(
                (
                    line.amount
                    for line in self.ledger
                    if line.kind in kinds and line.order_id == order_id
                ),
                Decimal(0),
            )

    def dispute(  # noqa: PLR0913 - the facts of a dispute a test varies
        self,
        order_id: str,
        *,
        status: str = "OPEN",
        outcome: str | None = None,
        stage: str = "CHARGEBACK",
        reason: str = "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
        amount: str | None = None,
        dispute_id: str | None = None,
    ) -> dict[str, Any]:
        """A dispute over the order's capture, shaped like PayPal's dispute resource.

        This is what ``CUSTOMER.DISPUTE.CREATED`` / ``UPDATED`` / ``RESOLVED`` events carry
        (wrap it with :meth:`event`, ``resource_type="dispute"``). ``status`` and ``stage``
        (``dispute_life_cycle_stage``) are PayPal's words; ``outcome`` is the
        ``dispute_outcome.outcome_code`` of a ``RESOLVED`` dispute. ``amount`` defaults to the
        whole capture. Pass the ``dispute_id`` of an earlier call to describe the same dispute
        later in its life; a new id is made otherwise.
        """
        with self._lock:
            capture = self.capture_of(order_id)
            disputed = dict(capture["amount"])
            if amount is not None:
                disputed["value"] = amount
            dispute_id = dispute_id or f"PP-D-{next(self._ids):05d}"
            dispute: dict[str, Any] = {
                "dispute_id": dispute_id,
                "create_time": self._now(),
                "update_time": self._now(),
                "disputed_transactions": [
                    {
                        "seller_transaction_id": capture["id"],
                        "create_time": capture["create_time"],
                        "transaction_status": "COMPLETED",
                        "gross_amount": capture["amount"],
                        "custom": capture.get("custom_id"),
                    }
                ],
                "reason": reason,
                "status": status,
                "dispute_amount": disputed,
                "dispute_life_cycle_stage": stage,
                "dispute_channel": "INTERNAL" if stage == "INQUIRY" else "EXTERNAL",
                "links": [
                    {
                        "href": f"{_API_HOST}/v1/customer/disputes/{dispute_id}",
                        "rel": "self",
                        "method": "GET",
                    }
                ],
            }
            if status in ("OPEN", "WAITING_FOR_SELLER_RESPONSE"):
                dispute["seller_response_due_date"] = self._now(days=10)
            elif status == "WAITING_FOR_BUYER_RESPONSE":
                dispute["buyer_response_due_date"] = self._now(days=10)
            if outcome is not None:
                dispute["dispute_outcome"] = {"outcome_code": outcome}
                if outcome in ("RESOLVED_BUYER_FAVOUR", "ACCEPTED", "RESOLVED_WITH_PAYOUT"):
                    dispute["dispute_outcome"]["amount_refunded"] = dict(disputed)
            return dispute

    def event(
        self, event_type: str, resource: Mapping[str, Any], *, resource_type: str
    ) -> dict[str, Any]:
        """A PayPal webhook event of ``event_type`` about ``resource`` (unsigned)."""
        with self._lock:
            return {
                "id": f"WH-{next(self._ids):04d}PAYKIT{secrets.token_hex(5).upper()}",
                "create_time": self._now(),
                "resource_type": resource_type,
                "event_type": event_type,
                "summary": f"{event_type} (paykit's fake PayPal)",
                "resource": copy.deepcopy(dict(resource)),
                "resource_version": "2.0",
                "event_version": "1.0",
                "links": [
                    {
                        "href": f"{_API_HOST}/v1/notifications/webhooks-events/WH-1",
                        "rel": "self",
                        "method": "GET",
                    }
                ],
            }

    def sign_webhook(
        self,
        event: Mapping[str, Any],
        *,
        webhook_id: str | None = None,
        signer: WebhookSigner | None = None,
        transmission_time: float | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """The headers and body PayPal would deliver for ``event``."""
        body = json.dumps(event).encode("utf-8")
        moment = self._clock() if transmission_time is None else transmission_time
        stamp = dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = (signer or self.signer).sign(
            body, webhook_id=webhook_id or self.webhook_id, transmission_time=stamp
        )
        return headers, body

    def serve_certificate(self, signer: WebhookSigner) -> None:
        """Serve ``signer``'s certificate at its URL too (and verify its signatures)."""
        with self._lock:
            self._certificates[signer.cert_url] = signer

    # -- the transport ------------------------------------------------------------------

    def _handle(self, request: httpx.Request) -> httpx.Response:
        record = self._record(request)
        if record.path == "/v1/oauth2/token" and self._token_delay:
            time.sleep(self._token_delay)
        with self._lock:
            self.requests.append(record)
            fault = self._faults.before(request)
            if fault is not None and fault.answered:
                return self._response(_Answer(fault.status, dict(fault.body)), fault.headers)
            answer, replayed = self._answer(record)
            self._faults.after(request, fault, lost=answer.lose and not replayed)
            if answer.status == 200 and isinstance(answer.body, bytes):  # noqa: PLR2004
                return httpx.Response(
                    200, content=answer.body, headers={"Content-Type": "application/x-pem-file"}
                )
            return self._response(answer)

    def _record(self, request: httpx.Request) -> RecordedRequest:
        content = request.read()
        headers = {key.lower(): value for key, value in request.headers.items()}
        body: Any = None
        if content:
            if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                body = dict(parse_qsl(content.decode("utf-8"), keep_blank_values=True))
            else:
                try:
                    body = json.loads(content)
                except ValueError:
                    body = None
        return RecordedRequest(
            request.method, str(request.url), request.url.path, body, headers, content
        )

    def _response(self, answer: _Answer, extra: Mapping[str, str] | None = None) -> httpx.Response:
        headers = {"Paypal-Debug-Id": secrets.token_hex(7), **(extra or {})}
        if answer.body is None:
            return httpx.Response(answer.status, headers=headers)
        return httpx.Response(answer.status, json=answer.body, headers=headers)

    def _answer(  # noqa: PLR0911 - one return per kind of request
        self, record: RecordedRequest
    ) -> tuple[_Answer, bool]:
        if record.method == "GET" and record.path.startswith("/v1/notifications/certs/"):
            signer = self._certificates.get(record.url)
            if signer is None:
                return _Answer(404, _error_body(404)), False
            return _Answer(200, signer.cert_pem), False
        if record.path == "/v1/oauth2/token":
            return self._token(record), False
        if not self._authenticated(record):
            return _Answer(401, _error_body(401)), False
        representation = record.headers.get("prefer") == "return=representation"
        request_id = record.request_id
        if record.method == "POST" and request_id is not None and request_id in self._replies:
            status, replay = self._replies[request_id]
            return _Answer(status, replay(representation)), True
        for method, pattern, handler in self._routes:
            match = re.fullmatch(pattern, record.path)
            if method == record.method and match is not None:
                answer: _Answer = handler(self, record, *match.groups())
                if (
                    answer.replay is not None
                    and request_id is not None
                    and _OK <= answer.status < _REDIRECT
                ):
                    # PayPal documents 200 for a replayed order request; Payments v2 documents
                    # only the original status (201) for captures and refunds.
                    again = 200 if record.path.startswith("/v2/checkout/") else answer.status
                    self._replies[request_id] = (again, answer.replay)
                if answer.replay is not None and answer.body is None and answer.status != 204:  # noqa: PLR2004
                    answer = attrs.evolve(answer, body=answer.replay(representation))
                return answer, False
        return _Answer(404, _error_body(404, "INVALID_RESOURCE_ID", _NOT_FOUND)), False

    def _token(self, record: RecordedRequest) -> _Answer:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        body = record.body if isinstance(record.body, dict) else {}
        if record.headers.get("authorization") != f"Basic {expected}":
            return _Answer(
                401,
                {"error": "invalid_client", "error_description": "Client Authentication failed"},
            )
        if body.get("grant_type") != "client_credentials":
            return _Answer(
                400, {"error": "unsupported_grant_type", "error_description": "Grant Type is NULL"}
            )
        token = "A21AAFakePayPal" + secrets.token_urlsafe(32)
        self._tokens[token] = self._clock() + self.token_lifetime
        return _Answer(
            200,
            {
                "scope": "https://uri.paypal.com/services/payments/payment "
                "https://uri.paypal.com/services/payments/refund",
                "access_token": token,
                "token_type": "Bearer",
                "app_id": "APP-80W284485P519543T",
                "expires_in": self.token_lifetime,
                "nonce": f"2026-01-01T00:00:00Z{secrets.token_hex(8)}",
            },
        )

    def _authenticated(self, record: RecordedRequest) -> bool:
        header = record.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return False
        expires = self._tokens.get(header[len("Bearer ") :])
        return expires is not None and self._clock() < expires

    # -- helpers ------------------------------------------------------------------------

    def _now(self, *, days: int = 0) -> str:
        moment = dt.datetime.fromtimestamp(self._clock(), dt.UTC) + dt.timedelta(days=days)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _new_id(self) -> str:
        return f"{next(self._ids):05d}{secrets.token_hex(6).upper()}"

    def _order_links(self, order_id: str, *, approved: bool = False) -> list[dict[str, str]]:
        order = self._orders[order_id]
        links = [
            {"href": f"{_API_HOST}/v2/checkout/orders/{order_id}", "rel": "self", "method": "GET"}
        ]
        if order["status"] in ("CREATED", "PAYER_ACTION_REQUIRED"):
            rel = "payer-action" if order["status"] == "PAYER_ACTION_REQUIRED" else "approve"
            links.append(
                {"href": f"{_WEB_HOST}/checkoutnow?token={order_id}", "rel": rel, "method": "GET"}
            )
        if order["status"] != "COMPLETED":
            links.append(
                {
                    "href": f"{_API_HOST}/v2/checkout/orders/{order_id}",
                    "rel": "update",
                    "method": "PATCH",
                }
            )
        if approved:
            action = "authorize" if order["intent"] == "AUTHORIZE" else "capture"
            links.append(
                {
                    "href": f"{_API_HOST}/v2/checkout/orders/{order_id}/{action}",
                    "rel": action,
                    "method": "POST",
                }
            )
        return links

    def _render_order(self, order_id: str, representation: bool) -> dict[str, Any]:  # noqa: FBT001
        order = self._orders[order_id]
        if representation:
            return copy.deepcopy(order)
        return {"id": order_id, "status": order["status"], "links": copy.deepcopy(order["links"])}

    def _book(self, kind: str, object_id: str, order_id: str, amount: Mapping[str, str]) -> None:
        self.ledger.append(
            LedgerLine(kind, object_id, order_id, Decimal(amount["value"]), amount["currency_code"])
        )

    def _unit(self, order_id: str) -> dict[str, Any]:
        unit: dict[str, Any] = self._orders[order_id]["purchase_units"][0]
        return unit

    def _payments(self, order_id: str) -> dict[str, list[dict[str, Any]]]:
        payments: dict[str, list[dict[str, Any]]] = self._unit(order_id).setdefault("payments", {})
        return payments

    # -- orders -------------------------------------------------------------------------

    def _create_order(self, record: RecordedRequest) -> _Answer:  # noqa: C901 - PayPal's rules
        body = record.body if isinstance(record.body, dict) else {}
        units = body.get("purchase_units")
        intent = body.get("intent")
        if intent not in ("CAPTURE", "AUTHORIZE") or not isinstance(units, list) or len(units) != 1:
            return _Answer(
                400,
                _error_body(400, "MISSING_REQUIRED_PARAMETER", "A required parameter is missing."),
            )
        unit = units[0]
        amount = unit.get("amount") or {}
        problem = _amount_problem(amount, _DECIMAL_PRECISION_ORDERS)
        if problem is not None:
            return problem
        source = body.get("payment_source") or {}
        if source and record.request_id is None:
            return _Answer(
                400, _error_body(400, "PAYPAL_REQUEST_ID_REQUIRED", _REQUEST_ID_REQUIRED)
            )
        wallet = source.get("paypal") or {}
        card = source.get("card") or {}
        vault = wallet.get("vault_id") or card.get("vault_id")
        if vault == FakeVault.DECLINED:
            return _Answer(422, _error_body(422, "INSTRUMENT_DECLINED", _INSTRUMENT_DECLINED))
        order_id = self._new_id()
        now = self._now()
        order_unit: dict[str, Any] = {
            "reference_id": unit.get("reference_id", "default"),
            "amount": dict(amount),
            "payee": dict(_MERCHANT),
        }
        for key in ("custom_id", "description", "invoice_id"):
            if key in unit:
                order_unit[key] = unit[key]
        order: dict[str, Any] = {
            "id": order_id,
            "intent": intent,
            "status": "CREATED",
            "purchase_units": [order_unit],
            "create_time": now,
            "update_time": now,
        }
        state = _OrderState(token=str(vault or _CHECKOUT), payer=wallet.get("email_address"))
        self._orders[order_id] = order
        self._states[order_id] = state
        lose = False
        if "experience_context" in wallet and not vault:
            order["status"] = "PAYER_ACTION_REQUIRED"
            order["payment_source"] = {
                "paypal": {"email_address": state.payer} if state.payer else {}
            }
        elif vault is not None and card:
            order["payment_source"] = {
                "card": {
                    "last_digits": "1111",
                    "brand": "VISA",
                    "type": "CREDIT",
                    "expiry": "2030-12",
                }
            }
            if vault == FakeVault.REQUIRES_3DS:
                order["status"] = "PAYER_ACTION_REQUIRED"
        elif vault is not None:
            order["payment_source"] = {"paypal": _payer_details("saved@buyer.example")}
        if vault is not None and order["status"] == "CREATED":
            state.approved_by = "vault"
            self._take(order_id)
            lose = vault == FakeVault.LOST_ANSWER
        order["links"] = self._order_links(order_id)
        return _Answer(201, None, lose=lose, replay=lambda full: self._render_order(order_id, full))

    def _get_order(self, _record: RecordedRequest, order_id: str) -> _Answer:
        if order_id not in self._orders:
            return _Answer(404, _error_body(404, "INVALID_RESOURCE_ID", _NOT_FOUND))
        return _Answer(200, self._render_order(order_id, representation=True))

    def _patch_order(self, record: RecordedRequest, order_id: str) -> _Answer:
        if order_id not in self._orders:
            return _Answer(404, _error_body(404, "INVALID_RESOURCE_ID", _NOT_FOUND))
        order = self._orders[order_id]
        if order["status"] == "COMPLETED":
            return _Answer(
                422,
                _error_body(
                    422,
                    "ORDER_ALREADY_COMPLETED",
                    "The order cannot be patched after it is completed.",
                ),
            )
        operations = record.body if isinstance(record.body, list) else []
        for operation in operations:
            path = str(operation.get("path", ""))
            field = path.rsplit("/", 1)[-1]
            if not path.startswith("/purchase_units/@reference_id=='default'/") or field not in (
                "custom_id",
                "description",
                "invoice_id",
            ):
                return _Answer(422, _error_body(422, "NOT_PATCHABLE", "Cannot be patched."))
            if operation.get("op") == "remove":
                self._unit(order_id).pop(field, None)
            else:
                self._unit(order_id)[field] = operation.get("value")
        order["update_time"] = self._now()
        return _Answer(204)

    def _take(self, order_id: str) -> None:
        """Pay the order: a capture (intent CAPTURE) or an authorization (AUTHORIZE)."""
        order = self._orders[order_id]
        state = self._states[order_id]
        unit = self._unit(order_id)
        now = self._now()
        payments = self._payments(order_id)
        order["status"] = "COMPLETED"
        order["update_time"] = now
        token, payer = state.token, state.approved_by
        if order["intent"] == "AUTHORIZE":
            auth_id = self._new_id()
            status = "CREATED"
            if token == FakeVault.PENDING or payer == FakePayer.PENDING:
                status = "PENDING"
            elif token == FakeVault.PROCESSOR_DECLINED:
                status = "DENIED"
            authorization: dict[str, Any] = {
                "id": auth_id,
                "status": status,
                "amount": dict(unit["amount"]),
                "seller_protection": self._protection(order_id),
                "expiration_time": self._now(days=29),
                "links": [
                    {
                        "href": f"{_API_HOST}/v2/payments/authorizations/{auth_id}",
                        "rel": "self",
                        "method": "GET",
                    },
                    {
                        "href": f"{_API_HOST}/v2/payments/authorizations/{auth_id}/capture",
                        "rel": "capture",
                        "method": "POST",
                    },
                    {
                        "href": f"{_API_HOST}/v2/payments/authorizations/{auth_id}/void",
                        "rel": "void",
                        "method": "POST",
                    },
                    {
                        "href": f"{_API_HOST}/v2/checkout/orders/{order_id}",
                        "rel": "up",
                        "method": "GET",
                    },
                ],
                "create_time": now,
                "update_time": now,
            }
            if status == "PENDING":
                authorization["status_details"] = {"reason": "PENDING_REVIEW"}
            self._note_processor_response(order_id, authorization)
            if "custom_id" in unit:
                authorization["custom_id"] = unit["custom_id"]
            payments.setdefault("authorizations", []).append(authorization)
            self._authorizations[auth_id] = order_id
            if status == "CREATED":
                self._book("authorization", auth_id, order_id, unit["amount"])
            return
        capture = self._new_capture(order_id, unit["amount"], final=True)
        if token == FakeVault.PENDING or payer == FakePayer.PENDING:
            capture["status"] = "PENDING"
            capture["status_details"] = {"reason": "PENDING_REVIEW"}
        elif token == FakeVault.PROCESSOR_DECLINED:
            capture["status"] = "DECLINED"
        else:
            self._book("charge", capture["id"], order_id, unit["amount"])
        self._note_processor_response(order_id, capture)
        payments.setdefault("captures", []).append(capture)

    def _protection(self, order_id: str) -> dict[str, Any]:
        """``seller_protection`` of the order's payments, as scripted for its token."""
        status = self.seller_protection.get(self._states[order_id].token, "ELIGIBLE")
        protection: dict[str, Any] = {"status": status}
        if status != "NOT_ELIGIBLE":
            protection["dispute_categories"] = ["ITEM_NOT_RECEIVED", "UNAUTHORIZED_TRANSACTION"]
        return protection

    def _note_processor_response(self, order_id: str, movement: dict[str, Any]) -> None:
        """Give an authorization or capture its ``processor_response``, as PayPal does.

        A declined one carries the processor's decline code; an approved card payment its
        AVS and CVV codes; a PayPal account's none. Scripted checks replace the codes.
        """
        scripted = self.card_checks.get(self._states[order_id].token) or {}
        if movement["status"] in ("DENIED", "DECLINED"):
            movement["processor_response"] = {**_DECLINED_PROCESSOR, **scripted}
        elif "card" in self._orders[order_id].get("payment_source", {}):
            movement["processor_response"] = {**_CARD_CHECKED, **scripted}

    def _new_capture(
        self, order_id: str, amount: Mapping[str, str], *, final: bool
    ) -> dict[str, Any]:
        capture_id = self._new_id()
        now = self._now()
        unit = self._unit(order_id)
        capture: dict[str, Any] = {
            "id": capture_id,
            "status": "COMPLETED",
            "amount": dict(amount),
            "final_capture": final,
            "seller_protection": self._protection(order_id),
            "links": [
                {
                    "href": f"{_API_HOST}/v2/payments/captures/{capture_id}",
                    "rel": "self",
                    "method": "GET",
                },
                {
                    "href": f"{_API_HOST}/v2/payments/captures/{capture_id}/refund",
                    "rel": "refund",
                    "method": "POST",
                },
                {
                    "href": f"{_API_HOST}/v2/checkout/orders/{order_id}",
                    "rel": "up",
                    "method": "GET",
                },
            ],
            "create_time": now,
            "update_time": now,
        }
        if "custom_id" in unit:
            capture["custom_id"] = unit["custom_id"]
        self._captures[capture_id] = order_id
        return capture

    def _complete_order(  # noqa: PLR0911 - one return per refusal PayPal documents
        self, record: RecordedRequest, order_id: str, action: str
    ) -> _Answer:
        del record
        order = self._orders.get(order_id)
        if order is None:
            return _Answer(404, _error_body(404, "INVALID_RESOURCE_ID", _NOT_FOUND))
        state = self._states[order_id]
        if order["status"] == "COMPLETED":
            if action == "capture":
                return _Answer(422, _error_body(422, "ORDER_ALREADY_CAPTURED", _ALREADY_CAPTURED))
            return _Answer(422, _error_body(422, "ORDER_ALREADY_AUTHORIZED", _ALREADY_AUTHORIZED))
        if order["status"] == "PAYER_ACTION_REQUIRED":
            return _Answer(422, _error_body(422, "PAYER_ACTION_REQUIRED", _PAYER_ACTION))
        if order["status"] != "APPROVED":
            return _Answer(422, _error_body(422, "ORDER_NOT_APPROVED", _NOT_APPROVED[action]))
        if state.approved_by == FakePayer.DECLINED:
            if action == "capture":
                return _Answer(422, _error_body(422, "INSTRUMENT_DECLINED", _INSTRUMENT_DECLINED))
            return _Answer(422, _error_body(422, "TRANSACTION_REFUSED", "The request was refused."))
        self._take(order_id)
        order["links"] = self._order_links(order_id)
        return _Answer(201, None, replay=lambda full: self._render_order(order_id, full))

    def _capture_order(self, record: RecordedRequest, order_id: str) -> _Answer:
        return self._complete_order(record, order_id, "capture")

    def _authorize_order(self, record: RecordedRequest, order_id: str) -> _Answer:
        return self._complete_order(record, order_id, "authorize")

    # -- payments -----------------------------------------------------------------------

    def _find(self, kind: str, object_id: str) -> dict[str, Any] | None:
        index = {
            "authorizations": self._authorizations,
            "captures": self._captures,
            "refunds": self._refunds,
        }[kind]
        order_id = index.get(object_id)
        if order_id is None:
            return None
        for obj in self._payments(order_id).get(kind, []):
            if obj["id"] == object_id:
                return obj
        return None  # pragma: no cover - the index and the order agree

    def _related(self, obj: Mapping[str, Any], order_id: str, **extra: str) -> dict[str, Any]:
        rendered = copy.deepcopy(dict(obj))
        rendered["supplementary_data"] = {"related_ids": {"order_id": order_id, **extra}}
        rendered["payee"] = dict(_MERCHANT)
        return rendered

    def _authorization_2(self, auth_id: str) -> dict[str, Any]:
        auth = self._find("authorizations", auth_id)
        if auth is None:
            raise KeyError(auth_id)
        return self._related(auth, self._authorizations[auth_id])

    def _capture_2(self, capture_id: str) -> dict[str, Any]:
        capture = self._find("captures", capture_id)
        if capture is None:
            raise KeyError(capture_id)
        return self._related(capture, self._captures[capture_id])

    def _refund_obj(self, refund_id: str) -> dict[str, Any]:
        refund = self._find("refunds", refund_id)
        if refund is None:
            raise KeyError(refund_id)
        return copy.deepcopy(refund)

    def _get_authorization(self, _record: RecordedRequest, auth_id: str) -> _Answer:
        if auth_id not in self._authorizations:
            return _Answer(404, _error_body(404, "INVALID_RESOURCE_ID", _NOT_FOUND))
        return _Answer(200, self._authorization_2(auth_id))

    def _capture_authorization(self, record: RecordedRequest, auth_id: str) -> _Answer:  # noqa: PLR0911
        auth = self._find("authorizations", auth_id)
        if auth is None:
            return _Answer(404, _error_body(404, "INVALID_RESOURCE_ID", _NOT_FOUND))
        order_id = self._authorizations[auth_id]
        body = record.body if isinstance(record.body, dict) else {}
        if auth["status"] == "VOIDED":
            return _Answer(
                422,
                _error_body(
                    422,
                    "AUTHORIZATION_VOIDED",
                    "A voided authorization cannot be captured or reauthorized. ",
                ),
            )
        if auth["status"] == "CAPTURED":
            return _Answer(
                422,
                _error_body(
                    422,
                    "AUTHORIZATION_ALREADY_CAPTURED",
                    "Authorization has previously been captured.",
                ),
            )
        if auth["status"] != "CREATED" and auth["status"] != "PARTIALLY_CAPTURED":
            return _Answer(
                422,
                _error_body(
                    422,
                    "TRANSACTION_REFUSED",
                    "PayPal's internal controls prevent authorization from being captured.",
                ),
            )
        amount = body.get("amount") or dict(auth["amount"])
        problem = _amount_problem(amount, _DECIMALS_PAYMENTS)
        if problem is not None:
            return problem
        captured = sum(
            (Decimal(c["amount"]["value"]) for c in self._payments(order_id).get("captures", [])),
            Decimal(0),
        )
        if amount.get("currency_code") != auth["amount"]["currency_code"]:
            return _Answer(422, _error_body(422, "AUTH_CAPTURE_CURRENCY_MISMATCH"))
        if captured + Decimal(amount["value"]) > Decimal(auth["amount"]["value"]):
            return _Answer(422, _error_body(422, "MAX_CAPTURE_AMOUNT_EXCEEDED", _MAX_CAPTURE))
        final = bool(body.get("final_capture", False))
        capture = self._new_capture(order_id, amount, final=final)
        self._payments(order_id).setdefault("captures", []).append(capture)
        total = captured + Decimal(amount["value"])
        auth["status"] = (
            "CAPTURED"
            if final or total == Decimal(auth["amount"]["value"])
            else "PARTIALLY_CAPTURED"
        )
        auth["update_time"] = self._now()
        self._book("capture", capture["id"], order_id, amount)
        capture_id = capture["id"]
        return _Answer(
            201,
            None,
            replay=lambda _full: self._related(
                self._find("captures", capture_id) or {}, order_id, authorization_id=auth_id
            ),
        )

    def _void_authorization(self, record: RecordedRequest, auth_id: str) -> _Answer:
        auth = self._find("authorizations", auth_id)
        if auth is None:
            return _Answer(404, _error_body(404, "INVALID_RESOURCE_ID", _NOT_FOUND))
        order_id = self._authorizations[auth_id]
        if auth["status"] in ("CAPTURED", "PARTIALLY_CAPTURED"):
            return _Answer(
                422,
                _error_body(
                    422,
                    "PREVIOUSLY_CAPTURED",
                    "Authorization has been previously captured and hence cannot be voided.",
                ),
            )
        if auth["status"] == "VOIDED":
            return _Answer(
                422,
                _error_body(
                    422,
                    "PREVIOUSLY_VOIDED",
                    "Authorization has been previously voided and hence cannot be voided again.",
                ),
            )
        if auth["status"] == "CREATED":
            self._book("void", auth_id, order_id, auth["amount"])
        auth["status"] = "VOIDED"
        auth["update_time"] = self._now()
        representation = record.headers.get("prefer") == "return=representation"
        if not representation:
            return _Answer(204, replay=lambda _full: None)
        return _Answer(200, None, replay=lambda _full: self._authorization_2(auth_id))

    def _get_capture(self, _record: RecordedRequest, capture_id: str) -> _Answer:
        if capture_id not in self._captures:
            return _Answer(404, _error_body(404, "INVALID_RESOURCE_ID", _NOT_FOUND))
        return _Answer(200, self._capture_2(capture_id))

    def _refund_capture(self, record: RecordedRequest, capture_id: str) -> _Answer:  # noqa: PLR0911
        capture = self._find("captures", capture_id)
        if capture is None:
            return _Answer(404, _error_body(404, "INVALID_RESOURCE_ID", _NOT_FOUND))
        order_id = self._captures[capture_id]
        state = self._states[order_id]
        body = record.body if isinstance(record.body, dict) else {}
        if capture["status"] == "PENDING":
            return _Answer(422, _error_body(422, "PENDING_CAPTURE"))
        if capture["status"] == "REFUNDED":
            return _Answer(
                422,
                _error_body(
                    422, "CAPTURE_FULLY_REFUNDED", "The capture has already been fully refunded"
                ),
            )
        if capture["status"] not in ("COMPLETED", "PARTIALLY_REFUNDED"):
            return _Answer(422, _error_body(422, "REFUND_NOT_ALLOWED"))
        refunds = self._payments(order_id).setdefault("refunds", [])
        done = sum(
            (
                Decimal(r["amount"]["value"])
                for r in refunds
                if self._refunded_capture.get(r["id"]) == capture_id and r["status"] != "FAILED"
            ),
            Decimal(0),
        )
        remaining = Decimal(capture["amount"]["value"]) - done
        currency = capture["amount"]["currency_code"]
        amount = body.get("amount") or {
            "currency_code": currency,
            "value": _plain(remaining, currency),
        }
        problem = _amount_problem(amount, None)
        if problem is not None:
            return problem
        if Decimal(amount["value"]) > remaining:
            return _Answer(
                422,
                _error_body(
                    422,
                    "REFUND_AMOUNT_EXCEEDED",
                    "The refund amount must be less than or equal to the capture amount that "
                    "has not yet been refunded.",
                ),
            )
        refund_id = self._new_id()
        now = self._now()
        fails = state.token == FakeVault.REFUND_FAILS or state.approved_by == FakePayer.REFUND_FAILS
        refund: dict[str, Any] = {
            "id": refund_id,
            "status": "FAILED" if fails else "COMPLETED",
            "amount": dict(amount),
            "links": [
                {
                    "href": f"{_API_HOST}/v2/payments/refunds/{refund_id}",
                    "rel": "self",
                    "method": "GET",
                },
                {
                    "href": f"{_API_HOST}/v2/payments/captures/{capture_id}",
                    "rel": "up",
                    "method": "GET",
                },
            ],
            "create_time": now,
            "update_time": now,
        }
        for key in ("custom_id", "invoice_id", "note_to_payer"):
            if key in body:
                refund[key] = body[key]
        refunds.append(refund)
        self._refunds[refund_id] = order_id
        self._refunded_capture[refund_id] = capture_id
        if not fails:
            self._book("refund", refund_id, order_id, amount)
            refund["seller_payable_breakdown"] = _payable_breakdown(
                amount, done + Decimal(amount["value"])
            )
            left = remaining - Decimal(amount["value"])
            capture["status"] = "REFUNDED" if left == 0 else "PARTIALLY_REFUNDED"
            capture["update_time"] = now
        return _Answer(201, None, replay=lambda _full: self._refund_obj(refund_id))

    def _get_refund(self, _record: RecordedRequest, refund_id: str) -> _Answer:
        if refund_id not in self._refunds:
            return _Answer(404, _error_body(404, "INVALID_RESOURCE_ID", _NOT_FOUND))
        return _Answer(200, self._refund_obj(refund_id))

    # -- webhooks -----------------------------------------------------------------------

    def _verify_webhook(self, record: RecordedRequest) -> _Answer:
        body = record.body if isinstance(record.body, dict) else {}
        event = body.get("webhook_event")
        signer = self._certificates.get(str(body.get("cert_url")))
        required = (
            "auth_algo",
            "cert_url",
            "transmission_id",
            "transmission_sig",
            "transmission_time",
            "webhook_id",
        )
        if not isinstance(event, dict) or any(not isinstance(body.get(k), str) for k in required):
            return _Answer(400, _error_body(400, "MISSING_REQUIRED_PARAMETER"))
        crc = zlib.crc32(json.dumps(event).encode("utf-8")) & 0xFFFFFFFF
        signed = (body["transmission_id"], body["transmission_time"], body["webhook_id"], str(crc))
        message = "|".join(signed).encode()
        good = (
            signer is not None
            and body["auth_algo"] == "SHA256withRSA"
            and signer.verifies(body["transmission_sig"], message)
        )
        return _Answer(200, {"verification_status": "SUCCESS" if good else "FAILURE"})

    _routes: Final[list[tuple[str, str, Callable[..., _Answer]]]] = [
        ("POST", r"/v2/checkout/orders", _create_order),
        ("GET", r"/v2/checkout/orders/([^/]+)", _get_order),
        ("PATCH", r"/v2/checkout/orders/([^/]+)", _patch_order),
        ("POST", r"/v2/checkout/orders/([^/]+)/capture", _capture_order),
        ("POST", r"/v2/checkout/orders/([^/]+)/authorize", _authorize_order),
        ("GET", r"/v2/payments/authorizations/([^/]+)", _get_authorization),
        ("POST", r"/v2/payments/authorizations/([^/]+)/capture", _capture_authorization),
        ("POST", r"/v2/payments/authorizations/([^/]+)/void", _void_authorization),
        ("GET", r"/v2/payments/captures/([^/]+)", _get_capture),
        ("POST", r"/v2/payments/captures/([^/]+)/refund", _refund_capture),
        ("GET", r"/v2/payments/refunds/([^/]+)", _get_refund),
        ("POST", r"/v1/notifications/verify-webhook-signature", _verify_webhook),
    ]


_NOT_FOUND: Final = (
    "Specified resource ID does not exist. Please check the resource ID and try again."
)
_REQUEST_ID_REQUIRED: Final = (
    "A PayPal-Request-Id is required if you are trying to process payment for an Order. Please "
    "specify a PayPal-Request-Id or Create the Order without a 'payment_source' specified."
)
_INSTRUMENT_DECLINED: Final = (
    "The instrument presented  was either declined by the processor or bank, or it can't be "
    "used for this payment."
)
_ALREADY_CAPTURED: Final = (
    "Order already captured.If 'intent=CAPTURE' only one capture per order is allowed."
)
_ALREADY_AUTHORIZED: Final = (
    "Order already authorized.If 'intent=AUTHORIZE' only one authorization per order is allowed."
)
_PAYER_ACTION: Final = (
    "Transaction cannot complete successfully, instruct the buyer to return to PayPal."
)
_NOT_APPROVED: Final = {
    "capture": (
        "Payer has not yet approved the Order for payment. Please redirect the payer to the "
        "'rel':'approve' url returned as part of the HATEOAS links within the Create Order call "
        "or provide a valid `payment_source` in the request."
    ),
    "authorize": (
        "Payer has not yet approved the Order for payment. Please redirect the payer to the "
        "'rel':'approve' url returned as part of the HATEOAS links within the Create Order call."
    ),
}
_MAX_CAPTURE: Final = (
    "Capture amount exceeds allowable limit. Please contact customer service or your account "
    "manager to request the change to your overage limit. The default overage limit is 115%, "
    "which allows the sum of all captures to be up to 115% of the order amount. The ability to "
    "over capture is subjected to regulatory approvals."
)
_DECIMAL_PRECISION_ORDERS: Final = (
    "DECIMAL_PRECISION",
    "If the currency supports decimals, only two decimal place precision is supported.",
)
_DECIMALS_PAYMENTS: Final = (
    "DECIMALS_NOT_SUPPORTED",
    (
        "Currency does not support decimals. Please refer to "
        "https://developer.paypal.com/docs/api/reference/currency-codes/ for more information."
    ),
)
_DECLINED_PROCESSOR: Final = {"avs_code": "Y", "cvv_code": "M", "response_code": "5120"}
_CARD_CHECKED: Final = {"avs_code": "Y", "cvv_code": "M", "response_code": "0000"}
"""A card payment the processor approved: street and ZIP code matched, the CVV2 matched."""


def _payer_details(email: str) -> dict[str, Any]:
    return {
        "email_address": email,
        "account_id": "FAKEPAYER2345",
        "account_status": "VERIFIED",
        "name": {"given_name": "Pat", "surname": "Payer"},
        "address": {"country_code": "US"},
    }


def _payable_breakdown(amount: Mapping[str, str], refunded: Decimal) -> dict[str, Any]:
    """A refund's ``seller_payable_breakdown``: its gross and the capture's refunds so far."""
    currency = amount["currency_code"]
    return {
        "gross_amount": dict(amount),
        "total_refunded_amount": {"currency_code": currency, "value": _plain(refunded, currency)},
    }


def _plain(value: Decimal, currency: str) -> str:
    places = 0 if currency in _ZERO_DECIMAL else 2
    return f"{value:.{places}f}"


def _amount_problem(
    amount: Mapping[str, Any], decimals_issue: tuple[str, str] | None
) -> _Answer | None:
    """A 422 for an amount PayPal would refuse (not positive, too many decimals), else None."""
    value, currency = amount.get("value"), amount.get("currency_code")
    if not isinstance(value, str) or not isinstance(currency, str):
        return _Answer(400, _error_body(400, "MISSING_REQUIRED_PARAMETER"))
    try:
        number = Decimal(value)
    except InvalidOperation:
        return _Answer(400, _error_body(400, "INVALID_PARAMETER_VALUE"))
    if number <= 0:
        return _Answer(422, _error_body(422, "CANNOT_BE_ZERO_OR_NEGATIVE"))
    places = -int(number.as_tuple().exponent)
    allowed = 0 if currency in _ZERO_DECIMAL else 2
    if places > allowed:
        if decimals_issue is None:
            return _Answer(422, _error_body(422, "DECIMAL_PRECISION"))
        return _Answer(422, _error_body(422, *decimals_issue))
    return None
