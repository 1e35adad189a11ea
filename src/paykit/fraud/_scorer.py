"""External fraud scorers (the role Signifyd or Riskified play): a Protocol and an offline fake.

A scorer's answer is one more input to the rules: ``:scorer_score:`` (0-100, higher is
riskier). A scorer that times out or fails never blocks a payment by itself: the rules run
with ``:scorer_unavailable:`` true and no score, and the screening's ``fallback`` action
(``review`` by default) decides where the rules would have allowed the payment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

import attrs

from paykit.money import Money

__all__ = ["FakeFraudCheck", "FraudCheck", "ScoreRequest", "ScoreResult"]


@attrs.frozen(kw_only=True)
class ScoreRequest:
    """What a scorer is told about a payment: never a card number, only what screening knows."""

    payment_id: str
    customer_id: str
    amount: Money
    facts: Mapping[str, Any] = attrs.field(factory=dict)
    """The screening's attributes (email, countries, card fingerprint...), as text."""


@attrs.frozen(kw_only=True)
class ScoreResult:
    """A scorer's answer: ``score`` from 0 (fine) to 100 (fraud), and its reasons."""

    score: Decimal = attrs.field(converter=Decimal)
    reasons: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    provider: str = ""


@runtime_checkable
class FraudCheck(Protocol):
    """An external scorer. ``timeout`` is the seconds it may take; past it, raise ``TimeoutError``.

    Any exception (a timeout, a connection error) makes the screening fall back (see the
    module docstring); it never fails the payment.
    """

    def score(self, request: ScoreRequest, *, timeout: float) -> ScoreResult:
        """Score one payment."""
        ...


class FakeFraudCheck:
    """An offline scorer for tests and demos: scripted scores, or a timeout.

    ``scores`` maps an email, customer id or payment id to a score; others get ``default``.
    ``rule`` (when given) computes the score from the request instead. ``fail_with`` makes
    every call raise it (``TimeoutError()`` plays a scorer that did not answer in time).
    """

    def __init__(
        self,
        *,
        scores: Mapping[str, Decimal | int | str] | None = None,
        default: Decimal | int | str = 0,
        rule: Callable[[ScoreRequest], Decimal | int | str] | None = None,
        fail_with: Exception | None = None,
    ) -> None:
        self.scores = dict(scores or {})
        self.default = default
        self.rule = rule
        self.fail_with = fail_with
        self.requests: list[ScoreRequest] = []
        """Every request received, in order."""
        self._lock = threading.Lock()

    def score(self, request: ScoreRequest, *, timeout: float) -> ScoreResult:
        """Answer from the script (or raise ``fail_with``)."""
        del timeout  # answers at once
        with self._lock:
            self.requests.append(request)
        if self.fail_with is not None:
            raise self.fail_with
        if self.rule is not None:
            return ScoreResult(score=Decimal(self.rule(request)), provider="fake")
        email = request.facts.get("email")
        for key in (request.payment_id, email, request.customer_id):
            if isinstance(key, str) and key in self.scores:
                return ScoreResult(score=Decimal(self.scores[key]), provider="fake")
        return ScoreResult(score=Decimal(self.default), provider="fake")
