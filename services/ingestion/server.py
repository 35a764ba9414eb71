"""Starts and stops the ingestion service: database, inbox processor, gRPC (port 0 allowed) and HTTP via uvicorn."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

import grpc
import structlog
import temporalio.client
import uvicorn
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from cxflow.v1 import directory_pb2_grpc, ingestion_pb2_grpc
from services.common.auth import Authenticator, RemoteTokenResolver, TokenResolver
from services.common.db import create_engine, create_session_factory, is_sqlite
from services.common.grpc_client import service_channel
from services.common.grpc_server import GrpcService, ServiceRegistration, start_grpc_server
from services.common.metrics import EventMetrics, GrpcMetricsInterceptor, GrpcServerMetrics, HttpMetrics, HttpMetricsMiddleware
from services.common.migrations import upgrade_to_head_async
from services.common.settings import Settings
from services.common.tracing import instrument_http_app, traced_client
from services.ingestion.http_app import create_app
from services.ingestion.inbox_store import inbox_store
from services.ingestion.intake import InboxWriter
from services.ingestion.launcher import RunLauncher
from services.ingestion.membership import MembershipRouter
from services.ingestion.processor import InboxProcessor
from services.ingestion.rate_limit import RequestRateLimiter
from services.ingestion.servicer import IngestionServicer
from services.ingestion.workflow_servicer import WorkflowServicer

log = structlog.get_logger(__name__)


@dataclass
class IngestionServer:
    grpc_port: int
    http_port: int
    _grpc: GrpcService = field(repr=False)
    _http: uvicorn.Server = field(repr=False)
    _http_task: asyncio.Task[None] = field(repr=False)
    _processor: InboxProcessor = field(repr=False)
    _writer: InboxWriter = field(repr=False)
    _engine: AsyncEngine = field(repr=False)
    _directory_channel: grpc.aio.Channel = field(repr=False)

    @property
    def processor(self) -> InboxProcessor:
        return self._processor

    @property
    def writer(self) -> InboxWriter:
        return self._writer

    async def stop(self, grace: float = 1.0) -> None:
        """Stops taking requests (HTTP, then gRPC), stops the processor, closes the database."""
        self._http.should_exit = True
        await self._http_task
        await self._grpc.stop(grace)
        await self._writer.stop()
        await self._processor.stop()
        await self._directory_channel.close()
        await self._engine.dispose()
        log.info("ingestion.stopped")


async def start_ingestion(
    settings: Settings,
    temporal_client: temporalio.client.Client | None = None,
    token_resolver: TokenResolver | None = None,
    metrics_registry: CollectorRegistry | None = None,
) -> IngestionServer:
    """metrics_registry: where the gRPC, HTTP and event series go (the process's /metrics serves it)."""
    registry = metrics_registry if metrics_registry is not None else CollectorRegistry()
    events = EventMetrics(registry)
    url = settings.database_url_for("ingestion")
    if is_sqlite(url):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    await upgrade_to_head_async("ingestion", url)
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    internal_token = settings.resolved_internal_token()

    if temporal_client is None:
        temporal_client = await temporalio.client.Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
    directory_channel = service_channel(settings.directory_grpc_target)
    if token_resolver is None:
        token_resolver = RemoteTokenResolver(directory_channel, internal_token)

    # The launcher's client carries the trace context into the runs it starts (when tracing is on).
    launcher = RunLauncher(traced_client(temporal_client), settings.temporal_task_queue, events)
    processor = InboxProcessor(
        sessions,
        launcher,
        directory_pb2_grpc.DirectoryServiceStub(directory_channel),
        internal_token,
        dedup_retention=timedelta(days=settings.ingestion_dedup_retention_days),
        events=events,
    )
    processor.start()
    writer = InboxWriter(inbox_store(sessions, url), events)
    writer.start()

    grpc_service = await start_grpc_server(
        registrations=[
            ServiceRegistration(
                IngestionServicer(sessions, writer, processor, MembershipRouter(sessions, launcher)),
                ingestion_pb2_grpc.add_IngestionServiceServicer_to_server,
                "cxflow.v1.IngestionService",
            ),
            ServiceRegistration(WorkflowServicer(sessions, settings.public_url, temporal_client, settings.temporal_task_queue), ingestion_pb2_grpc.add_WorkflowServiceServicer_to_server,
                                "cxflow.v1.WorkflowService"),
        ],
        authenticator=Authenticator(internal_token, token_resolver),
        host=settings.grpc_host,
        port=settings.ingestion_grpc_port,
        interceptors=[GrpcMetricsInterceptor(GrpcServerMetrics(registry))],
    )

    app = create_app(
        sessions=sessions,
        launcher=launcher,
        processor=processor,
        writer=writer,
        token_resolver=token_resolver,
        directory=directory_pb2_grpc.DirectoryServiceStub(directory_channel),
        organizations=directory_pb2_grpc.OrganizationServiceStub(directory_channel),
        internal_token=internal_token,
        rate_limiter=RequestRateLimiter(settings.ingestion_rate_limit_per_second, settings.ingestion_rate_limit_burst),
    )
    app.add_middleware(HttpMetricsMiddleware, metrics=HttpMetrics(registry))  # outermost: sees 429s and errors too
    instrument_http_app(app)
    http = uvicorn.Server(
        uvicorn.Config(app, host=settings.ingestion_http_host, port=settings.ingestion_http_port, log_config=None)
    )
    http_task = asyncio.create_task(http.serve(), name="ingestion-http")
    while not http.started:
        if http_task.done():  # e.g. the port is taken: surface uvicorn's failure instead of waiting forever
            await grpc_service.stop(0)
            await writer.stop()
            await processor.stop()
            await engine.dispose()
            http_task.result()
            raise RuntimeError(f"the HTTP server could not start on port {settings.ingestion_http_port}")
        await asyncio.sleep(0.02)
    http_port = http.servers[0].sockets[0].getsockname()[1]
    log.info("ingestion.serving", grpc_port=grpc_service.port, http_port=http_port)
    return IngestionServer(
        grpc_port=grpc_service.port,
        http_port=http_port,
        _grpc=grpc_service,
        _http=http,
        _http_task=http_task,
        _processor=processor,
        _writer=writer,
        _engine=engine,
        _directory_channel=directory_channel,
    )
