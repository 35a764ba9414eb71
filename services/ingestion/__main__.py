"""`python -m services.ingestion`: runs the ingestion service until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio

from services.common.grpc_server import wait_for_termination_signal
from services.common.logging import configure_logging
from services.common.settings import Settings
from services.ingestion.server import start_ingestion


async def main() -> None:
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format, service="ingestion")
    server = await start_ingestion(settings)
    await wait_for_termination_signal()
    await server.stop(settings.grpc_shutdown_grace_seconds)


if __name__ == "__main__":
    asyncio.run(main())
