"""What `python -m services.<name>` does for every service: logging, tracing, metrics, serve until SIGTERM, stop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from prometheus_client import CollectorRegistry

from services.common.gc_tuning import tune_for_serving
from services.common.grpc_server import wait_for_termination_signal
from services.common.logging import configure_logging
from services.common.metrics import serve_metrics
from services.common.settings import Settings
from services.common.tracing import configure_tracing, shutdown_tracing


class RunningService(Protocol):
    async def stop(self, grace: float = 1.0) -> None: ...


async def serve_until_terminated(
    name: str,
    start: Callable[[Settings, CollectorRegistry], Awaitable[RunningService]],
    metrics_port: Callable[[Settings], int],
) -> None:
    """Starts the service `name` from the environment's settings and runs it until SIGTERM or Ctrl-C."""
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format, service=name)
    configure_tracing(f"cxflow-{name}", settings.otlp_endpoint)  # before any gRPC server or channel exists
    registry = CollectorRegistry()
    metrics = serve_metrics(registry, settings.metrics_host, metrics_port(settings), process=name)
    server = await start(settings, registry)
    tune_for_serving()
    try:
        await wait_for_termination_signal()
    finally:
        await server.stop(settings.grpc_shutdown_grace_seconds)
        if metrics is not None:
            metrics.close()
        shutdown_tracing()
