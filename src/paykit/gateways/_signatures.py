"""Timestamped HMAC-SHA256 webhook signatures: the scheme Stripe documents, shared.

A header ``t=<unix seconds>,v1=<hex>[,v1=<hex>...]`` signs ``f"{t}." + body`` with a shared
secret (https://docs.stripe.com/webhooks#verify-manually):

* exactly one numeric ``t``; any number of ``v1`` (other schemes such as ``v0`` are ignored);
* the body verifies when any ``v1`` matches any configured secret -- a provider signs with the
  old and the new secret while one is rolled, and a receiver may hold both -- compared in
  constant time;
* ``t`` must be within ``tolerance`` seconds of now in *both* directions: a stale timestamp is
  a replay, a future one a forgery or a broken clock.

Every failure raises :class:`~paykit.errors.WebhookSignatureError` (answer HTTP 400) with a
message that names the problem and never a secret or a signature. The sandbox gateway and the
Stripe adapter both verify with :class:`TimestampedSignature`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from pydantic import SecretStr

from paykit.errors import WebhookSignatureError

__all__ = ["DEFAULT_TOLERANCE", "TimestampedSignature", "sign", "signature_header"]

DEFAULT_TOLERANCE: Final = 300
"""Seconds a signed timestamp may differ from now (Stripe's default)."""

_MAX_HEADER_LENGTH: Final = 8192


def sign(secret: SecretStr, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}." + body`` under ``secret``."""
    message = str(timestamp).encode("ascii") + b"." + bytes(body)
    return hmac.new(secret.get_secret_value().encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: SecretStr, body: bytes, timestamp: int | None = None) -> str:
    """A complete ``t=...,v1=...`` header for ``body`` (what a provider would send)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return f"t={stamp},v1={sign(secret, stamp, body)}"


class TimestampedSignature:
    """Verifies the ``header_name`` header of webhooks against one or more secrets."""

    def __init__(
        self,
        header_name: str,
        secrets: Sequence[SecretStr],
        *,
        tolerance: int = DEFAULT_TOLERANCE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.header_name = header_name
        self._secrets = tuple(secrets)
        self._tolerance = tolerance
        self._clock = clock

    def __repr__(self) -> str:
        return (
            f"TimestampedSignature({self.header_name!r}, secrets={len(self._secrets)}, "
            f"tolerance={self._tolerance})"
        )

    def verify(self, headers: Mapping[str, str], body: bytes) -> int:
        """Check the signature header against ``body``; return the signed timestamp or raise."""
        name = self.header_name
        if not self._secrets:
            msg = f"no webhook secret is configured, so no {name} can be verified"
            raise WebhookSignatureError(msg)
        timestamp, signatures = self._parse(self._header(headers))
        matched = False
        for secret in self._secrets:
            expected = sign(secret, timestamp, body).encode("ascii")
            for candidate in signatures:
                matched |= hmac.compare_digest(expected, candidate)
        if not matched:
            msg = f"the {name} header does not match the body for any configured secret"
            raise WebhookSignatureError(msg)
        age = self._clock() - timestamp
        if age > self._tolerance:
            msg = (
                f"the {name} timestamp is {int(age)} s old, beyond the {self._tolerance} s "
                "tolerance (a replayed event?)"
            )
            raise WebhookSignatureError(msg)
        if -age > self._tolerance:
            msg = (
                f"the {name} timestamp is {int(-age)} s in the future, beyond the "
                f"{self._tolerance} s tolerance"
            )
            raise WebhookSignatureError(msg)
        return timestamp

    def _header(self, headers: Mapping[str, str]) -> str:
        wanted = self.header_name.lower()
        values = {value for key, value in headers.items() if key.lower() == wanted}
        if not values:
            msg = f"the request has no {self.header_name} header"
            raise WebhookSignatureError(msg)
        if len(values) > 1:
            msg = f"the request has several different {self.header_name} headers"
            raise WebhookSignatureError(msg)
        return values.pop()

    def _parse(self, header: str) -> tuple[int, list[bytes]]:
        """``t`` and the ``v1`` signatures of a header, or a ``WebhookSignatureError``."""
        malformed = f"the {self.header_name} header is malformed"
        if not header or len(header) > _MAX_HEADER_LENGTH:
            raise WebhookSignatureError(malformed)
        timestamps: list[str] = []
        signatures: list[bytes] = []
        for item in header.split(","):
            key, sep, value = item.strip().partition("=")
            if not sep or not key or not value:
                raise WebhookSignatureError(malformed)
            if key == "t":
                timestamps.append(value)
            elif key == "v1":
                signatures.append(value.encode("utf-8"))
        if len(timestamps) != 1 or not (timestamps[0].isascii() and timestamps[0].isdigit()):
            msg = f"{malformed}: it needs exactly one numeric t= timestamp"
            raise WebhookSignatureError(msg)
        if not signatures:
            msg = f"{malformed}: it carries no v1 signature"
            raise WebhookSignatureError(msg)
        return int(timestamps[0]), signatures
