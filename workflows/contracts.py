"""The TriggeredRun contract shared by ingestion (which starts runs) and the worker (which runs them).

Only plain dataclasses and pure functions live here: ingestion imports this module and nothing
else from workflows/, and the workflow sandbox can import it without side effects.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

TRIGGERED_RUN_WORKFLOW = "TriggeredRun"

# Search attributes every run carries, so the Temporal UI can filter by workflow and contact.
SEARCH_ATTRIBUTE_WORKFLOW_ID = "CxWorkflowId"
SEARCH_ATTRIBUTE_WORKFLOW_VERSION = "CxWorkflowVersion"
SEARCH_ATTRIBUTE_CONTACT_ID = "CxContactId"
SEARCH_ATTRIBUTE_TRIGGER = "CxTrigger"
SEARCH_ATTRIBUTE_ORGANIZATION = "CxOrganization"

# A value written into a visibility query between single quotes (ids, run ids, ISO timestamps): these characters
# cannot close the quote or change the query's meaning.
_VISIBILITY_QUERY_VALUE = re.compile(r"[A-Za-z0-9_.:@+\-/]{1,400}")
VISIBILITY_QUERY_VALUE_RULE = "1-400 letters, digits or . _ : @ + - /"


def is_safe_query_value(value: str) -> bool:
    return _VISIBILITY_QUERY_VALUE.fullmatch(value) is not None


@dataclass(frozen=True)
class WorkflowSnapshot:
    """The definition a run executes, frozen at the moment the run started."""

    workflow_id: str
    version: int
    name: str
    spec: dict[str, Any]  # the definition document: trigger, contact, conditions, tasks


@dataclass(frozen=True)
class ContactRef:
    """How the run finds its contact: by id, or by one identifying field's value."""

    directory_id: str
    contact_id: str = ""
    lookup_field: str = ""  # extRef | email | phone, when contact_id is empty
    lookup_value: str = ""


@dataclass(frozen=True)
class TriggeredRunInput:
    organization_id: str
    workflow: WorkflowSnapshot
    event_id: str
    trigger: str  # json_event | segment_membership
    event: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)  # the trigger's mapped fields
    contact: ContactRef | None = None
    retry_of: str = ""  # the run this one retries by hand, if any


def run_memo(summary: str, workflow: WorkflowSnapshot, trigger: str, contact: ContactRef | None) -> dict[str, str]:
    """The memo a run carries, for people reading it in the Temporal UI: what ran, why, and for whom."""
    memo = {"summary": summary, "workflow": f"{workflow.name} ({workflow.workflow_id} v{workflow.version})", "trigger": trigger}
    if contact is not None:
        found_by = contact.contact_id or f"{contact.lookup_field} = {contact.lookup_value}"
        memo["contact"] = f"{found_by} in {contact.directory_id}"
    return memo


@dataclass(frozen=True)
class TaskOutcome:
    index: int
    type: str
    status: str  # succeeded | failed | skipped
    output: dict[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class TriggeredRunResult:
    # completed | completed_with_failures | contact_not_found | conditions_not_met | frequency_capped
    # (a run stopped by onFailure=stop fails in Temporal instead, with this result in its progress query)
    status: str
    contact_id: str = ""
    tasks: list[TaskOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# The vocabulary of definition documents, shared by ingestion (which validates them) and the worker
# (which runs them), so the two never disagree on a name.
TASK_TYPES = (
    "email",
    "slack",
    "ticket",
    "survey",
    "webhook",
    "segment_event",
    "add_to_mailing_list",
    "update_contact_field",
)
# Qualtrics' retry choices for a failing task: up to 24 hours (default), up to 15 minutes, or not at all.
RETRY_SETTINGS = ("24h", "15m", "none")
DEFAULT_RETRY_SETTING = "24h"
# What a task's final failure does to the rest of the run.
ON_FAILURE_SETTINGS = ("continue", "stop")
DEFAULT_ON_FAILURE = "continue"
MEMBERSHIP_CHANGES = ("ADDED", "REMOVED", "OPTED_IN", "OPTED_OUT")
# Condition operators (see workflows/conditions.py for their meaning) and the ones that take no value.
CONDITION_OPERATORS = (
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
    "matches",
)
VALUELESS_OPERATORS = ("is_empty", "is_not_empty")
# Where a condition operand is read from: "event.properties.plan", "fields.plan", "contact.email",
# "contact.embeddedData.tier"; segment membership is its own condition kind ({"segment": ..., "member": ...}).
OPERAND_SOURCES = ("event", "fields", "contact")
MAX_REGEX_LENGTH = 200
# Frequency-cap periods: a number and a unit, e.g. "30m", "24h", "7d".
PERIOD_UNITS_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def period_seconds(period: str) -> int:
    """Seconds in a period such as "24h"; raises ValueError for anything else."""
    match = re.fullmatch(r"([1-9][0-9]{0,4})([mhd])", period.strip()) if isinstance(period, str) else None
    if match is None:
        raise ValueError(f"a period is a number and a unit m, h or d (e.g. 24h), got {period!r}")
    return int(match.group(1)) * PERIOD_UNITS_SECONDS[match.group(2)]


DRY_RUN_WORKFLOW = "DryRun"


@dataclass(frozen=True)
class DryRunTask:
    index: int
    type: str
    outcome: str  # would_run | would_fail | not_reached
    input: dict[str, Any] = field(default_factory=dict)  # what would be sent
    error: str = ""


@dataclass(frozen=True)
class DryRunResult:
    """What a run of the input would do; nothing was sent and nothing written."""

    outcome: str  # as TriggeredRunResult.status would be
    contact_status: str  # loaded | not_found | not_requested
    contact: dict[str, Any] = field(default_factory=dict)
    conditions_met: bool = True
    condition_explanation: list[str] = field(default_factory=list)
    tasks: list[DryRunTask] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_.:@\-]")


def run_workflow_id(organization_id: str, workflow_id: str, event_id: str) -> str:
    """The Temporal workflow id of the run that (organization, workflow, event) starts: a pure function of the three,
    so a redelivered event maps to the same id and starts nothing new, while another organization that reuses the
    workflow id (ids are chosen per organization) never collides with it."""
    readable = _UNSAFE_ID_CHARS.sub("_", event_id)[:64]
    digest = hashlib.sha256(f"{organization_id}\x00{workflow_id}\x00{event_id}".encode()).hexdigest()[:16]
    return f"run-{workflow_id}-{readable}-{digest}"


def retry_workflow_id(run_id: str, attempt: int) -> str:
    """The id of the attempt-th manual retry of a run: a new run, so new idempotency keys and a fresh send."""
    return f"{run_id}/retry-{attempt}"
