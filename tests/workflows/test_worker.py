"""The worker entry point: search attribute registration, and `python -m workflows.worker` running and stopping."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType, TaskQueueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, RegisterNamespaceRequest
from temporalio.client import Client

from services.common.settings import Settings
from workflows.contracts import TriggeredRunInput, TriggeredRunResult, WorkflowSnapshot
from workflows.triggered_run import TriggeredRunWorkflow
from workflows.worker import SEARCH_ATTRIBUTES, ensure_search_attributes

REPO_ROOT = Path(__file__).resolve().parents[2]


async def _custom_attributes(client: Client, namespace: str) -> dict[str, int]:
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    return dict(listed.custom_attributes)


async def test_ensure_search_attributes_registers_them_in_a_new_namespace(temporal_client: Client) -> None:
    namespace = f"ns-{uuid.uuid4().hex[:12]}"
    await temporal_client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400))
    )
    assert "CxContactId" not in await _custom_attributes(temporal_client, namespace)

    await ensure_search_attributes(temporal_client, namespace)
    await ensure_search_attributes(temporal_client, namespace)  # a second worker start changes nothing

    registered = await _custom_attributes(temporal_client, namespace)
    assert {name: registered.get(name) for name in SEARCH_ATTRIBUTES} == {
        "CxWorkflowId": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "CxWorkflowVersion": IndexedValueType.INDEXED_VALUE_TYPE_INT,
        "CxContactId": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "CxTrigger": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "CxOrganization": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    }


async def _wait_for_poller(client: Client, task_queue: str, process: asyncio.subprocess.Process) -> None:
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    async with asyncio.timeout(30):
        while not (await client.workflow_service.describe_task_queue(request)).pollers:
            assert process.returncode is None, "the worker process exited early"
            await asyncio.sleep(0.2)


async def test_worker_process_runs_runs_and_stops_on_sigterm(
    temporal_client: Client, task_queue: str, settings: Settings, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": temporal_client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": temporal_client.namespace,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "CXFLOW_INTERNAL_TOKEN": settings.resolved_internal_token(),
        "CXFLOW_DATA_DIR": str(tmp_path),
        "CXFLOW_LOG_FORMAT": "json",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "workflows.worker", cwd=REPO_ROOT, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        await _wait_for_poller(temporal_client, task_queue, process)
        # A run that needs no service: no contact, one task type this worker does not know yet.
        input = TriggeredRunInput(
            organization_id="ORG_1",
            workflow=WorkflowSnapshot("WF_1", 1, "Ping", {"name": "Ping", "tasks": [{"type": "carrier_pigeon"}]}),
            event_id="evt-1",
            trigger="json_event",
        )
        result = await temporal_client.execute_workflow(
            TriggeredRunWorkflow.run, input, id=f"run-test-{uuid.uuid4()}", task_queue=task_queue,
            execution_timeout=timedelta(seconds=30),
        )
        assert isinstance(result, TriggeredRunResult) and result.status == "completed_with_failures"
        assert result.tasks[0].status == "failed" and "carrier_pigeon" in result.tasks[0].error

        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            _, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert process.returncode == 0, stderr.decode()
    events = [json.loads(line)["event"] for line in stderr.decode().splitlines() if line.startswith("{")]
    assert "worker.running" in events and "worker.stopped" in events
    assert settings.resolved_internal_token() not in stderr.decode()
