"""`python -m services.directory`: runs the directory service until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio

from services.common.grpc_server import wait_for_termination_signal
from services.common.logging import configure_logging
from services.common.settings import Settings
from services.directory.server import start_directory


async def main() -> None:
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format, service="directory")
    server = await start_directory(settings)
    try:
        await wait_for_termination_signal()
    finally:
        await server.stop(settings.grpc_shutdown_grace_seconds)


if __name__ == "__main__":
    asyncio.run(main())
