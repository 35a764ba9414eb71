"""The one way a cxflow service serves gRPC: aio server, health, reflection, auth and logging, graceful stop."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.auth import Authenticator, bearer_token, reset_principal, set_principal
from services.common.errors import CxflowError

log = structlog.get_logger(__name__)

# Probes and tooling may call these without a token.
_PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.ServerReflection/", "/grpc.reflection.v1.ServerReflection/")


@dataclass(frozen=True)
class ServiceRegistration:
    """A servicer and the generated function that adds it to a server."""

    servicer: Any
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    full_name: str  # e.g. "cxflow.v1.DirectoryService", from the generated descriptor


class RequestInterceptor(grpc.aio.ServerInterceptor):
    """Authenticates every call, binds the caller to the logging context, maps domain errors to statuses."""

    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator

    async def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(_PUBLIC_PREFIXES):
            return handler
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # cxflow defines no client-streaming methods

    async def _enter(self, context: grpc.aio.ServicerContext, method: str) -> Any:
        token, org_header = bearer_token(context.invocation_metadata())
        try:
            principal = await self._authenticator.authenticate(token, org_header)
        except CxflowError as exc:
            log.info("grpc.unauthenticated", method=method)
            await context.abort(exc.grpc_status, exc.message)
        structlog.contextvars.bind_contextvars(grpc_method=method, org=principal.organization_id)
        return set_principal(principal)

    async def _fail(self, context: grpc.aio.ServicerContext, method: str, exc: CxflowError, started: float) -> None:
        log.info("grpc.call", method=method, status=exc.grpc_status.name, error=exc.message, ms=_ms(started))
        await context.abort(exc.grpc_status, exc.message)

    def _wrap_unary(self, behavior: Callable[..., Awaitable[Any]], method: str) -> Callable[..., Awaitable[Any]]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            token = await self._enter(context, method)
            try:
                response = await behavior(request, context)
                log.debug("grpc.call", method=method, status="OK", ms=_ms(started))
                return response
            except CxflowError as exc:
                await self._fail(context, method, exc, started)
            finally:
                reset_principal(token)
                structlog.contextvars.unbind_contextvars("grpc_method", "org")

        return wrapped

    def _wrap_stream(self, behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            token = await self._enter(context, method)
            try:
                async for item in behavior(request, context):
                    yield item
            except CxflowError as exc:
                await self._fail(context, method, exc, started)
            finally:
                reset_principal(token)
                structlog.contextvars.unbind_contextvars("grpc_method", "org")

        return wrapped


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


class GrpcService:
    """A started gRPC server with its health servicer; stop() drains calls within the grace period."""

    def __init__(self, server: grpc.aio.Server, health_servicer: health.aio.HealthServicer, port: int, names: list[str]) -> None:
        self.server = server
        self.health = health_servicer
        self.port = port
        self._names = names

    async def stop(self, grace: float) -> None:
        for name in ["", *self._names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.server.stop(grace)


async def start_grpc_server(
    *,
    registrations: Sequence[ServiceRegistration],
    authenticator: Authenticator,
    host: str,
    port: int,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
) -> GrpcService:
    """Starts serving and marks every service (and the overall "") SERVING. port=0 picks a free port.

    `interceptors` run before the auth and logging one, so they see its refusals too (the metrics interceptor)."""
    server = grpc.aio.server(interceptors=[*interceptors, RequestInterceptor(authenticator)])
    for reg in registrations:
        reg.add_to_server(reg.servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [reg.full_name for reg in registrations]
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    bound_port = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("grpc.serving", address=f"{host}:{bound_port}", services=names)
    return GrpcService(server, health_servicer, bound_port, names)


async def wait_for_termination_signal() -> None:
    """Returns on SIGTERM or SIGINT, so a service can stop gracefully (Ctrl-C in `make up`, docker stop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutdown.requested")
