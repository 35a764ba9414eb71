"""Kill -9 the worker while runs are sending mail; a restarted worker completes every run, each email sent once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import grpc
import httpx
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from google.protobuf import json_format, struct_pb2
from temporalio.client import Client, WorkflowExecutionStatus

from cxflow.demo import DEMO_DIRECTORY_ID, DEMO_ORGANIZATION_ID, ensure_demo
from cxflow.mailcatcher import MailCatcher
from cxflow.v1 import ingestion_pb2, ingestion_pb2_grpc
from services.common.auth import internal_metadata
from services.common.settings import Settings
from services.directory.server import start_directory
from services.ingestion.server import start_ingestion
from services.notification.server import start_notification

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
RUNS = 12
EMAILS_PER_RUN = 3
SLOW_SMTP_SECONDS = 0.15  # each message takes this long to accept, so runs are surely in flight at the kill

FAULT_WORKFLOW = {
    "name": "Three mails",
    "enabled": True,
    "trigger": {"type": "json_event", "mappings": [{"name": "n", "path": "$.n", "type": "string"}]},
    "contact": {"directoryId": DEMO_DIRECTORY_ID, "lookup": "extRef", "path": "$.userId"},
    "loadContact": True,
    "tasks": [
        {"type": "email", "to": ["{{ contact.email }}"], "subject": f"run {{{{ fields.n }}}} mail {index}", "text": "hello"}
        for index in range(EMAILS_PER_RUN)
    ],
}


class SlowMailCatcher(MailCatcher):
    """A real SMTP server that takes a moment over each message, as a busy relay does."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(SLOW_SMTP_SECONDS)
        return await super().handle_DATA(server, session, envelope)


def _start_worker(settings: Settings) -> subprocess.Popen:
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "DIRECTORY_GRPC_TARGET": settings.directory_grpc_target,
        "NOTIFICATION_GRPC_TARGET": settings.notification_grpc_target,
        "CXFLOW_INTERNAL_TOKEN": settings.resolved_internal_token(),
        "CXFLOW_DATA_DIR": str(settings.data_dir),
        "CXFLOW_LOG_FORMAT": "json",
        # No /metrics endpoints: fixed default ports would collide between the processes of parallel tests.
        **{f"{process}_METRICS_PORT": "0" for process in ("WORKER", "WORKER_TEMPORAL")},
    }
    with open(settings.data_dir / "worker.log", "ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "workflows.worker"], cwd=ROOT, env=env, stdout=log, stderr=log)


async def _wait_for_mail(mail: MailCatcher, at_least: int, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while len(mail.messages) < at_least:
        assert asyncio.get_running_loop().time() < deadline, f"only {len(mail.messages)} emails after {timeout} s"
        await asyncio.sleep(0.05)


async def test_worker_killed_mid_run_completes_every_run_with_each_email_once(
    settings: Settings, temporal_client: Client, task_queue: str, free_ports
) -> None:
    mail = SlowMailCatcher(host="127.0.0.1", port=0, mail_dir=settings.data_dir / "mail")
    await mail.start()
    http, ingestion_port, directory_port, notification_port = free_ports(4)
    live = settings.with_overrides(
        temporal_address=temporal_client.service_client.config.target_host,
        temporal_task_queue=task_queue,
        smtp_host="127.0.0.1",
        smtp_port=mail.port,
        ingestion_http_port=http,
        ingestion_grpc_port=ingestion_port,
        directory_grpc_port=directory_port,
        notification_grpc_port=notification_port,
        ingestion_grpc_target=f"127.0.0.1:{ingestion_port}",
        directory_grpc_target=f"127.0.0.1:{directory_port}",
        notification_grpc_target=f"127.0.0.1:{notification_port}",
        public_url=f"http://127.0.0.1:{http}",
    )
    live.data_dir.mkdir(parents=True, exist_ok=True)
    directory = await start_directory(live)
    notification = await start_notification(live)
    ingestion = await start_ingestion(live, temporal_client=temporal_client)
    worker = _start_worker(live)
    try:
        credentials = await ensure_demo(live)
        async with grpc.aio.insecure_channel(live.ingestion_grpc_target) as channel:
            spec = struct_pb2.Struct()
            json_format.ParseDict(FAULT_WORKFLOW, spec)
            await ingestion_pb2_grpc.WorkflowServiceStub(channel).CreateWorkflow(
                ingestion_pb2.CreateWorkflowRequest(id="WF_faults", spec=spec),
                metadata=internal_metadata(live.resolved_internal_token(), DEMO_ORGANIZATION_ID),
            )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http}", timeout=10) as client:
            identify = await client.post(
                "/v1/identify",
                auth=(credentials.write_key, ""),
                json={"userId": "u-faults", "traits": {"email": "grace@example.com", "firstName": "Grace"}},
            )
            assert identify.status_code == 200, identify.text
            await asyncio.sleep(1.0)  # the identify is processed from the inbox before the runs load the contact
            run_ids = []
            for n in range(RUNS):
                reply = await client.post(
                    "/triggers/WF_faults",
                    headers={"X-API-TOKEN": credentials.api_token},
                    json={"userId": "u-faults", "n": str(n), "messageId": f"fault-{n}"},
                )
                assert reply.status_code == 202, reply.text
                run_ids.append(reply.json()["runs"][0]["workflowId"])

        total = RUNS * EMAILS_PER_RUN
        await _wait_for_mail(mail, at_least=total // 4, timeout=60)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        sent_at_kill = len(mail.messages)
        assert sent_at_kill < total, "every email was out before the kill: the test proved nothing"

        worker = _start_worker(live)
        for workflow_id in run_ids:
            result = await temporal_client.get_workflow_handle(workflow_id).result()
            assert result["status"] == "completed", (workflow_id, result)
            description = await temporal_client.get_workflow_handle(workflow_id).describe()
            assert description.status == WorkflowExecutionStatus.COMPLETED

        subjects = Counter(message["Subject"] for message in mail.messages)
        expected = {f"run {n} mail {index}" for n in range(RUNS) for index in range(EMAILS_PER_RUN)}
        assert set(subjects) == expected
        assert [s for s, count in subjects.items() if count != 1] == [], "some email went out twice"
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
        await ingestion.stop()
        await notification.stop()
        await directory.stop()
        await mail.stop()
