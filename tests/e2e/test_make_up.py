"""`make up`'s launcher as a user runs it: everything SERVING, the printed curl lines give a completed run, Ctrl-C leaves no process behind."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from temporalio.client import Client, WorkflowExecutionStatus

from cxflow.demo import read_demo_env
from tests.ports import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def _children_of(pid: int) -> set[int]:
    """Every live descendant of pid, read from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def _read_until(stream: asyncio.StreamReader, marker: str, timeout: float) -> str:
    seen = ""

    async def read() -> str:
        nonlocal seen
        while marker not in seen:
            line = await stream.readline()
            if not line:
                raise AssertionError(f"launcher ended before printing {marker!r}:\n{seen}")
            seen += line.decode()
        return seen

    return await asyncio.wait_for(read(), timeout)


async def _serving(target: str) -> bool:
    async with grpc.aio.insecure_channel(target) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    return reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_make_up_starts_everything_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("temporal", "ui", "http", "ingestion", "directory", "notification", "notification_http", "smtp")}
    metrics_ports = {name: free_port() for name in ("INGESTION", "DIRECTORY", "NOTIFICATION", "WORKER", "WORKER_TEMPORAL")}
    env = {
        **os.environ,
        "CXFLOW_DATA_DIR": str(tmp_path / "data"),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}",
        "TEMPORAL_UI_URL": f"http://127.0.0.1:{ports['ui']}",
        "INGESTION_HTTP_PORT": str(ports["http"]),
        "INGESTION_GRPC_PORT": str(ports["ingestion"]),
        "DIRECTORY_GRPC_PORT": str(ports["directory"]),
        "NOTIFICATION_GRPC_PORT": str(ports["notification"]),
        "NOTIFICATION_HTTP_PORT": str(ports["notification_http"]),
        "INGESTION_GRPC_TARGET": f"127.0.0.1:{ports['ingestion']}",
        "DIRECTORY_GRPC_TARGET": f"127.0.0.1:{ports['directory']}",
        "NOTIFICATION_GRPC_TARGET": f"127.0.0.1:{ports['notification']}",
        "CXFLOW_PUBLIC_URL": f"http://127.0.0.1:{ports['http']}",
        "SMTP_PORT": str(ports["smtp"]),
        **{f"{name}_METRICS_PORT": str(port) for name, port in metrics_ports.items()},
    }
    env.pop("CXFLOW_INTERNAL_TOKEN", None)
    env.pop("DATABASE_URL", None)
    launcher = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cxflow.stack", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        banner = await _read_until(launcher.stdout, "Ctrl-C stops everything.", timeout=120)
        children = _children_of(launcher.pid)
        assert len(children) >= 6, banner  # temporal, mail, directory, notification, ingestion, worker

        for name in ("ingestion", "directory", "notification"):
            assert await _serving(f"127.0.0.1:{ports[name]}"), name
        async with httpx.AsyncClient(timeout=10) as http:
            assert (await http.get(f"http://127.0.0.1:{ports['ui']}")).status_code == 200

        credentials = read_demo_env(tmp_path / "data" / "demo.env")
        assert credentials["CXFLOW_API_TOKEN"] in banner and credentials["CXFLOW_WRITE_KEY"] in banner
        curl_lines = [line.strip() for line in banner.splitlines() if line.strip().startswith("curl ")]
        assert len(curl_lines) == 2, banner
        for line in curl_lines:  # exactly what a user would paste
            curl = await asyncio.create_subprocess_shell(line + " -sS -o /dev/null -w '%{http_code}'", stdout=asyncio.subprocess.PIPE)
            status = (await curl.communicate())[0].decode()
            assert status in ("200", "202"), (line, status)
            await asyncio.sleep(1.0)  # the identify is processed asynchronously before the run needs its contact

        client = await Client.connect(f"127.0.0.1:{ports['temporal']}")
        for _ in range(200):
            runs = [w async for w in client.list_workflows("WorkflowType = 'TriggeredRun'")]
            if runs and runs[0].status == WorkflowExecutionStatus.COMPLETED:
                break
            await asyncio.sleep(0.2)
        assert [r.status for r in runs] == [WorkflowExecutionStatus.COMPLETED]
        result = await client.get_workflow_handle(runs[0].id).result()
        assert result["status"] == "completed", result
        emails = sorted((tmp_path / "data" / "mail").glob("*.eml"))
        assert len(emails) == 1 and "Ada" in emails[0].read_text()
        async with httpx.AsyncClient(timeout=10) as http:  # every process serves its Prometheus metrics
            for name, port in metrics_ports.items():
                scraped = await http.get(f"http://127.0.0.1:{port}/metrics")
                assert scraped.status_code == 200, name
                assert ("temporal_" if name == "WORKER_TEMPORAL" else "cxflow_") in scraped.text, name

        launcher.send_signal(signal.SIGINT)  # what Ctrl-C does
        output = (await asyncio.wait_for(launcher.communicate(), timeout=60))[0].decode()
        assert launcher.returncode == 0, output
        assert "stopped." in output
        await asyncio.sleep(0.5)
        assert not [pid for pid in children if _alive(pid)], "processes left behind after Ctrl-C"
    finally:
        if launcher.returncode is None:
            launcher.kill()
            await launcher.wait()
