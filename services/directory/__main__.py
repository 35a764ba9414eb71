"""`python -m services.directory`: runs the directory service until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio

from services.common.service_main import serve_until_terminated
from services.directory.server import start_directory

if __name__ == "__main__":
    asyncio.run(
        serve_until_terminated(
            "directory",
            lambda settings, registry: start_directory(settings, metrics_registry=registry),
            lambda settings: settings.directory_metrics_port,
        )
    )
