"""Starts the notification service: migrations, database, channels, the gRPC server and the survey-link HTTP endpoint."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field

import grpc
import structlog
import uvicorn
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from cxflow.v1 import notification_pb2, notification_pb2_grpc
from services.common.auth import Authenticator, RemoteTokenResolver, TokenResolver
from services.common.db import create_engine, create_session_factory, is_sqlite
from services.common.grpc_client import service_channel
from services.common.grpc_server import GrpcService, ServiceRegistration, start_grpc_server
from services.common.metrics import GrpcMetricsInterceptor, GrpcServerMetrics, HttpMetrics, HttpMetricsMiddleware
from services.common.migrations import upgrade_to_head_async
from services.common.settings import Settings
from services.common.tracing import instrument_http_app
from services.notification.deliveries import Deliveries, EmailDeliveries
from services.notification.email_channel import SmtpEmailChannel
from services.notification.http_app import create_survey_app
from services.notification.outbound import OutboundHttp
from services.notification.servicer import NotificationServicer
from services.notification.surveys import Surveys
from services.notification.tickets import Tickets

log = structlog.get_logger(__name__)

SERVICE_FULL_NAME = notification_pb2.DESCRIPTOR.services_by_name["NotificationService"].full_name


@dataclass
class NotificationServer:
    """A running notification service; stop() drains calls, then releases the database and channels."""

    grpc_port: int
    http_port: int
    _grpc: GrpcService = field(repr=False)
    _http: uvicorn.Server = field(repr=False)
    _http_task: asyncio.Task[None] = field(repr=False)
    _outbound: OutboundHttp = field(repr=False)
    _smtp: SmtpEmailChannel = field(repr=False)
    _engine: AsyncEngine = field(repr=False)
    _directory_channel: grpc.aio.Channel | None = field(default=None, repr=False)

    async def stop(self, grace: float = 1.0) -> None:
        await self._grpc.stop(grace)
        self._http.should_exit = True
        await self._http_task
        await self._outbound.aclose()
        await self._smtp.aclose()
        await self._engine.dispose()
        if self._directory_channel is not None:
            await self._directory_channel.close()
        log.info("notification.stopped")


async def start_notification(
    settings: Settings, token_resolver: TokenResolver | None = None, metrics_registry: CollectorRegistry | None = None
) -> NotificationServer:
    """Brings the database to head and serves NotificationService on settings.notification_grpc_port (0: any).
    metrics_registry: where the gRPC and HTTP series go (the process's /metrics serves it)."""
    registry = metrics_registry if metrics_registry is not None else CollectorRegistry()
    url = settings.database_url_for("notification")
    if is_sqlite(url) and not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    await upgrade_to_head_async("notification", url)
    engine = create_engine(url)
    internal_token = settings.resolved_internal_token()

    directory_channel = None
    if token_resolver is None:
        # API tokens belong to the directory service; ask it, with a short cache in the resolver.
        directory_channel = service_channel(settings.directory_grpc_target)
        token_resolver = RemoteTokenResolver(directory_channel, internal_token)

    sessions = create_session_factory(engine)
    deliveries = Deliveries()
    smtp = SmtpEmailChannel(settings)
    outbound = OutboundHttp()
    surveys = Surveys(deliveries, smtp, settings.smtp_default_from, settings.notification_public_url)
    servicer = NotificationServicer(
        sessions,
        EmailDeliveries(smtp, settings.smtp_default_from, deliveries),
        deliveries=deliveries,
        http=outbound,
        tickets=Tickets(deliveries, outbound),
        surveys=surveys,
    )
    try:
        survey_app = create_survey_app(sessions)
        survey_app.add_middleware(HttpMetricsMiddleware, metrics=HttpMetrics(registry))
        instrument_http_app(survey_app)
        http_server, http_task, http_port = await _start_http(settings, survey_app)
    except BaseException:
        await outbound.aclose()
        await engine.dispose()
        if directory_channel is not None:
            await directory_channel.close()
        raise
    service = await start_grpc_server(
        registrations=[
            ServiceRegistration(servicer, notification_pb2_grpc.add_NotificationServiceServicer_to_server, SERVICE_FULL_NAME)
        ],
        authenticator=Authenticator(internal_token, token_resolver),
        host=settings.grpc_host,
        port=settings.notification_grpc_port,
        interceptors=[GrpcMetricsInterceptor(GrpcServerMetrics(registry))],
    )
    return NotificationServer(
        grpc_port=service.port,
        http_port=http_port,
        _grpc=service,
        _http=http_server,
        _http_task=http_task,
        _outbound=outbound,
        _smtp=smtp,
        _engine=engine,
        _directory_channel=directory_channel,
    )


async def _start_http(settings: Settings, app: object) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    """Serves the survey-link endpoint on NOTIFICATION_HTTP_HOST:PORT (0: any free port) in this event loop."""
    host, port = settings.notification_http_host, settings.notification_http_port
    # Bind here rather than in uvicorn, so a taken port is an OSError naming the setting (uvicorn would SystemExit).
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    try:
        listener = socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        raise RuntimeError(f"NOTIFICATION_HTTP_PORT: cannot listen on {host}:{port}: {exc.strerror}") from exc
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the survey-link HTTP endpoint stopped before it started")
        await asyncio.sleep(0.01)
    port = listener.getsockname()[1]
    log.info("http.serving", address=f"{host}:{port}", endpoints=["/s/{token}"])
    return server, task, port
