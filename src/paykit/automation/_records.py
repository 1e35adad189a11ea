"""The action records' work functions: decide and record, claim, finish, approve, dismiss.

Each runs inside one unit of work (``ServiceContext.transact``), so it may run several
times: it reads and writes through the transaction only. Recording a decision is where two
workers meet: the action is unique by ``(policy, payment_id)``, so of two units adding one,
the second conflicts, is retried, finds the first one's record and does nothing.
Every change is an audit entry (``automation``) on the payment, and a host event.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from paykit.automation._policies import RULES, Decision, PolicyInput
from paykit.automation._settings import AUTOMATION_ACTOR, Policy, PolicyName
from paykit.domain.automation import ActionMode, ActionStatus, AutomationAction
from paykit.domain.events import EventType
from paykit.domain.transaction_log import LogType
from paykit.errors import InvalidStateTransition
from paykit.money import Money
from paykit.service._rules.transaction import Transaction

__all__ = [
    "approve_action",
    "claim_stalled",
    "decide_and_record",
    "dismiss_action",
    "finish_action",
]

_S = ActionStatus

_COUNTED: Final = (_S.IN_PROGRESS, _S.DONE)
"""Actions that count toward a daily cap (when the policy took them on its own)."""

_EVENTS: Final = {
    _S.DRY_RUN: EventType.AUTOMATION_DRY_RUN,
    _S.PROPOSED: EventType.AUTOMATION_PROPOSED,
    _S.DONE: EventType.AUTOMATION_DONE,
    _S.FAILED: EventType.AUTOMATION_FAILED,
    _S.DISMISSED: EventType.AUTOMATION_DISMISSED,
}


def decide_and_record(
    tx: Transaction, *, policy: PolicyName, payment_id: str, given: PolicyInput
) -> AutomationAction | None:
    """Run ``policy``'s rule on the payment and record what it decided, once.

    ``None`` when the policy already has a record for the payment (a rerun, or another
    worker was first) or decides nothing. Otherwise the new record: ``dry_run``,
    ``proposed``, or ``in_progress`` (auto mode, under the daily caps; the caller then
    moves the money). A ``dry_run`` record is taken over when the policy has since been
    switched to ``propose`` or ``auto``.
    """
    settings = given.settings.policy(policy)
    existing = tx.uow.automation_actions.find(policy, payment_id)
    mode = settings.mode
    if mode is ActionMode.OFF:
        return None
    if existing is not None and not (
        existing.status is _S.DRY_RUN and mode is not ActionMode.DRY_RUN
    ):
        return None
    payment = tx.uow.payments.get(payment_id)
    decision = RULES[policy](tx, payment, given)
    if decision is None:
        return None
    status, note = _status_for(tx, settings, decision)
    if existing is None:
        action = AutomationAction(
            id=tx.new_id("act"),
            policy=str(policy),
            payment_id=payment_id,
            mode=mode,
            status=status,
            kind=decision.kind,
            amount=decision.amount,
            reason=decision.reason,
            actor=AUTOMATION_ACTOR,
            created_at=tx.now,
            updated_at=tx.now,
        )
        tx.uow.automation_actions.add(action)
    else:
        action = existing
        action.transition_to(status, tx.now)
        action.mode, action.kind, action.amount = mode, decision.kind, decision.amount
        action.reason = decision.reason
        action.created_at = tx.now  # decided (again) today: what the daily caps count
        tx.uow.automation_actions.update(action)
    if status is _S.IN_PROGRESS:
        action.lease_until = tx.now + given.settings.lease
    _log(tx, action, _describe(action, note))
    return action


def _status_for(tx: Transaction, settings: Policy, decision: Decision) -> tuple[ActionStatus, str]:
    """The status a new decision gets in the policy's mode; over a cap, a proposal."""
    if settings.mode is ActionMode.DRY_RUN:
        return _S.DRY_RUN, ""
    if settings.mode is ActionMode.PROPOSE:
        return _S.PROPOSED, ""
    over = _over_cap(tx, settings, decision)
    if over:
        return _S.PROPOSED, f"{over}: proposed for a person instead"
    return _S.IN_PROGRESS, ""


def _over_cap(tx: Transaction, settings: Policy, decision: Decision) -> str:
    """Which daily cap the decision would break (``""`` for none)."""
    amount_cap = settings.daily_amount_cap.get(decision.amount.currency)
    if settings.daily_count_cap is None and amount_cap is None:
        return ""
    midnight = tx.now.replace(hour=0, minute=0, second=0, microsecond=0)
    taken = [
        action
        for action in tx.uow.automation_actions.list(
            policy=str(decision.policy), statuses=_COUNTED, created_since=midnight
        )
        if action.actor == AUTOMATION_ACTOR
    ]
    if settings.daily_count_cap is not None and len(taken) >= settings.daily_count_cap:
        return f"daily cap of {settings.daily_count_cap} action(s) reached"
    if amount_cap is not None:
        spent = sum(
            (a.amount for a in taken if a.amount.currency == amount_cap.currency),
            Money.zero(amount_cap.currency),
        )
        if spent + decision.amount > amount_cap:
            return f"daily cap of {amount_cap} would be passed ({spent} already today)"
    return ""


def claim_stalled(tx: Transaction, *, action_id: str, lease: timedelta) -> AutomationAction | None:
    """Take over an ``in_progress`` action whose worker's lease ran out; ``None`` if held.

    The version bump makes two workers claiming one action conflict; the loser re-reads it,
    sees the new lease and gets ``None``.
    """
    action = tx.uow.automation_actions.get(action_id)
    held = action.lease_until is not None and action.lease_until > tx.now
    if action.status is not _S.IN_PROGRESS or held:
        return None
    action.lease_until = tx.now + lease
    action.updated_at = tx.now
    tx.uow.automation_actions.update(action)
    _log(tx, action, f"{action.policy}: taking over a stalled {action.kind} of {action.amount}")
    return action


def finish_action(
    tx: Transaction, *, action_id: str, refund_id: str | None, error: str | None
) -> AutomationAction:
    """Record how carrying out an ``in_progress`` action ended: ``done``, or ``failed``.

    An action another worker already finished is returned as it is.
    """
    action = tx.uow.automation_actions.get(action_id)
    if action.status is not _S.IN_PROGRESS:
        return action
    action.transition_to(_S.FAILED if error else _S.DONE, tx.now)
    action.refund_id = refund_id or action.refund_id
    action.error = error
    action.lease_until = None
    tx.uow.automation_actions.update(action)
    if error:
        message = f"{action.policy}: {action.kind} of {action.amount} failed: {error}"
    else:
        message = f"{action.policy}: {_past(action)} {action.amount} ({action.reason})"
    _log(tx, action, message)
    return action


def approve_action(
    tx: Transaction, *, action_id: str, by: str, lease: timedelta
) -> AutomationAction:
    """A person approves a proposal: it becomes ``in_progress`` for them (caps do not apply)."""
    action = _proposal(tx, action_id, "approve")
    action.transition_to(_S.IN_PROGRESS, tx.now)
    action.actor = by
    action.lease_until = tx.now + lease
    tx.uow.automation_actions.update(action)
    _log(tx, action, f"{action.policy}: {action.kind} of {action.amount} approved by {by}")
    return action


def dismiss_action(tx: Transaction, *, action_id: str, by: str, note: str) -> AutomationAction:
    """A person dismisses a proposal: nothing is done, and the policy never proposes it again."""
    action = _proposal(tx, action_id, "dismiss")
    action.transition_to(_S.DISMISSED, tx.now)
    action.actor = by
    tx.uow.automation_actions.update(action)
    because = f": {note}" if note else ""
    _log(tx, action, f"{action.policy}: {action.kind} dismissed by {by}{because}")
    return action


def _proposal(tx: Transaction, action_id: str, verb: str) -> AutomationAction:
    action = tx.uow.automation_actions.get(action_id)
    if action.status is not _S.PROPOSED:
        msg = f"cannot {verb} automation action {action.id}: it is {action.status}, not proposed"
        raise InvalidStateTransition(msg, current=str(action.status), requested=verb)
    return action


def _describe(action: AutomationAction, note: str) -> str:
    verbs = {
        _S.DRY_RUN: "would",
        _S.PROPOSED: "proposes to",
        _S.IN_PROGRESS: "will",
    }
    text = f"{action.policy} ({action.mode}): {verbs[action.status]} {action.kind} {action.amount}"
    text += f": {action.reason}"
    return f"{text}; {note}" if note else text


def _past(action: AutomationAction) -> str:
    return {
        "cancel": "cancelled",
        "void": "voided",
        "refund": "refunded",
        "provider_void": "voided at the provider",
        "provider_refund": "refunded at the provider",
    }[str(action.kind)]


def _log(tx: Transaction, action: AutomationAction, message: str) -> None:
    """The audit entry of a change to ``action``, and its host event (if it has one)."""
    tx.log(
        action.payment_id,
        LogType.AUTOMATION,
        message,
        refund_id=action.refund_id,
        amount=action.amount,
        data={
            "action_id": action.id,
            "policy": action.policy,
            "mode": str(action.mode),
            "status": str(action.status),
            "kind": str(action.kind),
            "actor": action.actor,
        },
    )
    event = _EVENTS.get(action.status)
    if event is not None:
        tx.emit(event, tx.uow.payments.get(action.payment_id), detail=message)
