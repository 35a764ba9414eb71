"""Kill -9 the Temporal dev server (SQLite persistence) under load and start it again on the same port and file: the
worker and ingestion reconnect by themselves (a worker restarted during the outage waits for the server), every run
resumes and completes, and every email goes out once."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
from fault_stack import (
    SlowMailCatcher,
    TemporalDevServer,
    create_workflow,
    stack_settings,
    upsert_contact,
    wait_until,
    worker_process,
)
from temporalio.client import Client

from cxflow.demo import DEMO_DIRECTORY_ID, ensure_demo
from services.common.settings import Settings
from services.directory.server import start_directory
from services.ingestion.server import start_ingestion
from services.notification.server import start_notification

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

RUNS_BEFORE = 10
RUNS_AFTER = 3
DOWN_SECONDS = 3

RESTART_WORKFLOW = {
    "name": "Two mails",
    "enabled": True,
    "trigger": {"type": "json_event", "mappings": [{"name": "n", "path": "$.n", "type": "string"}]},
    "contact": {"directoryId": DEMO_DIRECTORY_ID, "lookup": "extRef", "path": "$.userId"},
    "loadContact": True,
    "tasks": [
        {"type": "email", "to": ["{{ contact.email }}"], "subject": f"run {{{{ fields.n }}}} mail {index}", "text": "hello"}
        for index in range(2)
    ],
}


async def _trigger(client: httpx.AsyncClient, api_token: str, n: int) -> str:
    reply = await client.post(
        "/triggers/WF_restart",
        headers={"X-API-TOKEN": api_token},
        json={"userId": "u-restart", "n": str(n), "messageId": f"r-{n}"},
    )
    assert reply.status_code == 202, reply.text
    return reply.json()["runs"][0]["workflowId"]


async def test_temporal_restart_under_load_resumes_every_run_and_duplicates_nothing(
    settings: Settings, temporal_dev_server_command: list[str], free_ports
) -> None:
    temporal_port, *stack_ports = free_ports(5)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    temporal = TemporalDevServer(
        temporal_dev_server_command, temporal_port, settings.data_dir / "temporal.db", settings.data_dir / "temporal.log"
    )
    await temporal.start()
    mail = SlowMailCatcher(settings, seconds=0.2)
    await mail.start()
    live = stack_settings(
        settings, temporal_address=temporal.address, task_queue="cxflow-runs", smtp_port=mail.port, ports=stack_ports
    )
    directory = await start_directory(live)
    notification = await start_notification(live)
    ingestion = await start_ingestion(live)  # its own Temporal client: the one that must reconnect
    worker = worker_process(live).start()
    try:
        credentials = await ensure_demo(live)
        await create_workflow(live, "WF_restart", RESTART_WORKFLOW)
        await upsert_contact(live, "u-restart", "grace@example.com")
        async with httpx.AsyncClient(base_url=live.public_url, timeout=30) as client:
            run_ids = [await _trigger(client, credentials.api_token, n) for n in range(RUNS_BEFORE)]
            await wait_until(lambda: len(mail.messages) >= 3, timeout=60, what="the first emails")
            await temporal.kill()
            assert len(mail.messages) < 2 * RUNS_BEFORE, "every email was out before the kill: the test proved nothing"
            # A worker that (re)starts while the server is down waits for it instead of exiting.
            await worker.kill()
            worker.start()
            await asyncio.sleep(DOWN_SECONDS)
            await temporal.start()
        # Ingestion starts new runs on the restarted server without being restarted itself. A new HTTP client: the
        # old one's keep-alive connection sat idle past uvicorn's keep-alive timeout while the server was down, and a
        # request racing that close fails in the client (ReadError) before it reaches ingestion at all.
        async with httpx.AsyncClient(base_url=live.public_url, timeout=30) as client:
            run_ids += [await _trigger(client, credentials.api_token, n) for n in range(RUNS_BEFORE, RUNS_BEFORE + RUNS_AFTER)]

        runs = await Client.connect(temporal.address)
        for workflow_id in run_ids:
            result = await asyncio.wait_for(runs.get_workflow_handle(workflow_id).result(), 90)
            assert result["status"] == "completed", (workflow_id, result)
    finally:
        await worker.stop()
        await ingestion.stop()
        await notification.stop()
        await directory.stop()
        await mail.stop()
        await temporal.stop()

    subjects = Counter(message["Subject"] for message in mail.messages)
    assert set(subjects) == {f"run {n} mail {index}" for n in range(RUNS_BEFORE + RUNS_AFTER) for index in range(2)}
    assert [subject for subject, count in subjects.items() if count != 1] == [], "some email went out twice"
