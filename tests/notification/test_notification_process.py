"""`python -m services.notification` starts from environment variables, serves health, and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.settings import Settings


async def test_module_serves_until_sigterm(tmp_path: Path, settings: Settings) -> None:
    env = {
        **os.environ,
        "CXFLOW_DATA_DIR": str(tmp_path / "data"),
        "CXFLOW_INTERNAL_TOKEN": settings.internal_token,
        "CXFLOW_LOG_FORMAT": "json",
        "NOTIFICATION_GRPC_PORT": "0",
        "NOTIFICATION_HTTP_PORT": "0",
    }
    env.pop("DATABASE_URL", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.notification", env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert process.stderr is not None
        http_port = None
        async with asyncio.timeout(30):
            while True:
                line = await process.stderr.readline()
                assert line, "the service ended before serving"
                if b'"http.serving"' in line:
                    http_port = int(json.loads(line)["address"].rsplit(":", 1)[1])
                if b'"grpc.serving"' in line:
                    port = int(json.loads(line)["address"].rsplit(":", 1)[1])
                    break
        assert http_port, "the survey-link HTTP endpoint is served before gRPC"
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{http_port}/s/unknown-token")).status_code == 404
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            await process.stderr.read()
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert (tmp_path / "data" / "notification.db").exists()
