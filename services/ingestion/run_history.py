"""Runs as Temporal sees them: list from visibility, read one from its history, retry, cancel (no private copy)."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import structlog
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from workflows.contracts import (
    SEARCH_ATTRIBUTE_CONTACT_ID,
    SEARCH_ATTRIBUTE_ORGANIZATION,
    SEARCH_ATTRIBUTE_TRIGGER,
    SEARCH_ATTRIBUTE_WORKFLOW_ID,
    SEARCH_ATTRIBUTE_WORKFLOW_VERSION,
    TRIGGERED_RUN_WORKFLOW,
    VISIBILITY_QUERY_VALUE_RULE,
    ContactRef,
    WorkflowSnapshot,
    is_safe_query_value,
    retry_workflow_id,
    run_memo,
)

log = structlog.get_logger(__name__)

WORKFLOW_ID_KEY = SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_WORKFLOW_ID)
WORKFLOW_VERSION_KEY = SearchAttributeKey.for_int(SEARCH_ATTRIBUTE_WORKFLOW_VERSION)
CONTACT_ID_KEY = SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_CONTACT_ID)
TRIGGER_KEY = SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_TRIGGER)
ORGANIZATION_KEY = SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_ORGANIZATION)

_RUN_ID = re.compile(r"run-[A-Za-z0-9_.:@\-/]{1,400}")
_RETRY_SUFFIX = re.compile(r"/retry-(\d+)$")
MAX_RETRIES_OF_A_RUN = 100

# Keys whose values never leave cxflow in a run's inputs (matched case-insensitively, by substring).
_SECRET_KEY_PARTS = ("password", "secret", "token", "authorization", "apikey", "api_key", "signature")
MASK = "••••"

# Temporal statuses a manual retry may follow; a completed run qualifies only when a task failed in it.
_RETRYABLE_STATUSES = {
    WorkflowExecutionStatus.FAILED,
    WorkflowExecutionStatus.TIMED_OUT,
    WorkflowExecutionStatus.TERMINATED,
    WorkflowExecutionStatus.CANCELED,
}


class RunNotFound(NotFound):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id} not found", field="run_id")


class RunNotRetryable(FailedPrecondition):
    code = "run_not_retryable"


@dataclass
class Step:
    index: int
    name: str
    activity: str
    status: str = "scheduled"
    attempts: int = 0
    error: str = ""
    input: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunRecord:
    run_id: str
    temporal_run_id: str
    workflow_id: str
    workflow_version: int
    contact_id: str
    trigger: str
    status: str  # running | completed | failed | canceled | terminated | timed_out
    started_at: datetime | None
    closed_at: datetime | None
    summary: str = ""
    outcome: str = ""
    event_id: str = ""
    event: dict[str, Any] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str = ""


def mask_secrets(value: Any, key: str = "") -> Any:
    """A copy with secret-looking keys masked and URLs stripped of credentials and query strings."""
    lowered = key.lower()
    if any(part in lowered for part in _SECRET_KEY_PARTS) and value not in ("", None):
        return MASK
    if isinstance(value, dict):
        return {k: mask_secrets(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(item, key) for item in value]
    if isinstance(value, str) and lowered.endswith("url") and value.startswith(("http://", "https://")):
        return _mask_url(value)
    return value


def _mask_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{MASK}@{host}" if parts.username or parts.password else parts.netloc
    if parts.port and (parts.username or parts.password):
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, MASK if parts.query else "", ""))


def _contact_ref(recorded: Any) -> ContactRef | None:
    """The ContactRef of a run's recorded input (a JSON object), or None when it had none."""
    if not isinstance(recorded, dict):
        return None
    return ContactRef(**{name: str(recorded.get(name, "")) for name in ("directory_id", "contact_id", "lookup_field", "lookup_value")})


def check_query_value(value: str, name: str) -> str:
    """The value, when it can go into a visibility query without changing its meaning."""
    if not is_safe_query_value(value):
        raise InvalidArgument(f"{name}: must be {VISIBILITY_QUERY_VALUE_RULE}", field=name)
    return value


def _status_name(status: WorkflowExecutionStatus | None) -> str:
    return status.name.lower() if status is not None else "running"


def _record(execution: WorkflowExecution) -> RunRecord:
    attributes = execution.typed_search_attributes
    return RunRecord(
        run_id=execution.id,
        temporal_run_id=execution.run_id,
        workflow_id=attributes.get(WORKFLOW_ID_KEY) or "",
        workflow_version=attributes.get(WORKFLOW_VERSION_KEY) or 0,
        contact_id=attributes.get(CONTACT_ID_KEY) or "",
        trigger=attributes.get(TRIGGER_KEY) or "",
        status=_status_name(execution.status),
        started_at=execution.start_time,
        closed_at=execution.close_time,
    )


class RunHistory:
    """Reads and acts on an organization's runs through one Temporal client."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue

    async def list_runs(
        self, organization_id: str, *, workflow_id: str, contact_id: str, status: str, page_size: int, page_token: str
    ) -> tuple[list[RunRecord], str]:
        clauses = [
            f"WorkflowType = '{TRIGGERED_RUN_WORKFLOW}'",
            f"{SEARCH_ATTRIBUTE_ORGANIZATION} = '{check_query_value(organization_id, 'organization')}'",
        ]
        if workflow_id:
            clauses.append(f"{SEARCH_ATTRIBUTE_WORKFLOW_ID} = '{check_query_value(workflow_id, 'workflow_id')}'")
        if contact_id:
            clauses.append(f"{SEARCH_ATTRIBUTE_CONTACT_ID} = '{check_query_value(contact_id, 'contact_id')}'")
        if status:
            clauses.append(f"ExecutionStatus = '{status}'")
        try:
            token = base64.urlsafe_b64decode(page_token.encode()) if page_token else None
        except (binascii.Error, ValueError):
            raise InvalidArgument("page.page_token: not a token this service issued", field="page.page_token") from None
        iterator = self._client.list_workflows(" AND ".join(clauses), page_size=page_size, next_page_token=token)
        await iterator.fetch_next_page()
        runs = [_record(execution) for execution in iterator.current_page or []]
        next_token = base64.urlsafe_b64encode(iterator.next_page_token).decode() if iterator.next_page_token else ""
        return runs, next_token

    async def _own_handle(self, organization_id: str, run_id: str) -> tuple[WorkflowHandle[Any, Any], Any]:
        if not _RUN_ID.fullmatch(run_id):
            raise RunNotFound(run_id)
        handle = self._client.get_workflow_handle(run_id)
        try:
            description = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise RunNotFound(run_id) from None
            raise
        # Another organization's run is as unknown as a missing one.
        if (
            description.workflow_type != TRIGGERED_RUN_WORKFLOW
            or description.typed_search_attributes.get(ORGANIZATION_KEY) != organization_id
        ):
            raise RunNotFound(run_id)
        return handle, description

    async def get_run(self, organization_id: str, run_id: str) -> RunRecord:
        handle, description = await self._own_handle(organization_id, run_id)
        record = _record(description)
        record.summary = await description.static_summary() or ""
        steps: dict[int, Step] = {}  # by scheduled event id
        converter = self._client.data_converter
        run_input: dict[str, Any] = {}
        async for event in handle.fetch_history_events():
            kind = event.event_type
            if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                attributes = event.workflow_execution_started_event_attributes
                [run_input] = await converter.decode(attributes.input.payloads) or [{}]
                record.event_id = run_input.get("event_id", "")
                record.event = run_input.get("event", {})
            elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
                # Local activities (the contact lookup) leave a marker, not activity events.
                step = await _local_activity_step(event.marker_recorded_event_attributes, converter)
                if step is not None:
                    if step.activity == "LoadContactDetails":
                        step.input = mask_secrets({"contact": run_input.get("contact") or {}})
                    steps[event.event_id] = step
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attributes = event.activity_task_scheduled_event_attributes
                decoded = await converter.decode(attributes.input.payloads) if attributes.input.payloads else []
                steps[event.event_id] = _step(attributes.activity_id, attributes.activity_type.name, decoded)
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                attributes = event.activity_task_started_event_attributes
                step = steps[attributes.scheduled_event_id]
                step.status, step.attempts = "running", attributes.attempt
                if attributes.HasField("last_failure"):
                    step.error = attributes.last_failure.message
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                attributes = event.activity_task_completed_event_attributes
                step = steps[attributes.scheduled_event_id]
                [output] = await converter.decode(attributes.result.payloads) if attributes.result.payloads else [None]
                step.status, step.error = "succeeded", ""
                step.output = mask_secrets(output) if isinstance(output, dict) else {"value": output}
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
                attributes = event.activity_task_failed_event_attributes
                steps[attributes.scheduled_event_id].status = "failed"
                steps[attributes.scheduled_event_id].error = _failure_text(attributes.failure)
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
                attributes = event.activity_task_timed_out_event_attributes
                steps[attributes.scheduled_event_id].status = "failed"
                steps[attributes.scheduled_event_id].error = _failure_text(attributes.failure) or "timed out"
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
                steps[event.activity_task_canceled_event_attributes.scheduled_event_id].status = "canceled"
            elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
                payloads = event.workflow_execution_completed_event_attributes.result.payloads
                [result] = await converter.decode(payloads) if payloads else [{}]
                record.outcome = result.get("status", "")
                record.warnings = list(result.get("warnings", []))
                record.contact_id = record.contact_id or result.get("contact_id", "")
            elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
                record.error = _failure_text(event.workflow_execution_failed_event_attributes.failure)
                record.outcome = "stopped" if "TaskFailed" in record.error else "failed"
            elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
                record.outcome = "canceled"
        # A step retrying right now: its attempt count and last error live on the pending activity.
        for pending in description.raw_description.pending_activities:
            for step in steps.values():
                if step.status in ("scheduled", "running") and step.activity == pending.activity_type.name:
                    step.attempts = pending.attempt
                    if pending.HasField("last_failure"):
                        step.error = _failure_text(pending.last_failure)
        record.steps = list(steps.values())
        return record

    async def cancel_run(self, organization_id: str, run_id: str) -> None:
        handle, description = await self._own_handle(organization_id, run_id)
        if description.status != WorkflowExecutionStatus.RUNNING:
            raise FailedPrecondition(f"run {run_id} is not running ({_status_name(description.status)})", field="run_id")
        await handle.cancel()
        log.info("run.cancel_requested", run_id=run_id)

    async def retry_run(self, organization_id: str, run_id: str, current: WorkflowSnapshot) -> str:
        """Starts the run again from the start on `current`, as a new run; returns the new run's id."""
        handle, description = await self._own_handle(organization_id, run_id)
        record = await self.get_run(organization_id, run_id)
        retryable = description.status in _RETRYABLE_STATUSES or (
            description.status == WorkflowExecutionStatus.COMPLETED and record.outcome == "completed_with_failures"
        )
        if not retryable:
            raise RunNotRetryable(
                f"run {run_id} did not fail ({_status_name(description.status)}, {record.outcome or 'no outcome'}); only failed runs are retried",
                field="run_id",
            )
        original_input = await self._start_input(handle)
        original_input["workflow"] = {
            "workflow_id": current.workflow_id,
            "version": current.version,
            "name": current.name,
            "spec": current.spec,
        }
        base_id = _RETRY_SUFFIX.sub("", run_id)
        original_input["retry_of"] = run_id
        summary = f"{current.name} v{current.version}: manual retry of {run_id}"
        attributes = TypedSearchAttributes(
            [
                SearchAttributePair(WORKFLOW_ID_KEY, current.workflow_id),
                SearchAttributePair(WORKFLOW_VERSION_KEY, current.version),
                SearchAttributePair(TRIGGER_KEY, original_input.get("trigger", "")),
                SearchAttributePair(ORGANIZATION_KEY, organization_id),
            ]
        )
        for attempt in range(1, MAX_RETRIES_OF_A_RUN + 1):
            new_id = retry_workflow_id(base_id, attempt)
            try:
                await self._client.start_workflow(
                    TRIGGERED_RUN_WORKFLOW,
                    original_input,
                    id=new_id,
                    task_queue=self._task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    search_attributes=attributes,
                    memo=run_memo(summary, current, str(original_input.get("trigger", "")), _contact_ref(original_input.get("contact"))),
                    static_summary=summary,
                )
            except WorkflowAlreadyStartedError:
                continue
            log.info("run.retried", run_id=run_id, new_run_id=new_id, version=current.version)
            return new_id
        raise RunNotRetryable(f"run {base_id} has been retried {MAX_RETRIES_OF_A_RUN} times already", field="run_id")

    async def _start_input(self, handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                payloads = event.workflow_execution_started_event_attributes.input.payloads
                [run_input] = await self._client.data_converter.decode(payloads)
                return dict(run_input)
        raise RunNotFound(handle.id)


def _failure_text(failure: Any) -> str:
    """The innermost failure's message, prefixed by its application error type when it has one."""
    while failure.HasField("cause"):
        failure = failure.cause
    error_type = failure.application_failure_info.type if failure.HasField("application_failure_info") else ""
    return f"{error_type}: {failure.message}" if error_type and not failure.message.startswith(error_type) else failure.message


async def _local_activity_step(marker: Any, converter: Any) -> Step | None:
    if marker.marker_name != "core_local_activity" or "data" not in marker.details:
        return None
    [data] = await converter.decode(marker.details["data"].payloads)
    if not isinstance(data, dict):
        return None
    step = _step(str(data.get("activity_id", "")), str(data.get("activity_type", "")), [])
    step.attempts = int(data.get("attempt", 1))
    if marker.HasField("failure"):
        step.status, step.error = "failed", _failure_text(marker.failure)
    else:
        step.status = "succeeded"
        if "result" in marker.details:
            [output] = await converter.decode(marker.details["result"].payloads)
            step.output = mask_secrets(output) if isinstance(output, dict) else {"value": output}
    return step


def _step(activity_id: str, activity_type: str, decoded: list[Any]) -> Step:
    task_input = decoded[0] if decoded and isinstance(decoded[0], dict) else {}
    if activity_id.startswith("task-"):
        index = int(activity_id.split("-", 1)[1]) if activity_id.split("-", 1)[1].isdigit() else -1
        name = f"task {index} ({activity_type})"
    else:
        index, name = -1, activity_id.replace("-", " ")
    return Step(index=index, name=name, activity=activity_type, input=mask_secrets(task_input))
