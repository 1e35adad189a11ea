"""Deciding: evaluate rules over facts and apply Stripe Radar's precedence.

Every rule is evaluated (so the audit log and backtests see all that matched). Then, as in
Radar: a matching ``request_3ds`` rule asks for 3-D Secure; the first matching ``allow``
rule lets the payment through whatever else matched; otherwise the first ``block`` rule
blocks it; otherwise the first ``review`` rule holds it for a person; otherwise it is
allowed. Shadow rules are reported apart and never act. The score is the sum of the
weights of every acting rule that matched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from paykit.domain.risk import RiskAction
from paykit.fraud._language import Facts, IsMember, Value
from paykit.fraud._rules import CompiledRule

__all__ = ["Decision", "RuleHit", "decide", "describe_value"]

_PRECEDENCE = (RiskAction.ALLOW, RiskAction.BLOCK, RiskAction.REVIEW)


@attrs.frozen
class RuleHit:
    """A rule that matched, and the values of the attributes its condition read."""

    name: str
    action: RiskAction
    score: int
    shadow: bool
    inputs: Mapping[str, Any]


@attrs.frozen
class Decision:
    """What screening decided, and why.

    ``action`` is ``allow``, ``review`` or ``block``; ``three_d_secure`` is set when a
    ``request_3ds`` rule matched. ``deciding_rule`` names the rule behind ``action``
    (``None`` when nothing matched, or when a fallback decided: see ``fallback``).
    """

    action: RiskAction
    three_d_secure: bool = False
    score: int = 0
    hits: tuple[RuleHit, ...] = ()
    shadow_hits: tuple[RuleHit, ...] = ()
    deciding_rule: str | None = None
    fallback: str | None = None
    """Why a configured fallback decided instead of the rules (a scorer that timed out)."""

    @property
    def fired(self) -> tuple[str, ...]:
        """Names of the acting rules that matched, in rule order."""
        return tuple(hit.name for hit in self.hits)

    @property
    def shadow_fired(self) -> tuple[str, ...]:
        """Names of the shadow rules that matched, in rule order."""
        return tuple(hit.name for hit in self.shadow_hits)

    def audit_data(self) -> dict[str, Any]:
        """The decision as JSON-like data for the transaction log."""
        return {
            "decision": str(self.action),
            "three_d_secure": self.three_d_secure,
            "score": self.score,
            "deciding_rule": self.deciding_rule,
            "fallback": self.fallback,
            "rules": [_hit_data(hit) for hit in self.hits],
            "shadow_rules": [_hit_data(hit) for hit in self.shadow_hits],
        }


def _hit_data(hit: RuleHit) -> dict[str, Any]:
    return {
        "name": hit.name,
        "action": str(hit.action),
        "score": hit.score,
        "inputs": dict(hit.inputs),
    }


def describe_value(value: Value) -> str | bool | None:
    """A fact as the audit log keeps it: numbers as text (exact), the rest as they are."""
    if isinstance(value, Decimal):
        return str(value)
    return value


def decide(rules: Sequence[CompiledRule], facts: Facts, is_member: IsMember) -> Decision:
    """Evaluate ``rules`` over ``facts`` and apply the precedence in the module docstring."""
    hits: list[RuleHit] = []
    shadow_hits: list[RuleHit] = []
    for compiled in rules:
        if not compiled.expression.matches(facts, is_member):
            continue
        rule = compiled.rule
        inputs = {
            name: describe_value(facts.get(name)) for name in sorted(compiled.expression.attributes)
        }
        hit = RuleHit(rule.name, rule.action, rule.score, rule.shadow, inputs)
        (shadow_hits if rule.shadow else hits).append(hit)
    three_d_secure = any(hit.action is RiskAction.REQUEST_3DS for hit in hits)
    action, deciding = RiskAction.ALLOW, None
    for kind in _PRECEDENCE:
        first = next((hit for hit in hits if hit.action is kind), None)
        if first is not None:
            action, deciding = kind, first.name
            break
    return Decision(
        action=action,
        three_d_secure=three_d_secure,
        score=sum(hit.score for hit in hits),
        hits=tuple(hits),
        shadow_hits=tuple(shadow_hits),
        deciding_rule=deciding,
    )
