"""Events per second through the Segment intake (/v1/batch, 100 messages per batch, messageId dedup on) beside a bare
ASGI endpoint that only parses the same JSON, both served by uvicorn with the same settings, measured in one run.

Ours stores every message durably (SQLite inbox, ON CONFLICT dedup) before answering and runs its inbox processor in
the same process. The load generator runs in a child process so it does not share the servers' event loop.

    python benchmarks/ingest_http.py [--quick] [--database-url postgresql+asyncpg://…]
    ends with: RESULT ingest_http ratio=<ours/baseline> events_per_s=… baseline_events_per_s=…

Rounds alternate baseline and ours (medians reported); before the next round the inbox processor drains what ours
accepted, so each baseline runs on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import grpc
import httpx
import uvicorn
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cxflow.v1 import ingestion_pb2, ingestion_pb2_grpc
from services.common.auth import internal_metadata
from services.common.db import create_engine
from services.common.gc_tuning import tune_for_serving
from services.common.settings import Settings
from services.ingestion.models import InboxBatch
from services.ingestion.segment_spec import parse_object
from services.ingestion.server import start_ingestion

BATCH_SIZE = 100
CONCURRENCY = 8
INTERNAL_TOKEN = "cxi_benchmark-internal-token-0123456789"


class NoTokens:
    """The benchmark makes no API-token calls (the intake authenticates with write keys)."""

    async def resolve(self, token: str) -> str | None:
        return None


async def bare_json_app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    """The baseline: read the body, parse the JSON (with the intake's own parser), answer like Segment does. Nothing else."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    parse_object(body)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"success":true}'})


def batch_body(run: str, index: int) -> bytes:
    messages = [
        {"type": "track", "userId": f"user-{i % 50}", "event": "Order Completed", "messageId": f"{run}-{index}-{i}",
         "properties": {"total": 9.5, "sku": f"SKU-{i}", "currency": "EUR"}, "context": {"ip": "10.0.0.1"},
         "timestamp": "2026-11-23T10:00:00.000Z"}
        for i in range(BATCH_SIZE)
    ]
    return json.dumps({"batch": messages, "sentAt": "2026-11-23T10:00:01.000Z"}).encode()


def load(url: str, write_key: str, batches: int, run: str, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Child process: posts `batches` batches with CONCURRENCY requests in flight; reports the elapsed seconds."""
    bodies = [batch_body(run, index) for index in range(batches)]
    headers = {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode(),
               "Content-Type": "application/json"}

    async def go() -> float:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=CONCURRENCY)) as client:
            await client.post(url, content=batch_body(run + "-warm", 0), headers=headers)  # warm-up, not timed
            queue: asyncio.Queue[bytes] = asyncio.Queue()
            for body in bodies:
                queue.put_nowait(body)

            async def worker() -> None:
                while not queue.empty():
                    response = await client.post(url, content=queue.get_nowait(), headers=headers)
                    response.raise_for_status()

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
            return time.perf_counter() - started

    results.put(asyncio.run(go()))


async def measure(url: str, write_key: str, batches: int) -> float:
    """Events per second the endpoint at url took from a child-process load generator."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=load, args=(url, write_key, batches, uuid.uuid4().hex[:8], results))
    process.start()
    while process.is_alive():
        await asyncio.sleep(0.05)  # keep serving while the child loads us
    if process.exitcode != 0:
        raise RuntimeError(f"the load generator failed (exit {process.exitcode})")
    elapsed = results.get()
    return batches * BATCH_SIZE / elapsed


async def drain(database_url: str) -> float:
    """Waits until the inbox processor has handled every accepted message; returns the seconds it took."""
    started = time.perf_counter()
    engine = create_engine(database_url)
    try:
        while True:
            async with engine.connect() as connection:
                pending = (await connection.execute(select(func.count()).where(InboxBatch.status == "pending"))).scalar_one()
            if not pending:
                return time.perf_counter() - started
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()


async def main(quick: bool, database_url: str = "") -> None:
    from temporalio.testing import WorkflowEnvironment

    batches, rounds = (60, 3) if quick else (300, 5)
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(data_dir=Path(folder), internal_token=INTERNAL_TOKEN, log_level="WARNING", log_format="json",
                            ingestion_http_port=0, ingestion_grpc_port=0, database_url=database_url)
        from services.common.logging import configure_logging

        configure_logging("WARNING", "json", service="benchmark")
        temporal = await WorkflowEnvironment.start_local(dev_server_existing_path=str(Path(sys.executable).parent / "temporal"))
        server = await start_ingestion(settings, temporal.client, NoTokens())
        baseline = uvicorn.Server(uvicorn.Config(bare_json_app, host=settings.ingestion_http_host, port=0, log_config=None))
        baseline_task = asyncio.create_task(baseline.serve())
        try:
            while not baseline.started:
                await asyncio.sleep(0.02)
            baseline_port = baseline.servers[0].sockets[0].getsockname()[1]
            tune_for_serving()  # as `python -m services.ingestion` does once started; both servers share this process
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
                source = await ingestion_pb2_grpc.IngestionServiceStub(channel).CreateSource(
                    ingestion_pb2.CreateSourceRequest(name="benchmark"), metadata=internal_metadata(INTERNAL_TOKEN, "ORG_benchmark")
                )
            ours_runs, bare_runs = [], []
            for _ in range(rounds):  # alternate, so drift of the machine touches both alike
                bare_runs.append(await measure(f"http://127.0.0.1:{baseline_port}/v1/batch", source.write_key, batches))
                ours_runs.append(await measure(f"http://127.0.0.1:{server.http_port}/v1/batch", source.write_key, batches))
                drained = await drain(settings.database_url_for("ingestion"))  # the next baseline runs on a quiet machine
            ours, bare = statistics.median(ours_runs), statistics.median(bare_runs)
        finally:
            baseline.should_exit = True
            await baseline_task
            await server.stop()
            await temporal.shutdown()
    print(f"messages per target and round: {batches * BATCH_SIZE} in batches of {BATCH_SIZE}, {CONCURRENCY} requests in flight,"
          f" {rounds} rounds (medians)")
    print(f"inbox processor drained the last round's backlog {drained:.1f} s after the intake finished")
    print(f"cxflow /v1/batch (durable, dedup on): {ours:,.0f} events/s")
    print(f"bare ASGI JSON parse:                 {bare:,.0f} events/s")
    print(f"RESULT ingest_http ratio={ours / bare:.2f} events_per_s={ours:.0f} baseline_events_per_s={bare:.0f} batch={BATCH_SIZE}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument("--database-url", default="", help="ingestion's database (SQLAlchemy async URL); default: SQLite in a temp folder")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.quick, arguments.database_url))
