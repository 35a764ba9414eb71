"""The stack the fault tests break: settings on fixed free ports, services and the worker as child processes, setup calls."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from aiosmtpd.smtp import SMTP, Envelope, Session
from google.protobuf import json_format, struct_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from temporalio.client import Client
from temporalio.service import RPCError

from cxflow.demo import DEMO_DIRECTORY_ID, DEMO_ORGANIZATION_ID
from cxflow.mailcatcher import MailCatcher
from cxflow.v1 import (
    directory_pb2,
    directory_pb2_grpc,
    ingestion_pb2,
    ingestion_pb2_grpc,
    notification_pb2,
    notification_pb2_grpc,
)
from services.common.auth import internal_metadata
from services.common.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


class SlowMailCatcher(MailCatcher):
    """A real SMTP server that takes a moment over each message, as a busy relay does, so runs are surely in flight."""

    def __init__(self, settings: Settings, seconds: float) -> None:
        super().__init__(host="127.0.0.1", port=0, mail_dir=settings.data_dir / "mail")
        self._seconds = seconds

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self._seconds)
        return await super().handle_DATA(server, session, envelope)


def stack_settings(settings: Settings, *, temporal_address: str, task_queue: str, smtp_port: int, ports: list[int]) -> Settings:
    """Settings of a whole stack on fixed ports (a restarted process must come back where its clients look)."""
    http, ingestion_port, directory_port, notification_port = ports
    live = settings.with_overrides(
        temporal_address=temporal_address,
        temporal_task_queue=task_queue,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
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
    return live


def process_env(settings: Settings) -> dict[str, str]:
    """The environment that makes Settings.from_env() in a child process equal to `settings`."""
    return {
        **os.environ,
        "CXFLOW_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": settings.database_url,
        "CXFLOW_LOG_FORMAT": "json",
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "INGESTION_HTTP_PORT": str(settings.ingestion_http_port),
        "INGESTION_GRPC_PORT": str(settings.ingestion_grpc_port),
        "DIRECTORY_GRPC_PORT": str(settings.directory_grpc_port),
        "NOTIFICATION_GRPC_PORT": str(settings.notification_grpc_port),
        "NOTIFICATION_HTTP_PORT": str(settings.notification_http_port),
        "INGESTION_GRPC_TARGET": settings.ingestion_grpc_target,
        "DIRECTORY_GRPC_TARGET": settings.directory_grpc_target,
        "NOTIFICATION_GRPC_TARGET": settings.notification_grpc_target,
        "CXFLOW_PUBLIC_URL": settings.public_url,
        "NOTIFICATION_PUBLIC_URL": settings.notification_public_url,
        "CXFLOW_INTERNAL_TOKEN": settings.resolved_internal_token(),
        "SMTP_HOST": settings.smtp_host,
        "SMTP_PORT": str(settings.smtp_port),
        "SEGMENT_REFRESH_INTERVAL_SECONDS": str(settings.segment_refresh_interval_seconds),
        # No /metrics endpoints: fixed default ports would collide between the processes of parallel tests.
        **{f"{process}_METRICS_PORT": "0" for process in ("INGESTION", "DIRECTORY", "NOTIFICATION", "WORKER", "WORKER_TEMPORAL")},
    }


class ChildProcess:
    """One cxflow process (`python -m <module>`) that a test starts, kills with SIGKILL, stops and starts again."""

    def __init__(self, module: str, settings: Settings) -> None:
        self.module = module
        self._settings = settings
        self._process: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> ChildProcess:
        assert not self.running, f"{self.module} is already running"
        log_path = self._settings.data_dir / f"{self.module.rsplit('.', 1)[-1]}.log"
        with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            self._process = subprocess.Popen(
                [sys.executable, "-m", self.module], cwd=ROOT, env=process_env(self._settings), stdout=log, stderr=log
            )
        return self

    async def kill(self) -> None:
        """SIGKILL: no cleanup, no drain, as a crash or an OOM kill ends a process."""
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self._process.wait, 10)

    async def stop(self, timeout: float = 20) -> None:
        """SIGTERM (the process drains its calls and exits), SIGKILL if it has not exited after `timeout` seconds.

        Waits in a thread: the servers the child is draining its calls to (SMTP, HTTP) may share this event loop."""
        if not self.running:
            return
        assert self._process is not None
        self._process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self._process.wait, timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            await asyncio.to_thread(self._process.wait, 10)


def service_process(name: str, settings: Settings) -> ChildProcess:
    return ChildProcess(f"services.{name}", settings)


def worker_process(settings: Settings) -> ChildProcess:
    return ChildProcess("workflows.worker", settings)


async def wait_until(condition: Callable[[], Awaitable[bool] | bool], *, timeout: float, what: str, every: float = 0.1) -> None:
    """Polls `condition` until it holds; fails naming `what` after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert loop.time() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(every)


async def wait_for_grpc_service(target: str, timeout: float = 30) -> None:
    """Waits until the gRPC server at `target` answers its health check with SERVING."""

    async def serving() -> bool:
        async with grpc.aio.insecure_channel(target) as channel:
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
            except grpc.aio.AioRpcError:
                return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    await wait_until(serving, timeout=timeout, what=f"gRPC at {target}", every=0.2)


def organization_metadata(settings: Settings, organization_id: str = DEMO_ORGANIZATION_ID) -> tuple:
    return internal_metadata(settings.resolved_internal_token(), organization_id)


async def create_workflow(settings: Settings, workflow_id: str, spec: dict[str, Any]) -> ingestion_pb2.Workflow:
    async with grpc.aio.insecure_channel(settings.ingestion_grpc_target) as channel:
        message = struct_pb2.Struct()
        json_format.ParseDict(spec, message)
        return await ingestion_pb2_grpc.WorkflowServiceStub(channel).CreateWorkflow(
            ingestion_pb2.CreateWorkflowRequest(id=workflow_id, spec=message), metadata=organization_metadata(settings)
        )


async def allow_local_outbound(settings: Settings) -> None:
    """Lets the demo organization's signed webhooks reach servers on 127.0.0.1 (the recording HTTP server)."""
    async with grpc.aio.insecure_channel(settings.notification_grpc_target) as channel:
        await notification_pb2_grpc.NotificationServiceStub(channel).UpdateChannelSettings(
            notification_pb2.UpdateChannelSettingsRequest(
                webhook_secret="whsec-faults", outbound_allow_list=notification_pb2.StringList(values=["127.0.0.1"])
            ),
            metadata=organization_metadata(settings),
        )


async def upsert_contact(settings: Settings, ext_ref: str, email: str, embedded_data: dict[str, Any] | None = None) -> str:
    """Creates or updates one contact of the demo directory; returns its id."""
    data = struct_pb2.Struct()
    data.update(embedded_data or {})
    async with grpc.aio.insecure_channel(settings.directory_grpc_target) as channel:
        reply = await directory_pb2_grpc.DirectoryServiceStub(channel).UpsertContact(
            directory_pb2.UpsertContactRequest(
                directory_id=DEMO_DIRECTORY_ID,
                contact=directory_pb2.ContactInput(ext_ref=ext_ref, email=email, first_name="Grace", embedded_data=data),
            ),
            metadata=organization_metadata(settings),
        )
    return reply.contact_id


class TemporalDevServer:
    """A Temporal dev server of a test's own (SQLite file persistence) that the test kills and starts again on one port."""

    def __init__(self, command: list[str], port: int, db_file: Path, log_file: Path) -> None:
        self.address = f"127.0.0.1:{port}"
        self._args = [*command, "--headless", "--ip", "127.0.0.1", "--port", str(port), "--db-filename", str(db_file)]
        self._log_file = log_file
        self._process: subprocess.Popen | None = None

    def _spawn(self) -> None:
        with open(self._log_file, "ab") as log:
            self._process = subprocess.Popen(self._args, stdout=log, stderr=log)

    async def start(self, timeout: float = 30) -> None:
        self._spawn()

        async def answering() -> bool:
            try:
                client = await Client.connect(self.address)
                await client.service_client.check_health()
            except (RuntimeError, RPCError):  # connection refused, or not serving yet, while the server comes up
                return False
            return True

        await wait_until(answering, timeout=timeout, what=f"the Temporal dev server at {self.address}", every=0.2)

    async def kill(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self._process.wait, 10)

    async def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                await asyncio.to_thread(self._process.wait, 20)
            except subprocess.TimeoutExpired:
                await self.kill()
