"""`python -m services.ingestion`: runs the ingestion service until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio

from services.common.service_main import serve_until_terminated
from services.ingestion.server import start_ingestion

if __name__ == "__main__":
    asyncio.run(
        serve_until_terminated(
            "ingestion",
            lambda settings, registry: start_ingestion(settings, metrics_registry=registry),
            lambda settings: settings.ingestion_metrics_port,
        )
    )
