"""Accepting Segment messages: concurrent requests are stored in the inbox by one group commit (one transaction, one
fsync), each request answered only once its messages are durable; a request's new messages are one inbox batch,
replayed ids are acknowledged and skipped."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from services.common.metrics import EVENT_ACCEPTED, EVENT_DEDUPLICATED, INTAKE_SEGMENT, EventMetrics
from services.ingestion.inbox_store import InboxStore, IntakeRequest
from services.ingestion.models import Source

log = structlog.get_logger(__name__)

COMMIT_DELAY_SECONDS = 0.002  # the longest a commit waits for requests still being validated
MAX_GROUP_MESSAGES = 10_000  # one batch request holds at most 2,500, so a group is a handful of requests


@dataclass(frozen=True)
class AcceptedMessage:
    message_id: str
    duplicate: bool  # accepted before for this source: acknowledged, not stored or processed again


@dataclass(frozen=True)
class Acceptance:
    """What became of one request's messages, once committed."""

    messages: list[dict[str, Any]]  # as submitted, in order
    stored: list[dict[str, Any]]  # those stored now: new for the source, each the first to carry its id

    @property
    def duplicates(self) -> int:
        return len(self.messages) - len(self.stored)

    def per_message(self) -> list[AcceptedMessage]:
        stored_ids = {message["messageId"] for message in self.stored}
        accepted, seen = [], set()
        for message in self.messages:
            message_id = message["messageId"]
            accepted.append(AcceptedMessage(message_id, duplicate=message_id not in stored_ids or message_id in seen))
            seen.add(message_id)
        return accepted


@dataclass(frozen=True)
class SourceRef:
    """What the intake needs of a source: its id and organization (a plain value, safe to cache)."""

    id: str
    organization_id: str


@dataclass
class _Request:
    request: IntakeRequest
    done: asyncio.Future[Acceptance] = field(repr=False)


class InboxWriter:
    """Stores accepted messages. Requests that arrive while a commit runs are written together by the next one, so
    under load one fsync serves many requests (the fsync is most of a small commit's time).

    A commit about to start waits a little (at most COMMIT_DELAY_SECONDS) for the requests that are being read and
    validated at that moment (those inside `arriving()`), as PostgreSQL's commit_delay does for its siblings: without
    it, the first of a burst of requests took a commit and its fsync to itself. A lone request is written at once."""

    def __init__(self, store: InboxStore, events: EventMetrics | None = None, *, commit_delay: float = COMMIT_DELAY_SECONDS) -> None:
        self._store = store  # the writer's own: closed when it stops
        self._commit_delay = commit_delay
        self._events = events or EventMetrics(CollectorRegistry())
        self._waiting: list[_Request] = []
        self._wake = asyncio.Event()
        self._arriving = 0
        self._arrived = asyncio.Event()  # set each time a request stops arriving (submitted, or refused)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ingestion-inbox-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for request in self._waiting:  # nothing was written for them: their callers answer with an error
            if not request.done.done():
                request.done.set_exception(RuntimeError("the ingestion service is stopping"))
        self._waiting.clear()
        await self._store.close()

    @contextmanager
    def arriving(self) -> Iterator[None]:
        """Marks a request on its way to submit(): a commit about to start waits briefly for it."""
        self._arriving += 1
        try:
            yield
        finally:
            self._arriving -= 1
            self._arrived.set()

    async def accept(self, source: SourceRef | Source, messages: list[dict[str, Any]], received_at: datetime) -> list[AcceptedMessage]:
        """Returns once the messages are committed (or were already stored): one entry per message, in order."""
        return (await self.submit(source, messages, received_at)).per_message()

    def submit(self, source: SourceRef | Source, messages: list[dict[str, Any]], received_at: datetime) -> Awaitable[Acceptance]:
        """Queues the messages for the next commit now; what it returns resolves once they are committed."""
        if self._task is None or self._task.done():
            raise RuntimeError("the inbox writer is not running")
        done: asyncio.Future[Acceptance] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Request(IntakeRequest(source.organization_id, source.id, received_at, messages), done))
        self._wake.set()
        return done

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                await self._wait_for_arrivals()
                group, size = [], 0
                while self._waiting and (not group or size + len(self._waiting[0].request.messages) <= MAX_GROUP_MESSAGES):
                    request = self._waiting.pop(0)
                    group.append(request)
                    size += len(request.request.messages)
                await self._write(group)

    async def _wait_for_arrivals(self) -> None:
        deadline = time.monotonic() + self._commit_delay
        while self._arriving:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                return

    async def _write(self, group: list[_Request]) -> None:
        started = time.perf_counter()
        try:
            stored = await self._store.write([request.request for request in group])
        except Exception as exc:  # the loop goes on; the waiting requests learn of the failure
            if len(group) > 1:
                # One request's messages may be what the database refused: write each alone, so only that one fails.
                log.warning("inbox.group_write_failed", error_type=type(exc).__name__, requests=len(group))
                for request in group:
                    await self._write([request])
                return
            log.error("inbox.write_failed", error_type=type(exc).__name__, exc_info=exc)
            if not group[0].done.done():
                group[0].done.set_exception(exc)
            return
        log.debug("inbox.group_committed", requests=len(group), ms=round((time.perf_counter() - started) * 1000, 1))
        stored_count = sum(len(messages) for messages in stored)
        self._events.record(INTAKE_SEGMENT, EVENT_ACCEPTED, stored_count)
        self._events.record(INTAKE_SEGMENT, EVENT_DEDUPLICATED, sum(len(request.request.messages) for request in group) - stored_count)
        for request, messages in zip(group, stored, strict=True):
            if not request.done.done():  # a caller that went away (client disconnect) no longer waits
                request.done.set_result(Acceptance(request.request.messages, messages))


class SourceCache:
    """Write key hash -> source, kept briefly: every Tracking API request looks its source up, and sources are only
    ever added (a write key is never reassigned)."""

    def __init__(self, ttl_seconds: float = 60.0, max_entries: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: dict[str, tuple[float, SourceRef]] = {}

    def get(self, write_key_hash: str) -> SourceRef | None:
        hit = self._entries.get(write_key_hash)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, write_key_hash: str, source: Source) -> SourceRef:
        if len(self._entries) >= self._max:
            self._entries.clear()  # crude but bounded; a miss costs one query
        ref = SourceRef(id=source.id, organization_id=source.organization_id)
        self._entries[write_key_hash] = (time.monotonic() + self._ttl, ref)
        return ref
