"""The real activity classes against the real directory and notification services (and a real SMTP catcher)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import grpc
import pytest
from google.protobuf import struct_pb2
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from cxflow.mailcatcher import MailCatcher
from cxflow.v1 import directory_pb2, directory_pb2_grpc, notification_pb2_grpc
from services.common.auth import internal_metadata
from services.common.settings import Settings
from services.directory.server import start_directory
from services.notification.server import start_notification
from workflows.activities.directory import ContactDetails, DirectoryActivities, LoadContactInput
from workflows.activities.notification import NotificationActivities, SendEmailInput, SendEmailOutput
from workflows.contracts import ContactRef, TriggeredRunInput, TriggeredRunResult, WorkflowSnapshot
from workflows.triggered_run import TriggeredRunWorkflow
from workflows.worker import build_worker


@dataclass
class Stack:
    settings: Settings
    token: str
    organization_id: str
    directory_id: str
    ada_id: str
    directory_channel: grpc.aio.Channel
    notification_channel: grpc.aio.Channel
    catcher: MailCatcher

    def directory_activities(self) -> DirectoryActivities:
        return DirectoryActivities(directory_pb2_grpc.DirectoryServiceStub(self.directory_channel), self.token)

    def notification_activities(self) -> NotificationActivities:
        return NotificationActivities(notification_pb2_grpc.NotificationServiceStub(self.notification_channel), self.token)


async def _seed_directory(channel: grpc.aio.Channel, token: str) -> tuple[str, str, str]:
    """An organization, a directory that dedups by email only, Ada, and two contacts sharing one ext ref."""
    organizations = directory_pb2_grpc.OrganizationServiceStub(channel)
    organization = await organizations.CreateOrganization(
        directory_pb2.CreateOrganizationRequest(name="Acme"), metadata=internal_metadata(token)
    )
    metadata = internal_metadata(token, organization.id)
    directories = directory_pb2_grpc.DirectoryServiceStub(channel)
    directory = await directories.CreateDirectory(
        directory_pb2.CreateDirectoryRequest(
            name="Customers", dedup_rules=[directory_pb2.DedupRule(fields=[directory_pb2.DEDUP_FIELD_EMAIL])]
        ),
        metadata=metadata,
    )
    embedded = struct_pb2.Struct()
    embedded.update({"tier": "gold", "visits": 3})
    ada = await directories.UpsertContact(
        directory_pb2.UpsertContactRequest(
            directory_id=directory.id,
            contact=directory_pb2.ContactInput(
                first_name="Ada", last_name="Lovelace", email="ada@example.com", ext_ref="u-ada", embedded_data=embedded
            ),
        ),
        metadata=metadata,
    )
    for email in ("twin1@example.com", "twin2@example.com"):
        await directories.UpsertContact(
            directory_pb2.UpsertContactRequest(
                directory_id=directory.id, contact=directory_pb2.ContactInput(email=email, ext_ref="u-twin")
            ),
            metadata=metadata,
        )
    return organization.id, directory.id, ada.contact_id


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    catcher = MailCatcher("127.0.0.1", 0)
    await catcher.start()
    directory = await start_directory(settings)
    settings = settings.with_overrides(
        smtp_host="127.0.0.1",
        smtp_port=catcher.port,
        directory_grpc_target=f"127.0.0.1:{directory.grpc_port}",
    )
    notification = await start_notification(settings)
    token = settings.resolved_internal_token()
    directory_channel = grpc.aio.insecure_channel(f"127.0.0.1:{directory.grpc_port}")
    notification_channel = grpc.aio.insecure_channel(f"127.0.0.1:{notification.grpc_port}")
    try:
        organization_id, directory_id, ada_id = await _seed_directory(directory_channel, token)
        yield Stack(
            settings, token, organization_id, directory_id, ada_id, directory_channel, notification_channel, catcher
        )
    finally:
        await directory_channel.close()
        await notification_channel.close()
        await notification.stop()
        await directory.stop()
        await catcher.stop()


async def test_load_contact_by_id(stack: Stack) -> None:
    ref = ContactRef(directory_id=stack.directory_id, contact_id=stack.ada_id)

    contact = await ActivityEnvironment().run(
        stack.directory_activities().load_contact_details, LoadContactInput(stack.organization_id, ref)
    )

    assert contact == ContactDetails(
        id=stack.ada_id,
        directory_id=stack.directory_id,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        ext_ref="u-ada",
        embedded_data={"tier": "gold", "visits": 3},
    )
    assert contact.as_template_context()["embeddedData"] == {"tier": "gold", "visits": 3}


async def test_load_contact_by_ext_ref(stack: Stack) -> None:
    ref = ContactRef(directory_id=stack.directory_id, lookup_field="extRef", lookup_value="u-ada")

    contact = await ActivityEnvironment().run(
        stack.directory_activities().load_contact_details, LoadContactInput(stack.organization_id, ref)
    )

    assert contact.id == stack.ada_id and contact.first_name == "Ada"


@pytest.mark.parametrize(
    "ref_fields",
    [
        {"contact_id": "CID_doesnotexist"},
        {"lookup_field": "extRef", "lookup_value": "u-nobody"},
        {"lookup_field": "email", "lookup_value": "nobody@example.com"},
    ],
)
async def test_unknown_contact_is_contact_not_found(stack: Stack, ref_fields: dict[str, str]) -> None:
    ref = ContactRef(directory_id=stack.directory_id, **ref_fields)

    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(
            stack.directory_activities().load_contact_details, LoadContactInput(stack.organization_id, ref)
        )

    assert raised.value.type == "ContactNotFound" and raised.value.non_retryable


async def test_two_contacts_with_the_lookup_value_are_ambiguous(stack: Stack) -> None:
    ref = ContactRef(directory_id=stack.directory_id, lookup_field="extRef", lookup_value="u-twin")

    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(
            stack.directory_activities().load_contact_details, LoadContactInput(stack.organization_id, ref)
        )

    assert raised.value.type == "AmbiguousContact" and raised.value.non_retryable


async def test_another_organizations_contact_is_not_found(stack: Stack) -> None:
    ref = ContactRef(directory_id=stack.directory_id, contact_id=stack.ada_id)

    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(
            stack.directory_activities().load_contact_details, LoadContactInput("ORG_someone_else", ref)
        )

    assert raised.value.type == "ContactNotFound"


async def test_send_email_reaches_the_catcher_once_for_one_key(stack: Stack) -> None:
    email = SendEmailInput(
        organization_id=stack.organization_id,
        idempotency_key=f"run-{uuid.uuid4()}/0",
        from_address="team@acme.example",
        to=["ada@example.com"],
        subject="Welcome, Ada!",
        text_body="Hi Ada, thanks for joining.",
        html_body="<p>Hi Ada, thanks for joining.</p>",
    )
    send = stack.notification_activities().send_email

    first = await ActivityEnvironment().run(send, email)
    second = await ActivityEnvironment().run(send, email)

    assert first.message_id and first.duplicate is False
    assert second == SendEmailOutput(message_id=first.message_id, duplicate=True)
    [message] = await stack.catcher.wait_for(1)
    assert message["Subject"] == "Welcome, Ada!"
    assert message["To"] == "ada@example.com"
    # A third key-identical call still sends nothing: only one message ever arrived.
    await ActivityEnvironment().run(send, email)
    assert len(stack.catcher.messages) == 1


async def test_send_email_without_recipients_is_refused_for_good(stack: Stack) -> None:
    email = SendEmailInput(organization_id=stack.organization_id, idempotency_key=f"run-{uuid.uuid4()}/0", subject="x")

    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(stack.notification_activities().send_email, email)

    assert raised.value.type == "INVALID_ARGUMENT" and raised.value.non_retryable
    assert stack.catcher.messages == []


async def test_a_run_on_the_built_worker_emails_the_contact(stack: Stack, temporal_client: Client, task_queue: str) -> None:
    spec = {
        "name": "Welcome",
        "trigger": {"type": "json_event"},
        "contact": {"directoryId": stack.directory_id, "lookup": "extRef", "path": "$.userId"},
        "tasks": [
            {
                "type": "email",
                "to": ["{{ contact.email }}"],
                "subject": "Welcome, ${m://FirstName}!",
                "text": "Hi {{ contact.firstName }}, you are ${e://Field/tier}.",
                "html": "<p>Hi {{ contact.firstName }}</p>",
            }
        ],
    }
    input = TriggeredRunInput(
        organization_id=stack.organization_id,
        workflow=WorkflowSnapshot(workflow_id="WF_welcome", version=1, name="Welcome", spec=spec),
        event_id="evt-1",
        trigger="json_event",
        event={"type": "identify", "userId": "u-ada"},
        contact=ContactRef(directory_id=stack.directory_id, lookup_field="extRef", lookup_value="u-ada"),
    )
    worker = build_worker(
        temporal_client,
        task_queue=task_queue,
        directory_channel=stack.directory_channel,
        notification_channel=stack.notification_channel,
        internal_token=stack.token,
    )
    async with worker:
        result = await temporal_client.execute_workflow(
            TriggeredRunWorkflow.run,
            input,
            id=f"run-test-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=60),
        )

    assert isinstance(result, TriggeredRunResult)
    assert result.status == "completed" and result.contact_id == stack.ada_id
    assert [task.status for task in result.tasks] == ["succeeded"]
    [message] = await stack.catcher.wait_for(1)
    assert message["Subject"] == "Welcome, Ada!"
    assert message.get_body(("plain",)).get_content().strip() == "Hi Ada, you are gold."
    assert result.tasks[0].output["messageId"] == message["Message-ID"]
