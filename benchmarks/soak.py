"""Soak: events at a fixed rate for minutes while processes are killed and restarted, then a ledger of every event.

    python benchmarks/soak.py [--minutes 5] [--rate 20] [--quick]
        --quick: 45 s of events (the fault schedule scales with the duration)
        ends with: RESULT soak ratio=<completed/acknowledged> acknowledged=<n> completed=<n> lost=<n> duplicated=<n>

Every process is a child of this script: the Temporal dev server (SQLite file), the directory, ingestion and
notification services and the worker; the SMTP sink (aiosmtpd) runs in this process. Events are POSTed to a
workflow's trigger URL (each run loads the contact and sends one email); a refused or cut-off POST is resent with
the same messageId, as a client would, until it is acknowledged (202). The fault schedule, at fractions of the load:
20 % worker kill -9 (restarted 2 s later), 45 % notification service restart (SIGTERM, 10 s down), 70 % Temporal dev
server kill -9 (restarted on the same port and file 3 s later). Then the ledger: every acknowledged event must have
exactly one completed run and exactly one email; the ids of lost or duplicated ones are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
# The fault tests' process helpers (start, kill -9, restart on the same ports) serve the soak as they are.
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "faults")]

from fault_stack import (
    ChildProcess,
    TemporalDevServer,
    create_workflow,
    service_process,
    stack_settings,
    upsert_contact,
    wait_for_grpc_service,
    worker_process,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from cxflow.demo import DEMO_DIRECTORY_ID, DEMO_ORGANIZATION_ID, ensure_demo
from cxflow.mailcatcher import MailCatcher
from services.common.logging import configure_logging
from services.common.settings import Settings
from workflows.contracts import run_workflow_id
from workflows.worker import ensure_search_attributes

WORKFLOW_ID = "WF_soak"
TASK_QUEUE = "soak-runs"
IN_FLIGHT = 64  # POSTs in flight at most; the rate stays fixed unless the intake is slower than this allows
RESEND_AFTER_LOAD_SECONDS = 60
# The drain ends when every acknowledged event has its email, or when no email arrived for this long: longer than an
# activity's 30 s start-to-close timeout (a killed worker's activities) plus a retry's backoff.
STALL_SECONDS = 120  # an event still unacknowledged this long after the load ends is given up
SOAK_WORKFLOW = {
    "name": "Soak",
    "enabled": True,
    "trigger": {"type": "json_event", "mappings": [{"name": "n", "path": "$.n", "type": "string"}]},
    "contact": {"directoryId": DEMO_DIRECTORY_ID, "lookup": "extRef", "path": "$.userId"},
    "loadContact": True,
    "tasks": [{"type": "email", "to": ["{{ contact.email }}"], "subject": "soak {{ fields.n }}", "text": "hello"}],
}


@dataclass
class Ledger:
    sent: int = 0
    acknowledged: set[int] = field(default_factory=set)
    refused_attempts: int = 0  # non-202 answers and cut-off requests that were resent
    given_up: set[int] = field(default_factory=set)
    faults: list[str] = field(default_factory=list)


class Stack:
    """The child processes and the SMTP sink of one soak run."""

    def __init__(self, data_dir: Path, temporal_port: int, ports: list[int]) -> None:
        self.mail = MailCatcher("127.0.0.1", 0)
        self.temporal = TemporalDevServer(
            [str(Path(sys.executable).parent / "temporal"), "server", "start-dev"],
            temporal_port,
            data_dir / "temporal.db",
            data_dir / "temporal.log",
        )
        self._data_dir = data_dir
        self._ports = ports
        self.settings = Settings()
        self.processes: dict[str, ChildProcess] = {}

    async def start(self) -> None:
        await self.mail.start()
        await self.temporal.start()
        self.settings = stack_settings(
            Settings(data_dir=self._data_dir, internal_token=f"cxi_soak-{secrets.token_hex(16)}", log_level="WARNING"),
            temporal_address=self.temporal.address,
            task_queue=TASK_QUEUE,
            smtp_port=self.mail.port,
            ports=self._ports,
        )
        await ensure_search_attributes(await Client.connect(self.temporal.address), self.settings.temporal_namespace)
        for name in ("directory", "notification", "ingestion"):
            self.processes[name] = service_process(name, self.settings).start()
        for target in (
            self.settings.directory_grpc_target,
            self.settings.notification_grpc_target,
            self.settings.ingestion_grpc_target,
        ):
            await wait_for_grpc_service(target, timeout=60)
        self.processes["worker"] = worker_process(self.settings).start()

    async def stop(self) -> None:
        for process in reversed(self.processes.values()):
            await process.stop()
        await self.temporal.stop()
        await self.mail.stop()


async def _kill_worker(stack: Stack) -> str:
    await stack.processes["worker"].kill()
    await asyncio.sleep(2)
    stack.processes["worker"].start()
    return "worker kill -9, restarted after 2 s"


async def _restart_notification(stack: Stack) -> str:
    await stack.processes["notification"].stop()
    await asyncio.sleep(10)
    stack.processes["notification"].start()
    return "notification SIGTERM, 10 s down, restarted"


async def _restart_temporal(stack: Stack) -> str:
    await stack.temporal.kill()
    await asyncio.sleep(3)
    await stack.temporal.start(timeout=60)
    return "Temporal dev server kill -9, restarted after 3 s on the same port and file"


FAULT_SCHEDULE: list[tuple[float, Callable[[Stack], Awaitable[str]]]] = [
    (0.20, _kill_worker),
    (0.45, _restart_notification),
    (0.70, _restart_temporal),
]


async def _send(
    client: httpx.AsyncClient, api_token: str, n: int, ledger: Ledger, give_up_at: float, slots: asyncio.Semaphore
) -> None:
    backoff = 0.5
    try:
        while True:
            try:
                reply = await client.post(
                    f"/triggers/{WORKFLOW_ID}",
                    headers={"X-API-TOKEN": api_token},
                    json={"userId": "u-soak", "n": str(n), "messageId": f"soak-{n}"},
                )
                if reply.status_code == 202:
                    ledger.acknowledged.add(n)
                    return
            except httpx.HTTPError:
                pass
            ledger.refused_attempts += 1
            if time.monotonic() + backoff > give_up_at:
                ledger.given_up.add(n)
                return
            await asyncio.sleep(backoff)  # the same messageId again: a resend of an event that did start a run is a no-op
            backoff = min(backoff * 2, 5.0)
    finally:
        slots.release()


async def _load(stack: Stack, api_token: str, rate: float, seconds: float, ledger: Ledger) -> None:
    """Sends rate events a second for `seconds`, running the fault schedule beside it; returns when every send settled."""
    slots = asyncio.Semaphore(IN_FLIGHT)
    started = time.monotonic()
    give_up_at = started + seconds + RESEND_AFTER_LOAD_SECONDS

    async def faults() -> None:
        for fraction, fault in FAULT_SCHEDULE:
            await asyncio.sleep(max(0.0, started + fraction * seconds - time.monotonic()))
            at = time.monotonic() - started
            what = await fault(stack)
            ledger.faults.append(f"{at:6.1f} s  {what}")
            print(f"fault at {at:.1f} s: {what}", flush=True)

    fault_task = asyncio.create_task(faults())
    sends = []
    async with httpx.AsyncClient(base_url=stack.settings.public_url, timeout=10) as client:
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            await slots.acquire()
            sends.append(asyncio.create_task(_send(client, api_token, n, ledger, give_up_at, slots)))
            ledger.sent += 1
        load_seconds = time.monotonic() - started
        print(f"load: {ledger.sent} events in {load_seconds:.1f} s ({ledger.sent / load_seconds:.1f}/s)", flush=True)
        await asyncio.gather(*sends)
    await fault_task


async def _drain(count: Callable[[], int], target: int) -> None:
    """Waits until count() reaches target, or until it has not moved for STALL_SECONDS (the rest is then lost)."""
    last, moved_at = -1, time.monotonic()
    while (now := count()) < target:
        if now != last:
            last, moved_at = now, time.monotonic()
        elif time.monotonic() - moved_at > STALL_SECONDS:
            return
        await asyncio.sleep(1)


async def _run_statuses(client: Client, events: Iterable[int]) -> dict[int, str]:
    """Each event's run status by its workflow id (describe, not the eventually consistent list): "NONE" when absent."""
    slots = asyncio.Semaphore(32)

    async def status(n: int) -> tuple[int, str]:
        async with slots:
            try:
                description = await client.get_workflow_handle(
                    run_workflow_id(DEMO_ORGANIZATION_ID, WORKFLOW_ID, f"soak-{n}")
                ).describe()
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    return n, "NONE"
                raise
            return n, description.status.name if description.status else "UNKNOWN"

    return dict(await asyncio.gather(*(status(n) for n in events)))


async def _executions_per_event(client: Client) -> Counter[int]:
    """How many executions each event's workflow id has (more than one: the event ran twice)."""
    prefix = f"run-{WORKFLOW_ID}-soak-"
    ids = [execution.id async for execution in client.list_workflows(f"TaskQueue = '{TASK_QUEUE}'")]
    return Counter(
        int(workflow_id.removeprefix(prefix).rsplit("-", 1)[0]) for workflow_id in ids if workflow_id.startswith(prefix)
    )


def _emails(mail: MailCatcher) -> Counter[int]:
    return Counter(int(str(message["Subject"]).removeprefix("soak ")) for message in mail.messages)


async def main(minutes: float, rate: float, keep_data: bool) -> None:
    configure_logging("WARNING", "console")
    seconds = minutes * 60
    ledger = Ledger()
    folder = Path(tempfile.mkdtemp(prefix="cxflow-soak-"))
    try:
        data_dir = folder / "data"
        data_dir.mkdir()
        if keep_data:
            print(f"data, databases and process logs: {data_dir}", flush=True)
        stack = Stack(data_dir, *_free_ports(5))
        try:
            await stack.start()
            credentials = await ensure_demo(stack.settings)
            await create_workflow(stack.settings, WORKFLOW_ID, SOAK_WORKFLOW)
            await upsert_contact(stack.settings, "u-soak", "soak@example.com")
            faults_at = [fraction for fraction, _ in FAULT_SCHEDULE]
            print(f"soak: {rate:g} events/s for {seconds:.0f} s; faults at {faults_at} of the load", flush=True)
            await _load(stack, credentials.api_token, rate, seconds, ledger)

            temporal = await Client.connect(stack.temporal.address)
            drain_started = time.monotonic()
            await _drain(lambda: len(ledger.acknowledged & set(_emails(stack.mail))), len(ledger.acknowledged))
            statuses = await _run_statuses(temporal, range(ledger.sent))
            runs_deadline = time.monotonic() + STALL_SECONDS
            while True:  # an email is out, but its run may still be recording it
                unfinished = [n for n in ledger.acknowledged if statuses[n] != "COMPLETED"]
                if not unfinished or time.monotonic() > runs_deadline:
                    break
                await asyncio.sleep(2)
                statuses.update(await _run_statuses(temporal, unfinished))
            await asyncio.sleep(2)  # a duplicate, had one been on its way, arrives now
            emails = _emails(stack.mail)
            executions = await _executions_per_event(temporal)
            print(f"drain: {time.monotonic() - drain_started:.1f} s after the last acknowledgement", flush=True)
        finally:
            await stack.stop()
    finally:
        if not keep_data:
            shutil.rmtree(folder, ignore_errors=True)

    acknowledged = ledger.acknowledged
    completed = {n for n in acknowledged if statuses[n] == "COMPLETED"}
    lost = sorted(n for n in acknowledged if n not in completed or emails[n] == 0)
    duplicated = sorted(n for n in set(executions) | set(emails) if executions[n] > 1 or emails[n] > 1)
    # Ran although the client never got its 202 (the answer was cut off): not lost, and the resend was a no-op.
    unacknowledged_ran = sorted(n for n in set(emails) if n not in acknowledged)
    print("faults:")
    for line in ledger.faults:
        print(f"  {line}")
    print(
        f"ledger: sent={ledger.sent} acknowledged={len(acknowledged)} given_up={len(ledger.given_up)} "
        f"resent_attempts={ledger.refused_attempts} runs_completed={len(completed)} "
        f"emails={sum(emails[n] for n in acknowledged)} ran_unacknowledged={len(unacknowledged_ran)}"
    )
    not_completed = Counter(statuses[n] for n in acknowledged if n not in completed)
    if not_completed:
        print(f"acknowledged runs not completed, by status: {dict(not_completed)}")
    print(f"lost={len(lost)} duplicated={len(duplicated)}")
    if lost:
        print(f"lost ids: {', '.join(f'soak-{n} ({statuses[n]}, emails {emails[n]})' for n in lost[:100])}")
    if duplicated:
        print(f"duplicated ids: {', '.join(f'soak-{n} (runs {executions[n]}, emails {emails[n]})' for n in duplicated[:100])}")
    ratio = len(completed) / len(acknowledged) if acknowledged else 0.0
    print(
        f"RESULT soak ratio={ratio:.4f} acknowledged={len(acknowledged)} completed={len(completed)} "
        f"lost={len(lost)} duplicated={len(duplicated)}"
    )


def _free_ports(count: int) -> tuple[int, list[int]]:
    """A port for the Temporal dev server and four for the services (which must come back on the same ones)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        ports = [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    return ports[0], ports[1:]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="minutes of load (default 5)")
    parser.add_argument("--rate", type=float, default=20.0, help="events a second (default 20)")
    parser.add_argument("--quick", action="store_true", help="45 s of load")
    parser.add_argument("--keep-data", action="store_true", help="leave the data folder (databases, process logs) for inspection")
    arguments = parser.parse_args()
    asyncio.run(main(0.75 if arguments.quick else arguments.minutes, arguments.rate, arguments.keep_data))
