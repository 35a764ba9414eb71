"""Channel settings over gRPC: validated writes, partial updates, secrets never returned; and the delivery lease."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from sqlalchemy import select

from cxflow.mailcatcher import MailCatcher
from cxflow.v1 import notification_pb2
from services.common.db import create_engine, create_session_factory
from services.notification.email_channel import EmailRequest
from services.notification.models import ChannelSettings, Delivery
from services.notification.repository import DeliveryRepository

Metadata = tuple[tuple[str, str], ...]
N = notification_pb2


async def test_settings_summary_says_what_is_configured_and_never_a_secret(stub, metadata: Metadata) -> None:
    empty = await stub.GetChannelSettings(N.GetChannelSettingsRequest(), metadata=metadata)
    assert (empty.smtp_configured, list(empty.slack_webhook_names), empty.segment_endpoint) == (
        False, [], "https://api.segment.io"
    )
    summary = await stub.UpdateChannelSettings(
        N.UpdateChannelSettingsRequest(
            smtp=N.SmtpSettings(host="smtp.example.com", port=587, starttls=True, username="u", password="smtp-pw-secret"),
            slack_webhooks={"alerts": "https://hooks.slack.com/services/T/B/slack-secret", "ops": "https://hooks.slack.com/x"},
            zendesk=N.ZendeskSettings(base_url="https://acme.zendesk.com", email="a@acme.test", api_token="zd-secret"),
            freshdesk=N.FreshdeskSettings(base_url="https://acme.freshdesk.com", api_key="fd-secret"),
            webhook_secret="wh-secret",
            outbound_allow_list=N.StringList(values=["127.0.0.1", "10.0.0.0/8"]),
            segment_write_keys={"main": "seg-secret"},
        ),
        metadata=metadata,
    )
    assert summary == N.ChannelSettingsSummary(
        smtp_configured=True,
        slack_webhook_names=["alerts", "ops"],
        zendesk_configured=True,
        freshdesk_configured=True,
        webhook_secret_configured=True,
        outbound_allow_list=["127.0.0.1/32", "10.0.0.0/8"],
        segment_write_key_names=["main"],
        segment_endpoint="https://api.segment.io",
    )
    wire = summary.SerializeToString() + (await stub.GetChannelSettings(N.GetChannelSettingsRequest(), metadata=metadata)).SerializeToString()
    for secret in (b"smtp-pw-secret", b"slack-secret", b"zd-secret", b"fd-secret", b"wh-secret", b"seg-secret"):
        assert secret not in wire

    # Partial: absent parts stay; "" removes a name; clear drops a section.
    after = await stub.UpdateChannelSettings(
        N.UpdateChannelSettingsRequest(slack_webhooks={"ops": ""}, clear=["zendesk"], webhook_secret=""), metadata=metadata
    )
    assert (list(after.slack_webhook_names), after.zendesk_configured, after.freshdesk_configured) == (["alerts"], False, True)
    assert (after.webhook_secret_configured, after.smtp_configured) == (False, True)


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"smtp": N.SmtpSettings(host="", port=25)}, "smtp.host"),
        ({"smtp": N.SmtpSettings(host="h", port=0)}, "smtp.port"),
        ({"smtp": N.SmtpSettings(host="h", port=25, tls=True, starttls=True)}, "smtp.tls"),
        ({"slack_webhooks": {"alerts": "not a url"}}, "slack_webhooks[alerts]"),
        ({"zendesk": N.ZendeskSettings(base_url="https://a.zendesk.com", email="a@b.c")}, "zendesk.api_token"),
        ({"freshdesk": N.FreshdeskSettings(base_url="ftp://a", api_key="k")}, "freshdesk.base_url"),
        ({"outbound_allow_list": N.StringList(values=["localhost"])}, "outbound_allow_list[0]"),
        ({"clear": ["everything"]}, "clear"),
    ],
)
async def test_invalid_settings_name_the_field_and_change_nothing(
    stub, metadata: Metadata, database_url: str, request_fields, field
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.UpdateChannelSettings(
            N.UpdateChannelSettingsRequest(webhook_secret="kept-out", **request_fields), metadata=metadata
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in caught.value.details()
    engine = create_engine(database_url)
    async with create_session_factory(engine)() as session:
        assert list(await session.scalars(select(ChannelSettings))) == []
    await engine.dispose()


async def test_organization_smtp_settings_are_used_for_its_email(
    start_service, metadata: Metadata, api_token_caller
) -> None:
    own = MailCatcher()
    default = MailCatcher()
    await own.start()
    await default.start()
    try:
        server = await start_service(default)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            stub = notification_pb2_grpc_stub(channel)
            await stub.UpdateChannelSettings(
                N.UpdateChannelSettingsRequest(
                    smtp=N.SmtpSettings(host="127.0.0.1", port=own.port, default_from="Acme <hello@acme.test>")
                ),
                metadata=metadata,
            )
            request = N.SendEmailRequest(idempotency_key="k", to=["zoe@example.com"], subject="Hi", text_body="x")
            await stub.SendEmail(request, metadata=metadata)
            token_metadata, _ = api_token_caller
            await stub.SendEmail(request, metadata=token_metadata)  # another organization: the process default
        [mine] = own.messages
        assert mine["From"].addresses[0].addr_spec == "hello@acme.test"
        assert len(default.messages) == 1
    finally:
        await own.stop()
        await default.stop()


def notification_pb2_grpc_stub(channel: grpc.aio.Channel):
    from cxflow.v1 import notification_pb2_grpc

    return notification_pb2_grpc.NotificationServiceStub(channel)


async def _pending(database_url: str, organization: str, key: str, in_flight_until: datetime | None) -> None:
    request = EmailRequest(key, "", ("zoe@example.com",), (), "Hi", "x", "")
    engine = create_engine(database_url)
    async with create_session_factory(engine)() as session:
        await DeliveryRepository(session).claim(organization, key, "email", request.fingerprint(), in_flight_until)
        await session.commit()
    await engine.dispose()


async def test_a_key_in_flight_elsewhere_is_unavailable_and_sent_once_its_lease_ran_out(
    stub, metadata: Metadata, organization: str, catcher: MailCatcher, database_url: str
) -> None:
    request = N.SendEmailRequest(idempotency_key="lease-1", to=["zoe@example.com"], subject="Hi", text_body="x")
    await _pending(database_url, organization, "lease-1", datetime.now(UTC) + timedelta(minutes=5))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SendEmail(request, metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "in flight" in caught.value.details()
    assert catcher.messages == []

    # A crashed call's lease that ran out: the next call sends.
    request2 = N.SendEmailRequest(idempotency_key="lease-2", to=["zoe@example.com"], subject="Hi", text_body="x")
    await _pending(database_url, organization, "lease-2", datetime.now(UTC) - timedelta(seconds=1))
    reply = await stub.SendEmail(request2, metadata=metadata)
    assert reply.duplicate is False
    assert len(catcher.messages) == 1
    engine = create_engine(database_url)
    async with create_session_factory(engine)() as session:
        delivery = await session.scalar(select(Delivery).where(Delivery.idempotency_key == "lease-2"))
        assert (delivery.status, delivery.attempts, delivery.in_flight_until) == ("sent", 2, None)
    await engine.dispose()
