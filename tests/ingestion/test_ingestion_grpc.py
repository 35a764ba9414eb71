"""Ingestion's gRPC API over a real channel: auth on every method, sources, subscriptions, SendEvent, workflows."""

from __future__ import annotations

import asyncio
import re

import grpc
import pytest
from google.protobuf import json_format, message_factory, struct_pb2
from ingestion_stack import API_TOKEN, ORGANIZATION, OTHER_ORGANIZATION, IngestionStack, welcome_spec

from cxflow.v1 import common_pb2, ingestion_pb2
from workflows.contracts import run_workflow_id

UPSERT = ingestion_pb2.SUBSCRIPTION_ACTION_UPSERT_CONTACT
START = ingestion_pb2.SUBSCRIPTION_ACTION_START_WORKFLOW


def struct(values: dict) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(values)
    return result


async def expect_status(call: object, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code, caught.value.details()
    return caught.value.details() or ""


async def test_every_method_needs_a_token(stack: IngestionStack) -> None:
    methods = [
        (service, method)
        for service in ingestion_pb2.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    ]
    names = {f"{service.name}.{method.name}" for service, method in methods}
    assert {"IngestionService.SendBatch", "IngestionService.PublishMembershipEvent", "WorkflowService.CreateWorkflow"} <= names
    for service, method in methods:
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        call = stack.channel.unary_unary(
            f"/{service.full_name}/{method.name}",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        await expect_status(call(request_class()), grpc.StatusCode.UNAUTHENTICATED)
        await expect_status(call(request_class(), metadata=(("authorization", "Bearer cxf_wrong"),)), grpc.StatusCode.UNAUTHENTICATED)


async def test_sources_write_key_once_idempotent_and_scoped(stack: IngestionStack) -> None:
    api = stack.sources
    created = await api.CreateSource(ingestion_pb2.CreateSourceRequest(name="web", id="SRC_web"), metadata=stack.as_org())
    assert created.id == "SRC_web" and re.fullmatch(r"wk_[A-Za-z0-9_\-]{32}", created.write_key)
    again = await api.CreateSource(ingestion_pb2.CreateSourceRequest(name="web", id="SRC_web"), metadata=stack.as_org())
    assert again.id == "SRC_web" and again.write_key == ""
    await expect_status(
        api.CreateSource(ingestion_pb2.CreateSourceRequest(name="web", id="SRC_web"), metadata=stack.as_org(OTHER_ORGANIZATION)),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    await expect_status(api.CreateSource(ingestion_pb2.CreateSourceRequest(name="x", id="WF_x"), metadata=stack.as_org()),
                        grpc.StatusCode.INVALID_ARGUMENT)
    await expect_status(api.CreateSource(ingestion_pb2.CreateSourceRequest(name=""), metadata=stack.as_org()),
                        grpc.StatusCode.INVALID_ARGUMENT)
    generated = await api.CreateSource(ingestion_pb2.CreateSourceRequest(name="app"), metadata=[("authorization", f"Bearer {API_TOKEN}")])
    assert re.fullmatch(r"SRC_[0-9A-Za-z]{15}", generated.id)

    first = await api.ListSources(ingestion_pb2.ListSourcesRequest(page=common_pb2.PageRequest(page_size=1)), metadata=stack.as_org())
    assert len(first.sources) == 1 and first.next_page_token and first.sources[0].write_key == ""
    rest = await api.ListSources(
        ingestion_pb2.ListSourcesRequest(page=common_pb2.PageRequest(page_size=1, page_token=first.next_page_token)), metadata=stack.as_org()
    )
    assert {first.sources[0].id, rest.sources[0].id} == {"SRC_web", generated.id}
    other = await api.ListSources(ingestion_pb2.ListSourcesRequest(), metadata=stack.as_org(OTHER_ORGANIZATION))
    assert list(other.sources) == []


async def test_subscriptions_are_validated(stack: IngestionStack) -> None:
    source = await stack.create_source()
    workflow = await stack.create_workflow(welcome_spec())
    foreign_workflow = await stack.create_workflow(welcome_spec(), organization_id=OTHER_ORGANIZATION)

    async def create(**fields: object) -> ingestion_pb2.Subscription:
        subscription = ingestion_pb2.Subscription(source_id=source.id, name="s", enabled=True, **fields)  # type: ignore[arg-type]
        return await stack.sources.CreateSubscription(ingestion_pb2.CreateSubscriptionRequest(subscription=subscription), metadata=stack.as_org())

    contact = await create(action=UPSERT, directory_id="POOL_x")
    assert contact.filter == 'type = "identify"' and contact.id.startswith("SUB_") and list(contact.mappings) == []
    assert (await create(action=UPSERT, directory_id="POOL_x", id="SUB_fixed")).id == "SUB_fixed"
    assert (await create(action=UPSERT, directory_id="POOL_x", id="SUB_fixed")).id == "SUB_fixed"
    started = await create(action=START, workflow_id=workflow.id, filter='type = "track" and event = "Order Completed"')
    assert started.workflow_id == workflow.id and started.directory_id == ""

    bad = {
        "no action": ({}, "subscription.action"),
        "no directory": ({"action": UPSERT}, "subscription.directory_id"),
        "no workflow": ({"action": START}, "subscription.workflow_id"),
        "bad filter": ({"action": UPSERT, "directory_id": "P", "filter": 'type = "identify" or'}, "subscription.filter"),
        "bad path": ({"action": UPSERT, "directory_id": "P", "mappings": [ingestion_pb2.FieldMapping(name="email", path="$[", type="string")]},
                     "subscription.mappings[0].path"),
        "bad type": ({"action": UPSERT, "directory_id": "P", "mappings": [ingestion_pb2.FieldMapping(name="email", path="$.e", type="date")]},
                     "subscription.mappings[0].type"),
        "bad name": ({"action": UPSERT, "directory_id": "P", "mappings": [ingestion_pb2.FieldMapping(name="nickname", path="$.n")]},
                     "subscription.mappings[0].name"),
    }
    for name, (fields, field) in bad.items():
        details = await expect_status(create(**fields), grpc.StatusCode.INVALID_ARGUMENT)
        assert details.startswith(f"{field}:"), (name, details)
    details = await expect_status(create(action=UPSERT, directory_id="P", filter='type = "identify" or'), grpc.StatusCode.INVALID_ARGUMENT)
    assert "position 20" in details
    await expect_status(create(action=START, workflow_id=foreign_workflow.id), grpc.StatusCode.NOT_FOUND)
    await expect_status(create(action=START, workflow_id="WF_nope"), grpc.StatusCode.NOT_FOUND)

    listed = await stack.sources.ListSubscriptions(ingestion_pb2.ListSubscriptionsRequest(source_id=source.id), metadata=stack.as_org())
    assert {s.id for s in listed.subscriptions} == {contact.id, "SUB_fixed", started.id}
    await expect_status(
        stack.sources.ListSubscriptions(ingestion_pb2.ListSubscriptionsRequest(source_id=source.id), metadata=stack.as_org(OTHER_ORGANIZATION)),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_send_event_dedups_and_is_scoped(stack: IngestionStack) -> None:
    source = await stack.create_source()
    request = ingestion_pb2.SendEventRequest(source_id=source.id, message=struct({"type": "identify", "userId": "u", "messageId": "m-1"}))
    first = await stack.sources.SendEvent(request, metadata=stack.as_org())
    second = await stack.sources.SendEvent(request, metadata=stack.as_org())
    assert (first.message_id, first.duplicate, second.duplicate) == ("m-1", False, True)
    await expect_status(stack.sources.SendEvent(request, metadata=stack.as_org(OTHER_ORGANIZATION)), grpc.StatusCode.NOT_FOUND)
    bad = ingestion_pb2.SendEventRequest(source_id=source.id, message=struct({"type": "track", "userId": "u"}))
    assert (await expect_status(stack.sources.SendEvent(bad, metadata=stack.as_org()), grpc.StatusCode.INVALID_ARGUMENT)).startswith("event:")
    untyped = ingestion_pb2.SendEventRequest(source_id=source.id, message=struct({"userId": "u"}))
    await expect_status(stack.sources.SendEvent(untyped, metadata=stack.as_org()), grpc.StatusCode.INVALID_ARGUMENT)
    internal_without_org = (("authorization", f"Bearer {stack.settings.internal_token}"),)
    await expect_status(stack.sources.SendEvent(request, metadata=internal_without_org), grpc.StatusCode.UNAUTHENTICATED)


async def test_start_workflow_subscription_runs_through_the_processor(stack: IngestionStack) -> None:
    source = await stack.create_source()
    workflow = await stack.create_workflow(welcome_spec())
    subscription = ingestion_pb2.Subscription(
        source_id=source.id, name="orders", action=START, workflow_id=workflow.id, enabled=True,
        filter='type = "track" and event = "Order Completed"',
    )
    await stack.sources.CreateSubscription(ingestion_pb2.CreateSubscriptionRequest(subscription=subscription), metadata=stack.as_org())
    for message_id, event in (("order-1", "Order Completed"), ("signup-1", "Signed Up")):
        message = struct({"type": "track", "event": event, "userId": "u-7", "messageId": message_id, "traits": {"firstName": "Ada"}})
        await stack.sources.SendEvent(ingestion_pb2.SendEventRequest(source_id=source.id, message=message), metadata=stack.as_org())

    handle = stack.temporal.get_workflow_handle(run_workflow_id(ORGANIZATION, workflow.id, "order-1"))
    run_input = None
    for _ in range(200):  # the processor starts the run shortly after the event is accepted
        try:
            run_input = await handle.result()
            break
        except Exception:  # noqa: BLE001 - not started yet
            await asyncio.sleep(0.05)
    assert run_input is not None
    assert run_input["event_id"] == "order-1" and run_input["fields"] == {"firstName": "Ada"}
    assert run_input["contact"]["lookup_value"] == "u-7"
    count = await stack.temporal.count_workflows(f'WorkflowId = "{run_workflow_id(ORGANIZATION, workflow.id, "signup-1")}"')
    assert count.count == 0


async def test_workflows_create_get_list(stack: IngestionStack) -> None:
    created = await stack.create_workflow(welcome_spec())
    assert re.fullmatch(r"WF_[0-9A-Za-z]{15}", created.id)
    assert (created.name, created.enabled, created.version) == ("Welcome", True, 1)
    assert created.spec["tasks"][0]["subject"] == "Hi {{ contact.firstName }}"
    fetched = await stack.workflows.GetWorkflow(ingestion_pb2.GetWorkflowRequest(workflow_id=created.id), metadata=stack.as_org())
    assert fetched == created

    chosen = await stack.create_workflow(welcome_spec(name="Chosen"), workflow_id="WF_chosen")
    again = await stack.create_workflow(welcome_spec(name="Changed"), workflow_id="WF_chosen")
    assert again.name == "Chosen" and again.trigger_url.endswith("/triggers/WF_chosen")
    await expect_status(stack.create_workflow(welcome_spec(), workflow_id="WF_chosen", organization_id=OTHER_ORGANIZATION),
                        grpc.StatusCode.ALREADY_EXISTS)
    listed = await stack.workflows.ListWorkflows(ingestion_pb2.ListWorkflowsRequest(), metadata=stack.as_org())
    assert {w.id for w in listed.workflows} == {created.id, chosen.id}

    await expect_status(
        stack.workflows.GetWorkflow(ingestion_pb2.GetWorkflowRequest(workflow_id=created.id), metadata=stack.as_org(OTHER_ORGANIZATION)),
        grpc.StatusCode.NOT_FOUND,
    )
    bad = welcome_spec()
    bad["tasks"][0]["to"] = []
    details = await expect_status(stack.create_workflow(bad), grpc.StatusCode.INVALID_ARGUMENT)
    assert details.startswith("spec.tasks[0].to:")


async def test_non_finite_numbers_in_a_spec_or_event_are_invalid_arguments(stack: IngestionStack) -> None:
    workflow = await stack.create_workflow(welcome_spec())
    nan_spec = struct(welcome_spec())
    nan_spec["weight"] = float("nan")
    infinite_event = struct({"type": "track", "userId": "u"})
    infinite_event["properties"] = {"total": float("inf")}
    md = stack.as_org()
    for call, field in (
        (stack.workflows.CreateWorkflow(ingestion_pb2.CreateWorkflowRequest(spec=nan_spec), metadata=md), "spec"),
        (stack.workflows.UpdateWorkflow(ingestion_pb2.UpdateWorkflowRequest(workflow_id=workflow.id, spec=nan_spec), metadata=md), "spec"),
        (stack.workflows.DryRun(ingestion_pb2.DryRunRequest(spec=nan_spec, event=struct({"type": "track"})), metadata=md), "spec"),
        (stack.workflows.DryRun(ingestion_pb2.DryRunRequest(workflow_id=workflow.id, event=infinite_event), metadata=md), "event"),
    ):
        details = await expect_status(call, grpc.StatusCode.INVALID_ARGUMENT)
        assert details.startswith(f"{field}:") and "finite" in details
    unchanged = await stack.workflows.GetWorkflow(ingestion_pb2.GetWorkflowRequest(workflow_id=workflow.id), metadata=md)
    assert unchanged.version == 1


async def test_a_frequency_cap_sent_over_grpc_is_accepted_with_whole_numbers(stack: IngestionStack) -> None:
    """A Struct carries every number as a double; the cap's count and period still read as whole numbers."""
    spec = welcome_spec()
    spec["frequencyCap"] = {"count": 2, "period": "24h"}
    workflow = await stack.create_workflow(spec)
    stored = json_format.MessageToDict(workflow.spec)
    assert stored["frequencyCap"]["count"] == 2
