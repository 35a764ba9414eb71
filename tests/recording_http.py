"""A real local HTTP server (uvicorn) for tests: records every request and answers with scripted responses.

    async with RecordingHttpServer() as server:          # binds 127.0.0.1 on a free port
        server.respond(503)                              # the next answers, in order ...
        server.respond(201, json={"ticket": {"id": 7}})
        server.default = Reply(200, body=b"ok")          # ... then this one for every later request
        ... call server.url + "/api/v2/tickets.json" ...
        [request] = server.requests                      # RecordedRequest: method, path, query, headers, body
        assert request.json() == {...}
        await server.wait_for(2)                         # when requests arrive from another task or process

Replies can be delayed (Reply(..., delay=5)) to exercise client timeouts.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import parse_qs

import uvicorn


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering

    @classmethod
    def of_json(cls, status: int, value: Any, headers: dict[str, str] | None = None, delay: float = 0.0) -> Reply:
        return cls(status, jsonlib.dumps(value).encode(), {"content-type": "application/json", **(headers or {})}, delay)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes

    def json(self) -> Any:
        return jsonlib.loads(self.body)


class RecordingHttpServer:
    """Serves every path; `requests` holds what arrived, in order; `respond()` scripts the answers."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, certfile: str | None = None, url_host: str | None = None
    ) -> None:
        """certfile: a PEM holding key and certificate chain, to serve HTTPS; url_host: the name `url` uses."""
        self.host = host
        self.port = port
        self.certfile = certfile
        self.url_host = url_host or host
        self.requests: list[RecordedRequest] = []
        self.default = Reply(200, b"ok", {"content-type": "text/plain"})
        self._script: deque[Reply] = deque()
        self._arrived = asyncio.Condition()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.certfile else 'http'}://{self.url_host}:{self.port}"

    def respond(
        self,
        status: int,
        *,
        json: Any = None,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Queues the answer to the next unanswered request (JSON when json is given, else the raw body)."""
        if json is not None:
            self._script.append(Reply.of_json(status, json, headers, delay))
        else:
            self._script.append(Reply(status, body, dict(headers or {}), delay))

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Every request so far, once at least `count` have arrived; TimeoutError otherwise."""
        try:
            async with asyncio.timeout(timeout):
                async with self._arrived:
                    await self._arrived.wait_for(lambda: len(self.requests) >= count)
        except TimeoutError:
            raise TimeoutError(f"expected {count} request(s) within {timeout}s, got {len(self.requests)}") from None
        return list(self.requests)

    async def start(self) -> None:
        config = uvicorn.Config(
            self._app, host=self.host, port=self.port, log_level="warning", lifespan="off", interface="asgi3",
            ssl_certfile=self.certfile, ssl_keyfile=self.certfile,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises the bind error
            await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server = self._task = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = RecordedRequest(
            method=scope["method"],
            path=scope["path"],
            query=parse_qs(scope["query_string"].decode()),
            headers={k.decode().lower(): v.decode() for k, v in scope["headers"]},
            body=body,
        )
        reply = self._script.popleft() if self._script else self.default
        async with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        headers = [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})
