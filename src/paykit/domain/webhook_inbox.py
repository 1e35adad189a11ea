"""The webhook inbox: every verified provider event paykit received, once.

An entry is written in the same unit of work that applies the event, keyed by
``(provider, event_id)`` -- unique in storage -- so a duplicate delivery finds the entry and
changes nothing. An event for a payment paykit does not know yet (the webhook overtook the
API response) is kept as ``unmatched`` and applied when the payment turns up; one that stays
unmatched for long (a refund made in the provider's dashboard) is given up on as ``expired``,
so that sweeps, which retry the oldest unmatched events, keep reaching the newer ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs

from paykit.domain.transaction_log import freeze

__all__ = ["InboxEntry", "InboxStatus"]


class InboxStatus(StrEnum):
    """What became of a received event."""

    APPLIED = "applied"
    """Applied to the payment, refund or dispute it concerns."""
    UNMATCHED = "unmatched"
    """About a payment or refund paykit does not know (yet); applied when it appears."""
    IGNORED = "ignored"
    """A verified event of a kind paykit has no use for."""
    EXPIRED = "expired"
    """Unmatched for longer than a sweep's ``give_up_after``: kept, no longer retried."""


@attrs.define(kw_only=True)
class InboxEntry:
    """One received event. ``payload`` is the normalised event, secrets removed, frozen.

    ``payment_id``, ``provider_payment_id`` and ``provider_refund_id`` are the ids the event
    names (``payment_id`` is filled in once the event is matched), so an unmatched event can
    be found when its payment or refund appears.
    """

    id: str
    provider: str
    event_id: str
    event_type: str
    provider_type: str
    status: InboxStatus
    payment_id: str | None = None
    provider_payment_id: str | None = None
    provider_refund_id: str | None = None
    received_at: datetime
    applied_at: datetime | None = None
    payload: Mapping[str, Any] = attrs.field(factory=dict, converter=freeze)
    version: int = 0
