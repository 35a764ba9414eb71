"""SendEmail end to end: real gRPC server, real SQLite/PostgreSQL delivery store, real SMTP server."""

from __future__ import annotations

import asyncio
from email import policy
from email.parser import BytesParser

import grpc
import pytest
from google.protobuf import message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import select

from cxflow.mailcatcher import MailCatcher
from cxflow.v1 import notification_pb2, notification_pb2_grpc
from services.common.auth import internal_metadata
from services.common.db import create_engine, create_session_factory
from services.common.settings import Settings
from services.notification.email_channel import EmailRequest, message_id_for
from services.notification.models import Delivery
from services.notification.repository import DeliveryRepository
from services.notification.server import NotificationServer

Metadata = tuple[tuple[str, str], ...]


def email_request(key: str = "run-1/0", **changes: object) -> notification_pb2.SendEmailRequest:
    fields: dict[str, object] = {
        "idempotency_key": key,
        "to": ["Zoë Schmidt <zoe@example.com>"],
        "subject": "Welcome",
        "text_body": "Hello Zoë",
    }
    fields.update(changes)
    return notification_pb2.SendEmailRequest(**fields)


async def stored_deliveries(database_url: str) -> list[Delivery]:
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            return list(await session.scalars(select(Delivery).order_by(Delivery.created_at)))
    finally:
        await engine.dispose()


async def test_email_carries_headers_bodies_and_utf8_exactly(
    stub, metadata: Metadata, organization: str, catcher: MailCatcher, database_url: str
) -> None:
    reply = await stub.SendEmail(
        email_request(
            "run-42/3",
            from_address="José Müller <jose@example.com>",
            to=["Zoë Schmidt <zoe@example.com>", "plain@example.com"],
            cc=["Ånné Ørsted <anne@example.org>"],
            subject="Grüße aus Köln – 你好",
            text_body="Hallo Zoë,\nbis bald.",
            html_body="<p>Hallo <b>Zoë</b></p>",
        ),
        metadata=metadata,
    )

    assert reply.duplicate is False
    assert reply.message_id == message_id_for(organization, "run-42/3")
    [received] = await catcher.wait_for(1)
    assert received["Message-ID"] == reply.message_id
    assert received["From"].addresses[0].display_name == "José Müller"
    assert received["From"].addresses[0].addr_spec == "jose@example.com"
    assert [(a.display_name, a.addr_spec) for a in received["To"].addresses] == [
        ("Zoë Schmidt", "zoe@example.com"),
        ("", "plain@example.com"),
    ]
    assert [(a.display_name, a.addr_spec) for a in received["Cc"].addresses] == [("Ånné Ørsted", "anne@example.org")]
    assert received["Subject"] == "Grüße aus Köln – 你好"
    assert received["Date"].datetime is not None
    assert received.get_content_type() == "multipart/alternative"
    assert received.get_body(("plain",)).get_content().rstrip("\n") == "Hallo Zoë,\nbis bald."
    assert received.get_body(("html",)).get_content().rstrip("\n") == "<p>Hallo <b>Zoë</b></p>"

    [delivery] = await stored_deliveries(database_url)
    assert (delivery.organization_id, delivery.idempotency_key) == (organization, "run-42/3")
    assert (delivery.channel, delivery.status, delivery.attempts) == ("email", "sent", 1)
    assert delivery.result == {"message_id": reply.message_id}
    assert delivery.error is None


async def test_headers_on_the_wire_are_ascii_encoded(stub, metadata: Metadata, catcher: MailCatcher) -> None:
    await stub.SendEmail(email_request(subject="Grüße", from_address="José Müller <jose@example.com>"), metadata=metadata)
    await catcher.wait_for(1)
    [eml] = sorted(catcher.mail_dir.glob("*.eml"))
    raw_headers = eml.read_bytes().split(b"\r\n\r\n", 1)[0]
    raw_headers.decode("ascii")  # RFC 2047 encoded words, no raw UTF-8 in headers
    assert b"Subject: =?utf-8?" in raw_headers


async def test_long_lines_are_wrapped_on_the_wire_and_arrive_whole(stub, metadata: Metadata, catcher: MailCatcher) -> None:
    html = "<p>" + "Zoë " * 2000 + "</p>"  # one 8,000-character line; SMTP allows 998
    await stub.SendEmail(email_request(text_body="", html_body=html), metadata=metadata)
    [received] = await catcher.wait_for(1)
    [eml] = sorted(catcher.mail_dir.glob("*.eml"))
    assert max(len(line) for line in eml.read_bytes().split(b"\r\n")) <= 998
    assert received.get_body(("html",)).get_content().rstrip("\n") == html


async def test_default_sender_and_html_only(stub, metadata: Metadata, catcher: MailCatcher, settings: Settings) -> None:
    await stub.SendEmail(email_request(text_body="", html_body="<h1>Hi</h1>"), metadata=metadata)
    [received] = await catcher.wait_for(1)
    assert str(received["From"]) == settings.smtp_default_from
    assert received.get_content_type() == "text/html"
    assert received.get_content().rstrip("\n") == "<h1>Hi</h1>"


async def test_same_key_twice_sends_once_and_returns_the_first_result(
    stub, metadata: Metadata, catcher: MailCatcher
) -> None:
    first = await stub.SendEmail(email_request("run-7/1"), metadata=metadata)
    second = await stub.SendEmail(email_request("run-7/1"), metadata=metadata)

    assert (first.duplicate, second.duplicate) == (False, True)
    assert second.message_id == first.message_id
    assert len(catcher.messages) == 1


async def test_same_key_with_a_different_request_is_refused_and_sends_nothing(
    stub, metadata: Metadata, catcher: MailCatcher
) -> None:
    await stub.SendEmail(email_request("run-7/1"), metadata=metadata)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SendEmail(email_request("run-7/1", text_body="something else"), metadata=metadata)

    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "idempotency key reused with a different request" in caught.value.details()
    assert len(catcher.messages) == 1


async def test_ten_concurrent_calls_with_one_key_send_exactly_one_email(
    stub, metadata: Metadata, catcher: MailCatcher, database_url: str
) -> None:
    replies = await asyncio.gather(*(stub.SendEmail(email_request("run-9/0"), metadata=metadata) for _ in range(10)))

    assert len(catcher.messages) == 1
    assert sorted(r.duplicate for r in replies) == [False] + [True] * 9
    assert {r.message_id for r in replies} == {catcher.messages[0]["Message-ID"]}
    [delivery] = await stored_deliveries(database_url)
    assert delivery.attempts == 1


async def test_smtp_down_is_unavailable_and_the_retry_sends_exactly_once(
    stub, metadata: Metadata, catcher: MailCatcher, database_url: str
) -> None:
    await catcher.stop()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SendEmail(email_request("run-3/2"), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    [delivery] = await stored_deliveries(database_url)
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.error and "unreachable" in delivery.error

    await catcher.start()  # back on the same port
    retried = await stub.SendEmail(email_request("run-3/2"), metadata=metadata)
    again = await stub.SendEmail(email_request("run-3/2"), metadata=metadata)

    assert (retried.duplicate, again.duplicate) == (False, True)
    assert len(catcher.messages) == 1
    [delivery] = await stored_deliveries(database_url)
    assert (delivery.status, delivery.attempts, delivery.error) == ("sent", 2, None)


async def test_a_pending_record_left_by_a_crash_is_sent_with_the_same_message_id(
    stub, metadata: Metadata, organization: str, catcher: MailCatcher, database_url: str
) -> None:
    # The state a crash between "record pending" and the SMTP call leaves behind.
    request = EmailRequest("run-5/0", "", ("Zoë Schmidt <zoe@example.com>",), (), "Welcome", "Hello Zoë", "")
    engine = create_engine(database_url)
    async with create_session_factory(engine)() as session:
        await DeliveryRepository(session).claim(organization, "run-5/0", "email", request.fingerprint())
        await session.commit()
    await engine.dispose()

    reply = await stub.SendEmail(email_request("run-5/0"), metadata=metadata)

    assert reply.duplicate is False
    assert [m["Message-ID"] for m in catcher.messages] == [message_id_for(organization, "run-5/0")]


async def test_recipient_refused_with_550_is_failed_precondition_and_final(
    start_service, metadata: Metadata, database_url: str
) -> None:
    strict = MailCatcher(recipient_replies={"gone@example.com": "550 5.1.1 <gone@example.com>: user unknown"})
    await strict.start()
    try:
        server = await start_service(strict)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            stub = notification_pb2_grpc.NotificationServiceStub(channel)
            for _ in range(2):  # the second call answers from the record
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await stub.SendEmail(email_request("run-8/0", to=["gone@example.com"]), metadata=metadata)
                assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
                assert "550" in caught.value.details()
        assert strict.messages == []
        [delivery] = await stored_deliveries(database_url)
        assert (delivery.status, delivery.attempts) == ("failed", 1)
        assert "user unknown" in (delivery.error or "")
    finally:
        await strict.stop()


async def test_recipient_deferred_with_451_is_unavailable_and_stays_pending(
    start_service, metadata: Metadata, database_url: str
) -> None:
    busy = MailCatcher(recipient_replies={"later@example.com": "451 4.3.0 try again later"})
    await busy.start()
    try:
        server = await start_service(busy)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await notification_pb2_grpc.NotificationServiceStub(channel).SendEmail(
                    email_request("run-8/1", to=["later@example.com"]), metadata=metadata
                )
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        [delivery] = await stored_deliveries(database_url)
        assert delivery.status == "pending"
    finally:
        await busy.stop()


async def test_one_refused_recipient_among_several_still_sends_and_keeps_the_refusal(
    start_service, metadata: Metadata, database_url: str
) -> None:
    strict = MailCatcher(recipient_replies={"gone@example.com": "550 5.1.1 user unknown"})
    await strict.start()
    try:
        server = await start_service(strict)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            reply = await notification_pb2_grpc.NotificationServiceStub(channel).SendEmail(
                email_request("run-8/2", to=["zoe@example.com", "gone@example.com"]), metadata=metadata
            )
        assert len(strict.messages) == 1
        [delivery] = await stored_deliveries(database_url)
        assert delivery.status == "sent"
        assert delivery.result == {"message_id": reply.message_id, "refused": {"gone@example.com": "550 5.1.1 user unknown"}}
    finally:
        await strict.stop()


INVALID_REQUESTS = [
    ({"idempotency_key": ""}, "idempotency_key"),
    ({"idempotency_key": "k" * 201}, "idempotency_key"),
    ({"to": []}, "to"),
    ({"to": ["not-an-email"]}, "to[0]"),
    ({"to": ["zoe@example.com", "a@"]}, "to[1]"),
    ({"to": ["zoe@example.com", "x@example.com\r\nBcc: spy@example.com"]}, "to[1]"),
    ({"to": ["zoe@example.com, ann@example.com"]}, "to[0]"),
    ({"cc": ["@example.com"]}, "cc[0]"),
    ({"from_address": "nobody"}, "from_address"),
    ({"subject": ""}, "subject"),
    ({"subject": "Hi\r\nBcc: spy@example.com"}, "subject"),
    ({"text_body": "", "html_body": ""}, "text_body"),
]


async def test_invalid_requests_are_refused_naming_the_field_and_write_nothing(
    stub, metadata: Metadata, catcher: MailCatcher, database_url: str
) -> None:
    for changes, field in INVALID_REQUESTS:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SendEmail(email_request(**changes), metadata=metadata)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, changes
        assert field in caught.value.details(), (changes, caught.value.details())

    assert await stored_deliveries(database_url) == []
    assert catcher.messages == []


async def test_every_method_refuses_calls_without_a_valid_token(channel: grpc.aio.Channel, settings: Settings) -> None:
    service = notification_pb2.DESCRIPTOR.services_by_name["NotificationService"]
    assert service.methods, "the service defines methods"
    for method in service.methods:
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        call = channel.unary_unary(
            f"/{service.full_name}/{method.name}",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        for md in [(), (("authorization", "Bearer cxf_not-a-known-token"),)]:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call(request_class(), metadata=md)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, (method.name, md)
        # The internal token alone names no organization, so it reaches no data either.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(request_class(), metadata=internal_metadata(settings.internal_token))
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, method.name


async def test_idempotency_keys_are_scoped_to_the_organization(
    stub, metadata: Metadata, organization: str, api_token_caller, catcher: MailCatcher, database_url: str
) -> None:
    token_metadata, token_organization = api_token_caller
    internal = await stub.SendEmail(email_request("run-1/0"), metadata=metadata)
    by_api_token = await stub.SendEmail(email_request("run-1/0"), metadata=token_metadata)

    assert (internal.duplicate, by_api_token.duplicate) == (False, False)
    assert by_api_token.message_id == message_id_for(token_organization, "run-1/0") != internal.message_id
    assert len(catcher.messages) == 2
    assert {d.organization_id for d in await stored_deliveries(database_url)} == {organization, token_organization}


async def test_mail_dir_holds_one_eml_per_message_that_parses_back(
    stub, metadata: Metadata, catcher: MailCatcher
) -> None:
    for index in range(3):
        await stub.SendEmail(email_request(f"run-2/{index}", subject=f"Grüße {index}"), metadata=metadata)
    await catcher.wait_for(3)

    files = sorted(catcher.mail_dir.glob("*.eml"))
    parsed = [BytesParser(policy=policy.default).parsebytes(f.read_bytes()) for f in files]
    assert [m["Subject"] for m in parsed] == ["Grüße 0", "Grüße 1", "Grüße 2"]  # names sort in arrival order
    assert [m["Message-ID"] for m in parsed] == [m["Message-ID"] for m in catcher.messages]


async def test_health_reports_serving(channel: grpc.aio.Channel, notification: NotificationServer) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for name in ["", "cxflow.v1.NotificationService"]:
        reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


class SlowMailCatcher(MailCatcher):
    """Takes a moment over each message before accepting it, as a busy relay does."""

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.5)
        return await super().handle_DATA(server, session, envelope)


async def test_a_caller_hanging_up_mid_send_does_not_make_the_retry_send_again(
    start_service, metadata: Metadata, database_url: str
) -> None:
    slow = SlowMailCatcher()
    await slow.start()
    try:
        server = await start_service(slow)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            stub = notification_pb2_grpc.NotificationServiceStub(channel)
            call = stub.SendEmail(email_request("run-kill/0"), metadata=metadata)
            await asyncio.sleep(0.2)  # the SMTP conversation is under way: what a killed worker leaves behind
            call.cancel()
            retried = await stub.SendEmail(email_request("run-kill/0"), metadata=metadata)
        assert retried.duplicate is True
        assert len(slow.messages) == 1
        [delivery] = await stored_deliveries(database_url)
        assert (delivery.status, delivery.attempts) == ("sent", 1)
    finally:
        await slow.stop()
