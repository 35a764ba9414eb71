"""Metrics and tracing on the live stack: after one Segment identify and one trigger-URL event, every process's /metrics
endpoint shows the traffic, and one trace links the HTTP request, the workflow start, the activity and the gRPC call
the activity made to the notification service."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import grpc
import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from cxflow.demo import DEMO_DIRECTORY_ID, ensure_demo
from cxflow.mailcatcher import MailCatcher
from cxflow.v1 import directory_pb2, directory_pb2_grpc
from services.common.metrics import MetricsEndpoint, serve_metrics
from services.common.settings import Settings
from services.common.tracing import configure_tracing, shutdown_tracing
from services.directory.server import start_directory
from services.ingestion.server import start_ingestion
from services.notification.server import start_notification
from tests.conftest import INTERNAL_TOKEN
from tests.ports import free_port
from workflows.worker import build_worker, temporal_runtime

pytestmark = pytest.mark.e2e

PROCESSES = ("ingestion", "directory", "notification", "worker")


@dataclass
class ObservedStack:
    metrics_urls: dict[str, str]  # process (and "worker_temporal") -> its /metrics URL
    spans: list[ReadableSpan]
    trigger_trace_id: int


async def _wait_for_contact(settings: Settings, api_token: str, ext_ref: str) -> None:
    async with grpc.aio.insecure_channel(settings.directory_grpc_target) as channel:
        directory = directory_pb2_grpc.DirectoryServiceStub(channel)
        for _ in range(150):
            reply = await directory.SearchContacts(
                directory_pb2.SearchContactsRequest(
                    directory_id=DEMO_DIRECTORY_ID,
                    filter=directory_pb2.ContactFilter(
                        field=directory_pb2.FieldFilter(field="extRef", comparison="eq", value=ext_ref)
                    ),
                ),
                metadata=(("authorization", f"Bearer {api_token}"),),
            )
            if reply.contacts:
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"the identify call created no contact with extRef {ext_ref}")


@pytest.fixture(scope="module")
def span_exporter() -> Iterator[InMemorySpanExporter]:
    """Tracing on for this module, into an in-memory sink (the test's exporter; everything else is the real thing)."""
    exporter = InMemorySpanExporter()
    configure_tracing("cxflow-e2e", exporter=exporter)  # before any server or channel: they get its interceptors
    try:
        yield exporter
    finally:
        shutdown_tracing()  # later tests get uninstrumented servers and channels again


@pytest.fixture(scope="module")
async def observed_stack(
    tmp_path_factory: pytest.TempPathFactory, temporal_client: Client, span_exporter: InMemorySpanExporter
) -> AsyncIterator[ObservedStack]:
    """The whole stack in this process, traced, with each process's registry served on its own free port, after one
    identify and one trigger event whose run has completed, their redeliveries and one refused event."""
    data_dir = tmp_path_factory.mktemp("observability") / "data"
    data_dir.mkdir(parents=True)
    mail = MailCatcher(host="127.0.0.1", port=0, mail_dir=data_dir / "mail")
    await mail.start()
    ports = {name: free_port() for name in ("http", "ingestion", "directory", "notification", "worker_temporal")}
    task_queue = f"tq-{uuid.uuid4()}"
    settings = Settings(
        data_dir=data_dir,
        internal_token=INTERNAL_TOKEN,
        log_format="json",
        temporal_address=temporal_client.service_client.config.target_host,
        temporal_task_queue=task_queue,
        smtp_host="127.0.0.1",
        smtp_port=mail.port,
        ingestion_http_port=ports["http"],
        ingestion_grpc_port=ports["ingestion"],
        directory_grpc_port=ports["directory"],
        notification_grpc_port=ports["notification"],
        notification_http_port=0,
        ingestion_grpc_target=f"127.0.0.1:{ports['ingestion']}",
        directory_grpc_target=f"127.0.0.1:{ports['directory']}",
        notification_grpc_target=f"127.0.0.1:{ports['notification']}",
        public_url=f"http://127.0.0.1:{ports['http']}",
    )
    registries = {process: CollectorRegistry() for process in PROCESSES}
    endpoints: dict[str, MetricsEndpoint] = {}
    for process, registry in registries.items():
        endpoint = serve_metrics(registry, "127.0.0.1", free_port(), process=process)
        assert endpoint is not None
        endpoints[process] = endpoint
    urls = {process: f"http://127.0.0.1:{endpoint.port}/metrics" for process, endpoint in endpoints.items()}
    # The worker's own Temporal connection, on a runtime that serves the SDK's temporal_* series.
    worker_client = await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        runtime=temporal_runtime("127.0.0.1", ports["worker_temporal"]),
    )
    urls["worker_temporal"] = f"http://127.0.0.1:{ports['worker_temporal']}/metrics"

    directory = await start_directory(settings, metrics_registry=registries["directory"])
    notification = await start_notification(settings, metrics_registry=registries["notification"])
    ingestion = await start_ingestion(settings, temporal_client=temporal_client, metrics_registry=registries["ingestion"])
    directory_channel = grpc.aio.insecure_channel(settings.directory_grpc_target)
    notification_channel = grpc.aio.insecure_channel(settings.notification_grpc_target)
    worker = build_worker(
        worker_client,
        task_queue=task_queue,
        directory_channel=directory_channel,
        notification_channel=notification_channel,
        internal_token=INTERNAL_TOKEN,
        metrics_registry=registries["worker"],
    )
    worker_task = asyncio.create_task(worker.run())
    try:
        credentials = await ensure_demo(settings)
        identify_body = {
            "userId": "u-obs",
            "messageId": "msg-obs-1",
            "traits": {"email": "grace@example.com", "firstName": "Grace"},
        }
        trigger_path = credentials.trigger_url.removeprefix(settings.public_url)
        trigger_body = {"userId": "u-obs", "messageId": "evt-obs-1", "properties": {"plan": "pro"}}
        token = {"X-API-TOKEN": credentials.api_token}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ingestion.http_port}", timeout=10) as http:
            identify = await http.post("/v1/identify", auth=(credentials.write_key, ""), json=identify_body)
            assert identify.status_code == 200, identify.text
            await _wait_for_contact(settings, credentials.api_token, "u-obs")
            triggered = await http.post(trigger_path, headers=token, json=trigger_body)
            assert triggered.status_code == 202, triggered.text
            run = triggered.json()["runs"][0]
            result = await asyncio.wait_for(temporal_client.get_workflow_handle(run["workflowId"]).result(), timeout=60)
            assert result["status"] == "completed", result
            # Redeliveries are acknowledged and deduplicated; an event without the contact's userId is refused.
            assert (await http.post("/v1/identify", auth=(credentials.write_key, ""), json=identify_body)).status_code == 200
            replayed = await http.post(trigger_path, headers=token, json=trigger_body)
            assert replayed.status_code == 202 and replayed.json()["runs"][0]["duplicate"] is True, replayed.text
            refused = await http.post(trigger_path, headers=token, json={"messageId": "evt-obs-2", "properties": {}})
            assert refused.status_code == 400, refused.text
        async with httpx.AsyncClient(timeout=5) as http:  # one request on notification's HTTP endpoint too
            assert (await http.get(f"http://127.0.0.1:{notification.http_port}/healthz")).status_code == 200
        spans = list(span_exporter.get_finished_spans())
        trigger_spans = [span for span in spans if span.kind == SpanKind.SERVER and span.name.startswith("POST /triggers/")]
        assert trigger_spans, sorted({span.name for span in spans})
        first = min(trigger_spans, key=lambda span: span.start_time or 0)  # the request that started the run
        yield ObservedStack(urls, spans, first.context.trace_id)
    finally:
        await worker.shutdown()
        await asyncio.gather(worker_task, return_exceptions=True)
        await directory_channel.close()
        await notification_channel.close()
        await ingestion.stop()
        await notification.stop()
        await directory.stop()
        await mail.stop()
        for endpoint in endpoints.values():
            endpoint.close()


async def _scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    async with httpx.AsyncClient(timeout=5) as http:
        answer = await http.get(url)
    assert answer.status_code == 200, url
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels` (-1 when there is none)."""
    matching = [
        value for (sample, sample_labels), value in samples.items() if sample == name and set(labels.items()) <= sample_labels
    ]
    return sum(matching) if matching else -1.0


async def test_every_metrics_endpoint_shows_the_traffic(observed_stack: ObservedStack) -> None:
    ingestion = await _scrape(observed_stack.metrics_urls["ingestion"])
    assert _value(ingestion, "cxflow_http_requests_total", method="POST", route="/v1/identify", status="2xx") == 2
    assert _value(ingestion, "cxflow_http_requests_total", method="POST", route="/triggers/{workflow_id}", status="2xx") == 2
    assert _value(ingestion, "cxflow_http_requests_total", method="POST", route="/triggers/{workflow_id}", status="4xx") == 1
    assert _value(ingestion, "cxflow_http_request_duration_seconds_count", route="/triggers/{workflow_id}") == 3
    assert _value(ingestion, "cxflow_events_total", intake="segment", outcome="accepted") == 1
    assert _value(ingestion, "cxflow_events_total", intake="segment", outcome="deduplicated") == 1
    assert _value(ingestion, "cxflow_events_total", intake="trigger_url", outcome="accepted") == 1
    assert _value(ingestion, "cxflow_events_total", intake="trigger_url", outcome="deduplicated") == 1
    assert _value(ingestion, "cxflow_events_total", intake="trigger_url", outcome="rejected") == 1
    assert _value(ingestion, "cxflow_grpc_requests_total", method="/cxflow.v1.IngestionService/CreateSource", code="OK") >= 1

    directory = await _scrape(observed_stack.metrics_urls["directory"])
    assert _value(directory, "cxflow_grpc_requests_total", method="/cxflow.v1.DirectoryService/UpsertContact", code="OK") == 1
    assert (
        _value(directory, "cxflow_grpc_request_duration_seconds_count", method="/cxflow.v1.DirectoryService/UpsertContact") == 1
    )
    assert _value(directory, "cxflow_outbox_backlog") == 0  # exposed, and nothing waits: no segment changed

    notification = await _scrape(observed_stack.metrics_urls["notification"])
    assert _value(notification, "cxflow_grpc_requests_total", method="/cxflow.v1.NotificationService/SendEmail", code="OK") == 1
    assert _value(notification, "cxflow_http_requests_total", method="GET", route="/healthz", status="2xx") == 1

    worker = await _scrape(observed_stack.metrics_urls["worker"])
    assert _value(worker, "cxflow_runs_total", outcome="started") == 1  # the redelivered event started nothing
    assert _value(worker, "cxflow_runs_total", outcome="completed") == 1
    assert _value(worker, "cxflow_runs_total", outcome="failed") == -1  # no such series: nothing failed
    assert _value(worker, "cxflow_task_attempts_total", task_type="email", outcome="succeeded") == 1
    assert _value(worker, "cxflow_task_attempt_duration_seconds_count", task_type="email") == 1

    temporal = await _scrape(observed_stack.metrics_urls["worker_temporal"])
    # The SDK writes counters without the _total suffix; the text parser reads them as OpenMetrics names with it.
    assert _value(temporal, "temporal_workflow_completed_total", workflow_type="TriggeredRun") >= 1, sorted(
        {n for n, _ in temporal}
    )
    assert _value(temporal, "temporal_activity_execution_latency_count", activity_type="SendEmail") >= 1


async def test_one_trace_links_the_trigger_request_to_the_notification_call(observed_stack: ObservedStack) -> None:
    in_trace = [span for span in observed_stack.spans if span.context.trace_id == observed_stack.trigger_trace_id]
    names = {(span.name, span.kind) for span in in_trace}
    assert ("POST /triggers/{workflow_id}", SpanKind.SERVER) in names, names
    assert ("StartWorkflow:TriggeredRun", SpanKind.CLIENT) in names, names
    assert ("RunActivity:SendEmail", SpanKind.SERVER) in names, names
    assert ("/cxflow.v1.NotificationService/SendEmail", SpanKind.CLIENT) in names, names
    assert ("/cxflow.v1.NotificationService/SendEmail", SpanKind.SERVER) in names, names
    # The notification service's span is a descendant of the activity's: the context went through gRPC metadata.
    by_id = {span.context.span_id: span for span in in_trace}
    server = next(s for s in in_trace if s.name == "/cxflow.v1.NotificationService/SendEmail" and s.kind == SpanKind.SERVER)
    ancestors = []
    parent = server.parent
    while parent is not None and parent.span_id in by_id:
        ancestors.append(by_id[parent.span_id].name)
        parent = by_id[parent.span_id].parent
    assert "RunActivity:SendEmail" in ancestors, ancestors
    assert ancestors[-1] == "POST /triggers/{workflow_id}", ancestors
