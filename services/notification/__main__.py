"""`python -m services.notification`: runs the notification service until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from services.common.grpc_server import wait_for_termination_signal
from services.common.logging import configure_logging
from services.common.metrics import serve_metrics
from services.common.settings import Settings
from services.common.tracing import configure_tracing, shutdown_tracing
from services.notification.server import start_notification


async def main() -> None:
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format, service="notification")
    configure_tracing("cxflow-notification", settings.otlp_endpoint)  # before any gRPC server or channel exists
    registry = CollectorRegistry()
    metrics = serve_metrics(registry, settings.metrics_host, settings.notification_metrics_port, process="notification")
    server = await start_notification(settings, metrics_registry=registry)
    try:
        await wait_for_termination_signal()
    finally:
        await server.stop(settings.grpc_shutdown_grace_seconds)
        if metrics is not None:
            metrics.close()
        shutdown_tracing()


if __name__ == "__main__":
    asyncio.run(main())
