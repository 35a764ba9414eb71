"""The worker process: connects to Temporal and the services, registers TriggeredRun and its activities, runs.

`python -m workflows.worker` starts it; nothing happens at import time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import grpc
import structlog
from prometheus_client import CollectorRegistry
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import (
    Worker,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from cxflow.v1 import directory_pb2_grpc, notification_pb2_grpc
from services.common.gc_tuning import tune_for_serving
from services.common.grpc_client import service_channel
from services.common.grpc_server import wait_for_termination_signal
from services.common.logging import configure_logging
from services.common.metrics import RunMetrics, TaskMetrics, serve_metrics
from services.common.settings import Settings
from services.common.temporal_errors import TEMPORAL_UNREACHABLE
from services.common.tracing import configure_tracing, shutdown_tracing, temporal_interceptors
from workflows.activities.directory import DirectoryActivities
from workflows.activities.notification import NotificationActivities
from workflows.activities.runs import RunActivities
from workflows.contracts import (
    SEARCH_ATTRIBUTE_CONTACT_ID,
    SEARCH_ATTRIBUTE_ORGANIZATION,
    SEARCH_ATTRIBUTE_TRIGGER,
    SEARCH_ATTRIBUTE_WORKFLOW_ID,
    SEARCH_ATTRIBUTE_WORKFLOW_VERSION,
)
from workflows.run_metrics import RunMetricsInterceptor
from workflows.segment_refresh import SegmentRefreshActivities, SegmentRefreshWorkflow, ensure_segment_refresh_schedule
from workflows.triggered_run import DryRunWorkflow, TriggeredRunWorkflow

log = structlog.get_logger(__name__)

SEARCH_ATTRIBUTES: dict[str, IndexedValueType.ValueType] = {
    SEARCH_ATTRIBUTE_WORKFLOW_ID: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    SEARCH_ATTRIBUTE_WORKFLOW_VERSION: IndexedValueType.INDEXED_VALUE_TYPE_INT,
    SEARCH_ATTRIBUTE_CONTACT_ID: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    SEARCH_ATTRIBUTE_TRIGGER: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    SEARCH_ATTRIBUTE_ORGANIZATION: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
}

MAX_CONCURRENT_ACTIVITIES = 16

# The sandbox still isolates each run and checks what workflow code calls, but cxflow's own modules (plain
# code without module-level state) are imported once per process instead of being compiled again for every run.
WORKFLOW_RUNNER = SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules("workflows"))

# In-flight activities get this long to finish when the worker is asked to stop.
GRACEFUL_SHUTDOWN = timedelta(seconds=10)

def build_worker(
    client: Client,
    *,
    task_queue: str,
    directory_channel: grpc.aio.Channel,
    notification_channel: grpc.aio.Channel,
    internal_token: str,
    metrics_registry: CollectorRegistry | None = None,
) -> Worker:
    """A worker for TriggeredRun on task_queue, its activities bound to clients of the two services.
    metrics_registry: where the run and task series go (the process's /metrics serves it)."""
    registry = metrics_registry if metrics_registry is not None else CollectorRegistry()
    directory = DirectoryActivities(directory_pb2_grpc.DirectoryServiceStub(directory_channel), internal_token)
    segment_refresh = SegmentRefreshActivities(
        directory_pb2_grpc.OrganizationServiceStub(directory_channel),
        directory_pb2_grpc.DirectoryServiceStub(directory_channel),
        internal_token,
    )
    notification = NotificationActivities(notification_pb2_grpc.NotificationServiceStub(notification_channel), internal_token)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[TriggeredRunWorkflow, DryRunWorkflow, SegmentRefreshWorkflow],
        activities=[
            directory.load_contact_details,
            directory.add_to_mailing_list,
            directory.update_contact_field,
            notification.send_email,
            notification.send_slack,
            notification.create_ticket,
            notification.distribute_survey,
            notification.send_webhook,
            notification.send_segment_event,
            RunActivities(client).count_recent_runs,
            segment_refresh.refresh_all_segments,
        ],
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        workflow_runner=WORKFLOW_RUNNER,
        # Task activities are gRPC calls that each hold a database connection in the service they call for a
        # moment; more at once than those pools hold only queue there (and can outlast a call's deadline).
        max_concurrent_activities=MAX_CONCURRENT_ACTIVITIES,
        interceptors=[RunMetricsInterceptor(RunMetrics(registry), TaskMetrics(registry)), *temporal_interceptors()],
    )


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Registers the Cx* search attributes runs carry, when the namespace lacks them (safe to repeat)."""
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    known = set(listed.custom_attributes) | set(listed.system_attributes)
    missing = {name: kind for name, kind in SEARCH_ATTRIBUTES.items() if name not in known}
    if not missing:
        return
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    except RPCError as exc:
        # Another worker starting at the same moment may have registered them first.
        if exc.status != RPCStatusCode.ALREADY_EXISTS:
            raise
    log.info("worker.search_attributes_registered", namespace=namespace, names=sorted(missing))


# The server is down or restarting (refused or reset connections surface as UNKNOWN "transport error"), or too busy.
STARTUP_RETRY_MAX_SECONDS = 30.0
_Result = TypeVar("_Result")


async def when_temporal_answers(step: str, call: Callable[[], Awaitable[_Result]]) -> _Result:
    """Runs one start-up call, retrying with backoff while the Temporal server is unreachable: a worker started during
    a server restart (or by a supervisor before the server is up) waits for it instead of exiting."""
    delay = 1.0
    while True:
        try:
            return await call()
        except RPCError as exc:
            if exc.status not in TEMPORAL_UNREACHABLE:
                raise
            error = str(exc)
        except RuntimeError as exc:  # Client.connect: "Failed client connect: ... ConnectError ..."
            if not str(exc).startswith("Failed client connect"):
                raise
            error = str(exc)
        log.warning("worker.temporal_unreachable", step=step, retry_in=delay, error=error)
        await asyncio.sleep(delay)
        delay = min(delay * 2, STARTUP_RETRY_MAX_SECONDS)


def temporal_runtime(host: str, port: int) -> Runtime | None:
    """A Temporal SDK runtime that serves its own metrics (temporal_* series) at http://host:port/metrics;
    None (the SDK's default runtime, without metrics) when port is 0."""
    if port == 0:
        return None
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"{host}:{port}")))


async def run_worker(settings: Settings) -> None:
    """Runs the worker until SIGTERM or SIGINT, then lets in-flight tasks finish and stops."""
    internal_token = settings.resolved_internal_token()
    registry = CollectorRegistry()
    metrics = serve_metrics(registry, settings.metrics_host, settings.worker_metrics_port, process="worker")
    runtime = temporal_runtime(settings.metrics_host, settings.worker_temporal_metrics_port)
    client = await when_temporal_answers(
        "connect", lambda: Client.connect(settings.temporal_address, namespace=settings.temporal_namespace, runtime=runtime)
    )
    await when_temporal_answers("search attributes", lambda: ensure_search_attributes(client, settings.temporal_namespace))
    refresh_every = timedelta(seconds=settings.segment_refresh_interval_seconds)
    directory_channel = service_channel(settings.directory_grpc_target)
    notification_channel = service_channel(settings.notification_grpc_target)
    try:
        worker = build_worker(
            client,
            task_queue=settings.temporal_task_queue,
            directory_channel=directory_channel,
            notification_channel=notification_channel,
            internal_token=internal_token,
            metrics_registry=registry,
        )
        async with worker:
            tune_for_serving()
            # The schedule is upserted while the worker already polls: on a busy server that can take many seconds,
            # and the runs waiting for this worker (after a restart, say) need not wait for it.
            schedule = asyncio.create_task(
                when_temporal_answers(
                    "segment refresh schedule",
                    lambda: ensure_segment_refresh_schedule(client, settings.temporal_task_queue, refresh_every),
                )
            )
            schedule.add_done_callback(_log_schedule_failure)
            log.info(
                "worker.running",
                temporal=settings.temporal_address,
                namespace=settings.temporal_namespace,
                task_queue=settings.temporal_task_queue,
            )
            await wait_for_termination_signal()
            schedule.cancel()
        log.info("worker.stopped")
    finally:
        await directory_channel.close()
        await notification_channel.close()
        if metrics is not None:
            metrics.close()


def _log_schedule_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("worker.segment_refresh_schedule_failed", exc_info=task.exception())


def _exit_without_finalizing(code: int) -> None:
    """Ends the process once everything is stopped and flushed, skipping interpreter finalization.

    After a clean worker shutdown, threads owned by native code (the Temporal core's Rust runtime, gRPC's
    completion queues) can still be unwinding while Python finalizes, and now and then that aborts the process
    ("PyGILState_Release ... must be current", a core panic in local_activities.rs), turning a clean SIGTERM
    stop into exit code -6. Nothing is left to run or flush at this point, so leave at once.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _settings = Settings.from_env()
    configure_logging(_settings.log_level, _settings.log_format, service="worker")
    configure_tracing("cxflow-worker", _settings.otlp_endpoint)  # before the channels to the services exist
    asyncio.run(run_worker(_settings))
    shutdown_tracing()  # sends the spans still buffered
    _exit_without_finalizing(0)
