"""The conditions module: Qualtrics' type rules, nested groups, segment membership; unit and property tests."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflows.conditions import MISSING, compare, evaluate, resolve_operand

DATA: dict[str, Any] = {
    "event": {"type": "track", "properties": {"total": "120.50", "items": [{"sku": "A-1"}], "coupon": ""}},
    "fields": {"plan": "Gold", "visits": 3},
    "contact": {
        "email": "ada@example.com",
        "embeddedData": {"tier": "gold", "score": 9},
        "mailingListIds": ["CG_news"],
        "segmentIds": ["SEG_vip"],
    },
}


def leaf(operand: str, operator: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    return {"operand": operand, "operator": operator, "value": value, **extra}


@pytest.mark.parametrize(
    ("condition", "met"),
    [
        (leaf("fields.plan", "equals", "Gold"), True),
        (leaf("fields.plan", "equals", "gold"), False),  # case-sensitive by default
        (leaf("fields.plan", "equals", "gold", ignoreCase=True), True),
        (leaf("fields.plan", "not_equals", "gold"), True),
        (leaf("event.properties.total", "equals", 120.5), True),  # numbers compare as numbers
        (leaf("fields.visits", "equals", "3.0"), True),
        (leaf("event.properties.total", "gt", 99), True),
        (leaf("event.properties.total", "gt", "1000"), False),
        (leaf("fields.visits", "gte", 3), True),
        (leaf("fields.visits", "lt", 3), False),
        (leaf("fields.visits", "lte", "3"), True),
        (leaf("fields.plan", "gt", 1), False),  # text never orders against numbers
        (leaf("contact.email", "contains", "@example."), True),
        (leaf("contact.email", "not_contains", "@example."), False),
        (leaf("contact.email", "contains", "EXAMPLE", ignoreCase=True), True),
        (leaf("contact.email", "starts_with", "ada@"), True),
        (leaf("contact.mailingListIds", "contains", "CG_news"), True),
        (leaf("event.properties.coupon", "is_empty"), True),
        (leaf("event.properties.missing", "is_empty"), True),
        (leaf("event.properties.missing", "is_not_empty"), False),
        (leaf("event.properties.missing", "equals", ""), True),  # a missing value reads as empty text
        (leaf("event.properties.missing", "not_equals", "x"), True),
        (leaf("contact.embeddedData.tier", "in_list", ["silver", "gold"]), True),
        (leaf("contact.embeddedData.score", "in_list", ["9", "10"]), True),
        (leaf("event.properties.items.0.sku", "matches", r"^[A-Z]-\d$"), True),
        (leaf("contact.email", "matches", r"^bob"), False),
        (leaf("contact.email", "matches", "(" * 300), False),  # over the length cap: false, never compiled
        ({"segment": "SEG_vip", "member": True}, True),
        ({"segment": "SEG_vip", "member": False}, False),
        ({"segment": "SEG_other"}, False),
        (leaf("fields.plan", "no_such_operator", "Gold"), False),
    ],
)
def test_one_condition(condition: dict[str, Any], met: bool) -> None:
    assert evaluate({"all": [condition]}, DATA).met is met


def test_groups_nest_and_every_leaf_is_explained() -> None:
    conditions = {
        "all": [
            leaf("fields.plan", "equals", "Gold"),
            {"any": [leaf("fields.visits", "gt", 10), {"segment": "SEG_vip"}]},
        ]
    }
    outcome = evaluate(conditions, DATA)
    assert outcome.met is True
    assert len([line for line in outcome.explanation if "->" in line or "segment" in line]) == 3
    assert evaluate({"any": [leaf("fields.visits", "gt", 10), leaf("fields.plan", "equals", "x")]}, DATA).met is False


def test_no_conditions_hold() -> None:
    assert evaluate(None, DATA).met and evaluate({}, DATA).met


def test_resolve_operand_walks_objects_and_lists() -> None:
    assert resolve_operand("event.properties.items.0.sku", DATA) == "A-1"
    assert resolve_operand("event.properties.items.5.sku", DATA) is MISSING
    assert resolve_operand("contact.email.x", DATA) is MISSING


texts = st.text(max_size=20)
numbers = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False, width=32))
values = st.one_of(texts, numbers, st.booleans(), st.none())


@given(values, values, st.booleans())
def test_negated_operators_are_complements(left: Any, right: Any, ignore_case: bool) -> None:
    assert compare("equals", left, right, ignore_case=ignore_case) is not compare("not_equals", left, right, ignore_case=ignore_case)
    assert compare("contains", left, right, ignore_case=ignore_case) is not compare("not_contains", left, right, ignore_case=ignore_case)
    assert compare("is_empty", left) is not compare("is_not_empty", left)


@given(values, values)
def test_equals_is_symmetric(left: Any, right: Any) -> None:
    assert compare("equals", left, right) is compare("equals", right, left)


@given(numbers, numbers)
def test_numbers_and_their_text_compare_the_same(left: float, right: float) -> None:
    for operator in ("equals", "gt", "gte", "lt", "lte"):
        assert compare(operator, left, right) is compare(operator, repr(left), str(right))


@given(numbers, numbers)
def test_ordering_is_consistent(left: float, right: float) -> None:
    assert compare("gte", left, right) is (compare("gt", left, right) or compare("equals", left, right))
    assert compare("lt", left, right) is not compare("gte", left, right)


@given(st.text(alphabet="abcxyz _-", min_size=1, max_size=10), values)
def test_ordering_text_against_anything_is_false(text: str, other: Any) -> None:
    for operator in ("gt", "gte", "lt", "lte"):
        assert compare(operator, text, other) is False
        assert compare(operator, other, text) is False


@given(st.lists(values, max_size=5), values)
def test_in_list_means_equal_to_one_item(items: list[Any], value: Any) -> None:
    assert compare("in_list", value, items) is any(compare("equals", value, item) for item in items)


def test_a_catastrophic_pattern_runs_in_linear_time() -> None:
    # With backtracking (Python's re) this pattern takes ~3 s at 27 characters and doubles per character;
    # RE2 answers at once, so the run's workflow task cannot stall.
    data = {"fields": {"name": "a" * 5_000 + "!"}}

    assert evaluate({"all": [leaf("fields.name", "matches", "^(a+)+$")]}, data).met is False
    assert evaluate({"all": [leaf("fields.name", "matches", "^(a+)+!$")]}, data).met is True


def test_patterns_re2_refuses_match_nothing() -> None:
    # Backreferences need backtracking; RE2 refuses them, so the condition is false (never run by `re`).
    data = {"fields": {"word": "aa"}}

    assert evaluate({"all": [leaf("fields.word", "matches", r"(a)\1")]}, data).met is False


def test_ignore_case_applies_to_patterns() -> None:
    assert compare("matches", "ADA@example.com", r"^ada@", ignore_case=True) is True
    assert compare("matches", "ADA@example.com", r"^ada@") is False
