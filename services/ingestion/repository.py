"""Queries of ingestion's database. Takes the caller's AsyncSession and never commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Text, cast, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.common import json_codec
from services.ingestion.models import (
    CapturedEvent,
    InboxMessage,
    RoutedMembershipEvent,
    Source,
    Subscription,
    TriggerCapture,
    Workflow,
)


@dataclass
class PendingMessage:
    """An inbox row the processor is to handle: plain values, its payload decoded only when a subscription reads it
    (rows of a source without subscriptions are settled without ever being parsed)."""

    id: int
    organization_id: str
    source_id: str
    message_id: str
    attempts: int
    payload_json: str

    @cached_property
    def payload(self) -> dict[str, Any]:
        return json_codec.loads(self.payload_json)


_INBOX_COLUMNS = ("organization_id", "source_id", "message_id", "type", "payload", "received_at", "status", "attempts",
                  "error", "next_attempt_at")  # fmt: skip
_INBOX_TIMES = {"received_at", "next_attempt_at"}
_SQLITE_MAX_PARAMETERS = 32_766  # SQLite's default cap on the parameters of one statement


async def _insert_inbox_sqlite(connection: AsyncConnection, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """The inbox insert on SQLite, as multi-row VALUES statements sent to the driver as they are.

    The intake's hot path: SQLAlchemy's per-parameter processing and statement assembly cost more than SQLite's own
    work here (measured with benchmarks/ingest_http.py). Values are rendered as the column types would render them:
    JSON by the same serializer as the engine's, times by the DateTime type's own bind processor."""
    dialect = connection.dialect
    to_text = InboxMessage.__table__.c.received_at.type.dialect_impl(dialect).bind_processor(dialect)
    assert to_text is not None  # SQLite keeps times as text
    times: dict[datetime, str] = {}  # a group's rows share a handful of times
    per_statement = _SQLITE_MAX_PARAMETERS // len(_INBOX_COLUMNS)
    inserted: set[tuple[str, str]] = set()
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        parameters: list[Any] = []
        for row in chunk:
            for column in _INBOX_COLUMNS:
                value = row[column]
                if column == "payload":
                    value = json_codec.dumps(value)
                elif column in _INBOX_TIMES:
                    value = times.get(value) or times.setdefault(value, to_text(value))
                parameters.append(value)
        placeholders = "(" + ",".join("?" * len(_INBOX_COLUMNS)) + ")"
        statement = (
            f"INSERT INTO inbox_messages ({', '.join(_INBOX_COLUMNS)}) VALUES {','.join([placeholders] * len(chunk))}"
            " ON CONFLICT (source_id, message_id) DO NOTHING RETURNING source_id, message_id"
        )
        inserted.update((source_id, message_id) for source_id, message_id in await connection.exec_driver_sql(statement, tuple(parameters)))
    return inserted


class IngestionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- sources

    async def get_source(self, source_id: str) -> Source | None:
        """Any organization's source: callers compare organization_id themselves to tell 'taken' from 'not found'."""
        return await self.session.get(Source, source_id)

    async def source_by_write_key_hash(self, write_key_hash: str) -> Source | None:
        return (await self.session.execute(select(Source).where(Source.write_key_hash == write_key_hash))).scalar_one_or_none()

    async def list_sources(self, organization_id: str, after: str, limit: int) -> Sequence[Source]:
        query = select(Source).where(Source.organization_id == organization_id, Source.id > after).order_by(Source.id).limit(limit)
        return (await self.session.execute(query)).scalars().all()

    # -- subscriptions

    async def get_subscription(self, subscription_id: str) -> Subscription | None:
        return await self.session.get(Subscription, subscription_id)

    async def list_subscriptions(self, organization_id: str, source_id: str, after: str, limit: int) -> Sequence[Subscription]:
        query = (
            select(Subscription)
            .where(Subscription.organization_id == organization_id, Subscription.source_id == source_id, Subscription.id > after)
            .order_by(Subscription.id)
            .limit(limit)
        )
        return (await self.session.execute(query)).scalars().all()

    async def enabled_subscriptions(self, organization_id: str, source_id: str) -> Sequence[Subscription]:
        query = (
            select(Subscription)
            .where(Subscription.organization_id == organization_id, Subscription.source_id == source_id, Subscription.enabled.is_(True))
            .order_by(Subscription.created_at, Subscription.id)
        )
        return (await self.session.execute(query)).scalars().all()

    # -- workflow definitions

    async def get_workflow(self, workflow_id: str) -> Workflow | None:
        """Any organization's workflow: callers compare organization_id themselves."""
        return await self.session.get(Workflow, workflow_id)

    async def list_workflows(self, organization_id: str, after: str, limit: int) -> Sequence[Workflow]:
        query = (
            select(Workflow).where(Workflow.organization_id == organization_id, Workflow.id > after).order_by(Workflow.id).limit(limit)
        )
        return (await self.session.execute(query)).scalars().all()

    async def organization_workflows(self, organization_id: str) -> Sequence[Workflow]:
        """Every workflow of the organization (membership routing reads their triggers)."""
        query = select(Workflow).where(Workflow.organization_id == organization_id).order_by(Workflow.id)
        return (await self.session.execute(query)).scalars().all()

    def add(self, row: Source | Subscription | Workflow) -> None:
        self.session.add(row)

    async def delete_subscription(self, subscription_id: str) -> None:
        await self.session.execute(delete(Subscription).where(Subscription.id == subscription_id))

    # -- trigger captures

    async def restart_capture(self, workflow_id: str, organization_id: str, count: int, now: datetime) -> TriggerCapture:
        """Discards the workflow's last capture and its events, and starts one that waits for `count` events."""
        await self.session.execute(delete(CapturedEvent).where(CapturedEvent.workflow_id == workflow_id))
        await self.session.execute(delete(TriggerCapture).where(TriggerCapture.workflow_id == workflow_id))
        capture = TriggerCapture(
            workflow_id=workflow_id, organization_id=organization_id, requested=count, remaining=count, started_at=now
        )
        self.session.add(capture)
        return capture

    async def delete_capture(self, workflow_id: str) -> None:
        """Forgets the workflow's capture and its events (the workflow is being deleted)."""
        await self.session.execute(delete(CapturedEvent).where(CapturedEvent.workflow_id == workflow_id))
        await self.session.execute(delete(TriggerCapture).where(TriggerCapture.workflow_id == workflow_id))

    async def get_capture(self, workflow_id: str) -> TriggerCapture | None:
        return await self.session.get(TriggerCapture, workflow_id)

    async def captured_events(self, workflow_id: str) -> Sequence[CapturedEvent]:
        query = select(CapturedEvent).where(CapturedEvent.workflow_id == workflow_id).order_by(CapturedEvent.id)
        return (await self.session.execute(query)).scalars().all()

    async def has_captured(self, workflow_id: str, event_id: str) -> bool:
        query = select(CapturedEvent.id).where(CapturedEvent.workflow_id == workflow_id, CapturedEvent.event_id == event_id)
        return (await self.session.execute(query.limit(1))).first() is not None

    async def is_capturing(self, workflow_id: str) -> bool:
        """Whether the workflow's capture still wants events (take_capture_slot decides which ones get a slot)."""
        query = select(TriggerCapture.remaining).where(TriggerCapture.workflow_id == workflow_id, TriggerCapture.remaining > 0)
        return (await self.session.execute(query)).first() is not None

    async def take_capture_slot(self, workflow_id: str) -> bool:
        """Claims one of the capture's remaining slots; False when the workflow is not capturing (or is full)."""
        statement = (
            update(TriggerCapture)
            .where(TriggerCapture.workflow_id == workflow_id, TriggerCapture.remaining > 0)
            .values(remaining=TriggerCapture.remaining - 1)
            .returning(TriggerCapture.remaining)
        )
        return (await self.session.execute(statement)).first() is not None

    # -- membership events

    async def routed_membership_event(self, organization_id: str, event_id: str) -> RoutedMembershipEvent | None:
        query = select(RoutedMembershipEvent).where(
            RoutedMembershipEvent.organization_id == organization_id, RoutedMembershipEvent.event_id == event_id
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def record_routed_membership_event(self, row: dict[str, Any]) -> bool:
        """Records a routed event; False when a concurrent delivery recorded it first."""
        dialect = self.session.bind.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(RoutedMembershipEvent)
            .values(**row)
            .on_conflict_do_nothing(index_elements=["organization_id", "event_id"])
            .returning(RoutedMembershipEvent.id)
        )
        return (await self.session.execute(statement)).first() is not None

    # -- inbox

    async def insert_inbox_messages(self, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
        """Inserts the messages whose (source_id, message_id) is new; returns the (source_id, message_id) pairs inserted."""
        if not rows:
            return set()
        connection = await self.session.connection()
        if connection.dialect.name == "sqlite":
            return await _insert_inbox_sqlite(connection, rows)
        # ON CONFLICT DO NOTHING makes dedup safe against a concurrent request carrying the same ids.
        # One cached statement run over the list ("insertmanyvalues"): compiling a 100-row VALUES clause per request
        # cost more than the write itself.
        statement = (
            postgresql.insert(InboxMessage.__table__)
            .on_conflict_do_nothing(index_elements=["source_id", "message_id"])
            .returning(InboxMessage.__table__.c.source_id, InboxMessage.__table__.c.message_id)
        )
        return {(source_id, message_id) for source_id, message_id in (await connection.execute(statement, rows)).all()}

    async def due_inbox_messages(self, now: datetime, limit: int) -> list[PendingMessage]:
        """The oldest pending rows that are due, as plain values (no ORM objects: the processor reads thousands a
        second), the payload as its stored JSON text."""
        message = InboxMessage.__table__.c
        columns = (message.id, message.organization_id, message.source_id, message.message_id, message.attempts)
        query = (
            select(*columns, cast(message.payload, Text))
            .where(message.status == "pending", message.next_attempt_at <= now)
            .order_by(message.id)
            .limit(limit)
        )
        return [PendingMessage(*row) for row in (await self.session.execute(query)).all()]

    async def next_retry_time(self) -> datetime | None:
        query = select(InboxMessage.next_attempt_at).where(InboxMessage.status == "pending").order_by(InboxMessage.next_attempt_at).limit(1)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def settle_inbox_message(self, row_id: int, **values: Any) -> None:
        await self.session.execute(update(InboxMessage.__table__).where(InboxMessage.id == row_id).values(**values))

    async def settle_inbox_messages(self, row_ids: list[int], **values: Any) -> None:
        # A Core statement: no ORM session to synchronize, which at a hundred rows a pass cost more than the write.
        await self.session.execute(update(InboxMessage.__table__).where(InboxMessage.id.in_(row_ids)).values(**values))

    async def purge_processed(self, before: datetime) -> int:
        """Forgets processed messages older than the dedup retention; their ids may then be accepted again."""
        result = await self.session.execute(
            delete(InboxMessage).where(InboxMessage.status == "processed", InboxMessage.received_at < before)
        )
        return result.rowcount or 0
