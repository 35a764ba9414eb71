"""TriggeredRun with the real worker against the real directory and notification services, a real SMTP catcher
and a recording HTTP server standing in for Slack, Zendesk, webhooks and Segment: every task type does its real
side effect once, a provider that answers 503 twice then succeeds gives one ticket, and a rerun with the same
run id (a reset) sends nothing again."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from google.protobuf import json_format
from recording_http import RecordingHttpServer
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from test_activities_real_services import Stack

from cxflow.v1 import directory_pb2, directory_pb2_grpc, notification_pb2, notification_pb2_grpc
from services.common.auth import internal_metadata
from workflows.activities.notification import SendSlackInput
from workflows.contracts import ContactRef, TriggeredRunInput, TriggeredRunResult, WorkflowSnapshot
from workflows.triggered_run import TriggeredRunWorkflow
from workflows.worker import build_worker


@pytest.fixture
async def provider() -> AsyncIterator[RecordingHttpServer]:
    async with RecordingHttpServer() as server:
        yield server


async def configure_channels(stack: Stack, provider: RecordingHttpServer) -> None:
    notifications = notification_pb2_grpc.NotificationServiceStub(stack.notification_channel)
    await notifications.UpdateChannelSettings(
        notification_pb2.UpdateChannelSettingsRequest(
            slack_webhooks={"support": f"{provider.url}/slack/T1/B1/xyz"},
            zendesk=notification_pb2.ZendeskSettings(base_url=provider.url, email="agent@acme.example", api_token="zd-token"),
            segment_write_keys={"main": "wk-123"},
            segment_endpoint=provider.url,
            webhook_secret="hook-secret",
            outbound_allow_list=notification_pb2.StringList(values=["127.0.0.1"]),
        ),
        metadata=internal_metadata(stack.token, stack.organization_id),
    )


def run_input(stack: Stack, tasks: list[dict[str, Any]], **spec: Any) -> TriggeredRunInput:
    return TriggeredRunInput(
        organization_id=stack.organization_id,
        workflow=WorkflowSnapshot("WF_real", 1, "Real", {"name": "Real", "tasks": tasks, **spec}),
        event_id="evt-real",
        trigger="json_event",
        event={"type": "track", "event": "Order Completed", "properties": {"orderId": "o-17"}},
        fields={"orderId": "o-17"},
        contact=ContactRef(directory_id=stack.directory_id, contact_id=stack.ada_id),
    )


async def execute(client: Client, task_queue: str, stack: Stack, input: TriggeredRunInput, run_id: str) -> TriggeredRunResult:
    worker = build_worker(
        client,
        task_queue=task_queue,
        directory_channel=stack.directory_channel,
        notification_channel=stack.notification_channel,
        internal_token=stack.token,
    )
    async with worker:
        return await client.execute_workflow(
            TriggeredRunWorkflow.run,
            input,
            id=run_id,
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=90),
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )


async def test_a_provider_failing_twice_with_503_gives_one_ticket(
    stack: Stack, provider: RecordingHttpServer, temporal_client: Client, task_queue: str
) -> None:
    await configure_channels(stack, provider)
    provider.respond(503, body=b"busy")
    provider.respond(503, body=b"still busy")
    provider.respond(201, json={"ticket": {"id": 4711}})
    input = run_input(stack, [{"type": "ticket", "provider": "zendesk", "title": "Order {{ fields.orderId }} needs a call",
                               "requesterEmail": "{{ contact.email }}"}])

    result = await execute(temporal_client, task_queue, stack, input, f"run-test-{uuid.uuid4()}")

    assert result.status == "completed" and result.tasks[0].status == "succeeded"
    assert result.tasks[0].output["externalId"] == "4711"
    posts = [request for request in provider.requests if request.path == "/api/v2/tickets.json"]
    assert len(posts) == 3 and posts[0].json() == posts[2].json()
    assert posts[2].json()["ticket"]["subject"] == "Order o-17 needs a call"
    tickets = await notification_pb2_grpc.NotificationServiceStub(stack.notification_channel).ListTickets(
        notification_pb2.ListTicketsRequest(), metadata=internal_metadata(stack.token, stack.organization_id)
    )
    assert [(t.provider, t.external_id) for t in tickets.tickets] == [(notification_pb2.TICKET_PROVIDER_ZENDESK, "4711")]


async def test_every_task_type_does_its_side_effect_once(
    stack: Stack, provider: RecordingHttpServer, temporal_client: Client, task_queue: str
) -> None:
    await configure_channels(stack, provider)
    metadata = internal_metadata(stack.token, stack.organization_id)
    directories = directory_pb2_grpc.DirectoryServiceStub(stack.directory_channel)
    mailing_list = await directories.CreateMailingList(
        directory_pb2.CreateMailingListRequest(directory_id=stack.directory_id, name="VIPs"), metadata=metadata
    )
    notifications = notification_pb2_grpc.NotificationServiceStub(stack.notification_channel)
    survey = await notifications.CreateSurvey(
        notification_pb2.CreateSurveyRequest(name="NPS", url_template="https://survey.example/nps?c={{ contact_id }}"), metadata=metadata
    )
    tasks = [
        {"type": "ticket", "title": "Call {{ contact.firstName }} about {{ fields.orderId }}"},
        {"type": "slack", "webhook": "support", "text": "Ticket {{ tasks[0].ticketId }} for {{ contact.email }}"},
        {"type": "webhook", "url": f"{provider.url}/hooks/orders", "body": {"ticket": "{{ tasks[0].ticketId }}", "tier": "${e://Field/tier}"}},
        {"type": "segment_event", "writeKey": "main", "call": "track", "userId": "{{ contact.extRef }}", "event": "Ticket Opened",
         "properties": {"ticket": "{{ tasks[0].ticketId }}"}},
        {"type": "survey", "surveyId": survey.id, "subject": "How did we do, {{ first_name }}?", "text": "Tell us: {{ link }}"},
        {"type": "add_to_mailing_list", "mailingListId": mailing_list.id},
        {"type": "update_contact_field", "field": "embeddedData.lastTicket", "value": "{{ tasks[0].ticketId }}"},
        {"type": "email", "to": ["{{ contact.email }}"], "subject": "Ticket {{ tasks[0].ticketId }}", "text": "Survey: {{ tasks[4].link }}"},
    ]
    run_id = f"run-test-{uuid.uuid4()}"

    result = await execute(temporal_client, task_queue, stack, run_input(stack, tasks), run_id)

    assert [outcome.status for outcome in result.tasks] == ["succeeded"] * len(tasks), result.tasks
    ticket_id = result.tasks[0].output["ticketId"]
    by_path = {request.path: request for request in provider.requests}
    assert by_path["/slack/T1/B1/xyz"].json() == {"text": f"Ticket {ticket_id} for ada@example.com"}
    hook = by_path["/hooks/orders"]
    assert hook.json() == {"ticket": ticket_id, "tier": "gold"} and hook.headers["x-cxflow-signature"].startswith("sha256=")
    assert by_path["/v1/track"].json()["userId"] == "u-ada" and by_path["/v1/track"].json()["event"] == "Ticket Opened"
    contact = await directories.GetContact(
        directory_pb2.GetContactRequest(directory_id=stack.directory_id, contact_id=stack.ada_id), metadata=metadata
    )
    assert mailing_list.id in contact.mailing_list_ids
    assert json_format.MessageToDict(contact.embedded_data)["lastTicket"] == ticket_id
    messages = await stack.catcher.wait_for(2)
    subjects = sorted(message["Subject"] for message in messages)
    assert subjects == sorted(["How did we do, Ada?", f"Ticket {ticket_id}"])
    link = result.tasks[4].output["link"]
    assert link and any(link in message.get_payload() for message in messages if not message.is_multipart())
    requests_before = len(provider.requests)

    # The same run id again (as after a reset): every key was used, so nothing is sent or written again.
    again = await execute(temporal_client, task_queue, stack, run_input(stack, tasks), run_id)

    assert [outcome.output.get("duplicate") for outcome in again.tasks[:5]] == [True] * 5
    assert again.tasks[0].output["ticketId"] == ticket_id
    assert len(provider.requests) == requests_before
    assert len(await stack.catcher.wait_for(2)) == 2
    tickets = await notifications.ListTickets(notification_pb2.ListTicketsRequest(), metadata=metadata)
    assert len(tickets.tickets) == 1


@pytest.mark.parametrize(("header", "delay"), [("7", timedelta(seconds=7)), ("999999999", timedelta(hours=24)), (None, None)])
async def test_a_providers_429_retry_after_becomes_the_next_retry_delay(
    stack: Stack, provider: RecordingHttpServer, header: str | None, delay: timedelta | None
) -> None:
    await configure_channels(stack, provider)
    provider.respond(429, body=b"rate_limited", headers={"Retry-After": header} if header is not None else None)
    slack = SendSlackInput(stack.organization_id, f"run-{uuid.uuid4()}/0", webhook_name="support", text="Hi")

    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(stack.notification_activities().send_slack, slack)

    assert raised.value.type == "RESOURCE_EXHAUSTED" and not raised.value.non_retryable
    assert raised.value.next_retry_delay == delay
    assert len(provider.requests) == 1
