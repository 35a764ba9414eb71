"""TriggeredRun's rules on the real dev server: conditions, every task type, retry settings, onFailure, owner
notices, cancellation between tasks, the frequency cap, and DryRun. Service activities are test functions
registered under the real names; CountRecentRuns is the real one (it reads the dev server's visibility)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fake_services import Calls, fake_activities
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Worker

from workflows.activities.directory import AddToMailingListInput, UpdateContactFieldInput
from workflows.activities.runs import RunActivities
from workflows.contracts import (
    SEARCH_ATTRIBUTE_ORGANIZATION,
    SEARCH_ATTRIBUTE_WORKFLOW_ID,
    ContactRef,
    DryRunResult,
    TriggeredRunInput,
    TriggeredRunResult,
    WorkflowSnapshot,
)
from workflows.triggered_run import CONTACT_ID_ATTRIBUTE, DryRunWorkflow, TriggeredRunWorkflow


def spec(tasks: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"name": "Rules", "tasks": tasks, **extra}


def email_task(subject: str = "Hi {{ contact.firstName }}") -> dict[str, Any]:
    return {"type": "email", "to": ["{{ contact.email }}"], "subject": subject, "text": "t"}


@dataclass
class Harness:
    client: Client
    task_queue: str
    calls: Calls
    workflow_id: str

    def input(
        self, definition: dict[str, Any], *, event: dict[str, Any] | None = None, organization_id: str = "ORG_rules"
    ) -> TriggeredRunInput:
        return TriggeredRunInput(
            organization_id=organization_id,
            workflow=WorkflowSnapshot(self.workflow_id, 2, "Rules", definition),
            event_id=f"evt-{uuid.uuid4().hex[:8]}",
            trigger="json_event",
            event=event or {"type": "track", "event": "Order Completed", "properties": {"total": 120}},
            fields={"plan": "pro"},
            contact=ContactRef(directory_id="POOL_1", lookup_field="extRef", lookup_value="u-ada"),
        )

    async def start(self, input: TriggeredRunInput) -> WorkflowHandle[Any, TriggeredRunResult]:
        return await self.client.start_workflow(
            TriggeredRunWorkflow.run,
            input,
            id=f"run-test-{uuid.uuid4()}",
            task_queue=self.task_queue,
            execution_timeout=timedelta(seconds=60),
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_WORKFLOW_ID), self.workflow_id),
                    SearchAttributePair(SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_ORGANIZATION), input.organization_id),
                ]
            ),
        )

    async def execute(self, definition: dict[str, Any], **kwargs: Any) -> tuple[str, TriggeredRunResult]:
        handle = await self.start(self.input(definition, **kwargs))
        return handle.id, await handle.result()


@pytest.fixture
async def harness(temporal_client: Client, task_queue: str) -> AsyncIterator[Harness]:
    calls = Calls()
    async with Worker(
        temporal_client,
        task_queue=task_queue,
        workflows=[TriggeredRunWorkflow, DryRunWorkflow],
        activities=[*fake_activities(calls), RunActivities(temporal_client).count_recent_runs],
    ):
        yield Harness(temporal_client, task_queue, calls, f"WF_{uuid.uuid4().hex[:12]}")


async def test_conditions_not_met_run_no_task(harness: Harness) -> None:
    conditions = {"all": [{"operand": "event.properties.total", "operator": "gt", "value": 500}]}

    _, result = await harness.execute(spec([email_task()], conditions=conditions))

    assert result.status == "conditions_not_met" and result.tasks == []
    assert result.contact_id == "CID_ada"
    assert any("event.properties.total gt 500" in line for line in result.warnings)
    assert harness.calls.of("SendEmail") == []


async def test_conditions_read_event_fields_contact_and_segments(harness: Harness) -> None:
    conditions = {
        "all": [
            {"operand": "event.properties.total", "operator": "gte", "value": "100"},
            {"operand": "fields.plan", "operator": "in_list", "value": ["pro", "team"]},
            {"operand": "contact.embeddedData.score", "operator": "equals", "value": 42},
            {"any": [{"segment": "SEG_vip"}, {"operand": "contact.email", "operator": "is_empty"}]},
        ]
    }

    _, result = await harness.execute(spec([email_task()], conditions=conditions))

    assert result.status == "completed"
    assert len(harness.calls.of("SendEmail")) == 1


async def test_every_task_type_renders_its_call_and_later_tasks_read_outputs(harness: Harness) -> None:
    tasks = [
        {"type": "ticket", "provider": "zendesk", "title": "Order by {{ contact.firstName }}", "priority": "high",
         "requesterEmail": "{{ contact.email }}", "tags": ["vip", "{{ fields.plan }}"], "customFields": {"360": "${e://Field/tier}"}},
        {"type": "slack", "webhook": "support", "text": "Ticket {{ tasks[0].ticketId }} ({{ tasks[0].externalId }})",
         "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*{{ contact.lastName }}*"}}]},
        {"type": "webhook", "url": "https://hooks.example.com/{{ run.workflowId }}", "body": {"ticket": "{{ tasks[0].ticketId }}", "n": 3}},
        {"type": "segment_event", "writeKey": "main", "call": "track", "userId": "{{ contact.extRef }}", "event": "Ticket Opened",
         "properties": {"ticket": "{{ tasks[0].ticketId }}"}},
        {"type": "survey", "surveyId": "SV_1", "subject": "Rate us, {{ first_name }}", "expiresInDays": 2},
        {"type": "add_to_mailing_list", "mailingListId": "CG_vip"},
        {"type": "update_contact_field", "field": "embeddedData.lastTicket", "value": "{{ tasks[0].ticketId }}"},
        email_task("Your survey: {{ tasks[4].link }}"),
    ]

    run_id, result = await harness.execute(spec(tasks))

    assert result.status == "completed", result
    [ticket] = harness.calls.of("CreateTicket")
    assert (ticket.provider, ticket.title, ticket.priority, ticket.requester_email) == ("zendesk", "Order by Ada", "high", "ada@example.com")
    assert ticket.tags == ["vip", "pro"] and ticket.custom_fields == {"360": "gold"} and ticket.contact_id == "CID_ada"
    [slack] = harness.calls.of("SendSlack")
    assert slack.text == "Ticket TKT_1 (4711)" and slack.blocks[0]["text"]["text"] == "*Lovelace*"
    [webhook] = harness.calls.of("SendWebhook")
    assert webhook.url == f"https://hooks.example.com/{harness.workflow_id}" and webhook.body == {"ticket": "TKT_1", "n": 3}
    [segment] = harness.calls.of("SendSegmentEvent")
    assert (segment.user_id, segment.event, segment.properties) == ("u-ada", "Ticket Opened", {"ticket": "TKT_1"})
    [survey] = harness.calls.of("DistributeSurvey")
    # The invitation's own template variables are the notification service's, left for it to fill.
    assert (survey.email, survey.subject, survey.run_id, survey.expires_in_seconds) == ("ada@example.com", "Rate us, {{ first_name }}", run_id, 172800)
    assert harness.calls.of("AddToMailingList") == [AddToMailingListInput("ORG_rules", "POOL_1", "CG_vip", "CID_ada")]
    assert harness.calls.of("UpdateContactField") == [
        UpdateContactFieldInput("ORG_rules", "POOL_1", "CID_ada", "embeddedData.lastTicket", "TKT_1")
    ]
    assert harness.calls.of("SendEmail")[0].subject == "Your survey: https://n.example/s/abc"
    keys = [call.idempotency_key for name in ("CreateTicket", "SendSlack", "SendWebhook", "SendSegmentEvent", "DistributeSurvey")
            for call in harness.calls.of(name)]
    assert keys == [f"{run_id}/{index}" for index in range(5)]
    assert result.tasks[0].output == {"ticketId": "TKT_1", "externalId": "4711", "externalUrl": "https://z.example/4711", "duplicate": False}


async def test_retry_none_tries_a_retryable_failure_once(harness: Harness) -> None:
    harness.calls.fail["SendEmail"] = ("UNAVAILABLE", 5)

    _, result = await harness.execute(spec([email_task()], retry="none"))

    assert result.status == "completed_with_failures"
    assert result.tasks[0].error == "UNAVAILABLE: UNAVAILABLE on attempt 1"
    assert harness.calls.attempts["SendEmail"] == 1


async def test_retryable_failures_are_retried_with_the_default_setting(harness: Harness) -> None:
    harness.calls.fail["CreateTicket"] = ("UNAVAILABLE", 2)  # a 503 twice, then success

    _, result = await harness.execute(spec([{"type": "ticket", "title": "T"}]))

    assert result.status == "completed" and result.tasks[0].status == "succeeded"
    assert harness.calls.attempts["CreateTicket"] == 3
    assert len(harness.calls.of("CreateTicket")) == 1


@pytest.mark.parametrize("error_type", ["FAILED_PRECONDITION", "INVALID_ARGUMENT"])
async def test_provider_errors_other_than_429_and_5xx_are_final(harness: Harness, error_type: str) -> None:
    harness.calls.fail["SendWebhook"] = (error_type, 5)

    _, result = await harness.execute(spec([{"type": "webhook", "url": "https://x.example/"}], retry="15m"))

    assert result.tasks[0].status == "failed" and harness.calls.attempts["SendWebhook"] == 1


async def test_on_failure_stop_fails_the_run_and_skips_the_rest(harness: Harness) -> None:
    harness.calls.fail["SendSlack"] = ("FAILED_PRECONDITION", 5)
    definition = spec([{"type": "slack", "webhook": "gone", "text": "x"}, email_task()], onFailure="stop")

    handle = await harness.start(harness.input(definition))
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()

    assert "TaskFailed" in str(failure.value.cause) or "stops on failure" in str(failure.value.cause)
    assert harness.calls.of("SendEmail") == []
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
    progress = await handle.query(TriggeredRunWorkflow.progress)
    assert [outcome.status for outcome in progress.tasks] == ["failed"]


async def test_on_failure_continue_runs_the_rest(harness: Harness) -> None:
    harness.calls.fail["SendSlack"] = ("FAILED_PRECONDITION", 5)

    _, result = await harness.execute(spec([{"type": "slack", "webhook": "gone", "text": "x"}, email_task()]))

    assert [outcome.status for outcome in result.tasks] == ["failed", "succeeded"]


async def test_owners_get_one_failure_notice(harness: Harness) -> None:
    harness.calls.fail["SendWebhook"] = ("FAILED_PRECONDITION", 5)
    definition = spec([{"type": "webhook", "url": "https://x.example/"}], owners=["ops@example.com", "cx@example.com"])

    run_id, result = await harness.execute(definition)

    [notice] = harness.calls.of("SendEmail")
    assert notice.to == ["ops@example.com", "cx@example.com"]
    assert notice.idempotency_key == f"{run_id}/failure-notice"
    assert "Rules" in notice.subject and "task 0 (webhook): FAILED_PRECONDITION" in notice.text_body
    assert result.status == "completed_with_failures"


async def test_no_notice_when_nothing_failed_or_notices_are_off(harness: Harness) -> None:
    await harness.execute(spec([{"type": "webhook", "url": "https://x.example/"}], owners=["ops@example.com"]))
    harness.calls.fail["SendWebhook"] = ("FAILED_PRECONDITION", 5)
    definition = spec([{"type": "webhook", "url": "https://x.example/"}], owners=["ops@example.com"], notifyOwnersOnFailure=False)
    await harness.execute(definition)

    assert harness.calls.of("SendEmail") == []


async def test_cancel_lets_the_current_task_finish_and_runs_no_more(harness: Harness) -> None:
    harness.calls.hold = asyncio.Event()
    handle = await harness.start(harness.input(spec([email_task("first"), email_task("second")])))
    while harness.calls.attempts.get("SendEmail", 0) < 1:
        await asyncio.sleep(0.05)

    await handle.cancel()
    # The cancellation reaches the workflow while the first task is still held.
    while not (await handle.query(TriggeredRunWorkflow.progress)).cancel_requested:
        await asyncio.sleep(0.05)
    harness.calls.hold.set()
    with pytest.raises(WorkflowFailureError):
        await handle.result()

    assert [email.subject for email in harness.calls.of("SendEmail")] == ["first"]
    assert harness.calls.attempts["SendEmail"] == 1
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    progress = await handle.query(TriggeredRunWorkflow.progress)
    assert progress.cancel_requested and [outcome.status for outcome in progress.tasks] == ["succeeded"]


async def _visible_runs(client: Client, workflow_id: str, expected: int) -> None:
    """Waits until visibility shows `expected` runs of the workflow with a contact (it trails by moments)."""
    query = f"{SEARCH_ATTRIBUTE_WORKFLOW_ID} = '{workflow_id}' AND CxContactId = 'CID_ada'"
    async with asyncio.timeout(20):
        while (await client.count_workflows(query)).count < expected:
            await asyncio.sleep(0.1)


async def test_frequency_cap_limits_runs_per_contact_and_period(harness: Harness) -> None:
    definition = spec([email_task()], frequencyCap={"count": 2, "period": "1h"})

    outcomes = []
    for expected_before in range(3):
        await _visible_runs(harness.client, harness.workflow_id, expected_before)
        handle = await harness.start(harness.input(definition))
        result = await handle.result()
        outcomes.append(result.status)
        marked = (await handle.describe()).typed_search_attributes.get(CONTACT_ID_ATTRIBUTE)
        assert marked == ("CID_ada" if result.status == "completed" else None)

    assert outcomes == ["completed", "completed", "frequency_capped"]
    assert len(harness.calls.of("SendEmail")) == 2


async def test_frequency_cap_counts_only_runs_of_the_same_organization(harness: Harness) -> None:
    definition = spec([email_task()], frequencyCap={"count": 1, "period": "1h"})
    # Another organization's run of the same workflow id (ids are chosen per organization) and contact id.
    elsewhere = await harness.start(harness.input(definition, organization_id="ORG_elsewhere"))
    assert (await elsewhere.result()).status == "completed"
    await _visible_runs(harness.client, harness.workflow_id, 1)

    ours = await harness.start(harness.input(definition))
    assert (await ours.result()).status == "completed"
    await _visible_runs(harness.client, harness.workflow_id, 2)
    capped = await harness.start(harness.input(definition))
    assert (await capped.result()).status == "frequency_capped"


async def test_dry_run_renders_everything_and_sends_nothing(harness: Harness) -> None:
    tasks = [
        {"type": "ticket", "title": "Order by {{ contact.firstName }}"},
        {"type": "slack", "webhook": "support", "text": "Ticket {{ tasks[0].ticketId }} {{ contact.nickname }}"},
        {"type": "email", "to": ["{{ contact.fax }}"], "subject": "s", "text": "t"},
    ]
    input = harness.input(spec(tasks, conditions={"any": [{"segment": "SEG_vip"}]}))

    result = await harness.client.execute_workflow(
        DryRunWorkflow.run, input, id=f"dry-{uuid.uuid4()}", task_queue=harness.task_queue, result_type=DryRunResult
    )

    assert result.outcome == "completed_with_failures" and result.conditions_met and result.contact_status == "loaded"
    assert [task.outcome for task in result.tasks] == ["would_run", "would_run", "would_fail"]
    assert result.tasks[0].input["title"] == "Order by Ada"
    assert result.tasks[1].input["text"] == "Ticket  "  # earlier outputs do not exist in a dry run
    assert "task 1 (slack): contact.nickname has no value" in result.warnings
    assert result.contact["firstName"] == "Ada"
    sent = {name: calls for name, calls in harness.calls.made.items() if name != "LoadContactDetails"}
    assert sent == {}


async def test_dry_run_with_unmet_conditions_reaches_no_task(harness: Harness) -> None:
    input = harness.input(spec([email_task()], conditions={"all": [{"segment": "SEG_other"}]}))

    result = await harness.client.execute_workflow(
        DryRunWorkflow.run, input, id=f"dry-{uuid.uuid4()}", task_queue=harness.task_queue, result_type=DryRunResult
    )

    assert result.outcome == "conditions_not_met"
    assert [dataclasses.astuple(task)[:3] for task in result.tasks] == [(0, "email", "not_reached")]
