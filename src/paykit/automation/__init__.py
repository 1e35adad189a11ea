"""Automated refund policies: give money back when a rule says so, never twice.

Six policies, each off until the host gives it a mode (``dry_run``, ``propose`` or
``auto``) in :class:`AutomationSettings`, with optional daily caps: ``order_cancelled``
(``service.order_cancelled(order_id, reason)``), ``duplicate_charge``, ``late_success``,
``early_dispute``, ``expiring_authorization`` and ``unwanted_payment``. They run from the
events that concern them, from the host's call, and from a sweep (``paykit automate``).
Each decision is recorded once per (policy, payment) -- an :class:`AutomationAction` -- so a
rerun or a second worker never acts twice; money goes back by voiding what was not captured
and refunding what was. See docs/automation.md.
"""

from __future__ import annotations

from paykit.automation._automation import (
    Automation,
    AutomationProgress,
    AutomationReport,
    refund_idempotency_key,
)
from paykit.automation._settings import (
    AUTOMATION_ACTOR,
    AutomationSettings,
    DuplicateChargePolicy,
    EarlyDisputePolicy,
    ExpiringAuthorizationPolicy,
    OrderState,
    OrderStateCallback,
    Policy,
    PolicyName,
    UnwantedPaymentPolicy,
)
from paykit.domain.automation import ActionKind, ActionMode, ActionStatus, AutomationAction

__all__ = [
    "AUTOMATION_ACTOR",
    "ActionKind",
    "ActionMode",
    "ActionStatus",
    "Automation",
    "AutomationAction",
    "AutomationProgress",
    "AutomationReport",
    "AutomationSettings",
    "DuplicateChargePolicy",
    "EarlyDisputePolicy",
    "ExpiringAuthorizationPolicy",
    "OrderState",
    "OrderStateCallback",
    "Policy",
    "PolicyName",
    "UnwantedPaymentPolicy",
    "refund_idempotency_key",
]
