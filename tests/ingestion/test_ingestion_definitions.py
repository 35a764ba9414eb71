"""Workflow definition validation: the documented shape is accepted, each bad node is named by its JSON path."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from ingestion_stack import welcome_spec

from cxflow.demo import WELCOME_WORKFLOW_SPEC
from services.common.errors import InvalidArgument
from services.ingestion.definitions import parse_definition


def test_the_demo_and_documented_specs_are_valid() -> None:
    demo = parse_definition(WELCOME_WORKFLOW_SPEC)
    assert demo.name == "Welcome" and demo.enabled and demo.load_contact
    assert [m.name for m in demo.mappings] == ["userId", "plan"]
    assert demo.contact is not None and (demo.contact.directory_id, demo.contact.lookup) == ("POOL_demo", "extRef")
    minimal = parse_definition({"name": "n", "trigger": {"type": "json_event"}, "tasks": [{"type": "email", "to": ["a@b.c"], "subject": "s", "html": "<p>h</p>"}]})
    assert minimal.filter is None and minimal.contact is None and minimal.load_contact is False and minimal.enabled


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(spec: dict[str, Any]) -> None:
        node = spec
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


def _delete(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def change(spec: dict[str, Any]) -> None:
        node = spec
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return change


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (_delete(["name"]), "spec.name"),
        (_set(["name"], "x" * 201), "spec.name"),
        (_set(["enabled"], "yes"), "spec.enabled"),
        (_set(["surprise"], 1), "spec.surprise"),
        (_delete(["trigger"]), "spec.trigger"),
        (_set(["trigger", "type"], "cron"), "spec.trigger.type"),
        (_set(["trigger", "filter"], 'type = "identify" and'), "spec.trigger.filter"),
        (_set(["trigger", "mappings"], {"a": 1}), "spec.trigger.mappings"),
        (_set(["trigger", "mappings", 1, "type"], "date"), "spec.trigger.mappings[1].type"),
        (_set(["trigger", "mappings", 0, "path"], "$$$"), "spec.trigger.mappings[0].path"),
        (_set(["contact", "lookup"], "name"), "spec.contact.lookup"),
        (_delete(["contact", "directoryId"]), "spec.contact.directoryId"),
        (_delete(["contact", "path"]), "spec.contact.path"),
        (lambda spec: (_delete(["contact"])(spec), _set(["loadContact"], True)(spec)), "spec.loadContact"),
        (_set(["tasks"], []), "spec.tasks"),
        (_set(["tasks"], [{"type": "email", "to": ["a@b.c"], "subject": "s", "text": "t"}] * 51), "spec.tasks"),
        (_set(["tasks", 0, "type"], "fax"), "spec.tasks[0].type"),
        (_set(["tasks", 0, "to"], []), "spec.tasks[0].to"),
        (_set(["tasks", 0, "to"], "a@b.c"), "spec.tasks[0].to"),
        (_set(["tasks", 0, "to"], ["{{ contact.email "]), "spec.tasks[0].to[0]"),
        (_set(["tasks", 0, "cc"], [3]), "spec.tasks[0].cc[0]"),
        (_delete(["tasks", 0, "subject"]), "spec.tasks[0].subject"),
        (_set(["tasks", 0, "subject"], "{% if %}"), "spec.tasks[0].subject"),
        (_delete(["tasks", 0, "text"]), "spec.tasks[0].text"),
        (_set(["tasks", 0, "bcc"], []), "spec.tasks[0].bcc"),
    ],
)
def test_errors_name_the_json_path(change: Callable[[dict[str, Any]], None], path: str) -> None:
    spec = copy.deepcopy(welcome_spec())
    change(spec)
    with pytest.raises(InvalidArgument) as caught:
        parse_definition(spec)
    assert caught.value.message.startswith(f"{path}:"), caught.value.message


def test_qualtrics_tokens_are_plain_text_to_jinja() -> None:
    spec = welcome_spec()
    spec["tasks"][0]["subject"] = "Hi ${m://FirstName}, plan ${e://Field/plan}"
    assert parse_definition(spec).tasks[0]["subject"].startswith("Hi ${m://FirstName}")


def full_spec() -> dict[str, Any]:
    """One definition using every task type, conditions, retries, a frequency cap and owners."""
    return welcome_spec(
        conditions={
            "all": [
                {"operand": "contact.embeddedData.tier", "operator": "equals", "value": "gold", "ignoreCase": True},
                {"any": [{"operand": "event.properties.total", "operator": "gte", "value": 100}, {"segment": "SEG_vip"}]},
                {"operand": "fields.firstName", "operator": "is_not_empty"},
                {"operand": "contact.email", "operator": "matches", "value": "@example\\.com$"},
                {"operand": "fields.age", "operator": "in_list", "value": [30, "31"]},
            ]
        },
        tasks=[
            {"type": "email", "to": ["{{ contact.email }}"], "subject": "Hi", "text": "Welcome"},
            {"type": "slack", "webhook": "support", "text": "New VIP {{ contact.email }}", "blocks": [{"type": "section"}]},
            {"type": "ticket", "provider": "zendesk", "title": "Call {{ contact.firstName }}", "priority": "high",
             "tags": ["vip"], "customFields": {"360001": "{{ fields.age }}"}},
            {"type": "survey", "surveyId": "SV_1", "subject": "How did we do?", "expiresInDays": 14},
            {"type": "webhook", "url": "https://hooks.example.com/in", "body": {"ticket": "{{ tasks[2].ticketId }}"}},
            {"type": "segment_event", "writeKey": "main", "call": "track", "userId": "{{ contact.extRef }}", "event": "VIP Welcomed"},
            {"type": "add_to_mailing_list", "mailingListId": "CG_vips"},
            {"type": "update_contact_field", "field": "embeddedData.welcomed", "value": "yes"},
        ],
        retry="15m",
        onFailure="stop",
        frequencyCap={"count": 2, "period": "7d"},
        owners=["ops@example.com"],
    )


def test_a_definition_with_everything_is_valid() -> None:
    definition = parse_definition(full_spec())
    assert [task["type"] for task in definition.tasks] == [
        "email", "slack", "ticket", "survey", "webhook", "segment_event", "add_to_mailing_list", "update_contact_field"
    ]
    assert (definition.retry, definition.on_failure) == ("15m", "stop")
    assert definition.frequency_cap is not None and definition.frequency_cap.period_seconds == 7 * 86400
    assert definition.owners == ["ops@example.com"] and definition.notify_owners_on_failure
    assert definition.conditions is not None


def test_defaults_are_qualtrics_defaults() -> None:
    definition = parse_definition(welcome_spec())
    assert (definition.retry, definition.on_failure, definition.frequency_cap, definition.owners) == ("24h", "continue", None, [])
    assert definition.notify_owners_on_failure is False


def test_segment_membership_trigger() -> None:
    spec = welcome_spec(trigger={"type": "segment_membership", "segmentId": "SEG_vip", "changes": ["ADDED", "OPTED_IN"]})
    del spec["contact"]
    definition = parse_definition(spec)
    assert (definition.trigger_type, definition.segment_id, definition.membership_changes) == (
        "segment_membership", "SEG_vip", ("ADDED", "OPTED_IN")
    )
    assert definition.load_contact and definition.filter is None and definition.mappings == []


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (_set(["trigger"], {"type": "segment_membership", "segmentId": "vip"}), "spec.trigger.segmentId"),
        (_set(["trigger"], {"type": "segment_membership", "segmentId": "SEG_1", "changes": ["JOINED"]}), "spec.trigger.changes[0]"),
        (_set(["trigger"], {"type": "segment_membership", "segmentId": "SEG_1", "changes": []}), "spec.trigger.changes"),
        (_set(["trigger"], {"type": "segment_membership", "segmentId": "SEG_1", "filter": "x"}), "spec.trigger.filter"),
        (_set(["trigger"], {"type": "segment_membership", "segmentId": "SEG_1"}), "spec.contact"),
        (_set(["conditions"], {"all": [], "any": []}), "spec.conditions"),
        (_set(["conditions"], {"all": []}), "spec.conditions.all"),
        (_set(["conditions", "all", 0, "operator"], "about"), "spec.conditions.all[0].operator"),
        (_set(["conditions", "all", 0, "operand"], "traits.tier"), "spec.conditions.all[0].operand"),
        (_set(["conditions", "all", 1, "any", 0, "value"], "lots"), "spec.conditions.all[1].any[0].value"),
        (_set(["conditions", "all", 1, "any", 1, "segment"], "vip"), "spec.conditions.all[1].any[1].segment"),
        (_set(["conditions", "all", 2, "value"], "x"), "spec.conditions.all[2].value"),
        (_set(["conditions", "all", 3, "value"], "(" * 201), "spec.conditions.all[3].value"),
        (_set(["conditions", "all", 3, "value"], "(unclosed"), "spec.conditions.all[3].value"),
        (_set(["conditions", "all", 3, "value"], r"(a)\1"), "spec.conditions.all[3].value"),  # a backreference: not RE2
        (_set(["conditions", "all", 4, "value"], []), "spec.conditions.all[4].value"),
        (_set(["conditions"], {"all": [{"all": [{"all": [{"all": [{"all": [{"all": [{"segment": "SEG_1"}]}]}]}]}]}]}),
         "spec.conditions.all[0].all[0].all[0].all[0].all[0]"),
        (_set(["tasks", 1, "webhook"], ""), "spec.tasks[1].webhook"),
        (_set(["tasks", 1, "blocks"], "text"), "spec.tasks[1].blocks"),
        (_set(["tasks", 2, "provider"], "jira"), "spec.tasks[2].provider"),
        (_set(["tasks", 2, "priority"], "p1"), "spec.tasks[2].priority"),
        (_delete(["tasks", 2, "title"]), "spec.tasks[2].title"),
        (_set(["tasks", 3, "expiresInDays"], 0), "spec.tasks[3].expiresInDays"),
        (_set(["tasks", 4, "url"], "ftp://x"), "spec.tasks[4].url"),
        (_set(["tasks", 4, "body"], {"x": "{{ oops"}), "spec.tasks[4].body.x"),
        (_set(["tasks", 5, "call"], "page"), "spec.tasks[5].call"),
        (_delete(["tasks", 5, "event"]), "spec.tasks[5].event"),
        (_delete(["tasks", 6, "mailingListId"]), "spec.tasks[6].mailingListId"),
        (_set(["tasks", 7, "field"], "id"), "spec.tasks[7].field"),
        (_set(["tasks", 7, "value"], 3), "spec.tasks[7].value"),
        (_set(["retry"], "1h"), "spec.retry"),
        (_set(["onFailure"], "retry"), "spec.onFailure"),
        (_set(["frequencyCap", "count"], 0), "spec.frequencyCap.count"),
        (_set(["frequencyCap", "period"], "weekly"), "spec.frequencyCap.period"),
        (_set(["owners"], ["not an address"]), "spec.owners[0]"),
        (lambda spec: (_set(["owners"], [])(spec), _set(["notifyOwnersOnFailure"], True)(spec)), "spec.notifyOwnersOnFailure"),
        (lambda spec: (_delete(["contact"])(spec), _set(["tasks"], [spec["tasks"][6]])(spec)), "spec.tasks[0].type"),
        (lambda spec: (_delete(["contact"])(spec), _set(["tasks"], [spec["tasks"][0]])(spec)), "spec.frequencyCap"),
    ],
)
def test_new_nodes_name_their_json_path(change: Callable[[dict[str, Any]], None], path: str) -> None:
    spec = full_spec()
    change(spec)
    with pytest.raises(InvalidArgument) as caught:
        parse_definition(spec)
    assert caught.value.message.startswith(f"{path}:"), caught.value.message


def test_the_readme_workflow_reference_example_is_valid() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Workflows"):]
    example = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert example is not None
    definition = parse_definition(yaml.safe_load(example.group(1)))
    assert {task["type"] for task in definition.tasks} == {
        "email", "ticket", "slack", "webhook", "segment_event", "survey", "add_to_mailing_list", "update_contact_field"
    }
    assert definition.frequency_cap is not None and definition.owners == ["cx-team@example.com"]
