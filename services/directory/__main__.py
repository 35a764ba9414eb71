"""`python -m services.directory`: runs the directory service until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from services.common.grpc_server import wait_for_termination_signal
from services.common.logging import configure_logging
from services.common.metrics import serve_metrics
from services.common.settings import Settings
from services.common.tracing import configure_tracing, shutdown_tracing
from services.directory.server import start_directory


async def main() -> None:
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format, service="directory")
    configure_tracing("cxflow-directory", settings.otlp_endpoint)  # before any gRPC server or channel exists
    registry = CollectorRegistry()
    metrics = serve_metrics(registry, settings.metrics_host, settings.directory_metrics_port, process="directory")
    server = await start_directory(settings, metrics_registry=registry)
    try:
        await wait_for_termination_signal()
    finally:
        await server.stop(settings.grpc_shutdown_grace_seconds)
        if metrics is not None:
            metrics.close()
        shutdown_tracing()


if __name__ == "__main__":
    asyncio.run(main())
