"""WorkflowService over real gRPC: definitions and versions, enable/disable/delete, runs read from Temporal
(ListRuns, GetRun), RetryRun, CancelRun and DryRun, with a worker whose service activities are stand-ins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from fake_services import Calls, fake_activities
from google.protobuf import json_format, struct_pb2
from temporalio.client import Client
from temporalio.worker import Worker

from cxflow.v1 import common_pb2, ingestion_pb2, ingestion_pb2_grpc
from services.common.auth import internal_metadata
from services.common.settings import Settings
from services.ingestion.definitions import InvalidDefinition, parse_definition
from services.ingestion.server import start_ingestion
from workflows.activities.runs import RunActivities
from workflows.triggered_run import DryRunWorkflow, TriggeredRunWorkflow

ORGANIZATION = "ORG_wfservice"
OTHER = "ORG_wfother"
TOKEN = "cxf_wfservice-token-0123456789"


class Tokens:
    async def resolve(self, token: str) -> str | None:
        return ORGANIZATION if token == TOKEN else None


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def welcome(subject: str = "Welcome {{ contact.firstName }}", **extra: Any) -> dict[str, Any]:
    return {
        "name": "Welcome",
        "trigger": {"type": "json_event", "mappings": [{"name": "plan", "path": "$.plan", "type": "string"}]},
        "contact": {"directoryId": "POOL_1", "lookup": "extRef", "path": "$.userId"},
        "tasks": [{"type": "email", "to": ["{{ contact.email }}"], "subject": subject, "text": "hello"}],
        **extra,
    }


@dataclass
class Stack:
    settings: Settings
    channel: grpc.aio.Channel
    http: httpx.AsyncClient
    calls: Calls
    temporal: Client
    grpc_target: str

    @property
    def workflows(self) -> ingestion_pb2_grpc.WorkflowServiceStub:
        return ingestion_pb2_grpc.WorkflowServiceStub(self.channel)

    def md(self, organization: str = ORGANIZATION) -> Any:
        return internal_metadata(self.settings.internal_token, organization)

    async def create(self, spec: dict[str, Any]) -> ingestion_pb2.Workflow:
        return await self.workflows.CreateWorkflow(ingestion_pb2.CreateWorkflowRequest(spec=struct(spec)), metadata=self.md())

    async def trigger(self, workflow_id: str, event: dict[str, Any]) -> httpx.Response:
        return await self.http.post(f"/triggers/{workflow_id}", json=event, headers={"x-api-token": TOKEN})

    async def run_result(self, run_id: str) -> Any:
        return await self.temporal.get_workflow_handle(run_id).result()


async def _stack(settings: Settings, temporal_client: Client, task_queue: str) -> AsyncIterator[Stack]:
    settings = settings.with_overrides(temporal_task_queue=task_queue)
    server = await start_ingestion(settings, temporal_client, Tokens())
    calls = Calls()
    try:
        worker = Worker(
            temporal_client,
            task_queue=task_queue,
            workflows=[TriggeredRunWorkflow, DryRunWorkflow],
            activities=[*fake_activities(calls), RunActivities(temporal_client).count_recent_runs],
        )
        http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}", timeout=30)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        async with worker, http, channel:
            yield Stack(settings, channel, http, calls, temporal_client, f"127.0.0.1:{server.grpc_port}")
    finally:
        await server.stop()


@pytest.fixture
async def stack(settings: Settings, temporal_client: Client, task_queue: str) -> AsyncIterator[Stack]:
    async for value in _stack(settings, temporal_client, task_queue):
        yield value


@pytest.fixture
async def db_stack(settings: Settings, temporal_client: Client, task_queue: str, database_url: str) -> AsyncIterator[Stack]:
    async for value in _stack(settings.with_overrides(database_url=database_url), temporal_client, task_queue):
        yield value


async def test_updates_make_versions_and_old_versions_stay_readable(db_stack: Stack) -> None:
    stack = db_stack
    created = await stack.create(welcome())
    updated = await stack.workflows.UpdateWorkflow(
        ingestion_pb2.UpdateWorkflowRequest(workflow_id=created.id, spec=struct(welcome("v2")), expected_version=1), metadata=stack.md()
    )
    assert (created.version, updated.version) == (1, 2)

    versions = await stack.workflows.ListWorkflowVersions(ingestion_pb2.ListWorkflowVersionsRequest(workflow_id=created.id), metadata=stack.md())
    assert [v.version for v in versions.versions] == [2, 1]
    first = await stack.workflows.GetWorkflow(ingestion_pb2.GetWorkflowRequest(workflow_id=created.id, version=1), metadata=stack.md())
    assert json_format.MessageToDict(first.spec)["tasks"][0]["subject"] == "Welcome {{ contact.firstName }}"
    current = await stack.workflows.GetWorkflow(ingestion_pb2.GetWorkflowRequest(workflow_id=created.id), metadata=stack.md())
    assert current.version == 2 and json_format.MessageToDict(current.spec)["tasks"][0]["subject"] == "v2"

    with pytest.raises(grpc.aio.AioRpcError) as stale:
        await stack.workflows.UpdateWorkflow(
            ingestion_pb2.UpdateWorkflowRequest(workflow_id=created.id, spec=struct(welcome("v3")), expected_version=1), metadata=stack.md()
        )
    assert stale.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await stack.workflows.UpdateWorkflow(
            ingestion_pb2.UpdateWorkflowRequest(workflow_id=created.id, spec=struct(welcome(retry="1h"))), metadata=stack.md()
        )
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "spec.retry" in (invalid.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as foreign:
        await stack.workflows.UpdateWorkflow(
            ingestion_pb2.UpdateWorkflowRequest(workflow_id=created.id, spec=struct(welcome())), metadata=stack.md(OTHER)
        )
    assert foreign.value.code() == grpc.StatusCode.NOT_FOUND
    after = await stack.workflows.GetWorkflow(ingestion_pb2.GetWorkflowRequest(workflow_id=created.id), metadata=stack.md())
    assert after.version == 2  # the refused updates changed nothing


async def test_enable_disable_and_delete(db_stack: Stack) -> None:
    stack = db_stack
    created = await stack.create(welcome())

    disabled = await stack.workflows.DisableWorkflow(ingestion_pb2.DisableWorkflowRequest(workflow_id=created.id), metadata=stack.md())
    assert not disabled.enabled and disabled.version == 1
    refused = await stack.trigger(created.id, {"userId": "u-ada", "messageId": "m-1"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "workflow_disabled"

    enabled = await stack.workflows.EnableWorkflow(ingestion_pb2.EnableWorkflowRequest(workflow_id=created.id), metadata=stack.md())
    assert enabled.enabled and enabled.version == 1
    accepted = await stack.trigger(created.id, {"userId": "u-ada", "messageId": "m-2"})
    assert accepted.status_code == 202
    await stack.run_result(accepted.json()["runs"][0]["workflowId"])

    with pytest.raises(grpc.aio.AioRpcError) as foreign:
        await stack.workflows.DeleteWorkflow(ingestion_pb2.DeleteWorkflowRequest(workflow_id=created.id), metadata=stack.md(OTHER))
    assert foreign.value.code() == grpc.StatusCode.NOT_FOUND
    await stack.workflows.DeleteWorkflow(ingestion_pb2.DeleteWorkflowRequest(workflow_id=created.id), metadata=stack.md())
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await stack.workflows.GetWorkflow(ingestion_pb2.GetWorkflowRequest(workflow_id=created.id), metadata=stack.md())
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await stack.trigger(created.id, {"userId": "u-ada"})).status_code == 404


async def test_a_run_started_on_v1_finishes_on_v1_after_v2_is_saved(stack: Stack) -> None:
    created = await stack.create(welcome("v1 subject"))
    stack.calls.hold = asyncio.Event()
    first = (await stack.trigger(created.id, {"userId": "u-ada", "messageId": "m-v1"})).json()["runs"][0]["workflowId"]
    while stack.calls.attempts.get("SendEmail", 0) < 1:  # the v1 run is inside its email task
        await asyncio.sleep(0.05)

    await stack.workflows.UpdateWorkflow(
        ingestion_pb2.UpdateWorkflowRequest(workflow_id=created.id, spec=struct(welcome("v2 subject"))), metadata=stack.md()
    )
    stack.calls.hold.set()
    await stack.run_result(first)
    second = (await stack.trigger(created.id, {"userId": "u-ada", "messageId": "m-v2"})).json()["runs"][0]["workflowId"]
    await stack.run_result(second)

    assert [email.subject for email in stack.calls.of("SendEmail")] == ["v1 subject", "v2 subject"]
    runs = {run_id: await stack.workflows.GetRun(ingestion_pb2.GetRunRequest(run_id=run_id), metadata=stack.md()) for run_id in (first, second)}
    assert (runs[first].workflow_version, runs[second].workflow_version) == (1, 2)


async def _list_runs(stack: Stack, expected: int, **filters: Any) -> list[ingestion_pb2.Run]:
    """ListRuns, waiting for visibility (which trails a finished run by moments) to show `expected` closed runs."""
    async with asyncio.timeout(20):
        while True:
            reply = await stack.workflows.ListRuns(ingestion_pb2.ListRunsRequest(**filters), metadata=stack.md())
            if len(reply.runs) >= expected and all(run.status != ingestion_pb2.RUN_STATUS_RUNNING for run in reply.runs):
                return list(reply.runs)
            await asyncio.sleep(0.1)


async def test_list_and_get_runs_from_temporal(stack: Stack) -> None:
    spec = welcome()
    spec["tasks"].append({"type": "webhook", "url": "https://hooks.example.com/in?token=s3cret", "body": {"plan": "{{ fields.plan }}"}})
    created = await stack.create(spec)
    stack.calls.fail["SendWebhook"] = ("UNAVAILABLE", 1)
    run_ids = []
    for number in range(3):
        reply = await stack.trigger(created.id, {"userId": "u-ada", "messageId": f"m-{number}", "plan": "pro"})
        run_ids.append(reply.json()["runs"][0]["workflowId"])
    for run_id in run_ids:
        await stack.run_result(run_id)

    listed = await _list_runs(stack, 3, workflow_id=created.id, contact_id="CID_ada")
    assert sorted(run.run_id for run in listed) == sorted(run_ids)
    assert all(run.status == ingestion_pb2.RUN_STATUS_COMPLETED and run.workflow_version == 1 for run in listed)
    page = await stack.workflows.ListRuns(
        ingestion_pb2.ListRunsRequest(workflow_id=created.id, page=common_pb2.PageRequest(page_size=2)), metadata=stack.md()
    )
    assert len(page.runs) == 2 and page.next_page_token
    rest = await stack.workflows.ListRuns(
        ingestion_pb2.ListRunsRequest(workflow_id=created.id, page=common_pb2.PageRequest(page_size=2, page_token=page.next_page_token)),
        metadata=stack.md(),
    )
    assert {r.run_id for r in page.runs} | {r.run_id for r in rest.runs} == set(run_ids)
    assert (await stack.workflows.ListRuns(ingestion_pb2.ListRunsRequest(contact_id="CID_nobody"), metadata=stack.md())).runs == []

    run = await stack.workflows.GetRun(ingestion_pb2.GetRunRequest(run_id=run_ids[0]), metadata=stack.md())
    assert run.outcome == "completed" and run.contact_id == "CID_ada" and run.event_id == "m-0"
    steps = {step.name: step for step in run.steps}
    assert set(steps) == {"load contact", "task 0 (SendEmail)", "task 1 (SendWebhook)"}
    email = json_format.MessageToDict(steps["task 0 (SendEmail)"].input)
    assert email["subject"] == "Welcome Ada" and email["to"] == ["ada@example.com"]
    webhook = steps["task 1 (SendWebhook)"]
    assert webhook.status == "succeeded"
    assert json_format.MessageToDict(webhook.input)["body"] == {"plan": "pro"}
    assert "s3cret" not in str(webhook.input) and json_format.MessageToDict(webhook.input)["url"] == "https://hooks.example.com/in?••••"
    first_attempts = [s.attempts for s in (await stack.workflows.GetRun(ingestion_pb2.GetRunRequest(run_id=run_ids[0]), metadata=stack.md())).steps]
    assert 2 in first_attempts  # the webhook's first call failed with UNAVAILABLE and was retried

    for run_id, organization in (("run-nope", ORGANIZATION), (run_ids[0], OTHER), ("not-a-run", ORGANIZATION)):
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stack.workflows.GetRun(ingestion_pb2.GetRunRequest(run_id=run_id), metadata=stack.md(organization))
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_failed_run_is_retried_by_hand_on_the_current_version(stack: Stack) -> None:
    created = await stack.create(welcome("first try", onFailure="stop", retry="none"))
    stack.calls.fail["SendEmail"] = ("UNAVAILABLE", 1)
    run_id = (await stack.trigger(created.id, {"userId": "u-ada", "messageId": "m-fail"})).json()["runs"][0]["workflowId"]
    with pytest.raises(Exception):  # noqa: B017 - the run fails (onFailure=stop)
        await stack.run_result(run_id)
    failed = await stack.workflows.GetRun(ingestion_pb2.GetRunRequest(run_id=run_id), metadata=stack.md())
    assert failed.status == ingestion_pb2.RUN_STATUS_FAILED and failed.outcome == "stopped" and "TaskFailed" in failed.error
    stack.calls.fail.clear()  # the provider is back

    await stack.workflows.UpdateWorkflow(
        ingestion_pb2.UpdateWorkflowRequest(workflow_id=created.id, spec=struct(welcome("second try", onFailure="stop", retry="none"))),
        metadata=stack.md(),
    )
    retried = await stack.workflows.RetryRun(ingestion_pb2.RetryRunRequest(run_id=run_id), metadata=stack.md())
    assert retried.run_id == f"{run_id}/retry-1" and retried.workflow_version == 2
    result = await stack.run_result(retried.run_id)

    assert result["status"] == "completed"
    [sent] = stack.calls.of("SendEmail")
    assert sent.subject == "second try" and sent.idempotency_key == f"{run_id}/retry-1/0"
    again = await stack.workflows.RetryRun(ingestion_pb2.RetryRunRequest(run_id=run_id), metadata=stack.md())
    assert again.run_id == f"{run_id}/retry-2"
    await stack.run_result(again.run_id)
    with pytest.raises(grpc.aio.AioRpcError) as succeeded:
        await stack.workflows.RetryRun(ingestion_pb2.RetryRunRequest(run_id=retried.run_id), metadata=stack.md())
    assert succeeded.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_cancel_run(stack: Stack) -> None:
    spec = welcome()
    spec["tasks"].append({"type": "webhook", "url": "https://hooks.example.com/in"})
    created = await stack.create(spec)
    stack.calls.hold = asyncio.Event()
    run_id = (await stack.trigger(created.id, {"userId": "u-ada", "messageId": "m-c"})).json()["runs"][0]["workflowId"]
    while stack.calls.attempts.get("SendEmail", 0) < 1:
        await asyncio.sleep(0.05)

    await stack.workflows.CancelRun(ingestion_pb2.CancelRunRequest(run_id=run_id), metadata=stack.md())
    handle = stack.temporal.get_workflow_handle(run_id)
    while not (await handle.query(TriggeredRunWorkflow.progress)).cancel_requested:
        await asyncio.sleep(0.05)
    stack.calls.hold.set()
    with pytest.raises(Exception):  # noqa: B017 - a canceled run's result is a cancellation
        await handle.result()

    run = await stack.workflows.GetRun(ingestion_pb2.GetRunRequest(run_id=run_id), metadata=stack.md())
    assert run.status == ingestion_pb2.RUN_STATUS_CANCELED
    assert stack.calls.of("SendWebhook") == [] and len(stack.calls.of("SendEmail")) == 1
    with pytest.raises(grpc.aio.AioRpcError) as closed:
        await stack.workflows.CancelRun(ingestion_pb2.CancelRunRequest(run_id=run_id), metadata=stack.md())
    assert closed.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_dry_run_answers_what_would_happen_and_sends_nothing(stack: Stack) -> None:
    spec = welcome("Hi {{ contact.firstName }} on {{ fields.plan }}", conditions={"all": [{"operand": "fields.plan", "operator": "equals", "value": "pro"}]})
    spec["tasks"].append({"type": "webhook", "url": "https://hooks.example.com/in?token=s3cret", "body": {"x": "{{ contact.nickname }}"}})

    reply = await stack.workflows.DryRun(
        ingestion_pb2.DryRunRequest(spec=struct(spec), event=struct({"userId": "u-ada", "plan": "pro"})), metadata=stack.md()
    )

    assert reply.matched and reply.conditions_met and reply.contact_status == "loaded" and reply.outcome == "completed"
    assert [task.outcome for task in reply.tasks] == ["would_run", "would_run"]
    assert json_format.MessageToDict(reply.tasks[0].input)["subject"] == "Hi Ada on pro"
    assert json_format.MessageToDict(reply.tasks[1].input)["url"] == "https://hooks.example.com/in?••••"
    assert "task 1 (webhook): contact.nickname has no value" in reply.warnings
    assert json_format.MessageToDict(reply.fields) == {"plan": "pro"}
    assert {name for name in stack.calls.made} == {"LoadContactDetails"}

    created = await stack.create(spec)
    unmet = await stack.workflows.DryRun(
        ingestion_pb2.DryRunRequest(workflow_id=created.id, event=struct({"userId": "u-ada", "plan": "free"})), metadata=stack.md()
    )
    assert unmet.matched and not unmet.conditions_met and unmet.outcome == "conditions_not_met"
    assert any("fields.plan equals 'pro'" in line for line in unmet.condition_explanation)

    segment_spec = {"name": "VIP", "trigger": {"type": "segment_membership", "segmentId": "SEG_vip", "changes": ["ADDED"]},
                    "tasks": spec["tasks"][:1]}
    other_change = await stack.workflows.DryRun(
        ingestion_pb2.DryRunRequest(spec=struct(segment_spec), event=struct({"segmentId": "SEG_vip", "contactId": "CID_ada",
                                                                              "directoryId": "POOL_1", "change": "REMOVED"})),
        metadata=stack.md(),
    )
    assert not other_change.matched
    added = await stack.workflows.DryRun(
        ingestion_pb2.DryRunRequest(spec=struct(segment_spec), event=struct({"segmentId": "SEG_vip", "contactId": "CID_ada",
                                                                              "directoryId": "POOL_1", "change": "ADDED"})),
        metadata=stack.md(),
    )
    assert added.matched and added.tasks[0].outcome == "would_run"
    assert {name for name in stack.calls.made} == {"LoadContactDetails"}

    for bad in (ingestion_pb2.DryRunRequest(event=struct({})), ingestion_pb2.DryRunRequest(spec=struct({"name": "x"}))):
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await stack.workflows.DryRun(bad, metadata=stack.md())
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT



def test_a_frequency_cap_needs_a_contact_id_the_run_knows() -> None:
    # Without loading the contact, a run by ext ref has no contact id: the cap would be skipped silently.
    # (Checked on parse_definition: a Struct carries the count as 1.0, which CreateWorkflow refuses today.)
    cap = {"count": 1, "period": "7d"}
    with pytest.raises(InvalidDefinition) as refused:
        parse_definition(welcome(loadContact=False, frequencyCap=cap))
    assert refused.value.field == "spec.frequencyCap" and "loadContact" in str(refused.value)

    by_id = welcome(loadContact=False, frequencyCap=cap, contact={"directoryId": "POOL_1", "lookup": "contactId", "path": "$.userId"})
    assert parse_definition(by_id).frequency_cap is not None
    assert parse_definition(welcome(frequencyCap=cap)).frequency_cap is not None  # loaded: its id is known
