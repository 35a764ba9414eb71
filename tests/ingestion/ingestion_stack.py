"""The ingestion test stack: a real ingestion server (HTTP + gRPC) over a real database and Temporal, and its helpers."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from echo_triggered_run import EchoTriggeredRun
from google.protobuf import struct_pb2
from sqlalchemy import select, update
from temporalio.client import Client
from temporalio.worker import Worker

from cxflow.v1 import ingestion_pb2, ingestion_pb2_grpc
from services.common.auth import internal_metadata
from services.common.db import create_engine
from services.common.settings import Settings
from services.ingestion.models import InboxBatch, InboxFailure
from services.ingestion.server import IngestionServer, start_ingestion

ORGANIZATION = "ORG_ingestiontest"
OTHER_ORGANIZATION = "ORG_othertest"
API_TOKEN = "cxf_ingestion-test-token-0123456789"
OTHER_API_TOKEN = "cxf_other-test-token-0123456789"


class TokenTable:
    """A TokenResolver over a fixed table: the directory's role, for tests that do not need the directory."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self._tokens = tokens

    async def resolve(self, token: str) -> str | None:
        return self._tokens.get(token)


@dataclass
class IngestionStack:
    settings: Settings
    server: IngestionServer
    http: httpx.AsyncClient
    channel: grpc.aio.Channel
    temporal: Client

    @property
    def sources(self) -> ingestion_pb2_grpc.IngestionServiceStub:
        return ingestion_pb2_grpc.IngestionServiceStub(self.channel)

    @property
    def workflows(self) -> ingestion_pb2_grpc.WorkflowServiceStub:
        return ingestion_pb2_grpc.WorkflowServiceStub(self.channel)

    def as_org(self, organization_id: str = ORGANIZATION) -> tuple[tuple[str, str], ...]:
        return internal_metadata(self.settings.internal_token, organization_id)

    async def create_source(self, organization_id: str = ORGANIZATION) -> ingestion_pb2.Source:
        return await self.sources.CreateSource(ingestion_pb2.CreateSourceRequest(name="web"), metadata=self.as_org(organization_id))

    async def create_workflow(
        self, spec: dict[str, Any], workflow_id: str = "", organization_id: str = ORGANIZATION
    ) -> ingestion_pb2.Workflow:
        struct = struct_pb2.Struct()
        struct.update(spec)
        return await self.workflows.CreateWorkflow(
            ingestion_pb2.CreateWorkflowRequest(spec=struct, id=workflow_id), metadata=self.as_org(organization_id)
        )


@dataclass(frozen=True)
class InboxEntry:
    """One stored message as the processor left it."""

    organization_id: str
    source_id: str
    message_id: str
    type: str
    payload: dict[str, Any]
    status: str  # pending | processed | failed (a failure still being retried is pending)
    attempts: int
    error: str


async def inbox_rows(database_url: str) -> list[InboxEntry]:
    """Every stored message, in arrival order: a batch's messages are pending until the processor got past them and
    processed after (at one attempt), unless their failure record says otherwise."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            batches = (await connection.execute(select(InboxBatch).order_by(InboxBatch.id))).all()
            failures = {(f.batch_id, f.position): f for f in (await connection.execute(select(InboxFailure))).all()}
    finally:
        await engine.dispose()
    entries = []
    for batch in batches:
        for position, message in enumerate(batch.messages):
            failure = failures.get((batch.id, position))
            if failure is not None:
                status, attempts, error = ("pending" if failure.status == "retrying" else failure.status), failure.attempts, failure.error
            elif position < batch.handled or batch.status == "processed":
                status, attempts, error = "processed", 1, ""
            else:
                status, attempts, error = "pending", 0, ""
            entries.append(InboxEntry(batch.organization_id, batch.source_id, message["messageId"], message["type"], message,
                                      status, attempts, error))  # fmt: skip
    return entries


async def settled_inbox(database_url: str, count: int, *, tries: int = 300) -> list[InboxEntry]:
    """The inbox once it holds at least `count` messages and none is pending, looked at every 50 ms."""
    for _ in range(tries):
        entries = await inbox_rows(database_url)
        if len(entries) >= count and all(entry.status != "pending" for entry in entries):
            return entries
        await asyncio.sleep(0.05)
    raise AssertionError(f"the inbox did not settle: {await inbox_rows(database_url)}")


def basic(write_key: str) -> dict[str, str]:
    """The HTTP Basic header Segment's SDKs send: the write key as user name, an empty password."""
    return {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}


async def run_again(database_url: str, message_id: str) -> None:
    """Puts the batch holding message_id back to pending from that message on, as a pass cut short before it would."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            for batch in (await connection.execute(select(InboxBatch))).all():
                positions = [i for i, message in enumerate(batch.messages) if message["messageId"] == message_id]
                if positions:
                    await connection.execute(
                        update(InboxBatch).where(InboxBatch.id == batch.id).values(status="pending", handled=positions[0])
                    )
    finally:
        await engine.dispose()


def welcome_spec(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "Welcome",
        "trigger": {
            "type": "json_event",
            "mappings": [
                {"name": "firstName", "path": "$.traits.firstName", "type": "string"},
                {"name": "age", "path": "$.traits.age", "type": "number"},
            ],
        },
        "contact": {"directoryId": "POOL_test", "lookup": "extRef", "path": "$.userId"},
        "tasks": [{"type": "email", "to": ["{{ contact.email }}"], "subject": "Hi {{ contact.firstName }}", "text": "Welcome"}],
    }
    spec.update(changes)
    return spec


@asynccontextmanager
async def running_stack(
    settings: Settings, temporal_client: Client, task_queue: str, token_resolver: Any = None, *, directory_tokens: bool = False
) -> AsyncIterator[IngestionStack]:
    """Ingestion with a stand-in TriggeredRun worker, an HTTP client and a gRPC channel. Tokens resolve through the
    fixed test table, or (directory_tokens) through the directory at settings.directory_grpc_target."""
    table = TokenTable({API_TOKEN: ORGANIZATION, OTHER_API_TOKEN: OTHER_ORGANIZATION})
    resolver = None if directory_tokens else (token_resolver or table)
    server = await start_ingestion(settings, temporal_client, resolver)
    try:
        async with (
            Worker(temporal_client, task_queue=task_queue, workflows=[EchoTriggeredRun]),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}", timeout=30) as http,
            grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel,
        ):
            yield IngestionStack(settings, server, http, channel, temporal_client)
    finally:
        await server.stop()


@pytest.fixture
async def stack(
    settings: Settings, database_url: str, temporal_client: Client, task_queue: str
) -> AsyncIterator[IngestionStack]:
    """Ingestion on SQLite and on PostgreSQL, with a stand-in TriggeredRun worker on this test's task queue."""
    configured = settings.with_overrides(database_url=database_url, temporal_task_queue=task_queue)
    async with running_stack(configured, temporal_client, task_queue) as running:
        yield running
