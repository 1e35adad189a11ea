"""What the service did to get a provider's answer, and the idempotency key of each call.

Every request paykit sends to a provider carries a key derived from paykit's own ids and the
operation -- the same on every attempt, so a retry after an unknown outcome can never charge
or refund twice. A lookup (reconciliation, or a webhook without an outcome) names the key of
the call it looks for: a payment's charge, a refund's refund.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = ["Operation", "provider_key"]


class Operation(StrEnum):
    """Where a provider's answer came from; the value is what the audit log says."""

    CHARGE = "charge"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"
    RETRIEVE = "retrieve"
    """A lookup of a payment at the provider (its failure is logged under this name)."""
    RECONCILE = "reconcile"
    """The answer to a lookup: it confirms or settles what paykit did not know."""
    WEBHOOK = "webhook"
    """An event the provider sent."""


_SENT: Final = frozenset({Operation.CHARGE, Operation.CAPTURE, Operation.VOID, Operation.REFUND})


def provider_key(record_id: str, operation: Operation) -> str:
    """The idempotency key of ``operation`` on the payment or refund ``record_id``.

    ``paykit:<payment id>:charge`` (also ``capture`` and ``void``) and
    ``paykit:<refund id>:refund``; only operations that send a request have one.
    """
    if operation not in _SENT:
        msg = f"{operation} sends no request to a provider, so it has no idempotency key"
        raise ValueError(msg)
    return f"paykit:{record_id}:{operation}"
