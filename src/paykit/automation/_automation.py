"""``service.automation``: the policies run from events, from the host, and from a sweep.

Each policy decides about one payment at a time (``_policies``), and its decision is
recorded once, unique by ``(policy, payment)`` (``_records``). In ``auto`` mode the money
then moves through the service's own operations -- ``cancel_payment``, ``void_payment``,
``create_refund`` and ``process_refund`` -- with idempotency keys derived from the policy
and the payment, so a rerun, a retry or a second worker never moves it twice. Only
``late_success`` calls a gateway itself: paykit's records say no money was taken, so there
is no paykit payment to refund, and the provider is asked to void or refund its own charge.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any, Final

import attrs

from paykit.automation._policies import PolicyInput, refund_reason
from paykit.automation._records import (
    approve_action,
    claim_stalled,
    decide_and_record,
    dismiss_action,
    finish_action,
)
from paykit.automation._settings import (
    AUTOMATION_ACTOR,
    AutomationSettings,
    OrderState,
    PolicyName,
)
from paykit.domain.automation import ActionKind, ActionStatus, AutomationAction
from paykit.domain.events import Event, EventType
from paykit.domain.payment import Payment, PaymentStatus
from paykit.domain.refund import RefundStatus
from paykit.errors import PaykitError, RefundProcessingError, ValidationError
from paykit.gateways.base import GatewayOutcome, RefundRequest, VoidRequest
from paykit.service._context import ProviderFailure, ServiceContext, call_provider
from paykit.service._payments import Payments
from paykit.service._refunds import Refunds
from paykit.service._rules.provider_keys import Operation, provider_key
from paykit.service._rules.transaction import Transaction
from paykit.service._rules.validation import checked_id, checked_text

__all__ = ["Automation", "AutomationProgress", "AutomationReport", "refund_idempotency_key"]

_P = PaymentStatus
_S = ActionStatus
_N = PolicyName
_E = EventType

_TRIGGERS: Final[Mapping[EventType, tuple[PolicyName, ...]]] = {
    _E.PAYMENT_COMPLETED: (_N.DUPLICATE_CHARGE, _N.UNWANTED_PAYMENT),
    _E.PAYMENT_AUTHORIZED: (_N.UNWANTED_PAYMENT,),
    _E.PAYMENT_NEEDS_REVIEW: (_N.LATE_SUCCESS,),
    _E.DISPUTE_CREATED: (_N.EARLY_DISPUTE,),
    _E.DISPUTE_UPDATED: (_N.EARLY_DISPUTE,),
}
"""The events each policy runs from (``order_cancelled`` runs when the host calls it)."""

_SWEPT: Final[Mapping[PolicyName, tuple[PaymentStatus, ...]]] = {
    _N.DUPLICATE_CHARGE: (_P.COMPLETED,),
    _N.UNWANTED_PAYMENT: (_P.COMPLETED, _P.AUTHORIZED),
    _N.LATE_SUCCESS: (_P.FAILED, _P.CANCELLED),
    _N.EARLY_DISPUTE: (_P.COMPLETED, _P.PARTIALLY_REFUNDED),
    _N.EXPIRING_AUTHORIZATION: (_P.AUTHORIZED,),
}
"""The payments a sweep asks each policy about (``order_cancelled`` needs the host's call)."""

_log = logging.getLogger("paykit.automation")


def refund_idempotency_key(policy: PolicyName | str, payment_id: str) -> str:
    """The ``create_refund`` idempotency key of a refund ``policy`` makes on ``payment_id``."""
    return f"automation:{policy}:{payment_id}"


@attrs.frozen(kw_only=True)
class AutomationProgress:
    """One step of a sweep, for progress bars: ``done`` of ``total`` decisions."""

    done: int
    total: int
    policy: str
    payment_id: str
    status: str
    """The action's status after the step, or ``"nothing"`` when no action was recorded."""


@attrs.frozen(kw_only=True)
class AutomationReport:
    """What one sweep did: per policy, how many actions ended in each status."""

    examined: int
    """Decisions asked for (payments looked at, per policy, plus stalled actions resumed)."""
    resumed: int
    """Stalled ``in_progress`` actions this sweep took over from a worker that stopped."""
    by_policy: Mapping[str, Mapping[str, int]]
    """``{policy: {status: count}}`` of the actions this sweep recorded or finished."""

    def count(self, status: ActionStatus | str, policy: str | None = None) -> int:
        """How many actions ended in ``status`` (of ``policy``, or of all policies)."""
        policies = self.by_policy.values() if policy is None else [self.by_policy.get(policy, {})]
        return sum(counts.get(str(status), 0) for counts in policies)


ProgressCallback = Callable[[AutomationProgress], None]


class Automation:
    """Automated refund policies (``service.automation``); see docs/automation.md.

    Nothing runs until a policy is given a mode (:class:`AutomationSettings`), so a service
    without settings behaves exactly as one without this part.
    """

    def __init__(
        self,
        context: ServiceContext,
        payments: Payments,
        refunds: Refunds,
        settings: AutomationSettings | None = None,
    ) -> None:
        self._context = context
        self._payments = payments
        self._refunds = refunds
        self._settings = AutomationSettings() if settings is None else settings
        self._subscribed = False
        if self._settings.any_on:
            self._subscribe()

    @property
    def settings(self) -> AutomationSettings:
        """The policies' current settings."""
        return self._settings

    def configure(self, settings: AutomationSettings) -> None:
        """Replace the settings; policies switched on start listening to their events."""
        self._settings = settings
        if settings.any_on:
            self._subscribe()

    # -- running the policies ----------------------------------------------------------------

    def order_cancelled(self, order_id: str, reason: str = "") -> list[AutomationAction]:
        """The host cancelled ``order_id``: void, refund or cancel each of its payments.

        Authorized payments are voided, captured ones refunded (what is still refundable),
        pending ones and those waiting for the customer cancelled, each as the
        ``order_cancelled`` policy's mode says. A payment still ``processing`` is left
        alone (its outcome is unknown): reconcile it and call again. Calling again never
        acts twice. Returns the policy's actions on the order's payments, as they stand.
        Raises ``ValidationError`` while the policy is off.
        """
        order_id = checked_text(order_id, "order_id", max_length=255)
        reason = checked_text(reason, "reason", required=False)
        if not self._settings.order_cancelled.is_on:
            msg = "the order_cancelled policy is off; give it a mode in AutomationSettings"
            raise ValidationError(msg, field="order_cancelled")
        actions: list[AutomationAction] = []
        for payment in self._payments.find(order_id=order_id):
            self.run(_N.ORDER_CANCELLED, payment.id, cancel_reason=reason)
            found = self._find(_N.ORDER_CANCELLED, payment.id)
            if found is not None:
                actions.append(found)
        return actions

    def run(
        self, policy: PolicyName | str, payment_id: str, *, cancel_reason: str = ""
    ) -> AutomationAction | None:
        """Run one policy on one payment now, as its events and the sweep do.

        Returns the action it recorded (and, in ``auto`` mode, carried out), or ``None``
        when the policy is off, decided nothing, or already has an action on the payment.
        """
        name = PolicyName(policy)
        payment_id = checked_id(payment_id, "payment_id")
        settings = self._settings
        if not settings.policy(name).is_on:
            return None
        given = PolicyInput(
            now=self._context.clock(),
            settings=settings,
            order_state=self._order_state(name, payment_id, settings),
            cancel_reason=cancel_reason,
        )
        action = self._context.transact(
            partial(decide_and_record, policy=name, payment_id=payment_id, given=given)
        )
        if action is None:
            return None
        _log.info("%s on payment %s: %s", name, payment_id, action.status)
        if action.status is _S.IN_PROGRESS:
            action = self._carry_out(action)
        return action

    def sweep(
        self, *, limit: int = 1000, progress: ProgressCallback | None = None
    ) -> AutomationReport:
        """Run every policy that is on over the payments it is about; finish stalled actions.

        Each policy looks at up to ``limit`` payments (those changed within the settings'
        ``lookback``; every authorization for ``expiring_authorization``). Actions left
        ``in_progress`` by a worker whose lease ran out are finished first. Safe to run
        from several workers at once: each decision is recorded once, and a stalled action
        is claimed under a lease before it is finished.
        """
        if limit < 1:
            raise ValidationError("must be at least 1", field="limit")
        settings = self._settings
        now = self._context.clock()
        stalled = self._context.read(partial(_stalled, now=now, limit=limit))
        work: list[tuple[str, str, Callable[[], AutomationAction | None]]] = [
            (action.policy, action.payment_id, partial(self._resume, action.id))
            for action in stalled
        ]
        for name in _SWEPT:
            if not settings.policy(name).is_on:
                continue
            since = now - settings.lookback
            candidates = self._context.read(
                partial(_candidates, policy=name, since=since, limit=limit)
            )
            work += [(name, pid, partial(self.run, name, pid)) for pid in candidates]
        tallies: dict[str, Counter[str]] = {}
        resumed = 0
        for done, (policy, payment_id, step) in enumerate(work, start=1):
            action = _guarded(step, policy, payment_id)
            status = "nothing" if action is None else str(action.status)
            if action is not None:
                tallies.setdefault(policy, Counter())[status] += 1
                resumed += done <= len(stalled)
            if progress is not None:
                progress(
                    AutomationProgress(
                        done=done,
                        total=len(work),
                        policy=policy,
                        payment_id=payment_id,
                        status=status,
                    )
                )
        return AutomationReport(
            examined=len(work),
            resumed=resumed,
            by_policy={policy: dict(counts) for policy, counts in tallies.items()},
        )

    # -- proposals and records -----------------------------------------------------------

    def proposals(self, *, policy: PolicyName | str | None = None) -> list[AutomationAction]:
        """Actions waiting for a person, oldest first."""
        return self.actions(policy=policy, status=_S.PROPOSED)

    def actions(
        self,
        *,
        policy: PolicyName | str | None = None,
        payment_id: str | None = None,
        status: ActionStatus | str | None = None,
    ) -> list[AutomationAction]:
        """The policies' actions matching every given filter, oldest first."""
        name = None if policy is None else str(PolicyName(policy))
        if payment_id is not None:
            payment_id = checked_id(payment_id, "payment_id")
        statuses = None if status is None else [_status(status)]
        return list(
            self._context.read(
                lambda tx: tx.uow.automation_actions.list(
                    policy=name, payment_id=payment_id, statuses=statuses
                )
            )
        )

    def get_action(self, action_id: str) -> AutomationAction:
        """One action (``NotFound`` if there is none)."""
        action_id = checked_id(action_id, "action_id")
        return self._context.read(lambda tx: tx.uow.automation_actions.get(action_id))

    def approve(self, action_id: str, *, by: str) -> AutomationAction:
        """A person (``by``) approves a proposal: it is carried out now, caps aside."""
        action_id = checked_id(action_id, "action_id")
        by = checked_text(by, "by", max_length=255)
        lease = self._settings.lease
        action = self._context.transact(
            partial(approve_action, action_id=action_id, by=by, lease=lease)
        )
        return self._carry_out(action)

    def dismiss(self, action_id: str, *, by: str, note: str = "") -> AutomationAction:
        """A person (``by``) dismisses a proposal: nothing moves, and it is not proposed again."""
        action_id = checked_id(action_id, "action_id")
        by = checked_text(by, "by", max_length=255)
        note = checked_text(note, "note", required=False)
        return self._context.transact(
            partial(dismiss_action, action_id=action_id, by=by, note=note)
        )

    # -- inside ------------------------------------------------------------------------------

    def _subscribe(self) -> None:
        if self._subscribed:
            return
        for event_type in _TRIGGERS:
            self._context.events.subscribe(event_type, self._on_event)
        self._subscribed = True

    def _on_event(self, event: Event) -> None:
        """Run the policies ``event`` triggers on its payment; a failure is logged, not raised."""
        for policy in _TRIGGERS.get(event.type, ()):
            _guarded(partial(self.run, policy, event.payment.id), policy, event.payment.id)

    def _find(self, policy: PolicyName, payment_id: str) -> AutomationAction | None:
        return self._context.read(lambda tx: tx.uow.automation_actions.find(policy, payment_id))

    def _order_state(
        self, policy: PolicyName, payment_id: str, settings: AutomationSettings
    ) -> OrderState | None:
        """Ask the host about the payment's order, before any unit of work (it may rerun)."""
        ask = settings.unwanted_payment.order_state
        if policy is not _N.UNWANTED_PAYMENT or ask is None:
            return None
        payment = self._payments.get(payment_id)
        if payment.status not in (_P.COMPLETED, _P.AUTHORIZED):
            return None
        if self._find(policy, payment_id) is not None:
            return None  # decided before: do not bother the host again
        answer = ask(payment.order_id, payment)
        try:
            return OrderState(answer)
        except ValueError:
            msg = f"order_state returned {answer!r}; return one of open, paid, expired"
            raise ValidationError(msg, field="order_state") from None

    def _resume(self, action_id: str) -> AutomationAction | None:
        lease = self._settings.lease
        action = self._context.transact(partial(claim_stalled, action_id=action_id, lease=lease))
        return None if action is None else self._carry_out(action)

    def _carry_out(self, action: AutomationAction) -> AutomationAction:
        """Move the money an ``in_progress`` action says, then record how it ended."""
        refund_id: str | None = None
        error: str | None = None
        try:
            refund_id = self._move_money(action)
        except _Refused as refused:
            refund_id, error = refused.refund_id, refused.reason
        except PaykitError as failure:
            error = f"{type(failure).__name__}: {failure}"
        finished = self._context.transact(
            partial(finish_action, action_id=action.id, refund_id=refund_id, error=error)
        )
        if error:
            _log.warning("%s on payment %s failed: %s", action.policy, action.payment_id, error)
        return finished

    def _move_money(self, action: AutomationAction) -> str | None:
        """Void, cancel or refund as ``action`` says; the refund's id, if one was made."""
        kind = action.kind
        if kind is ActionKind.REFUND:
            return self._refund(action)
        payment = self._payments.get(action.payment_id)
        if kind in (ActionKind.PROVIDER_REFUND, ActionKind.PROVIDER_VOID):
            self._at_provider(action, payment)
            return None
        if payment.status is _P.CANCELLED:
            return None  # done before (a rerun after a crash, or by someone else)
        if kind is ActionKind.VOID and payment.status is not _P.AUTHORIZED:
            raise _Refused(None, f"payment is {payment.status} now; nothing to void")
        cancelled = self._payments.cancel(payment.id)  # voids an authorization at the provider
        if cancelled.status is not _P.CANCELLED:
            msg = f"{kind} left the payment {cancelled.status}; reconcile it and check by hand"
            raise _Refused(None, msg)
        return None

    def _refund(self, action: AutomationAction) -> str:
        """Create (once, by its idempotency key) and process the refund ``action`` says."""
        metadata: dict[str, Any] = {
            "processed_by": f"automation:{action.policy}",
            "automation_policy": action.policy,
            "automation_action_id": action.id,
        }
        if action.actor != AUTOMATION_ACTOR:
            metadata["approved_by"] = action.actor
        refund = self._refunds.create(
            action.payment_id,
            action.amount.amount,
            reason=refund_reason(action.policy),
            metadata=metadata,
            idempotency_key=refund_idempotency_key(action.policy, action.payment_id),
        )
        if refund.status is RefundStatus.PENDING:
            try:
                refund = self._refunds.process(refund.id)
            except RefundProcessingError:
                refund = self._refunds.get(refund.id)  # failed, or processing: reconciled later
        if refund.status in (RefundStatus.FAILED, RefundStatus.CANCELLED):
            why = refund.failure_message or refund.failure_code or str(refund.status)
            raise _Refused(refund.id, f"refund {refund.id} {refund.status}: {why}")
        return refund.id

    def _at_provider(self, action: AutomationAction, payment: Payment) -> None:
        """Void or refund at the provider a charge paykit records as failed or cancelled."""
        gateway = self._context.gateways.by_name(payment.provider)
        provider_payment_id = payment.provider_payment_id
        if provider_payment_id is None:
            raise _Refused(None, "the provider's id of the payment is unknown")
        if action.kind is ActionKind.PROVIDER_VOID:
            void = VoidRequest(
                payment_id=payment.id,
                provider_payment_id=provider_payment_id,
                idempotency_key=provider_key(action.id, Operation.VOID),
            )
            outcome = call_provider(lambda: gateway.void(void))
        else:
            refund = RefundRequest(
                refund_id=action.id,
                payment_id=payment.id,
                provider_payment_id=provider_payment_id,
                amount=action.amount,
                idempotency_key=provider_key(action.id, Operation.REFUND),
                reason=refund_reason(action.policy),
            )
            outcome = call_provider(lambda: gateway.refund(refund))
        if isinstance(outcome, ProviderFailure):
            raise _Refused(None, f"{payment.provider} {outcome.describe()}")
        if outcome.outcome not in (GatewayOutcome.SUCCEEDED, GatewayOutcome.PENDING):
            said = outcome.message or outcome.decline_code or ""
            raise _Refused(None, f"{payment.provider} says {outcome.outcome} {said}".strip())


class _Refused(Exception):  # noqa: N818 - an outcome, not a bug: it never leaves this module
    """Carrying out an action did not move the money; ``reason`` says why."""

    def __init__(self, refund_id: str | None, reason: str) -> None:
        super().__init__(reason)
        self.refund_id = refund_id
        self.reason = reason


def _guarded(
    step: Callable[[], AutomationAction | None], policy: str, payment_id: str
) -> AutomationAction | None:
    """Run one decision; a failure (the host's callback, a database error) is logged.

    One payment's trouble must not stop a sweep, nor the caller whose event triggered it:
    the next sweep tries again.
    """
    try:
        return step()
    except Exception:  # noqa: BLE001 - logged; the next sweep tries again
        _log.exception("automation policy %s on payment %s raised", policy, payment_id)
        return None


def _status(value: ActionStatus | str) -> ActionStatus:
    try:
        return ActionStatus(value)
    except ValueError:
        choices = ", ".join(status.value for status in ActionStatus)
        msg = f"{value!r} is not an action status; use one of {choices}"
        raise ValidationError(msg, field="status") from None


def _stalled(tx: Transaction, *, now: datetime, limit: int) -> Sequence[AutomationAction]:
    """``in_progress`` actions whose worker's lease has run out."""
    running = tx.uow.automation_actions.list(statuses=[_S.IN_PROGRESS])
    stalled = [a for a in running if a.lease_until is None or a.lease_until <= now]
    return stalled[:limit]


def _candidates(tx: Transaction, *, policy: PolicyName, since: datetime, limit: int) -> list[str]:
    """The ids of the payments ``policy`` should decide about in a sweep, oldest first."""
    chosen: list[Payment] = []
    every = policy is _N.EXPIRING_AUTHORIZATION
    for status in _SWEPT[policy]:
        payments = tx.uow.payments.list(status=status)
        chosen.extend(p for p in payments if every or p.updated_at >= since)
    # Newest first, so that a sweep capped by ``limit`` always reaches the payments that
    # arrived since the last one; oldest first for authorizations, the nearest to lapsing.
    newest_first = policy is not _N.EXPIRING_AUTHORIZATION
    chosen.sort(key=lambda payment: (payment.created_at, payment.id), reverse=newest_first)
    return [payment.id for payment in chosen[:limit]]
