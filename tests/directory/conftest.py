"""Fixtures of the directory tests: a real directory server per test on SQLite and PostgreSQL, channels, organizations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import AsyncIterator

import grpc
import pytest

from cxflow.v1 import directory_pb2, directory_pb2_grpc
from services.common.auth import internal_metadata
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


@pytest.fixture
async def directory_server(settings: Settings, database_url: str) -> AsyncIterator[DirectoryServer]:
    server = await start_directory(settings.with_overrides(database_url=database_url))
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
