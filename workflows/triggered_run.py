"""The TriggeredRun workflow: one durable run of a workflow definition for one event (load contact, run tasks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.activities.directory import (
        AMBIGUOUS_CONTACT,
        CONTACT_NOT_FOUND,
        ContactDetails,
        DirectoryActivities,
        LoadContactInput,
    )
    from workflows.activities.grpc_errors import NON_RETRYABLE_ERROR_TYPES
    from workflows.activities.notification import NotificationActivities, SendEmailInput
    from workflows.contracts import (
        SEARCH_ATTRIBUTE_CONTACT_ID,
        TRIGGERED_RUN_WORKFLOW,
        TaskOutcome,
        TriggeredRunInput,
        TriggeredRunResult,
    )
    from workflows.templating import TemplateError, render_template

CONTACT_ID_ATTRIBUTE = SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_CONTACT_ID)

LOAD_CONTACT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
    non_retryable_error_types=[CONTACT_NOT_FOUND, AMBIGUOUS_CONTACT],
)

# No attempt limit: a notification service that is down for a while must not lose the email;
# the 24 h schedule-to-close timeout bounds the retrying instead.
SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=list(NON_RETRYABLE_ERROR_TYPES),
)


@dataclass(frozen=True)
class RunProgress:
    """What the `progress` query answers: where the run is and what the finished steps did."""

    step: str  # starting | load_contact | task <n> | done
    contact: str = ""  # "" (not yet) | loaded | not_found | not_requested
    contact_id: str = ""
    tasks: list[TaskOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class _TaskFailed(Exception):
    """A task that cannot succeed (bad template, no recipient, unknown type); recorded, and the run goes on."""


@workflow.defn(name=TRIGGERED_RUN_WORKFLOW)
class TriggeredRunWorkflow:
    def __init__(self) -> None:
        self._step = "starting"
        self._contact_status = ""
        self._contact_id = ""
        self._tasks: list[TaskOutcome] = []
        self._warnings: list[str] = []

    @workflow.query(name="progress")
    def progress(self) -> RunProgress:
        return RunProgress(
            step=self._step,
            contact=self._contact_status,
            contact_id=self._contact_id,
            tasks=list(self._tasks),
            warnings=list(self._warnings),
        )

    @workflow.run
    async def run(self, input: TriggeredRunInput) -> TriggeredRunResult:
        spec = input.workflow.spec
        contact: ContactDetails | None = None
        if input.contact is None:
            self._contact_status = "not_requested"
        elif not spec.get("loadContact", True):
            self._contact_status = "not_requested"
            self._record_contact_id(input.contact.contact_id)
        else:
            self._step = "load_contact"
            try:
                contact = await workflow.execute_activity_method(
                    DirectoryActivities.load_contact_details,
                    LoadContactInput(organization_id=input.organization_id, contact=input.contact),
                    start_to_close_timeout=timedelta(seconds=10),
                    retry_policy=LOAD_CONTACT_RETRY,
                )
            except ActivityError as err:
                cause = err.cause
                if isinstance(cause, ApplicationError) and cause.type in (CONTACT_NOT_FOUND, AMBIGUOUS_CONTACT):
                    # No contact to act on is an expected outcome of a run, not a failure of it.
                    workflow.logger.info("run ends: %s", cause.message)
                    self._contact_status = "not_found"
                    self._step = "done"
                    return TriggeredRunResult(status="contact_not_found", warnings=[f"{cause.type}: {cause.message}"])
                raise
            self._contact_status = "loaded"
            self._record_contact_id(contact.id)

        context = self._template_context(input, contact)
        for index, task in enumerate(spec.get("tasks", [])):
            self._step = f"task {index}"
            outcome = await self._run_task(input, index, task, context)
            self._tasks.append(outcome)
            context["tasks"].append(outcome.output)

        self._step = "done"
        return TriggeredRunResult(
            status="completed", contact_id=self._contact_id, tasks=list(self._tasks), warnings=list(self._warnings)
        )

    def _record_contact_id(self, contact_id: str) -> None:
        if not contact_id:
            return
        self._contact_id = contact_id
        workflow.upsert_search_attributes([CONTACT_ID_ATTRIBUTE.value_set(contact_id)])

    def _template_context(self, input: TriggeredRunInput, contact: ContactDetails | None) -> dict[str, Any]:
        return {
            "event": input.event,
            "fields": input.fields,
            "contact": contact.as_template_context() if contact else {},
            "run": {
                "workflowId": input.workflow.workflow_id,
                "runId": workflow.info().workflow_id,  # the run's stable identity (survives resets)
                "workflowName": input.workflow.name,
                "workflowVersion": input.workflow.version,
                "eventId": input.event_id,
            },
            "tasks": [],
        }

    async def _run_task(self, input: TriggeredRunInput, index: int, task: dict[str, Any], context: dict[str, Any]) -> TaskOutcome:
        task_type = str(task.get("type", ""))
        try:
            if task_type == "email":
                output = await self._send_email(input, index, task, context)
            else:
                raise _TaskFailed(f"unsupported task type {task_type!r}")
        except _TaskFailed as exc:
            workflow.logger.info("task %d (%s) failed: %s", index, task_type, exc)
            return TaskOutcome(index=index, type=task_type, status="failed", error=str(exc))
        except ActivityError as err:
            error = _describe_failure(err)
            workflow.logger.info("task %d (%s) failed: %s", index, task_type, error)
            return TaskOutcome(index=index, type=task_type, status="failed", error=error)
        return TaskOutcome(index=index, type=task_type, status="succeeded", output=output)

    async def _send_email(self, input: TriggeredRunInput, index: int, task: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        render = _TaskRenderer(index, "email", context)
        email = SendEmailInput(
            organization_id=input.organization_id,
            # The run's business identity and the task's place in it: a retried activity, a replayed
            # history or a reset run all reuse this key, so the email goes out once.
            idempotency_key=f"{workflow.info().workflow_id}/{index}",
            from_address=render.text(task.get("from", "")).strip(),
            to=render.addresses(task.get("to")),
            cc=render.addresses(task.get("cc")),
            subject=render.text(task.get("subject", "")),
            text_body=render.text(task.get("text", "")),
            html_body=render.text(task.get("html", ""), html=True),
        )
        self._warnings.extend(w for w in render.warnings() if w not in self._warnings)
        if not email.to:
            raise _TaskFailed("no recipient: every 'to' address rendered empty")
        sent = await workflow.execute_activity_method(
            NotificationActivities.send_email,
            email,
            start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=timedelta(hours=24),
            retry_policy=SEND_RETRY,
        )
        return {"messageId": sent.message_id, "duplicate": sent.duplicate}


class _TaskRenderer:
    """Renders one task's template fields and gathers the names that rendered empty."""

    def __init__(self, index: int, task_type: str, context: dict[str, Any]) -> None:
        self._index = index
        self._task_type = task_type
        self._context = context
        self._missing: list[str] = []

    def text(self, template: Any, *, html: bool = False) -> str:
        try:
            # A newly compiled Jinja template runs `from jinja2.runtime import ...`; inside the sandbox
            # that import must get the host's jinja2 (already loaded, deterministic), not a fresh copy.
            with workflow.unsafe.imports_passed_through():
                rendered = render_template(str(template or ""), self._context, html=html)
        except TemplateError as exc:
            raise _TaskFailed(f"{type(exc).__name__}: {exc}") from None
        self._missing.extend(name for name in rendered.missing if name not in self._missing)
        return rendered.text

    def addresses(self, templates: Any) -> list[str]:
        """Renders a list of address templates, dropping the ones that rendered empty."""
        rendered = (self.text(template).strip() for template in _as_list(templates))
        return [address for address in rendered if address]

    def warnings(self) -> list[str]:
        return [f"task {self._index} ({self._task_type}): {name} has no value" for name in self._missing]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _describe_failure(err: ActivityError) -> str:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return f"{cause.type}: {cause.message}" if cause.type else cause.message
    return str(cause or err)
