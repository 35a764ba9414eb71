"""SegmentRefreshWorkflow against a real directory and the real Temporal dev server: a window that slid past a
transaction takes the contact out; the schedule is created once, updated in place, and starts the workflow."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client, ScheduleIntervalSpec
from temporalio.worker import Worker

from cxflow.v1 import directory_pb2, directory_pb2_grpc
from services.common.auth import internal_metadata
from services.common.settings import Settings
from services.directory.server import DirectoryServer, start_directory
from workflows.segment_refresh import (
    SCHEDULE_ID,
    SegmentRefreshActivities,
    SegmentRefreshInput,
    SegmentRefreshResult,
    SegmentRefreshWorkflow,
    ensure_segment_refresh_schedule,
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def directory(settings: Settings, clock: Clock) -> AsyncIterator[DirectoryServer]:
    server = await start_directory(settings, clock=clock, dispatch=False)
    try:
        yield server
    finally:
        await server.stop(grace=0.2)


@pytest.fixture
async def channel(directory: DirectoryServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{directory.grpc_port}") as chan:
        yield chan


async def seed_caller_with_member(channel: grpc.aio.Channel, settings: Settings, clock: Clock) -> tuple[str, str, str, str]:
    """An organization whose one contact is in "called in the last 30 days" by a call 20 days ago."""
    internal = internal_metadata(settings.resolved_internal_token())
    organizations = directory_pb2_grpc.OrganizationServiceStub(channel)
    directories = directory_pb2_grpc.DirectoryServiceStub(channel)
    organization = await organizations.CreateOrganization(directory_pb2.CreateOrganizationRequest(name="Acme"), metadata=internal)
    md = internal_metadata(settings.resolved_internal_token(), organization.id)
    pool = await directories.CreateDirectory(directory_pb2.CreateDirectoryRequest(name="P"), metadata=md)
    mailing_list = await directories.CreateMailingList(directory_pb2.CreateMailingListRequest(directory_id=pool.id, name="L"), metadata=md)
    rule = directory_pb2.CreateSegmentRequest(directory_id=pool.id, name="Recent callers")
    rule.rule.update({"transactions": {"aggregate": "count", "lastDays": 30, "op": "gte", "value": 1}})
    segment = await directories.CreateSegment(rule, metadata=md)
    contact = await directories.UpsertContact(
        directory_pb2.UpsertContactRequest(directory_id=pool.id, contact=directory_pb2.ContactInput(email="a@b.c")), metadata=md
    )
    when = Timestamp()
    when.FromDatetime(clock.now - timedelta(days=20))
    answer = await directories.CreateTransactions(
        directory_pb2.CreateTransactionsRequest(
            directory_id=pool.id,
            transactions={"t": directory_pb2.TransactionInput(contact_id=contact.contact_id, mailing_list_id=mailing_list.id, transaction_date=when)},
        ),
        metadata=md,
    )
    assert not answer.errors
    return organization.id, pool.id, segment.id, contact.contact_id


def worker_for(client: Client, task_queue: str, channel: grpc.aio.Channel, settings: Settings) -> Worker:
    activities = SegmentRefreshActivities(
        directory_pb2_grpc.OrganizationServiceStub(channel),
        directory_pb2_grpc.DirectoryServiceStub(channel),
        settings.resolved_internal_token(),
    )
    return Worker(client, task_queue=task_queue, workflows=[SegmentRefreshWorkflow], activities=[activities.refresh_all_segments])


async def segment_ids(channel: grpc.aio.Channel, settings: Settings, organization_id: str, pool_id: str, contact_id: str) -> list[str]:
    contact = await directory_pb2_grpc.DirectoryServiceStub(channel).GetContact(
        directory_pb2.GetContactRequest(directory_id=pool_id, contact_id=contact_id),
        metadata=internal_metadata(settings.resolved_internal_token(), organization_id),
    )
    return list(contact.segment_ids)


async def test_the_workflow_refreshes_every_organization(temporal_client, task_queue, channel, settings, clock) -> None:  # type: ignore[no-untyped-def]
    first = await seed_caller_with_member(channel, settings, clock)
    second = await seed_caller_with_member(channel, settings, clock)
    assert await segment_ids(channel, settings, first[0], first[1], first[3]) == [first[2]]
    clock.now += timedelta(days=15)  # the call is now 35 days old
    async with worker_for(temporal_client, task_queue, channel, settings):
        result = await temporal_client.execute_workflow(
            SegmentRefreshWorkflow.run, SegmentRefreshInput(), id=f"refresh-{uuid.uuid4()}", task_queue=task_queue
        )
    assert result == SegmentRefreshResult(organizations=2, segments=2, added=0, removed=2)
    for organization_id, pool_id, _, contact_id in (first, second):
        assert await segment_ids(channel, settings, organization_id, pool_id, contact_id) == []


async def test_the_schedule_is_ensured_idempotently_and_starts_the_workflow(temporal_client, task_queue, channel, settings, clock) -> None:  # type: ignore[no-untyped-def]
    # A namespace of its own: the schedule id is fixed, and other tests' workers ensure it in the default namespace.
    namespace = f"seg-{uuid.uuid4().hex[:10]}"
    await temporal_client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400))
    )
    client = await Client.connect(temporal_client.service_client.config.target_host, namespace=namespace)
    organization_id, pool_id, _, contact_id = await seed_caller_with_member(channel, settings, clock)
    clock.now += timedelta(days=15)

    await ensure_segment_refresh_schedule(client, task_queue, timedelta(hours=1))
    await ensure_segment_refresh_schedule(client, task_queue, timedelta(minutes=30))  # a restart with a new setting
    handle = client.get_schedule_handle(SCHEDULE_ID)
    described = await handle.describe()
    assert described.schedule.spec.intervals == [ScheduleIntervalSpec(every=timedelta(minutes=30))]
    schedules = [listed.id async for listed in await client.list_schedules()]
    assert schedules.count(SCHEDULE_ID) <= 1  # listing is eventually consistent; never two

    async with worker_for(client, task_queue, channel, settings):
        await handle.trigger()
        async with asyncio.timeout(60):  # bounds the wait for the triggered run; not a timing assertion
            while not (await handle.describe()).info.recent_actions:
                await asyncio.sleep(0.2)
        started = (await handle.describe()).info.recent_actions[0].action
        result = await client.get_workflow_handle(started.workflow_id, run_id=started.first_execution_run_id, result_type=SegmentRefreshResult).result()
    await handle.delete()
    assert result == SegmentRefreshResult(organizations=1, segments=1, added=0, removed=1)
    assert await segment_ids(channel, settings, organization_id, pool_id, contact_id) == []
