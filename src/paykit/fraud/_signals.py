"""The provider's own risk signal, read from its answer to a charge.

Stripe Radar puts ``outcome.risk_level`` (``normal``, ``elevated``, ``highest``, or
``not_assessed``) and ``outcome.risk_score`` (0-99) on the Charge; the Stripe adapter asks
for the PaymentIntent with its ``latest_charge`` expanded, so the answer's ``raw`` holds
them. PayPal reports no comparable score on an order; its answers give no signal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from paykit.gateways.base import GatewayResult

__all__ = ["ProviderSignal", "provider_signal"]


@attrs.frozen
class ProviderSignal:
    """The provider's risk assessment of a charge."""

    risk_level: str | None = None
    risk_score: int | None = None


def provider_signal(result: GatewayResult) -> ProviderSignal | None:
    """The signal in a charge answer, or ``None`` when the provider gave none."""
    outcome = _outcome(result.raw)
    if outcome is None:
        return None
    level = outcome.get("risk_level")
    score = outcome.get("risk_score")
    signal = ProviderSignal(
        risk_level=level if isinstance(level, str) and level else None,
        risk_score=score if isinstance(score, int) and not isinstance(score, bool) else None,
    )
    return None if signal == ProviderSignal() else signal


def _outcome(raw: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """A Charge's ``outcome``: on the object itself, or on an expanded ``latest_charge``."""
    for holder in (raw, raw.get("latest_charge"), *_listed_charges(raw)):
        if isinstance(holder, Mapping) and isinstance(holder.get("outcome"), Mapping):
            outcome: Mapping[str, Any] = holder["outcome"]
            return outcome
    return None


def _listed_charges(raw: Mapping[str, Any]) -> list[object]:
    """Older API versions list the charges of a PaymentIntent under ``charges.data``."""
    charges = raw.get("charges")
    if isinstance(charges, Mapping) and isinstance(charges.get("data"), list):
        return list(charges["data"])
    return []
