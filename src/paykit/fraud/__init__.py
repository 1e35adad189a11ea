"""Fraud screening: rules as data, evaluated locally, explained in the audit log, replayed.

Turn it on with ``PaymentService(storage, gateways, fraud=FraudScreening(rules))`` and pass
a :class:`RiskContext` to ``create_payment`` or ``process_payment``. Rules are
:class:`Rule` objects or a TOML/JSON file (:meth:`RuleSet.from_file`) in a Radar-style
language (``:amount_in_usd: > 500 and :card_country: != :ip_country:``); see docs/fraud.md.
``paykit fraud backtest --rules rules.toml`` replays a rule set over stored payments
(:func:`backtest`).
"""

from paykit.domain.risk import ReviewState, RiskAction, RiskAssessment, RiskListEntry
from paykit.domain.risk_context import RiskContext
from paykit.fraud._backtest import BacktestReport, RuleFigures, backtest
from paykit.fraud._engine import Decision, RuleHit
from paykit.fraud._lists import RiskLists
from paykit.fraud._rates import ExchangeRates
from paykit.fraud._reviews import FRAUD_REFUND_REASON, Reviews
from paykit.fraud._rules import Rule, RuleSet, Stage
from paykit.fraud._scorer import FakeFraudCheck, FraudCheck, ScoreRequest, ScoreResult
from paykit.fraud._screening import FRAUD_BLOCKED, FraudScreening
from paykit.fraud._signals import ProviderSignal, provider_signal

__all__ = [
    "FRAUD_BLOCKED",
    "FRAUD_REFUND_REASON",
    "BacktestReport",
    "Decision",
    "ExchangeRates",
    "FakeFraudCheck",
    "FraudCheck",
    "FraudScreening",
    "ProviderSignal",
    "ReviewState",
    "Reviews",
    "RiskAction",
    "RiskAssessment",
    "RiskContext",
    "RiskListEntry",
    "RiskLists",
    "Rule",
    "RuleFigures",
    "RuleHit",
    "RuleSet",
    "ScoreRequest",
    "ScoreResult",
    "Stage",
    "backtest",
    "provider_signal",
]
