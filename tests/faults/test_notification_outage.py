"""The notification service is down for 20 s while runs send: activities retry with backoff, every run completes once it
is back, and every email and webhook request went out exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter

import grpc
import httpx
import pytest
from fault_stack import (
    SlowMailCatcher,
    allow_local_outbound,
    create_workflow,
    service_process,
    stack_settings,
    upsert_contact,
    wait_for_grpc_service,
    wait_until,
)
from recording_http import RecordingHttpServer
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from cxflow.demo import DEMO_DIRECTORY_ID, ensure_demo
from services.common.settings import Settings
from services.directory.server import start_directory
from services.ingestion.server import start_ingestion
from workflows.worker import build_worker

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

RUNS = 10
OUTAGE_SECONDS = 20

OUTAGE_WORKFLOW = {
    "name": "Mail, hook, mail",
    "enabled": True,
    "trigger": {"type": "json_event", "mappings": [{"name": "n", "path": "$.n", "type": "string"}]},
    "contact": {"directoryId": DEMO_DIRECTORY_ID, "lookup": "extRef", "path": "$.userId"},
    "loadContact": True,
    "tasks": [
        {"type": "email", "to": ["{{ contact.email }}"], "subject": "run {{ fields.n }} first", "text": "hello"},
        {"type": "webhook", "url": "{{ event.hook }}", "body": {"n": "{{ fields.n }}"}},
        {"type": "email", "to": ["{{ contact.email }}"], "subject": "run {{ fields.n }} second", "text": "again"},
    ],
}


async def test_notification_outage_delays_runs_and_duplicates_nothing(
    settings: Settings, temporal_client: Client, task_queue: str, free_ports
) -> None:
    mail = SlowMailCatcher(settings, seconds=0.2)
    await mail.start()
    async with RecordingHttpServer() as hooks:
        live = stack_settings(
            settings,
            temporal_address=temporal_client.service_client.config.target_host,
            task_queue=task_queue,
            smtp_port=mail.port,
            ports=free_ports(4),
        )
        directory = await start_directory(live)
        notification = service_process("notification", live).start()
        ingestion = await start_ingestion(live, temporal_client=temporal_client)
        directory_channel = grpc.aio.insecure_channel(live.directory_grpc_target)
        notification_channel = grpc.aio.insecure_channel(live.notification_grpc_target)
        worker = build_worker(
            temporal_client,
            task_queue=task_queue,
            directory_channel=directory_channel,
            notification_channel=notification_channel,
            internal_token=live.resolved_internal_token(),
        )
        try:
            await wait_for_grpc_service(live.notification_grpc_target)
            async with worker:
                credentials = await ensure_demo(live)
                await allow_local_outbound(live)
                await create_workflow(live, "WF_outage", OUTAGE_WORKFLOW)
                await upsert_contact(live, "u-outage", "grace@example.com")
                async with httpx.AsyncClient(base_url=live.public_url, timeout=10) as client:
                    run_ids = []
                    for n in range(RUNS):
                        reply = await client.post(
                            "/triggers/WF_outage",
                            headers={"X-API-TOKEN": credentials.api_token},
                            json={"userId": "u-outage", "n": str(n), "messageId": f"outage-{n}", "hook": f"{hooks.url}/hook/{n}"},
                        )
                        assert reply.status_code == 202, reply.text
                        run_ids.append(reply.json()["runs"][0]["workflowId"])

                await wait_until(lambda: len(mail.messages) >= 3, timeout=30, what="the first emails")
                await notification.stop()  # SIGTERM: drains the calls in flight, then the port is closed
                sent_before = len(mail.messages)
                assert sent_before < 2 * RUNS, "every email was out before the outage: the test proved nothing"
                await asyncio.sleep(OUTAGE_SECONDS)
                assert len(mail.messages) == sent_before, "mail went out while the notification service was down"
                notification.start()

                for workflow_id in run_ids:
                    result = await temporal_client.get_workflow_handle(workflow_id).result()
                    assert result["status"] == "completed", (workflow_id, result)

                # Some task met the outage and was retried by Temporal (attempt > 1), not lost or failed.
                retried = 0
                for workflow_id in run_ids:
                    async for event in temporal_client.get_workflow_handle(workflow_id).fetch_history_events():
                        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                            retried += event.activity_task_started_event_attributes.attempt > 1
                assert retried > 0, "no activity was retried: the outage hit nothing"
        finally:
            await notification.stop()
            await ingestion.stop()
            await directory.stop()
            await directory_channel.close()
            await notification_channel.close()
            await mail.stop()

        subjects = Counter(message["Subject"] for message in mail.messages)
        assert set(subjects) == {f"run {n} {which}" for n in range(RUNS) for which in ("first", "second")}
        assert [subject for subject, count in subjects.items() if count != 1] == [], "some email went out twice"
        hook_paths = Counter(request.path for request in hooks.requests)
        assert hook_paths == Counter({f"/hook/{n}": 1 for n in range(RUNS)}), "a webhook was lost or sent twice"
