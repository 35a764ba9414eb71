"""TriggeredRun on the real Temporal dev server, its activities replaced by test functions of the same names."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    Interceptor,
    StartLocalActivityInput,
    UnsandboxedWorkflowRunner,
    Worker,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from workflows.activities.directory import ContactDetails, LoadContactInput
from workflows.activities.notification import SendEmailInput, SendEmailOutput
from workflows.contracts import ContactRef, TaskOutcome, TriggeredRunInput, TriggeredRunResult, WorkflowSnapshot
from workflows.triggered_run import CONTACT_ID_ATTRIBUTE, TASK_RETRIES, RunProgress, TriggeredRunWorkflow

ADA = ContactDetails(
    id="CID_ada",
    directory_id="POOL_1",
    first_name="Ada",
    last_name="Lovelace",
    email="ada@example.com",
    ext_ref="u-ada",
    embedded_data={"tier": "gold"},
)


@dataclass
class FakeDirectory:
    """Answers LoadContactDetails from a dict keyed by ext ref; records every call."""

    contacts: dict[str, ContactDetails] = field(default_factory=dict)
    error_type: str = ""  # when set, every lookup fails with this non-retryable error
    unavailable_attempts: int = 0  # the first attempts fail as a directory outage would (retryable)
    calls: list[LoadContactInput] = field(default_factory=list)

    @activity.defn(name="LoadContactDetails")
    async def load_contact_details(self, input: LoadContactInput) -> ContactDetails:
        self.calls.append(input)
        if activity.info().attempt <= self.unavailable_attempts:
            raise ApplicationError("directory unavailable", type="Unavailable")
        if self.error_type:
            raise ApplicationError(f"lookup failed: {self.error_type}", type=self.error_type, non_retryable=True)
        return self.contacts[input.contact.lookup_value]


@dataclass
class FakeNotification:
    """Records SendEmail calls; can fail chosen subjects, or hold calls until released."""

    sent: list[SendEmailInput] = field(default_factory=list)
    attempts: list[tuple[str, int]] = field(default_factory=list)  # (idempotency key, attempt)
    fail: dict[str, tuple[str, int]] = field(default_factory=dict)  # subject -> (error type, failing attempts)
    hold: asyncio.Event | None = None

    @activity.defn(name="SendEmail")
    async def send_email(self, input: SendEmailInput) -> SendEmailOutput:
        attempt = activity.info().attempt
        self.attempts.append((input.idempotency_key, attempt))
        if self.hold is not None:
            await self.hold.wait()
        error_type, failing_attempts = self.fail.get(input.subject, ("", 0))
        # Raised as retryable: whether Temporal retries must come from the workflow's RetryPolicy.
        if attempt <= failing_attempts:
            raise ApplicationError(f"{error_type} on attempt {attempt}", type=error_type)
        self.sent.append(input)
        return SendEmailOutput(message_id=f"<{len(self.sent)}@test>", duplicate=False)


ADA_BY_EXT_REF = ContactRef(directory_id="POOL_1", lookup_field="extRef", lookup_value="u-ada")


def welcome_email(**overrides: Any) -> dict[str, Any]:
    task = {
        "type": "email",
        "to": ["{{ contact.email }}"],
        "cc": [],
        "from": "",
        "subject": "Welcome, {{ contact.firstName }}!",
        "text": "Hi {{ contact.firstName }}, thanks for joining.",
        "html": "<p>Hi {{ contact.firstName }}, thanks for joining.</p>",
    }
    task.update(overrides)
    return task


def run_input(
    tasks: list[dict[str, Any]],
    *,
    contact: ContactRef | None = ADA_BY_EXT_REF,
    event: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
    **spec: Any,
) -> TriggeredRunInput:
    return TriggeredRunInput(
        organization_id="ORG_1",
        workflow=WorkflowSnapshot(
            workflow_id="WF_welcome", version=3, name="Welcome", spec={"name": "Welcome", "tasks": tasks, **spec}
        ),
        event_id="evt-1",
        trigger="json_event",
        event=event if event is not None else {"type": "identify", "userId": "u-ada"},
        fields=fields or {},
        contact=contact,
    )


@dataclass
class Harness:
    client: Client
    task_queue: str
    directory: FakeDirectory
    notification: FakeNotification

    async def start(self, input: TriggeredRunInput) -> WorkflowHandle[Any, TriggeredRunResult]:
        return await self.client.start_workflow(
            TriggeredRunWorkflow.run,
            input,
            id=f"run-test-{uuid.uuid4()}",
            task_queue=self.task_queue,
            execution_timeout=timedelta(seconds=60),
        )

    async def execute(self, input: TriggeredRunInput) -> tuple[str, TriggeredRunResult]:
        handle = await self.start(input)
        return handle.id, await handle.result()


@pytest.fixture
async def harness(temporal_client: Client, task_queue: str) -> AsyncIterator[Harness]:
    directory = FakeDirectory(contacts={"u-ada": ADA})
    notification = FakeNotification()
    async with Worker(
        temporal_client,
        task_queue=task_queue,
        workflows=[TriggeredRunWorkflow],
        activities=[directory.load_contact_details, notification.send_email],
    ):
        yield Harness(temporal_client, task_queue, directory, notification)


async def test_email_is_rendered_with_the_contact_piped_in(harness: Harness) -> None:
    _run_id, result = await harness.execute(run_input([welcome_email()]))

    assert result == TriggeredRunResult(
        status="completed",
        contact_id="CID_ada",
        tasks=[TaskOutcome(index=0, type="email", status="succeeded", output={"messageId": "<1@test>", "duplicate": False})],
        warnings=[],
    )
    [email] = harness.notification.sent
    assert email.organization_id == "ORG_1"
    assert email.to == ["ada@example.com"]
    assert email.subject == "Welcome, Ada!"
    assert email.text_body == "Hi Ada, thanks for joining."
    assert email.html_body == "<p>Hi Ada, thanks for joining.</p>"
    assert harness.directory.calls == [
        LoadContactInput(organization_id="ORG_1", contact=ContactRef("POOL_1", lookup_field="extRef", lookup_value="u-ada"))
    ]


async def test_idempotency_key_is_the_run_id_and_task_index(harness: Harness) -> None:
    run_id, result = await harness.execute(run_input([welcome_email(), welcome_email(subject="Second")]))

    assert [email.idempotency_key for email in harness.notification.sent] == [f"{run_id}/0", f"{run_id}/1"]
    assert [outcome.status for outcome in result.tasks] == ["succeeded", "succeeded"]


async def test_a_retried_send_keeps_its_idempotency_key(harness: Harness) -> None:
    harness.notification.fail["Flaky"] = ("UNAVAILABLE", 1)

    run_id, result = await harness.execute(run_input([welcome_email(subject="Flaky")]))

    assert harness.notification.attempts == [(f"{run_id}/0", 1), (f"{run_id}/0", 2)]
    assert result.tasks[0].status == "succeeded"
    assert len(harness.notification.sent) == 1


@pytest.mark.parametrize("error_type", ["ContactNotFound", "AmbiguousContact"])
async def test_no_single_contact_ends_the_run_as_contact_not_found(harness: Harness, error_type: str) -> None:
    harness.directory.error_type = error_type

    _run_id, result = await harness.execute(run_input([welcome_email()]))

    assert result.status == "contact_not_found"
    assert result.tasks == [] and result.contact_id == ""
    assert result.warnings == [f"{error_type}: lookup failed: {error_type}"]
    assert len(harness.directory.calls) == 1  # not retried
    assert harness.notification.attempts == []


async def test_a_failing_task_is_recorded_and_the_next_task_still_runs(harness: Harness) -> None:
    harness.notification.fail["Broken"] = ("INVALID_ARGUMENT", 99)

    run_id, result = await harness.execute(run_input([welcome_email(subject="Broken"), welcome_email(subject="Second")]))

    assert result.status == "completed_with_failures"
    first, second = result.tasks
    assert first.status == "failed" and first.error == "INVALID_ARGUMENT: INVALID_ARGUMENT on attempt 1"
    assert second.status == "succeeded"
    # INVALID_ARGUMENT is in the retry policy's non-retryable types: one attempt only.
    assert harness.notification.attempts == [(f"{run_id}/0", 1), (f"{run_id}/1", 1)]
    assert [email.subject for email in harness.notification.sent] == ["Second"]


async def test_a_template_error_fails_only_its_task(harness: Harness) -> None:
    tasks = [welcome_email(subject="{{ ''.__class__.__mro__ }}"), welcome_email(text="{{ contact.firstName")]
    tasks.append(welcome_email(subject="Fine"))

    _run_id, result = await harness.execute(run_input(tasks))

    unsafe, syntax, fine = result.tasks
    assert unsafe.status == "failed" and unsafe.error.startswith("UnsafeTemplateError: ")
    assert syntax.status == "failed" and "syntax error" in syntax.error
    assert fine.status == "succeeded"
    assert [email.subject for email in harness.notification.sent] == ["Fine"]


async def test_missing_values_become_warnings(harness: Harness) -> None:
    task = welcome_email(subject="Hi {{ contact.phone }}{{ fields.plan }} ${e://Field/tier} ${e://Field/region}")

    _run_id, result = await harness.execute(run_input([task]))

    assert harness.notification.sent[0].subject == "Hi  gold "
    assert result.warnings == [
        "task 0 (email): contact.phone has no value",
        "task 0 (email): fields.plan has no value",
        "task 0 (email): contact.embeddedData.region has no value",
    ]
    assert result.tasks[0].status == "succeeded"


async def test_an_email_whose_recipients_render_empty_fails_without_sending(harness: Harness) -> None:
    _run_id, result = await harness.execute(run_input([welcome_email(to=["{{ contact.email }}"])], contact=None))

    assert result.tasks[0].status == "failed" and result.tasks[0].error.startswith("no recipient")
    assert "task 0 (email): contact.email has no value" in result.warnings
    assert harness.notification.attempts == []


async def test_without_a_contact_templates_read_the_event_fields_and_run(harness: Harness) -> None:
    task = welcome_email(
        to=["{{ event.email }}"],
        subject="{{ fields.firstName }} via {{ run.workflowName }} v{{ run.workflowVersion }} ({{ run.eventId }})",
        text="run {{ run.runId }} of {{ run.workflowId }}",
        html="<b>{{ fields.firstName }}</b>",
    )
    input = run_input([task], contact=None, event={"email": "bob@example.com"}, fields={"firstName": "Bob & Co"})

    run_id, result = await harness.execute(input)

    [email] = harness.notification.sent
    assert email.to == ["bob@example.com"]
    assert email.subject == "Bob & Co via Welcome v3 (evt-1)"
    assert email.text_body == f"run {run_id} of WF_welcome"
    assert email.html_body == "<b>Bob &amp; Co</b>"
    assert harness.directory.calls == []
    assert result.contact_id == ""


async def test_later_tasks_see_earlier_task_outputs(harness: Harness) -> None:
    tasks = [welcome_email(), welcome_email(subject="Follow-up to {{ tasks[0].messageId }}")]

    await harness.execute(run_input(tasks))

    assert harness.notification.sent[1].subject == "Follow-up to <1@test>"


async def test_load_contact_false_skips_the_directory(harness: Harness) -> None:
    contact = ContactRef(directory_id="POOL_1", contact_id="CID_given")
    task = welcome_email(to=["x@example.com"], subject="{{ contact.firstName }}")

    _run_id, result = await harness.execute(run_input([task], contact=contact, loadContact=False))

    assert harness.directory.calls == []
    assert result.contact_id == "CID_given"
    assert result.warnings == ["task 0 (email): contact.firstName has no value"]


async def test_progress_query_follows_the_run(harness: Harness) -> None:
    harness.notification.hold = asyncio.Event()
    handle = await harness.start(run_input([welcome_email(), welcome_email(subject="Second")]))

    while not harness.notification.attempts:  # the first send has started and is held
        await asyncio.sleep(0.05)
    during = await handle.query(TriggeredRunWorkflow.progress)
    assert during == RunProgress(step="task 0", contact="loaded", contact_id="CID_ada", tasks=[], warnings=[])

    harness.notification.hold.set()
    result = await handle.result()
    after = await handle.query(TriggeredRunWorkflow.progress)
    assert after == RunProgress(step="done", contact="loaded", contact_id="CID_ada", tasks=result.tasks, warnings=[])
    assert [outcome.index for outcome in after.tasks] == [0, 1]


async def test_loaded_contact_id_is_a_search_attribute(harness: Harness) -> None:
    handle = await harness.start(run_input([welcome_email()]))
    await handle.result()

    description = await handle.describe()

    assert description.typed_search_attributes.get(CONTACT_ID_ATTRIBUTE) == "CID_ada"


async def test_a_directory_outage_delays_the_run_instead_of_failing_it(harness: Harness) -> None:
    harness.directory.unavailable_attempts = 2

    _run_id, result = await harness.execute(run_input([welcome_email()]))

    assert result.status == "completed"
    assert len(harness.directory.calls) == 3
    assert len(harness.notification.sent) == 1


class RecordLocalActivities(Interceptor):
    """Records the options of every local activity the workflow starts (the worker runs unsandboxed, so the
    workflow code appends to this very list)."""

    def __init__(self) -> None:
        self.started: list[StartLocalActivityInput] = []

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        started = self.started

        class Outbound(WorkflowOutboundInterceptor):
            def start_local_activity(self, input: StartLocalActivityInput) -> Any:
                started.append(input)
                return super().start_local_activity(input)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound


@pytest.mark.parametrize("setting", ["24h", "15m"])
async def test_loading_the_contact_retries_without_an_attempt_cap_for_the_task_retry_window(
    temporal_client: Client, task_queue: str, setting: str
) -> None:
    # A directory outage of hours cannot be waited out in a test; the options the run gives Temporal can be read.
    recorder = RecordLocalActivities()
    directory = FakeDirectory(contacts={"u-ada": ADA})
    async with Worker(
        temporal_client,
        task_queue=task_queue,
        workflows=[TriggeredRunWorkflow],
        activities=[directory.load_contact_details, FakeNotification().send_email],
        interceptors=[recorder],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        harness = Harness(temporal_client, task_queue, directory, FakeNotification())
        await harness.execute(run_input([welcome_email()], retry=setting))

    [load] = [started for started in recorder.started if started.activity == "LoadContactDetails"]
    assert load.retry_policy is not None
    assert load.retry_policy.maximum_attempts == 0  # unlimited
    assert load.schedule_to_close_timeout == TASK_RETRIES[setting].window
    assert set(load.retry_policy.non_retryable_error_types or []) == {"ContactNotFound", "AmbiguousContact"}
    assert load.local_retry_threshold is not None and load.local_retry_threshold <= timedelta(minutes=1)


async def test_a_matches_condition_runs_with_re2_inside_the_workflow_sandbox(harness: Harness) -> None:
    conditions = {"all": [{"operand": "event.userId", "operator": "matches", "value": "^(u+-?)+ada$"}]}

    _run_id, result = await harness.execute(
        run_input([welcome_email()], event={"type": "identify", "userId": "u-ada"}, conditions=conditions)
    )

    assert result.status == "completed"
    assert len(harness.notification.sent) == 1
