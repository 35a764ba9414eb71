"""Secrets never logged: organization A's channel credentials, tokens and write key travel through every service (Slack,
signed webhooks, Zendesk, Freshdesk, Segment, SMTP with a password, the HTTP intake) at DEBUG level, and not one
log line carries them. The session-wide guard (secret_log_guard.py) then checks every other test's lines too."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator

import grpc
import pytest
from security.secret_log_guard import LogLineCollector, leaks, subprocess_log_lines
from two_organizations import TwoOrganizations, basic, struct

from cxflow.demo import DEMO_WORKFLOW_ID
from cxflow.v1 import notification_pb2, notification_pb2_grpc


@pytest.fixture
def debug_logging() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.setLevel(level)


async def test_secrets_in_flight_never_reach_a_log_line(
    two_organizations: TwoOrganizations, secret_log_guard_attached: LogLineCollector, debug_logging: None
) -> None:
    stack = two_organizations
    a = stack.a
    collector = secret_log_guard_attached
    first_line = len(collector.lines)
    notification = notification_pb2_grpc.NotificationServiceStub(stack.notification_channel)
    md = stack.as_a
    await notification.UpdateChannelSettings(
        notification_pb2.UpdateChannelSettingsRequest(segment_endpoint=stack.provider.url), metadata=md
    )

    await notification.SendSlack(
        notification_pb2.SendSlackRequest(idempotency_key="log/0", webhook_name="alerts", text="hi"), metadata=md
    )
    await notification.SendWebhook(
        notification_pb2.SendWebhookRequest(
            idempotency_key="log/1", url=f"{stack.provider.url}/hook?token=query-secret-{a.secrets[0]}", body=struct({"x": 1})
        ),
        metadata=md,
    )
    stack.provider.respond(201, json={"ticket": {"id": 7}})
    await notification.CreateTicket(
        notification_pb2.CreateTicketRequest(
            idempotency_key="log/2", provider=notification_pb2.TICKET_PROVIDER_ZENDESK, title="t"
        ),
        metadata=md,
    )
    stack.provider.respond(401, json={"error": "Couldn't authenticate you"})  # a provider's refusal is logged: still no secret
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await notification.CreateTicket(
            notification_pb2.CreateTicketRequest(
                idempotency_key="log/3",
                provider=notification_pb2.TICKET_PROVIDER_FRESHDESK,
                title="t",
                requester_email="ada@a.example.com",
            ),
            metadata=md,
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION, refused.value.details()
    await notification.SendSegmentEvent(
        notification_pb2.SendSegmentEventRequest(
            idempotency_key="log/4",
            write_key_name="main",
            type=notification_pb2.SEGMENT_CALL_TYPE_TRACK,
            user_id="u-a",
            event="E",
        ),
        metadata=md,
    )
    # The organization's SMTP server asks for no login; cxflow refuses to send the password in the clear: an error path.
    try:
        await notification.SendEmail(
            notification_pb2.SendEmailRequest(idempotency_key="log/5", to=["ada@a.example.com"], subject="s", text_body="b"),
            metadata=md,
        )
    except grpc.aio.AioRpcError:
        pass

    token = {"X-API-TOKEN": a.credentials.api_token}
    assert (
        await stack.http.post("/v1/identify", json={"userId": "u-a"}, headers=basic(a.credentials.write_key))
    ).status_code == 200
    assert (
        await stack.http.post("/v1/track", json={"userId": "u-a", "event": "E", "writeKey": a.credentials.write_key})
    ).status_code == 200
    assert (await stack.http.post(f"/triggers/{DEMO_WORKFLOW_ID}", json={"userId": "u-a"}, headers=token)).status_code == 202
    assert (await stack.http.get("/API/v3/whoami", headers=token)).status_code == 200
    wrong = "cxf_wrong-token-that-is-not-registered-0000"
    assert (await stack.http.get("/API/v3/whoami", headers={"X-API-TOKEN": wrong})).status_code == 401

    # The secrets really were in flight: the providers received them.
    received = "\n".join(f"{r.path}?{r.query} {r.headers} {r.body!r}" for r in stack.provider.requests)
    assert "slackSecretA9x" in received
    assert base64.b64encode(b"agent@a.example.com/token:zd-token-A-88ad0c").decode() in received
    assert base64.b64encode(b"segment-write-key-A-42:").decode() in received

    lines = collector.lines[first_line:]
    assert any('"grpc.call"' in line or "grpc.call" in line for line in lines), "the collector saw no service log line"
    assert len(lines) > 20
    offending = leaks(lines, [*a.secrets, "query-secret-", wrong]) + leaks(subprocess_log_lines(stack.settings.data_dir))
    assert not offending, "\n".join(offending)
