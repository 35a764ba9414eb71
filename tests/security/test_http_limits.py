"""HTTP intake limits: a per-credential rate limit (429, Retry-After, a JSON body; Segment's SDKs retry on it) and the
body size caps (Segment's 32 KB per message and 500 KB per batch, gzip measured inflated, 100 KB on trigger URLs)."""

from __future__ import annotations

import base64
import gzip
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import httpx
import pytest
from temporalio.client import Client

from cxflow.v1 import directory_pb2, directory_pb2_grpc, ingestion_pb2, ingestion_pb2_grpc
from services.common.auth import internal_metadata
from services.common.settings import Settings
from services.directory.server import start_directory
from services.ingestion.rate_limit import RequestRateLimiter, request_credential, retry_after_header
from services.ingestion.server import start_ingestion

BURST = 3


@dataclass
class Intake:
    http: httpx.AsyncClient
    api_token: str
    write_keys: list[str]
    inbox_database: str


def basic(write_key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}


@pytest.fixture
async def intake(settings: Settings, temporal_client: Client, task_queue: str) -> AsyncIterator[Intake]:
    """Directory and ingestion services as `make up` runs them, with a burst of 3 requests and 1 more a second."""
    directory = await start_directory(settings, dispatch=False)
    configured = settings.with_overrides(
        directory_grpc_target=f"127.0.0.1:{directory.grpc_port}",
        temporal_task_queue=task_queue,
        ingestion_rate_limit_per_second=1,
        ingestion_rate_limit_burst=BURST,
    )
    ingestion = await start_ingestion(configured, temporal_client)
    internal = configured.resolved_internal_token()
    try:
        async with (
            grpc.aio.insecure_channel(configured.directory_grpc_target) as directory_channel,
            grpc.aio.insecure_channel(f"127.0.0.1:{ingestion.grpc_port}") as ingestion_channel,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{ingestion.http_port}", timeout=30) as http,
        ):
            organizations = directory_pb2_grpc.OrganizationServiceStub(directory_channel)
            await organizations.CreateOrganization(
                directory_pb2.CreateOrganizationRequest(id="ORG_limits", name="Limits"), metadata=internal_metadata(internal)
            )
            token = await organizations.CreateApiToken(
                directory_pb2.CreateApiTokenRequest(organization_id="ORG_limits", name="t"), metadata=internal_metadata(internal)
            )
            sources = ingestion_pb2_grpc.IngestionServiceStub(ingestion_channel)
            write_keys = [
                (
                    await sources.CreateSource(
                        ingestion_pb2.CreateSourceRequest(name=name), metadata=internal_metadata(internal, "ORG_limits")
                    )
                ).write_key
                for name in ("web", "app")
            ]
            yield Intake(http, token.token, write_keys, str(configured.data_dir / "ingestion.db"))
    finally:
        await ingestion.stop()
        await directory.stop()


def inbox_count(database: str) -> int:
    """How many messages the intake has stored."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return connection.execute("SELECT coalesce(sum(message_count), 0) FROM inbox_batches").fetchone()[0]
    finally:
        connection.close()


TRACK = {"userId": "u-1", "event": "Signed Up"}


def assert_rate_limited(reply: httpx.Response) -> None:
    assert reply.status_code == 429, reply.text
    assert int(reply.headers["retry-after"]) >= 1
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json()["error"]["code"] == "rate_limited"


async def test_each_write_key_and_token_has_its_own_bucket(intake: Intake) -> None:
    first, second = intake.write_keys
    for _ in range(BURST):
        assert (await intake.http.post("/v1/track", json=TRACK, headers=basic(first))).status_code == 200
    stored = inbox_count(intake.inbox_database)

    refused = await intake.http.post("/v1/track", json=TRACK, headers=basic(first))
    assert_rate_limited(refused)
    assert refused.json()["code"] == "rate_limited"  # Segment's SDKs read a top-level code and message
    # A write key in the body shares the bucket of the same key sent as HTTP Basic.
    assert_rate_limited(await intake.http.post("/v1/track", json={**TRACK, "writeKey": first}))
    assert inbox_count(intake.inbox_database) == stored  # refused requests stored nothing

    # Another source's key, and an API token, are counted apart.
    assert (await intake.http.post("/v1/track", json=TRACK, headers=basic(second))).status_code == 200
    token = {"X-API-TOKEN": intake.api_token}
    for _ in range(BURST):
        assert (await intake.http.post("/mappings/propose", json={"a": 1}, headers=token)).status_code == 200
    assert_rate_limited(await intake.http.post("/mappings/propose", json={"a": 1}, headers=token))
    qualtrics = await intake.http.get("/API/v3/whoami", headers=token)
    assert qualtrics.status_code == 429 and qualtrics.json()["meta"]["httpStatus"].startswith("429")


async def test_the_openapi_document_declares_429_on_every_route(intake: Intake) -> None:
    document = (await intake.http.get("/openapi.json")).json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert "429" in operation["responses"], f"{method.upper()} {path}"
            assert "Retry-After" in operation["responses"]["429"]["headers"]


async def test_body_limits(intake: Intake) -> None:
    key = basic(intake.write_keys[0])
    token = {"X-API-TOKEN": intake.api_token}
    stored = inbox_count(intake.inbox_database)
    big_message = {**TRACK, "properties": {"blob": "x" * (33 * 1024)}}
    reply = await intake.http.post("/v1/track", json=big_message, headers=key)
    assert reply.status_code == 400 and reply.json()["code"] == "payload_too_large"

    big_batch = {"batch": [{**TRACK, "type": "track", "properties": {"blob": "x" * 20_000}} for _ in range(30)]}  # ~600 KB
    reply = await intake.http.post("/v1/batch", json=big_batch, headers=key)
    assert reply.status_code == 400 and reply.json()["code"] == "payload_too_large"

    # A gzip bomb: 64 KB on the wire that would inflate to 50 MB is refused once the inflated size passes the cap.
    bomb = gzip.compress(json.dumps({**TRACK, "properties": {"blob": "0" * 50_000_000}}).encode())
    assert len(bomb) < 100_000
    reply = await intake.http.post(
        "/v1/track", content=bomb, headers={**key, "Content-Encoding": "gzip", "Content-Type": "application/json"}
    )
    assert reply.status_code == 400 and reply.json()["code"] == "payload_too_large"
    assert inbox_count(intake.inbox_database) == stored

    reply = await intake.http.post("/triggers/WF_any", content=b"{" + b" " * (101 * 1024) + b"}", headers=token)
    assert reply.status_code == 413
    reply = await intake.http.post("/mappings/propose", json={"blob": "x" * (101 * 1024)}, headers=token)
    assert reply.status_code == 413


def test_bucket_refills_at_its_rate_and_says_how_long_to_wait() -> None:
    now = [0.0]
    limiter = RequestRateLimiter(per_second=2, burst=2, clock=lambda: now[0])
    assert [limiter.take("k") for _ in range(2)] == [0.0, 0.0]
    assert limiter.take("k") == pytest.approx(0.5)
    assert retry_after_header(0.5) == "1"
    now[0] = 0.5
    assert limiter.take("k") == 0.0  # one request refilled after half a second at 2 a second
    assert limiter.take("other") == 0.0
    now[0] = 100.0
    assert [limiter.take("k") for _ in range(3)] == [0.0, 0.0, pytest.approx(0.5)]  # never more than the burst


def test_credentials_are_read_from_the_headers_that_carry_them() -> None:
    assert request_credential({"x-api-token": " cxf_1 "}) == "x-api-token:cxf_1"
    assert request_credential({"authorization": "Basic abc"}) == "authorization:Basic abc"
    assert request_credential({}) is None
    with pytest.raises(ValueError):
        RequestRateLimiter(per_second=0, burst=1)
