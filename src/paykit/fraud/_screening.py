"""FraudScreening: the rules, the lists, the scorer and the fallback, as the service runs them.

``PaymentService(..., fraud=FraudScreening(rules))`` turns screening on. For each
``process_payment``:

1. the facts the rules need (the payment, its method's card details, the risk context,
   velocity counters, list memberships) are read in the claim's unit of work, which reads
   the payment and its method anyway -- or, when there is an external scorer, in a read of
   their own before it, and
2. the scorer is asked, outside any unit of work;
3. the rules decide (``_engine``); the claim's unit of work records the decision in the
   audit log and, for ``block``, fails the payment with ``failure_code="fraud_blocked"``:
   nothing is sent to the provider;
4. ``review`` charges authorize-only, whatever the payment's ``capture``; so do all charges
   when there are post-authorization rules, which then read the provider's own risk signal
   and hold the payment for review, void it, or let it be captured.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from functools import partial
from typing import Final, cast

import attrs

from paykit.domain.events import EventType
from paykit.domain.payment import Payment, PaymentStatus
from paykit.domain.payment_method import PaymentMethod
from paykit.domain.risk import FRAUD_BLOCKED, ReviewState, RiskAction, RiskAssessment
from paykit.domain.risk_context import RiskContext
from paykit.domain.transaction_log import LogType
from paykit.errors import InvalidStateTransition, ValidationError
from paykit.fraud._engine import Decision, decide, describe_value
from paykit.fraud._facts import Gathered, gather, profile
from paykit.fraud._language import Value
from paykit.fraud._rates import ExchangeRates
from paykit.fraud._rules import Rule, RuleSet
from paykit.fraud._scorer import FraudCheck, ScoreRequest, ScoreResult
from paykit.fraud._signals import ProviderSignal, provider_signal
from paykit.gateways.base import GatewayResult
from paykit.service._context import AfterCharge, Decide, Verdict
from paykit.service._rules.transaction import Transaction
from paykit.service._steps import Steps, consult, read, transact

__all__ = ["FRAUD_BLOCKED", "FraudScreening", "ScreeningVerdict"]

"""``failure_code`` of a payment a fraud rule blocked: it was never sent to the provider."""

_P = PaymentStatus
_FALLBACKS: Final = frozenset({RiskAction.ALLOW, RiskAction.REVIEW})


@attrs.frozen
class ScreeningVerdict:
    """The decision about one payment before its charge, and how to record it."""

    decision: Decision
    assessment: RiskAssessment
    """The payment's assessment, decision applied (written by :meth:`record`)."""
    gathered: Gathered
    deferred_capture: bool
    """The charge authorizes only, though the host asked to capture (review, later rules)."""

    @property
    def blocks(self) -> bool:
        """Fail the payment and send nothing."""
        return self.decision.action is RiskAction.BLOCK

    @property
    def captures(self) -> bool:
        """Whether the charge may capture at once."""
        return not self.deferred_capture

    @property
    def three_d_secure(self) -> bool:
        """Whether a ``request_3ds`` rule matched: the charge asks for 3-D Secure."""
        return self.decision.three_d_secure

    def record(self, tx: Transaction, payment: Payment) -> None:
        """Write the assessment and its audit entry; fail a blocked payment."""
        assessment = attrs.evolve(self.assessment, updated_at=tx.now, declined=self.blocks)
        # The payment's one assessment (only a pending payment is claimed, once); a racing
        # claim loses on the payment's version. The context create_payment kept is in it now
        # (the payment lets its own copy go as it leaves pending).
        tx.uow.risk_assessments.add(assessment)
        decision = self.decision
        tx.log(
            payment.id,
            LogType.FRAUD_SCREENED,
            _summary("screened", decision),
            amount=payment.amount,
            data=decision.audit_data(),
        )
        if not self.blocks:
            return
        payment.failure_code = FRAUD_BLOCKED
        payment.failure_message = f"blocked by fraud rule {decision.deciding_rule}"
        tx.move_payment(
            payment,
            _P.PROCESSING,
            LogType.PAYMENT_PROCESSING,
            "fraud screening: blocked, not sent to the provider",
        )
        tx.move_payment(
            payment,
            _P.FAILED,
            LogType.PAYMENT_FAILED,
            f"blocked by fraud rule {decision.deciding_rule} (score {decision.score})",
        )


def _summary(stage: str, decision: Decision) -> str:
    fired = ", ".join(decision.fired) or "no rule"
    text = f"fraud {stage}: {decision.action} (score {decision.score}; fired: {fired})"
    if decision.shadow_fired:
        text += f"; shadow: {', '.join(decision.shadow_fired)}"
    if decision.fallback:
        text += f"; {decision.fallback}"
    return text


class FraudScreening:
    """Fraud screening for a :class:`~paykit.service.PaymentService` (``fraud=...``).

    ``rules`` is a :class:`RuleSet` (``RuleSet.from_file("rules.toml")``) or rules built in
    Python. ``scorer`` is an external :class:`FraudCheck`, asked with ``scorer_timeout``
    seconds to answer; when it fails, ``fallback`` (``review`` or ``allow``) decides where
    the rules would have allowed the payment -- a scorer never blocks by itself. ``rates``
    converts amounts for ``:amount_in_<currency>:`` rules.
    """

    def __init__(
        self,
        rules: RuleSet | Iterable[Rule],
        *,
        scorer: FraudCheck | None = None,
        scorer_timeout: float = 2.0,
        fallback: RiskAction | str = RiskAction.REVIEW,
        rates: ExchangeRates | None = None,
    ) -> None:
        self.rules = rules if isinstance(rules, RuleSet) else RuleSet(rules)
        self.scorer = scorer
        self.scorer_timeout = scorer_timeout
        try:
            self.fallback = RiskAction(fallback)
        except ValueError:
            self.fallback = RiskAction.BLOCK  # refused just below, with the same message
        if self.fallback not in _FALLBACKS:
            raise ValidationError("must be 'review' or 'allow': never block", field="fallback")
        self.rates = rates

    def __repr__(self) -> str:
        return f"FraudScreening({self.rules!r}, scorer={self.scorer!r}, fallback={self.fallback})"

    # -- the service's hooks (paykit.service._context.Screening) ----------------------------

    def context_to_keep(self, risk: object) -> RiskContext | None:
        """The context given to ``create_payment``, checked, for the payment to keep.

        It waits on the payment (``Payment.risk_context``), not in an assessment of its own:
        the claim writes the payment's one assessment, so screening adds one write per
        payment wherever the host gives the context.
        """
        return _context(risk)

    def screen(self, payment_id: str, risk: object) -> Steps[Decide]:
        """Prepare the decision; the claim's unit of work makes it (see ``Screening``).

        Without a scorer there is nothing to do outside a unit of work: the facts are read in
        the claim's, which has just read the payment and its method. A scorer is called
        outside any unit of work, so its facts are read first, in a read of their own.
        """
        context = _context(risk)
        if self.scorer is None:
            return partial(self._decide, context=context)
        picture = yield from read(
            partial(self._gather_by_id, payment_id=payment_id, context=context)
        )
        payment, assessment, gathered = picture
        request = ScoreRequest(
            payment_id=payment.id,
            customer_id=payment.customer_id,
            amount=payment.amount,
            facts={
                name: describe_value(value)
                for name, value in gathered.facts.items()
                if value is not None and name in _SCORER_FACTS
            },
        )
        answer = yield from consult(partial(self._score, request))
        verdict = self._verdict(payment, assessment, gathered, answer)
        return partial(_decided, verdict)

    def _decide(
        self,
        tx: Transaction,
        payment: Payment,
        method: PaymentMethod,
        *,
        context: RiskContext | None,
    ) -> ScreeningVerdict:
        """The verdict on ``payment`` from facts read in ``tx`` (the claim's unit of work)."""
        assessment, gathered = self._gather(tx, payment, method, context)
        return self._verdict(payment, assessment, gathered, None)

    def _verdict(
        self,
        payment: Payment,
        assessment: RiskAssessment,
        gathered: Gathered,
        answer: ScoreResult | str | None,
    ) -> ScreeningVerdict:
        """The rules' decision, with the scorer's ``answer`` (or why it gave none) if asked."""
        facts = gathered.facts
        unavailable: str | None = None
        if isinstance(answer, ScoreResult):
            facts["scorer_score"] = answer.score
            facts["scorer_unavailable"] = False
        elif answer is not None:
            unavailable = answer
            facts["scorer_score"] = None
            facts["scorer_unavailable"] = True
        decision = decide(self.rules.before_charge, facts, gathered.is_member)
        if unavailable is not None and decision.deciding_rule is None:
            decision = attrs.evolve(
                decision,
                action=self.fallback,
                fallback=f"scorer unavailable ({unavailable}); fallback {self.fallback}",
            )
        assessment = attrs.evolve(
            assessment,
            decision=decision.action,
            three_d_secure=decision.three_d_secure,
            score=decision.score,
            fired_rules=decision.fired,
            shadow_rules=decision.shadow_fired,
            review_state=(
                ReviewState.PENDING
                if decision.action is RiskAction.REVIEW
                else assessment.review_state
            ),
        )
        deferred = payment.capture and (
            decision.action is RiskAction.REVIEW or bool(self.rules.after_authorization)
        )
        return ScreeningVerdict(decision, assessment, gathered, deferred_capture=deferred)

    def after_charge(
        self, payment: Payment, result: GatewayResult | None, verdict: Verdict
    ) -> Steps[AfterCharge]:
        """Record the outcome and the provider's signal; run post-authorization rules."""
        screened = cast("ScreeningVerdict", verdict)
        signal = None if result is None else provider_signal(result)
        if payment.status is _P.FAILED:
            yield from transact(partial(_mark_declined, payment_id=payment.id))
            return "none"
        if payment.status is not _P.AUTHORIZED:
            if signal is not None:
                yield from transact(partial(_record_signal, payment_id=payment.id, signal=signal))
            return "none"
        facts = dict(screened.gathered.facts)
        if signal is not None:
            facts.update(_signal_facts(signal))
        post = None
        if self.rules.after_authorization:
            post = decide(self.rules.after_authorization, facts, screened.gathered.is_member)
        held = screened.decision.action is RiskAction.REVIEW or (
            post is not None and post.action is RiskAction.REVIEW
        )
        voided = not held and post is not None and post.action is RiskAction.BLOCK
        outcome: AfterCharge = "hold" if held else "void" if voided else "none"
        if outcome == "none" and screened.deferred_capture:
            outcome = "capture"
        yield from transact(
            partial(
                _record_authorized,
                payment_id=payment.id,
                signal=signal,
                post=post,
                outcome=outcome,
                first=screened.decision,
            )
        )
        return outcome

    def check_capture(self, tx: Transaction, payment: Payment) -> None:
        """Refuse to capture a payment held for review."""
        assessment = tx.uow.risk_assessments.find(payment.id)
        if assessment is not None and assessment.review_state is ReviewState.PENDING:
            msg = (
                f"payment {payment.id} is held for fraud review; approve_review captures it, "
                "reject_review voids it"
            )
            raise InvalidStateTransition(msg, current=str(payment.status), requested="capture")

    # -- the parts ------------------------------------------------------------------------

    def _gather_by_id(
        self, tx: Transaction, *, payment_id: str, context: RiskContext | None
    ) -> tuple[Payment, RiskAssessment, Gathered]:
        payment, method = tx.uow.payments.get_with_method(payment_id)
        return (payment, *self._gather(tx, payment, method, context))

    def _gather(
        self,
        tx: Transaction,
        payment: Payment,
        method: PaymentMethod,
        context: RiskContext | None,
    ) -> tuple[RiskAssessment, Gathered]:
        kept = payment.risk_context  # given to create_payment; ``context`` wins field by field
        if kept is not None:
            context = kept if context is None else context.merged_over(kept)
        assessment = profile(payment, method, context, tx.now)
        gathered = gather(
            tx.uow,
            self.rules,
            rates=self.rates,
            payment=payment,
            method=method,
            assessment=assessment,
            at=tx.now,
        )
        return assessment, gathered

    def _score(self, request: ScoreRequest) -> ScoreResult | str:
        """The scorer's answer, or why there is none (never raises)."""
        assert self.scorer is not None  # noqa: S101 - only called with a scorer
        try:
            answer = self.scorer.score(request, timeout=self.scorer_timeout)
        except Exception as error:  # noqa: BLE001 - any failure falls back, never blocks
            return type(error).__name__
        return answer


_SCORER_FACTS: Final = frozenset(
    {
        "currency",
        "payment_method_type",
        "email",
        "email_domain",
        "ip_address",
        "ip_country",
        "billing_country",
        "shipping_country",
        "device_id",
        "account_age_days",
        "card_country",
        "card_fingerprint",
        "card_brand",
        "wallet",
    }
)
"""What a scorer is told: the customer's picture, never paykit's counters or lists."""


def _decided(
    verdict: ScreeningVerdict,
    _tx: Transaction,
    _payment: Payment,
    _method: PaymentMethod,
) -> ScreeningVerdict:
    """The verdict made before the claim (with a scorer's answer), as the claim asks for it."""
    return verdict


def _number(value: int | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _signal_facts(signal: ProviderSignal) -> dict[str, Value]:
    """The post-authorization attributes (``:provider_cvc_check:``...) a signal gives."""
    # The score is the signal's one number: rules compare numbers as Decimals.
    return {
        name: Decimal(value) if isinstance(value, int) else value
        for name, value in signal.fields().items()
    }


def _store_signal(assessment: RiskAssessment, signal: ProviderSignal) -> None:
    """Keep the signal on the assessment, where backtests read it back (``gather``)."""
    for name, value in signal.fields().items():
        setattr(assessment, name, value)


def _context(risk: object) -> RiskContext | None:
    if risk is None or isinstance(risk, RiskContext):
        return risk
    msg = f"must be a paykit.fraud.RiskContext or None, not {type(risk).__name__}"
    raise ValidationError(msg, field="risk")


def _mark_declined(tx: Transaction, *, payment_id: str) -> None:
    """A payment the provider declined counts among the declines of its velocity keys."""
    assessment = tx.uow.risk_assessments.find(payment_id)
    if assessment is None or assessment.declined:
        return
    assessment.declined = True
    if assessment.review_state is ReviewState.PENDING:
        assessment.review_state = ReviewState.NONE  # nothing was authorized: nothing to review
    assessment.updated_at = tx.now
    tx.uow.risk_assessments.update(assessment)


def _record_signal(tx: Transaction, *, payment_id: str, signal: ProviderSignal) -> None:
    assessment = tx.uow.risk_assessments.find(payment_id)
    if assessment is None:
        return
    _store_signal(assessment, signal)
    assessment.updated_at = tx.now
    tx.uow.risk_assessments.update(assessment)


def _record_authorized(  # noqa: PLR0913 - the outcome of the post-authorization check
    tx: Transaction,
    *,
    payment_id: str,
    signal: ProviderSignal | None,
    post: Decision | None,
    outcome: AfterCharge,
    first: Decision,
) -> None:
    payment = tx.uow.payments.get(payment_id)
    assessment = tx.uow.risk_assessments.find(payment_id)
    if assessment is None:
        return
    if signal is not None:
        _store_signal(assessment, signal)
    if post is not None:
        assessment.score = first.score + post.score
        assessment.fired_rules = (*assessment.fired_rules, *post.fired)
        assessment.shadow_rules = (*assessment.shadow_rules, *post.shadow_fired)
        if post.action is not RiskAction.ALLOW:
            assessment.decision = post.action
        data = post.audit_data()
        data["stage"] = "after_authorization"
        data.update((signal or ProviderSignal()).fields())
        tx.log(payment.id, LogType.FRAUD_SCREENED, _summary("after authorization", post), data=data)
    if outcome == "void":
        assessment.declined = True
    if outcome == "hold":
        assessment.review_state = ReviewState.PENDING
        rules = ", ".join((*first.fired, *(() if post is None else post.fired))) or "fallback"
        detail = f"held for fraud review: {rules} (score {assessment.score})"
        tx.log(
            payment.id,
            LogType.FRAUD_REVIEW,
            detail,
            data={"review_state": str(ReviewState.PENDING), "rules": rules},
        )
        tx.emit(EventType.PAYMENT_REVIEW_REQUIRED, payment, detail=detail)
    assessment.updated_at = tx.now
    tx.uow.risk_assessments.update(assessment)
