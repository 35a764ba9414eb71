"""Fixtures of the directory tests: a real directory server per test on SQLite and PostgreSQL, channels, organizations,
an adjustable clock, and a recording IngestionService standing in for the other service's API."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from cxflow.v1 import directory_pb2, directory_pb2_grpc, ingestion_pb2, ingestion_pb2_grpc
from services.common.auth import ORGANIZATION_HEADER, internal_metadata
from services.common.settings import Settings
from services.directory.server import DirectoryServer, start_directory


@dataclass(frozen=True)
class Caller:
    """An organization and the metadata of a call made with one of its API tokens."""

    organization_id: str
    token: str

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)


class Clock:
    """The moment segment rules are evaluated at; tests move it instead of sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now = self.now + timedelta(**delta)


@dataclass
class RecordingIngestion(ingestion_pb2_grpc.IngestionServiceServicer):
    """IngestionService.PublishMembershipEvent as the ingestion service offers it: records each call (with the
    organization header and token it came with) and answers duplicate=true for an event id seen before."""

    calls: list[tuple[ingestion_pb2.MembershipEvent, str, str]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def PublishMembershipEvent(self, request, context):  # type: ignore[no-untyped-def]
        metadata = dict(context.invocation_metadata())
        seen = any(event.event_id == request.event.event_id for event, _, _ in self.calls)
        self.calls.append((request.event, metadata.get(ORGANIZATION_HEADER, ""), metadata.get("authorization", "")))
        self.arrived.set()
        return ingestion_pb2.PublishMembershipEventResponse(duplicate=seen)

    @property
    def events(self) -> list[ingestion_pb2.MembershipEvent]:
        return [event for event, _, _ in self.calls]

    async def wait_for(self, count: int, timeout: float = 20.0) -> list[ingestion_pb2.MembershipEvent]:
        """Waits until at least `count` calls arrived (a bound on waiting, not a timing assertion)."""
        async def enough() -> None:
            while len(self.calls) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), timeout)
        return self.events


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
async def ingestion() -> AsyncIterator[tuple[RecordingIngestion, str]]:
    """A recording IngestionService on a real port: (recorder, target)."""
    recorder = RecordingIngestion()
    server = grpc.aio.server()
    ingestion_pb2_grpc.add_IngestionServiceServicer_to_server(recorder, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield recorder, f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


@pytest.fixture
async def directory_server(
    settings: Settings, database_url: str, clock: Clock, ingestion: tuple[RecordingIngestion, str]
) -> AsyncIterator[DirectoryServer]:
    server = await start_directory(
        settings.with_overrides(database_url=database_url, ingestion_grpc_target=ingestion[1]), clock=clock
    )
    try:
        yield server
    finally:
        await server.stop(grace=0.5)


@pytest.fixture
async def channel(directory_server: DirectoryServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{directory_server.grpc_port}") as chan:
        yield chan


@pytest.fixture
def organizations(channel: grpc.aio.Channel) -> directory_pb2_grpc.OrganizationServiceStub:
    return directory_pb2_grpc.OrganizationServiceStub(channel)


@pytest.fixture
def directories(channel: grpc.aio.Channel) -> directory_pb2_grpc.DirectoryServiceStub:
    return directory_pb2_grpc.DirectoryServiceStub(channel)


@pytest.fixture
def internal(settings: Settings) -> tuple[tuple[str, str], ...]:
    """Metadata of a service-to-service call (the internal token, no organization)."""
    return internal_metadata(settings.resolved_internal_token())


async def new_caller(
    organizations: directory_pb2_grpc.OrganizationServiceStub, internal: tuple[tuple[str, str], ...], name: str = "Acme"
) -> Caller:
    """Creates an organization and an API token for it through the internal calls, as an operator would."""
    organization = await organizations.CreateOrganization(
        directory_pb2.CreateOrganizationRequest(name=f"{name} {uuid.uuid4().hex[:6]}"), metadata=internal
    )
    issued = await organizations.CreateApiToken(
        directory_pb2.CreateApiTokenRequest(organization_id=organization.id, name="tests"), metadata=internal
    )
    return Caller(organization.id, issued.token)


@pytest.fixture
async def caller(organizations: directory_pb2_grpc.OrganizationServiceStub, internal: tuple[tuple[str, str], ...]) -> Caller:
    return await new_caller(organizations, internal)


@pytest.fixture
def make_caller(organizations: directory_pb2_grpc.OrganizationServiceStub, internal: tuple[tuple[str, str], ...]):  # type: ignore[no-untyped-def]
    """Another organization with its own token, for isolation tests."""

    async def make(name: str = "Other") -> Caller:
        return await new_caller(organizations, internal, name)

    return make
