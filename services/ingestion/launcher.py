"""Starts TriggeredRun workflows for an event: filter, field mappings, contact reference, idempotent start."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import structlog
from prometheus_client import CollectorRegistry
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.metrics import (
    EVENT_ACCEPTED,
    EVENT_DEDUPLICATED,
    EVENT_REJECTED,
    EVENT_UNMATCHED,
    INTAKE_TRIGGER_URL,
    EventMetrics,
)
from services.ingestion.definitions import parse_definition
from services.ingestion.errors import WorkflowDisabled
from services.ingestion.mappings import ABSENT, apply_mappings
from workflows.contracts import (
    SEARCH_ATTRIBUTE_ORGANIZATION,
    SEARCH_ATTRIBUTE_TRIGGER,
    SEARCH_ATTRIBUTE_WORKFLOW_ID,
    SEARCH_ATTRIBUTE_WORKFLOW_VERSION,
    TRIGGERED_RUN_WORKFLOW,
    ContactRef,
    TriggeredRunInput,
    WorkflowSnapshot,
    run_memo,
    run_workflow_id,
)

log = structlog.get_logger(__name__)

JSON_EVENT_TRIGGER = "json_event"

_WORKFLOW_ID_KEY = SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_WORKFLOW_ID)
_WORKFLOW_VERSION_KEY = SearchAttributeKey.for_int(SEARCH_ATTRIBUTE_WORKFLOW_VERSION)
_TRIGGER_KEY = SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_TRIGGER)
_ORGANIZATION_KEY = SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_ORGANIZATION)


class ContactPathMissing(InvalidArgument):
    code = "contact_not_in_event"


@dataclass(frozen=True)
class LaunchedRun:
    workflow_id: str  # the Temporal workflow id
    run_id: str
    duplicate: bool  # the event had started this run before: nothing new was started


@dataclass(frozen=True)
class TriggerOutcome:
    event_id: str
    matched: bool
    runs: list[LaunchedRun] = field(default_factory=list)


class RunLauncher:
    """Starts runs on one Temporal client and task queue; the trigger URL and the inbox processor share it."""

    def __init__(self, client: Client, task_queue: str, events: EventMetrics | None = None) -> None:
        self._client = client
        self._task_queue = task_queue
        self._events = events or EventMetrics(CollectorRegistry())

    async def trigger(
        self,
        organization_id: str,
        workflow: WorkflowSnapshot,
        event: dict[str, Any],
        event_id: str,
        *,
        intake: str | None = INTAKE_TRIGGER_URL,
    ) -> TriggerOutcome:
        """Runs the workflow's trigger for one event. Raises WorkflowDisabled, MappingError or ContactPathMissing
        (all before anything starts) when the event cannot start a run.

        The event is counted in cxflow_events_total under `intake`; None when it was counted where it came in
        (a Segment message that a subscription hands on)."""
        try:
            outcome = await self._trigger(organization_id, workflow, event, event_id)
        except (InvalidArgument, FailedPrecondition):
            if intake is not None:
                self._events.record(intake, EVENT_REJECTED)
            raise
        if intake is not None:
            if not outcome.matched:
                self._events.record(intake, EVENT_UNMATCHED)
            else:
                self._events.record(intake, EVENT_DEDUPLICATED if all(run.duplicate for run in outcome.runs) else EVENT_ACCEPTED)
        return outcome

    async def _trigger(
        self, organization_id: str, workflow: WorkflowSnapshot, event: dict[str, Any], event_id: str
    ) -> TriggerOutcome:
        definition = parse_definition(workflow.spec)
        if not definition.enabled:
            raise WorkflowDisabled(workflow.workflow_id)
        run_input = json_event_run_input(organization_id, workflow, event, event_id)
        if run_input is None:
            return TriggerOutcome(event_id=event_id, matched=False)
        run = await self.start_run(run_input)
        return TriggerOutcome(event_id=event_id, matched=True, runs=[run])

    async def start_run(self, run_input: TriggeredRunInput) -> LaunchedRun:
        """Starts the run under an id derived from (workflow, event); a second start of the same pair is a no-op."""
        snapshot = run_input.workflow
        temporal_id = run_workflow_id(run_input.organization_id, snapshot.workflow_id, run_input.event_id)
        summary = f"{snapshot.name} v{snapshot.version} for event {run_input.event_id}"
        try:
            handle = await self._client.start_workflow(
                TRIGGERED_RUN_WORKFLOW,
                run_input,
                id=temporal_id,
                task_queue=self._task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(_WORKFLOW_ID_KEY, snapshot.workflow_id),
                        SearchAttributePair(_WORKFLOW_VERSION_KEY, snapshot.version),
                        SearchAttributePair(_TRIGGER_KEY, run_input.trigger),
                        SearchAttributePair(_ORGANIZATION_KEY, run_input.organization_id),
                    ]
                ),
                memo=run_memo(summary, snapshot, run_input.trigger, run_input.contact),
                static_summary=summary,
            )
        except WorkflowAlreadyStartedError as exc:
            run_id = exc.run_id or (await self._client.get_workflow_handle(temporal_id).describe()).run_id
            log.info("run.duplicate", workflow_id=snapshot.workflow_id, event_id=run_input.event_id, run_id=run_id)
            return LaunchedRun(workflow_id=temporal_id, run_id=run_id, duplicate=True)
        log.info("run.started", workflow_id=snapshot.workflow_id, event_id=run_input.event_id, run_id=handle.result_run_id)
        return LaunchedRun(workflow_id=temporal_id, run_id=handle.result_run_id or "", duplicate=False)


def json_event_run_input(
    organization_id: str, workflow: WorkflowSnapshot, event: dict[str, Any], event_id: str
) -> TriggeredRunInput | None:
    """The run a JSON event starts (filter, field mappings, contact reference), or None when the filter
    does not match. Raises MappingError or ContactPathMissing. Shared with DryRun, which starts nothing."""
    definition = parse_definition(workflow.spec)
    if definition.filter is not None and not definition.filter.matches(event):
        return None
    fields = apply_mappings(definition.mappings, event)
    contact = None
    if definition.contact is not None:
        value = definition.contact.path.extract(event)
        if value is ABSENT or value == "":
            raise ContactPathMissing(
                f"contact: the event has no value at {definition.contact.path.path} to look the contact up by",
                field="contact.path",
            )
        if definition.contact.lookup == "contactId":
            contact = ContactRef(directory_id=definition.contact.directory_id, contact_id=value)
        else:
            contact = ContactRef(
                directory_id=definition.contact.directory_id, lookup_field=definition.contact.lookup, lookup_value=value
            )
    return TriggeredRunInput(
        organization_id=organization_id,
        workflow=workflow,
        event_id=event_id,
        trigger=JSON_EVENT_TRIGGER,
        event=event,
        fields=fields,
        contact=contact,
    )
