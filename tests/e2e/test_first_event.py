"""The thin path through every real part: a Segment identify creates a contact, a trigger-URL event emails it."""

from __future__ import annotations

import asyncio

import grpc
import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus

from cxflow.demo import DEMO_DIRECTORY_ID, DEMO_ORGANIZATION_ID, ensure_demo, read_demo_env
from cxflow.v1 import common_pb2, directory_pb2, directory_pb2_grpc, ingestion_pb2, notification_pb2
from services.common.auth import internal_metadata
from tests.e2e.conftest import LiveStack

pytestmark = pytest.mark.e2e


async def _find_contact(stack: LiveStack, ext_ref: str) -> list[directory_pb2.Contact]:
    async with grpc.aio.insecure_channel(stack.settings.directory_grpc_target) as channel:
        reply = await directory_pb2_grpc.DirectoryServiceStub(channel).SearchContacts(
            directory_pb2.SearchContactsRequest(
                directory_id=DEMO_DIRECTORY_ID,
                filter=directory_pb2.ContactFilter(field=directory_pb2.FieldFilter(field="extRef", comparison="eq", value=ext_ref)),
            ),
            metadata=(("authorization", f"Bearer {stack.credentials.api_token}"),),
        )
    return list(reply.contacts)


async def _wait_for_contact(stack: LiveStack, ext_ref: str, timeout: float = 15.0) -> directory_pb2.Contact:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        contacts = await _find_contact(stack, ext_ref)
        if contacts:
            return contacts[0]
        assert asyncio.get_running_loop().time() < deadline, f"no contact with extRef {ext_ref} after {timeout}s"
        await asyncio.sleep(0.1)


async def test_identify_then_trigger_sends_the_welcome_email(live_stack: LiveStack) -> None:
    stack = live_stack
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=10) as http:
        identify = await http.post(
            "/v1/identify",
            auth=(stack.credentials.write_key, ""),
            json={
                "userId": "u-1001",
                "messageId": "msg-identify-1001",
                "traits": {"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace", "plan": "pro"},
            },
        )
        assert identify.status_code == 200, identify.text
        assert identify.json() == {"success": True}

        contact = await _wait_for_contact(stack, "u-1001")
        assert (contact.first_name, contact.last_name, contact.email) == ("Ada", "Lovelace", "ada@example.com")
        assert contact.embedded_data["plan"] == "pro"

        triggered = await http.post(
            stack.credentials.trigger_url.removeprefix(stack.http_url),
            headers={"X-API-TOKEN": stack.credentials.api_token},
            json={"userId": "u-1001", "messageId": "evt-signup-1001", "properties": {"plan": "pro"}},
        )
    assert triggered.status_code == 202, triggered.text
    runs = triggered.json()["runs"]
    assert len(runs) == 1 and runs[0]["duplicate"] is False

    handle = stack.temporal_client.get_workflow_handle(runs[0]["workflowId"])
    result = await asyncio.wait_for(handle.result(), timeout=60)  # untyped handle: the result as JSON
    assert result["status"] == "completed", result
    assert [task["status"] for task in result["tasks"]] == ["succeeded"]
    assert result["contact_id"] == contact.id
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED

    # The run is visible through Temporal's visibility API, by workflow id.
    query = f"WorkflowId = '{handle.id}'"
    for _ in range(100):
        listed = [w async for w in stack.temporal_client.list_workflows(query)]
        if listed:
            break
        await asyncio.sleep(0.1)
    assert [w.id for w in listed] == [handle.id]
    assert listed[0].status == WorkflowExecutionStatus.COMPLETED

    messages = await stack.mail.wait_for(1)
    await asyncio.sleep(0.5)  # a second email, if one were ever sent, would arrive within this
    assert len(stack.mail.messages) == 1
    email = messages[0]
    assert email["To"] == "ada@example.com"
    assert email["Subject"] == "Welcome to cxflow, Ada!"
    assert "Hi Ada," in email.get_body(preferencelist=("plain",)).get_content()
    assert "pro plan" in email.get_body(preferencelist=("plain",)).get_content()
    assert (stack.settings.data_dir / "mail").exists() and list((stack.settings.data_dir / "mail").glob("*.eml"))


async def test_demo_setup_is_idempotent(live_stack: LiveStack) -> None:
    again = await ensure_demo(live_stack.settings)
    assert again == live_stack.credentials
    env = read_demo_env(live_stack.settings.data_dir / "demo.env")
    assert env["CXFLOW_API_TOKEN"] == again.api_token
    assert env["CXFLOW_WRITE_KEY"] == again.write_key
    assert env["CXFLOW_DIRECTORY_ID"] == DEMO_DIRECTORY_ID
    assert env["CXFLOW_MAILING_LIST_ID"] == again.mailing_list_id
    assert env["CXFLOW_DEMO_TRIGGER_URL"] == again.trigger_url
    async with grpc.aio.insecure_channel(live_stack.settings.directory_grpc_target) as channel:
        directories = await directory_pb2_grpc.DirectoryServiceStub(channel).ListDirectories(
            directory_pb2.ListDirectoriesRequest(page=common_pb2.PageRequest()),
            metadata=internal_metadata(live_stack.settings.resolved_internal_token(), DEMO_ORGANIZATION_ID),
        )
    assert [d.id for d in directories.directories] == [DEMO_DIRECTORY_ID]


def _all_methods() -> list[tuple[str, str, object, object]]:
    """(target setting, '/pkg.Service/Method', request class, response class) for every cxflow RPC."""
    from google.protobuf import symbol_database

    files = {
        "directory_grpc_target": directory_pb2.DESCRIPTOR,
        "ingestion_grpc_target": ingestion_pb2.DESCRIPTOR,
        "notification_grpc_target": notification_pb2.DESCRIPTOR,
    }
    db = symbol_database.Default()
    methods = []
    for target, file_descriptor in files.items():
        for service in file_descriptor.services_by_name.values():
            for method in service.methods:
                methods.append(
                    (
                        target,
                        f"/{service.full_name}/{method.name}",
                        db.GetSymbol(method.input_type.full_name),
                        db.GetSymbol(method.output_type.full_name),
                    )
                )
    return methods


async def test_every_grpc_method_refuses_calls_without_a_valid_token(live_stack: LiveStack) -> None:
    methods = _all_methods()
    assert len(methods) >= 15
    for target, path, request_class, response_class in methods:
        async with grpc.aio.insecure_channel(getattr(live_stack.settings, target)) as channel:
            call = channel.unary_unary(path, request_serializer=request_class.SerializeToString, response_deserializer=response_class.FromString)
            for metadata in ((), (("authorization", "Bearer cxf_not-a-real-token-000000000000"),)):
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await call(request_class(), metadata=metadata, timeout=10)
                assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, f"{path} with {metadata or 'no token'}"
