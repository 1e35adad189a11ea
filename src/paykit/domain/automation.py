"""AutomationAction: what one automated refund policy did, or would do, about one payment.

A policy (``paykit.automation``) that finds a payment to give money back on writes one
action record, unique by ``(policy, payment_id)``: two workers deciding about the same
payment cannot both write one, and a policy run twice finds its record and does nothing
again. The record says what the policy chose (``kind``: void, cancel or refund), how much,
in which ``mode`` it ran, and where it stands::

    dry_run                                     (dry-run mode: logged, nothing moved)
    proposed ──approve──> in_progress ──> done | failed
        └──dismiss──> dismissed
    in_progress ──> done | failed               (auto mode)

``in_progress`` carries a lease (``lease_until``): a worker that dies while moving the money
leaves the record there, and a later sweep claims it once the lease ran out and finishes the
job with the same idempotency keys, so nothing moves twice. A ``dry_run`` record may become
``proposed`` or ``in_progress`` when its policy is switched on.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Final

import attrs

from paykit.domain._transitions import check_transition
from paykit.money import Money

__all__ = [
    "ACTION_TRANSITIONS",
    "ActionKind",
    "ActionMode",
    "ActionStatus",
    "AutomationAction",
]


class ActionMode(StrEnum):
    """How a policy runs; every policy is ``off`` until the host turns it on."""

    OFF = "off"
    """The policy does nothing and records nothing."""
    DRY_RUN = "dry_run"
    """Log and record what the policy would do; move no money."""
    PROPOSE = "propose"
    """Queue the action for a person, who approves or dismisses it."""
    AUTO = "auto"
    """Act at once (within the policy's daily caps)."""


class ActionStatus(StrEnum):
    """Where an action stands."""

    DRY_RUN = "dry_run"
    """Recorded in dry-run mode: what would have been done."""
    PROPOSED = "proposed"
    """Waiting for a person to approve or dismiss it."""
    IN_PROGRESS = "in_progress"
    """Claimed by a worker that is moving the money (until ``lease_until``)."""
    DONE = "done"
    """The void, cancel or refund was made (a refund may still be settling at the provider)."""
    DISMISSED = "dismissed"
    """A person decided against it."""
    FAILED = "failed"
    """The void, cancel or refund was refused; ``error`` says why. A person must look."""


class ActionKind(StrEnum):
    """What an action does to its payment: void before refund wherever nothing was captured."""

    CANCEL = "cancel"
    """A payment never submitted, or waiting for the customer: cancelled."""
    VOID = "void"
    """An authorization (money held, not taken): voided."""
    REFUND = "refund"
    """Captured money: refunded through ``create_refund``."""
    PROVIDER_VOID = "provider_void"
    """An authorization paykit records as failed or cancelled: voided at the provider."""
    PROVIDER_REFUND = "provider_refund"
    """A charge paykit records as failed or cancelled: refunded at the provider."""


_S = ActionStatus

ACTION_TRANSITIONS: Final[dict[ActionStatus, frozenset[ActionStatus]]] = {
    _S.DRY_RUN: frozenset({_S.PROPOSED, _S.IN_PROGRESS}),
    _S.PROPOSED: frozenset({_S.IN_PROGRESS, _S.DISMISSED}),
    _S.IN_PROGRESS: frozenset({_S.IN_PROGRESS, _S.DONE, _S.FAILED}),
    _S.DONE: frozenset(),
    _S.DISMISSED: frozenset(),
    _S.FAILED: frozenset(),
}
"""Every allowed move of an action (``in_progress -> in_progress`` is a sweep's re-claim)."""


@attrs.define(kw_only=True)
class AutomationAction:
    """One policy's decision about one payment, unique in storage by ``(policy, payment_id)``."""

    id: str
    policy: str
    """The policy's name, e.g. ``duplicate_charge``."""
    payment_id: str
    mode: ActionMode
    """The mode the policy ran in when it decided."""
    status: ActionStatus
    kind: ActionKind
    amount: Money
    """What the action moves (or would move): the refund's amount, or the held amount."""
    reason: str = ""
    """Why, in words: the refund's reason and the audit log's message."""
    actor: str = ""
    """Who acted: ``automation`` for the policy itself, else the person who approved or
    dismissed it."""
    refund_id: str | None = None
    """The refund the action created, if it refunded through paykit."""
    error: str | None = None
    """Why a ``failed`` action failed."""
    created_at: datetime
    updated_at: datetime
    lease_until: datetime | None = None
    """While ``in_progress``: when another worker may take the action over."""
    version: int = 0

    def transition_to(self, target: ActionStatus, now: datetime) -> None:
        """Move to ``target`` if the table allows it; otherwise raise and change nothing."""
        check_transition(ACTION_TRANSITIONS, "automation action", self.status, target)
        self.status = target
        self.updated_at = now
