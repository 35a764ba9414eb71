"""Segment's mapping kit in field mappings (@path, @if exists/blank, literals), auto-mapping of a sample payload,
and the fields an "upsert contact transaction" subscription takes from an event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.ingestion.automapping import propose_mappings
from services.ingestion.errors import InvalidIngestionRequest
from services.ingestion.mappings import InvalidMapping, MappingError, apply_mappings, compile_mapping
from services.ingestion.subscriptions import UPSERT_TRANSACTION, compile_rule

EMAIL_IF = {"@if": {"exists": {"@path": "$.email"}, "then": {"@path": "$.email"}, "else": {"@path": "$.traits.email"}}}


def fields(event: dict[str, Any], *definitions: dict[str, Any]) -> dict[str, Any]:
    mappings = []
    for index, definition in enumerate(definitions):
        extra = {"value": definition["value"]} if "value" in definition else {}
        mappings.append(compile_mapping(definition["name"], definition.get("path"), definition.get("type"), f"m[{index}]", **extra))
    return apply_mappings(mappings, event)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"email": "top@example.com", "traits": {"email": "trait@example.com"}}, "top@example.com"),
        ({"traits": {"email": "trait@example.com"}}, "trait@example.com"),
        ({"email": None, "traits": {"email": "trait@example.com"}}, "trait@example.com"),
        ({"traits": {}}, None),
    ],
)
def test_if_exists_then_else(event: dict[str, Any], expected: str | None) -> None:
    result = fields(event, {"name": "email", "value": EMAIL_IF})
    assert result.get("email") == expected
    # The same directive given as the path (what a workflow definition's mappings can carry) behaves alike.
    assert fields(event, {"name": "email", "path": EMAIL_IF}) == result


def test_blank_treats_empty_strings_as_missing_and_branches_may_be_left_out() -> None:
    blank = {"@if": {"blank": {"@path": "$.traits.language"}, "then": "EN", "else": {"@path": "$.traits.language"}}}
    assert fields({"traits": {"language": ""}}, {"name": "language", "value": blank}) == {"language": "EN"}
    assert fields({"traits": {"language": "FR"}}, {"name": "language", "value": blank}) == {"language": "FR"}
    only_then = {"@if": {"exists": {"@path": "$.userId"}, "then": True}}
    assert fields({"userId": "u"}, {"name": "known", "type": "boolean", "value": only_then}) == {"known": True}
    assert fields({}, {"name": "known", "type": "boolean", "value": only_then}) == {}


def test_literals_and_their_types() -> None:
    result = fields(
        {},
        {"name": "language", "value": "EN"},
        {"name": "unsubscribed", "type": "boolean", "value": False},
        {"name": "score", "type": "number", "value": {"@literal": "42"}},
    )
    assert result == {"language": "EN", "unsubscribed": False, "score": 42}


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        ({"name": "x", "path": "$.a", "value": "both"}, "m[0].value"),
        ({"name": "x"}, "m[0].path"),
        ({"name": "x", "value": {"@path": "$.a", "@if": {}}}, "m[0].value"),
        ({"name": "x", "value": {"@nope": 1}}, "m[0].value"),
        ({"name": "x", "value": {"@if": {"then": "a"}}}, "m[0].value.@if"),
        ({"name": "x", "value": {"@if": {"exists": {"@path": "$.a"}}}}, "m[0].value.@if"),
        ({"name": "x", "value": {"@if": {"exists": {"@path": "$.a"}, "then": "a", "otherwise": "b"}}}, "m[0].value.@if"),
        ({"name": "x", "value": {"@if": {"exists": {"@path": "$[bad"}, "then": "a"}}}, "m[0].value.@if.exists.@path"),
        ({"name": "x", "value": [1, 2]}, "m[0].value"),
        ({"name": "x", "value": None}, "m[0].value"),
        ({"name": "x", "type": "number", "value": "abc"}, "m[0].value"),
    ],
)
def test_bad_directives_are_refused_naming_the_node(definition: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidMapping) as caught:
        fields({}, definition)
    assert caught.value.field == field, caught.value.message
    assert caught.value.message.startswith(field)


def test_a_chosen_branch_that_cannot_be_coerced_fails_the_event() -> None:
    mapping = {"name": "age", "type": "number", "value": {"@if": {"exists": {"@path": "$.age"}, "then": {"@path": "$.age"}}}}
    with pytest.raises(MappingError) as caught:
        fields({"age": "old"}, mapping)
    assert "'age'" in caught.value.message


def test_auto_mapping_proposes_one_typed_mapping_per_leaf() -> None:
    sample = {
        "userId": "u-1",
        "traits": {"email": "ada@example.com", "age": 36, "vip": True, "score": 4.5, "nickname": None},
        "context": {"traits": {"email": "ctx@example.com"}},
        "items": [{"sku": "A"}, {"sku": "B"}],
        "first name": "Ada",
        "empty": {},
    }
    proposals = propose_mappings(sample)
    assert proposals == [
        {"name": "userId", "path": "$.userId", "type": "string"},
        {"name": "email", "path": "$.traits.email", "type": "string"},
        {"name": "age", "path": "$.traits.age", "type": "number"},
        {"name": "vip", "path": "$.traits.vip", "type": "boolean"},
        {"name": "score", "path": "$.traits.score", "type": "number"},
        {"name": "nickname", "path": "$.traits.nickname", "type": "string"},
        {"name": "context_traits_email", "path": "$.context.traits.email", "type": "string"},
        {"name": "sku", "path": "$.items[0].sku", "type": "string"},
        {"name": "items_1_sku", "path": "$.items[1].sku", "type": "string"},
        {"name": "first name", "path": "$['first name']", "type": "string"},
    ]
    # Every proposal compiles and reads back the sample's value.
    compiled = [compile_mapping(p["name"], p["path"], p["type"], "p") for p in proposals]
    extracted = apply_mappings(compiled, sample)
    assert extracted["sku"] == "A" and extracted["first name"] == "Ada" and extracted["vip"] is True
    assert "nickname" not in extracted  # null reads as absent


def test_auto_mapping_refuses_non_objects_and_huge_samples() -> None:
    with pytest.raises(InvalidIngestionRequest):
        propose_mappings([1, 2])  # type: ignore[arg-type]
    with pytest.raises(InvalidIngestionRequest):
        propose_mappings({"many": list(range(501))})


def test_transaction_fields_defaults_and_mappings() -> None:
    event = {
        "type": "track",
        "event": "Transaction Created",
        "userId": "u-1",
        "timestamp": "2026-05-01T10:00:00.000Z",
        "context": {"traits": {"email": "ada@example.com", "firstName": "Ada"}},
        "properties": {"amount": 9.5, "sku": "A-1", "nested": {"skip": True}},
    }
    default = compile_rule(UPSERT_TRANSACTION, "", [], "POOL_x", mailing_list_id="CG_x")
    assert default.matches(event) and not default.matches({**event, "event": "Other"})
    taken = default.transaction_fields(event)
    assert taken.contact["extRef"] == "u-1" and taken.contact["email"] == "ada@example.com"
    assert taken.transaction_date == datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    assert taken.data == {"amount": 9.5, "sku": "A-1"}

    mapped = compile_rule(
        UPSERT_TRANSACTION,
        "",
        [
            {"name": "email", "path": "$.context.traits.email"},
            {"name": "transactionDate", "path": "$.properties.when"},
            {"name": "data.total", "path": "$.properties.amount", "type": "number"},
        ],
        "POOL_x",
        mailing_list_id="CG_x",
    )
    taken = mapped.transaction_fields({**event, "properties": {"amount": "12", "when": "2026-01-02T03:04:05"}})
    assert taken.contact == {"email": "ada@example.com"} and taken.data == {"total": 12}
    assert taken.transaction_date == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with pytest.raises(MappingError):
        mapped.transaction_fields({**event, "properties": {"when": "someday"}})
    with pytest.raises(InvalidMapping):
        compile_rule(UPSERT_TRANSACTION, "", [{"name": "total", "path": "$.x"}], "POOL_x", mailing_list_id="CG_x")
    with pytest.raises(InvalidIngestionRequest):
        compile_rule(UPSERT_TRANSACTION, "", [], "POOL_x")  # no mailing list
