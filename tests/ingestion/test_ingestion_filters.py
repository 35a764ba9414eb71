"""The subscription filter parser: Segment's syntax, evaluation, error positions and parse/render round-trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ingestion.filters import (
    FUNCTIONS,
    KEYWORDS,
    And,
    Comparison,
    FilterSyntaxError,
    Function,
    Not,
    Or,
    parse_filter,
)

ORDER = {
    "type": "track",
    "event": "Order Completed",
    "userId": "u-1",
    "properties": {"plan": "pro-annual", "total": 120.5, "items": "3", "coupon": None, "tags": ["vip", "new"]},
    "context": {"traits": {"email": "ada@example.com"}},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('type = "track" and event = "Order Completed"', True),
        ("type = 'track' and event = 'Order Completed'", True),
        ('type = "identify"', False),
        ('type != "identify"', True),
        ("properties.total > 100", True),
        ("properties.total >= 120.5 and properties.total <= 120.5", True),
        ("properties.total < 100", False),
        ("properties.items = 3", True),  # numbers compare as numbers, numeric strings included
        ("properties.items > 10", False),
        ('properties.total > "100"', False),  # a string literal orders strings only
        ("properties.missing = null", True),
        ("properties.coupon = null", True),
        ("properties.plan = null", False),
        ("properties.missing != null", False),
        ('context.traits.email = "ada@example.com"', True),
        ('contains(properties.plan, "annual")', True),
        ('!contains(properties.plan, "annual")', False),
        ('contains(properties.tags, "vip")', True),
        ('match(properties.plan, "pro-*")', True),
        ('match(properties.plan, "basic*")', False),
        ('!match(properties.plan, "basic*")', True),
        ('type = "identify" or event = "Order Completed"', True),
        ('not (type = "identify" or event = "Signed Up")', True),
        ('type = "track" and (event = "Signed Up" or properties.total > 100)', True),
        ('type = "identify" or type = "track" and event = "Nope"', False),  # and binds tighter than or
        ('event = "Order \\"Completed\\""', False),
        ("properties.missing = true", False),
        ("properties.total = 120.5", True),
        ("properties.total = -1e3", False),
    ],
)
def test_evaluates_like_segment(text: str, expected: bool) -> None:
    assert parse_filter(text).matches(ORDER) is expected


def test_escapes_in_strings() -> None:
    node = parse_filter(r'event = "tab\there \"quoted\" \u00e9 back\\slash"' + r" and name = 'it\'s'")
    assert node == And(Comparison("event", "=", 'tab\there "quoted" é back\\slash'), Comparison("name", "=", "it's"))


def test_precedence_builds_the_expected_tree() -> None:
    assert parse_filter("a = 1 or b = 2 and not c = 3") == Or(
        Comparison("a", "=", 1), And(Comparison("b", "=", 2), Not(Comparison("c", "=", 3)))
    )


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("", 0, "empty"),
        ('type = "track" and', 18, "expected a field path"),
        ('type = "track', 7, "unterminated string"),
        ("type == 'x'", 6, "expected a string, number"),
        ('type "x"', 5, "comparison operator"),
        ('(type = "x"', 11, "expected ')'"),
        ('type = "x")', 10, "expected 'and', 'or' or the end"),
        ("type = #", 7, "unexpected character"),
        ('contains(properties.plan)', 24, "expected ','"),
        ('contains(properties.plan, 3)', 26, "expected a string"),
        ('event = "bad \\q escape"', 13, "invalid escape"),
        ("type = track", 7, "expected a string, number"),
    ],
)
def test_errors_name_the_problem_and_position(text: str, position: int, fragment: str) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter(text)
    assert caught.value.position == position
    assert fragment in caught.value.problem
    assert f"at position {position}" in caught.value.message


# -- round-trips: rendering a tree and parsing it back gives the same tree

_segment = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(lambda s: s not in KEYWORDS | FUNCTIONS)
_paths = st.lists(_segment, min_size=1, max_size=3).map(".".join)
_literals = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_leaves = st.one_of(
    st.builds(Comparison, _paths, st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), _literals),
    st.builds(Function, st.sampled_from(sorted(FUNCTIONS)), _paths, st.text(max_size=20)),
)
_trees = st.recursive(
    _leaves,
    lambda children: st.one_of(st.builds(Not, children), st.builds(And, children, children), st.builds(Or, children, children)),
    max_leaves=12,
)


@given(_trees)
def test_render_then_parse_round_trips(tree: object) -> None:
    assert parse_filter(str(tree)) == tree


@given(_trees, st.dictionaries(_segment, st.one_of(st.integers(), st.text(max_size=5), st.booleans(), st.none())))
def test_round_tripped_filter_evaluates_the_same(tree: object, event: dict) -> None:
    assert parse_filter(str(tree)).matches(event) == tree.matches(event)  # type: ignore[attr-defined]


@given(st.text(max_size=40))
def test_arbitrary_text_parses_or_fails_cleanly(text: str) -> None:
    try:
        parse_filter(text)
    except FilterSyntaxError as exc:
        assert 0 <= exc.position <= len(text)


UI_EVENT = {
    "type": "track",
    "event": "Product Viewed",
    "userId": "u-1",
    "properties": {"product 1": {"price": 12}, "2fa_enabled": True, "name": "Catalog", "value": 7, "sku": "ABC-123"},
    "traits": {"first name": "Ada"},
    "context": {"library": {"name": "analytics.js"}},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # What Segment's subscription UI writes for each of its operators (generate-fql), on every field kind.
        ('type = "track" or type = "identify" or userId != null', True),
        ('event = "Page Viewed" and properties.name = "Catalog"', False),
        ('type = "track" and (event = "Page Viewed" or event = "Product Viewed")', True),
        ('contains(event, "Viewed")', True),
        ('!contains(event, "Viewed")', False),
        ("properties.name != null", True),
        ("properties.missing = null", True),
        ("properties.2fa_enabled = true", True),
        ("properties.2fa_enabled = false", False),
        ('match(properties.sku, "ABC*")', True),
        ('!match(properties.sku, "ABC*")', False),
        ('match(properties.sku, "*123")', True),
        ('!match(properties.sku, "*999")', True),
        ("properties.value < 10 and properties.value >= 7", True),
        ("properties.product\\ 1.price > 10", True),
        ('traits.first\\ name = "Ada"', True),
        ('context.library.name = "analytics.js"', True),
        ('name = "Home"', False),
    ],
)
def test_what_segments_subscription_ui_generates(text: str, expected: bool) -> None:
    node = parse_filter(text)
    assert node.matches(UI_EVENT) is expected
    assert parse_filter(str(node)) == node  # escaped paths render back as written
