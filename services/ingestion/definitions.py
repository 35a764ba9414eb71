"""Workflow definition documents: validation of the spec (errors name the JSON path) and its parsed form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from services.common.errors import InvalidArgument
from services.ingestion.filters import FilterSyntaxError, Node, parse_filter
from services.ingestion.mappings import FieldMapping, compile_mapping

TRIGGER_TYPES = ("json_event",)
CONTACT_LOOKUPS = ("contactId", "extRef", "email", "phone")
MAX_TASKS = 50

_TOP_LEVEL_KEYS = {"name", "enabled", "trigger", "contact", "loadContact", "tasks"}
_EMAIL_TASK_KEYS = {"type", "to", "cc", "from", "subject", "text", "html"}
_templates = SandboxedEnvironment()  # only to check template syntax; the worker renders


class InvalidDefinition(InvalidArgument):
    """A spec node that breaks the definition document; the message starts with its JSON path."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}", field=path)


@dataclass(frozen=True)
class ContactSource:
    """Where a run's contact comes from: a directory, the lookup field and the event value to look up."""

    directory_id: str
    lookup: str
    path: FieldMapping  # a string mapping named after the lookup field


@dataclass(frozen=True)
class WorkflowDefinition:
    name: str
    enabled: bool
    trigger_type: str
    filter: Node | None
    mappings: list[FieldMapping]
    contact: ContactSource | None
    load_contact: bool
    tasks: list[dict[str, Any]]


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidDefinition(path, "must be an object")
    return value


def _string(value: Any, path: str, *, required: bool = True, max_length: int | None = None) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidDefinition(path, "must be a non-empty string" if required else "must be a string")
    if max_length is not None and len(value) > max_length:
        raise InvalidDefinition(path, f"must be at most {max_length} characters")
    return value


def _boolean(value: Any, path: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidDefinition(path, "must be true or false")
    return value


def _unknown_keys(node: dict[str, Any], allowed: set[str], path: str) -> None:
    for key in node:
        if key not in allowed:
            raise InvalidDefinition(f"{path}.{key}", f"unknown field; expected one of {', '.join(sorted(allowed))}")


def _template(value: Any, path: str, *, required: bool) -> str:
    text = _string(value, path, required=required)
    try:
        _templates.parse(text)
    except TemplateSyntaxError as exc:
        raise InvalidDefinition(path, f"invalid template: {exc.message} (line {exc.lineno})") from exc
    return text


def parse_definition(spec: Any) -> WorkflowDefinition:
    """Validates a definition document and returns its parsed form; raises InvalidDefinition naming the bad node."""
    spec = _object(spec, "spec")
    _unknown_keys(spec, _TOP_LEVEL_KEYS, "spec")
    name = _string(spec.get("name"), "spec.name", max_length=200)
    enabled = _boolean(spec.get("enabled"), "spec.enabled", True)

    trigger = _object(spec.get("trigger"), "spec.trigger")
    _unknown_keys(trigger, {"type", "filter", "mappings"}, "spec.trigger")
    trigger_type = _string(trigger.get("type"), "spec.trigger.type")
    if trigger_type not in TRIGGER_TYPES:
        raise InvalidDefinition("spec.trigger.type", f"must be one of {', '.join(TRIGGER_TYPES)}, got {trigger_type!r}")
    filter_text = _string(trigger.get("filter"), "spec.trigger.filter", required=False)
    event_filter = None
    if filter_text.strip():
        try:
            event_filter = parse_filter(filter_text)
        except FilterSyntaxError as exc:
            raise InvalidDefinition("spec.trigger.filter", f"{exc.problem} at position {exc.position}") from exc
    raw_mappings = trigger.get("mappings") or []
    if not isinstance(raw_mappings, list):
        raise InvalidDefinition("spec.trigger.mappings", "must be an array")
    mappings = []
    for index, raw in enumerate(raw_mappings):
        where = f"spec.trigger.mappings[{index}]"
        raw = _object(raw, where)
        _unknown_keys(raw, {"name", "path", "type"}, where)
        # compile_mapping's InvalidMapping already names the node, e.g. spec.trigger.mappings[0].path.
        mappings.append(compile_mapping(raw.get("name"), raw.get("path"), raw.get("type"), where))

    contact = None
    if spec.get("contact") is not None:
        node = _object(spec["contact"], "spec.contact")
        _unknown_keys(node, {"directoryId", "lookup", "path"}, "spec.contact")
        directory_id = _string(node.get("directoryId"), "spec.contact.directoryId")
        lookup = _string(node.get("lookup"), "spec.contact.lookup")
        if lookup not in CONTACT_LOOKUPS:
            raise InvalidDefinition("spec.contact.lookup", f"must be one of {', '.join(CONTACT_LOOKUPS)}, got {lookup!r}")
        path = compile_mapping(lookup, node.get("path"), "string", "spec.contact")
        contact = ContactSource(directory_id=directory_id, lookup=lookup, path=path)
    load_contact = _boolean(spec.get("loadContact"), "spec.loadContact", contact is not None)
    if load_contact and contact is None:
        raise InvalidDefinition("spec.loadContact", "needs spec.contact to say which contact to load")

    tasks = spec.get("tasks")
    if not isinstance(tasks, list) or not 1 <= len(tasks) <= MAX_TASKS:
        raise InvalidDefinition("spec.tasks", f"must be an array of 1 to {MAX_TASKS} tasks")
    for index, task in enumerate(tasks):
        _check_task(_object(task, f"spec.tasks[{index}]"), f"spec.tasks[{index}]")

    return WorkflowDefinition(
        name=name,
        enabled=enabled,
        trigger_type=trigger_type,
        filter=event_filter,
        mappings=mappings,
        contact=contact,
        load_contact=load_contact,
        tasks=list(tasks),
    )


def _check_task(task: dict[str, Any], path: str) -> None:
    task_type = task.get("type")
    if task_type != "email":
        raise InvalidDefinition(f"{path}.type", f"must be one of email, got {task_type!r}")
    _unknown_keys(task, _EMAIL_TASK_KEYS, path)
    for key, required in (("to", True), ("cc", False)):
        recipients = task.get(key)
        if recipients is None and not required:
            continue
        if not isinstance(recipients, list) or (required and not recipients):
            raise InvalidDefinition(f"{path}.{key}", "must be a non-empty array of addresses" if required else "must be an array")
        for i, recipient in enumerate(recipients):
            _template(recipient, f"{path}.{key}[{i}]", required=True)
    _template(task.get("from"), f"{path}.from", required=False)
    _template(task.get("subject"), f"{path}.subject", required=True)
    text = _template(task.get("text"), f"{path}.text", required=False)
    html = _template(task.get("html"), f"{path}.html", required=False)
    if not text.strip() and not html.strip():
        raise InvalidDefinition(f"{path}.text", "an email needs a text or an html body")
