"""Workflow definition documents: validation of the spec (errors name the JSON path) and its parsed form."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

import re2
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from services.common.errors import InvalidArgument
from services.ingestion.filters import FilterSyntaxError, Node, parse_filter
from services.ingestion.mappings import FieldMapping, compile_mapping
from workflows.contracts import (
    CONDITION_OPERATORS,
    DEFAULT_ON_FAILURE,
    DEFAULT_RETRY_SETTING,
    MAX_REGEX_LENGTH,
    MEMBERSHIP_CHANGES,
    ON_FAILURE_SETTINGS,
    OPERAND_SOURCES,
    RETRY_SETTINGS,
    TASK_TYPES,
    VALUELESS_OPERATORS,
    period_seconds,
)

JSON_EVENT_TRIGGER = "json_event"
SEGMENT_MEMBERSHIP_TRIGGER = "segment_membership"
TRIGGER_TYPES = (JSON_EVENT_TRIGGER, SEGMENT_MEMBERSHIP_TRIGGER)
CONTACT_LOOKUPS = ("contactId", "extRef", "email", "phone")
MAX_TASKS = 50
MAX_CONDITION_DEPTH = 5
MAX_CONDITIONS = 100
MAX_OWNERS = 20
MAX_FREQUENCY_CAP = 10_000
TICKET_PROVIDERS = ("own", "zendesk", "freshdesk")
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
SEGMENT_CALLS = ("identify", "track")
# What "update contact field" may write: the contact's own fields, or embeddedData.<key>.
UPDATABLE_CONTACT_FIELDS = ("firstName", "lastName", "email", "phone", "extRef", "language")

_TOP_LEVEL_KEYS = {
    "name", "enabled", "trigger", "contact", "loadContact", "conditions", "tasks",
    "retry", "onFailure", "frequencyCap", "owners", "notifyOwnersOnFailure",
}
# Per task type: (allowed keys, template keys that must render to text, optional template keys).
_TASK_KEYS: dict[str, set[str]] = {
    "email": {"type", "to", "cc", "from", "subject", "text", "html"},
    "slack": {"type", "webhook", "text", "blocks"},
    "ticket": {
        "type", "provider", "title", "description", "priority", "owner", "requesterName", "requesterEmail",
        "tags", "customFields",
    },
    "survey": {"type", "surveyId", "to", "from", "subject", "text", "html", "expiresInDays"},
    "webhook": {"type", "url", "body", "timeoutSeconds"},
    "segment_event": {"type", "writeKey", "call", "userId", "event", "properties", "traits"},
    "add_to_mailing_list": {"type", "mailingListId"},
    "update_contact_field": {"type", "field", "value"},
}
# Tasks that act on the run's contact and so need it loaded.
_CONTACT_TASKS = ("survey", "add_to_mailing_list", "update_contact_field")
_EMBEDDED_FIELD = re.compile(r"embeddedData\.[A-Za-z0-9_\-.]{1,100}")
_ADDRESS_LIKE = re.compile(r"[^@\s]+@[^@\s]+")
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
class FrequencyCap:
    """A contact triggers the workflow at most `count` times per `period` (e.g. "24h")."""

    count: int
    period: str
    period_seconds: int


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
    # segment_membership triggers: the segment and the changes that start a run
    segment_id: str = ""
    membership_changes: tuple[str, ...] = ()
    conditions: dict[str, Any] | None = None
    retry: str = DEFAULT_RETRY_SETTING
    on_failure: str = DEFAULT_ON_FAILURE
    frequency_cap: FrequencyCap | None = None
    owners: list[str] = field(default_factory=list)
    notify_owners_on_failure: bool = False


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
    """Validates a definition document and returns its parsed form; raises InvalidDefinition naming the bad node.

    Every event parses its workflow's definition; the parsed forms of recent documents are kept (by their
    canonical JSON), since compiling JSONPath mappings and templates is the costly part."""
    try:
        key = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return _parse_definition(spec)  # not JSON: let validation name the problem
    return _parse_cached(key)


@functools.lru_cache(maxsize=256)
def _parse_cached(canonical: str) -> WorkflowDefinition:
    return _parse_definition(json.loads(canonical))


def _parse_definition(spec: Any) -> WorkflowDefinition:
    spec = _object(spec, "spec")
    _unknown_keys(spec, _TOP_LEVEL_KEYS, "spec")
    name = _string(spec.get("name"), "spec.name", max_length=200)
    enabled = _boolean(spec.get("enabled"), "spec.enabled", True)

    trigger = _object(spec.get("trigger"), "spec.trigger")
    trigger_type = _string(trigger.get("type"), "spec.trigger.type")
    if trigger_type not in TRIGGER_TYPES:
        raise InvalidDefinition("spec.trigger.type", f"must be one of {', '.join(TRIGGER_TYPES)}, got {trigger_type!r}")
    event_filter, mappings, segment_id, changes = None, [], "", ()
    if trigger_type == JSON_EVENT_TRIGGER:
        event_filter, mappings = _json_event_trigger(trigger)
    else:
        segment_id, changes = _segment_membership_trigger(trigger)

    contact = None
    if spec.get("contact") is not None:
        if trigger_type == SEGMENT_MEMBERSHIP_TRIGGER:
            raise InvalidDefinition("spec.contact", "a segment-membership run's contact is the member that changed; leave contact out")
        node = _object(spec["contact"], "spec.contact")
        _unknown_keys(node, {"directoryId", "lookup", "path"}, "spec.contact")
        directory_id = _string(node.get("directoryId"), "spec.contact.directoryId")
        lookup = _string(node.get("lookup"), "spec.contact.lookup")
        if lookup not in CONTACT_LOOKUPS:
            raise InvalidDefinition("spec.contact.lookup", f"must be one of {', '.join(CONTACT_LOOKUPS)}, got {lookup!r}")
        path = compile_mapping(lookup, node.get("path"), "string", "spec.contact")
        contact = ContactSource(directory_id=directory_id, lookup=lookup, path=path)
    has_contact = contact is not None or trigger_type == SEGMENT_MEMBERSHIP_TRIGGER
    load_contact = _boolean(spec.get("loadContact"), "spec.loadContact", has_contact)
    if load_contact and not has_contact:
        raise InvalidDefinition("spec.loadContact", "needs spec.contact to say which contact to load")

    conditions = None
    if spec.get("conditions") is not None:
        conditions = _object(spec["conditions"], "spec.conditions")
        counter = [0]
        _check_group(conditions, "spec.conditions", depth=1, counter=counter)

    tasks = spec.get("tasks")
    if not isinstance(tasks, list) or not 1 <= len(tasks) <= MAX_TASKS:
        raise InvalidDefinition("spec.tasks", f"must be an array of 1 to {MAX_TASKS} tasks")
    for index, task in enumerate(tasks):
        where = f"spec.tasks[{index}]"
        task_type = _check_task(_object(task, where), where)
        if task_type in _CONTACT_TASKS and not load_contact:
            raise InvalidDefinition(f"{where}.type", f"a {task_type} task acts on the run's contact: set loadContact and contact")

    retry = _choice(spec.get("retry"), "spec.retry", RETRY_SETTINGS, DEFAULT_RETRY_SETTING)
    on_failure = _choice(spec.get("onFailure"), "spec.onFailure", ON_FAILURE_SETTINGS, DEFAULT_ON_FAILURE)
    frequency_cap = None
    if spec.get("frequencyCap") is not None:
        knows_contact_id = load_contact or contact is None or contact.lookup == "contactId"
        frequency_cap = _frequency_cap(spec["frequencyCap"], has_contact, knows_contact_id)
    owners = _owners(spec.get("owners"))
    notify = _boolean(spec.get("notifyOwnersOnFailure"), "spec.notifyOwnersOnFailure", bool(owners))
    if notify and not owners:
        raise InvalidDefinition("spec.notifyOwnersOnFailure", "needs spec.owners: the addresses to email")

    return WorkflowDefinition(
        name=name,
        enabled=enabled,
        trigger_type=trigger_type,
        filter=event_filter,
        mappings=mappings,
        contact=contact,
        load_contact=load_contact,
        tasks=list(tasks),
        segment_id=segment_id,
        membership_changes=changes,
        conditions=conditions,
        retry=retry,
        on_failure=on_failure,
        frequency_cap=frequency_cap,
        owners=owners,
        notify_owners_on_failure=notify,
    )


def _json_event_trigger(trigger: dict[str, Any]) -> tuple[Node | None, list[FieldMapping]]:
    _unknown_keys(trigger, {"type", "filter", "mappings"}, "spec.trigger")
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
    return event_filter, mappings


def _segment_membership_trigger(trigger: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    _unknown_keys(trigger, {"type", "segmentId", "changes"}, "spec.trigger")
    segment_id = _string(trigger.get("segmentId"), "spec.trigger.segmentId", max_length=64)
    if not segment_id.startswith("SEG_"):
        raise InvalidDefinition("spec.trigger.segmentId", f"must be a segment id (SEG_...), got {segment_id!r}")
    changes = trigger.get("changes", ["ADDED"])
    if not isinstance(changes, list) or not changes:
        raise InvalidDefinition("spec.trigger.changes", f"must be a non-empty array of {', '.join(MEMBERSHIP_CHANGES)}")
    for index, change in enumerate(changes):
        if change not in MEMBERSHIP_CHANGES:
            raise InvalidDefinition(
                f"spec.trigger.changes[{index}]", f"must be one of {', '.join(MEMBERSHIP_CHANGES)}, got {change!r}"
            )
    return segment_id, tuple(dict.fromkeys(changes))


def _choice(value: Any, path: str, allowed: tuple[str, ...], default: str) -> str:
    if value is None:
        return default
    if value not in allowed:
        raise InvalidDefinition(path, f"must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _frequency_cap(value: Any, has_contact: bool, knows_contact_id: bool) -> FrequencyCap:
    node = _object(value, "spec.frequencyCap")
    _unknown_keys(node, {"count", "period"}, "spec.frequencyCap")
    if not has_contact:
        raise InvalidDefinition("spec.frequencyCap", "caps runs per contact: the workflow needs spec.contact")
    if not knows_contact_id:
        # Without loading the contact, a run knows its contact id only when the lookup is by id.
        raise InvalidDefinition(
            "spec.frequencyCap", "caps runs per contact: set loadContact, or look the contact up by contactId"
        )
    count = node.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_FREQUENCY_CAP:
        raise InvalidDefinition("spec.frequencyCap.count", f"must be a whole number from 1 to {MAX_FREQUENCY_CAP}")
    period = _string(node.get("period"), "spec.frequencyCap.period")
    try:
        seconds = period_seconds(period)
    except ValueError as exc:
        raise InvalidDefinition("spec.frequencyCap.period", str(exc)) from None
    return FrequencyCap(count=count, period=period, period_seconds=seconds)


def _owners(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_OWNERS:
        raise InvalidDefinition("spec.owners", f"must be an array of at most {MAX_OWNERS} email addresses")
    for index, owner in enumerate(value):
        if not isinstance(owner, str) or not _ADDRESS_LIKE.fullmatch(owner.strip()):
            raise InvalidDefinition(f"spec.owners[{index}]", "must be an email address")
    return [owner.strip() for owner in value]


def _check_group(node: dict[str, Any], path: str, *, depth: int, counter: list[int]) -> None:
    kinds = [kind for kind in ("all", "any") if kind in node]
    if len(kinds) != 1 or len(node) != 1:
        raise InvalidDefinition(path, 'a condition group is {"all": [...]} or {"any": [...]}')
    if depth > MAX_CONDITION_DEPTH:
        raise InvalidDefinition(path, f"condition groups nest at most {MAX_CONDITION_DEPTH} deep")
    children = node[kinds[0]]
    where = f"{path}.{kinds[0]}"
    if not isinstance(children, list) or not children:
        raise InvalidDefinition(where, "must be a non-empty array of conditions")
    for index, child in enumerate(children):
        child_path = f"{where}[{index}]"
        child = _object(child, child_path)
        counter[0] += 1
        if counter[0] > MAX_CONDITIONS:
            raise InvalidDefinition(child_path, f"a workflow has at most {MAX_CONDITIONS} conditions")
        if "all" in child or "any" in child:
            _check_group(child, child_path, depth=depth + 1, counter=counter)
        elif "segment" in child:
            _check_segment_condition(child, child_path)
        else:
            _check_comparison(child, child_path)


def _check_segment_condition(node: dict[str, Any], path: str) -> None:
    _unknown_keys(node, {"segment", "member"}, path)
    segment_id = _string(node.get("segment"), f"{path}.segment", max_length=64)
    if not segment_id.startswith("SEG_"):
        raise InvalidDefinition(f"{path}.segment", f"must be a segment id (SEG_...), got {segment_id!r}")
    _boolean(node.get("member"), f"{path}.member", True)


def _check_comparison(node: dict[str, Any], path: str) -> None:
    _unknown_keys(node, {"operand", "operator", "value", "ignoreCase"}, path)
    operand = _string(node.get("operand"), f"{path}.operand", max_length=300)
    source = operand.split(".", 1)[0]
    if source not in OPERAND_SOURCES or "." not in operand or any(not part for part in operand.split(".")):
        raise InvalidDefinition(
            f"{path}.operand", f"must be a dotted path starting with {', '.join(OPERAND_SOURCES)} (e.g. contact.embeddedData.tier)"
        )
    operator = node.get("operator")
    if operator not in CONDITION_OPERATORS:
        raise InvalidDefinition(f"{path}.operator", f"must be one of {', '.join(CONDITION_OPERATORS)}, got {operator!r}")
    _boolean(node.get("ignoreCase"), f"{path}.ignoreCase", False)
    value = node.get("value")
    if operator in VALUELESS_OPERATORS:
        if value is not None:
            raise InvalidDefinition(f"{path}.value", f"{operator} takes no value")
        return
    if operator == "in_list":
        if not isinstance(value, list) or not value or not all(_is_scalar(item) for item in value):
            raise InvalidDefinition(f"{path}.value", "in_list needs a non-empty array of strings or numbers")
        return
    if not _is_scalar(value):
        raise InvalidDefinition(f"{path}.value", "must be a string, number or boolean")
    if operator in ("gt", "gte", "lt", "lte") and (isinstance(value, bool) or not _is_number_like(value)):
        raise InvalidDefinition(f"{path}.value", f"{operator} compares numbers: the value must be a number")
    if operator == "matches":
        if not isinstance(value, str) or len(value) > MAX_REGEX_LENGTH:
            raise InvalidDefinition(f"{path}.value", f"must be a regular expression of at most {MAX_REGEX_LENGTH} characters")
        try:
            re2.compile(value)  # the engine the run matches with (linear time): what it refuses is refused here
        except re2.error as exc:
            raise InvalidDefinition(f"{path}.value", f"invalid regular expression (RE2 syntax): {exc}") from None


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _is_number_like(value: Any) -> bool:
    if isinstance(value, (int, float)):
        return True
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def _check_task(task: dict[str, Any], path: str) -> str:
    task_type = task.get("type")
    if task_type not in TASK_TYPES:
        raise InvalidDefinition(f"{path}.type", f"must be one of {', '.join(TASK_TYPES)}, got {task_type!r}")
    _unknown_keys(task, _TASK_KEYS[task_type], path)
    _TASK_CHECKS[task_type](task, path)
    return task_type


def _addresses(task: dict[str, Any], key: str, path: str, *, required: bool) -> None:
    recipients = task.get(key)
    if recipients is None and not required:
        return
    if not isinstance(recipients, list) or (required and not recipients):
        raise InvalidDefinition(f"{path}.{key}", "must be a non-empty array of addresses" if required else "must be an array")
    for i, recipient in enumerate(recipients):
        _template(recipient, f"{path}.{key}[{i}]", required=True)


def _templated_json(value: Any, path: str, *, depth: int = 0) -> None:
    """An object whose string values are templates (webhook bodies, Slack blocks, Segment properties)."""
    if depth > 10:
        raise InvalidDefinition(path, "nests too deep")
    if isinstance(value, str):
        _template(value, path, required=False)
    elif isinstance(value, dict):
        for key, item in value.items():
            _templated_json(item, f"{path}.{key}", depth=depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _templated_json(item, f"{path}[{index}]", depth=depth + 1)
    elif value is not None and not isinstance(value, (int, float, bool)):
        raise InvalidDefinition(path, "must be JSON")


def _check_email(task: dict[str, Any], path: str) -> None:
    _addresses(task, "to", path, required=True)
    _addresses(task, "cc", path, required=False)
    _template(task.get("from"), f"{path}.from", required=False)
    _template(task.get("subject"), f"{path}.subject", required=True)
    text = _template(task.get("text"), f"{path}.text", required=False)
    html = _template(task.get("html"), f"{path}.html", required=False)
    if not text.strip() and not html.strip():
        raise InvalidDefinition(f"{path}.text", "an email needs a text or an html body")


def _check_slack(task: dict[str, Any], path: str) -> None:
    _string(task.get("webhook"), f"{path}.webhook", max_length=100)
    _template(task.get("text"), f"{path}.text", required=True)
    blocks = task.get("blocks")
    if blocks is not None:
        if not isinstance(blocks, list) or not all(isinstance(block, dict) for block in blocks):
            raise InvalidDefinition(f"{path}.blocks", "must be an array of Block Kit objects")
        _templated_json(blocks, f"{path}.blocks")


def _check_ticket(task: dict[str, Any], path: str) -> None:
    _choice(task.get("provider"), f"{path}.provider", TICKET_PROVIDERS, "own")
    _choice(task.get("priority"), f"{path}.priority", TICKET_PRIORITIES, "normal")
    _template(task.get("title"), f"{path}.title", required=True)
    for key in ("description", "owner", "requesterName", "requesterEmail"):
        _template(task.get(key), f"{path}.{key}", required=False)
    tags = task.get("tags")
    if tags is not None:
        if not isinstance(tags, list):
            raise InvalidDefinition(f"{path}.tags", "must be an array of strings")
        for index, tag in enumerate(tags):
            _template(tag, f"{path}.tags[{index}]", required=True)
    if task.get("customFields") is not None:
        _templated_json(_object(task["customFields"], f"{path}.customFields"), f"{path}.customFields")


def _check_survey(task: dict[str, Any], path: str) -> None:
    _string(task.get("surveyId"), f"{path}.surveyId", max_length=64)
    for key in ("to", "from", "subject", "text", "html"):
        _template(task.get(key), f"{path}.{key}", required=False)
    days = task.get("expiresInDays")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365):
        raise InvalidDefinition(f"{path}.expiresInDays", "must be a whole number of days from 1 to 365")


def _check_webhook(task: dict[str, Any], path: str) -> None:
    url = _template(task.get("url"), f"{path}.url", required=True)
    if not url.strip().lower().startswith(("http://", "https://", "{{")):
        raise InvalidDefinition(f"{path}.url", "must be an http(s) URL")
    if task.get("body") is not None:
        _templated_json(_object(task["body"], f"{path}.body"), f"{path}.body")
    timeout = task.get("timeoutSeconds")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= 60):
        raise InvalidDefinition(f"{path}.timeoutSeconds", "must be a whole number of seconds from 1 to 60")


def _check_segment_event(task: dict[str, Any], path: str) -> None:
    _string(task.get("writeKey"), f"{path}.writeKey", max_length=100)
    call = _choice(task.get("call"), f"{path}.call", SEGMENT_CALLS, "track")
    _template(task.get("userId"), f"{path}.userId", required=True)
    if call == "track":
        _template(task.get("event"), f"{path}.event", required=True)
    elif task.get("event") is not None:
        raise InvalidDefinition(f"{path}.event", "only track calls name an event")
    for key in ("properties", "traits"):
        if task.get(key) is not None:
            _templated_json(_object(task[key], f"{path}.{key}"), f"{path}.{key}")


def _check_add_to_mailing_list(task: dict[str, Any], path: str) -> None:
    _string(task.get("mailingListId"), f"{path}.mailingListId", max_length=64)


def _check_update_contact_field(task: dict[str, Any], path: str) -> None:
    name = _string(task.get("field"), f"{path}.field", max_length=120)
    if name not in UPDATABLE_CONTACT_FIELDS and not _EMBEDDED_FIELD.fullmatch(name):
        raise InvalidDefinition(
            f"{path}.field", f"must be one of {', '.join(UPDATABLE_CONTACT_FIELDS)} or embeddedData.<key>, got {name!r}"
        )
    value = task.get("value")
    if not isinstance(value, str):
        raise InvalidDefinition(f"{path}.value", "must be a string (a template; empty clears the field)")
    _template(value, f"{path}.value", required=False)


_TASK_CHECKS = {
    "email": _check_email,
    "slack": _check_slack,
    "ticket": _check_ticket,
    "survey": _check_survey,
    "webhook": _check_webhook,
    "segment_event": _check_segment_event,
    "add_to_mailing_list": _check_add_to_mailing_list,
    "update_contact_field": _check_update_contact_field,
}
