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


@dataclass(frozen=True)
class TaskOutcome:
    index: int
    type: str
    status: str  # succeeded | failed | skipped
    output: dict[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class TriggeredRunResult:
    status: str  # completed | contact_not_found | conditions_not_met | stopped
    contact_id: str = ""
    tasks: list[TaskOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_.:@\-]")


def run_workflow_id(workflow_id: str, event_id: str) -> str:
    """The Temporal workflow id of the run that (workflow, event) starts: a pure function of both,
    so a redelivered event maps to the same id and starts nothing new."""
    readable = _UNSAFE_ID_CHARS.sub("_", event_id)[:64]
    digest = hashlib.sha256(f"{workflow_id}\x00{event_id}".encode()).hexdigest()[:16]
    return f"run-{workflow_id}-{readable}-{digest}"
