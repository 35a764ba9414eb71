"""Starts the notification service: migrations, database, SMTP channel and the gRPC server."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from cxflow.v1 import notification_pb2, notification_pb2_grpc
from services.common.auth import Authenticator, RemoteTokenResolver, TokenResolver
from services.common.db import create_engine, create_session_factory, is_sqlite
from services.common.grpc_server import GrpcService, ServiceRegistration, start_grpc_server
from services.common.migrations import upgrade_to_head_async
from services.common.settings import Settings
from services.notification.deliveries import EmailDeliveries
from services.notification.email_channel import SmtpEmailChannel
from services.notification.servicer import NotificationServicer

log = structlog.get_logger(__name__)

SERVICE_FULL_NAME = notification_pb2.DESCRIPTOR.services_by_name["NotificationService"].full_name


@dataclass
class NotificationServer:
    """A running notification service; stop() drains calls, then releases the database and channels."""

    grpc_port: int
    _grpc: GrpcService = field(repr=False)
    _engine: AsyncEngine = field(repr=False)
    _directory_channel: grpc.aio.Channel | None = field(default=None, repr=False)

    async def stop(self, grace: float = 1.0) -> None:
        await self._grpc.stop(grace)
        await self._engine.dispose()
        if self._directory_channel is not None:
            await self._directory_channel.close()
        log.info("notification.stopped")


async def start_notification(settings: Settings, token_resolver: TokenResolver | None = None) -> NotificationServer:
    """Brings the database to head and serves NotificationService on settings.notification_grpc_port (0: any)."""
    url = settings.database_url_for("notification")
    if is_sqlite(url) and not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    await upgrade_to_head_async("notification", url)
    engine = create_engine(url)
    internal_token = settings.resolved_internal_token()

    directory_channel = None
    if token_resolver is None:
        # API tokens belong to the directory service; ask it, with a short cache in the resolver.
        directory_channel = grpc.aio.insecure_channel(settings.directory_grpc_target)
        token_resolver = RemoteTokenResolver(directory_channel, internal_token)

    emails = EmailDeliveries(SmtpEmailChannel(settings), settings.smtp_default_from)
    servicer = NotificationServicer(create_session_factory(engine), emails)
    service = await start_grpc_server(
        registrations=[
            ServiceRegistration(servicer, notification_pb2_grpc.add_NotificationServiceServicer_to_server, SERVICE_FULL_NAME)
        ],
        authenticator=Authenticator(internal_token, token_resolver),
        host=settings.grpc_host,
        port=settings.notification_grpc_port,
    )
    return NotificationServer(grpc_port=service.port, _grpc=service, _engine=engine, _directory_channel=directory_channel)
