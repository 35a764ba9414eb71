"""The membership outbox: events committed with their change survive a directory that dies before delivering them,
are delivered once after a restart, redelivered with the same event id when the mark was lost, retried while
ingestion is down."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import struct_pb2
from sqlalchemy import select

from cxflow.v1 import directory_pb2, directory_pb2_grpc, ingestion_pb2
from services.common.db import create_engine, create_session_factory
from services.directory.models import OutboxEvent
from services.directory.outbox import IngestionPublisher, IngestionUnreachable, OutboxDispatcher
from services.directory.server import start_directory
from tests.directory.conftest import new_caller


async def make_changes(target: str, settings, database_url, clock, dispatch: bool) -> str:  # type: ignore[no-untyped-def]
    """Starts a directory, makes two membership changes (ADDED, OPTED_OUT), stops it. Returns the organization id."""
    server = await start_directory(
        settings.with_overrides(database_url=database_url, ingestion_grpc_target=target), clock=clock, dispatch=dispatch
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            organizations = directory_pb2_grpc.OrganizationServiceStub(channel)
            directories = directory_pb2_grpc.DirectoryServiceStub(channel)
            from services.common.auth import internal_metadata

            caller = await new_caller(organizations, internal_metadata(settings.resolved_internal_token()))
            directory = await directories.CreateDirectory(directory_pb2.CreateDirectoryRequest(name="P"), metadata=caller.metadata)
            rule = struct_pb2.Struct()
            rule.update({"field": "email", "op": "exists"})
            segment = await directories.CreateSegment(
                directory_pb2.CreateSegmentRequest(directory_id=directory.id, name="Emailable", rule=rule), metadata=caller.metadata
            )
            contact = await directories.UpsertContact(
                directory_pb2.UpsertContactRequest(directory_id=directory.id, contact=directory_pb2.ContactInput(email="a@b.c")),
                metadata=caller.metadata,
            )
            await directories.OptOutOfSegment(
                directory_pb2.SegmentOptRequest(directory_id=directory.id, segment_id=segment.id, contact_id=contact.contact_id),
                metadata=caller.metadata,
            )
            return caller.organization_id
    finally:
        await server.stop(grace=0.2)


async def stored_events(database_url: str) -> list[OutboxEvent]:
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            return list((await session.execute(select(OutboxEvent).order_by(OutboxEvent.seq))).scalars().all())
    finally:
        await engine.dispose()


async def test_events_committed_before_a_crash_are_delivered_once_after_restart(settings, database_url, clock, ingestion) -> None:  # type: ignore[no-untyped-def]
    recorder, target = ingestion
    # The first process dies after committing and before its dispatcher delivers anything.
    organization_id = await make_changes(target, settings, database_url, clock, dispatch=False)
    assert recorder.calls == []
    pending = await stored_events(database_url)
    assert [(row.change, row.delivered) for row in pending] == [("ADDED", False), ("OPTED_OUT", False)]

    restarted = await start_directory(settings.with_overrides(database_url=database_url, ingestion_grpc_target=target), clock=clock)
    try:
        events = await recorder.wait_for(2)
    finally:
        await restarted.stop(grace=0.2)
    assert [event.event_id for event in events] == [row.id for row in pending]
    assert [event.change for event in events] == [ingestion_pb2.MEMBERSHIP_CHANGE_ADDED, ingestion_pb2.MEMBERSHIP_CHANGE_OPTED_OUT]
    assert {org for _, org, _ in recorder.calls} == {organization_id}
    assert all(row.delivered and row.attempts == 1 for row in await stored_events(database_url))

    # A third start finds nothing left to deliver.
    again = await start_directory(settings.with_overrides(database_url=database_url, ingestion_grpc_target=target), clock=clock)
    try:
        assert again.dispatcher is not None
        assert await again.dispatcher.deliver_pending() == 0
    finally:
        await again.stop(grace=0.2)
    assert len(recorder.calls) == 2


async def test_a_lost_delivery_mark_redelivers_with_the_same_event_id(settings, database_url, clock, ingestion) -> None:  # type: ignore[no-untyped-def]
    recorder, target = ingestion
    await make_changes(target, settings, database_url, clock, dispatch=False)
    engine = create_engine(database_url)
    publisher = IngestionPublisher(target, settings.resolved_internal_token())
    crashed = {"done": False}

    async def publish_then_die_once(row: OutboxEvent) -> None:
        await publisher(row)
        if not crashed["done"]:
            crashed["done"] = True  # ingestion has it, but the directory never hears back
            raise grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "connection lost")

    try:
        dispatcher = OutboxDispatcher(create_session_factory(engine), publish_then_die_once)
        with pytest.raises(IngestionUnreachable):  # the dispatcher would back off, then try again
            await dispatcher.deliver_pending()
        assert await dispatcher.deliver_pending() == 2
    finally:
        await publisher.close()
        await engine.dispose()
    ids = [event.event_id for event in recorder.events]
    assert len(ids) == 3 and ids[0] == ids[1] != ids[2]  # at least once, same id: ingestion answers duplicate


async def test_delivery_waits_while_ingestion_is_down(settings, database_url, clock, ingestion) -> None:  # type: ignore[no-untyped-def]
    recorder, target = ingestion
    # Nothing listens on this port: every attempt fails as UNAVAILABLE and the events stay pending.
    closed = grpc.aio.server()
    port = closed.add_insecure_port("127.0.0.1:0")
    await make_changes(f"127.0.0.1:{port}", settings, database_url, clock, dispatch=True)
    assert all(not row.delivered for row in await stored_events(database_url))
    restarted = await start_directory(settings.with_overrides(database_url=database_url, ingestion_grpc_target=target), clock=clock)
    try:
        await recorder.wait_for(2)
    finally:
        await restarted.stop(grace=0.2)
    assert len(recorder.calls) == 2
