"""Slack, webhooks and Segment end to end: real gRPC service, real database, local HTTP servers recording each request."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time

import grpc
import pytest
from google.protobuf import struct_pb2
from recording_http import RecordingHttpServer
from structlog.testing import capture_logs

from cxflow.v1 import notification_pb2

Metadata = tuple[tuple[str, str], ...]
SLACK_PATH = "/services/T000/B000/XXXXsecretpart"
WEBHOOK_SECRET = "whsec-notification-test"
WRITE_KEY = "segment-write-key-secret"


def struct(value: dict) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(value)
    return result


@pytest.fixture
async def recorder():
    async with RecordingHttpServer() as server:
        yield server


@pytest.fixture
async def configured(stub, metadata: Metadata, recorder: RecordingHttpServer) -> RecordingHttpServer:
    """The test organization sends to the recorder: Slack webhook 'alerts', a webhook secret, a Segment key."""
    await stub.UpdateChannelSettings(
        notification_pb2.UpdateChannelSettingsRequest(
            slack_webhooks={"alerts": recorder.url + SLACK_PATH},
            webhook_secret=WEBHOOK_SECRET,
            segment_write_keys={"main": WRITE_KEY},
            segment_endpoint=recorder.url,
            outbound_allow_list=notification_pb2.StringList(values=["127.0.0.1"]),
        ),
        metadata=metadata,
    )
    return recorder


def slack_request(key: str = "run-1/0", **changes: object) -> notification_pb2.SendSlackRequest:
    fields: dict[str, object] = {
        "idempotency_key": key,
        "webhook_name": "alerts",
        "text": "Ticket for Zoë opened",
        "blocks": [struct({"type": "section", "text": {"type": "mrkdwn", "text": "*Zoë* needs help"}})],
    }
    fields.update(changes)
    return notification_pb2.SendSlackRequest(**fields)


async def test_slack_posts_text_and_blocks_as_json_to_the_named_webhook(stub, metadata: Metadata, configured) -> None:
    reply = await stub.SendSlack(slack_request(), metadata=metadata)

    assert (reply.duplicate, reply.status_code, reply.response_body) == (False, 200, "ok")
    [request] = configured.requests
    assert (request.method, request.path) == ("POST", SLACK_PATH)
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["host"] == f"127.0.0.1:{configured.port}"
    assert "authorization" not in request.headers
    assert request.json() == {
        "text": "Ticket for Zoë opened",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Zoë* needs help"}}],
    }


async def test_slack_text_only_sends_no_blocks_key(stub, metadata: Metadata, configured) -> None:
    await stub.SendSlack(slack_request(blocks=[]), metadata=metadata)
    assert configured.requests[0].json() == {"text": "Ticket for Zoë opened"}


async def test_same_key_twice_posts_once_and_replays_the_stored_result(stub, metadata: Metadata, configured) -> None:
    first = await stub.SendSlack(slack_request("run-2/0"), metadata=metadata)
    second = await stub.SendSlack(slack_request("run-2/0"), metadata=metadata)

    assert (first.duplicate, second.duplicate) == (False, True)
    assert (second.status_code, second.response_body) == (200, "ok")
    assert len(configured.requests) == 1


async def test_same_key_with_another_request_is_failed_precondition(stub, metadata: Metadata, configured) -> None:
    await stub.SendSlack(slack_request("run-2/1"), metadata=metadata)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SendSlack(slack_request("run-2/1", text="other"), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert len(configured.requests) == 1


async def test_slack_503_is_unavailable_and_the_retry_posts_again_then_never(stub, metadata: Metadata, configured) -> None:
    configured.respond(503, body=b"upstream busy")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SendSlack(slack_request("run-3/0"), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "503" in caught.value.details()

    assert (await stub.SendSlack(slack_request("run-3/0"), metadata=metadata)).duplicate is False
    assert (await stub.SendSlack(slack_request("run-3/0"), metadata=metadata)).duplicate is True
    assert len(configured.requests) == 2


async def test_429_is_resource_exhausted_with_retry_after_in_trailing_metadata(stub, metadata: Metadata, configured) -> None:
    configured.respond(429, body=b"rate_limited", headers={"Retry-After": "30"})
    call = stub.SendSlack(slack_request("run-4/0"), metadata=metadata)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "retry after 30 s" in caught.value.details()
    assert ("retry-after", "30") in tuple(caught.value.trailing_metadata() or ())
    # Not final: the retry goes out.
    assert (await stub.SendSlack(slack_request("run-4/0"), metadata=metadata)).duplicate is False


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (404, grpc.StatusCode.FAILED_PRECONDITION),
        (410, grpc.StatusCode.FAILED_PRECONDITION),
        (403, grpc.StatusCode.FAILED_PRECONDITION),
        (400, grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
async def test_4xx_is_final_and_replayed_without_calling_slack_again(
    stub, metadata: Metadata, configured, status: int, code: grpc.StatusCode
) -> None:
    configured.respond(status, body=b"channel_not_found")
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SendSlack(slack_request("run-5/0"), metadata=metadata)
        assert caught.value.code() == code
        assert f"answered {status}" in caught.value.details()
    assert len(configured.requests) == 1


async def test_408_and_timeouts_are_unavailable(stub, metadata: Metadata, configured) -> None:
    configured.respond(408)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SendSlack(slack_request("run-6/0"), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE

    configured.respond(200, body=b"late", delay=3)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SendWebhook(
            notification_pb2.SendWebhookRequest(
                idempotency_key="run-6/1", url=configured.url + "/hook", body=struct({"a": 1}), timeout_seconds=1
            ),
            metadata=metadata,
        )
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "no answer within 1 s" in caught.value.details()


async def test_connection_refused_is_unavailable(stub, metadata: Metadata, configured) -> None:
    await configured.stop()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SendSlack(slack_request("run-7/0"), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_unknown_webhook_name_is_failed_precondition_and_becomes_sendable_once_configured(
    stub, metadata: Metadata, configured
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SendSlack(slack_request("run-8/0", webhook_name="support"), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "no Slack webhook named 'support'" in caught.value.details()

    await stub.UpdateChannelSettings(
        notification_pb2.UpdateChannelSettingsRequest(slack_webhooks={"support": configured.url + "/support"}),
        metadata=metadata,
    )
    assert (await stub.SendSlack(slack_request("run-8/0", webhook_name="support"), metadata=metadata)).duplicate is False
    assert [r.path for r in configured.requests] == ["/support"]


async def test_webhook_is_signed_with_hmac_sha256_over_timestamp_and_body(stub, metadata: Metadata, configured) -> None:
    before = int(time.time())
    reply = await stub.SendWebhook(
        notification_pb2.SendWebhookRequest(
            idempotency_key="run-9/0",
            url=configured.url + "/hooks/cx?source=cxflow",
            body=struct({"contact": {"name": "Zoë"}, "score": 9}),
        ),
        metadata=metadata,
    )

    assert (reply.status_code, reply.duplicate) == (200, False)
    [request] = configured.requests
    assert (request.method, request.path, request.query) == ("POST", "/hooks/cx", {"source": ["cxflow"]})
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.body == '{"contact":{"name":"Zoë"},"score":9}'.encode()
    timestamp = request.headers["x-cxflow-timestamp"]
    assert before <= int(timestamp) <= int(time.time())
    expected = hmac.new(WEBHOOK_SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-cxflow-signature"] == f"sha256={expected}"
    assert request.headers["x-cxflow-idempotency-key"] == "run-9/0"


async def test_webhook_without_a_secret_is_refused_before_anything_goes_out(
    stub, metadata: Metadata, recorder: RecordingHttpServer
) -> None:
    await stub.UpdateChannelSettings(
        notification_pb2.UpdateChannelSettingsRequest(outbound_allow_list=notification_pb2.StringList(values=["127.0.0.1"])),
        metadata=metadata,
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SendWebhook(
            notification_pb2.SendWebhookRequest(idempotency_key="k", url=recorder.url + "/x", body=struct({})),
            metadata=metadata,
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert recorder.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",  # loopback
        "http://localhost:{port}/hook",  # a name that resolves to loopback
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://10.1.2.3/hook",  # private
        "http://[::1]:{port}/hook",  # IPv6 loopback
        "http://[::ffff:127.0.0.1]:{port}/hook",  # IPv4-mapped loopback
        "http://0.0.0.0:{port}/hook",
    ],
)
async def test_ssrf_non_public_destinations_are_refused_without_the_allow_list(
    stub, metadata: Metadata, recorder: RecordingHttpServer, url: str
) -> None:
    await stub.UpdateChannelSettings(
        notification_pb2.UpdateChannelSettingsRequest(webhook_secret=WEBHOOK_SECRET), metadata=metadata
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SendWebhook(
            notification_pb2.SendWebhookRequest(
                idempotency_key="ssrf", url=url.format(port=recorder.port), body=struct({"a": 1})
            ),
            metadata=metadata,
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "not a public address" in caught.value.details()
    assert recorder.requests == []


async def test_ssrf_allow_list_admits_only_its_addresses(stub, metadata: Metadata, recorder: RecordingHttpServer) -> None:
    await stub.UpdateChannelSettings(
        notification_pb2.UpdateChannelSettingsRequest(
            slack_webhooks={"alerts": recorder.url + SLACK_PATH},
            outbound_allow_list=notification_pb2.StringList(values=["10.0.0.0/8"]),
        ),
        metadata=metadata,
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SendSlack(slack_request("ssrf-1"), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert recorder.requests == []

    # The refusal is not final for the key: once the operator allows the address, the same call goes out.
    await stub.UpdateChannelSettings(
        notification_pb2.UpdateChannelSettingsRequest(
            outbound_allow_list=notification_pb2.StringList(values=["10.0.0.0/8", "127.0.0.1"])
        ),
        metadata=metadata,
    )
    assert (await stub.SendSlack(slack_request("ssrf-1"), metadata=metadata)).duplicate is False
    assert len(recorder.requests) == 1


@pytest.mark.parametrize("url", ["ftp://example.com/x", "not a url", "http:///nohost"])
async def test_webhook_url_must_be_absolute_http(stub, metadata: Metadata, configured, url: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SendWebhook(
            notification_pb2.SendWebhookRequest(idempotency_key="bad-url", url=url, body=struct({})), metadata=metadata
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert configured.requests == []


async def test_segment_track_and_identify_reach_the_tracking_api_with_the_write_key(
    stub, metadata: Metadata, configured
) -> None:
    track = await stub.SendSegmentEvent(
        notification_pb2.SendSegmentEventRequest(
            idempotency_key="run-10/0",
            write_key_name="main",
            type=notification_pb2.SEGMENT_CALL_TYPE_TRACK,
            user_id="u-1",
            event="Survey Sent",
            properties=struct({"survey": "NPS"}),
        ),
        metadata=metadata,
    )
    again = await stub.SendSegmentEvent(
        notification_pb2.SendSegmentEventRequest(
            idempotency_key="run-10/0",
            write_key_name="main",
            type=notification_pb2.SEGMENT_CALL_TYPE_TRACK,
            user_id="u-1",
            event="Survey Sent",
            properties=struct({"survey": "NPS"}),
        ),
        metadata=metadata,
    )
    identify = await stub.SendSegmentEvent(
        notification_pb2.SendSegmentEventRequest(
            idempotency_key="run-10/1",
            write_key_name="main",
            type=notification_pb2.SEGMENT_CALL_TYPE_IDENTIFY,
            user_id="u-1",
            traits=struct({"npsScore": 9}),
        ),
        metadata=metadata,
    )

    assert (track.duplicate, again.duplicate, again.message_id) == (False, True, track.message_id)
    first, second = configured.requests
    assert (first.path, second.path) == ("/v1/track", "/v1/identify")
    basic = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    assert first.headers["authorization"] == second.headers["authorization"] == basic
    assert first.json() == {
        "messageId": track.message_id,
        "userId": "u-1",
        "event": "Survey Sent",
        "properties": {"survey": "NPS"},
        "context": {"library": {"name": "cxflow", "version": "1"}},
    }
    assert second.json()["traits"] == {"npsScore": 9}
    assert second.json()["messageId"] == identify.message_id != track.message_id


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"type": notification_pb2.SEGMENT_CALL_TYPE_UNSPECIFIED}, "type"),
        ({"user_id": ""}, "user_id"),
        ({"event": ""}, "event"),
        ({"write_key_name": ""}, "write_key_name"),
        ({"idempotency_key": ""}, "idempotency_key"),
    ],
)
async def test_invalid_segment_calls_name_the_field(stub, metadata: Metadata, configured, changes, field) -> None:
    fields = {"idempotency_key": "k", "write_key_name": "main", "type": notification_pb2.SEGMENT_CALL_TYPE_TRACK,
              "user_id": "u", "event": "E"}
    fields.update(changes)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SendSegmentEvent(notification_pb2.SendSegmentEventRequest(**fields), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in caught.value.details()
    assert configured.requests == []


async def test_secrets_never_reach_logs_errors_or_responses(
    stub, metadata: Metadata, configured, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # stdlib loggers too (httpx would log request URLs)
    await stub.SendSlack(slack_request("leak-0"), metadata=metadata)
    configured.respond(404, body=b"no_service")
    with capture_logs() as logs:
        summary = await stub.GetChannelSettings(notification_pb2.GetChannelSettingsRequest(), metadata=metadata)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SendSlack(slack_request("leak-1"), metadata=metadata)
    everything = repr(logs) + caplog.text + caught.value.details() + str(summary) + summary.SerializeToString().decode("latin-1")
    for secret in ("XXXXsecretpart", WEBHOOK_SECRET, WRITE_KEY):
        assert secret not in everything
    assert list(summary.slack_webhook_names) == ["alerts"]
    assert summary.webhook_secret_configured is True
    assert list(summary.segment_write_key_names) == ["main"]


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
async def test_nan_and_infinity_in_a_struct_are_invalid_argument_naming_the_field(
    stub, metadata: Metadata, configured, number: float
) -> None:
    calls = [
        ("blocks[0]", stub.SendSlack(slack_request("nan/0", blocks=[struct({"score": number})]), metadata=metadata)),
        ("body", stub.SendWebhook(
            notification_pb2.SendWebhookRequest(idempotency_key="nan/1", url=configured.url + "/hook", body=struct({"x": [number]})),
            metadata=metadata,
        )),
        ("properties", stub.SendSegmentEvent(
            notification_pb2.SendSegmentEventRequest(
                idempotency_key="nan/2", write_key_name="main", type=notification_pb2.SEGMENT_CALL_TYPE_TRACK,
                user_id="u", event="E", properties=struct({"total": number}),
            ),
            metadata=metadata,
        )),
    ]
    for field, call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in caught.value.details()
    assert configured.requests == []
