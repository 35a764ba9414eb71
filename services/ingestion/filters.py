"""Segment subscription filters (the FQL subset Segment's UI writes): a tokenizer, a recursive-descent parser, evaluation."""

from __future__ import annotations

import fnmatch
import functools
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from services.common.errors import InvalidArgument

Literal = str | int | float | bool | None


class FilterSyntaxError(InvalidArgument):
    """A filter that does not parse; position is the 0-based character offset of the problem."""

    def __init__(self, problem: str, position: int) -> None:
        super().__init__(f"invalid filter: {problem} at position {position}", field="filter")
        self.problem = problem
        self.position = position


# ---------------------------------------------------------------------------- the syntax tree

_MISSING = object()


@functools.lru_cache(maxsize=4096)
def path_segments(path: str) -> tuple[str, ...]:
    """The keys of a dotted path; a backslash escapes the next character (`properties.product\\ 1.price`), as
    Segment's UI writes field names holding spaces or other characters."""
    segments, current, escaped = [], [], False
    for char in path:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ".":
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
    segments.append("".join(current))
    return tuple(segments)


def resolve_path(event: Any, path: str) -> Any:
    """The value at a dotted path (numeric segments index lists); a missing path is null."""
    value = event
    for segment in path_segments(path):
        if isinstance(value, dict) and segment in value:
            value = value[segment]
        elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return None
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_number(value: Any) -> float | int | None:
    """Numbers compare as numbers, and so do numeric strings met by a number literal (events carry both)."""
    if _is_number(value):
        return value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _render_literal(value: Literal) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


@dataclass(frozen=True)
class Comparison:
    path: str
    operator: str  # = != < <= > >=
    value: Literal

    def matches(self, event: Any) -> bool:
        actual = resolve_path(event, self.path)
        if self.operator == "=":
            return _equal(actual, self.value)
        if self.operator == "!=":
            return not _equal(actual, self.value)
        if _is_number(self.value):
            left = _as_number(actual)
            if left is None:
                return False
            right: Any = self.value
        elif isinstance(self.value, str) and isinstance(actual, str):
            left, right = actual, self.value
        else:
            return False  # ordering null or booleans means nothing
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[self.operator]

    def __str__(self) -> str:
        return f"{self.path} {self.operator} {_render_literal(self.value)}"


def _equal(actual: Any, expected: Literal) -> bool:
    if expected is None:
        return actual is None
    if isinstance(expected, bool):
        return actual is expected
    if _is_number(expected):
        return _as_number(actual) == expected
    return isinstance(actual, str) and actual == expected


@dataclass(frozen=True)
class Function:
    name: str  # contains | match
    path: str
    argument: str

    def matches(self, event: Any) -> bool:
        actual = resolve_path(event, self.path)
        if self.name == "contains":
            if isinstance(actual, list):
                return self.argument in actual
            return isinstance(actual, str) and self.argument in actual
        return isinstance(actual, str) and fnmatch.fnmatchcase(actual, self.argument)

    def __str__(self) -> str:
        return f"{self.name}({self.path}, {_render_literal(self.argument)})"


@dataclass(frozen=True)
class Not:
    operand: Node

    def matches(self, event: Any) -> bool:
        return not self.operand.matches(event)

    def __str__(self) -> str:
        return f"not {_grouped(self.operand)}"


@dataclass(frozen=True)
class And:
    left: Node
    right: Node

    def matches(self, event: Any) -> bool:
        return self.left.matches(event) and self.right.matches(event)

    def __str__(self) -> str:
        return f"{_grouped(self.left)} and {_grouped(self.right)}"


@dataclass(frozen=True)
class Or:
    left: Node
    right: Node

    def matches(self, event: Any) -> bool:
        return self.left.matches(event) or self.right.matches(event)

    def __str__(self) -> str:
        return f"{_grouped(self.left)} or {_grouped(self.right)}"


Node = Comparison | Function | Not | And | Or


def _grouped(node: Node) -> str:
    # Parentheses around every compound operand keep the rendering unambiguous, so it parses back to the same tree.
    return f"({node})" if isinstance(node, (And, Or)) else str(node)


# ---------------------------------------------------------------------------- tokenizer

KEYWORDS = frozenset({"and", "or", "not", "true", "false", "null"})
FUNCTIONS = frozenset({"contains", "match"})
OPERATORS = ("!=", "<=", ">=", "=", "<", ">")

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
# A path starts like a name (a digit would start a number); later segments may start with digits ("2fa_enabled",
# list indexes); `\x` escapes any character, e.g. a space in `properties.product\ 1`.
_ESCAPED = r"\\."
_PATH = re.compile(rf"(?:[A-Za-z_$]|{_ESCAPED})(?:[A-Za-z0-9_$\-]|{_ESCAPED})*(?:\.(?:[A-Za-z0-9_$\-]|{_ESCAPED})+)*")
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


@dataclass(frozen=True)
class Token:
    kind: str  # path | string | number | keyword | op | ( | ) | , | ! | end
    value: Any
    position: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "(),":
            tokens.append(Token(char, char, i))
            i += 1
        elif char in "\"'":
            value, end = _read_string(text, i)
            tokens.append(Token("string", value, i))
            i = end
        elif operator := next((op for op in OPERATORS if text.startswith(op, i)), None):
            tokens.append(Token("op", operator, i))
            i += len(operator)
        elif char == "!":
            tokens.append(Token("!", "!", i))
            i += 1
        elif number := _NUMBER.match(text, i):
            literal = number.group()
            is_integer = not any(c in literal for c in ".eE")
            tokens.append(Token("number", int(literal) if is_integer else float(literal), i))
            i = number.end()
        elif path := _PATH.match(text, i):
            word = path.group()
            tokens.append(Token("keyword" if word in KEYWORDS else "path", word, i))
            i = path.end()
        else:
            raise FilterSyntaxError(f"unexpected character {char!r}", i)
    tokens.append(Token("end", None, len(text)))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == quote:
            return "".join(out), i + 1
        if char == "\\":
            escape = text[i + 1 : i + 2]
            if escape == "u":
                digits = text[i + 2 : i + 6]
                if not re.fullmatch(r"[0-9a-fA-F]{4}", digits):
                    raise FilterSyntaxError("invalid \\u escape", i)
                out.append(chr(int(digits, 16)))
                i += 6
                continue
            if escape not in _ESCAPES:
                raise FilterSyntaxError(f"invalid escape \\{escape}", i)
            out.append(_ESCAPES[escape])
            i += 2
            continue
        out.append(char)
        i += 1
    raise FilterSyntaxError("unterminated string", start)


# ---------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at_keyword(self, word: str) -> bool:
        return self.current.kind == "keyword" and self.current.value == word

    def expect(self, kind: str, what: str) -> Token:
        if self.current.kind != kind:
            raise FilterSyntaxError(f"expected {what}, found {_describe(self.current)}", self.current.position)
        return self.advance()

    def parse(self) -> Node:
        node = self.parse_or()
        if self.current.kind != "end":
            raise FilterSyntaxError(f"expected 'and', 'or' or the end, found {_describe(self.current)}", self.current.position)
        return node

    def parse_or(self) -> Node:
        node = self.parse_and()
        while self.at_keyword("or"):
            self.advance()
            node = Or(node, self.parse_and())
        return node

    def parse_and(self) -> Node:
        node = self.parse_unary()
        while self.at_keyword("and"):
            self.advance()
            node = And(node, self.parse_unary())
        return node

    def parse_unary(self) -> Node:
        if self.current.kind == "!" or self.at_keyword("not"):
            self.advance()
            return Not(self.parse_unary())
        return self.parse_primary()

    def parse_primary(self) -> Node:
        token = self.current
        if token.kind == "(":
            self.advance()
            node = self.parse_or()
            self.expect(")", "')'")
            return node
        if token.kind != "path":
            raise FilterSyntaxError(f"expected a field path, a function or '(', found {_describe(token)}", token.position)
        self.advance()
        if token.value in FUNCTIONS and self.current.kind == "(":
            self.advance()
            path = self.expect("path", "a field path").value
            self.expect(",", "','")
            argument = self.expect("string", "a string").value
            self.expect(")", "')'")
            return Function(token.value, path, argument)
        operator = self.expect("op", "a comparison operator (=, !=, <, <=, >, >=)").value
        return Comparison(token.value, operator, self.parse_literal())

    def parse_literal(self) -> Literal:
        token = self.current
        if token.kind in ("string", "number"):
            self.advance()
            return token.value
        if token.kind == "keyword" and token.value in ("true", "false", "null"):
            self.advance()
            return {"true": True, "false": False, "null": None}[token.value]
        raise FilterSyntaxError(f"expected a string, number, true, false or null, found {_describe(token)}", token.position)


def _describe(token: Token) -> str:
    if token.kind == "end":
        return "the end of the filter"
    if token.kind == "string":
        return f"string {json.dumps(token.value)}"
    return repr(str(token.value))


def parse_filter(text: str) -> Node:
    """Parses a subscription filter, e.g. `type = "track" and event = "Order Completed"`."""
    if not text.strip():
        raise FilterSyntaxError("the filter is empty", 0)
    return _Parser(text).parse()
