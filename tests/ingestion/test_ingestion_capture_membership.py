"""Capture mode, auto-mapping over HTTP and gRPC, SendBatch, subscription CRUD, and segment-membership routing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf import json_format, struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from ingestion_stack import API_TOKEN, ORGANIZATION, OTHER_API_TOKEN, OTHER_ORGANIZATION, IngestionStack, inbox_rows, welcome_spec
from sqlalchemy import insert

from cxflow.v1 import ingestion_pb2
from services.common.db import create_engine
from services.ingestion.models import TriggerCapture
from workflows.contracts import run_workflow_id

TOKEN = {"X-API-TOKEN": API_TOKEN}


def struct(values: dict) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(values)
    return result


def membership_spec(segment_id: str = "SEG_vip", changes: list[str] | None = None) -> dict:
    return {
        "name": "VIP welcome",
        "trigger": {"type": "segment_membership", "segmentId": segment_id, "changes": changes or ["ADDED"]},
        "tasks": [{"type": "email", "to": ["{{ contact.email }}"], "subject": "Welcome", "text": "You are a VIP"}],
    }


def membership_event(event_id: str, segment_id: str = "SEG_vip", change: int = ingestion_pb2.MEMBERSHIP_CHANGE_ADDED):
    occurred = Timestamp()
    occurred.FromJsonString("2026-11-23T10:00:00Z")
    return ingestion_pb2.MembershipEvent(
        event_id=event_id, directory_id="POOL_a", segment_id=segment_id, segment_name="VIP", contact_id="CID_1",
        change=change, occurred_at=occurred,
    )


async def test_capture_records_the_next_events_of_a_trigger_over_http(stack: IngestionStack) -> None:
    workflow = await stack.create_workflow(welcome_spec())
    url = f"/triggers/{workflow.id}/capture"
    assert (await stack.http.get(url, headers=TOKEN)).status_code == 404  # no capture yet
    started = await stack.http.post(url, json={"count": 2}, headers=TOKEN)
    assert started.status_code == 201, started.text
    assert started.json()["requested"] == 2 and started.json()["remaining"] == 2 and started.json()["events"] == []

    events = [{"messageId": f"e{i}", "userId": "u", "traits": {"firstName": "Ada"}} for i in range(3)]
    answers = [await stack.http.post(f"/triggers/{workflow.id}", json=e, headers=TOKEN) for e in events]
    assert [a.json().get("captured", False) for a in answers] == [True, True, False]
    # An event whose mapping fails is still captured (that is when a user needs to see it).
    await stack.http.post(url, json={"count": 1}, headers=TOKEN)
    failing = await stack.http.post(f"/triggers/{workflow.id}", json={"messageId": "bad", "userId": "u", "traits": {"age": "old"}}, headers=TOKEN)
    assert failing.status_code == 400
    capture = (await stack.http.get(url, headers=TOKEN)).json()
    assert capture["remaining"] == 0 and [e["eventId"] for e in capture["events"]] == ["bad"]
    assert capture["events"][0]["payload"]["traits"] == {"age": "old"} and capture["events"][0]["via"] == "trigger_url"

    # gRPC sees the same capture; other organizations see no workflow at all.
    reply = await stack.sources.GetTriggerCapture(ingestion_pb2.GetTriggerCaptureRequest(workflow_id=workflow.id), metadata=stack.as_org())
    assert [e.event_id for e in reply.events] == ["bad"]
    assert json_format.MessageToDict(reply.events[0].payload)["messageId"] == "bad"
    other = await stack.http.get(url, headers={"X-API-TOKEN": OTHER_API_TOKEN})
    assert other.status_code == 404
    for bad in ({"count": 0}, {"count": 101}, {"count": "two"}, {"other": 1}):
        response = await stack.http.post(url, json=bad, headers=TOKEN)
        assert response.status_code == 400, bad
    assert (await stack.http.post(url, json={"count": 1})).status_code == 401


async def test_a_workflow_id_reused_by_another_organization_starts_clean(stack: IngestionStack) -> None:
    reused = f"WF_reused{uuid.uuid4().hex[:8]}"  # Temporal outlives the test's database: a fresh id per run
    await stack.create_workflow(welcome_spec(), workflow_id=reused)
    url = f"/triggers/{reused}/capture"
    assert (await stack.http.post(url, json={"count": 2}, headers=TOKEN)).status_code == 201
    event = {"messageId": "same-1", "userId": "u", "traits": {"firstName": "Ada"}}
    first = (await stack.http.post(f"/triggers/{reused}", json=event, headers=TOKEN)).json()
    assert first["captured"] is True
    await stack.workflows.DeleteWorkflow(ingestion_pb2.DeleteWorkflowRequest(workflow_id=reused), metadata=stack.as_org())

    await stack.create_workflow(welcome_spec(), workflow_id=reused, organization_id=OTHER_ORGANIZATION)
    other_token = {"X-API-TOKEN": OTHER_API_TOKEN}
    # The first organization's capture went with its workflow: the new owner has none.
    assert (await stack.http.get(url, headers=other_token)).status_code == 404
    # The same event id starts the new owner's own run, not a "duplicate" of the other organization's.
    second = (await stack.http.post(f"/triggers/{reused}", json=event, headers=other_token)).json()
    [run] = second["runs"]
    assert run["duplicate"] is False and run["workflowId"] != first["runs"][0]["workflowId"]
    assert run["workflowId"] == run_workflow_id(OTHER_ORGANIZATION, reused, "same-1")

    # A capture row of another organization (left by a version without this clean-up) is not read either.
    engine = create_engine(stack.settings.database_url_for("ingestion"))
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(TriggerCapture).values(
                workflow_id=reused, organization_id=ORGANIZATION, requested=1, remaining=1, started_at=datetime.now(UTC)))
    finally:
        await engine.dispose()
    assert (await stack.http.get(url, headers=other_token)).status_code == 404
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.sources.GetTriggerCapture(
            ingestion_pb2.GetTriggerCaptureRequest(workflow_id=reused), metadata=stack.as_org(OTHER_ORGANIZATION)
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_capture_of_subscription_events_and_grpc_start(stack: IngestionStack) -> None:
    workflow = await stack.create_workflow(welcome_spec())
    source = await stack.create_source()
    await stack.sources.CreateSubscription(
        ingestion_pb2.CreateSubscriptionRequest(subscription=ingestion_pb2.Subscription(
            source_id=source.id, name="s", action=ingestion_pb2.SUBSCRIPTION_ACTION_START_WORKFLOW,
            filter='type = "track"', workflow_id=workflow.id, enabled=True)),
        metadata=stack.as_org(),
    )
    started = await stack.sources.StartTriggerCapture(
        ingestion_pb2.StartTriggerCaptureRequest(workflow_id=workflow.id, count=1), metadata=stack.as_org()
    )
    assert started.requested == 1 and started.remaining == 1
    reply = await stack.sources.SendEvent(
        ingestion_pb2.SendEventRequest(source_id=source.id, message=struct({"type": "track", "userId": "u-7", "event": "E", "messageId": "sub-1"})),
        metadata=stack.as_org(),
    )
    assert reply.message_id == "sub-1"
    for _ in range(200):  # the inbox processor routes the event shortly after it is accepted
        [row] = await inbox_rows(stack.settings.database_url)
        if row.status != "pending":
            break
        await asyncio.sleep(0.05)
    assert row.status == "processed", row.error
    await stack.temporal.get_workflow_handle(run_workflow_id(ORGANIZATION, workflow.id, "sub-1")).result()
    capture = await stack.sources.GetTriggerCapture(ingestion_pb2.GetTriggerCaptureRequest(workflow_id=workflow.id), metadata=stack.as_org())
    assert [(e.event_id, e.via) for e in capture.events] == [("sub-1", "subscription")]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.sources.StartTriggerCapture(
            ingestion_pb2.StartTriggerCaptureRequest(workflow_id=workflow.id, count=1), metadata=stack.as_org(OTHER_ORGANIZATION)
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_propose_mappings_over_http_and_grpc(stack: IngestionStack) -> None:
    sample = {"userId": "u", "traits": {"age": 36, "vip": False}}
    expected = [
        {"name": "userId", "path": "$.userId", "type": "string"},
        {"name": "age", "path": "$.traits.age", "type": "number"},
        {"name": "vip", "path": "$.traits.vip", "type": "boolean"},
    ]
    response = await stack.http.post("/mappings/propose", json=sample, headers=TOKEN)
    assert response.status_code == 200 and response.json() == {"mappings": expected}
    assert (await stack.http.post("/mappings/propose", json=sample)).status_code == 401
    assert (await stack.http.post("/mappings/propose", content=b"[1]", headers=TOKEN)).status_code == 400
    reply = await stack.sources.ProposeMappings(ingestion_pb2.ProposeMappingsRequest(sample=struct(sample)), metadata=stack.as_org())
    # A Struct keeps no key order, so the proposals come in the order its keys arrive.
    assert sorted((m.name, m.path, m.type) for m in reply.mappings) == sorted((e["name"], e["path"], e["type"]) for e in expected)


async def test_send_batch_merges_context_and_dedups(stack: IngestionStack) -> None:
    source = await stack.create_source()
    request = ingestion_pb2.SendBatchRequest(
        source_id=source.id,
        messages=[struct({"type": "identify", "userId": "u1", "messageId": "b1"}), struct({"type": "track", "userId": "u1", "event": "E", "messageId": "b2"})],
        context=struct({"ip": "1.2.3.4"}),
    )
    first = await stack.sources.SendBatch(request, metadata=stack.as_org())
    again = await stack.sources.SendBatch(request, metadata=stack.as_org())
    assert [(r.message_id, r.duplicate) for r in first.results] == [("b1", False), ("b2", False)]
    assert [r.duplicate for r in again.results] == [True, True]
    rows = await inbox_rows(stack.settings.database_url)
    assert [r.message_id for r in rows] == ["b1", "b2"] and rows[0].payload["context"] == {"ip": "1.2.3.4"}
    bad = ingestion_pb2.SendBatchRequest(source_id=source.id, messages=[struct({"type": "track", "userId": "u1"})])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.sources.SendBatch(bad, metadata=stack.as_org())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "batch[0].event" in (caught.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.sources.SendBatch(request, metadata=stack.as_org(OTHER_ORGANIZATION))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert len(await inbox_rows(stack.settings.database_url)) == 2


async def test_subscription_get_update_delete(stack: IngestionStack) -> None:
    source = await stack.create_source()
    created = await stack.sources.CreateSubscription(
        ingestion_pb2.CreateSubscriptionRequest(subscription=ingestion_pb2.Subscription(
            source_id=source.id, name="contacts", action=ingestion_pb2.SUBSCRIPTION_ACTION_UPSERT_CONTACT,
            directory_id="POOL_a", enabled=True,
            mappings=[ingestion_pb2.FieldMapping(name="language", type="string", value=struct_pb2.Value(string_value="EN"))])),
        metadata=stack.as_org(),
    )
    assert created.filter == 'type = "identify"'
    assert created.mappings[0].value.string_value == "EN" and created.mappings[0].path == ""
    fetched = await stack.sources.GetSubscription(ingestion_pb2.GetSubscriptionRequest(subscription_id=created.id), metadata=stack.as_org())
    assert fetched == created
    changed = ingestion_pb2.Subscription(id=created.id, filter='type = "identify" and traits.plan = "pro"', enabled=False)
    updated = await stack.sources.UpdateSubscription(ingestion_pb2.UpdateSubscriptionRequest(subscription=changed), metadata=stack.as_org())
    assert updated.filter == 'type = "identify" and traits.plan = "pro"' and not updated.enabled and updated.name == "contacts"
    broken = ingestion_pb2.Subscription(id=created.id, filter='type = = "x"')
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.sources.UpdateSubscription(ingestion_pb2.UpdateSubscriptionRequest(subscription=broken), metadata=stack.as_org())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    for call in (
        stack.sources.GetSubscription(ingestion_pb2.GetSubscriptionRequest(subscription_id=created.id), metadata=stack.as_org(OTHER_ORGANIZATION)),
        stack.sources.DeleteSubscription(ingestion_pb2.DeleteSubscriptionRequest(subscription_id=created.id), metadata=stack.as_org(OTHER_ORGANIZATION)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    await stack.sources.DeleteSubscription(ingestion_pb2.DeleteSubscriptionRequest(subscription_id=created.id), metadata=stack.as_org())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.sources.GetSubscription(ingestion_pb2.GetSubscriptionRequest(subscription_id=created.id), metadata=stack.as_org())
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_membership_events_start_matching_workflows_once(stack: IngestionStack) -> None:
    vip = await stack.create_workflow(membership_spec())
    opted = await stack.create_workflow(membership_spec(changes=["OPTED_IN", "ADDED"]))
    await stack.create_workflow(membership_spec(segment_id="SEG_other"))
    disabled = membership_spec()
    disabled["enabled"] = False
    await stack.create_workflow(disabled)
    await stack.create_workflow(welcome_spec())  # a JSON-event workflow never hears membership events
    await stack.create_workflow(membership_spec(), organization_id=OTHER_ORGANIZATION)

    publish = stack.sources.PublishMembershipEvent
    reply = await publish(ingestion_pb2.PublishMembershipEventRequest(event=membership_event("ob-1")), metadata=stack.as_org())
    assert not reply.duplicate
    assert sorted(reply.started_workflow_ids) == sorted([run_workflow_id(ORGANIZATION, vip.id, "ob-1"), run_workflow_id(ORGANIZATION, opted.id, "ob-1")])
    run_input = await stack.temporal.get_workflow_handle(run_workflow_id(ORGANIZATION, vip.id, "ob-1")).result()
    assert run_input["trigger"] == "segment_membership"
    assert run_input["contact"] == {"directory_id": "POOL_a", "contact_id": "CID_1", "lookup_field": "", "lookup_value": ""}
    assert run_input["event"] == {
        "type": "segment_membership", "eventId": "ob-1", "directoryId": "POOL_a", "segmentId": "SEG_vip", "segmentName": "VIP",
        "contactId": "CID_1", "change": "ADDED", "occurredAt": "2026-11-23T10:00:00.000Z",
    }

    again = await publish(ingestion_pb2.PublishMembershipEventRequest(event=membership_event("ob-1")), metadata=stack.as_org())
    assert again.duplicate and list(again.started_workflow_ids) == []
    opted_in = await publish(
        ingestion_pb2.PublishMembershipEventRequest(event=membership_event("ob-2", change=ingestion_pb2.MEMBERSHIP_CHANGE_OPTED_IN)),
        metadata=stack.as_org(),
    )
    assert list(opted_in.started_workflow_ids) == [run_workflow_id(ORGANIZATION, opted.id, "ob-2")]
    removed = await publish(
        ingestion_pb2.PublishMembershipEventRequest(event=membership_event("ob-3", change=ingestion_pb2.MEMBERSHIP_CHANGE_REMOVED)),
        metadata=stack.as_org(),
    )
    assert not removed.duplicate and list(removed.started_workflow_ids) == []
    # The same event id in another organization is another event.
    other = await publish(ingestion_pb2.PublishMembershipEventRequest(event=membership_event("ob-1")), metadata=stack.as_org(OTHER_ORGANIZATION))
    assert not other.duplicate and len(other.started_workflow_ids) == 1

    # An organization's API token may not publish membership events: only the directory's internal token may.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await publish(
            ingestion_pb2.PublishMembershipEventRequest(event=membership_event("forged")),
            metadata=(("authorization", f"Bearer {API_TOKEN}"),),
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    forged_again = await publish(ingestion_pb2.PublishMembershipEventRequest(event=membership_event("forged")), metadata=stack.as_org())
    assert not forged_again.duplicate  # the refused call recorded nothing

    for bad in (ingestion_pb2.MembershipEvent(), membership_event("x", change=ingestion_pb2.MEMBERSHIP_CHANGE_UNSPECIFIED)):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await publish(ingestion_pb2.PublishMembershipEventRequest(event=bad), metadata=stack.as_org())
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_send_event_refuses_non_finite_numbers(stack: IngestionStack) -> None:
    source = await stack.create_source()
    message = struct({"type": "track", "userId": "u", "event": "E"})
    message["properties"] = {"score": float("nan")}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.sources.SendEvent(ingestion_pb2.SendEventRequest(source_id=source.id, message=message), metadata=stack.as_org())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await inbox_rows(stack.settings.database_url) == []
