"""Queries of ingestion's database. Takes the caller's AsyncSession and never commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Text, cast, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.common import json_codec
from services.ingestion.models import (
    CapturedEvent,
    InboxBatch,
    InboxFailure,
    InboxMessageId,
    RoutedMembershipEvent,
    Source,
    Subscription,
    TriggerCapture,
    Workflow,
)


@dataclass(frozen=True)
class PendingBatch:
    """An inbox batch the processor has not finished: plain values (the processor reads hundreds a second), without
    its messages, which are read only when its source has subscriptions."""

    id: int
    organization_id: str
    source_id: str
    received_at: datetime
    message_count: int
    handled: int


@dataclass
class DueFailure:
    """A failed message due for another attempt."""

    id: int
    batch_id: int
    position: int
    organization_id: str
    source_id: str
    attempts: int
    received_at: datetime
    payload_json: str  # the message, its messageId included

    @cached_property
    def payload(self) -> dict[str, Any]:
        return json_codec.loads(self.payload_json)


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

    async def insert_message_ids(self, keys: list[tuple[str, str]], received_at: datetime) -> set[tuple[str, str]]:
        """Records the (source_id, message_id) pairs not seen before and returns them; ON CONFLICT DO NOTHING makes
        this the dedup, safe against a concurrent request carrying the same ids. PostgreSQL only: on SQLite the intake
        writes through inbox_store's thread."""
        if not keys:
            return set()
        connection = await self.session.connection()
        # One cached statement run over the list ("insertmanyvalues"): compiling a 100-row VALUES clause per request
        # cost more than the write itself.
        table = InboxMessageId.__table__
        statement = postgresql.insert(table).on_conflict_do_nothing().returning(table.c.source_id, table.c.message_id)
        rows = [{"source_id": source_id, "message_id": message_id, "received_at": received_at} for source_id, message_id in keys]
        return {(source_id, message_id) for source_id, message_id in (await connection.execute(statement, rows)).all()}

    async def insert_batches(self, batches: list[dict[str, Any]]) -> None:
        """Stores pending batches (organization_id, source_id, received_at, messages), in the given order: one
        executemany for any number of them."""
        if not batches:
            return
        rows = [{**batch, "message_count": len(batch["messages"]), "handled": 0, "status": "pending"} for batch in batches]
        await self.session.execute(insert(InboxBatch.__table__), rows)

    async def pending_batches(self, limit: int) -> list[PendingBatch]:
        """The oldest unfinished batches, in arrival order."""
        batch = InboxBatch.__table__.c
        query = (
            select(batch.id, batch.organization_id, batch.source_id, batch.received_at, batch.message_count, batch.handled)
            .where(batch.status == "pending")
            .order_by(batch.id)
            .limit(limit)
        )
        return [PendingBatch(*row) for row in (await self.session.execute(query)).all()]

    async def batch_messages(self, batch_id: int) -> list[dict[str, Any]]:
        query = select(InboxBatch.messages).where(InboxBatch.id == batch_id)
        return (await self.session.execute(query)).scalar_one()

    async def advance_batch(self, batch_id: int, handled: int) -> None:
        """Messages before `handled` are done: a pass cut short resumes after them."""
        await self.session.execute(update(InboxBatch.__table__).where(InboxBatch.id == batch_id).values(handled=handled))

    async def settle_batches(self, batch_ids: list[int], now: datetime) -> None:
        # A Core statement: no ORM session to synchronize, which at dozens of rows a pass cost more than the write.
        batch = InboxBatch.__table__
        await self.session.execute(
            update(batch).where(batch.c.id.in_(batch_ids)).values(status="processed", handled=batch.c.message_count, processed_at=now)
        )

    async def add_failure(self, **values: Any) -> None:
        await self.session.execute(insert(InboxFailure.__table__).values(**values))

    async def due_failures(self, now: datetime, limit: int) -> list[DueFailure]:
        """Failed messages whose next attempt is due, oldest first."""
        failure = InboxFailure.__table__.c
        query = (
            select(failure.id, failure.batch_id, failure.position, failure.organization_id, failure.source_id,
                   failure.attempts, failure.received_at, cast(failure.payload, Text))
            .where(failure.status == "retrying", failure.next_attempt_at <= now)
            .order_by(failure.next_attempt_at, failure.id)
            .limit(limit)
        )  # fmt: skip
        return [DueFailure(*row) for row in (await self.session.execute(query)).all()]

    async def settle_failure(self, failure_id: int, **values: Any) -> None:
        await self.session.execute(update(InboxFailure.__table__).where(InboxFailure.id == failure_id).values(**values))

    async def purge_expired(self, before: datetime) -> int:
        """Forgets what was received before `before`: processed batches, retried-and-processed failures, and message
        ids, which may then be accepted again; returns how many ids were forgotten. An id whose batch is still pending
        (the processor behind by the whole window) is kept until the batch is done. Failed messages stay."""
        oldest_pending = (
            await self.session.execute(select(func.min(InboxBatch.received_at)).where(InboxBatch.status == "pending"))
        ).scalar_one_or_none()
        if oldest_pending is not None and oldest_pending < before:
            before = oldest_pending
        await self.session.execute(delete(InboxBatch.__table__).where(InboxBatch.status == "processed", InboxBatch.received_at < before))
        await self.session.execute(
            delete(InboxFailure.__table__).where(InboxFailure.status == "processed", InboxFailure.received_at < before)
        )
        result = await self.session.execute(delete(InboxMessageId.__table__).where(InboxMessageId.received_at < before))
        return result.rowcount or 0
