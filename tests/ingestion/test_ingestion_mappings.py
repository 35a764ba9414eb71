"""Field mappings: JSONPath extraction, coercion to string/number/boolean, errors, and Segment's contact defaults."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ingestion.mappings import (
    InvalidMapping,
    MappingError,
    apply_mappings,
    check_contact_field_name,
    coerce,
    compile_mapping,
    default_contact_fields,
)

EVENT = {
    "userId": "u-1",
    "traits": {"firstName": "Ada", "age": "36", "vip": "true", "score": 4.5, "optIn": 1, "tags": ["a", "b"], "empty": None},
}


def mapping(name: str, path: str, type_: str = "string") -> Any:
    return compile_mapping(name, path, type_, "mappings[0]")


def test_extracts_and_coerces() -> None:
    fields = apply_mappings(
        [
            mapping("firstName", "$.traits.firstName"),
            mapping("age", "$.traits.age", "number"),
            mapping("vip", "$.traits.vip", "boolean"),
            mapping("optIn", "$.traits.optIn", "boolean"),
            mapping("score", "$.traits.score", "string"),
            mapping("firstTag", "$.traits.tags[0]"),
            mapping("missing", "$.traits.nothing"),
            mapping("empty", "$.traits.empty"),
        ],
        EVENT,
    )
    assert fields == {"firstName": "Ada", "age": 36, "vip": True, "optIn": True, "score": "4.5", "firstTag": "a"}


@pytest.mark.parametrize(
    ("value", "type_", "expected"),
    [
        ("12", "number", 12),
        (" 1.5 ", "number", 1.5),
        (7, "number", 7),
        ("true", "boolean", True),
        ("FALSE", "boolean", False),
        ("1", "boolean", True),
        ("0", "boolean", False),
        (0, "boolean", False),
        (False, "boolean", False),
        (True, "string", "true"),
        (3, "string", "3"),
    ],
)
def test_coercion(value: Any, type_: str, expected: Any) -> None:
    result = coerce(value, type_, "f")
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("value", "type_"),
    [("abc", "number"), ("nan", "number"), (True, "number"), ({"a": 1}, "string"), ([1], "string"), ("yes", "boolean"), (2, "boolean")],
)
def test_uncoercible_values_name_the_field_and_value(value: Any, type_: str) -> None:
    with pytest.raises(MappingError) as caught:
        coerce(value, type_, "plan")
    assert "'plan'" in caught.value.message and repr(value) in caught.value.message


@pytest.mark.parametrize(
    ("name", "path", "type_", "field"),
    [
        ("", "$.a", "string", "mappings[0].name"),
        ("a", "", "string", "mappings[0].path"),
        ("a", "$.[", "string", "mappings[0].path"),
        ("a", "$.a", "date", "mappings[0].type"),
        # jsonpath-ng parses intersections but raises NotImplementedError when one is evaluated (found by hypothesis)
        ("a", "$.a & $.b", "string", "mappings[0].path"),
    ],
)
def test_invalid_mappings(name: str, path: str, type_: str, field: str) -> None:
    with pytest.raises(InvalidMapping) as caught:
        compile_mapping(name, path, type_, "mappings[0]")
    assert caught.value.field == field and caught.value.message.startswith(field)


def test_contact_field_names() -> None:
    for name in ("firstName", "email", "unsubscribed", "embeddedData.plan"):
        check_contact_field_name(name, "m")
    for name in ("first_name", "embeddedData.", "plan"):
        with pytest.raises(InvalidMapping):
            check_contact_field_name(name, "m")


def test_segment_defaults_for_create_or_update_contact() -> None:
    event = {
        "type": "identify",
        "userId": "u-1",
        "traits": {"email": "ada@example.com", "phone": "+15550100", "firstName": "Ada", "lastName": "Lovelace",
                   "plan": "pro", "seats": 3, "address": {"city": "London"}},
    }
    assert default_contact_fields(event) == {
        "extRef": "u-1",
        "email": "ada@example.com",
        "phone": "+15550100",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "language": "EN",
        "unsubscribed": False,
        "embeddedData.plan": "pro",
        "embeddedData.seats": 3,
    }
    assert default_contact_fields({"email": "top@example.com", "traits": {"email": "t@example.com", "language": "FR"}}) == {
        "email": "top@example.com",
        "language": "FR",
        "unsubscribed": False,
    }


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_numbers_survive_a_string_round_trip(number: int) -> None:
    assert coerce(coerce(number, "string", "n"), "number", "n") == number
