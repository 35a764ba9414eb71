"""Starts and stops the directory: database migrations, engine, and the gRPC server with both services."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from cxflow.v1 import directory_pb2, directory_pb2_grpc
from services.common.auth import Authenticator
from services.common.db import create_engine, create_session_factory
from services.common.grpc_server import GrpcService, ServiceRegistration, start_grpc_server
from services.common.migrations import upgrade_to_head_async
from services.common.settings import Settings
from services.directory.servicer import DirectoryServicer, OrganizationServicer
from services.directory.tokens import LocalTokenResolver

log = structlog.get_logger(__name__)


@dataclass
class DirectoryServer:
    grpc_port: int
    _grpc: GrpcService
    _engine: AsyncEngine

    async def stop(self, grace: float = 1.0) -> None:
        """Stops serving (in-flight calls get `grace` seconds), then closes the database connections."""
        await self._grpc.stop(grace)
        await self._engine.dispose()
        log.info("directory.stopped")


async def start_directory(settings: Settings) -> DirectoryServer:
    url = settings.database_url_for("directory")
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)  # SQLite creates the file, not its folder
    await upgrade_to_head_async("directory", url)
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    services = directory_pb2.DESCRIPTOR.services_by_name
    try:
        grpc_service = await start_grpc_server(
            registrations=[
                ServiceRegistration(
                    OrganizationServicer(sessions),
                    directory_pb2_grpc.add_OrganizationServiceServicer_to_server,
                    services["OrganizationService"].full_name,
                ),
                ServiceRegistration(
                    DirectoryServicer(sessions),
                    directory_pb2_grpc.add_DirectoryServiceServicer_to_server,
                    services["DirectoryService"].full_name,
                ),
            ],
            authenticator=Authenticator(settings.resolved_internal_token(), LocalTokenResolver(sessions)),
            host=settings.grpc_host,
            port=settings.directory_grpc_port,
        )
    except BaseException:
        await engine.dispose()
        raise
    return DirectoryServer(grpc_port=grpc_service.port, _grpc=grpc_service, _engine=engine)
