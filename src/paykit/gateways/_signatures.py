"""Timestamped HMAC-SHA256 webhook signatures, the scheme Stripe documents.

A header ``t=<unix seconds>,v1=<hex>[,v1=<hex>...]`` signs ``f"{t}.{body}"`` with a shared
secret. Several ``v1`` values let a provider sign with an old and a new secret while they
rotate, and several configured secrets let the receiver accept either. The timestamp must
be within ``tolerance`` seconds of now in both directions: an old one is a replay, a future
one a forgery or a broken clock. Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from typing import Final

from pydantic import SecretStr

from paykit.errors import WebhookSignatureError

__all__ = ["DEFAULT_TOLERANCE", "sign", "signature_header", "verify"]

DEFAULT_TOLERANCE: Final = 300
"""Seconds a signed timestamp may differ from now (Stripe's default)."""


def sign(secret: SecretStr, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` under ``secret``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.get_secret_value().encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: SecretStr, body: bytes, timestamp: int | None = None) -> str:
    """A complete ``t=...,v1=...`` header for ``body`` (what a provider would send)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return f"t={stamp},v1={sign(secret, stamp, body)}"


def verify(
    header: str | None,
    body: bytes,
    secrets: Sequence[SecretStr],
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> int:
    """Check ``header`` against ``body``; return the signed timestamp or raise.

    Raises :class:`~paykit.errors.WebhookSignatureError` for a missing or malformed header,
    a timestamp outside the tolerance, or no signature matching any of ``secrets``.
    """
    if not header:
        msg = "the webhook has no signature header"
        raise WebhookSignatureError(msg)
    timestamp, signatures = _parse(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        msg = f"the webhook's timestamp is more than {tolerance} s away from now"
        raise WebhookSignatureError(msg)
    for secret in secrets:
        expected = sign(secret, timestamp, body)
        if any(hmac.compare_digest(expected, candidate) for candidate in signatures):
            return timestamp
    msg = "no webhook signature matches a configured secret"
    raise WebhookSignatureError(msg)


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        msg = "the webhook signature header is malformed (expected t=...,v1=...)"
        raise WebhookSignatureError(msg)
    return timestamp, signatures
