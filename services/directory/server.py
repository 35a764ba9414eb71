"""Starts and stops the directory: database migrations, engine, the gRPC server with both services, and the
outbox dispatcher that delivers membership events to ingestion."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from cxflow.v1 import directory_pb2, directory_pb2_grpc
from services.common.auth import Authenticator
from services.common.db import create_engine, create_session_factory
from services.common.grpc_server import GrpcService, ServiceRegistration, start_grpc_server
from services.common.metrics import GrpcMetricsInterceptor, GrpcServerMetrics, OutboxMetrics
from services.common.migrations import upgrade_to_head_async
from services.common.settings import Settings
from services.directory.membership import Clock
from services.directory.models import utc_now
from services.directory.outbox import IngestionPublisher, OutboxDispatcher, Publish
from services.directory.servicer import DirectoryServicer, OrganizationServicer
from services.directory.tokens import LocalTokenResolver

log = structlog.get_logger(__name__)


@dataclass
class DirectoryServer:
    grpc_port: int
    dispatcher: OutboxDispatcher | None
    _grpc: GrpcService
    _engine: AsyncEngine
    _publisher: IngestionPublisher | None

    async def stop(self, grace: float = 1.0) -> None:
        """Stops serving (in-flight calls get `grace` seconds) and dispatching, then closes the database connections.

        Events not delivered yet stay in the outbox for the next start."""
        await self._grpc.stop(grace)
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        if self._publisher is not None:
            await self._publisher.close()
        await self._engine.dispose()
        log.info("directory.stopped")


async def start_directory(
    settings: Settings,
    clock: Clock = utc_now,
    publish: Publish | None = None,
    dispatch: bool = True,
    metrics_registry: CollectorRegistry | None = None,
) -> DirectoryServer:
    """clock: the evaluation moment of segment rules (tests inject one). publish: where membership events go
    (default: ingestion at settings.ingestion_grpc_target). dispatch=False leaves events in the outbox.
    metrics_registry: where the gRPC and outbox series go (the process's /metrics serves it)."""
    registry = metrics_registry if metrics_registry is not None else CollectorRegistry()
    url = settings.database_url_for("directory")
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)  # SQLite creates the file, not its folder
    await upgrade_to_head_async("directory", url)
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    services = directory_pb2.DESCRIPTOR.services_by_name
    publisher: IngestionPublisher | None = None
    dispatcher: OutboxDispatcher | None = None
    if dispatch:
        if publish is None:
            publisher = IngestionPublisher(settings.ingestion_grpc_target, settings.resolved_internal_token())
            publish = publisher
        dispatcher = OutboxDispatcher(sessions, publish, OutboxMetrics(registry))
    try:
        grpc_service = await start_grpc_server(
            registrations=[
                ServiceRegistration(
                    OrganizationServicer(sessions),
                    directory_pb2_grpc.add_OrganizationServiceServicer_to_server,
                    services["OrganizationService"].full_name,
                ),
                ServiceRegistration(
                    DirectoryServicer(sessions, clock, dispatcher.wake if dispatcher else lambda: None),
                    directory_pb2_grpc.add_DirectoryServiceServicer_to_server,
                    services["DirectoryService"].full_name,
                ),
            ],
            authenticator=Authenticator(settings.resolved_internal_token(), LocalTokenResolver(sessions)),
            host=settings.grpc_host,
            port=settings.directory_grpc_port,
            interceptors=[GrpcMetricsInterceptor(GrpcServerMetrics(registry))],
        )
    except BaseException:
        if publisher is not None:
            await publisher.close()
        await engine.dispose()
        raise
    if dispatcher is not None:
        dispatcher.start()  # delivers what an earlier process committed but did not deliver
    return DirectoryServer(
        grpc_port=grpc_service.port, dispatcher=dispatcher, _grpc=grpc_service, _engine=engine, _publisher=publisher
    )
