"""Segment-membership events from the directory's outbox: dedup by event id per organization, then one run of every
enabled workflow whose segment_membership trigger names the event's segment and change."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.service import RPCError

from cxflow.v1 import ingestion_pb2
from services.common.errors import CxflowError, Unavailable
from services.ingestion.captures import VIA_MEMBERSHIP, capture_if_active
from services.ingestion.definitions import SEGMENT_MEMBERSHIP_TRIGGER, parse_definition
from services.ingestion.errors import InvalidIngestionRequest
from services.ingestion.launcher import RunLauncher
from services.ingestion.models import Workflow
from services.ingestion.repository import IngestionRepository
from services.ingestion.segment_spec import utc_iso
from workflows.contracts import ContactRef, TriggeredRunInput, WorkflowSnapshot

log = structlog.get_logger(__name__)

_CHANGES = {
    ingestion_pb2.MEMBERSHIP_CHANGE_ADDED: "ADDED",
    ingestion_pb2.MEMBERSHIP_CHANGE_REMOVED: "REMOVED",
    ingestion_pb2.MEMBERSHIP_CHANGE_OPTED_IN: "OPTED_IN",
    ingestion_pb2.MEMBERSHIP_CHANGE_OPTED_OUT: "OPTED_OUT",
}


@dataclass(frozen=True)
class MembershipOutcome:
    duplicate: bool
    started_workflow_ids: list[str] = field(default_factory=list)


def membership_event(event: ingestion_pb2.MembershipEvent) -> dict[str, Any]:
    """The event as a run carries it (its `event` payload); refuses an event missing what routing needs."""
    for name in ("event_id", "directory_id", "segment_id", "contact_id"):
        if not getattr(event, name).strip():
            raise InvalidIngestionRequest(f"event.{name}", "is required")
    if event.change not in _CHANGES:
        raise InvalidIngestionRequest("event.change", "must be ADDED, REMOVED, OPTED_IN or OPTED_OUT")
    occurred_at = event.occurred_at.ToDatetime(tzinfo=UTC) if event.HasField("occurred_at") else datetime.now(UTC)
    return {
        "type": SEGMENT_MEMBERSHIP_TRIGGER,
        "eventId": event.event_id,
        "directoryId": event.directory_id,
        "segmentId": event.segment_id,
        "segmentName": event.segment_name,
        "contactId": event.contact_id,
        "change": _CHANGES[event.change],
        "occurredAt": utc_iso(occurred_at),
    }


def _listens(workflow: Workflow, event: dict[str, Any]) -> bool:
    trigger = workflow.spec.get("trigger") if isinstance(workflow.spec, dict) else None
    if not workflow.enabled or not isinstance(trigger, dict) or trigger.get("type") != SEGMENT_MEMBERSHIP_TRIGGER:
        return False
    try:
        definition = parse_definition(workflow.spec)
    except CxflowError:
        log.warning("membership.invalid_definition", workflow_id=workflow.id)  # stored before a rule changed: skip it
        return False
    return definition.enabled and definition.segment_id == event["segmentId"] and event["change"] in definition.membership_changes


class MembershipRouter:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], launcher: RunLauncher) -> None:
        self._sessions = sessions
        self._launcher = launcher

    async def publish(self, organization_id: str, event: dict[str, Any]) -> MembershipOutcome:
        """Routes one event once. Runs start before the event is recorded as routed, so a failure half-way is
        retried by the directory's redelivery, and the runs already started are no-ops the second time."""
        event_id = event["eventId"]
        async with self._sessions() as session:
            repository = IngestionRepository(session)
            if await repository.routed_membership_event(organization_id, event_id) is not None:
                log.info("membership.duplicate", event_id=event_id)
                return MembershipOutcome(duplicate=True)
            workflows = [w for w in await repository.organization_workflows(organization_id) if _listens(w, event)]
        started = []
        with structlog.contextvars.bound_contextvars(org=organization_id, event_id=event_id):
            for workflow in workflows:
                await capture_if_active(self._sessions, workflow.id, event_id, event, VIA_MEMBERSHIP)
                snapshot = WorkflowSnapshot(workflow_id=workflow.id, version=workflow.version, name=workflow.name, spec=workflow.spec)
                run_input = TriggeredRunInput(
                    organization_id=organization_id,
                    workflow=snapshot,
                    event_id=event_id,
                    trigger=SEGMENT_MEMBERSHIP_TRIGGER,
                    event=event,
                    contact=ContactRef(directory_id=event["directoryId"], contact_id=event["contactId"]),
                )
                try:
                    run = await self._launcher.start_run(run_input)
                except RPCError as exc:
                    raise Unavailable(f"the workflow engine is unavailable ({exc.status.name}); redeliver later") from exc
                started.append(run.workflow_id)
        async with self._sessions() as session:
            recorded = await IngestionRepository(session).record_routed_membership_event(
                {"organization_id": organization_id, "event_id": event_id, "payload": event,
                 "started_workflow_ids": started, "received_at": datetime.now(UTC)}
            )
            await session.commit()
        log.info("membership.routed", segment_id=event["segmentId"], change=event["change"], runs=len(started))
        # A concurrent delivery that recorded it first makes this one the duplicate (its runs were no-ops).
        return MembershipOutcome(duplicate=not recorded, started_workflow_ids=started if recorded else [])
