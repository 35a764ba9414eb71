"""gRPC servicers of ingestion: map protobuf to domain calls and back; one session per call, committed here."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Any

from google.protobuf import json_format
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxflow.v1 import ingestion_pb2, ingestion_pb2_grpc
from services.common.auth import current_organization, hash_token
from services.ingestion.errors import InvalidIngestionRequest, SourceNotFound, WorkflowNotFound
from services.ingestion.grpc_support import create_once, next_page_token, own, page_bounds, timestamp
from services.ingestion.ids import SOURCE_PREFIX, SUBSCRIPTION_PREFIX, check_chosen_id, new_id
from services.ingestion.intake import accept_messages
from services.ingestion.models import Source, Subscription
from services.ingestion.processor import InboxProcessor
from services.ingestion.repository import IngestionRepository
from services.ingestion.segment_spec import MESSAGE_TYPES, single_message
from services.ingestion.subscriptions import DEFAULT_FILTER, START_WORKFLOW, UPSERT_CONTACT, compile_rule

WRITE_KEY_PREFIX = "wk_"

_ACTIONS = {
    ingestion_pb2.SUBSCRIPTION_ACTION_UPSERT_CONTACT: UPSERT_CONTACT,
    ingestion_pb2.SUBSCRIPTION_ACTION_START_WORKFLOW: START_WORKFLOW,
}
_ACTION_ENUMS = {name: enum for enum, name in _ACTIONS.items()}


class IngestionServicer(ingestion_pb2_grpc.IngestionServiceServicer):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], processor: InboxProcessor) -> None:
        self._sessions = sessions
        self._processor = processor

    async def SendEvent(self, request: ingestion_pb2.SendEventRequest, context: Any) -> ingestion_pb2.SendEventResponse:
        organization_id = current_organization()
        message = json_format.MessageToDict(request.message)
        message_type = message.get("type")
        if message_type not in MESSAGE_TYPES:
            raise InvalidIngestionRequest("message.type", f"must be one of {', '.join(MESSAGE_TYPES)}")
        received_at = datetime.now(timezone.utc)
        normalized = single_message(message, message_type, received_at)
        async with self._sessions() as session:
            repository = IngestionRepository(session)
            source = await repository.get_source(request.source_id)
            if source is None or source.organization_id != organization_id:
                raise SourceNotFound(request.source_id)
            [accepted] = await accept_messages(repository, source, [normalized], received_at)
            await session.commit()
        self._processor.wake()
        return ingestion_pb2.SendEventResponse(message_id=accepted.message_id, duplicate=accepted.duplicate)

    async def CreateSource(self, request: ingestion_pb2.CreateSourceRequest, context: Any) -> ingestion_pb2.Source:
        organization_id = current_organization()
        if not request.name.strip():
            raise InvalidIngestionRequest("name", "must not be empty")
        async with self._sessions() as session:
            repository = IngestionRepository(session)
            if request.id:
                existing = await repository.get_source(check_chosen_id(request.id, SOURCE_PREFIX))
                if existing is not None:
                    return _source_reply(own(existing, organization_id, "source"))
            write_key = WRITE_KEY_PREFIX + secrets.token_urlsafe(24)
            row = Source(
                id=request.id or new_id(SOURCE_PREFIX),
                organization_id=organization_id,
                name=request.name,
                write_key_hash=hash_token(write_key),
            )
            created = await create_once(session, row, lambda chosen=row.id: repository.get_source(chosen))
            if created is not row:
                return _source_reply(own(created, organization_id, "source"))
        return _source_reply(row, write_key)

    async def ListSources(self, request: ingestion_pb2.ListSourcesRequest, context: Any) -> ingestion_pb2.ListSourcesResponse:
        organization_id = current_organization()
        after, size = page_bounds(request.page)
        async with self._sessions() as session:
            rows = await IngestionRepository(session).list_sources(organization_id, after, size)
        return ingestion_pb2.ListSourcesResponse(sources=[_source_reply(r) for r in rows], next_page_token=next_page_token(rows, size))

    async def CreateSubscription(self, request: ingestion_pb2.CreateSubscriptionRequest, context: Any) -> ingestion_pb2.Subscription:
        organization_id = current_organization()
        wanted = request.subscription
        if wanted.action not in _ACTIONS:
            raise InvalidIngestionRequest("subscription.action", "must be UPSERT_CONTACT or START_WORKFLOW")
        action = _ACTIONS[wanted.action]
        mappings = [{"name": m.name, "path": m.path, "type": m.type or "string"} for m in wanted.mappings]
        compile_rule(action, wanted.filter, mappings, wanted.directory_id, wanted.workflow_id)
        async with self._sessions() as session:
            repository = IngestionRepository(session)
            if wanted.id:
                existing = await repository.get_subscription(check_chosen_id(wanted.id, SUBSCRIPTION_PREFIX, "subscription.id"))
                if existing is not None:
                    return _subscription_reply(own(existing, organization_id, "subscription"))
            source = await repository.get_source(wanted.source_id)
            if source is None or source.organization_id != organization_id:
                raise SourceNotFound(wanted.source_id)
            if action == START_WORKFLOW:
                workflow = await repository.get_workflow(wanted.workflow_id)
                if workflow is None or workflow.organization_id != organization_id:
                    raise WorkflowNotFound(wanted.workflow_id)
            row = Subscription(
                id=wanted.id or new_id(SUBSCRIPTION_PREFIX),
                organization_id=organization_id,
                source_id=source.id,
                name=wanted.name,
                action=action,
                filter=wanted.filter.strip() or DEFAULT_FILTER,  # stored as applied, so a reader sees the default
                directory_id=wanted.directory_id if action == UPSERT_CONTACT else "",
                workflow_id=wanted.workflow_id if action == START_WORKFLOW else "",
                mappings=mappings,
                enabled=wanted.enabled,
            )
            created = await create_once(session, row, lambda chosen=row.id: repository.get_subscription(chosen))
            return _subscription_reply(own(created, organization_id, "subscription"))

    async def ListSubscriptions(
        self, request: ingestion_pb2.ListSubscriptionsRequest, context: Any
    ) -> ingestion_pb2.ListSubscriptionsResponse:
        organization_id = current_organization()
        after, size = page_bounds(request.page)
        async with self._sessions() as session:
            repository = IngestionRepository(session)
            source = await repository.get_source(request.source_id)
            if source is None or source.organization_id != organization_id:
                raise SourceNotFound(request.source_id)
            rows = await repository.list_subscriptions(organization_id, source.id, after, size)
        return ingestion_pb2.ListSubscriptionsResponse(
            subscriptions=[_subscription_reply(r) for r in rows], next_page_token=next_page_token(rows, size)
        )


def _source_reply(row: Source, write_key: str = "") -> ingestion_pb2.Source:
    return ingestion_pb2.Source(id=row.id, name=row.name, write_key=write_key, created_at=timestamp(row.created_at))


def _subscription_reply(row: Subscription) -> ingestion_pb2.Subscription:
    return ingestion_pb2.Subscription(
        id=row.id,
        source_id=row.source_id,
        name=row.name,
        action=_ACTION_ENUMS[row.action],
        filter=row.filter,
        directory_id=row.directory_id,
        workflow_id=row.workflow_id,
        mappings=[ingestion_pb2.FieldMapping(name=m["name"], path=m["path"], type=m["type"]) for m in row.mappings],
        enabled=row.enabled,
    )
