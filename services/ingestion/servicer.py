"""gRPC servicers of ingestion: map protobuf to domain calls and back; one session per call, committed here."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxflow.v1 import ingestion_pb2, ingestion_pb2_grpc
from services.common.auth import current_organization, hash_token, require_internal
from services.ingestion.automapping import propose_mappings
from services.ingestion.captures import read_capture, start_capture
from services.ingestion.errors import (
    CaptureNotFound,
    InvalidIngestionRequest,
    PayloadTooLarge,
    SourceNotFound,
    SubscriptionNotFound,
    WorkflowNotFound,
)
from services.ingestion.grpc_support import (
    create_once,
    next_page_token,
    own,
    page_bounds,
    struct_document,
    struct_message,
    timestamp,
)
from services.ingestion.ids import SOURCE_PREFIX, SUBSCRIPTION_PREFIX, check_chosen_id, new_id
from services.ingestion.intake import InboxWriter
from services.ingestion.membership import MembershipRouter, membership_event
from services.ingestion.models import CapturedEvent, Source, Subscription, TriggerCapture
from services.ingestion.processor import InboxProcessor
from services.ingestion.repository import IngestionRepository
from services.ingestion.segment_spec import MAX_BATCH_BYTES, MESSAGE_TYPES, batch_messages, single_message
from services.ingestion.subscriptions import START_WORKFLOW, UPSERT_CONTACT, UPSERT_TRANSACTION, compile_rule, default_filter

WRITE_KEY_PREFIX = "wk_"

_ACTIONS = {
    ingestion_pb2.SUBSCRIPTION_ACTION_UPSERT_CONTACT: UPSERT_CONTACT,
    ingestion_pb2.SUBSCRIPTION_ACTION_UPSERT_TRANSACTION: UPSERT_TRANSACTION,
    ingestion_pb2.SUBSCRIPTION_ACTION_START_WORKFLOW: START_WORKFLOW,
}
_ACTION_ENUMS = {name: enum for enum, name in _ACTIONS.items()}


class IngestionServicer(ingestion_pb2_grpc.IngestionServiceServicer):
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], writer: InboxWriter, processor: InboxProcessor, membership: MembershipRouter
    ) -> None:
        self._sessions = sessions
        self._writer = writer
        self._processor = processor
        self._membership = membership

    async def SendEvent(self, request: ingestion_pb2.SendEventRequest, context: Any) -> ingestion_pb2.SendEventResponse:
        organization_id = current_organization()
        message = struct_document(request.message, "message")
        message_type = message.get("type")
        if message_type not in MESSAGE_TYPES:
            raise InvalidIngestionRequest("message.type", f"must be one of {', '.join(MESSAGE_TYPES)}")
        received_at = datetime.now(UTC)
        normalized = single_message(message, message_type, received_at)
        source = await self._own_source(request.source_id, organization_id)
        [accepted] = await self._writer.accept(source, [normalized], received_at)
        self._processor.wake()
        return ingestion_pb2.SendEventResponse(message_id=accepted.message_id, duplicate=accepted.duplicate)

    async def SendBatch(self, request: ingestion_pb2.SendBatchRequest, context: Any) -> ingestion_pb2.SendBatchResponse:
        organization_id = current_organization()
        body: dict[str, Any] = {"batch": [struct_document(m, f"messages[{i}]") for i, m in enumerate(request.messages)]}
        for key in ("context", "integrations"):
            if request.HasField(key):
                body[key] = struct_document(getattr(request, key), key)
        received_at = datetime.now(UTC)
        if len(json.dumps(body, separators=(",", ":")).encode()) > MAX_BATCH_BYTES:
            raise PayloadTooLarge(f"a batch may be at most {MAX_BATCH_BYTES // 1024} KB")
        messages = batch_messages(body, received_at)
        source = await self._own_source(request.source_id, organization_id)
        accepted = await self._writer.accept(source, messages, received_at)
        self._processor.wake()
        return ingestion_pb2.SendBatchResponse(
            results=[ingestion_pb2.SendEventResponse(message_id=a.message_id, duplicate=a.duplicate) for a in accepted]
        )

    async def _own_source(self, source_id: str, organization_id: str) -> Source:
        async with self._sessions() as session:
            source = await IngestionRepository(session).get_source(source_id)
        if source is None or source.organization_id != organization_id:
            raise SourceNotFound(source_id)
        return source

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
            raise InvalidIngestionRequest("subscription.action", "must be UPSERT_CONTACT, UPSERT_TRANSACTION or START_WORKFLOW")
        action = _ACTIONS[wanted.action]
        mappings = _mapping_documents(wanted.mappings)
        compile_rule(action, wanted.filter, mappings, wanted.directory_id, wanted.workflow_id, wanted.mailing_list_id)
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
                filter=wanted.filter.strip() or default_filter(action),  # stored as applied, so a reader sees the default
                directory_id=wanted.directory_id if action != START_WORKFLOW else "",
                workflow_id=wanted.workflow_id if action == START_WORKFLOW else "",
                mailing_list_id=wanted.mailing_list_id if action == UPSERT_TRANSACTION else "",
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

    async def GetSubscription(self, request: ingestion_pb2.GetSubscriptionRequest, context: Any) -> ingestion_pb2.Subscription:
        organization_id = current_organization()
        async with self._sessions() as session:
            row = await IngestionRepository(session).get_subscription(request.subscription_id)
        if row is None or row.organization_id != organization_id:
            raise SubscriptionNotFound(request.subscription_id)
        return _subscription_reply(row)

    async def UpdateSubscription(self, request: ingestion_pb2.UpdateSubscriptionRequest, context: Any) -> ingestion_pb2.Subscription:
        organization_id = current_organization()
        wanted = request.subscription
        mappings = _mapping_documents(wanted.mappings)
        async with self._sessions() as session:
            repository = IngestionRepository(session)
            row = await repository.get_subscription(wanted.id)
            if row is None or row.organization_id != organization_id:
                raise SubscriptionNotFound(wanted.id)
            filter_text = wanted.filter.strip() or default_filter(row.action)
            compile_rule(row.action, filter_text, mappings, row.directory_id, row.workflow_id, row.mailing_list_id)
            row.name, row.filter, row.mappings, row.enabled = wanted.name or row.name, filter_text, mappings, wanted.enabled
            await session.commit()
            return _subscription_reply(row)

    async def DeleteSubscription(
        self, request: ingestion_pb2.DeleteSubscriptionRequest, context: Any
    ) -> ingestion_pb2.DeleteSubscriptionResponse:
        organization_id = current_organization()
        async with self._sessions() as session:
            repository = IngestionRepository(session)
            row = await repository.get_subscription(request.subscription_id)
            if row is None or row.organization_id != organization_id:
                raise SubscriptionNotFound(request.subscription_id)
            await repository.delete_subscription(row.id)
            await session.commit()
        return ingestion_pb2.DeleteSubscriptionResponse()

    async def StartTriggerCapture(self, request: ingestion_pb2.StartTriggerCaptureRequest, context: Any) -> ingestion_pb2.TriggerCapture:
        organization_id = current_organization()
        if request.count < 0:
            raise InvalidIngestionRequest("count", "must not be negative")
        async with self._sessions() as session:
            workflow = await IngestionRepository(session).get_workflow(request.workflow_id)
            if workflow is None or workflow.organization_id != organization_id:
                raise WorkflowNotFound(request.workflow_id)
            capture = await start_capture(session, workflow.id, organization_id, request.count)
            return _capture_reply(capture, [])

    async def GetTriggerCapture(self, request: ingestion_pb2.GetTriggerCaptureRequest, context: Any) -> ingestion_pb2.TriggerCapture:
        organization_id = current_organization()
        async with self._sessions() as session:
            workflow = await IngestionRepository(session).get_workflow(request.workflow_id)
            if workflow is None or workflow.organization_id != organization_id:
                raise WorkflowNotFound(request.workflow_id)
            capture, events = await read_capture(session, workflow.id, organization_id)
        if capture is None:
            raise CaptureNotFound(workflow.id)
        return _capture_reply(capture, events)

    async def ProposeMappings(self, request: ingestion_pb2.ProposeMappingsRequest, context: Any) -> ingestion_pb2.ProposeMappingsResponse:
        current_organization()  # any organization may ask; nothing of theirs is read
        proposals = propose_mappings(struct_document(request.sample, "sample"))
        return ingestion_pb2.ProposeMappingsResponse(mappings=[ingestion_pb2.FieldMapping(**p) for p in proposals])

    async def PublishMembershipEvent(
        self, request: ingestion_pb2.PublishMembershipEventRequest, context: Any
    ) -> ingestion_pb2.PublishMembershipEventResponse:
        require_internal()  # only the directory (its internal token) publishes membership changes, never an API token
        organization_id = current_organization()
        outcome = await self._membership.publish(organization_id, membership_event(request.event))
        return ingestion_pb2.PublishMembershipEventResponse(duplicate=outcome.duplicate, started_workflow_ids=outcome.started_workflow_ids)


def _mapping_documents(mappings: Any) -> list[dict[str, Any]]:
    """Mappings as stored: {name, path, type}, or {name, value, type} for a mapping-kit value."""
    documents = []
    for mapping in mappings:
        document: dict[str, Any] = {"name": mapping.name, "path": mapping.path, "type": mapping.type or "string"}
        if mapping.HasField("value"):
            try:
                document["value"] = json_format.MessageToDict(mapping.value)
            except ValueError:
                raise InvalidIngestionRequest(f"mappings[{len(documents)}].value", "numbers must be finite") from None
            if not mapping.path:
                del document["path"]
        documents.append(document)
    return documents


def _capture_reply(capture: TriggerCapture, events: list[CapturedEvent]) -> ingestion_pb2.TriggerCapture:
    return ingestion_pb2.TriggerCapture(
        workflow_id=capture.workflow_id,
        requested=capture.requested,
        remaining=capture.remaining,
        started_at=timestamp(capture.started_at),
        events=[
            ingestion_pb2.CapturedEvent(event_id=e.event_id, via=e.via, payload=struct_message(e.payload), received_at=timestamp(e.received_at))
            for e in events
        ],
    )


def _source_reply(row: Source, write_key: str = "") -> ingestion_pb2.Source:
    return ingestion_pb2.Source(id=row.id, name=row.name, write_key=write_key, created_at=timestamp(row.created_at))


def _mapping_reply(document: dict[str, Any]) -> ingestion_pb2.FieldMapping:
    mapping = ingestion_pb2.FieldMapping(name=document["name"], path=document.get("path", ""), type=document["type"])
    if "value" in document:
        json_format.ParseDict(document["value"], mapping.value)
    return mapping


def _subscription_reply(row: Subscription) -> ingestion_pb2.Subscription:
    return ingestion_pb2.Subscription(
        id=row.id,
        source_id=row.source_id,
        name=row.name,
        action=_ACTION_ENUMS[row.action],
        filter=row.filter,
        directory_id=row.directory_id,
        workflow_id=row.workflow_id,
        mailing_list_id=row.mailing_list_id,
        mappings=[_mapping_reply(m) for m in row.mappings],
        enabled=row.enabled,
    )
