"""Gathering the facts a rule set reads, from one unit of work: one read per need, no more.

The profile of a payment -- who pays, from where, with which card -- is a
:class:`~paykit.domain.risk.RiskAssessment` (stored or about to be). The facts are its
fields, the payment's, the converted amounts, the velocity counters the rules name (every
key and window, an index scan per key) and the list memberships the rules test (every
list): both in one read, as ``velocity_and_members`` gives them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

from paykit.domain.payment import Payment
from paykit.domain.payment_method import PaymentMethod
from paykit.domain.risk import RiskAssessment, VelocityCount
from paykit.domain.risk_context import RiskContext
from paykit.fraud._language import Value
from paykit.fraud._rates import ExchangeRates
from paykit.fraud._rules import RuleSet
from paykit.storage.base import UnitOfWork

__all__ = ["Gathered", "gather", "profile"]


@attrs.frozen
class Gathered:
    """The facts of one payment and the list memberships its rules test."""

    facts: dict[str, Value]
    members: dict[str, frozenset[str]]
    """List name -> which of the payment's (case-folded) values are on it."""

    def is_member(self, list_name: str, value: str) -> bool:
        """Whether ``value`` is on ``list_name`` (as gathered)."""
        return value.casefold() in self.members.get(list_name, frozenset())


def profile(
    payment: Payment,
    method: PaymentMethod | None,
    context: RiskContext | None,
    now: datetime,
) -> RiskAssessment:
    """The new assessment of ``payment``, from ``context`` and the saved method's card.

    The card's country, fingerprint and wallet come from the saved method.
    """
    fields: dict[str, Any] = {}
    if context is not None:
        age = context.account_age
        given = {
            "email": context.email,
            "email_domain": context.email_domain,
            "ip_address": context.ip_address,
            "ip_country": context.ip_country,
            "billing_country": context.billing_country,
            "shipping_country": context.shipping_country,
            "device_id": context.device_id,
            "account_age_days": None if age is None else age.days,
        }
        fields.update({name: value for name, value in given.items() if value is not None})
    if method is not None:
        card = {
            "card_country": method.card_country,
            "card_fingerprint": method.card_fingerprint,
            "wallet": method.wallet,
        }
        fields.update({name: value for name, value in card.items() if value is not None})
    return RiskAssessment(
        id=payment.id,
        customer_id=payment.customer_id,
        amount=payment.amount,
        created_at=payment.created_at,
        updated_at=now,
        **fields,
    )


def gather(  # noqa: PLR0913 - a payment's whole picture
    uow: UnitOfWork,
    rules: RuleSet,
    *,
    rates: ExchangeRates | None,
    payment: Payment,
    method: PaymentMethod | None,
    assessment: RiskAssessment,
    at: datetime,
) -> Gathered:
    """The facts ``rules`` read about ``payment`` as of ``at`` (its velocity windows end there)."""
    facts: dict[str, Value] = {
        "amount": payment.amount.amount,
        "currency": payment.currency,
        "customer_id": payment.customer_id,
        "payment_method_type": str(payment.payment_method_type),
        "email": assessment.email,
        "email_domain": assessment.email_domain,
        "ip_address": assessment.ip_address,
        "ip_country": assessment.ip_country,
        "billing_country": assessment.billing_country,
        "shipping_country": assessment.shipping_country,
        "device_id": assessment.device_id,
        "account_age_days": _number(assessment.account_age_days),
        "card_country": assessment.card_country,
        "card_fingerprint": assessment.card_fingerprint,
        "card_brand": None if method is None else method.brand,
        "wallet": assessment.wallet,
        "provider_risk_level": assessment.provider_risk_level,
        "provider_risk_score": _number(assessment.provider_risk_score),
        "provider_cvc_check": assessment.provider_cvc_check,
        "provider_address_check": assessment.provider_address_check,
        "provider_seller_protection": assessment.provider_seller_protection,
    }
    for name, currency in rules.conversions.items():
        facts[name] = None if rates is None else rates.convert(payment.amount, currency)
    values: dict[str, str] = {}  # velocity key -> the payment's value of it
    for name, velocity in rules.velocities.items():
        value = getattr(assessment, velocity.key)
        if value is None:
            facts[name] = None  # nothing to count by: no match, as for a missing attribute
        else:
            values[velocity.key] = value
    windows = sorted({velocity.window for velocity in rules.velocities.values()})
    starts = [at - window for window in windows]
    repository = uow.risk_assessments
    if any(test.operand.name in rules.velocities for test in rules.list_tests):
        # A counter looked up on a list (unusual): the counts first, then the lists.
        counts = repository.velocity(
            values, windows=starts, until=at, currency=payment.currency, exclude_id=payment.id
        )
        facts.update(_velocity_facts(rules, values, windows, counts))
        return Gathered(facts, _members(uow, _wanted(rules, facts)))
    counts, members = repository.velocity_and_members(
        values,
        windows=starts,
        until=at,
        currency=payment.currency,
        exclude_id=payment.id,
        lists=_wanted(rules, facts),
    )
    facts.update(_velocity_facts(rules, values, windows, counts))
    return Gathered(facts, {name: frozenset(found) for name, found in members.items()})


def _number(value: int | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _velocity_facts(
    rules: RuleSet,
    values: dict[str, str],
    windows: list[timedelta],
    counts: dict[str, list[VelocityCount]],
) -> dict[str, Value]:
    """Each counter the rules name, from the counts per key and window."""
    facts: dict[str, Value] = {}
    position = {window: number for number, window in enumerate(windows)}
    for name, velocity in rules.velocities.items():
        if velocity.key not in values:
            continue
        count = counts[velocity.key][position[velocity.window]]
        metric: Decimal
        if velocity.metric == "payments":
            metric = Decimal(count.payments)
        elif velocity.metric == "declines":
            metric = Decimal(count.declines)
        else:
            metric = count.amount
        facts[name] = metric
    return facts


def _wanted(rules: RuleSet, facts: dict[str, Value]) -> dict[str, list[str]]:
    """Per list the rules test, the payment's (case-folded) values to look up on it."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for test in rules.list_tests:
        value = facts.get(test.operand.name)
        if value is not None:
            wanted[test.list_name].add(str(value).casefold())
    return {name: sorted(values) for name, values in wanted.items()}


def _members(uow: UnitOfWork, wanted: dict[str, list[str]]) -> dict[str, frozenset[str]]:
    found = uow.risk_lists.members(wanted) if wanted else {}
    return {name: frozenset(values) for name, values in found.items()}
