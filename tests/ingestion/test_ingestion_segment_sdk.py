"""Segment's own Python SDK (segment-analytics-python) pointed at the HTTP intake: its calls arrive and are processed."""

from __future__ import annotations

import asyncio

from ingestion_stack import ORGANIZATION, IngestionStack, settled_inbox, welcome_spec
from segment.analytics import Client

from cxflow.v1 import ingestion_pb2
from workflows.contracts import run_workflow_id


async def test_sdk_identify_and_track_arrive_and_start_a_run(stack: IngestionStack) -> None:
    source = await stack.create_source()
    workflow = await stack.create_workflow(welcome_spec())
    subscription = ingestion_pb2.Subscription(
        source_id=source.id,
        name="orders",
        action=ingestion_pb2.SUBSCRIPTION_ACTION_START_WORKFLOW,
        filter='type = "track" and event = "Order Completed"',
        workflow_id=workflow.id,
        enabled=True,
    )
    await stack.sources.CreateSubscription(ingestion_pb2.CreateSubscriptionRequest(subscription=subscription), metadata=stack.as_org())
    errors: list[Exception] = []
    # gzip on, as the SDK's users often configure it; the SDK's consumer thread batches and posts to /v1/batch.
    client = Client(
        source.write_key, host=f"http://127.0.0.1:{stack.server.http_port}", gzip=True, max_retries=1,
        on_error=lambda error, _batch: errors.append(error),
    )
    try:
        client.identify("u-42", {"email": "ada@example.com", "firstName": "Ada", "age": 36}, message_id="sdk-identify")
        client.track("u-42", "Order Completed", {"total": 9.5}, message_id="sdk-track")
        await asyncio.to_thread(client.flush)  # blocks until the consumer thread has posted: keep the event loop free
    finally:
        await asyncio.to_thread(client.shutdown)
    assert errors == []

    rows = await settled_inbox(stack.settings.database_url, 2, tries=200)
    by_id = {row.message_id: row for row in rows}
    assert set(by_id) == {"sdk-identify", "sdk-track"}
    assert all(row.status == "processed" for row in rows), [(row.message_id, row.error) for row in rows]
    identify = by_id["sdk-identify"].payload
    assert identify["type"] == "identify" and identify["traits"]["email"] == "ada@example.com"
    assert identify["context"]["library"]["name"] == "analytics-python"
    assert "writeKey" not in identify and "receivedAt" in identify

    # The track event matched the subscription: it started one run carrying the event and its mapped fields.
    handle = stack.temporal.get_workflow_handle(run_workflow_id(ORGANIZATION, workflow.id, "sdk-track"))
    run_input = await handle.result()
    assert run_input["event"]["event"] == "Order Completed" and run_input["event"]["properties"] == {"total": 9.5}
    assert run_input["contact"]["lookup_value"] == "u-42"
