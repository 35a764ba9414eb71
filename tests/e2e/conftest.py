"""The live stack for end-to-end tests: every real part in this process (services, worker, SMTP) beside the dev server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from temporalio.client import Client

from cxflow.demo import DemoCredentials, ensure_demo
from cxflow.mailcatcher import MailCatcher
from services.common.settings import Settings
from services.directory.server import start_directory
from services.ingestion.server import start_ingestion
from services.notification.server import start_notification
from tests.ports import free_port
from workflows.worker import build_worker


@dataclass
class LiveStack:
    settings: Settings
    temporal_client: Client
    mail: MailCatcher
    credentials: DemoCredentials

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.ingestion_http_port}"


@pytest.fixture
async def live_stack(settings: Settings, temporal_client: Client, task_queue: str) -> AsyncIterator[LiveStack]:
    mail = MailCatcher(host="127.0.0.1", port=0, mail_dir=settings.data_dir / "mail")
    await mail.start()
    ports = {name: free_port() for name in ("http", "ingestion", "directory", "notification")}
    live_settings = settings.with_overrides(
        temporal_address=temporal_client.service_client.config.target_host,
        temporal_task_queue=task_queue,
        smtp_host="127.0.0.1",
        smtp_port=mail.port,
        ingestion_http_port=ports["http"],
        ingestion_grpc_port=ports["ingestion"],
        directory_grpc_port=ports["directory"],
        notification_grpc_port=ports["notification"],
        ingestion_grpc_target=f"127.0.0.1:{ports['ingestion']}",
        directory_grpc_target=f"127.0.0.1:{ports['directory']}",
        notification_grpc_target=f"127.0.0.1:{ports['notification']}",
        public_url=f"http://127.0.0.1:{ports['http']}",
    )
    live_settings.data_dir.mkdir(parents=True, exist_ok=True)
    directory = await start_directory(live_settings)
    notification = await start_notification(live_settings)
    ingestion = await start_ingestion(live_settings, temporal_client=temporal_client)
    directory_channel = grpc.aio.insecure_channel(live_settings.directory_grpc_target)
    notification_channel = grpc.aio.insecure_channel(live_settings.notification_grpc_target)
    worker = build_worker(
        temporal_client,
        task_queue=task_queue,
        directory_channel=directory_channel,
        notification_channel=notification_channel,
        internal_token=live_settings.resolved_internal_token(),
    )
    worker_task = asyncio.create_task(worker.run())
    try:
        credentials = await ensure_demo(live_settings)
        yield LiveStack(live_settings, temporal_client, mail, credentials)
    finally:
        await worker.shutdown()
        await asyncio.gather(worker_task, return_exceptions=True)
        await directory_channel.close()
        await notification_channel.close()
        await ingestion.stop()
        await notification.stop()
        await directory.stop()
        await mail.stop()
