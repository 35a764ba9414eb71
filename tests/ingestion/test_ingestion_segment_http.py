"""Segment's Tracking API over real HTTP: auth, per-call validation, gzip, size limits, dedup, timestamps, the inbox."""

from __future__ import annotations

import asyncio
import gzip
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf import struct_pb2
from ingestion_stack import IngestionStack, basic, inbox_rows
from sqlalchemy import update

from cxflow.v1 import ingestion_pb2
from services.common.db import create_engine
from services.ingestion.models import InboxBatch, InboxMessageId


async def inbox(stack: IngestionStack) -> list[Any]:
    return await inbox_rows(stack.settings.database_url)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


@pytest.fixture
async def write_key(stack: IngestionStack) -> str:
    source = await stack.create_source()
    assert source.write_key.startswith("wk_")
    return source.write_key


async def test_identify_is_stored_durably_then_processed(stack: IngestionStack, write_key: str) -> None:
    message = {"userId": "u-1", "messageId": "m-1", "traits": {"email": "ada@example.com"}}
    response = await stack.http.post("/v1/identify", json=message, headers=basic(write_key))

    assert response.status_code == 200
    assert response.json() == {"success": True}
    [row] = await inbox(stack)
    assert (row.message_id, row.type, row.organization_id) == ("m-1", "identify", "ORG_ingestiontest")
    assert row.payload["traits"] == {"email": "ada@example.com"} and row.payload["type"] == "identify"
    # With no subscriptions there is nothing to do, so the processor marks it processed.
    for _ in range(100):
        [row] = await inbox(stack)
        if row.status != "pending":
            break
        await asyncio.sleep(0.05)
    assert row.status == "processed" and row.attempts == 1


async def test_write_key_in_body_is_accepted_and_never_stored(stack: IngestionStack, write_key: str) -> None:
    response = await stack.http.post("/v1/track", json={"writeKey": write_key, "anonymousId": "a-1", "event": "Signed Up"})
    assert response.status_code == 200
    [row] = await inbox(stack)
    assert "writeKey" not in row.payload
    assert write_key not in json.dumps(row.payload)
    assert row.message_id  # generated when absent


async def test_missing_or_wrong_write_key_is_401(stack: IngestionStack, write_key: str) -> None:
    message = {"userId": "u-1"}
    for kwargs in (
        {"json": message},
        {"json": message, "headers": basic("wk_wrong")},
        {"json": {**message, "writeKey": "wk_wrong"}},
        {"json": message, "headers": {"Authorization": "Basic ???"}},
    ):
        response = await stack.http.post("/v1/identify", **kwargs)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthenticated"
    assert await inbox(stack) == []


@pytest.mark.parametrize(
    ("call", "message", "field"),
    [
        ("identify", {"traits": {}}, "userId"),
        ("track", {"userId": "u"}, "event"),
        ("track", {"userId": "u", "event": ""}, "event"),
        ("page", {"name": "Home"}, "userId"),
        ("screen", {"properties": {}}, "userId"),
        ("group", {"userId": "u"}, "groupId"),
        ("alias", {"userId": "u"}, "previousId"),
        ("alias", {"previousId": "p", "anonymousId": "a"}, "userId"),
        ("identify", {"userId": "u", "traits": "not an object"}, "traits"),
        ("identify", {"userId": {"nested": 1}}, "userId"),
        ("track", {"userId": "u", "event": "E", "timestamp": "yesterday"}, "timestamp"),
        # in UTC these fall before the first or after the last day the calendar has (found by the fuzzer)
        ("identify", {"userId": "u", "timestamp": "0001-01-01T00:00:00+01:00"}, "timestamp"),
        ("identify", {"userId": "u", "sentAt": "9999-12-31T23:59:59-01:00"}, "sentAt"),
        ("batch", {"batch": "nope"}, "batch"),
        ("batch", {"batch": [{"userId": "u"}]}, "batch[0].type"),
        ("batch", {"batch": [{"type": "identify", "userId": "u"}, {"type": "explode", "userId": "u"}]}, "batch[1].type"),
        ("batch", {"batch": [{"type": "track", "userId": "u"}]}, "batch[0].event"),
        ("batch", {"batch": [42]}, "batch[0]"),
    ],
)
async def test_spec_violations_are_400_and_store_nothing(
    stack: IngestionStack, write_key: str, call: str, message: dict[str, Any], field: str
) -> None:
    response = await stack.http.post(f"/v1/{call}", json=message, headers=basic(write_key))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_message"
    assert error["message"].startswith(f"{field}:")
    assert await inbox(stack) == []


async def test_every_call_type_is_accepted(stack: IngestionStack, write_key: str) -> None:
    calls = {
        "identify": {"userId": "u", "traits": {"plan": "pro"}},
        "track": {"userId": "u", "event": "Order Completed", "properties": {"total": 9.5}},
        "page": {"anonymousId": "a", "name": "Home"},
        "screen": {"userId": "u", "name": "Settings"},
        "group": {"userId": "u", "groupId": "g-1"},
        "alias": {"userId": "u", "previousId": "a"},
    }
    for call, message in calls.items():
        response = await stack.http.post(f"/v1/{call}", json=message, headers=basic(write_key))
        assert response.status_code == 200, (call, response.text)
    assert [row.type for row in await inbox(stack)] == list(calls)


async def test_unknown_route_and_method_are_json_errors(stack: IngestionStack, write_key: str) -> None:
    unknown = await stack.http.post("/v1/explode", json={"userId": "u"}, headers=basic(write_key))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    wrong_method = await stack.http.get("/v1/identify")
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()


async def test_malformed_and_non_object_json_are_400(stack: IngestionStack, write_key: str) -> None:
    nan = b'{"userId": "u", "traits": {"score": NaN}}'
    too_deep = b'{"userId": "u", "traits": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"
    for body in (b"{not json", b"[]", b'"text"', b"42", b"\xff\xfe", nan, too_deep):
        response = await stack.http.post("/v1/identify", content=body, headers={**basic(write_key), "Content-Type": "application/json"})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_json"
    assert await inbox(stack) == []


async def test_gzip_bodies(stack: IngestionStack, write_key: str) -> None:
    headers = {**basic(write_key), "Content-Encoding": "gzip", "Content-Type": "application/json"}
    body = gzip.compress(json.dumps({"batch": [{"type": "identify", "userId": "u-1"}, {"type": "track", "userId": "u-1", "event": "E"}]}).encode())
    assert (await stack.http.post("/v1/batch", content=body, headers=headers)).status_code == 200
    assert len(await inbox(stack)) == 2

    corrupt = await stack.http.post("/v1/identify", content=b"\x1f\x8b not really gzip", headers=headers)
    assert corrupt.status_code == 400 and corrupt.json()["error"]["code"] == "invalid_json"
    # A small body that inflates past the batch limit: refused without inflating it all.
    bomb = gzip.compress(b'{"batch": [], "pad": "' + b"a" * (5 * 1024 * 1024) + b'"}')
    assert len(bomb) < 10 * 1024
    response = await stack.http.post("/v1/batch", content=bomb, headers=headers)
    assert response.status_code == 400 and response.json()["error"]["code"] == "payload_too_large"
    assert len(await inbox(stack)) == 2


async def test_size_limits(stack: IngestionStack, write_key: str) -> None:
    headers = {**basic(write_key), "Content-Type": "application/json"}
    two_megabytes = json.dumps({"batch": [{"type": "identify", "userId": "u", "traits": {"pad": "x" * 2_000_000}}]})
    big_message = {"userId": "u", "event": "E", "properties": {"pad": "x" * (33 * 1024)}}
    cases = {
        "2 MB batch": ("/v1/batch", two_megabytes.encode()),
        "33 KB track": ("/v1/track", json.dumps(big_message).encode()),
        "33 KB batch item": ("/v1/batch", json.dumps({"batch": [{"type": "track", **big_message}]}).encode()),
        "2,501 messages": ("/v1/batch", json.dumps({"batch": [{"type": "identify", "userId": f"u{i}"} for i in range(2501)]}).encode()),
    }
    for name, (path, body) in cases.items():
        response = await stack.http.post(path, content=body, headers=headers)
        assert response.status_code == 400, name
        assert response.json()["error"]["code"] == "payload_too_large", name
    assert await inbox(stack) == []
    at_limit = json.dumps({"batch": [{"type": "identify", "userId": f"u{i}"} for i in range(2500)]}).encode()
    assert (await stack.http.post("/v1/batch", content=at_limit, headers=headers)).status_code == 200
    assert len(await inbox(stack)) == 2500


async def test_replayed_batch_is_acknowledged_but_not_stored_again(stack: IngestionStack, write_key: str) -> None:
    batch = {"batch": [{"type": "identify", "userId": f"u{i}", "messageId": f"m{i}"} for i in range(3)]}
    batch["batch"].append({"type": "identify", "userId": "u0", "messageId": "m0"})  # a repeat inside one batch too
    for _ in range(2):
        response = await stack.http.post("/v1/batch", json=batch, headers=basic(write_key))
        assert response.status_code == 200 and response.json() == {"success": True}
    rows = await inbox(stack)
    assert [row.message_id for row in rows] == ["m0", "m1", "m2"]
    # A replay carrying a new message too: only that one is stored.
    replay = {"batch": [*batch["batch"], {"type": "identify", "userId": "u3", "messageId": "m3"}]}
    assert (await stack.http.post("/v1/batch", json=replay, headers=basic(write_key))).status_code == 200
    assert [row.message_id for row in await inbox(stack)] == ["m0", "m1", "m2", "m3"]
    # Another source may use the same message ids: dedup is per source.
    other = await stack.create_source()
    assert (await stack.http.post("/v1/batch", json=batch, headers=basic(other.write_key))).status_code == 200
    assert len(await inbox(stack)) == 7


async def test_batch_context_and_integrations_are_merged_into_each_message(stack: IngestionStack, write_key: str) -> None:
    batch = {
        "context": {"library": {"name": "analytics-python"}, "ip": "1.2.3.4"},
        "integrations": {"All": True},
        "batch": [
            {"type": "identify", "userId": "u", "context": {"ip": "5.6.7.8"}},
            {"type": "track", "userId": "u", "event": "E", "integrations": {"Slack": False}},
        ],
    }
    assert (await stack.http.post("/v1/batch", json=batch, headers=basic(write_key))).status_code == 200
    first, second = (row.payload for row in await inbox(stack))
    assert first["context"] == {"library": {"name": "analytics-python"}, "ip": "5.6.7.8"}
    assert first["integrations"] == {"All": True}
    assert second["context"] == {"library": {"name": "analytics-python"}, "ip": "1.2.3.4"}
    assert second["integrations"] == {"All": True, "Slack": False}


async def test_received_at_and_clock_skew_corrected_timestamp(stack: IngestionStack, write_key: str) -> None:
    messages = {
        "skewed": {"userId": "u", "messageId": "skewed", "timestamp": "2030-01-01T00:00:00.000Z", "sentAt": "2030-01-01T00:00:05.000Z"},
        "given": {"userId": "u", "messageId": "given", "timestamp": "2024-05-06T07:08:09+02:00"},
        "none": {"userId": "u", "messageId": "none"},
    }
    for message in messages.values():
        assert (await stack.http.post("/v1/identify", json=message, headers=basic(write_key))).status_code == 200
    stored = {row.message_id: row.payload for row in await inbox(stack)}
    for payload in stored.values():
        assert len(payload["receivedAt"]) == 24 and payload["receivedAt"].endswith("Z")  # 2024-01-01T00:00:00.000Z
    skewed = stored["skewed"]
    # The client's clock ran ahead: the event happened 5 seconds before the server received it.
    assert parse_time(skewed["timestamp"]) == parse_time(skewed["receivedAt"]) - timedelta(seconds=5)
    assert skewed["originalTimestamp"] == "2030-01-01T00:00:00.000Z"
    assert stored["given"]["timestamp"] == "2024-05-06T05:08:09.000Z"
    assert stored["none"]["timestamp"] == stored["none"]["receivedAt"]


async def test_each_batch_message_gets_its_own_corrected_timestamp(stack: IngestionStack, write_key: str) -> None:
    # The batch's sentAt is 10 s after the events: each timestamp moves to 10 s before receipt, less its own lead.
    batch = {
        "sentAt": "2030-01-01T00:00:10.000Z",
        "batch": [
            {"type": "identify", "userId": "u", "messageId": "a", "timestamp": "2030-01-01T00:00:00.000Z"},
            {"type": "identify", "userId": "u", "messageId": "b", "timestamp": "2030-01-01T00:00:00.000Z"},
            {"type": "identify", "userId": "u", "messageId": "c", "timestamp": "2030-01-01T00:00:04.500+00:00"},
            {"type": "identify", "userId": "u", "messageId": "d", "originalTimestamp": "2030-01-01T02:00:09+02:00"},
            {"type": "identify", "userId": "u", "messageId": "e", "timestamp": "2030-01-01T00:00:00.000Z", "sentAt": "2030-01-01T00:00:01.000Z"},
        ],
    }
    assert (await stack.http.post("/v1/batch", json=batch, headers=basic(write_key))).status_code == 200
    stored = {row.message_id: row.payload for row in await inbox(stack)}
    received = parse_time(stored["a"]["receivedAt"])
    assert {payload["receivedAt"] for payload in stored.values()} == {stored["a"]["receivedAt"]}
    lead = {"a": 10, "b": 10, "c": 5.5, "d": 1, "e": 1}  # seconds between the event and its sentAt
    for message_id, seconds in lead.items():
        assert parse_time(stored[message_id]["timestamp"]) == received - timedelta(seconds=seconds), message_id
    assert [stored[m]["originalTimestamp"] for m in "acd"] == [
        "2030-01-01T00:00:00.000Z", "2030-01-01T00:00:04.500+00:00", "2030-01-01T02:00:09+02:00"
    ]


async def test_message_ids_are_forgotten_after_the_retention_window(stack: IngestionStack, write_key: str) -> None:
    message = {"userId": "u", "messageId": "kept-a-while"}
    assert (await stack.http.post("/v1/identify", json=message, headers=basic(write_key))).status_code == 200
    for _ in range(100):
        [row] = await inbox(stack)
        if row.status == "processed":
            break
        await asyncio.sleep(0.05)
    assert row.status == "processed"
    # Inside the window a replay is acknowledged and nothing is stored; the purge keeps the row.
    assert (await stack.http.post("/v1/identify", json=message, headers=basic(write_key))).status_code == 200
    assert await stack.server.processor.purge_expired() == 0
    assert len(await inbox(stack)) == 1

    engine = create_engine(stack.settings.database_url)
    try:
        async with engine.begin() as connection:
            aged = datetime.now(UTC) - timedelta(days=stack.settings.ingestion_dedup_retention_days, minutes=1)
            for table in (InboxBatch, InboxMessageId):
                await connection.execute(update(table).values(received_at=aged))
    finally:
        await engine.dispose()
    assert await stack.server.processor.purge_expired() == 1
    assert await inbox(stack) == []
    # Past the window the same id is a new message again.
    assert (await stack.http.post("/v1/identify", json=message, headers=basic(write_key))).status_code == 200
    assert [row.message_id for row in await inbox(stack)] == ["kept-a-while"]


async def test_concurrent_replays_store_each_message_once(stack: IngestionStack, write_key: str) -> None:
    # Requests arriving together share a group commit; the same messageIds in several of them are stored once.
    batch = {"batch": [{"type": "track", "userId": "u", "event": "E", "messageId": f"c{i}"} for i in range(50)]}
    responses = await asyncio.gather(*(stack.http.post("/v1/batch", json=batch, headers=basic(write_key)) for _ in range(10)))
    assert all(r.status_code == 200 and r.json() == {"success": True} for r in responses)
    assert sorted(row.message_id for row in await inbox(stack)) == sorted(f"c{i}" for i in range(50))
    # gRPC SendEvent answers duplicate for the ids HTTP stored, and stores a new one.
    sources = await stack.sources.ListSources(ingestion_pb2.ListSourcesRequest(), metadata=stack.as_org())
    message = struct_pb2.Struct()
    for message_id, duplicate in (("c7", True), ("c-new", False)):
        message.update({"type": "track", "userId": "u", "event": "E", "messageId": message_id})
        reply = await stack.sources.SendEvent(
            ingestion_pb2.SendEventRequest(source_id=sources.sources[0].id, message=message), metadata=stack.as_org()
        )
        assert reply.duplicate is duplicate
    assert len(await inbox(stack)) == 51
