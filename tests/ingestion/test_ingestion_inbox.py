"""The inbox: the processor records a failing message without holding back the rest of its batch, resumes a pass cut
short after the last message that acted, and retries failed messages when due; the writer's group commits wait for
requests still being validated."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from ingestion_stack import ORGANIZATION, IngestionStack, basic, inbox_rows, settled_inbox, welcome_spec
from sqlalchemy import insert, select, update
from temporalio.service import RPCError, RPCStatusCode

from cxflow.v1 import ingestion_pb2
from services.common.db import create_engine
from services.ingestion.inbox_store import IntakeRequest
from services.ingestion.intake import InboxWriter, SourceRef
from services.ingestion.models import InboxBatch, InboxFailure
from workflows.contracts import run_workflow_id


def identify(message_id: str, age: Any) -> dict[str, Any]:
    return {"type": "identify", "userId": f"user-{message_id}", "messageId": message_id, "traits": {"firstName": "Ada", "age": age}}


async def subscribed_source(stack: IngestionStack) -> tuple[str, str]:
    """A source whose identify calls start the welcome workflow (whose `age` mapping is a number); its write key and
    the workflow's id."""
    workflow = await stack.create_workflow(welcome_spec())
    source = await stack.create_source()
    await stack.sources.CreateSubscription(
        ingestion_pb2.CreateSubscriptionRequest(subscription=ingestion_pb2.Subscription(
            source_id=source.id, name="welcome", action=ingestion_pb2.SUBSCRIPTION_ACTION_START_WORKFLOW,
            filter='type = "identify"', workflow_id=workflow.id, enabled=True)),
        metadata=stack.as_org(),
    )  # fmt: skip
    return source.write_key, workflow.id


async def post_batch(stack: IngestionStack, write_key: str, messages: list[dict[str, Any]]) -> None:
    assert (await stack.http.post("/v1/batch", json={"batch": messages}, headers=basic(write_key))).status_code == 200


async def run_started(stack: IngestionStack, workflow_id: str, message_id: str) -> bool:
    handle = stack.temporal.get_workflow_handle(run_workflow_id(ORGANIZATION, workflow_id, message_id))
    try:
        await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def test_a_failing_message_is_recorded_and_the_rest_of_its_batch_goes_on(stack: IngestionStack) -> None:
    write_key, workflow_id = await subscribed_source(stack)
    await post_batch(stack, write_key, [identify("m0", 36), identify("m1", "not a number"), identify("m2", 41)])
    entries = await settled_inbox(stack.settings.database_url, 3)
    assert [(e.message_id, e.status, e.attempts) for e in entries] == [("m0", "processed", 1), ("m1", "failed", 1), ("m2", "processed", 1)]
    assert "age" in entries[1].error  # the mapping that could not be coerced is named
    assert [await run_started(stack, workflow_id, m) for m in ("m0", "m1", "m2")] == [True, False, True]


@pytest.mark.parametrize("handled", [1, 2])
async def test_a_pass_cut_short_resumes_after_the_last_message_that_acted(stack: IngestionStack, handled: int) -> None:
    write_key, workflow_id = await subscribed_source(stack)
    await stack.server.processor.stop()  # this test runs the passes itself
    await post_batch(stack, write_key, [identify(f"r{i}", 30 + i) for i in range(3)])
    # As a crash leaves it: the first `handled` messages acted (here: never, so a repeat would show), the batch pending.
    engine = create_engine(stack.settings.database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(update(InboxBatch).values(handled=handled))
    finally:
        await engine.dispose()
    assert [e.status for e in await inbox_rows(stack.settings.database_url)] == ["processed"] * handled + ["pending"] * (3 - handled)

    await stack.server.processor.process_due()
    assert [e.status for e in await inbox_rows(stack.settings.database_url)] == ["processed"] * 3
    assert [await run_started(stack, workflow_id, f"r{i}") for i in range(3)] == [False] * handled + [True] * (3 - handled)


async def test_failed_messages_are_retried_when_due(stack: IngestionStack) -> None:
    write_key, workflow_id = await subscribed_source(stack)
    await stack.server.processor.stop()  # this test runs the passes itself
    await post_batch(stack, write_key, [identify("again", 30), identify("never", "not a number")])
    # As a transient failure of both leaves them (the workflow service was down): the batch done, both messages in
    # the failures, their second attempt due.
    engine = create_engine(stack.settings.database_url)
    try:
        async with engine.begin() as connection:
            [batch] = (await connection.execute(select(InboxBatch))).all()
            await connection.execute(update(InboxBatch).values(status="processed", handled=batch.message_count))
            for position, message in enumerate(batch.messages):
                await connection.execute(insert(InboxFailure).values(
                    batch_id=batch.id, position=position, organization_id=batch.organization_id, source_id=batch.source_id,
                    message_id=message["messageId"], payload=message, status="retrying", attempts=1,
                    error="UNAVAILABLE: connection refused", next_attempt_at=datetime.now(UTC), received_at=batch.received_at))  # fmt: skip
    finally:
        await engine.dispose()
    assert [(e.status, e.attempts) for e in await inbox_rows(stack.settings.database_url)] == [("pending", 1), ("pending", 1)]

    for _ in range(60):  # a pass looks for due failures at most once a second (RETRY_CHECK_SECONDS)
        await stack.server.processor.process_due()
        again, never = await inbox_rows(stack.settings.database_url)
        if again.status != "pending":
            break
        await asyncio.sleep(0.1)
    assert (again.message_id, again.status, again.attempts, again.error) == ("again", "processed", 2, "")
    assert (never.message_id, never.status, never.attempts) == ("never", "failed", 2)  # a mapping error is final
    assert "age" in never.error
    assert [await run_started(stack, workflow_id, m) for m in ("again", "never")] == [True, False]


class RecordingStore:
    """An InboxStore that keeps the groups it is asked to write (every message new): what the writer's grouping does."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []

    async def write(self, group: list[IntakeRequest]) -> list[list[dict[str, Any]]]:
        self.groups.append([request.source_id for request in group])
        return [request.messages for request in group]

    async def close(self) -> None:
        pass


SOURCE = SourceRef(id="SRC_a", organization_id="ORG_a")


def messages(message_id: str) -> list[dict[str, Any]]:
    return [{"type": "identify", "userId": "u", "messageId": message_id}]


async def test_a_group_the_database_refuses_is_written_request_by_request(stack: IngestionStack) -> None:
    # A request of an unknown source breaks the inbox's foreign key: the group fails, and written alone, only that
    # request fails; the writer's next groups are stored as usual.
    source = await stack.create_source()
    writer = stack.server.writer
    when = datetime.now(UTC)
    with writer.arriving():  # the three requests go into one group
        good = writer.submit(SourceRef(source.id, ORGANIZATION), [identify("g1", 1)], when)
        orphan = writer.submit(SourceRef("SRC_gone", ORGANIZATION), [identify("o1", 1)], when)
        replay = writer.submit(SourceRef(source.id, ORGANIZATION), [identify("g1", 1), identify("g2", 1)], when)
    answers = await asyncio.wait_for(asyncio.gather(good, orphan, replay, return_exceptions=True), 10)
    assert [type(answer).__name__ for answer in answers] == ["Acceptance", "IntegrityError", "Acceptance"]
    assert [[a.duplicate for a in answer.per_message()] for answer in (answers[0], answers[2])] == [[False], [True, False]]
    later = await asyncio.wait_for(writer.accept(SourceRef(source.id, ORGANIZATION), [identify("g3", 1)], when), 10)
    assert [a.duplicate for a in later] == [False]
    entries = await settled_inbox(stack.settings.database_url, 3)
    assert sorted(entry.message_id for entry in entries) == ["g1", "g2", "g3"]


async def test_a_commit_waits_for_the_requests_being_validated() -> None:
    store = RecordingStore()
    writer = InboxWriter(store, commit_delay=60)  # far longer than the test: only an arrival ends the wait
    writer.start()
    try:
        with writer.arriving():  # the second request is being read and validated
            first = writer.submit(SourceRef("SRC_first", "ORG_a"), messages("m1"), datetime.now(UTC))
            for _ in range(5):
                await asyncio.sleep(0)  # the writer runs meanwhile, and waits
            assert store.groups == []
            second = writer.submit(SourceRef("SRC_second", "ORG_a"), messages("m2"), datetime.now(UTC))
        accepted = await asyncio.wait_for(asyncio.gather(first, second), 5)
    finally:
        await writer.stop()
    assert store.groups == [["SRC_first", "SRC_second"]]  # one commit for both
    assert [[a.duplicate for a in answer.per_message()] for answer in accepted] == [[False], [False]]


async def test_a_lone_request_is_written_at_once() -> None:
    store = RecordingStore()
    writer = InboxWriter(store, commit_delay=60)
    writer.start()
    try:
        await asyncio.wait_for(writer.accept(SOURCE, messages("m1"), datetime.now(UTC)), 5)
        with writer.arriving():
            pass  # a request refused before it was submitted (a bad body) holds nothing back
        await asyncio.wait_for(writer.accept(SOURCE, messages("m2"), datetime.now(UTC)), 5)
    finally:
        await writer.stop()
    assert store.groups == [["SRC_a"], ["SRC_a"]]
