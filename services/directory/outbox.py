"""The outbox dispatcher: delivers committed membership events to ingestion at least once, oldest first, and marks them.

Events are rows written in the same database transaction as the membership change, so an event exists exactly
when its change was committed; a dispatcher that dies before marking a row delivers it again after a restart
(with the same event id, which ingestion deduplicates).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import grpc
import structlog
from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client import CollectorRegistry
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxflow.v1 import ingestion_pb2, ingestion_pb2_grpc
from services.common.auth import internal_metadata
from services.common.grpc_client import service_channel
from services.common.metrics import OutboxMetrics
from services.directory.models import OutboxEvent, utc_now

log = structlog.get_logger(__name__)

BATCH_SIZE = 200
POLL_SECONDS = 5.0  # a safety net: writes wake the dispatcher at once
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 60.0
PUBLISH_TIMEOUT_SECONDS = 10.0
# Ingestion (or the network to it) is down: wait and retry the whole queue, in order.
_UNREACHABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.CANCELLED}
)

_CHANGES = {
    "ADDED": ingestion_pb2.MEMBERSHIP_CHANGE_ADDED,
    "REMOVED": ingestion_pb2.MEMBERSHIP_CHANGE_REMOVED,
    "OPTED_IN": ingestion_pb2.MEMBERSHIP_CHANGE_OPTED_IN,
    "OPTED_OUT": ingestion_pb2.MEMBERSHIP_CHANGE_OPTED_OUT,
}

Publish = Callable[[OutboxEvent], Awaitable[None]]


def membership_event(row: OutboxEvent) -> ingestion_pb2.MembershipEvent:
    occurred_at = Timestamp()
    occurred_at.FromDatetime(row.occurred_at if row.occurred_at.tzinfo else row.occurred_at.replace(tzinfo=UTC))
    return ingestion_pb2.MembershipEvent(
        event_id=row.id,
        directory_id=row.directory_id,
        segment_id=row.segment_id,
        segment_name=row.segment_name,
        contact_id=row.contact_id,
        change=_CHANGES[row.change],
        occurred_at=occurred_at,
    )


class IngestionPublisher:
    """Calls IngestionService.PublishMembershipEvent with the internal token, on behalf of the event's organization."""

    def __init__(self, target: str, internal_token: str) -> None:
        self._channel = service_channel(target)
        self._stub = ingestion_pb2_grpc.IngestionServiceStub(self._channel)
        self._internal_token = internal_token

    async def __call__(self, row: OutboxEvent) -> None:
        await self._stub.PublishMembershipEvent(
            ingestion_pb2.PublishMembershipEventRequest(event=membership_event(row)),
            metadata=internal_metadata(self._internal_token, row.organization_id),
            timeout=PUBLISH_TIMEOUT_SECONDS,
        )

    async def close(self) -> None:
        await self._channel.close()


class OutboxDispatcher:
    def __init__(
        self, session_factory: async_sessionmaker[AsyncSession], publish: Publish, metrics: OutboxMetrics | None = None
    ) -> None:
        self._sessions = session_factory
        self._publish = publish
        # The backlog gauge and delivery counter (served on the directory's /metrics; unexposed when none is given).
        self._metrics = metrics or OutboxMetrics(CollectorRegistry())
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="directory-outbox-dispatcher")

    async def stop(self, grace: float = 5.0) -> None:
        """Lets the event in flight finish (delivered and marked), then ends; cancels after `grace` seconds."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def _run(self) -> None:
        backoff = FIRST_BACKOFF_SECONDS
        while not self._stopping:
            self._wake.clear()
            try:
                await self.deliver_pending()
                backoff = FIRST_BACKOFF_SECONDS
                timeout = POLL_SECONDS
            except IngestionUnreachable as exc:
                log.warning("directory.outbox_ingestion_unreachable", retry_in=backoff, error=str(exc))
                timeout, backoff = backoff, min(backoff * 2, MAX_BACKOFF_SECONDS)
            except Exception:  # a database hiccup must not end delivery for the life of the process
                log.exception("directory.outbox_dispatch_failed", retry_in=backoff)
                timeout, backoff = backoff, min(backoff * 2, MAX_BACKOFF_SECONDS)
            await self.measure_backlog()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def measure_backlog(self) -> int:
        """Sets the backlog gauge to the events not delivered yet (due now or waiting for a retry); returns it."""
        try:
            async with self._sessions() as session:
                pending = await session.scalar(
                    select(func.count()).select_from(OutboxEvent).where(OutboxEvent.delivered.is_(False))
                )
        except Exception:  # the gauge keeps its last value while the database is unreachable; delivery goes on
            log.warning("directory.outbox_backlog_unmeasured", exc_info=True)
            return -1
        self._metrics.backlog.set(pending or 0)
        return pending or 0

    async def deliver_pending(self) -> int:
        """Delivers every due event, oldest first; returns how many were delivered. Raises IngestionUnreachable."""
        delivered = 0
        while True:
            async with self._sessions() as session:
                now = utc_now()
                rows = list(
                    (
                        await session.execute(
                            select(OutboxEvent)
                            .where(
                                OutboxEvent.delivered.is_(False),
                                or_(OutboxEvent.next_attempt_at.is_(None), OutboxEvent.next_attempt_at <= now),
                            )
                            .order_by(OutboxEvent.seq)
                            .limit(BATCH_SIZE)
                        )
                    )
                    .scalars()
                    .all()
                )
            if not rows:
                return delivered
            for row in rows:
                if self._stopping:
                    return delivered
                if await self._deliver(row):
                    delivered += 1

    async def _deliver(self, row: OutboxEvent) -> bool:
        try:
            await self._publish(row)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in _UNREACHABLE:
                raise IngestionUnreachable(f"{exc.code().name}: {exc.details()}") from exc
            # Refused (a bug or a misconfiguration on one side): keep it, retry later, leave the reason for operators.
            await self._reject(row, f"{exc.code().name}: {exc.details()}")
            return False
        async with self._sessions() as session:
            await session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.seq == row.seq)
                .values(delivered=True, delivered_at=utc_now(), attempts=OutboxEvent.attempts + 1, last_error=None)
            )
            await session.commit()
        self._metrics.delivered.inc()
        log.info("directory.membership_event_delivered", event_id=row.id, change=row.change, org=row.organization_id)
        return True

    async def _reject(self, row: OutboxEvent, reason: str) -> None:
        delay = min(FIRST_BACKOFF_SECONDS * 2 ** min(row.attempts, 16), MAX_BACKOFF_SECONDS * 5)
        async with self._sessions() as session:
            await session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.seq == row.seq)
                .values(
                    attempts=OutboxEvent.attempts + 1,
                    next_attempt_at=datetime.now(UTC) + timedelta(seconds=delay),
                    last_error=reason[:500],
                )
            )
            await session.commit()
        log.warning("directory.membership_event_rejected", event_id=row.id, error=reason, retry_in=delay)


class IngestionUnreachable(Exception):
    pass
