"""WorkflowService: the organization's workflow definitions (create, get, list), served by the ingestion process."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from google.protobuf import json_format, struct_pb2
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxflow.v1 import ingestion_pb2, ingestion_pb2_grpc
from services.common.auth import current_organization
from services.ingestion.definitions import parse_definition
from services.ingestion.errors import WorkflowNotFound
from services.ingestion.grpc_support import create_once, next_page_token, own, page_bounds, timestamp
from services.ingestion.ids import WORKFLOW_PREFIX, check_chosen_id, new_id
from services.ingestion.models import Workflow
from services.ingestion.repository import IngestionRepository


class WorkflowServicer(ingestion_pb2_grpc.WorkflowServiceServicer):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], public_url: str) -> None:
        self._sessions = sessions
        self._public_url = public_url.rstrip("/")

    async def CreateWorkflow(self, request: ingestion_pb2.CreateWorkflowRequest, context: Any) -> ingestion_pb2.Workflow:
        organization_id = current_organization()
        spec = json_format.MessageToDict(request.spec)
        definition = parse_definition(spec)
        async with self._sessions() as session:
            repository = IngestionRepository(session)
            if request.id:
                existing = await repository.get_workflow(check_chosen_id(request.id, WORKFLOW_PREFIX))
                if existing is not None:
                    return self._reply(own(existing, organization_id, "workflow"))
            now = datetime.now(timezone.utc)
            row = Workflow(
                id=request.id or new_id(WORKFLOW_PREFIX),
                organization_id=organization_id,
                name=definition.name,
                enabled=definition.enabled,
                version=1,
                spec=spec,
                created_at=now,
                updated_at=now,
            )
            created = await create_once(session, row, lambda chosen=row.id: repository.get_workflow(chosen))
            return self._reply(own(created, organization_id, "workflow"))

    async def GetWorkflow(self, request: ingestion_pb2.GetWorkflowRequest, context: Any) -> ingestion_pb2.Workflow:
        organization_id = current_organization()
        async with self._sessions() as session:
            row = await IngestionRepository(session).get_workflow(request.workflow_id)
        if row is None or row.organization_id != organization_id:
            raise WorkflowNotFound(request.workflow_id)
        return self._reply(row)

    async def ListWorkflows(self, request: ingestion_pb2.ListWorkflowsRequest, context: Any) -> ingestion_pb2.ListWorkflowsResponse:
        organization_id = current_organization()
        after, size = page_bounds(request.page)
        async with self._sessions() as session:
            rows = await IngestionRepository(session).list_workflows(organization_id, after, size)
        return ingestion_pb2.ListWorkflowsResponse(workflows=[self._reply(r) for r in rows], next_page_token=next_page_token(rows, size))

    def _reply(self, row: Workflow) -> ingestion_pb2.Workflow:
        spec = struct_pb2.Struct()
        spec.update(row.spec)
        return ingestion_pb2.Workflow(
            id=row.id,
            name=row.name,
            enabled=row.enabled,
            version=row.version,
            spec=spec,
            trigger_url=f"{self._public_url}/triggers/{row.id}",
            created_at=timestamp(row.created_at),
            updated_at=timestamp(row.updated_at),
        )
