"""Turns one task of a definition into the activity call it makes: renders its piped text, builds the input.

Shared by TriggeredRun (which then executes the call) and DryRun (which only shows it). Deterministic:
rendering reads only the run's data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.activities.directory import (
        AddToMailingListInput,
        DirectoryActivities,
        UpdateContactFieldInput,
    )
    from workflows.activities.notification import (
        CreateTicketInput,
        DistributeSurveyInput,
        NotificationActivities,
        SendEmailInput,
        SendSegmentEventInput,
        SendSlackInput,
        SendWebhookInput,
    )
    from workflows.templating import TemplateError, render_template

TASK_TIMEOUT = timedelta(seconds=30)


class TaskNotPossible(Exception):
    """A task that cannot be attempted (bad template, no recipient, no contact); recorded as failed."""

    warnings: list[str] = []  # noqa: RUF012 - set per instance by plan_task: what rendered empty before the failure


@dataclass(frozen=True)
class RunIdentity:
    organization_id: str
    run_id: str  # the run's Temporal workflow id: idempotency keys and survey links derive from it
    contact_id: str = ""
    directory_id: str = ""


@dataclass(frozen=True)
class PlannedCall:
    activity: Callable[..., Any]  # the activity method, for workflow.execute_activity_method
    input: Any  # its one dataclass argument
    start_to_close: timedelta = TASK_TIMEOUT

    def input_as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.input)


class TaskRenderer:
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
            raise TaskNotPossible(f"{type(exc).__name__}: {exc}") from None
        self._missing.extend(name for name in rendered.missing if name not in self._missing)
        return rendered.text

    def addresses(self, templates: Any) -> list[str]:
        """Renders a list of address templates, dropping the ones that rendered empty."""
        rendered = (self.text(template).strip() for template in _as_list(templates))
        return [address for address in rendered if address]

    def json(self, value: Any) -> Any:
        """Renders every string inside a JSON value (webhook bodies, Slack blocks, Segment properties)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.json(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.json(item) for item in value]
        return value

    def warnings(self) -> list[str]:
        return [f"task {self._index} ({self._task_type}): {name} has no value" for name in self._missing]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def plan_task(run: RunIdentity, index: int, task: dict[str, Any], context: dict[str, Any]) -> tuple[PlannedCall, list[str]]:
    """The call task `index` makes and the warnings its rendering produced. Raises TaskNotPossible."""
    task_type = str(task.get("type", ""))
    planner = _PLANNERS.get(task_type)
    if planner is None:
        raise TaskNotPossible(f"unsupported task type {task_type!r}")
    render = TaskRenderer(index, task_type, context)
    # The run's business identity and the task's place in it: a retried activity, a replayed history or
    # a reset run all reuse this key, so the side effect happens once.
    key = f"{run.run_id}/{index}"
    try:
        call = planner(run, key, task, render, context)
    except TaskNotPossible as exc:
        exc.warnings = render.warnings()
        raise
    return call, render.warnings()


def _email(run: RunIdentity, key: str, task: dict[str, Any], render: TaskRenderer, context: dict[str, Any]) -> PlannedCall:
    email = SendEmailInput(
        organization_id=run.organization_id,
        idempotency_key=key,
        from_address=render.text(task.get("from", "")).strip(),
        to=render.addresses(task.get("to")),
        cc=render.addresses(task.get("cc")),
        subject=render.text(task.get("subject", "")),
        text_body=render.text(task.get("text", "")),
        html_body=render.text(task.get("html", ""), html=True),
    )
    if not email.to:
        raise TaskNotPossible("no recipient: every 'to' address rendered empty")
    return PlannedCall(NotificationActivities.send_email, email)


def _slack(run: RunIdentity, key: str, task: dict[str, Any], render: TaskRenderer, context: dict[str, Any]) -> PlannedCall:
    text = render.text(task.get("text", ""))
    if not text.strip():
        raise TaskNotPossible("the Slack message rendered empty")
    return PlannedCall(
        NotificationActivities.send_slack,
        SendSlackInput(
            organization_id=run.organization_id,
            idempotency_key=key,
            webhook_name=str(task.get("webhook", "")),
            text=text,
            blocks=render.json(task.get("blocks") or []),
        ),
    )


def _ticket(run: RunIdentity, key: str, task: dict[str, Any], render: TaskRenderer, context: dict[str, Any]) -> PlannedCall:
    title = render.text(task.get("title", "")).strip()
    if not title:
        raise TaskNotPossible("the ticket title rendered empty")
    return PlannedCall(
        NotificationActivities.create_ticket,
        CreateTicketInput(
            organization_id=run.organization_id,
            idempotency_key=key,
            provider=str(task.get("provider", "own")),
            title=title,
            description=render.text(task.get("description", "")),
            priority=str(task.get("priority", "normal")),
            owner=render.text(task.get("owner", "")).strip(),
            contact_id=run.contact_id,
            requester_name=render.text(task.get("requesterName", "")).strip(),
            requester_email=render.text(task.get("requesterEmail", "")).strip(),
            tags=[tag for tag in (render.text(t).strip() for t in task.get("tags") or []) if tag],
            custom_fields=render.json(task.get("customFields") or {}),
        ),
    )


def _survey(run: RunIdentity, key: str, task: dict[str, Any], render: TaskRenderer, context: dict[str, Any]) -> PlannedCall:
    if not run.contact_id:
        raise TaskNotPossible("a survey goes to the run's contact, and the run has none")
    contact = context.get("contact") or {}
    email = render.text(task.get("to") or "{{ contact.email }}").strip()
    if not email:
        raise TaskNotPossible("no recipient: the survey's 'to' rendered empty")
    days = task.get("expiresInDays")
    return PlannedCall(
        NotificationActivities.distribute_survey,
        DistributeSurveyInput(
            organization_id=run.organization_id,
            idempotency_key=key,
            survey_id=str(task.get("surveyId", "")),
            contact_id=run.contact_id,
            email=email,
            run_id=run.run_id,
            first_name=str(contact.get("firstName", "")),
            last_name=str(contact.get("lastName", "")),
            from_address=render.text(task.get("from", "")).strip(),
            # The invitation's subject and bodies are the notification service's templates ({{ link }} ...).
            subject=str(task.get("subject", "")),
            text_template=str(task.get("text", "")),
            html_template=str(task.get("html", "")),
            expires_in_seconds=int(days) * 86400 if days else 0,
        ),
    )


def _webhook(run: RunIdentity, key: str, task: dict[str, Any], render: TaskRenderer, context: dict[str, Any]) -> PlannedCall:
    url = render.text(task.get("url", "")).strip()
    if not url.lower().startswith(("http://", "https://")):
        raise TaskNotPossible("the webhook URL did not render to an http(s) URL")
    timeout = int(task.get("timeoutSeconds") or 0)
    return PlannedCall(
        NotificationActivities.send_webhook,
        SendWebhookInput(
            organization_id=run.organization_id,
            idempotency_key=key,
            url=url,
            body=render.json(task.get("body") or {}),
            timeout_seconds=timeout,
        ),
        start_to_close=timedelta(seconds=max(timeout, 10) + 15),
    )


def _segment_event(run: RunIdentity, key: str, task: dict[str, Any], render: TaskRenderer, context: dict[str, Any]) -> PlannedCall:
    user_id = render.text(task.get("userId", "")).strip()
    if not user_id:
        raise TaskNotPossible("the Segment userId rendered empty")
    return PlannedCall(
        NotificationActivities.send_segment_event,
        SendSegmentEventInput(
            organization_id=run.organization_id,
            idempotency_key=key,
            write_key_name=str(task.get("writeKey", "")),
            call=str(task.get("call", "track")),
            user_id=user_id,
            event=render.text(task.get("event", "")).strip(),
            properties=render.json(task.get("properties") or {}),
            traits=render.json(task.get("traits") or {}),
        ),
    )


def _add_to_mailing_list(run: RunIdentity, key: str, task: dict[str, Any], render: TaskRenderer, context: dict[str, Any]) -> PlannedCall:
    if not run.contact_id:
        raise TaskNotPossible("adding to a mailing list needs the run's contact, and the run has none")
    return PlannedCall(
        DirectoryActivities.add_to_mailing_list,
        AddToMailingListInput(
            organization_id=run.organization_id,
            directory_id=run.directory_id,
            mailing_list_id=str(task.get("mailingListId", "")),
            contact_id=run.contact_id,
        ),
    )


def _update_contact_field(run: RunIdentity, key: str, task: dict[str, Any], render: TaskRenderer, context: dict[str, Any]) -> PlannedCall:
    if not run.contact_id:
        raise TaskNotPossible("updating a contact field needs the run's contact, and the run has none")
    return PlannedCall(
        DirectoryActivities.update_contact_field,
        UpdateContactFieldInput(
            organization_id=run.organization_id,
            directory_id=run.directory_id,
            contact_id=run.contact_id,
            field=str(task.get("field", "")),
            value=render.text(task.get("value", "")),
        ),
    )


_PLANNERS: dict[str, Callable[[RunIdentity, str, dict[str, Any], TaskRenderer, dict[str, Any]], PlannedCall]] = {
    "email": _email,
    "slack": _slack,
    "ticket": _ticket,
    "survey": _survey,
    "webhook": _webhook,
    "segment_event": _segment_event,
    "add_to_mailing_list": _add_to_mailing_list,
    "update_contact_field": _update_contact_field,
}


def task_output(output: Any) -> dict[str, Any]:
    """What later tasks read as `tasks[i]`: the activity's output with camelCase names."""
    if not dataclasses.is_dataclass(output):
        return {}
    return {_camel(name): value for name, value in dataclasses.asdict(output).items()}


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def template_context(input: Any, contact_context: dict[str, Any], run_id: str) -> dict[str, Any]:
    """What templates and conditions see: event, fields, contact, segment, run, tasks (outputs so far)."""
    event = input.event or {}
    segment = {}
    if input.trigger == "segment_membership":
        segment = {
            "id": event.get("segmentId", ""),
            "name": event.get("segmentName", ""),
            "change": event.get("change", ""),
        }
    return {
        "event": event,
        "fields": input.fields,
        "contact": contact_context,
        "segment": segment,
        "run": {
            "workflowId": input.workflow.workflow_id,
            "runId": run_id,  # the run's stable identity (survives resets)
            "workflowName": input.workflow.name,
            "workflowVersion": input.workflow.version,
            "eventId": input.event_id,
            "retryOf": input.retry_of,
        },
        "tasks": [],
    }
