"""The shared metrics: the gRPC interceptor counts and times real grpc.aio calls, the ASGI middleware real requests by
route template, and serve_metrics exposes a registry over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import grpc
import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry

from services.common.metrics import (
    GrpcMetricsInterceptor,
    GrpcServerMetrics,
    HttpMetrics,
    HttpMetricsMiddleware,
    serve_metrics,
)
from tests.ports import free_port

SERVICE = "cxflow.test.Echo"


async def _say(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    if request == b"missing":
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
    if request == b"bug":
        raise ValueError("a handler bug")
    return request


async def _count(request: bytes, context: grpc.aio.ServicerContext):  # type: ignore[no-untyped-def]
    for i in range(int(request)):
        yield str(i).encode()


async def _count_by_writing(request: bytes, context: grpc.aio.ServicerContext) -> None:
    for i in range(int(request)):
        await context.write(str(i).encode())


@pytest.fixture
async def echo_server() -> tuple[grpc.aio.Channel, CollectorRegistry]:
    registry = CollectorRegistry()
    server = grpc.aio.server(interceptors=[GrpcMetricsInterceptor(GrpcServerMetrics(registry))])
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                SERVICE,
                {
                    "Say": grpc.unary_unary_rpc_method_handler(_say),
                    "Count": grpc.unary_stream_rpc_method_handler(_count),
                    "CountByWriting": grpc.unary_stream_rpc_method_handler(_count_by_writing),
                },
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield channel, registry
    finally:
        await channel.close()
        await server.stop(0)


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_grpc_calls_are_counted_by_method_and_status_and_timed(echo_server) -> None:
    channel, registry = echo_server
    say = channel.unary_unary(f"/{SERVICE}/Say")
    assert await say(b"hello") == b"hello"
    assert await say(b"again") == b"again"
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await say(b"missing")
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as bug:
        await say(b"bug")
    assert bug.value.code() == grpc.StatusCode.UNKNOWN
    count = channel.unary_stream(f"/{SERVICE}/Count")
    assert [item async for item in count(b"3")] == [b"0", b"1", b"2"]
    count_by_writing = channel.unary_stream(f"/{SERVICE}/CountByWriting")
    assert [item async for item in count_by_writing(b"2")] == [b"0", b"1"]

    method = f"/{SERVICE}/Say"
    assert _sample(registry, "cxflow_grpc_requests_total", method=method, code="OK") == 2
    assert _sample(registry, "cxflow_grpc_requests_total", method=method, code="NOT_FOUND") == 1
    assert _sample(registry, "cxflow_grpc_requests_total", method=method, code="UNKNOWN") == 1
    assert _sample(registry, "cxflow_grpc_request_duration_seconds_count", method=method) == 4
    assert _sample(registry, "cxflow_grpc_request_duration_seconds_sum", method=method) > 0
    assert _sample(registry, "cxflow_grpc_requests_total", method=f"/{SERVICE}/Count", code="OK") == 1
    assert _sample(registry, "cxflow_grpc_requests_total", method=f"/{SERVICE}/CountByWriting", code="OK") == 1


def _app(registry: CollectorRegistry) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> JSONResponse:
        if item_id == "gone":
            return JSONResponse({"error": "gone"}, status_code=410)
        return JSONResponse({"id": item_id})

    @app.post("/fail")
    async def fail() -> JSONResponse:
        raise RuntimeError("a handler bug")

    app.add_middleware(HttpMetricsMiddleware, metrics=HttpMetrics(registry))
    return app


async def test_http_requests_are_counted_by_route_template_and_status_class() -> None:
    registry = CollectorRegistry()
    transport = httpx.ASGITransport(app=_app(registry), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://cxflow.test") as client:
        assert (await client.get("/items/a")).status_code == 200
        assert (await client.get("/items/b")).status_code == 200
        assert (await client.get("/items/gone")).status_code == 410
        assert (await client.get("/nowhere/x1")).status_code == 404
        assert (await client.post("/fail")).status_code == 500

    route = "/items/{item_id}"
    assert _sample(registry, "cxflow_http_requests_total", method="GET", route=route, status="2xx") == 2
    assert _sample(registry, "cxflow_http_requests_total", method="GET", route=route, status="4xx") == 1
    assert _sample(registry, "cxflow_http_requests_total", method="GET", route="unmatched", status="4xx") == 1
    assert _sample(registry, "cxflow_http_requests_total", method="POST", route="/fail", status="5xx") == 1
    assert _sample(registry, "cxflow_http_request_duration_seconds_count", method="GET", route=route) == 3
    # Concrete paths never become label values.
    assert "/items/a" not in {sample.labels.get("route") for metric in registry.collect() for sample in metric.samples}


async def test_serve_metrics_exposes_the_registry_and_port_zero_turns_it_off() -> None:
    registry = CollectorRegistry()
    HttpMetrics(registry).observe("GET", "/x", 200, 0.01)
    assert serve_metrics(registry, "127.0.0.1", 0, process="test") is None
    endpoint = serve_metrics(registry, "127.0.0.1", free_port(), process="test")
    assert endpoint is not None
    try:
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"http://127.0.0.1:{endpoint.port}/metrics")
        assert answer.status_code == 200
        assert 'cxflow_http_requests_total{method="GET",route="/x",status="2xx"} 1.0' in answer.text
        with pytest.raises(RuntimeError, match="cannot serve metrics"):
            serve_metrics(registry, "127.0.0.1", endpoint.port, process="test")
    finally:
        endpoint.close()


async def test_a_service_process_serves_its_metrics_on_the_port_its_setting_names(tmp_path) -> None:
    """`python -m services.directory` as deployed: DIRECTORY_METRICS_PORT and METRICS_HOST decide where /metrics is."""
    metrics_port, grpc_port = free_port(), free_port()
    env = {
        **os.environ,
        "CXFLOW_DATA_DIR": str(tmp_path / "data"),
        "CXFLOW_INTERNAL_TOKEN": "cxi_metrics-test-token",
        "DIRECTORY_GRPC_PORT": str(grpc_port),
        "DIRECTORY_METRICS_PORT": str(metrics_port),
        "METRICS_HOST": "127.0.0.1",
        "INGESTION_GRPC_TARGET": f"127.0.0.1:{free_port()}",  # nobody there: the outbox has nothing to deliver anyway
    }
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.directory", env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        async with httpx.AsyncClient(timeout=2) as client, grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for _ in range(300):  # up to 30 s on a busy machine; a few seconds usually
                assert process.returncode is None, f"the directory exited with {process.returncode}"
                try:
                    reply = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                except grpc.aio.AioRpcError:
                    await asyncio.sleep(0.1)
                    continue
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    break
            text = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        assert 'cxflow_grpc_requests_total{code="OK",method="/grpc.health.v1.Health/Check"} 1.0' in text, text
        assert "cxflow_outbox_backlog 0.0" in text
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=20) == 0
