"""Workflow definition validation: the documented shape is accepted, each bad node is named by its JSON path."""

from __future__ import annotations

import copy
from typing import Any, Callable

import pytest
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
