"""The worker process: connects to Temporal and the services, registers TriggeredRun and its activities, runs.

`python -m workflows.worker` starts it; nothing happens at import time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from datetime import timedelta

import grpc
import structlog
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from cxflow.v1 import directory_pb2_grpc, notification_pb2_grpc
from services.common.grpc_server import wait_for_termination_signal
from services.common.logging import configure_logging
from services.common.settings import Settings
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
) -> Worker:
    """A worker for TriggeredRun on task_queue, its activities bound to clients of the two services."""
    directory = DirectoryActivities(directory_pb2_grpc.DirectoryServiceStub(directory_channel), internal_token)
    segment_refresh = SegmentRefreshActivities(
        directory_pb2_grpc.OrganizationServiceStub(directory_channel),
        directory_pb2_grpc.DirectoryServiceStub(directory_channel),
        internal_token,
    )
    notification = NotificationActivities(
        notification_pb2_grpc.NotificationServiceStub(notification_channel), internal_token
    )
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


async def run_worker(settings: Settings) -> None:
    """Runs the worker until SIGTERM or SIGINT, then lets in-flight tasks finish and stops."""
    internal_token = settings.resolved_internal_token()
    client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
    await ensure_search_attributes(client, settings.temporal_namespace)
    await ensure_segment_refresh_schedule(
        client, settings.temporal_task_queue, timedelta(seconds=settings.segment_refresh_interval_seconds)
    )
    directory_channel = grpc.aio.insecure_channel(settings.directory_grpc_target)
    notification_channel = grpc.aio.insecure_channel(settings.notification_grpc_target)
    try:
        worker = build_worker(
            client,
            task_queue=settings.temporal_task_queue,
            directory_channel=directory_channel,
            notification_channel=notification_channel,
            internal_token=internal_token,
        )
        async with worker:
            log.info(
                "worker.running",
                temporal=settings.temporal_address,
                namespace=settings.temporal_namespace,
                task_queue=settings.temporal_task_queue,
            )
            await wait_for_termination_signal()
        log.info("worker.stopped")
    finally:
        await directory_channel.close()
        await notification_channel.close()


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
    asyncio.run(run_worker(_settings))
    _exit_without_finalizing(0)
