"""`make up`: runs the whole local stack in one foreground command (Temporal dev server, SMTP catcher,
the three services, the worker), sets up the demo, prints how to use it, and stops it all on Ctrl-C."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc
from temporalio.client import Client

from cxflow.demo import DemoCredentials, demo_env_path, ensure_demo
from services.common.settings import Settings
from workflows.contracts import (
    SEARCH_ATTRIBUTE_CONTACT_ID,
    SEARCH_ATTRIBUTE_ORGANIZATION,
    SEARCH_ATTRIBUTE_TRIGGER,
    SEARCH_ATTRIBUTE_WORKFLOW_ID,
    SEARCH_ATTRIBUTE_WORKFLOW_VERSION,
)

READY_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 15.0
_PR_SET_PDEATHSIG = 1


def _die_with_launcher() -> None:
    """Runs in each child before exec: if the launcher dies (even by kill -9), the kernel sends the child SIGTERM."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Component:
    name: str
    argv: list[str]
    ready: Callable[[], Awaitable[bool]]
    process: asyncio.subprocess.Process | None = field(default=None, repr=False)


def _host_port(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    return host or "localhost", int(port)


async def _grpc_serving(target: str) -> bool:
    try:
        async with grpc.aio.insecure_channel(target) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
        return reply.status == health_pb2.HealthCheckResponse.SERVING
    except grpc.aio.AioRpcError:
        return False


async def _tcp_open(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=2)
    except (TimeoutError, OSError):
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def _http_ok(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


class Stack:
    """The local processes, started in dependency order and stopped in reverse."""

    def __init__(self, settings: Settings, python: str = sys.executable) -> None:
        self.settings = settings
        self.python = python
        self.log_dir = settings.data_dir / "logs"
        self.temporal_client: Client | None = None
        temporal_host, temporal_port = _host_port(settings.temporal_address)
        ui_port = urlparse(settings.temporal_ui_url).port or 8233
        temporal_cli = str(Path(python).parent / "temporal")
        self.temporal = Component(
            "temporal",
            [
                temporal_cli, "server", "start-dev",
                "--db-filename", str(settings.data_dir / "temporal.db"),
                "--ip", "127.0.0.1" if temporal_host in ("localhost", "127.0.0.1") else temporal_host,
                "--port", str(temporal_port),
                "--ui-port", str(ui_port),
                "--namespace", settings.temporal_namespace,
                "--log-level", "warn",
                "--search-attribute", f"{SEARCH_ATTRIBUTE_WORKFLOW_ID}=Keyword",
                "--search-attribute", f"{SEARCH_ATTRIBUTE_WORKFLOW_VERSION}=Int",
                "--search-attribute", f"{SEARCH_ATTRIBUTE_CONTACT_ID}=Keyword",
                "--search-attribute", f"{SEARCH_ATTRIBUTE_TRIGGER}=Keyword",
                "--search-attribute", f"{SEARCH_ATTRIBUTE_ORGANIZATION}=Keyword",
            ],
            self._temporal_ready,
        )
        self.services = [
            Component(
                "mail",
                [python, "-m", "cxflow.mailcatcher", "--host", "127.0.0.1", "--port", str(settings.smtp_port),
                 "--dir", str(settings.data_dir / "mail")],
                lambda: _tcp_open("127.0.0.1", settings.smtp_port),
            ),
            Component("directory", [python, "-m", "services.directory"], lambda: _grpc_serving(settings.directory_grpc_target)),
            Component(
                "notification", [python, "-m", "services.notification"], lambda: _grpc_serving(settings.notification_grpc_target)
            ),
            Component("ingestion", [python, "-m", "services.ingestion"], self._ingestion_ready),
            Component("worker", [python, "-m", "workflows.worker"], self._worker_ready),
        ]

    @property
    def components(self) -> list[Component]:
        return [self.temporal, *self.services]

    async def _temporal_ready(self) -> bool:
        if self.temporal_client is None:
            try:
                self.temporal_client = await Client.connect(
                    self.settings.temporal_address, namespace=self.settings.temporal_namespace
                )
            except RuntimeError:
                return False
        return await _http_ok(self.settings.temporal_ui_url)

    async def _ingestion_ready(self) -> bool:
        return await _grpc_serving(self.settings.ingestion_grpc_target) and await _tcp_open(
            "127.0.0.1", self.settings.ingestion_http_port
        )

    async def _worker_ready(self) -> bool:
        """The worker is ready once it polls the runs' task queue."""
        from temporalio.api.enums.v1 import TaskQueueType
        from temporalio.api.taskqueue.v1 import TaskQueue
        from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

        assert self.temporal_client is not None
        reply = await self.temporal_client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=self.settings.temporal_namespace,
                task_queue=TaskQueue(name=self.settings.temporal_task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        return len(reply.pollers) > 0

    async def _spawn(self, component: Component, env: dict[str, str]) -> None:
        log_file = open(self.log_dir / f"{component.name}.log", "ab")  # noqa: SIM115, ASYNC230 - the child owns it; a local file opens at once
        component.process = await asyncio.create_subprocess_exec(
            *component.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            # Own session: Ctrl-C reaches only the launcher, which stops the children in order.
            start_new_session=True,
            preexec_fn=_die_with_launcher,
        )
        log_file.close()

    async def _wait_ready(self, components: list[Component], deadline: float) -> None:
        loop = asyncio.get_running_loop()
        pending = list(components)
        while pending:
            for component in list(pending):
                if component.process is not None and component.process.returncode is not None:
                    raise RuntimeError(f"{component.name} exited with code {component.process.returncode}; see {self.log_dir / (component.name + '.log')}")
                if await component.ready():
                    pending.remove(component)
            if pending:
                if loop.time() > deadline:
                    names = ", ".join(c.name for c in pending)
                    raise RuntimeError(f"not ready after {READY_TIMEOUT_SECONDS:.0f}s: {names}; see {self.log_dir}")
                await asyncio.sleep(0.25)

    async def start(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        (self.settings.data_dir / "mail").mkdir(exist_ok=True)
        env = dict(os.environ)
        env["CXFLOW_INTERNAL_TOKEN"] = self.settings.ensure_internal_token()
        env["CXFLOW_DATA_DIR"] = str(self.settings.data_dir)
        env.setdefault("CXFLOW_LOG_FORMAT", "json")
        deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_SECONDS
        # Temporal first: ingestion and the worker connect to it when they start.
        await self._spawn(self.temporal, env)
        await self._wait_ready([self.temporal], deadline)
        for component in self.services:
            await self._spawn(component, env)
        await self._wait_ready(self.services, deadline)

    async def stop(self) -> None:
        for component in reversed(self.components):
            process = component.process
            if process is None or process.returncode is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT_SECONDS)
            except TimeoutError:
                process.kill()
                await process.wait()

    async def wait_for_exit(self) -> Component:
        """Returns the first child that exits on its own."""
        waiters = {asyncio.ensure_future(c.process.wait()): c for c in self.components if c.process}
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        return waiters[next(iter(done))]


def _metrics_urls(settings: Settings) -> str:
    """The Prometheus endpoints the stack's processes serve (a port of 0 is switched off)."""
    ports = {
        "ingestion": settings.ingestion_metrics_port,
        "directory": settings.directory_metrics_port,
        "notification": settings.notification_metrics_port,
        "worker": settings.worker_metrics_port,
        "temporal sdk": settings.worker_temporal_metrics_port,
    }
    served = [f"{name} :{port}" for name, port in ports.items() if port]
    return f"http://localhost:<port>/metrics · {' · '.join(served)}" if served else "off"


def banner(settings: Settings, credentials: DemoCredentials) -> str:
    http = f"http://localhost:{settings.ingestion_http_port}"
    identify = (
        f"curl -u '{credentials.write_key}:' -H 'content-type: application/json' "
        f"-d '{{\"userId\":\"u-1\",\"traits\":{{\"email\":\"ada@example.com\",\"firstName\":\"Ada\",\"lastName\":\"Lovelace\"}}}}' "
        f"{http}/v1/identify"
    )
    trigger = (
        f"curl -H 'X-API-TOKEN: {credentials.api_token}' -H 'content-type: application/json' "
        f"-d '{{\"userId\":\"u-1\",\"properties\":{{\"plan\":\"pro\"}}}}' {credentials.trigger_url}"
    )
    return f"""
cxflow is up.

  Temporal UI      {settings.temporal_ui_url}
  Segment intake   {http}/v1/identify  (HTTP Basic: write key as user name)
  Welcome trigger  {credentials.trigger_url}
  gRPC             ingestion {settings.ingestion_grpc_target} · directory {settings.directory_grpc_target} · notification {settings.notification_grpc_target}
  Email (catcher)  SMTP localhost:{settings.smtp_port} -> {settings.data_dir / 'mail'}/*.eml
  Survey links     {settings.notification_public_url}/s/<token>
  Metrics          {_metrics_urls(settings)}
  Logs             {settings.data_dir / 'logs'}/*.log

Credentials ({demo_env_path(settings)}; `source` it in scripts):
""" + "\n".join(f"  {k}={v}" for k, v in credentials.as_env().items()) + f"""

Send a first event: 1) Segment identify creates the contact, 2) the JSON event starts the Welcome run:
  {identify}
  {trigger}
Then open the run in the Temporal UI ({settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}/workflows) and the email in {settings.data_dir / 'mail'}.

Ctrl-C stops everything.
"""


async def run(settings: Settings) -> int:
    stack = Stack(settings)
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop_requested.set)
    print(f"starting cxflow (data in {settings.data_dir}, logs in {stack.log_dir}) ...", flush=True)
    exit_code = 0
    try:
        starting = asyncio.ensure_future(stack.start())
        stopping = asyncio.ensure_future(stop_requested.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stop_requested.is_set():
            starting.cancel()
            return 130
        starting.result()
        stopping.cancel()
        credentials = await ensure_demo(settings)
        print(banner(settings, credentials), flush=True)
        exited = asyncio.ensure_future(stack.wait_for_exit())
        stopping = asyncio.ensure_future(stop_requested.wait())
        await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if exited.done():
            component = exited.result()
            print(f"{component.name} stopped unexpectedly (code {component.process.returncode}); stopping the stack. See {stack.log_dir}/{component.name}.log", file=sys.stderr)
            exit_code = 1
        stopping.cancel()
    except Exception as exc:  # noqa: BLE001 - report any start-up failure plainly, then stop what started
        print(f"cxflow failed to start: {exc}", file=sys.stderr)
        exit_code = 1
    finally:
        print("stopping cxflow ...", flush=True)
        await stack.stop()
        print("stopped.", flush=True)
    return exit_code


def main() -> None:
    settings = Settings.from_env()
    raise SystemExit(asyncio.run(run(settings)))


if __name__ == "__main__":
    main()
