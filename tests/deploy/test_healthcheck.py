"""The container health probe, run as `python -m cxflow.healthcheck` against a real gRPC health service."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
SERVICE = "cxflow.v1.DirectoryService"


async def run_probe(*args: str) -> tuple[int, str, str]:
    """Runs the probe in its own process, exactly as a compose healthcheck does."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cxflow.healthcheck", *args,
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    return process.returncode, stdout.decode(), stderr.decode()


@pytest.fixture
async def health_server() -> AsyncIterator[tuple[str, health.aio.HealthServicer]]:
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        await server.stop(None)


async def test_serving_server_exits_zero_and_prints_status(health_server):
    target, servicer = health_server
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)

    code, stdout, _ = await run_probe(target)

    assert code == 0
    assert "SERVING" in stdout


async def test_not_serving_server_exits_one(health_server):
    target, servicer = health_server
    await servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)

    code, stdout, _ = await run_probe(target)

    assert code == 1
    assert "NOT_SERVING" in stdout


async def test_named_service_is_checked_on_its_own(health_server):
    target, servicer = health_server
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    await servicer.set(SERVICE, health_pb2.HealthCheckResponse.NOT_SERVING)

    assert (await run_probe(target, "--service", SERVICE))[0] == 1
    await servicer.set(SERVICE, health_pb2.HealthCheckResponse.SERVING)
    assert (await run_probe(target, "--service", SERVICE))[0] == 0


async def test_unknown_service_exits_one(health_server):
    target, servicer = health_server
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)

    code, _, stderr = await run_probe(target, "--service", "cxflow.v1.NoSuchService")

    assert code == 1
    assert "NOT_FOUND" in stderr


async def test_nothing_listening_exits_one():
    # A bound but never-listening socket holds the port, so nothing else can answer on it meanwhile.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]

        code, stdout, stderr = await run_probe(f"127.0.0.1:{port}", "--timeout", "2")

    assert code == 1
    assert stdout == ""
    assert "UNAVAILABLE" in stderr or "DEADLINE_EXCEEDED" in stderr
