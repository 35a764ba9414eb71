"""Activities turn gRPC failures into retryable or non-retryable ApplicationErrors (ActivityEnvironment, real gRPC)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from cxflow.v1 import directory_pb2_grpc, notification_pb2_grpc
from services.common.auth import Authenticator, current_organization, require_internal
from services.common.grpc_server import GrpcService, ServiceRegistration, start_grpc_server
from services.common.settings import Settings
from workflows.activities.directory import DirectoryActivities, LoadContactInput
from workflows.activities.grpc_errors import NON_RETRYABLE_ERROR_TYPES
from workflows.activities.notification import NotificationActivities, SendEmailInput
from workflows.contracts import ContactRef

NON_RETRYABLE = [
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.ALREADY_EXISTS,
]
RETRYABLE = [
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.ABORTED,
]


class NoApiTokens:
    async def resolve(self, token: str) -> str | None:
        return None


class ScriptedDirectory(directory_pb2_grpc.DirectoryServiceServicer):
    """Fails SearchContacts with the status named by the lookup value; records who called."""

    def __init__(self) -> None:
        self.callers: list[str] = []

    async def SearchContacts(self, request, context):  # type: ignore[no-untyped-def]
        require_internal()
        self.callers.append(current_organization())
        await context.abort(grpc.StatusCode[request.filter.field.value], f"scripted {request.filter.field.value}")


class ScriptedNotification(notification_pb2_grpc.NotificationServiceServicer):
    """Fails SendEmail with the status named by the subject."""

    async def SendEmail(self, request, context):  # type: ignore[no-untyped-def]
        require_internal()
        await context.abort(grpc.StatusCode[request.subject], f"scripted {request.subject}")


@pytest.fixture
def token(settings: Settings) -> str:
    return settings.resolved_internal_token()


@pytest.fixture
async def scripted_server(token: str) -> AsyncIterator[tuple[GrpcService, ScriptedDirectory]]:
    directory = ScriptedDirectory()
    service = await start_grpc_server(
        registrations=[
            ServiceRegistration(directory, directory_pb2_grpc.add_DirectoryServiceServicer_to_server, "cxflow.v1.DirectoryService"),
            ServiceRegistration(
                ScriptedNotification(), notification_pb2_grpc.add_NotificationServiceServicer_to_server, "cxflow.v1.NotificationService"
            ),
        ],
        authenticator=Authenticator(token, NoApiTokens()),
        host="127.0.0.1",
        port=0,
    )
    yield service, directory
    await service.stop(0)


@pytest.fixture
async def channel(scripted_server: tuple[GrpcService, ScriptedDirectory]) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{scripted_server[0].port}") as channel:
        yield channel


def lookup(status: grpc.StatusCode) -> LoadContactInput:
    return LoadContactInput("ORG_1", ContactRef("POOL_1", lookup_field="extRef", lookup_value=status.name))


# NOT_FOUND from the directory has its own meaning (ContactNotFound), tested below.
@pytest.mark.parametrize("status", [s for s in NON_RETRYABLE + RETRYABLE if s != grpc.StatusCode.NOT_FOUND], ids=lambda s: s.name)
async def test_directory_errors_carry_the_status_and_retryability(
    channel: grpc.aio.Channel, scripted_server: tuple[GrpcService, ScriptedDirectory], token: str, status: grpc.StatusCode
) -> None:
    activities = DirectoryActivities(directory_pb2_grpc.DirectoryServiceStub(channel), token)

    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(activities.load_contact_details, lookup(status))

    assert raised.value.type == status.name
    assert raised.value.non_retryable is (status in NON_RETRYABLE)
    assert f"scripted {status.name}" in raised.value.message
    assert scripted_server[1].callers == ["ORG_1"]  # the internal token and the organization travelled


async def test_an_unknown_directory_means_contact_not_found(channel: grpc.aio.Channel, token: str) -> None:
    activities = DirectoryActivities(directory_pb2_grpc.DirectoryServiceStub(channel), token)

    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(activities.load_contact_details, lookup(grpc.StatusCode.NOT_FOUND))

    assert raised.value.type == "ContactNotFound" and raised.value.non_retryable


@pytest.mark.parametrize("status", NON_RETRYABLE + RETRYABLE, ids=lambda s: s.name)
async def test_send_email_errors_carry_the_status_and_retryability(
    channel: grpc.aio.Channel, token: str, status: grpc.StatusCode
) -> None:
    activities = NotificationActivities(notification_pb2_grpc.NotificationServiceStub(channel), token)
    email = SendEmailInput("ORG_1", "run-1/0", to=["a@example.com"], subject=status.name)

    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(activities.send_email, email)

    assert raised.value.type == status.name
    assert raised.value.non_retryable is (status in NON_RETRYABLE)


async def test_a_wrong_token_is_unauthenticated_and_not_retried(channel: grpc.aio.Channel) -> None:
    activities = NotificationActivities(notification_pb2_grpc.NotificationServiceStub(channel), "cxi_wrong-token-value")
    email = SendEmailInput("ORG_1", "run-1/0", to=["a@example.com"], subject="INTERNAL")

    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(activities.send_email, email)

    assert raised.value.type == "UNAUTHENTICATED" and raised.value.non_retryable


async def test_an_unreachable_service_is_retryable(token: str) -> None:
    # Port 1 on localhost refuses connections: the call fails UNAVAILABLE, which a retry may fix.
    async with grpc.aio.insecure_channel("127.0.0.1:1") as channel:
        activities = NotificationActivities(notification_pb2_grpc.NotificationServiceStub(channel), token)
        with pytest.raises(ApplicationError) as raised:
            await ActivityEnvironment().run(activities.send_email, SendEmailInput("ORG_1", "run-1/0", to=["a@example.com"]))

    assert raised.value.type == "UNAVAILABLE" and not raised.value.non_retryable


def test_the_retry_policy_list_names_exactly_the_non_retryable_statuses() -> None:
    assert sorted(NON_RETRYABLE_ERROR_TYPES) == sorted(status.name for status in NON_RETRYABLE)
