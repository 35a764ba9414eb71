"""Kill -9 the directory between an outbox commit and its delivery: after the restart the membership event is delivered
and starts exactly one segment_membership run (one email); a crash after delivery but before the row was marked
redelivers it, and ingestion's dedup keeps it at one run.

Being "between" is made deterministic without hooks: ingestion is down when the membership change commits, so the
dispatcher can only retry (UNAVAILABLE) until the kill. The second crash leaves the state a kill between ingestion's
answer and the dispatcher's mark leaves: the row delivered at ingestion but not marked in the directory's database.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import grpc
import pytest
from fault_stack import (
    create_workflow,
    organization_metadata,
    service_process,
    stack_settings,
    upsert_contact,
    wait_for_grpc_service,
    wait_until,
)
from google.protobuf import struct_pb2
from temporalio.client import Client

from cxflow.demo import DEMO_DIRECTORY_ID, DEMO_ORGANIZATION_ID, ensure_demo
from cxflow.mailcatcher import MailCatcher
from cxflow.v1 import directory_pb2, directory_pb2_grpc
from services.common.settings import Settings
from services.ingestion.server import IngestionServer, start_ingestion
from services.notification.server import start_notification
from workflows.contracts import run_workflow_id
from workflows.worker import build_worker

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

VIP_WORKFLOW = {
    "name": "VIP welcome",
    "enabled": True,
    "trigger": {"type": "segment_membership", "segmentId": "SEG_faults_vip", "changes": ["ADDED"]},
    "tasks": [{"type": "email", "to": ["{{ contact.email }}"], "subject": "Welcome, VIP {{ contact.extRef }}", "text": "hi"}],
}


def _outbox(directory_db: Path) -> list[tuple[str, str, bool]]:
    """(event id, change, delivered) of every outbox row, oldest first: what the directory committed."""
    with sqlite3.connect(directory_db) as db:
        rows = db.execute("SELECT id, change, delivered FROM membership_outbox ORDER BY seq").fetchall()
    return [(event_id, change, bool(delivered)) for event_id, change, delivered in rows]


def _forget_delivery(directory_db: Path, event_id: str) -> None:
    """The state of a directory killed after ingestion answered but before the row was marked delivered."""
    with sqlite3.connect(directory_db) as db:
        db.execute("UPDATE membership_outbox SET delivered = 0, delivered_at = NULL WHERE id = ?", (event_id,))


async def _create_vip_segment(settings: Settings) -> None:
    rule = struct_pb2.Struct()
    rule.update({"field": "embeddedData.vip", "op": "eq", "value": "yes"})
    async with grpc.aio.insecure_channel(settings.directory_grpc_target) as channel:
        await directory_pb2_grpc.DirectoryServiceStub(channel).CreateSegment(
            directory_pb2.CreateSegmentRequest(id="SEG_faults_vip", directory_id=DEMO_DIRECTORY_ID, name="VIP", rule=rule),
            metadata=organization_metadata(settings),
        )


async def test_directory_killed_before_delivery_delivers_after_restart_and_starts_one_run(
    settings: Settings, temporal_client: Client, task_queue: str, free_ports
) -> None:
    mail = MailCatcher("127.0.0.1", 0)
    await mail.start()
    live = stack_settings(
        settings,
        temporal_address=temporal_client.service_client.config.target_host,
        task_queue=task_queue,
        smtp_port=mail.port,
        ports=free_ports(4),
    )
    directory_db = live.data_dir / "directory.db"
    directory = service_process("directory", live).start()
    notification = await start_notification(live)
    ingestion: IngestionServer | None = await start_ingestion(live, temporal_client=temporal_client)
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
        await wait_for_grpc_service(live.directory_grpc_target)
        async with worker:
            await ensure_demo(live)
            await _create_vip_segment(live)
            await create_workflow(live, "WF_vip", VIP_WORKFLOW)

            await ingestion.stop()  # the dispatcher now meets UNAVAILABLE and can only retry
            ingestion = None
            await upsert_contact(live, "u-vip", "vip@example.com", {"vip": "yes"})
            [(event_id, change, delivered)] = _outbox(directory_db)
            assert (change, delivered) == ("ADDED", False)
            await directory.kill()
            assert _outbox(directory_db) == [(event_id, "ADDED", False)], "the committed event is gone or was marked"

            ingestion = await start_ingestion(live, temporal_client=temporal_client)
            directory.start()
            run = temporal_client.get_workflow_handle(run_workflow_id(DEMO_ORGANIZATION_ID, "WF_vip", event_id))
            await wait_until(lambda: _outbox(directory_db)[0][2], timeout=30, what="the row delivered and marked")
            result = await asyncio.wait_for(run.result(), 60)
            assert result["status"] == "completed", result
            assert [message["Subject"] for message in mail.messages] == ["Welcome, VIP u-vip"]

            # Delivered, then killed before the mark: the restarted dispatcher delivers it again; ingestion drops it.
            await directory.kill()
            _forget_delivery(directory_db, event_id)
            directory.start()
            await wait_until(lambda: _outbox(directory_db)[0][2], timeout=30, what="the redelivered row marked delivered")
            await asyncio.sleep(1.0)  # a duplicate run, had one started, would have sent its email by now
            assert [message["Subject"] for message in mail.messages] == ["Welcome, VIP u-vip"], "the redelivery ran twice"
            runs = [
                execution.id
                async for execution in temporal_client.list_workflows(
                    f"WorkflowType = 'TriggeredRun' AND TaskQueue = '{task_queue}'"
                )
            ]
            assert runs == [run.id]
    finally:
        await directory.stop()
        if ingestion is not None:
            await ingestion.stop()
        await notification.stop()
        await directory_channel.close()
        await notification_channel.close()
        await mail.stop()
