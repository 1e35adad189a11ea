"""The rule language: a small parser for Radar-style conditions, and their evaluation.

::

    :amount_in_usd: > 500 and :card_country: != :ip_country:
    :email_domain: in @disposable_domains or :payments_per_card_1h: >= 3
    not :billing_country: in ('US', 'CA') and :scorer_score: >= 80

Grammar (keywords in any case)::

    condition  := or
    or         := and ("or" and)*
    and        := unary ("and" unary)*
    unary      := "not" unary | comparison
    comparison := operand [ (= | == | != | < | <= | > | >=) operand
                          | ["not"] "in" (@list | "(" literal ("," literal)* ")") ]
    operand    := :attribute: | number | 'text' | "text" | true | false | "(" condition ")"

Why a parser of our own rather than rule-engine or cel-python: Radar's spelling (``:attr:``,
``@list``) is what people who write fraud rules know, and neither library reads it without
rewriting the text first, which would put their error positions on text the author never
wrote. The grammar above is eighty lines; owning it lets every error name the column, the
attribute and the operator, lets paykit check kinds when the rule is loaded (``:email: > 5``
is refused then, not when a payment arrives), and tells the screening exactly which
velocity counters and lists a rule set needs, so it queries nothing else. Nothing is ever
``eval``-ed: a condition becomes a tree of the node classes below.

Evaluation: numbers are ``Decimal`` (never floats), text compares case-insensitively, and
an attribute with no value makes every comparison involving it false (``not`` still negates
the result, as in Radar).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Final, TypeAlias

import attrs

from paykit.fraud._attributes import Kind, kind_of

__all__ = ["ConditionError", "Expression", "ListTest", "parse_condition"]

Value: TypeAlias = Decimal | str | bool | None
Facts: TypeAlias = Mapping[str, Value]
IsMember: TypeAlias = Callable[[str, str], bool]
"""``(list_name, value) -> bool``: whether the value is on the host's list."""


class ConditionError(ValueError):
    """A condition that does not parse or does not type-check; ``column`` is 1-based."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"{message} (column {column})")
        self.column = column


_TOKEN: Final = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<attribute>:[A-Za-z_][A-Za-z0-9_]*:)
  | (?P<list>@[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>-?[0-9]+(?:\.[0-9]+)?)
  | (?P<text>'[^']*'|"[^"]*")
  | (?P<operator><=|>=|!=|==|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_]+)
    """,
    re.VERBOSE,
)
_KEYWORDS: Final = frozenset({"and", "or", "not", "in", "true", "false"})
_ORDERING: Final = frozenset({"<", "<=", ">", ">="})


@attrs.frozen
class _Token:
    kind: str
    text: str
    column: int


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            msg = f"unexpected character {text[position]!r}"
            raise ConditionError(msg, position + 1)
        kind = match.lastgroup or ""
        if kind == "word":
            word = match.group().lower()
            if word not in _KEYWORDS:
                msg = (
                    f"unknown word {match.group()!r}: attributes are written :name:, lists "
                    "@name, text in quotes"
                )
                raise ConditionError(msg, position + 1)
            tokens.append(_Token("keyword", word, position + 1))
        elif kind != "space":
            tokens.append(_Token(kind, match.group(), position + 1))
        position = match.end()
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


# -- the tree ----------------------------------------------------------------------------------


@attrs.frozen
class _Attribute:
    name: str
    kind: Kind

    def value(self, facts: Facts, _is_member: IsMember) -> Value:
        return facts.get(self.name)


@attrs.frozen
class _Literal:
    constant: Value
    kind: Kind

    def value(self, _facts: Facts, _is_member: IsMember) -> Value:
        return self.constant


@attrs.frozen
class _Compare:
    operator: str
    left: _Operand
    right: _Operand
    kind: Kind = Kind.BOOLEAN

    def value(self, facts: Facts, is_member: IsMember) -> Value:
        left = self.left.value(facts, is_member)
        right = self.right.value(facts, is_member)
        if left is None or right is None:
            return False
        if isinstance(left, str) and isinstance(right, str):
            left, right = left.casefold(), right.casefold()
        return _COMPARE[self.operator](left, right)


_COMPARE: Final[dict[str, Callable[[object, object], bool]]] = {
    "=": lambda a, b: a == b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,  # type: ignore[operator]  # kinds are checked at parse time
    "<=": lambda a, b: a <= b,  # type: ignore[operator]  # kinds are checked at parse time
    ">": lambda a, b: a > b,  # type: ignore[operator]  # kinds are checked at parse time
    ">=": lambda a, b: a >= b,  # type: ignore[operator]  # kinds are checked at parse time
}


@attrs.frozen
class ListTest:
    """``operand in @list``: which attribute is looked up on which list."""

    operand: _Attribute
    list_name: str
    negated: bool
    kind: Kind = Kind.BOOLEAN

    def value(self, facts: Facts, is_member: IsMember) -> Value:
        found = self.operand.value(facts, is_member)
        if found is None:
            return False
        return is_member(self.list_name, str(found)) != self.negated


@attrs.frozen
class _InTuple:
    operand: _Operand
    choices: frozenset[Value]
    negated: bool
    kind: Kind = Kind.BOOLEAN

    def value(self, facts: Facts, is_member: IsMember) -> Value:
        found = self.operand.value(facts, is_member)
        if found is None:
            return False
        if isinstance(found, str):
            found = found.casefold()
        return (found in self.choices) != self.negated


@attrs.frozen
class _Not:
    operand: _Operand
    kind: Kind = Kind.BOOLEAN

    def value(self, facts: Facts, is_member: IsMember) -> Value:
        return not self.operand.value(facts, is_member)


@attrs.frozen
class _All:
    operands: tuple[_Operand, ...]
    kind: Kind = Kind.BOOLEAN

    def value(self, facts: Facts, is_member: IsMember) -> Value:
        return all(operand.value(facts, is_member) for operand in self.operands)


@attrs.frozen
class _Any:
    operands: tuple[_Operand, ...]
    kind: Kind = Kind.BOOLEAN

    def value(self, facts: Facts, is_member: IsMember) -> Value:
        return any(operand.value(facts, is_member) for operand in self.operands)


_Operand: TypeAlias = _Attribute | _Literal | _Compare | ListTest | _InTuple | _Not | _All | _Any


@attrs.frozen
class Expression:
    """A parsed condition: evaluate it with :meth:`matches`.

    ``attributes`` are the attribute names it reads and ``list_tests`` the list lookups it
    makes, so that the screening gathers those and nothing else.
    """

    text: str
    root: _Operand = attrs.field(repr=False)
    attributes: frozenset[str]
    list_tests: tuple[ListTest, ...]

    def matches(self, facts: Facts, is_member: IsMember) -> bool:
        """Whether the condition holds for ``facts``."""
        return bool(self.root.value(facts, is_member))


# -- the parser --------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, *, after_authorization: bool) -> None:
        self._tokens = _tokens(text)
        self._position = 0
        self._after_authorization = after_authorization
        self.attributes: set[str] = set()
        self.list_tests: list[ListTest] = []

    def _peek(self) -> _Token:
        return self._tokens[self._position]

    def _take(self) -> _Token:
        token = self._tokens[self._position]
        self._position += 1
        return token

    def _keyword(self, word: str) -> bool:
        token = self._peek()
        if token.kind == "keyword" and token.text == word:
            self._position += 1
            return True
        return False

    def _expect(self, text: str) -> None:
        token = self._take()
        if token.text != text:
            found = repr(token.text) if token.text else "the end"
            raise ConditionError(f"expected {text!r}, found {found}", token.column)

    def parse(self) -> _Operand:
        start = self._peek()
        if start.kind == "end":
            raise ConditionError("the condition is empty", start.column)
        root = self._or()
        token = self._peek()
        if token.kind != "end":
            raise ConditionError(f"unexpected {token.text!r}", token.column)
        _require_boolean(root, start)
        return root

    def _or(self) -> _Operand:
        return self._joined("or", self._and, _Any)

    def _and(self) -> _Operand:
        return self._joined("and", self._unary, _All)

    def _joined(
        self,
        keyword: str,
        operand: Callable[[], _Operand],
        node: Callable[[tuple[_Operand, ...]], _Operand],
    ) -> _Operand:
        """``operand (keyword operand)*``: one operand alone, else ``node`` of booleans."""
        first = self._peek()
        operands = [operand()]
        while self._keyword(keyword):
            operands.append(operand())
        if len(operands) == 1:
            return operands[0]
        for each in operands:
            _require_boolean(each, first)
        return node(tuple(operands))

    def _unary(self) -> _Operand:
        token = self._peek()
        if self._keyword("not"):
            operand = self._unary()
            _require_boolean(operand, token)
            return _Not(operand)
        return self._comparison()

    def _comparison(self) -> _Operand:
        left_token = self._peek()
        left = self._operand()
        token = self._peek()
        if token.kind == "operator":
            self._take()
            right_token = self._peek()
            right = self._operand()
            return _compare(token, left, left_token, right, right_token)
        negated = False
        if token.kind == "keyword" and token.text == "not":
            following = self._tokens[self._position + 1]
            if following.kind == "keyword" and following.text == "in":
                self._take()
                negated = True
        if self._keyword("in"):
            return self._membership(left, left_token, negated=negated)
        return left

    def _membership(self, left: _Operand, left_token: _Token, *, negated: bool) -> _Operand:
        token = self._peek()
        if left.kind is Kind.BOOLEAN:
            raise ConditionError(
                f"'in' tests a text or number, not the true/false {left_token.text}",
                token.column,
            )
        if token.kind == "list":
            self._take()
            if not isinstance(left, _Attribute):
                raise ConditionError("only an attribute can be looked up on a list", token.column)
            test = ListTest(left, token.text[1:], negated)
            self.list_tests.append(test)
            return test
        self._expect("(")
        choices: list[Value] = []
        while True:
            choice_token = self._peek()
            choice = self._operand()
            if not isinstance(choice, _Literal):
                raise ConditionError("a choice in ( ... ) must be a literal", choice_token.column)
            if choice.kind is not left.kind:
                msg = f"{left_token.text} is {left.kind}; {choice_token.text} is {choice.kind}"
                raise ConditionError(msg, choice_token.column)
            constant = choice.constant
            choices.append(constant.casefold() if isinstance(constant, str) else constant)
            if self._peek().text != ",":
                break
            self._take()
        self._expect(")")
        return _InTuple(left, frozenset(choices), negated)

    def _operand(self) -> _Operand:
        token = self._take()
        if token.kind == "attribute":
            name = token.text[1:-1]
            try:
                kind = kind_of(name, after_authorization=self._after_authorization)
            except ValueError as error:
                raise ConditionError(str(error), token.column) from None
            if kind is None:
                raise ConditionError(f"unknown attribute {token.text}", token.column)
            self.attributes.add(name)
            return _Attribute(name, kind)
        if token.kind == "number":
            return _Literal(Decimal(token.text), Kind.NUMBER)
        if token.kind == "text":
            return _Literal(token.text[1:-1], Kind.TEXT)
        if token.kind == "keyword" and token.text in ("true", "false"):
            return _Literal(token.text == "true", Kind.BOOLEAN)
        if token.text == "(":
            inner = self._or()
            self._expect(")")
            return inner
        if token.kind == "list":
            raise ConditionError(f"a list ({token.text}) can only follow 'in'", token.column)
        found = repr(token.text) if token.text else "the end"
        raise ConditionError(f"expected a value, found {found}", token.column)


def _compare(
    operator: _Token, left: _Operand, left_token: _Token, right: _Operand, right_token: _Token
) -> _Compare:
    if left.kind is not right.kind:
        msg = (
            f"operator {operator.text!r} compares like with like: {left_token.text} is "
            f"{left.kind}, {right_token.text} is {right.kind}"
        )
        raise ConditionError(msg, operator.column)
    if operator.text in _ORDERING and left.kind is not Kind.NUMBER:
        msg = f"operator {operator.text!r} orders numbers; {left_token.text} is {left.kind}"
        raise ConditionError(msg, operator.column)
    return _Compare(operator.text, left, right)


def _require_boolean(operand: _Operand, token: _Token) -> None:
    if operand.kind is not Kind.BOOLEAN:
        msg = f"{token.text} is {operand.kind}, not a condition; compare it with something"
        raise ConditionError(msg, token.column)


def parse_condition(text: str, *, after_authorization: bool = False) -> Expression:
    """Parse a condition; raise :class:`ConditionError` naming the column of the problem.

    ``after_authorization`` allows the provider's risk attributes (post-authorization rules).
    """
    parser = _Parser(text, after_authorization=after_authorization)
    root = parser.parse()
    return Expression(text, root, frozenset(parser.attributes), tuple(parser.list_tests))
