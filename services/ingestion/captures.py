"""Capture mode ("Run test data"): recording the next N events that reach a workflow's trigger, for building mappings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingestion.errors import InvalidIngestionRequest
from services.ingestion.models import CapturedEvent, TriggerCapture
from services.ingestion.repository import IngestionRepository

log = structlog.get_logger(__name__)

MAX_CAPTURE_COUNT = 100
VIA_TRIGGER_URL = "trigger_url"
VIA_SUBSCRIPTION = "subscription"
VIA_MEMBERSHIP = "segment_membership"


def capture_count(count: int) -> int:
    """The number of events to capture a caller asked for; 0 means one."""
    count = count or 1
    if not 1 <= count <= MAX_CAPTURE_COUNT:
        raise InvalidIngestionRequest("count", f"must be between 1 and {MAX_CAPTURE_COUNT}")
    return count


async def start_capture(session: AsyncSession, workflow_id: str, organization_id: str, count: int) -> TriggerCapture:
    """Starts (or restarts) the workflow's capture; the caller has checked the workflow is the organization's."""
    capture = await IngestionRepository(session).restart_capture(
        workflow_id, organization_id, capture_count(count), datetime.now(UTC)
    )
    await session.commit()
    return capture


async def read_capture(
    session: AsyncSession, workflow_id: str, organization_id: str
) -> tuple[TriggerCapture | None, list[CapturedEvent]]:
    """The organization's capture of the workflow and its events; another organization's capture is not there."""
    repository = IngestionRepository(session)
    capture = await repository.get_capture(workflow_id)
    if capture is None or capture.organization_id != organization_id:
        return None, []
    return capture, list(await repository.captured_events(workflow_id))


async def capture_if_active(
    sessions: async_sessionmaker[AsyncSession], workflow_id: str, event_id: str, payload: dict[str, Any], via: str
) -> bool:
    """Records the event when the workflow is capturing and this event id is not recorded yet; True when recorded."""
    async with sessions() as session:
        repository = IngestionRepository(session)
        if not await repository.is_capturing(workflow_id):  # the common case: one read, no write transaction
            return False
        if await repository.has_captured(workflow_id, event_id):  # a redelivery (an inbox retry, a replayed request) is not a new sample
            return False
        if not await repository.take_capture_slot(workflow_id):
            return False
        session.add(
            CapturedEvent(
                workflow_id=workflow_id, event_id=event_id, via=via, payload=payload, received_at=datetime.now(UTC)
            )
        )
        await session.commit()
    log.info("trigger.event_captured", workflow_id=workflow_id, via=via)
    return True
