"""Fixtures of the notification tests: a real SMTP catcher, the real service on a real database, a gRPC stub."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import pytest

from cxflow.mailcatcher import MailCatcher
from cxflow.v1 import notification_pb2_grpc
from services.common.auth import internal_metadata
from services.common.settings import Settings
from services.notification.server import NotificationServer, start_notification

ORGANIZATION = "ORG_test1"
API_TOKEN = "cxf_notification-test-api-token"
API_TOKEN_ORGANIZATION = "ORG_api"


class KnownTokens:
    """A TokenResolver over a fixed table: the directory that really issues tokens is another service."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self._tokens = tokens

    async def resolve(self, token: str) -> str | None:
        return self._tokens.get(token)


StartNotification = Callable[[MailCatcher], Awaitable[NotificationServer]]


@pytest.fixture
async def catcher(tmp_path: Path) -> AsyncIterator[MailCatcher]:
    mail = MailCatcher(mail_dir=tmp_path / "mail")
    await mail.start()
    yield mail
    await mail.stop()


@pytest.fixture
async def start_service(settings: Settings, database_url: str) -> AsyncIterator[StartNotification]:
    """Starts the notification service sending to the given catcher; every server started is stopped afterwards."""
    servers: list[NotificationServer] = []

    async def start(mail: MailCatcher) -> NotificationServer:
        server = await start_notification(
            settings.with_overrides(
                database_url=database_url, smtp_host="127.0.0.1", smtp_port=mail.port, notification_http_port=0
            ),
            token_resolver=KnownTokens({API_TOKEN: API_TOKEN_ORGANIZATION}),
        )
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def notification(start_service: StartNotification, catcher: MailCatcher) -> NotificationServer:
    return await start_service(catcher)


@pytest.fixture
async def channel(notification: NotificationServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{notification.grpc_port}") as ch:
        yield ch


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> notification_pb2_grpc.NotificationServiceStub:
    return notification_pb2_grpc.NotificationServiceStub(channel)


@pytest.fixture
def organization() -> str:
    return ORGANIZATION


@pytest.fixture
def metadata(settings: Settings) -> tuple[tuple[str, str], ...]:
    """An internal call on behalf of ORGANIZATION, the way the worker's activities call."""
    return internal_metadata(settings.internal_token, ORGANIZATION)


@pytest.fixture
def api_token_caller() -> tuple[tuple[tuple[str, str], ...], str]:
    """Metadata of a call with an organization's API token, and that organization."""
    return (("authorization", f"Bearer {API_TOKEN}"),), API_TOKEN_ORGANIZATION
