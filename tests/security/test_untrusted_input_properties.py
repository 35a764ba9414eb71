"""Property suites over the parsers and evaluators that read tenant- and caller-supplied text: Segment filters, field
mappings and their coercion, workflow conditions (against a reference evaluator) and templates. Each either works or
fails with its documented error, never with anything else."""

from __future__ import annotations

import math
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingestion.filters import FilterSyntaxError, parse_filter, path_segments, resolve_path
from services.ingestion.mappings import (
    ABSENT,
    InvalidMapping,
    MappingError,
    apply_mappings,
    coerce,
    compile_mapping,
    compile_value,
)
from workflows.conditions import evaluate
from workflows.templating import RenderedText, TemplateError, render_template

# JSON values as events carry them.
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8)),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=6), children, max_size=3)),
    max_leaves=10,
)
events = st.dictionaries(
    st.sampled_from(["type", "event", "userId", "properties", "traits", "a", "b", "0"]), json_values, max_size=5
)


# ---------------------------------------------------------------------------- Segment subscription filters

# Text made of the filter language's own pieces reaches far deeper into the parser than random characters do.
_FILTER_PIECES = [
    *[
        "(",
        ")",
        "!",
        "=",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "and",
        "or",
        "not",
        "true",
        "false",
        "null",
        "contains",
        "match",
        ",",
        "1",
        "-2.5e3",
        "0x1",
        "type",
        "properties.plan",
        "event",
        ".",
        "$",
        "-",
        "é",
    ],
    *[" ", '"', "'", "\\", '"a"', "'b'", '"\\u00e9"', '"\\q"', "a\\ b", "\x00", "\n"],
]
filter_soup = st.lists(st.sampled_from(_FILTER_PIECES), max_size=25).map("".join)


@settings(max_examples=300)
@given(st.one_of(filter_soup, st.text(max_size=60)))
def test_filter_parse_succeeds_or_raises_its_syntax_error(text: str) -> None:
    try:
        tree = parse_filter(text)
    except FilterSyntaxError as exc:
        assert 0 <= exc.position <= len(text)
        assert exc.message.startswith("invalid filter: ")
        return
    assert parse_filter(str(tree)) == tree  # whatever parses prints back to a filter that parses to the same tree


@settings(max_examples=200)
@given(filter_soup, events)
def test_a_parsed_filter_evaluates_any_event_to_a_boolean(text: str, event: dict[str, Any]) -> None:
    try:
        tree = parse_filter(text)
    except FilterSyntaxError:
        return
    assert tree.matches(event) in (True, False)


@given(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=3), json_values)
def test_escaped_field_names_reach_exactly_their_key(keys: list[str], value: Any) -> None:
    """Any key (spaces, dots, quotes) can be named by escaping each character, as Segment's UI writes them."""
    path = ".".join("".join("\\" + char for char in key) for key in keys)
    assert path_segments(path) == tuple(keys)
    event: Any = value
    for key in reversed(keys):
        event = {key: event}
    assert resolve_path(event, path) == value


# ---------------------------------------------------------------------------- field mappings and coercion

_JSONPATH_PIECES = [
    *["$", ".", "..", "[", "]", "*", "?", "(", ")", "@", "traits", "email", "0", "-1", ":", ",", "==", "&", "`"],
    "'",
    '"',
    " ",
]
jsonpath_soup = st.lists(st.sampled_from(_JSONPATH_PIECES), max_size=12).map("".join)
directives = st.recursive(
    st.one_of(jsonpath_soup, st.integers(), st.booleans(), st.none(), st.text(max_size=5)),
    lambda children: st.one_of(
        st.builds(lambda path: {"@path": path}, st.one_of(jsonpath_soup, children)),
        st.builds(lambda value: {"@literal": value}, children),
        st.dictionaries(st.sampled_from(["exists", "blank", "then", "else", "other"]), children, max_size=4).map(
            lambda b: {"@if": b}
        ),
        st.dictionaries(st.sampled_from(["@path", "@if", "@nope", "plain"]), children, max_size=2),
        st.lists(children, max_size=2),
    ),
    max_leaves=8,
)
field_types = st.sampled_from(["string", "number", "boolean"])


@settings(max_examples=300)
@given(st.one_of(jsonpath_soup, st.text(max_size=20)), field_types, events)
def test_a_jsonpath_mapping_compiles_or_is_refused_and_extracts_its_type(path: str, type_: str, event: dict[str, Any]) -> None:
    try:
        mapping = compile_mapping("f", path, type_, "spec.trigger.mappings[0]")
    except InvalidMapping as exc:
        assert exc.field and exc.field.startswith("spec.trigger.mappings[0]")
        return
    _assert_extracts_its_type(mapping, type_, event)


@settings(max_examples=300)
@given(directives, field_types, events)
def test_a_mapping_kit_value_compiles_or_is_refused_and_extracts_its_type(value: Any, type_: str, event: dict[str, Any]) -> None:
    try:
        mapping = compile_mapping("f", None, type_, "m", value=value)
    except InvalidMapping:
        return
    _assert_extracts_its_type(mapping, type_, event)


def _assert_extracts_its_type(mapping: Any, type_: str, event: dict[str, Any]) -> None:
    try:
        fields = apply_mappings([mapping], event)
    except MappingError as exc:
        assert exc.field == "f"
        return
    if "f" in fields:
        expected = {"string": (str,), "number": (int, float), "boolean": (bool,)}[type_]
        assert isinstance(fields["f"], expected) and not (type_ == "number" and isinstance(fields["f"], bool))
        if type_ == "number":
            assert math.isfinite(fields["f"])


@given(json_values, field_types)
def test_coercion_returns_the_type_or_raises_mapping_error(value: Any, type_: str) -> None:
    try:
        result = coerce(value, type_, "f")
    except MappingError:
        return
    assert type(result) in {"string": (str,), "number": (int, float), "boolean": (bool,)}[type_]


@given(
    st.one_of(st.integers(min_value=-(10**15), max_value=10**15), st.booleans(), st.floats(allow_nan=False, allow_infinity=False))
)
def test_coercing_through_text_gives_the_value_back(value: Any) -> None:
    type_ = "boolean" if isinstance(value, bool) else "number"
    assert coerce(coerce(value, "string", "f"), type_, "f") == value


@given(st.sampled_from(["exists", "blank"]), st.one_of(st.none(), st.just(""), st.text(min_size=1, max_size=4)))
def test_if_directive_picks_the_branch_its_condition_names(condition: str, email: Any) -> None:
    value = compile_value({"@if": {condition: {"@path": "$.email"}, "then": "yes", "else": "no"}}, "m")
    present = email is not None and not (condition == "blank" and email == "")
    answer = value.resolve({"email": email})
    assert answer == ("yes" if present == (condition == "exists") else "no")
    assert answer is not ABSENT


# ---------------------------------------------------------------------------- conditions against a reference evaluator

_NUMBER_TEXT = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")


def _reference_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value):
        return float(value)
    return None


def _reference_text(value: Any) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return str(value).lower()
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)


def _reference_compare(operator: str, left: Any, right: Any, ignore_case: bool) -> bool:
    """The README's rules, written out independently: numbers compare as numbers, the rest as (folded) text."""
    fold = str.casefold if ignore_case else (lambda text: text)
    left_number, right_number = _reference_number(left), _reference_number(right)

    def equal(a: Any, b: Any) -> bool:
        a_number, b_number = _reference_number(a), _reference_number(b)
        if a_number is not None and b_number is not None:
            return a_number == b_number
        return fold(_reference_text(a)) == fold(_reference_text(b))

    if operator in ("equals", "not_equals"):
        return equal(left, right) == (operator == "equals")
    if operator in ("contains", "not_contains"):
        found = (
            any(equal(item, right) for item in left)
            if isinstance(left, list)
            else fold(_reference_text(right)) in fold(_reference_text(left))
        )
        return found == (operator == "contains")
    if operator == "starts_with":
        return fold(_reference_text(left)).startswith(fold(_reference_text(right)))
    if operator in ("is_empty", "is_not_empty"):
        empty = left is None or (isinstance(left, str) and not left.strip()) or (isinstance(left, list) and not left)
        return empty == (operator == "is_empty")
    if operator in ("gt", "gte", "lt", "lte"):
        if left_number is None or right_number is None:
            return False
        return {
            "gt": left_number > right_number,
            "gte": left_number >= right_number,
            "lt": left_number < right_number,
            "lte": left_number <= right_number,
        }[operator]
    if operator == "in_list":
        return isinstance(right, list) and any(equal(left, item) for item in right)
    return False  # unknown operators never hold


def _reference_evaluate(node: dict[str, Any], data: dict[str, Any]) -> bool:
    if "all" in node:
        return all(_reference_evaluate(child, data) for child in node["all"])
    if "any" in node:
        return any(_reference_evaluate(child, data) for child in node["any"])
    if "segment" in node:
        return (node["segment"] in data["contact"].get("segmentIds", [])) == node.get("member", True)
    value: Any = data
    for part in node["operand"].split("."):
        value = value.get(part) if isinstance(value, dict) else None  # a missing operand reads as empty
    return _reference_compare(node["operator"], value, node.get("value"), node.get("ignoreCase", False))


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-50, 50),
    st.sampled_from([1.5, -0.25, 10.0]),
    st.sampled_from(["", " ", "7", "07", "1e1", "-3.5", "abc", "ABC", "Gold", "gold", "x y", "2a"]),
)
_operators = st.sampled_from(
    [
        "equals",
        "not_equals",
        "contains",
        "not_contains",
        "starts_with",
        "is_empty",
        "is_not_empty",
        "gt",
        "gte",
        "lt",
        "lte",
        "in_list",
        "nope",
    ]
)
_operands = st.sampled_from(
    ["event.a", "event.b", "fields.plan", "contact.embeddedData.tier", "contact.tags", "event.missing.deeper"]
)
_leaves = st.one_of(
    st.fixed_dictionaries(
        {"operand": _operands, "operator": _operators, "value": st.one_of(_scalars, st.lists(_scalars, max_size=3))},
        optional={"ignoreCase": st.booleans()},
    ),
    st.fixed_dictionaries({"segment": st.sampled_from(["SEG_a", "SEG_b"])}, optional={"member": st.booleans()}),
)
condition_trees = st.recursive(
    _leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(lambda c: {"all": c}), st.lists(children, max_size=3).map(lambda c: {"any": c})
    ),
    max_leaves=8,
)
run_data = st.fixed_dictionaries(
    {
        "event": st.fixed_dictionaries({"a": _scalars, "b": _scalars}),
        "fields": st.fixed_dictionaries({}, optional={"plan": _scalars}),
        "contact": st.fixed_dictionaries(
            {
                "embeddedData": st.fixed_dictionaries({}, optional={"tier": _scalars}),
                "tags": st.lists(_scalars, max_size=3),
                "segmentIds": st.lists(st.sampled_from(["SEG_a", "SEG_b", "SEG_c"]), max_size=2, unique=True),
            }
        ),
    }
)


@settings(max_examples=400)
@given(condition_trees, run_data)
def test_conditions_agree_with_the_reference_evaluator(conditions: dict[str, Any], data: dict[str, Any]) -> None:
    outcome = evaluate(conditions, data)
    assert outcome.met is _reference_evaluate(conditions, data)
    assert outcome.explanation  # every evaluation explains itself


# ---------------------------------------------------------------------------- templates

_TEMPLATE_PIECES = [
    *[
        "{{",
        "}}",
        "{%",
        "%}",
        "{#",
        "#}",
        "x",
        "contact",
        ".",
        "firstName",
        "embeddedData",
        "[",
        "]",
        "|",
        "upper",
        "default",
        "(",
        ")",
        "if",
        "else",
        "endif",
        "for",
        "in",
        "endfor",
        "set",
    ],
    *[
        "=",
        "+",
        "*",
        "**",
        "9",
        "range",
        "__class__",
        "_",
        "${m://FirstName}",
        "${e://Field/tier}",
        "-",
        "raw",
        "endraw",
        "macro",
        "call",
    ],
    *[" ", "'", '"', "\n"],
]
template_soup = st.lists(st.sampled_from(_TEMPLATE_PIECES), max_size=30).map("".join)
TEMPLATE_CONTEXT = {"contact": {"firstName": "Ada", "embeddedData": {"tier": "gold"}}, "fields": {}, "x": [1, 2]}


@settings(max_examples=400)
@given(st.one_of(template_soup, st.text(max_size=40)), st.booleans())
def test_any_template_renders_or_raises_the_template_error(template: str, html: bool) -> None:
    try:
        rendered = render_template(template, TEMPLATE_CONTEXT, html=html)
    except TemplateError:
        return
    assert isinstance(rendered, RenderedText)
    assert "<class" not in rendered.text and "__globals__" not in rendered.text
