"""Fraud rules: loading, errors naming rule and line, each attribute and each operator."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paykit.errors import FraudRuleError, ValidationError
from paykit.fraud import ExchangeRates, RiskContext, Rule, RuleSet, Stage
from paykit.fraud._attributes import ATTRIBUTES, POST_AUTHORIZATION_ATTRIBUTES, Kind
from paykit.fraud._engine import decide
from paykit.fraud._language import ConditionError, Value, parse_condition
from paykit.money import Money

_NOTHING_LISTED = lambda _list, _value: False  # noqa: E731 - a tiny fake lookup

TOML = """\
[[rules]]
name = "blocked_email"
condition = ":email: in @blocked_emails"
action = "block"
score = 100

[[rules]]
name = "risky_cross_border"
action = "review"
condition = ":amount_in_usd: > 500 and :card_cuntry: != :ip_country:"
"""


def _error(text: str, fmt: str = "toml") -> FraudRuleError:
    with pytest.raises(FraudRuleError) as caught:
        RuleSet.from_text(text, fmt=fmt, source=f"rules.{fmt}")  # type: ignore[arg-type]
    return caught.value


def test_an_unknown_attribute_names_the_rule_and_the_line() -> None:
    """A typo in an attribute is refused at load time with the rule's name and file line."""
    error = _error(TOML)
    assert error.code == "fraud_rule_invalid"
    assert error.rule == "risky_cross_border"
    assert error.line == 10
    assert error.field == "rules.toml, line 10"
    assert ":card_cuntry:" in str(error)


def test_a_bad_operator_names_the_rule_and_the_line() -> None:
    """Ordering text (``:email: > 'a'``) is refused, naming the operator."""
    text = TOML.replace(":card_cuntry: != :ip_country:", ":email: > 'a'")
    error = _error(text)
    assert (error.rule, error.line) == ("risky_cross_border", 10)
    assert "operator '>' orders numbers" in str(error)


def test_json_errors_name_the_line_of_the_field() -> None:
    """In JSON, the line of the offending field is named too."""
    document = {
        "rules": [
            {"name": "fine", "condition": ":amount: > 10", "action": "review"},
            {"name": "bad", "condition": ":amount: > 10", "action": "explode"},
        ]
    }
    text = json.dumps(document, indent=2)
    error = _error(text, "json")
    assert error.rule == "bad"
    assert error.line is not None
    assert '"action": "explode"' in text.splitlines()[error.line - 1]


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('name = "x"\ncondition = ":amount: > 1"\naction = "block"\nweight = 3', "unknown field"),
        ('name = "x"\naction = "block"', "condition"),
        ('name = "x y"\ncondition = ":amount: > 1"\naction = "block"', "name"),
        ('name = "x"\ncondition = ":amount: > 1"\naction = "block"\nscore = "high"', "score"),
        (
            (
                'name = "x"\ncondition = ":amount: > 1"\naction = "allow"\n'
                'stage = "after_authorization"'
            ),
            "review or block",
        ),
    ],
)
def test_bad_fields_are_refused(table: str, expected: str) -> None:
    """Each rule's fields are checked by pydantic; unknown ones are refused."""
    error = _error(f"[[rules]]\n{table}\n")
    assert expected in str(error)
    assert error.line is not None


def test_two_rules_with_one_name_are_refused() -> None:
    """Rule names are unique (the audit log names rules)."""
    rule = '[[rules]]\nname = "same"\ncondition = ":amount: > 1"\naction = "review"\n'
    error = _error(rule + "\n" + rule)
    assert error.rule == "same"
    assert error.line == 7


def test_invalid_toml_names_the_line() -> None:
    """A file that is not TOML at all is refused with the parser's line."""
    error = _error('[[rules]]\nname = "x\n')
    assert error.line == 2


def test_unknown_top_level_keys_are_refused() -> None:
    """Only ``rules`` may sit at the top of a rule file."""
    assert "unknown top-level key" in str(_error('[settings]\nx = 1\n[[rules]]\nname = "a"\n'))


def test_a_file_loads_from_disk(tmp_path: Path) -> None:
    """``from_file`` reads TOML or JSON by suffix and compiles every rule."""
    path = tmp_path / "rules.json"
    path.write_text(
        json.dumps({"rules": [{"name": "a", "condition": ":amount: > 1", "action": "block"}]})
    )
    rules = RuleSet.from_file(path)
    assert [r.name for r in rules.rules] == ["a"]
    assert rules.source == "rules.json"


def test_rules_built_in_python_are_checked_too() -> None:
    """A :class:`Rule` with a bad condition fails when the set is built, without a line."""
    with pytest.raises(FraudRuleError) as caught:
        RuleSet([Rule(name="py", condition=":nope: = 1", action="block")])
    assert caught.value.line is None
    assert caught.value.rule == "py"


def test_provider_signals_are_for_after_authorization_rules_only() -> None:
    """``:provider_risk_level:`` before the charge is refused; after authorization it loads."""
    with pytest.raises(FraudRuleError, match="after_authorization"):
        RuleSet([Rule(name="r", condition=":provider_risk_level: = 'elevated'", action="review")])
    rules = RuleSet(
        [
            Rule(
                name="r",
                condition=":provider_risk_level: = 'elevated'",
                action="review",
                stage=Stage.AFTER_AUTHORIZATION,
            )
        ]
    )
    assert len(rules.after_authorization) == 1


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("", "empty"),
        (":amount:", "not a condition"),
        (":amount: >", "expected a value"),
        (":amount: > 1 and", "expected a value"),
        ("(:amount: > 1", "expected ')'"),
        (":amount: > 1 )", "unexpected ')'"),
        ("amount > 1", "unknown word"),
        (":amount: > 1 # comment", "unexpected character"),
        ("@blocked", "can only follow 'in'"),
        (":email: in ('a', 1)", "is text"),
        (":scorer_unavailable: in ('a')", "'in' tests"),
        ("(:amount: + 1) > 2", "unexpected character"),
        (":amount: = 'ten'", "compares like with like"),
        (":email: < 'b'", "orders numbers"),
        (":payments_per_card_91d: > 1", "90 days"),
        (":amount_in_xyz: > 1", "not an ISO 4217"),
        (":declines_per_phone_1h: > 1", "unknown attribute"),
    ],
)
def test_condition_errors_say_what_and_where(condition: str, message: str) -> None:
    """Each kind of syntax or kind error is refused with a message and a column."""
    with pytest.raises(ConditionError, match=re.escape(message)) as caught:
        parse_condition(condition)
    assert caught.value.column >= 1


# -- evaluation: each attribute and each operator ----------------------------------------------

_SAMPLES: dict[Kind, Value] = {
    Kind.NUMBER: Decimal("42.5"),
    Kind.TEXT: "Some-Value",
    Kind.BOOLEAN: True,
}


@pytest.mark.parametrize("name", sorted(ATTRIBUTES))
def test_each_attribute_can_be_compared(name: str) -> None:
    """Every fixed attribute parses, and matches its own value and no other."""
    kind = ATTRIBUTES[name]
    literal = {Kind.NUMBER: "42.5", Kind.TEXT: "'some-value'", Kind.BOOLEAN: "true"}[kind]
    expression = parse_condition(f":{name}: = {literal}")
    assert expression.attributes == {name}
    assert expression.matches({name: _SAMPLES[kind]}, _NOTHING_LISTED)
    others: dict[Kind, Value] = {Kind.NUMBER: Decimal(1), Kind.TEXT: "other", Kind.BOOLEAN: False}
    other = others[kind]
    assert not expression.matches({name: other}, _NOTHING_LISTED)
    assert not expression.matches({}, _NOTHING_LISTED)  # missing: never matches


@pytest.mark.parametrize("name", sorted(POST_AUTHORIZATION_ATTRIBUTES))
def test_each_provider_attribute_can_be_compared_after_authorization(name: str) -> None:
    """The provider's signal attributes parse in after-authorization conditions."""
    kind = POST_AUTHORIZATION_ATTRIBUTES[name]
    literal = "42.5" if kind is Kind.NUMBER else "'some-value'"
    expression = parse_condition(f":{name}: = {literal}", after_authorization=True)
    assert expression.matches({name: _SAMPLES[kind]}, _NOTHING_LISTED)


@pytest.mark.parametrize(
    "name",
    [
        "payments_per_customer_10m",
        "declines_per_email_1h",
        "amount_per_card_24h",
        "payments_per_ip_7d",
        "amount_in_usd",
        "amount_in_jpy",
    ],
)
def test_computed_attributes_are_numbers(name: str) -> None:
    """Velocity counters and converted amounts are numbers a rule can order."""
    expression = parse_condition(f":{name}: >= 3")
    assert expression.matches({name: Decimal(3)}, _NOTHING_LISTED)
    assert not expression.matches({name: Decimal("2.99")}, _NOTHING_LISTED)


@pytest.mark.parametrize(
    ("operator", "left", "right", "expected"),
    [
        ("=", 5, 5, True),
        ("==", 5, 6, False),
        ("!=", 5, 6, True),
        ("<", 5, 6, True),
        ("<=", 6, 6, True),
        (">", 6, 6, False),
        (">=", 6, 6, True),
    ],
)
def test_each_comparison_operator(operator: str, left: int, right: int, expected: bool) -> None:
    """The six comparison operators (and ``==`` for ``=``) on numbers."""
    expression = parse_condition(f":amount: {operator} {right}")
    assert expression.matches({"amount": Decimal(left)}, _NOTHING_LISTED) is expected


def test_text_compares_without_case() -> None:
    """``'us'`` equals ``'US'``: countries and emails match whatever their case."""
    expression = parse_condition(":card_country: = 'us' and :card_country: != :ip_country:")
    assert expression.matches({"card_country": "US", "ip_country": "FR"}, _NOTHING_LISTED)
    assert not expression.matches({"card_country": "US", "ip_country": "us"}, _NOTHING_LISTED)


def test_in_and_not_in_with_literals_and_lists() -> None:
    """``in (..)``, ``not in (..)``, ``in @list`` and ``not in @list``; missing never matches."""
    listed = lambda name, value: (name, value) == ("trusted", "a@b.io")  # noqa: E731 - a fake
    cases = {
        ":billing_country: in ('us', 'CA')": True,
        ":billing_country: not in ('us', 'CA')": False,
        ":email: in @trusted": True,
        ":email: not in @trusted": False,
        ":email: in @other": False,
        ":amount: in (1, 2.50)": True,
    }
    facts: dict[str, Value] = {"billing_country": "US", "email": "a@b.io", "amount": Decimal("2.5")}
    for condition, expected in cases.items():
        assert parse_condition(condition).matches(facts, listed) is expected, condition
    assert not parse_condition(":email: not in @trusted").matches({}, listed)


def test_and_or_not_and_parentheses() -> None:
    """``and`` binds tighter than ``or``; ``not`` negates; parentheses group."""
    facts: dict[str, Value] = {"amount": Decimal(10), "email": "x@y.z", "scorer_unavailable": True}
    assert parse_condition(":amount: > 100 or :amount: > 5 and :email: = 'x@y.z'").matches(
        facts, _NOTHING_LISTED
    )
    assert not parse_condition("(:amount: > 100 or :amount: > 5) and :email: = 'q'").matches(
        facts, _NOTHING_LISTED
    )
    assert parse_condition("NOT :amount: > 100 AND :scorer_unavailable:").matches(
        facts, _NOTHING_LISTED
    )
    assert parse_condition(":scorer_unavailable: = true").matches(facts, _NOTHING_LISTED)


@given(
    left=st.decimals(allow_nan=False, allow_infinity=False, places=2, max_value=10**9),
    right=st.decimals(allow_nan=False, allow_infinity=False, places=2, max_value=10**9),
    operator=st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
)
def test_number_comparisons_agree_with_decimal(
    left: Decimal, right: Decimal, operator: str
) -> None:
    """Any two amounts compare in a rule as ``Decimal`` compares them: never as floats."""
    python = {"=": "__eq__", "!=": "__ne__", "<": "__lt__", "<=": "__le__", ">": "__gt__"}
    expected = left >= right if operator == ">=" else getattr(left, python[operator])(right)
    expression = parse_condition(f":amount: {operator} {right}")
    assert expression.matches({"amount": left}, _NOTHING_LISTED) is expected


@given(st.text(alphabet="abcdefghij:@()'=<> andortin", max_size=40))
def test_any_text_either_parses_or_raises_a_condition_error(text: str) -> None:
    """The parser never crashes: any input is a condition or a ConditionError."""
    with contextlib.suppress(ConditionError):
        parse_condition(text)


# -- the decision: Radar's precedence --------------------------------------------------------


def _decide(*rules: Rule, **facts: object) -> tuple[str, str | None, int, bool]:
    compiled = RuleSet(rules).rules
    decision = decide(compiled, facts, _NOTHING_LISTED)  # type: ignore[arg-type]
    return str(decision.action), decision.deciding_rule, decision.score, decision.three_d_secure


def _rule(name: str, action: str, score: int = 0, *, shadow: bool = False) -> Rule:
    return Rule(name=name, condition=":amount: > 1", action=action, score=score, shadow=shadow)


def test_allow_wins_over_block_and_review() -> None:
    """A matching ``allow`` rule lets the payment through whatever else matched."""
    rules = (_rule("r", "review", 5), _rule("b", "block", 10), _rule("a", "allow", -3))
    assert _decide(*rules, amount=Decimal(5)) == ("allow", "a", 12, False)


def test_block_wins_over_review_and_the_first_of_a_kind_decides() -> None:
    """Without ``allow``, the first matching ``block`` rule decides."""
    rules = (_rule("r", "review"), _rule("b1", "block"), _rule("b2", "block"))
    assert _decide(*rules, amount=Decimal(5))[:2] == ("block", "b1")


def test_request_3ds_is_asked_alongside_the_decision() -> None:
    """``request_3ds`` sets the 3-D Secure flag and lets the other rules decide."""
    rules = (_rule("3ds", "request_3ds"), _rule("r", "review"))
    assert _decide(*rules, amount=Decimal(5)) == ("review", "r", 0, True)


def test_shadow_rules_never_act_nor_score() -> None:
    """A shadow ``block`` that matches is reported apart; the payment is allowed."""
    rules = RuleSet([_rule("s", "block", 50, shadow=True)]).rules
    decision = decide(rules, {"amount": Decimal(5)}, _NOTHING_LISTED)
    assert (decision.action, decision.score, decision.fired) == ("allow", 0, ())
    assert decision.shadow_fired == ("s",)


def test_nothing_matching_allows() -> None:
    """No rule matched: allow, no deciding rule, score zero."""
    assert _decide(_rule("b", "block"), amount=Decimal(0)) == ("allow", None, 0, False)


def test_a_hit_records_the_inputs_it_read() -> None:
    """The audit data names each fired rule's inputs, numbers as exact text."""
    rules = RuleSet(
        [Rule(name="big", condition=":amount: > 1 and :email: = 'a@b.c'", action="review")]
    )
    decision = decide(rules.rules, {"amount": Decimal("5.10"), "email": "a@b.c"}, _NOTHING_LISTED)
    assert decision.audit_data()["rules"] == [
        {
            "name": "big",
            "action": "review",
            "score": 0,
            "inputs": {"amount": "5.10", "email": "a@b.c"},
        }
    ]


# -- inputs: the risk context and the rate table -------------------------------------------------


def test_a_risk_context_is_normalised() -> None:
    """Emails lower-case, countries upper-case, IPs canonical; the domain is derived."""
    context = RiskContext(
        email="Jane@Example.COM",
        ip_address=" 2001:DB8::0001 ",
        ip_country="de",
        account_age=timedelta(days=3),
    )
    assert (context.email, context.email_domain) == ("jane@example.com", "example.com")
    assert (context.ip_address, context.ip_country) == ("2001:db8::1", "DE")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"email": "no-at-sign"},
        {"ip_address": "999.1.1.1"},
        {"billing_country": "USA"},
        {"device_id": "4242424242424242"},
        {"account_age": timedelta(days=-1)},
    ],
)
def test_a_bad_risk_context_is_refused(kwargs: dict[str, object]) -> None:
    """Malformed fields, and anything that looks like a card number, are refused."""
    with pytest.raises(ValidationError):
        RiskContext(**kwargs)


def test_rates_convert_through_the_reference_currency() -> None:
    """EUR -> USD through the reference; a currency without a rate converts to nothing."""
    rates = ExchangeRates("USD", {"EUR": "1.10", "GBP": "1.25"})
    assert rates.convert(Money.of("100.00", "EUR"), "USD") == Decimal("110.0000")
    assert rates.convert(Money.of("110.00", "EUR"), "GBP") == Decimal("96.8")
    assert rates.convert(Money.of("1", "JPY"), "USD") is None
    with pytest.raises(ValidationError):
        ExchangeRates("USD", {"EUR": "-1"})
