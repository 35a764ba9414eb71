"""The email channel: address validation, composition, fingerprints, Message-IDs, SMTP failure sorting, kept connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email import message_from_bytes, policy

import pytest
from structlog.testing import capture_logs

from cxflow.mailcatcher import MailCatcher
from services.common.settings import Settings
from services.notification.email_channel import (
    EmailProviderUnavailable,
    EmailRequest,
    InvalidEmail,
    SmtpConnections,
    SmtpEmailChannel,
    SmtpMisconfigured,
    compose,
    message_id_for,
    parse_address,
    validate,
)


def make_request(**changes: object) -> EmailRequest:
    fields: dict[str, object] = {
        "idempotency_key": "run-1/0", "from_address": "", "to": ("zoe@example.com",), "cc": (), "subject": "Hi",
        "text_body": "Hello", "html_body": "",
    }
    fields.update(changes)
    return EmailRequest(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value", ["zoe@example.com", "Zoë Schmidt <zoe@example.com>", '"Doe, Jane" <jane@example.org>', "ops@localhost"]
)
def test_valid_addresses_parse(value: str) -> None:
    assert parse_address(value, "to[0]").addr_spec.endswith(("example.com", "example.org", "localhost"))


@pytest.mark.parametrize(
    "value", ["", "nobody", "a@", "@example.com", "<>", "a b@example.com", "a@example.com, b@example.com", "a@x.com\nBcc: b@y.com"]
)
def test_invalid_addresses_name_the_field(value: str) -> None:
    with pytest.raises(InvalidEmail) as caught:
        parse_address(value, "cc[2]")
    assert caught.value.field == "cc[2]"


def test_validate_accepts_a_complete_request() -> None:
    validate(make_request(cc=("ann@example.org",), html_body="<p>Hello</p>"))


def test_fingerprint_changes_with_any_field_and_not_otherwise() -> None:
    base = make_request()
    assert base.fingerprint() == make_request().fingerprint()
    for change in [{"to": ("other@example.com",)}, {"subject": "Hi!"}, {"html_body": "<p/>"}, {"cc": ("a@b.example",)}]:
        assert make_request(**change).fingerprint() != base.fingerprint(), change


def test_message_id_is_a_function_of_organization_and_key() -> None:
    assert message_id_for("ORG_a", "run-1/0") == message_id_for("ORG_a", "run-1/0")
    assert message_id_for("ORG_a", "run-1/0") != message_id_for("ORG_b", "run-1/0")
    assert message_id_for("ORG_a", "run-1/0").endswith("@cxflow>")


def test_compose_uses_the_default_sender_and_one_part_for_text_only() -> None:
    composed = compose(make_request(), default_from="cxflow <cxflow@localhost>", message_id="<x@cxflow>")
    message = message_from_bytes(composed.as_bytes(), policy=policy.default)  # as a recipient reads it
    assert message["From"].addresses[0].addr_spec == "cxflow@localhost"
    assert message.get_content_type() == "text/plain"
    assert message["Cc"] is None


async def test_unreachable_smtp_server_is_unavailable(settings: Settings) -> None:
    catcher = MailCatcher()
    await catcher.start()
    await catcher.stop()  # the port is now closed: connection refused
    channel = SmtpEmailChannel(settings.with_overrides(smtp_host="127.0.0.1", smtp_port=catcher.port))
    with pytest.raises(EmailProviderUnavailable):
        await channel.send(compose(make_request(), default_from="a@example.com", message_id="<x@cxflow>"))


async def test_smtp_password_never_reaches_the_logs_or_the_error(settings: Settings) -> None:
    catcher = MailCatcher()  # offers no AUTH, so a login attempt fails for good
    await catcher.start()
    secret = "s3cret-smtp-password"
    channel = SmtpEmailChannel(
        settings.with_overrides(smtp_host="127.0.0.1", smtp_port=catcher.port, smtp_username="cx", smtp_password=secret)
    )
    try:
        with capture_logs() as logs, pytest.raises(SmtpMisconfigured) as caught:
            await channel.send(compose(make_request(), default_from="a@example.com", message_id="<x@cxflow>"))
    finally:
        await catcher.stop()
    assert secret not in caught.value.message
    assert secret not in repr(logs)
    assert catcher.messages == []


@asynccontextmanager
async def channel_to(
    catcher: MailCatcher, settings: Settings, connections: SmtpConnections | None = None
) -> AsyncIterator[SmtpEmailChannel]:
    """The catcher started and a channel sending to it; afterwards the channel closed and the catcher stopped."""
    await catcher.start()
    channel = SmtpEmailChannel(settings.with_overrides(smtp_host="127.0.0.1", smtp_port=catcher.port), connections)
    try:
        yield channel
    finally:
        await channel.aclose()
        await catcher.stop()


async def _send(channel: SmtpEmailChannel, subject: str) -> None:
    await channel.send(compose(make_request(subject=subject), default_from="a@example.com", message_id=f"<{subject}@cxflow>"))


async def test_consecutive_messages_share_one_connection_until_the_channel_closes(settings: Settings) -> None:
    catcher = MailCatcher()
    async with channel_to(catcher, settings) as channel:
        for subject in ("one", "two", "three"):
            await _send(channel, subject)
        assert [m["Subject"] for m in await catcher.wait_for(3)] == ["one", "two", "three"]
        assert catcher.connections_accepted == 1
        assert catcher.open_connections == 1
        await channel.aclose()  # QUIT: the server sees the connection end
        for _ in range(100):
            if catcher.open_connections == 0:
                break
            await asyncio.sleep(0.01)
        assert catcher.open_connections == 0


async def test_concurrent_messages_each_get_a_connection_and_all_arrive(settings: Settings) -> None:
    catcher = MailCatcher()
    async with channel_to(catcher, settings) as channel:
        await asyncio.gather(*(_send(channel, f"m{i}") for i in range(12)))
        await asyncio.gather(*(_send(channel, f"n{i}") for i in range(12)))
        messages = await catcher.wait_for(24)
        assert sorted(m["Subject"] for m in messages) == sorted([f"m{i}" for i in range(12)] + [f"n{i}" for i in range(12)])
        # The second wave reused the first wave's connections, up to the number kept idle.
        assert 12 <= catcher.connections_accepted <= 24 - 8


async def test_a_connection_the_server_dropped_is_replaced(settings: Settings) -> None:
    catcher = MailCatcher()
    async with channel_to(catcher, settings) as channel:
        await _send(channel, "before")
        await catcher.stop()  # the server goes down and drops the kept connection
        await catcher.start()  # and comes back on the same port
        await _send(channel, "after")
        assert [m["Subject"] for m in await catcher.wait_for(2)] == ["before", "after"]
        assert catcher.connections_accepted == 2


class ClosingOnNoop(MailCatcher):
    """Answers NOOP with 421, as a server does that is about to close an idle connection."""

    noops = 0

    async def handle_NOOP(self, server: object, session: object, envelope: object, arg: str) -> str:
        self.noops += 1
        return "421 4.4.2 idle too long, closing"


async def test_a_kept_connection_that_fails_its_probe_is_not_used(settings: Settings) -> None:
    catcher = ClosingOnNoop()
    connections = SmtpConnections(probe_after_seconds=0.0)  # probe before every reuse
    async with channel_to(catcher, settings, connections) as channel:
        await _send(channel, "first")
        await _send(channel, "second")
        assert [m["Subject"] for m in await catcher.wait_for(2)] == ["first", "second"]
        assert catcher.noops == 1
        assert catcher.connections_accepted == 2
