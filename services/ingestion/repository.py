"""Queries of ingestion's database. Takes the caller's AsyncSession and never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingestion.models import (
    CapturedEvent,
    InboxMessage,
    RoutedMembershipEvent,
    Source,
    Subscription,
    TriggerCapture,
    Workflow,
)


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
        dialect = self.session.bind.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        # ON CONFLICT DO NOTHING makes dedup safe against a concurrent request carrying the same ids.
        # One cached statement run over the list ("insertmanyvalues"): compiling a 100-row VALUES clause per request
        # cost more than the write itself.
        statement = (
            insert(InboxMessage.__table__)
            .on_conflict_do_nothing(index_elements=["source_id", "message_id"])
            .returning(InboxMessage.__table__.c.source_id, InboxMessage.__table__.c.message_id)
        )
        return {(source_id, message_id) for source_id, message_id in (await self.session.execute(statement, rows)).all()}

    async def due_inbox_messages(self, now: datetime, limit: int) -> Sequence[InboxMessage]:
        query = (
            select(InboxMessage)
            .where(InboxMessage.status == "pending", InboxMessage.next_attempt_at <= now)
            .order_by(InboxMessage.id)
            .limit(limit)
        )
        return (await self.session.execute(query)).scalars().all()

    async def next_retry_time(self) -> datetime | None:
        query = select(InboxMessage.next_attempt_at).where(InboxMessage.status == "pending").order_by(InboxMessage.next_attempt_at).limit(1)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def settle_inbox_message(self, row_id: int, **values: Any) -> None:
        await self.session.execute(update(InboxMessage).where(InboxMessage.id == row_id).values(**values))

    async def settle_inbox_messages(self, row_ids: list[int], **values: Any) -> None:
        await self.session.execute(update(InboxMessage).where(InboxMessage.id.in_(row_ids)).values(**values))

    async def purge_processed(self, before: datetime) -> int:
        """Forgets processed messages older than the dedup retention; their ids may then be accepted again."""
        result = await self.session.execute(
            delete(InboxMessage).where(InboxMessage.status == "processed", InboxMessage.received_at < before)
        )
        return result.rowcount or 0
