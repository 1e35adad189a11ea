"""Fraud rules as data: :class:`Rule`, and :class:`RuleSet`, which checks and compiles them.

A rule file is TOML or JSON, one table per rule::

    [[rules]]
    name = "blocked_email"
    condition = ":email: in @blocked_emails"
    action = "block"
    score = 100

    [[rules]]
    name = "risky_cross_border"
    condition = ":amount_in_usd: > 500 and :card_country: != :ip_country:"
    action = "review"
    score = 40
    shadow = true            # evaluated and logged, never acting

pydantic checks each table's fields (unknown fields are refused); the parser in
``_language`` checks each condition. Any problem raises :class:`~paykit.errors.FraudRuleError`
naming the rule and the line of the file, and nothing is loaded.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Literal

import attrs
import pydantic

from paykit.domain.risk import RiskAction
from paykit.errors import FraudRuleError
from paykit.fraud._attributes import Velocity, parse_conversion, parse_velocity
from paykit.fraud._language import ConditionError, Expression, ListTest, parse_condition

__all__ = ["CompiledRule", "Rule", "RuleSet", "Stage"]

_NAME: Final = r"[A-Za-z0-9_.\-]{1,64}"
_AFTER_AUTHORIZATION_ACTIONS: Final = frozenset({RiskAction.REVIEW, RiskAction.BLOCK})


class Stage(StrEnum):
    """When a rule runs: before the provider is called, or after it authorized the payment."""

    BEFORE_CHARGE = "before_charge"
    AFTER_AUTHORIZATION = "after_authorization"
    """With the provider's own signal (``:provider_risk_level:``...): ``review`` holds the
    authorized payment for a person, ``block`` voids it."""


@attrs.frozen(kw_only=True)
class Rule:
    """One fraud rule: when ``condition`` holds, ``action`` applies and ``score`` is added.

    ``shadow`` rules are evaluated and logged but never act nor count in the score: a way to
    watch a rule on live traffic before turning it on.
    """

    name: str
    condition: str
    action: RiskAction = attrs.field(converter=RiskAction)
    score: int = 0
    shadow: bool = False
    stage: Stage = attrs.field(default=Stage.BEFORE_CHARGE, converter=Stage)
    description: str = ""


@attrs.frozen
class CompiledRule:
    """A :class:`Rule` with its parsed condition."""

    rule: Rule
    expression: Expression

    @property
    def name(self) -> str:
        """The rule's name."""
        return self.rule.name


class _RuleModel(pydantic.BaseModel):
    """One rule as a file spells it."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = pydantic.Field(pattern=rf"^{_NAME}$")
    condition: str = pydantic.Field(min_length=1, max_length=4000)
    action: Literal["allow", "review", "block", "request_3ds"]
    score: int = pydantic.Field(default=0, ge=-1000, le=1000)
    shadow: bool = False
    stage: Literal["before_charge", "after_authorization"] = "before_charge"
    description: str = pydantic.Field(default="", max_length=2000)


class RuleSet:
    """Rules checked and compiled, in order; what they need is worked out once, here.

    ``source`` names where the rules came from in error messages (a file name). ``lines``
    maps a rule's position to ``{field: line}`` in that file, for the messages too.
    """

    def __init__(
        self,
        rules: Iterable[Rule],
        *,
        source: str = "rules",
        lines: Sequence[Mapping[str, int]] | None = None,
    ) -> None:
        self.source = source
        compiled: list[CompiledRule] = []
        names: set[str] = set()
        for position, rule in enumerate(rules):
            where = lines[position] if lines is not None and position < len(lines) else {}
            compiled.append(self._compile(rule, where, names))
        self.rules: tuple[CompiledRule, ...] = tuple(compiled)
        self.before_charge = tuple(r for r in compiled if r.rule.stage is Stage.BEFORE_CHARGE)
        self.after_authorization = tuple(
            r for r in compiled if r.rule.stage is Stage.AFTER_AUTHORIZATION
        )
        attributes = frozenset().union(*(r.expression.attributes for r in compiled))
        self.attributes: frozenset[str] = attributes
        """Every attribute some rule reads."""
        velocities = {name: parse_velocity(name) for name in attributes}
        self.velocities: dict[str, Velocity] = {
            name: velocity for name, velocity in velocities.items() if velocity is not None
        }
        """The velocity counters some rule reads, by attribute name."""
        conversions = {name: parse_conversion(name) for name in attributes}
        self.conversions: dict[str, str] = {
            name: currency for name, currency in conversions.items() if currency is not None
        }
        """``amount_in_<currency>`` attributes some rule reads -> the currency."""
        self.list_tests: tuple[ListTest, ...] = tuple(
            test for r in compiled for test in r.expression.list_tests
        )

    def __len__(self) -> int:
        return len(self.rules)

    def __repr__(self) -> str:
        return f"RuleSet({len(self.rules)} rules from {self.source})"

    def _compile(self, rule: Rule, lines: Mapping[str, int], names: set[str]) -> CompiledRule:
        def error(message: str, field: str) -> FraudRuleError:
            line = lines.get(field, lines.get("", None))
            return FraudRuleError(message, rule=rule.name, line=line, source=self.source)

        if not re.fullmatch(_NAME, rule.name):
            msg = "a name is 1-64 letters, digits, '_', '.' or '-'"
            raise error(msg, "name")
        if rule.name in names:
            raise error("another rule has this name; names must be unique", "name")
        names.add(rule.name)
        after = rule.stage is Stage.AFTER_AUTHORIZATION
        if after and rule.action not in _AFTER_AUTHORIZATION_ACTIONS:
            msg = f"an after_authorization rule can review or block, not {rule.action}"
            raise error(msg, "action")
        try:
            expression = parse_condition(rule.condition, after_authorization=after)
        except ConditionError as problem:
            raise error(str(problem), "condition") from None
        return CompiledRule(rule, expression)

    @classmethod
    def from_file(cls, path: str | Path) -> RuleSet:
        """Load a ``.toml`` or ``.json`` rule file (see the module docstring)."""
        path = Path(path)
        fmt: Literal["toml", "json"] = "json" if path.suffix.lower() == ".json" else "toml"
        return cls.from_text(path.read_text(encoding="utf-8"), fmt=fmt, source=path.name)

    @classmethod
    def from_text(
        cls, text: str, *, fmt: Literal["toml", "json"] = "toml", source: str = "rules"
    ) -> RuleSet:
        """Load rules from the text of a rule file in format ``fmt``."""
        document = _read_document(text, fmt, source)
        tables = document.get("rules")
        extra = sorted(set(document) - {"rules"})
        if extra:
            raise FraudRuleError(
                f"unknown top-level key {extra[0]!r}; a rule file holds 'rules' only",
                rule="-",
                source=source,
            )
        if not isinstance(tables, list):
            raise FraudRuleError("the file has no list of rules", rule="-", source=source)
        lines = _rule_lines(text, fmt, len(tables))
        rules = [
            _rule_from(table, position, lines[position], source)
            for position, table in enumerate(tables)
        ]
        return cls(rules, source=source, lines=lines)


def _read_document(text: str, fmt: str, source: str) -> dict[str, Any]:
    try:
        document = tomllib.loads(text) if fmt == "toml" else json.loads(text)
    except tomllib.TOMLDecodeError as error:
        line = _toml_error_line(str(error))
        msg = f"not valid TOML: {error}"
        raise FraudRuleError(msg, rule="-", line=line, source=source) from None
    except json.JSONDecodeError as error:
        msg = f"not valid JSON: {error.msg}"
        raise FraudRuleError(msg, rule="-", line=error.lineno, source=source) from None
    if not isinstance(document, dict):
        raise FraudRuleError("the file must hold a table with 'rules'", rule="-", source=source)
    return document


def _toml_error_line(message: str) -> int | None:
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else None


def _rule_from(table: object, position: int, lines: Mapping[str, int], source: str) -> Rule:
    label = f"#{position + 1}"
    if isinstance(table, dict) and isinstance(table.get("name"), str):
        label = table["name"]
    if not isinstance(table, dict):
        msg = "each rule is a table of fields"
        raise FraudRuleError(msg, rule=label, line=lines.get(""), source=source)
    try:
        model = _RuleModel.model_validate(table)
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        message = f"{field}: {first['msg']}" if field else first["msg"]
        if first["type"] == "extra_forbidden":
            message = f"unknown field {field!r}"
        line = lines.get(field, lines.get(""))
        raise FraudRuleError(message, rule=label, line=line, source=source) from None
    return Rule(
        name=model.name,
        condition=model.condition,
        action=RiskAction(model.action),
        score=model.score,
        shadow=model.shadow,
        stage=Stage(model.stage),
        description=model.description,
    )


# -- where each rule and field sits in the file, for the error messages ------------------------

_TOML_HEADER: Final = re.compile(r"^\s*\[\[\s*rules\s*\]\]")
_TOML_KEY: Final = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")
_JSON_KEY: Final = re.compile(r'"([A-Za-z0-9_\-]+)"\s*:')


def _rule_lines(text: str, fmt: str, count: int) -> list[dict[str, int]]:
    """Per rule, ``{"": first line, field: line}``; missing entries where it cannot tell."""
    spans = _toml_spans(text) if fmt == "toml" else _json_spans(text)
    found: list[dict[str, int]] = []
    source_lines = text.splitlines()
    for start, end in spans[:count]:
        where = {"": start}
        for number in range(start, min(end, len(source_lines)) + 1):
            pattern = _TOML_KEY if fmt == "toml" else _JSON_KEY
            for match in pattern.finditer(source_lines[number - 1]):
                where.setdefault(match.group(1), number)
                if fmt == "toml":
                    break
        found.append(where)
    found.extend({} for _ in range(count - len(found)))
    return found


def _toml_spans(text: str) -> list[tuple[int, int]]:
    """(first, last) line of each ``[[rules]]`` table."""
    lines = text.splitlines()
    starts = [number for number, line in enumerate(lines, 1) if _TOML_HEADER.match(line)]
    ends = [start - 1 for start in starts[1:]] + [len(lines)]
    return list(zip(starts, ends, strict=True))


_JSON_STRING: Final = re.compile(r'"(?:[^"\\]|\\.)*"')


def _json_spans(text: str) -> list[tuple[int, int]]:
    """(first, last) line of each object in the top-level ``rules`` array.

    Brackets counted outside strings (JSON strings hold no raw line breaks, so blanking
    them keeps the line numbers): an object opened at depth two (inside ``{"rules": [``)
    is a rule.
    """
    spans: list[tuple[int, int]] = []
    depth, start = 0, 0
    for number, line in enumerate(_JSON_STRING.sub('""', text).splitlines(), 1):
        for char in line:
            if char in "[{":
                if char == "{" and depth == 2:  # noqa: PLR2004 - inside {"rules": [
                    start = number
                depth += 1
            elif char in "]}":
                depth -= 1
                if char == "}" and depth == 2:  # noqa: PLR2004 - inside {"rules": [
                    spans.append((start, number))
    return spans
