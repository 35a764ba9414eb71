"""The inbox processor over batches: a failing message is recorded without holding back the rest of its batch, and a
pass cut short resumes after the last message that acted, never running it again."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from ingestion_stack import ORGANIZATION, InboxEntry, IngestionStack, inbox_rows, welcome_spec
from sqlalchemy import update
from temporalio.service import RPCError, RPCStatusCode

from cxflow.v1 import ingestion_pb2
from services.common.db import create_engine
from services.ingestion.models import InboxBatch
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
    auth = {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}
    assert (await stack.http.post("/v1/batch", json={"batch": messages}, headers=auth)).status_code == 200


async def settled(stack: IngestionStack, count: int) -> list[InboxEntry]:
    for _ in range(300):
        entries = await inbox_rows(stack.settings.database_url)
        if len(entries) >= count and all(entry.status != "pending" for entry in entries):
            return entries
        await asyncio.sleep(0.05)
    raise AssertionError(f"the inbox did not settle: {await inbox_rows(stack.settings.database_url)}")


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
    entries = await settled(stack, 3)
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
