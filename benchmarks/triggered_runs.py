"""Triggered runs per second, cxflow against a bare Temporal workflow, on one dev server in one run, and the
event-to-first-task latency at half the saturating rate.

    python benchmarks/triggered_runs.py [--quick]
        full: 3 rounds of 400 runs each side, 20 s of paced events; --quick: 2 rounds of 50, 5 s (about a minute)
        ends with: RESULT triggered_runs ratio=<cxflow runs/s / bare runs/s> ...

(a) baseline: a bare workflow that runs 3 no-op activities, started with the Temporal client, its worker in this process.
(b) cxflow: events POSTed to a workflow's trigger URL; each run loads the contact, evaluates a condition and sends two
    emails. The stack is what `make up` runs, process for process (cxflow.stack): the dev server persisting to a SQLite
    file, the ingestion, directory and notification services and the worker, each its own process; the SMTP sink is
    this script's. Both sides run on that one dev server.
Both keep the same number of starts in flight; rounds alternate bare and cxflow and the medians are reported. A run of (b) counts as done when its second email reached the SMTP sink;
latency is from the POST to the first email's arrival. CPU ms per run (all processes of the benchmark's tree) is
reported beside the rates: on a machine shared with other work it says more than the rates do.
Targets (issue 5): ratio >= 0.9, p50 <= 150 ms, p99 <= 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
import httpx
import structlog
from google.protobuf import struct_pb2
from temporalio.client import Client
from temporalio.worker import Worker

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from _bare_workflow import BareThreeActivities, bare_noop

from cxflow.demo import DEMO_DIRECTORY_ID, DEMO_ORGANIZATION_ID, ensure_demo
from cxflow.mailcatcher import MailCatcher
from cxflow.stack import Stack
from cxflow.v1 import directory_pb2, directory_pb2_grpc, ingestion_pb2, ingestion_pb2_grpc
from services.common.auth import internal_metadata
from services.common.logging import configure_logging
from services.common.settings import Settings

IN_FLIGHT = 50  # starts (or POSTs) in flight at once, for both sides

BENCH_WORKFLOW = {
    "name": "Bench",
    "trigger": {"type": "json_event", "mappings": [{"name": "n", "path": "$.n", "type": "string"}]},
    "contact": {"directoryId": DEMO_DIRECTORY_ID, "lookup": "extRef", "path": "$.userId"},
    "conditions": {"all": [{"operand": "contact.embeddedData.tier", "operator": "equals", "value": "gold"}]},
    "tasks": [
        {"type": "email", "to": ["{{ contact.email }}"], "subject": "first {{ fields.n }}", "text": "hi {{ contact.firstName }}"},
        {"type": "email", "to": ["{{ contact.email }}"], "subject": "second {{ fields.n }}", "text": "again"},
    ],
}


class TimedMailCatcher(MailCatcher):
    """The SMTP sink, noting when each subject arrived."""

    def __init__(self) -> None:
        super().__init__("127.0.0.1", 0)
        self.arrived: dict[str, float] = {}
        self.changed = asyncio.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.perf_counter()
        subject = _subject(envelope.original_content or b"")
        self.arrived.setdefault(subject, now)
        self.changed.set()
        return "250 Message accepted for delivery"


def _subject(raw: bytes) -> str:
    for line in raw.split(b"\n"):
        if line.lower().startswith(b"subject:"):
            return line.split(b":", 1)[1].strip().decode()
    return ""


async def bounded(count: int, start_one: Any) -> None:
    semaphore = asyncio.Semaphore(IN_FLIGHT)

    async def one(index: int) -> None:
        async with semaphore:
            await start_one(index)

    await asyncio.gather(*(one(index) for index in range(count)))


async def bare_runs_per_second(client: Client, runs: int) -> float:
    task_queue = f"bench-bare-{uuid.uuid4()}"
    handles: list[Any] = []
    async with Worker(client, task_queue=task_queue, workflows=[BareThreeActivities], activities=[bare_noop]):
        began = time.perf_counter()

        async def start(index: int) -> None:
            handles.append(await client.start_workflow(BareThreeActivities.run, index, id=f"bare-{uuid.uuid4()}", task_queue=task_queue))

        await bounded(runs, start)
        await asyncio.gather(*(handle.result() for handle in handles))
        return runs / (time.perf_counter() - began)


async def wait_for_subjects(catcher: TimedMailCatcher, subjects: list[str], timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not all(subject in catcher.arrived for subject in subjects):
            catcher.changed.clear()
            await catcher.changed.wait()


async def cxflow_runs_per_second(http: httpx.AsyncClient, url: str, token: str, catcher: TimedMailCatcher, runs: int, tag: str) -> float:
    began = time.perf_counter()

    async def post(index: int) -> None:
        reply = await http.post(url, json={"userId": "u-bench", "n": f"{tag}-{index}", "messageId": f"{tag}-{index}"},
                                headers={"X-API-TOKEN": token})
        reply.raise_for_status()

    await bounded(runs, post)
    await wait_for_subjects(catcher, [f"second {tag}-{index}" for index in range(runs)], timeout=600)
    return runs / (time.perf_counter() - began)


async def paced_latencies(http: httpx.AsyncClient, url: str, token: str, catcher: TimedMailCatcher, rate: float, seconds: float) -> list[float]:
    count = max(1, int(rate * seconds))
    sent: dict[str, float] = {}
    tasks = []

    async def post(name: str) -> None:
        sent[f"first {name}"] = time.perf_counter()
        reply = await http.post(url, json={"userId": "u-bench", "n": name, "messageId": name}, headers={"X-API-TOKEN": token})
        reply.raise_for_status()

    began = time.perf_counter()
    for index in range(count):
        await asyncio.sleep(max(0.0, began + index / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(post(f"paced-{index}")))
    await asyncio.gather(*tasks)
    await wait_for_subjects(catcher, list(sent), timeout=300)
    return sorted(catcher.arrived[subject] - at for subject, at in sent.items())


def percentile(values: list[float], fraction: float) -> float:
    return values[min(len(values) - 1, round(fraction * (len(values) - 1)))]


def process_cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by this process and every process below it (dev server, services, worker), from /proc,
    by process: "temporal", the module a Python child runs (services.ingestion, workflows.worker, ...), "benchmark"."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent pid, cpu seconds)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    ours = {os.getpid()}
    changed = True
    while changed:  # the process tree below us, whatever its depth
        changed = False
        for pid, (parent, _) in stats.items():
            if parent in ours and pid not in ours:
                ours.add(pid)
                changed = True
    by_process: dict[str, float] = {}
    for pid in ours:
        name = "benchmark" if pid == os.getpid() else _process_name(pid)
        by_process[name] = by_process.get(name, 0.0) + stats.get(pid, (0, 0.0))[1]
    return by_process


def _process_name(pid: int) -> str:
    try:
        arguments = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return "other"
    if b"-m" in arguments:
        return arguments[arguments.index(b"-m") + 1].decode()
    return Path(arguments[0].decode()).name or "other"


def add_cpu_ms_per_run(total: dict[str, float], before: dict[str, float], after: dict[str, float], runs: int) -> None:
    """Adds each process's CPU milliseconds between two readings, divided by runs, to total."""
    for name, seconds in sorted(after.items()):
        total[name] = total.get(name, 0.0) + (seconds - before.get(name, 0.0)) * 1000 / runs


def stack_settings(data_dir: Path, smtp_port: int) -> Settings:
    """The settings `make up` would use, on free ports, with the SMTP sink of this script as the mail server."""
    ports = {name: free_port() for name in ("temporal", "ui", "http", "ingestion", "directory", "notification", "survey")}
    overrides = {
        "CXFLOW_DATA_DIR": str(data_dir),
        "CXFLOW_LOG_FORMAT": "json",
        "CXFLOW_LOG_LEVEL": "WARNING",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}",
        "TEMPORAL_UI_URL": f"http://127.0.0.1:{ports['ui']}",
        "INGESTION_HTTP_PORT": str(ports["http"]),
        "INGESTION_GRPC_PORT": str(ports["ingestion"]),
        "DIRECTORY_GRPC_PORT": str(ports["directory"]),
        "NOTIFICATION_GRPC_PORT": str(ports["notification"]),
        "NOTIFICATION_HTTP_PORT": str(ports["survey"]),
        "INGESTION_GRPC_TARGET": f"127.0.0.1:{ports['ingestion']}",
        "DIRECTORY_GRPC_TARGET": f"127.0.0.1:{ports['directory']}",
        "NOTIFICATION_GRPC_TARGET": f"127.0.0.1:{ports['notification']}",
        "CXFLOW_PUBLIC_URL": f"http://127.0.0.1:{ports['http']}",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        **{f"{name}_METRICS_PORT": "0" for name in ("INGESTION", "DIRECTORY", "NOTIFICATION", "WORKER", "WORKER_TEMPORAL")},
    }
    os.environ.update(overrides)  # the stack's children inherit this process's environment
    for name in ("CXFLOW_INTERNAL_TOKEN", "DATABASE_URL"):
        os.environ.pop(name, None)
    return Settings.from_env()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def main(quick: bool) -> None:
    runs, rounds = (50, 2) if quick else (400, 3)
    paced_seconds = 5.0 if quick else 20.0
    configure_logging("WARNING", "json", service="benchmark")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    catcher = TimedMailCatcher()
    await catcher.start()
    with tempfile.TemporaryDirectory() as data_dir:
        settings = stack_settings(Path(data_dir), catcher.port)
        # What `make up` runs, process for process: the dev server (SQLite file), the three services and the worker.
        # Only the mail catcher is this script's own, so it can note when each email arrives.
        stack = Stack(settings)
        stack.services = [component for component in stack.services if component.name != "mail"]
        try:
            await stack.start()
            client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
            credentials = await ensure_demo(settings)
            metadata = internal_metadata(settings.resolved_internal_token(), DEMO_ORGANIZATION_ID)
            embedded = struct_pb2.Struct()
            embedded.update({"tier": "gold"})
            async with grpc.aio.insecure_channel(settings.directory_grpc_target) as channel:
                await directory_pb2_grpc.DirectoryServiceStub(channel).UpsertContact(
                    directory_pb2.UpsertContactRequest(
                        directory_id=DEMO_DIRECTORY_ID,
                        contact=directory_pb2.ContactInput(first_name="Bea", email="bea@example.com", ext_ref="u-bench", embedded_data=embedded),
                    ),
                    metadata=metadata,
                )
            spec = struct_pb2.Struct()
            spec.update(BENCH_WORKFLOW)
            async with grpc.aio.insecure_channel(settings.ingestion_grpc_target) as channel:
                created = await ingestion_pb2_grpc.WorkflowServiceStub(channel).CreateWorkflow(
                    ingestion_pb2.CreateWorkflowRequest(spec=spec), metadata=metadata
                )
            url = f"{settings.public_url}/triggers/{created.id}"
            limits = httpx.Limits(max_connections=IN_FLIGHT * 2, max_keepalive_connections=IN_FLIGHT * 2)
            async with httpx.AsyncClient(timeout=60, limits=limits) as http:
                # Warm both paths (connections, caches, the sandbox's imports) before timing anything.
                await bare_runs_per_second(client, 10)
                await cxflow_runs_per_second(http, url, credentials.api_token, catcher, 10, "warm")

                bare_rates, ours_rates = [], []
                bare_cpu: dict[str, float] = {}
                ours_cpu: dict[str, float] = {}
                for round_ in range(rounds):  # alternate, so drift of the machine touches both alike
                    cpu_before = process_cpu_seconds()
                    bare_rates.append(await bare_runs_per_second(client, runs))
                    cpu_between = process_cpu_seconds()
                    ours_rates.append(await cxflow_runs_per_second(http, url, credentials.api_token, catcher, runs, f"load{round_}"))
                    cpu_after = process_cpu_seconds()
                    add_cpu_ms_per_run(bare_cpu, cpu_before, cpu_between, runs * rounds)
                    add_cpu_ms_per_run(ours_cpu, cpu_between, cpu_after, runs * rounds)
                bare, ours = statistics.median(bare_rates), statistics.median(ours_rates)
                latencies = await paced_latencies(http, url, credentials.api_token, catcher, ours / 2, paced_seconds)
        finally:
            await stack.stop()
            await catcher.stop()

    bare_cpu_ms, ours_cpu_ms = sum(bare_cpu.values()), sum(ours_cpu.values())
    p50, p99 = percentile(latencies, 0.50) * 1000, percentile(latencies, 0.99) * 1000
    print(f"{rounds} rounds of {runs} runs each, medians; runs/s by round: bare {', '.join(f'{r:.1f}' for r in bare_rates)};"
          f" cxflow {', '.join(f'{r:.1f}' for r in ours_rates)}")
    print(f"bare Temporal (3 no-op activities): {bare:.1f} runs/s, {bare_cpu_ms:.0f} CPU ms per run")
    print(f"cxflow (trigger URL, load contact, condition, 2 emails): {ours:.1f} runs/s, "
          f"{ours_cpu_ms:.0f} CPU ms per run (all processes: dev server, services, worker, SMTP sink, load generator)")
    for side, figures in (("bare", bare_cpu), ("cxflow", ours_cpu)):
        print(f"  CPU ms per run, {side}: " + ", ".join(f"{name} {ms:.0f}" for name, ms in figures.items() if ms >= 0.5))
    print(f"event -> first email at {ours / 2:.1f} events/s for {paced_seconds:.0f} s ({len(latencies)} events): "
          f"p50 {p50:.0f} ms, p99 {p99:.0f} ms")  # fmt: skip
    print(
        f"RESULT triggered_runs ratio={ours / bare:.2f} runs_per_s={ours:.1f} baseline_runs_per_s={bare:.1f} "
        f"p50_ms={p50:.0f} p99_ms={p99:.0f} cpu_ms_per_run={ours_cpu_ms:.0f} baseline_cpu_ms_per_run={bare_cpu_ms:.0f} runs={runs} rounds={rounds}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    asyncio.run(main(parser.parse_args().quick))
