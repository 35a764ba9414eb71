"""The recording HTTP server the channel tests use: it records requests exactly and answers as scripted."""

from __future__ import annotations

import httpx
from recording_http import RecordingHttpServer


async def test_records_requests_and_answers_in_script_order_then_the_default() -> None:
    async with RecordingHttpServer() as server:
        server.respond(503, body=b"busy")
        server.respond(201, json={"id": 7}, headers={"Retry-After": "3"})
        async with httpx.AsyncClient(base_url=server.url) as client:
            first = await client.post("/api/v2/tickets.json?x=1", json={"a": "ü"}, headers={"X-Test": "yes"})
            second = await client.post("/api/v2/tickets.json", content=b"raw")
            third = await client.get("/anything")

    assert (first.status_code, first.text) == (503, "busy")
    assert (second.status_code, second.json(), second.headers["retry-after"]) == (201, {"id": 7}, "3")
    assert (third.status_code, third.text) == (200, "ok")
    recorded = server.requests
    assert [(r.method, r.path) for r in recorded] == [
        ("POST", "/api/v2/tickets.json"),
        ("POST", "/api/v2/tickets.json"),
        ("GET", "/anything"),
    ]
    assert recorded[0].query == {"x": ["1"]}
    assert recorded[0].headers["x-test"] == "yes"
    assert recorded[0].json() == {"a": "ü"}
    assert recorded[1].body == b"raw"
