"""Dispute: a customer's chargeback (or a pre-chargeback inquiry) against a payment.

Disputes are opened and decided by the card network or PayPal, never by paykit: their
status follows the provider's webhooks. The table below still guards every move, so a late
or replayed event can never reopen a decided dispute::

    warning_needs_response ──> warning_under_review ──> warning_closed
            │                        │
            └────────────┬───────────┘   (or straight to won | lost)
                         v
    needs_response ──> under_review ──> won | lost
          │                               ^
          └───────────────────────────────┘          (and prevented, from any open state)

``warning_*`` are inquiries (Stripe's early fraud warnings, PayPal's inquiry stage): no money
has been taken back yet, and an inquiry may escalate into a chargeback. A ``lost`` dispute is
money out: the disputed amount is booked on the payment (``Payment.chargeback_amount``) and
can no longer be refunded.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Final

import attrs

from paykit.domain._transitions import check_transition
from paykit.money import Money

__all__ = [
    "CLOSED_DISPUTE_STATUSES",
    "DISPUTE_TRANSITIONS",
    "Dispute",
    "DisputeStatus",
]


class DisputeStatus(StrEnum):
    """Where a dispute stands (Stripe's names; PayPal's states map onto them)."""

    WARNING_NEEDS_RESPONSE = "warning_needs_response"
    WARNING_UNDER_REVIEW = "warning_under_review"
    WARNING_CLOSED = "warning_closed"
    NEEDS_RESPONSE = "needs_response"
    UNDER_REVIEW = "under_review"
    WON = "won"
    LOST = "lost"
    PREVENTED = "prevented"
    """Resolved before it became a chargeback (Stripe's dispute prevention)."""


_D = DisputeStatus

CLOSED_DISPUTE_STATUSES: Final = frozenset({_D.WARNING_CLOSED, _D.WON, _D.LOST, _D.PREVENTED})
"""Decided disputes: final, and the ones that publish ``dispute.closed``."""

_OPEN_CHARGEBACK: Final = frozenset({_D.NEEDS_RESPONSE, _D.UNDER_REVIEW})
_DECIDED: Final = frozenset({_D.WON, _D.LOST})

DISPUTE_TRANSITIONS: Final[dict[DisputeStatus, frozenset[DisputeStatus]]] = {
    _D.WARNING_NEEDS_RESPONSE: frozenset(
        {_D.WARNING_UNDER_REVIEW, _D.WARNING_CLOSED, _D.PREVENTED, *_OPEN_CHARGEBACK, *_DECIDED}
    ),
    _D.WARNING_UNDER_REVIEW: frozenset(
        {_D.WARNING_NEEDS_RESPONSE, _D.WARNING_CLOSED, _D.PREVENTED, *_OPEN_CHARGEBACK, *_DECIDED}
    ),
    _D.NEEDS_RESPONSE: frozenset({_D.UNDER_REVIEW, _D.WON, _D.LOST, _D.PREVENTED}),
    _D.UNDER_REVIEW: frozenset({_D.NEEDS_RESPONSE, _D.WON, _D.LOST}),
    _D.WARNING_CLOSED: frozenset(),
    _D.WON: frozenset(),
    _D.LOST: frozenset(),
    _D.PREVENTED: frozenset(),
}
"""Every allowed dispute move. An inquiry may escalate, or be decided outright: PayPal resolves
an inquiry in the buyer's favour by refunding them, and when the escalation's event is lost
the next one paykit sees is the decision. A chargeback may go back to
``needs_response`` when the network asks for more evidence; decided disputes are final."""


@attrs.define(kw_only=True)
class Dispute:
    """A dispute against one payment, as its provider reported it last.

    ``provider_status`` is the provider's own word (PayPal's ``UNDER_REVIEW``), kept beside
    the normalised ``status`` for whoever answers the dispute at the provider.
    """

    id: str
    payment_id: str
    provider: str
    provider_dispute_id: str
    amount: Money
    reason: str = ""
    status: DisputeStatus
    provider_status: str = ""
    evidence_due_by: datetime | None = None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    version: int = 0

    @property
    def is_closed(self) -> bool:
        """Whether the dispute has been decided."""
        return self.status in CLOSED_DISPUTE_STATUSES

    def transition_to(self, target: DisputeStatus, now: datetime) -> None:
        """Move to ``target`` if the table allows it; otherwise raise and change nothing."""
        check_transition(DISPUTE_TRANSITIONS, "dispute", self.status, target)
        self.status = target
        self.updated_at = now
        if target in CLOSED_DISPUTE_STATUSES:
            self.closed_at = now
