"""PayPal webhooks: check the ``PAYPAL-*`` headers, verify the signature, normalise the event.

PayPal signs each delivery with five headers: ``PAYPAL-TRANSMISSION-ID``,
``PAYPAL-TRANSMISSION-TIME``, ``PAYPAL-TRANSMISSION-SIG`` (base64), ``PAYPAL-CERT-URL`` and
``PAYPAL-AUTH-ALGO`` (``SHA256withRSA``). Two ways to verify them, chosen by
``PayPalGateway(webhook_verification=...)``:

``"api"`` (the default)
    ``POST /v1/notifications/verify-webhook-signature`` with the five headers, the configured
    webhook id and the event, exactly as received (the raw body is embedded byte for byte, so
    PayPal checks what PayPal sent). PayPal answers ``SUCCESS`` or ``FAILURE``.

``"offline"``
    The signed message is ``<transmission id>|<transmission time>|<webhook id>|<CRC32 of the
    raw body, as an unsigned decimal>``, signed with SHA256withRSA by the certificate at
    ``PAYPAL-CERT-URL``. The certificate is fetched only from ``https://`` hosts under
    ``paypal.com`` (no credentials are sent with it), must name a ``paypal.com`` host, must
    chain -- through the certificates served with it -- to a trusted root (the roots
    ``certifi`` ships, or the ones configured) and every certificate of the chain must be in
    its validity period. Verified certificates are cached per URL until the chain expires.

Both ways also refuse a transmission time more than ``tolerance`` seconds away from now (a
replayed or forged delivery) and a body that is not a PayPal event. Every refusal raises
:class:`~paykit.errors.WebhookSignatureError` (answer HTTP 400) with a message that names the
problem and never a signature or a secret. When PayPal cannot be asked (``"api"``, PayPal
down) or the certificate cannot be fetched, :class:`~paykit.errors.GatewayError` with
``retryable=True`` is raised instead: answer 5xx and PayPal delivers the event again later.

Dispute events (``CUSTOMER.DISPUTE.*``) carry a :class:`~paykit.gateways.base.DisputeDetails`.
Its status comes from PayPal's ``status`` read at the dispute's ``dispute_life_cycle_stage``
-- an ``INQUIRY`` is a warning, ``CHARGEBACK``, ``PRE_ARBITRATION`` and ``ARBITRATION`` are
chargebacks -- and, once ``RESOLVED``, from ``dispute_outcome.outcome_code``:

=============================================  ========================  =====================
PayPal                                         at ``INQUIRY``            at a chargeback stage
=============================================  ========================  =====================
``OPEN``, ``WAITING_FOR_SELLER_RESPONSE``      ``warning_needs_response`` ``needs_response``
``WAITING_FOR_BUYER_RESPONSE``,                ``warning_under_review``  ``under_review``
``UNDER_REVIEW``, ``OTHER``
``RESOLVED``: ``RESOLVED_BUYER_FAVOUR``,       ``lost``                  ``lost``
``ACCEPTED``
``RESOLVED``: ``RESOLVED_SELLER_FAVOUR``,      ``warning_closed``        ``won``
``RESOLVED_WITH_PAYOUT``, ``CANCELED_BY_BUYER``,
``DENIED``, ``NONE``
=============================================  ========================  =====================

``ACCEPTED`` is the seller accepting the claim (the buyer is refunded); ``RESOLVED_WITH_PAYOUT``
is PayPal paying the buyer under its protection programmes, so the seller keeps the money;
``NONE`` is a dispute closed without a decision. ``provider_status`` is PayPal's ``status``;
the amount is ``dispute_amount``; ``evidence_due_by`` is ``seller_response_due_date``.
``payment_id`` is paykit's payment id from the disputed transaction's ``custom`` field.
``provider_payment_id`` stays ``None``: a dispute names the *capture*
(``seller_transaction_id``, kept in ``raw``), never the order id paykit stores as the
payment's provider id.

A dispute event paykit cannot describe -- an unknown status or stage, a resolution without a
known outcome, no dispute id, no amount -- is returned as ``ignored`` rather than guessed at
or raised (an error would only make PayPal deliver it again, unchanged): its ``raw`` says
why under ``paykit_ignored_reason``, and a warning is logged.

A money object paykit reads from an event -- a capture's, authorization's or refund's
``amount``, the captures and authorizations of an approved order, a reversal's
``seller_payable_breakdown.total_refunded_amount``, a dispute's ``dispute_amount`` -- must be
money when it is there: ``currency_code`` a currency paykit knows, ``value`` a decimal string
within the currency's places. Anything else (``"NaN"``, ``"ZZZ"``, a number instead of a
string) is not an amount paykit will book or guess at: the event is refused with the
:class:`~paykit.errors.ValidationError` naming the field (``resource.amount.value``), which
the service answers with 400 and nothing stored, as it answers a body that is not an event.
A money object that is missing or null stays missing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import threading
import warnings
import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import attrs
import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import ExtensionOID, NameOID

from paykit.domain.dispute import DisputeStatus
from paykit.errors import GatewayError, WebhookSignatureError
from paykit.gateways.base import (
    DisputeDetails,
    GatewayOutcome,
    GatewayResult,
    WebhookEvent,
    WebhookEventType,
)
from paykit.gateways.paypal._amounts import from_paypal_money, read_paypal_money
from paykit.gateways.paypal._mapping import (
    authorization_result,
    capture_result,
    order_result,
    paykit_payment_id,
    paykit_refund_id,
    redact,
    refund_result,
    related_order_id,
)
from paykit.money import Money

__all__ = [
    "AUTH_ALGO",
    "IGNORED_REASON",
    "REVERSED",
    "CertificateStore",
    "SignedHeaders",
    "allowed_cert_url",
    "capture_to_look_up",
    "default_roots",
    "dispute_status",
    "normalise_event",
    "parse_event",
    "signed_message",
    "verify_request_body",
    "with_capture",
]

_LOG = logging.getLogger("paykit.gateways.paypal")

AUTH_ALGO: Final = "SHA256withRSA"
DEFAULT_TOLERANCE: Final = 300
_MAX_BODY: Final = 1_000_000
_MAX_CERT_BYTES: Final = 64_000
_MAX_CHAIN: Final = 6
_HEADERS: Final = (
    "paypal-transmission-id",
    "paypal-transmission-time",
    "paypal-transmission-sig",
    "paypal-cert-url",
    "paypal-auth-algo",
)


@attrs.frozen
class SignedHeaders:
    """The five ``PAYPAL-*`` headers of one delivery."""

    transmission_id: str
    transmission_time: str
    transmission_sig: str = attrs.field(repr=False)
    cert_url: str
    auth_algo: str

    @classmethod
    def read(cls, headers: Mapping[str, str], *, now: float, tolerance: float) -> SignedHeaders:
        """Read and check the headers (presence, algorithm, certificate host, freshness)."""
        lower = {str(key).lower(): str(value) for key, value in headers.items()}
        missing = [name.upper() for name in _HEADERS if not lower.get(name, "").strip()]
        if missing:
            msg = f"the webhook lacks PayPal's signature headers: {', '.join(missing)}"
            raise WebhookSignatureError(msg)
        signed = cls(*(lower[name].strip() for name in _HEADERS))
        if signed.auth_algo != AUTH_ALGO:
            msg = f"PAYPAL-AUTH-ALGO must be {AUTH_ALGO}"
            raise WebhookSignatureError(msg)
        if not allowed_cert_url(signed.cert_url):
            msg = "PAYPAL-CERT-URL is not an https:// URL on a paypal.com host"
            raise WebhookSignatureError(msg)
        try:
            sent = datetime.fromisoformat(signed.transmission_time)
        except ValueError:
            msg = "PAYPAL-TRANSMISSION-TIME is not an ISO 8601 time"
            raise WebhookSignatureError(msg) from None
        if sent.tzinfo is None:
            msg = "PAYPAL-TRANSMISSION-TIME has no time zone"
            raise WebhookSignatureError(msg)
        if abs(sent.timestamp() - now) > tolerance:
            msg = (
                f"PAYPAL-TRANSMISSION-TIME is more than {tolerance:g} s away from now: a replay, "
                "or a clock that is off"
            )
            raise WebhookSignatureError(msg)
        return signed


def allowed_cert_url(url: str) -> bool:
    """Whether ``url`` is ``https://`` on ``paypal.com`` or a subdomain, default port, no user."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        return False
    host = parsed.host.lower()
    return (
        parsed.scheme == "https"
        and not parsed.userinfo
        and parsed.port in (None, 443)
        and (host == "paypal.com" or host.endswith(".paypal.com"))
    )


def signed_message(signed: SignedHeaders, webhook_id: str, body: bytes) -> bytes:
    """What PayPal signs: ``transmission_id|transmission_time|webhook_id|crc32(body)``."""
    crc = zlib.crc32(body) & 0xFFFFFFFF
    return f"{signed.transmission_id}|{signed.transmission_time}|{webhook_id}|{crc}".encode()


def parse_event(body: bytes) -> dict[str, Any]:
    """The event ``body`` holds, or ``WebhookSignatureError`` if it is not a PayPal event."""
    if len(body) > _MAX_BODY:
        msg = "the webhook body is too large to be a PayPal event"
        raise WebhookSignatureError(msg)
    try:
        event = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        event = None
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("id"), str)
        or not isinstance(event.get("event_type"), str)
        or not isinstance(event.get("resource"), dict)
    ):
        msg = "the webhook body is not a PayPal event"
        raise WebhookSignatureError(msg)
    return event


def verify_request_body(signed: SignedHeaders, webhook_id: str, body: bytes) -> bytes:
    """The verify-webhook-signature request, with the event embedded exactly as received."""
    fields = {
        "auth_algo": signed.auth_algo,
        "cert_url": signed.cert_url,
        "transmission_id": signed.transmission_id,
        "transmission_sig": signed.transmission_sig,
        "transmission_time": signed.transmission_time,
        "webhook_id": webhook_id,
    }
    head = json.dumps(fields, separators=(",", ":"))
    return head[:-1].encode() + b',"webhook_event":' + body.strip() + b"}"


def verification_request_id(signed: SignedHeaders, webhook_id: str, body: bytes) -> str:
    """A ``PayPal-Request-Id`` for the verification, derived from everything it verifies.

    PayPal replays the answer of a known request id, so an id derived from the transmission
    id alone would let a forgery reuse a genuine delivery's ``SUCCESS``.
    """
    digest = hashlib.sha256()
    for part in (*attrs.astuple(signed), webhook_id):
        digest.update(part.encode() + b"\0")
    digest.update(body)
    return "paykit-webhook-" + digest.hexdigest()


_ROOTS: list[x509.Certificate] = []
_ROOTS_LOCK = threading.Lock()


def default_roots() -> list[x509.Certificate]:
    """The root certificates ``certifi`` ships (httpx's own trust store), loaded once."""
    with _ROOTS_LOCK:
        if not _ROOTS:
            import certifi  # noqa: PLC0415 - an httpx dependency, needed only offline

            with open(certifi.where(), "rb") as bundle:  # noqa: PTH123 - a plain read
                pem = bundle.read()
            with warnings.catch_warnings():
                # certifi carries a root or two whose serial numbers RFC 5280 disallows;
                # cryptography warns about them, and they are Mozilla's to fix, not ours.
                warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                _ROOTS.extend(x509.load_pem_x509_certificates(pem))
        return list(_ROOTS)


@attrs.frozen
class _Verified:
    key: rsa.RSAPublicKey
    not_after: datetime


class CertificateStore:
    """Verified signing certificates per ``PAYPAL-CERT-URL``, and the trust roots they need."""

    def __init__(self, roots: Sequence[x509.Certificate] | None = None) -> None:
        self._roots = list(roots) if roots is not None else None
        self._cache: dict[str, _Verified] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"CertificateStore(cached={len(self._cache)})"

    def cached(self, url: str, now: datetime) -> rsa.RSAPublicKey | None:
        """The key of a certificate verified earlier whose chain has not expired."""
        with self._lock:
            verified = self._cache.get(url)
        if verified is None or now > verified.not_after:
            return None
        return verified.key

    def accept(self, url: str, pem: bytes, now: datetime) -> rsa.RSAPublicKey:
        """Verify the certificates served at ``url`` and cache the signing key."""
        if len(pem) > _MAX_CERT_BYTES:
            msg = "the certificate at PAYPAL-CERT-URL is too large"
            raise WebhookSignatureError(msg)
        try:
            chain = x509.load_pem_x509_certificates(pem)
        except ValueError:
            msg = "PAYPAL-CERT-URL did not serve a PEM certificate"
            raise WebhookSignatureError(msg) from None
        leaf = chain[0]
        _check_names(leaf)
        not_after = self._check_chain(chain, now)
        key = leaf.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            msg = "the PayPal certificate does not hold an RSA key"
            raise WebhookSignatureError(msg)
        with self._lock:
            if len(self._cache) > 32:  # noqa: PLR2004 - PayPal rotates rarely; keep it small
                self._cache.clear()
            self._cache[url] = _Verified(key, not_after)
        return key

    def _check_chain(self, chain: list[x509.Certificate], now: datetime) -> datetime:
        roots = self._roots if self._roots is not None else default_roots()
        not_after = _check_period(chain[0], now)
        current = chain[0]
        intermediates = chain[1:]
        for _ in range(_MAX_CHAIN):
            for root in roots:
                if root.subject == current.issuer and _issued_by(current, root):
                    return min(not_after, _check_period(root, now))
            issuer = next(
                (
                    c
                    for c in intermediates
                    if c.subject == current.issuer and _issued_by(current, c)
                ),
                None,
            )
            if issuer is None:
                break
            _check_ca(issuer)
            not_after = min(not_after, _check_period(issuer, now))
            current = issuer
        msg = "the PayPal certificate does not chain to a trusted root"
        raise WebhookSignatureError(msg)


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _check_ca(cert: x509.Certificate) -> None:
    try:
        constraints = cert.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value
    except x509.ExtensionNotFound:
        constraints = None
    if not isinstance(constraints, x509.BasicConstraints) or not constraints.ca:
        msg = "a certificate in the PayPal chain is not a CA"
        raise WebhookSignatureError(msg)


def _check_period(cert: x509.Certificate, now: datetime) -> datetime:
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        msg = "a certificate in the PayPal chain is expired or not yet valid"
        raise WebhookSignatureError(msg)
    return cert.not_valid_after_utc


def _check_names(leaf: x509.Certificate) -> None:
    names: list[str] = []
    try:
        alt = leaf.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        alt = None
    if isinstance(alt, x509.SubjectAlternativeName):
        names.extend(alt.get_values_for_type(x509.DNSName))
    names.extend(str(a.value) for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME))
    if not any(n.lower() == "paypal.com" or n.lower().endswith(".paypal.com") for n in names):
        msg = "the certificate at PAYPAL-CERT-URL is not issued to a paypal.com name"
        raise WebhookSignatureError(msg)


def verify_signature(key: rsa.RSAPublicKey, signed: SignedHeaders, message: bytes) -> None:
    """Check ``PAYPAL-TRANSMISSION-SIG`` over ``message`` with the certificate's key."""
    try:
        signature = base64.b64decode(signed.transmission_sig, validate=True)
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        msg = "the webhook signature does not match its body and headers"
        raise WebhookSignatureError(msg) from None


def certificate_unavailable(detail: str) -> GatewayError:
    """The error for a certificate that could not be fetched (PayPal retries the delivery)."""
    return GatewayError(
        f"PayPal's webhook certificate could not be fetched ({detail}); answer 5xx so PayPal "
        "delivers the event again",
        gateway_code="certificate_unavailable",
        retryable=True,
    )


# -- normalising ---------------------------------------------------------------------------------

_E = WebhookEventType
REVERSED: Final = "PAYMENT.CAPTURE.REVERSED"
_CAPTURE_EVENTS: Final = {
    "PAYMENT.CAPTURE.COMPLETED": _E.PAYMENT_SUCCEEDED,
    "PAYMENT.CAPTURE.PENDING": _E.PAYMENT_PROCESSING,
    "PAYMENT.CAPTURE.DENIED": _E.PAYMENT_FAILED,
    "PAYMENT.CAPTURE.DECLINED": _E.PAYMENT_FAILED,
}
_AUTHORIZATION_EVENTS: Final = {
    "PAYMENT.AUTHORIZATION.CREATED": _E.PAYMENT_AUTHORIZED,
    "PAYMENT.AUTHORIZATION.VOIDED": _E.PAYMENT_CANCELED,
}
_DISPUTE_EVENTS: Final = {
    "CUSTOMER.DISPUTE.CREATED": _E.DISPUTE_CREATED,
    "CUSTOMER.DISPUTE.UPDATED": _E.DISPUTE_UPDATED,
    "CUSTOMER.DISPUTE.RESOLVED": _E.DISPUTE_CLOSED,
}
_REFUND_TYPES: Final = {
    GatewayOutcome.SUCCEEDED: _E.REFUND_SUCCEEDED,
    GatewayOutcome.DECLINED: _E.REFUND_FAILED,
    GatewayOutcome.PENDING: _E.REFUND_PENDING,
}
IGNORED_REASON: Final = "paykit_ignored_reason"
"""The key of ``raw`` that says why a dispute event was returned as ``ignored``."""

_D = DisputeStatus
_INQUIRY: Final = "INQUIRY"
_CHARGEBACK_STAGES: Final = frozenset({"CHARGEBACK", "PRE_ARBITRATION", "ARBITRATION"})
_OPEN_STATUSES: Final = {
    # PayPal status: (at the inquiry stage, at a chargeback stage)
    "OPEN": (_D.WARNING_NEEDS_RESPONSE, _D.NEEDS_RESPONSE),
    "WAITING_FOR_SELLER_RESPONSE": (_D.WARNING_NEEDS_RESPONSE, _D.NEEDS_RESPONSE),
    "WAITING_FOR_BUYER_RESPONSE": (_D.WARNING_UNDER_REVIEW, _D.UNDER_REVIEW),
    "UNDER_REVIEW": (_D.WARNING_UNDER_REVIEW, _D.UNDER_REVIEW),
    "OTHER": (_D.WARNING_UNDER_REVIEW, _D.UNDER_REVIEW),
}
_OUTCOMES: Final = {
    "RESOLVED_BUYER_FAVOUR": (_D.LOST, _D.LOST),
    "ACCEPTED": (_D.LOST, _D.LOST),
    "RESOLVED_SELLER_FAVOUR": (_D.WARNING_CLOSED, _D.WON),
    "RESOLVED_WITH_PAYOUT": (_D.WARNING_CLOSED, _D.WON),
    "CANCELED_BY_BUYER": (_D.WARNING_CLOSED, _D.WON),
    "DENIED": (_D.WARNING_CLOSED, _D.WON),
    "NONE": (_D.WARNING_CLOSED, _D.WON),
}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _created(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def _capture_event(event_type: str, resource: Mapping[str, Any]) -> GatewayResult:
    result = capture_result(resource, order_id=None)
    if event_type == "PAYMENT.CAPTURE.DENIED" and result.outcome is not GatewayOutcome.DECLINED:
        return attrs.evolve(
            result,
            outcome=GatewayOutcome.DECLINED,
            decline_code="DENIED",
            message="Your payment was declined.",
        )
    return result


def normalise_event(  # noqa: PLR0911 - one return per family of events
    event: Mapping[str, Any], *, provider: str
) -> WebhookEvent:
    """Normalise a verified PayPal event (``ignored`` for the types paykit has no use for).

    ``CHECKOUT.ORDER.APPROVED`` is ``payment.processing``: the payer approved, and paykit
    captures (or authorizes) the order when it next looks the payment up.
    ``PAYMENT.CAPTURE.REFUNDED`` carries the refund: ``refund.succeeded`` (or pending /
    failed, after its status) with the refund's id. ``PAYMENT.CAPTURE.REVERSED`` -- PayPal
    took money back without a refund by paykit -- is ``payment.refunded`` whose ``result``
    amount is the amount reversed.
    """
    event_type = str(event["event_type"])
    resource = event.get("resource")
    obj: Mapping[str, Any] = resource if isinstance(resource, Mapping) else {}
    common: dict[str, Any] = {
        "provider": provider,
        "event_id": str(event["id"]),
        "provider_type": event_type,
        "created": _created(event.get("create_time")),
        "raw": redact(event),
    }
    _check_money(event_type, obj)
    if event_type in _CAPTURE_EVENTS:
        return WebhookEvent(
            type=_CAPTURE_EVENTS[event_type],
            provider_payment_id=related_order_id(obj),
            payment_id=paykit_payment_id(obj.get("custom_id")),
            result=_capture_event(event_type, obj),
            **common,
        )
    if event_type in _AUTHORIZATION_EVENTS:
        order_id = related_order_id(obj)
        result = authorization_result(obj, operation="webhook")
        return WebhookEvent(
            type=_AUTHORIZATION_EVENTS[event_type],
            provider_payment_id=order_id,
            payment_id=paykit_payment_id(obj.get("custom_id")),
            result=attrs.evolve(result, provider_id=order_id, raw=redact(obj)),
            **common,
        )
    if event_type == "CHECKOUT.ORDER.APPROVED":
        units = obj.get("purchase_units")
        unit = (
            units[0] if isinstance(units, list) and units and isinstance(units[0], Mapping) else {}
        )
        return WebhookEvent(
            type=_E.PAYMENT_PROCESSING,
            provider_payment_id=_text(obj.get("id")),
            payment_id=paykit_payment_id(unit.get("custom_id")),
            result=order_result(obj, operation="webhook"),
            **common,
        )
    if event_type == "PAYMENT.CAPTURE.REFUNDED":
        result = refund_result(obj)
        return WebhookEvent(
            type=_REFUND_TYPES.get(result.outcome, _E.REFUND_PENDING),
            provider_refund_id=_text(obj.get("id")),
            refund_id=paykit_refund_id(obj.get("custom_id")),
            result=result,
            **common,
        )
    if event_type == REVERSED:
        # The resource is the refund PayPal made, not the capture: its ``custom_id`` is not
        # paykit's payment id, and it names no order. The gateway looks the capture up.
        return WebhookEvent(
            type=_E.PAYMENT_REFUNDED,
            provider_payment_id=related_order_id(obj),
            provider_refund_id=_text(obj.get("id")),
            result=GatewayResult(
                outcome=GatewayOutcome.SUCCEEDED,
                provider_id=related_order_id(obj),
                amount=_refunded_in_all(obj),
                raw=redact(obj),
            ),
            **common,
        )
    if event_type in _DISPUTE_EVENTS:
        payment_id = paykit_payment_id(_disputed_transaction(obj).get("custom"))
        dispute, problem = _dispute(obj)
        if dispute is None:
            _LOG.warning(
                "PayPal event %s (%s) is ignored: %s", common["event_id"], event_type, problem
            )
            common["raw"][IGNORED_REASON] = problem
            return WebhookEvent(type=_E.IGNORED, payment_id=payment_id, **common)
        return WebhookEvent(
            type=_DISPUTE_EVENTS[event_type],
            payment_id=payment_id,
            dispute=dispute,
            **common,
        )
    return WebhookEvent(type=_E.IGNORED, **common)


_MONEY_READ: Final[dict[str, tuple[tuple[str, ...], ...]]] = {
    **dict.fromkeys(_CAPTURE_EVENTS, (("amount",),)),
    **dict.fromkeys(_AUTHORIZATION_EVENTS, (("amount",),)),
    "PAYMENT.CAPTURE.REFUNDED": (("amount",),),
    REVERSED: (("amount",), ("seller_payable_breakdown", "total_refunded_amount")),
    **dict.fromkeys(_DISPUTE_EVENTS, (("dispute_amount",),)),
}
"""Where in the resource each kind of event carries money paykit reads."""


def _check_money(event_type: str, resource: Mapping[str, Any]) -> None:
    """Refuse an event whose money paykit reads is there but is not money.

    Raises the :class:`~paykit.errors.ValidationError` naming the event's field; the lenient
    readers the mapping shares with API answers would only have dropped the amount.
    """
    for path in _MONEY_READ.get(event_type, ()):
        value: object = resource
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if value is not None:
            read_paypal_money(value, field=".".join(("resource", *path)))
    if event_type == "CHECKOUT.ORDER.APPROVED":
        units = resource.get("purchase_units")
        first = units[0] if isinstance(units, list) and units else None
        payments = first.get("payments") if isinstance(first, Mapping) else None
        for kind in ("captures", "authorizations"):
            made = payments.get(kind) if isinstance(payments, Mapping) else None
            for index, item in enumerate(made if isinstance(made, list) else ()):
                amount = item.get("amount") if isinstance(item, Mapping) else None
                if amount is not None:
                    field = f"resource.purchase_units[0].payments.{kind}[{index}].amount"
                    read_paypal_money(amount, field=field)


def _refunded_in_all(refund: Mapping[str, Any]) -> Money | None:
    """Everything refunded from the capture so far, reversal included.

    ``payment.refunded`` reports a total, which paykit compares with the refunds it knows
    of. PayPal gives it as ``seller_payable_breakdown.total_refunded_amount``; without it
    the reversal's own amount is the best lower bound.
    """
    breakdown = refund.get("seller_payable_breakdown")
    total = breakdown.get("total_refunded_amount") if isinstance(breakdown, Mapping) else None
    return from_paypal_money(total) or from_paypal_money(refund.get("amount"))


def capture_to_look_up(event: WebhookEvent) -> str | None:
    """The capture to read when ``event`` names no order and no paykit payment, if any.

    A reversal's resource is the refund PayPal made: its ``up`` link names the capture. A
    dispute names paykit's payment through the transaction's ``custom``, which PayPal may
    leave out; its ``seller_transaction_id`` is the capture.
    """
    if event.provider_payment_id is not None:
        return None
    resource = event.raw.get("resource")
    obj: Mapping[str, Any] = resource if isinstance(resource, Mapping) else {}
    if event.provider_type == REVERSED:
        links = obj.get("links")
        for link in links if isinstance(links, list) else ():
            if isinstance(link, Mapping) and link.get("rel") == "up":
                prefix, _, capture_id = (_text(link.get("href")) or "").rpartition("/")
                if prefix.endswith("/v2/payments/captures") and capture_id:
                    return capture_id
    elif event.dispute is not None and event.payment_id is None:
        return _text(_disputed_transaction(obj).get("seller_transaction_id"))
    return None


def with_capture(event: WebhookEvent, capture: Mapping[str, Any]) -> WebhookEvent:
    """``event`` naming the order and the paykit payment of ``capture``."""
    order_id = related_order_id(capture)
    return attrs.evolve(
        event,
        provider_payment_id=order_id,
        payment_id=event.payment_id or paykit_payment_id(capture.get("custom_id")),
        result=None if event.result is None else attrs.evolve(event.result, provider_id=order_id),
    )


def _disputed_transaction(dispute: Mapping[str, Any]) -> Mapping[str, Any]:
    """The first disputed transaction (paykit makes one capture per order)."""
    transactions = dispute.get("disputed_transactions")
    if isinstance(transactions, list) and transactions and isinstance(transactions[0], Mapping):
        first: Mapping[str, Any] = transactions[0]
        return first
    return {}


def dispute_status(
    status: str | None, stage: str | None, outcome: str | None
) -> DisputeStatus | None:
    """The paykit status of PayPal's ``status`` at ``stage`` (and ``outcome``, once resolved).

    ``None`` when the three do not say (see the module docstring for the table).
    """
    if stage == _INQUIRY:
        column = 0
    elif stage in _CHARGEBACK_STAGES:
        column = 1
    else:
        return None
    if status == "RESOLVED":
        pair = _OUTCOMES.get(outcome or "")
    else:
        pair = _OPEN_STATUSES.get(status or "")
    return None if pair is None else pair[column]


def _dispute(dispute: Mapping[str, Any]) -> tuple[DisputeDetails | None, str]:
    """The dispute, normalised; or ``None`` and why it cannot be described."""
    dispute_id = _text(dispute.get("dispute_id"))
    if dispute_id is None:
        return None, "the dispute has no dispute_id"
    status = _text(dispute.get("status"))
    stage = _text(dispute.get("dispute_life_cycle_stage"))
    outcome_object = dispute.get("dispute_outcome")
    outcome = (
        _text(outcome_object.get("outcome_code")) if isinstance(outcome_object, Mapping) else None
    )
    normalised = dispute_status(status, stage, outcome)
    if normalised is None:
        return None, (
            f"dispute {dispute_id} has status {status!r} at stage {stage!r} with outcome "
            f"{outcome!r}, which paykit cannot map"
        )
    amount = from_paypal_money(dispute.get("dispute_amount"))
    if amount is None:
        return None, f"dispute {dispute_id} has no dispute_amount paykit can read"
    return DisputeDetails(
        provider_dispute_id=dispute_id,
        status=normalised,
        amount=amount,
        reason=_text(dispute.get("reason")) or "",
        provider_status=status or "",
        evidence_due_by=_utc(_created(dispute.get("seller_response_due_date"))),
    ), ""
