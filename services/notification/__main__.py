"""`python -m services.notification`: runs the notification service until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio

from services.common.service_main import serve_until_terminated
from services.notification.server import start_notification

if __name__ == "__main__":
    asyncio.run(
        serve_until_terminated(
            "notification",
            lambda settings, registry: start_notification(settings, metrics_registry=registry),
            lambda settings: settings.notification_metrics_port,
        )
    )
