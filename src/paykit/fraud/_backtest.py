"""Backtesting: what a rule set would have done to the payments already stored.

Each charged payment (``completed``, ``partially_refunded`` or ``refunded``) is screened
again as of its creation time -- its stored risk context, its method's card details, and
velocity counters over the payments before it -- with every rule acting (shadow flags are
ignored: a backtest is how you decide to turn one on). The external scorer is not asked
again: ``:scorer_score:`` is missing, so rules on it do not match.

What "actually happened" is read from paykit's records: a payment counts as fraud when it
had a dispute with reason ``fraudulent``, a dispute the merchant lost, or a refund with
reason ``fraudulent`` or ``fraud``. The report is a confusion matrix per rule and for the
rule set as a whole (flagged = blocked or sent to review), with precision (of the payments
flagged, how many were fraud) and recall (of the fraud, how much was flagged).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Final

import attrs
from rich import box
from rich.console import Console
from rich.table import Table

from paykit._defaults import utc_now
from paykit.domain.dispute import DisputeStatus
from paykit.domain.payment import Payment, PaymentStatus
from paykit.domain.payment_method import PaymentMethod
from paykit.domain.risk import RiskAction
from paykit.errors import NotFound
from paykit.fraud._engine import decide
from paykit.fraud._facts import gather, profile
from paykit.fraud._rates import ExchangeRates
from paykit.fraud._rules import RuleSet
from paykit.storage.base import Storage, UnitOfWork

__all__ = ["BacktestReport", "RuleFigures", "backtest"]

_CHARGED: Final = frozenset(
    {PaymentStatus.COMPLETED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}
)
_FRAUD_REASONS: Final = frozenset({"fraudulent", "fraud"})
_FLAGGING: Final = frozenset({RiskAction.BLOCK, RiskAction.REVIEW})


@attrs.define
class RuleFigures:
    """One rule's (or the whole set's) confusion matrix over the replayed payments."""

    name: str
    action: str
    blocked: int = 0
    reviewed: int = 0
    true_positives: int = 0
    """Flagged, and fraud."""
    false_positives: int = 0
    """Flagged, and a good customer: the cost of the rule."""
    false_negatives: int = 0
    """Not flagged, and fraud: what the rule missed."""
    true_negatives: int = 0

    @property
    def flagged(self) -> int:
        """Payments this rule (or set) would have blocked or sent to review."""
        return self.true_positives + self.false_positives

    @property
    def precision(self) -> Decimal | None:
        """Of the flagged payments, the share that was fraud (``None`` if none flagged)."""
        return _ratio(self.true_positives, self.flagged)

    @property
    def recall(self) -> Decimal | None:
        """Of the fraud, the share flagged (``None`` if there was no fraud)."""
        return _ratio(self.true_positives, self.true_positives + self.false_negatives)

    def count(self, *, flagged: bool, fraud: bool) -> None:
        """Add one payment to the matrix."""
        if flagged and fraud:
            self.true_positives += 1
        elif flagged:
            self.false_positives += 1
        elif fraud:
            self.false_negatives += 1
        else:
            self.true_negatives += 1


def _ratio(part: int, whole: int) -> Decimal | None:
    if whole == 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.001"))


@attrs.define
class BacktestReport:
    """The figures of a backtest: per rule, for the set, and what actually happened."""

    payments: int = 0
    fraud: int = 0
    disputes_lost: int = 0
    fraudulent_disputes: int = 0
    fraud_refunds: int = 0
    rules: list[RuleFigures] = attrs.field(factory=list)
    total: RuleFigures = attrs.field(factory=lambda: RuleFigures("all rules", "-"))

    def table(self, *, width: int = 110) -> str:
        """The report as plain-text tables (rich), as ``paykit fraud backtest`` prints it."""
        out = io.StringIO()
        console = Console(file=out, width=width, color_system=None, highlight=False)
        console.print(
            f"{self.payments} charged payments replayed; {self.fraud} fraud "
            f"({self.fraudulent_disputes} fraudulent disputes, {self.disputes_lost} disputes "
            f"lost, {self.fraud_refunds} refunds for fraud)"
        )
        table = Table(box=box.SIMPLE_HEAD, show_edge=False)
        for column in ("rule", "action", "blocked", "review", "TP", "FP", "FN", "TN"):
            table.add_column(column, justify="left" if column in ("rule", "action") else "right")
        table.add_column("precision", justify="right")
        table.add_column("recall", justify="right")
        for figures in (*self.rules, self.total):
            table.add_row(
                figures.name,
                figures.action,
                str(figures.blocked),
                str(figures.reviewed),
                str(figures.true_positives),
                str(figures.false_positives),
                str(figures.false_negatives),
                str(figures.true_negatives),
                _percent(figures.precision),
                _percent(figures.recall),
                end_section=figures is self.rules[-1] if self.rules else False,
            )
        console.print(table)
        return out.getvalue()


def _percent(value: Decimal | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def backtest(
    storage: Storage,
    rules: RuleSet,
    *,
    rates: ExchangeRates | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> BacktestReport:
    """Replay ``rules`` over the charged payments created in ``[since, until)``."""
    report = BacktestReport(
        rules=[RuleFigures(r.name, str(r.rule.action)) for r in rules.rules],
    )
    every_rule = (*rules.before_charge, *rules.after_authorization)
    acting = tuple(attrs.evolve(r, rule=attrs.evolve(r.rule, shadow=False)) for r in every_rule)
    by_name = {figures.name: figures for figures in report.rules}
    with storage.unit_of_work() as uow:
        for payment, method in _charged_payments(uow, since, until):
            # The assessment it was screened with, or (never screened) one from its method.
            stored = uow.risk_assessments.find(payment.id)
            assessment = profile(payment, method, None, utc_now()) if stored is None else stored
            gathered = gather(
                uow,
                rules,
                rates=rates,
                payment=payment,
                method=method,
                assessment=assessment,
                at=payment.created_at,
            )
            decision = decide(acting, gathered.facts, gathered.is_member)
            fraud = _label(uow, payment, report)
            report.payments += 1
            report.fraud += fraud
            fired = {hit.name for hit in decision.hits}
            for name, figures in by_name.items():
                hit = name in fired
                action = next(h.action for h in decision.hits if h.name == name) if hit else None
                figures.count(flagged=action in _FLAGGING, fraud=fraud)
                figures.blocked += action is RiskAction.BLOCK
                figures.reviewed += action is RiskAction.REVIEW
            report.total.count(flagged=decision.action in _FLAGGING, fraud=fraud)
            report.total.blocked += decision.action is RiskAction.BLOCK
            report.total.reviewed += decision.action is RiskAction.REVIEW
    return report


def _charged_payments(
    uow: UnitOfWork, since: datetime | None, until: datetime | None
) -> Iterable[tuple[Payment, PaymentMethod | None]]:
    for payment in uow.payments.list():
        if payment.status not in _CHARGED:
            continue
        if (since is not None and payment.created_at < since) or (
            until is not None and payment.created_at >= until
        ):
            continue
        try:
            method: PaymentMethod | None = uow.payment_methods.get(payment.payment_method_id)
        except NotFound:
            method = None  # removed since: its card details are gone
        yield payment, method


def _label(uow: UnitOfWork, payment: Payment, report: BacktestReport) -> bool:
    """Whether ``payment`` turned out to be fraud (and count why, on ``report``)."""
    fraud = False
    for dispute in uow.disputes.list_for_payment(payment.id):
        if dispute.reason in _FRAUD_REASONS:
            report.fraudulent_disputes += 1
            fraud = True
        if dispute.status is DisputeStatus.LOST:
            report.disputes_lost += 1
            fraud = True
    for refund in uow.refunds.list_for_payment(payment.id):
        if refund.reason in _FRAUD_REASONS:
            report.fraud_refunds += 1
            fraud = True
    return fraud
