"""WorkflowService: the organization's workflow definitions and their versions, runs, retries and dry runs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowFailureError

from cxflow.v1 import ingestion_pb2, ingestion_pb2_grpc
from services.common.auth import current_organization
from services.common.errors import FailedPrecondition, InvalidArgument, Unavailable
from services.ingestion.definitions import SEGMENT_MEMBERSHIP_TRIGGER, parse_definition
from services.ingestion.errors import WorkflowNotFound
from services.ingestion.grpc_support import (
    create_once,
    next_page_token,
    own,
    page_bounds,
    struct_document,
    struct_message,
    timestamp,
)
from services.ingestion.ids import WORKFLOW_PREFIX, check_chosen_id, new_id
from services.ingestion.launcher import json_event_run_input
from services.ingestion.models import Workflow, WorkflowVersion
from services.ingestion.repository import IngestionRepository
from services.ingestion.run_history import RunHistory, RunRecord, check_query_value, mask_secrets
from workflows.contracts import DRY_RUN_WORKFLOW, ContactRef, DryRunResult, TriggeredRunInput, WorkflowSnapshot

DRY_RUN_TIMEOUT = timedelta(seconds=30)

_RUN_STATUS = {
    "running": ingestion_pb2.RUN_STATUS_RUNNING,
    "completed": ingestion_pb2.RUN_STATUS_COMPLETED,
    "failed": ingestion_pb2.RUN_STATUS_FAILED,
    "canceled": ingestion_pb2.RUN_STATUS_CANCELED,
    "terminated": ingestion_pb2.RUN_STATUS_TERMINATED,
    "timed_out": ingestion_pb2.RUN_STATUS_TIMED_OUT,
}
# RunStatus -> Temporal's ExecutionStatus name in visibility queries.
_VISIBILITY_STATUS = {
    ingestion_pb2.RUN_STATUS_RUNNING: "Running",
    ingestion_pb2.RUN_STATUS_COMPLETED: "Completed",
    ingestion_pb2.RUN_STATUS_FAILED: "Failed",
    ingestion_pb2.RUN_STATUS_CANCELED: "Canceled",
    ingestion_pb2.RUN_STATUS_TERMINATED: "Terminated",
    ingestion_pb2.RUN_STATUS_TIMED_OUT: "TimedOut",
}
_MEMBERSHIP_CHANGE_NAMES = ("ADDED", "REMOVED", "OPTED_IN", "OPTED_OUT")


class VersionConflict(FailedPrecondition):
    code = "version_conflict"


def snapshot(row: Workflow) -> WorkflowSnapshot:
    return WorkflowSnapshot(workflow_id=row.id, version=row.version, name=row.name, spec=row.spec)


class WorkflowServicer(ingestion_pb2_grpc.WorkflowServiceServicer):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        public_url: str,
        temporal_client: Client | None = None,
        task_queue: str = "",
    ) -> None:
        self._sessions = sessions
        self._public_url = public_url.rstrip("/")
        self._temporal = temporal_client
        self._task_queue = task_queue
        self._runs = RunHistory(temporal_client, task_queue) if temporal_client is not None else None

    # -- definitions

    async def CreateWorkflow(self, request: ingestion_pb2.CreateWorkflowRequest, context: Any) -> ingestion_pb2.Workflow:
        organization_id = current_organization()
        spec = struct_document(request.spec, "spec")
        definition = parse_definition(spec)
        async with self._sessions() as session:
            repository = IngestionRepository(session)
            if request.id:
                existing = await repository.get_workflow(check_chosen_id(request.id, WORKFLOW_PREFIX))
                if existing is not None:
                    return self._reply(own(existing, organization_id, "workflow"))
            now = datetime.now(UTC)
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
            created = own(created, organization_id, "workflow")
            if created is row:
                session.add(WorkflowVersion(workflow_id=row.id, version=1, name=row.name, spec=spec, created_at=now))
                await session.commit()
            return self._reply(created)

    async def GetWorkflow(self, request: ingestion_pb2.GetWorkflowRequest, context: Any) -> ingestion_pb2.Workflow:
        organization_id = current_organization()
        async with self._sessions() as session:
            row = await self._own_workflow(session, organization_id, request.workflow_id)
            if request.version and request.version != row.version:
                version = await session.get(WorkflowVersion, (row.id, request.version))
                if version is None:
                    raise InvalidArgument(f"version: workflow {row.id} has no version {request.version}", field="version")
                reply = self._reply(row)
                reply.version, reply.name = version.version, version.name
                reply.spec.Clear()
                reply.spec.update(version.spec)
                return reply
        return self._reply(row)

    async def ListWorkflows(self, request: ingestion_pb2.ListWorkflowsRequest, context: Any) -> ingestion_pb2.ListWorkflowsResponse:
        organization_id = current_organization()
        after, size = page_bounds(request.page)
        async with self._sessions() as session:
            rows = await IngestionRepository(session).list_workflows(organization_id, after, size)
        return ingestion_pb2.ListWorkflowsResponse(workflows=[self._reply(r) for r in rows], next_page_token=next_page_token(rows, size))

    async def UpdateWorkflow(self, request: ingestion_pb2.UpdateWorkflowRequest, context: Any) -> ingestion_pb2.Workflow:
        organization_id = current_organization()
        spec = struct_document(request.spec, "spec")
        definition = parse_definition(spec)
        async with self._sessions() as session:
            row = await self._own_workflow(session, organization_id, request.workflow_id, for_update=True)
            if request.expected_version and request.expected_version != row.version:
                raise VersionConflict(
                    f"workflow {row.id} is at version {row.version}, not {request.expected_version}", field="expected_version"
                )
            now = datetime.now(UTC)
            row.version += 1
            row.name, row.spec, row.enabled, row.updated_at = definition.name, spec, definition.enabled, now
            # The (workflow, version) primary key makes a concurrent update of the same version fail here.
            session.add(WorkflowVersion(workflow_id=row.id, version=row.version, name=row.name, spec=spec, created_at=now))
            await session.commit()
            return self._reply(row)

    async def EnableWorkflow(self, request: ingestion_pb2.EnableWorkflowRequest, context: Any) -> ingestion_pb2.Workflow:
        return await self._set_enabled(request.workflow_id, True)

    async def DisableWorkflow(self, request: ingestion_pb2.DisableWorkflowRequest, context: Any) -> ingestion_pb2.Workflow:
        return await self._set_enabled(request.workflow_id, False)

    async def _set_enabled(self, workflow_id: str, enabled: bool) -> ingestion_pb2.Workflow:
        organization_id = current_organization()
        async with self._sessions() as session:
            row = await self._own_workflow(session, organization_id, workflow_id, for_update=True)
            # The trigger reads "enabled" from the spec, so both say the same; no new version.
            row.enabled = enabled
            row.spec = {**row.spec, "enabled": enabled}
            row.updated_at = datetime.now(UTC)
            await session.commit()
            return self._reply(row)

    async def DeleteWorkflow(self, request: ingestion_pb2.DeleteWorkflowRequest, context: Any) -> ingestion_pb2.DeleteWorkflowResponse:
        organization_id = current_organization()
        async with self._sessions() as session:
            row = await self._own_workflow(session, organization_id, request.workflow_id)
            await session.execute(delete(WorkflowVersion).where(WorkflowVersion.workflow_id == row.id))
            # The id may be chosen again, by any organization: nothing captured for this workflow may outlive it.
            await IngestionRepository(session).delete_capture(row.id)
            await session.delete(row)
            await session.commit()
        return ingestion_pb2.DeleteWorkflowResponse()

    async def ListWorkflowVersions(
        self, request: ingestion_pb2.ListWorkflowVersionsRequest, context: Any
    ) -> ingestion_pb2.ListWorkflowVersionsResponse:
        organization_id = current_organization()
        async with self._sessions() as session:
            row = await self._own_workflow(session, organization_id, request.workflow_id)
            query = select(WorkflowVersion).where(WorkflowVersion.workflow_id == row.id).order_by(WorkflowVersion.version.desc())
            versions = (await session.execute(query)).scalars().all()
        return ingestion_pb2.ListWorkflowVersionsResponse(
            versions=[
                ingestion_pb2.WorkflowVersion(
                    version=v.version, name=v.name, spec=struct_message(v.spec), created_at=timestamp(v.created_at)
                )
                for v in versions
            ]
        )

    async def _own_workflow(self, session: AsyncSession, organization_id: str, workflow_id: str, *, for_update: bool = False) -> Workflow:
        if for_update:
            row = (await session.execute(select(Workflow).where(Workflow.id == workflow_id).with_for_update())).scalar_one_or_none()
        else:
            row = await IngestionRepository(session).get_workflow(workflow_id)
        if row is None or row.organization_id != organization_id:
            raise WorkflowNotFound(workflow_id)  # another organization's workflow is as unknown as a missing one
        return row

    def _reply(self, row: Workflow) -> ingestion_pb2.Workflow:
        return ingestion_pb2.Workflow(
            id=row.id,
            name=row.name,
            enabled=row.enabled,
            version=row.version,
            spec=struct_message(row.spec),
            trigger_url=f"{self._public_url}/triggers/{row.id}",
            created_at=timestamp(row.created_at),
            updated_at=timestamp(row.updated_at),
        )

    # -- runs

    def _history(self) -> RunHistory:
        if self._runs is None:
            raise Unavailable("this ingestion process has no Temporal client; runs cannot be read")
        return self._runs

    async def ListRuns(self, request: ingestion_pb2.ListRunsRequest, context: Any) -> ingestion_pb2.ListRunsResponse:
        organization_id = current_organization()
        _after, size = page_bounds(request.page)
        runs, token = await self._history().list_runs(
            organization_id,
            workflow_id=request.workflow_id,
            contact_id=request.contact_id,
            status=_VISIBILITY_STATUS.get(request.status, ""),
            page_size=size,
            page_token=request.page.page_token,
        )
        return ingestion_pb2.ListRunsResponse(runs=[_run_reply(run) for run in runs], next_page_token=token)

    async def GetRun(self, request: ingestion_pb2.GetRunRequest, context: Any) -> ingestion_pb2.Run:
        organization_id = current_organization()
        return _run_reply(await self._history().get_run(organization_id, request.run_id), detailed=True)

    async def RetryRun(self, request: ingestion_pb2.RetryRunRequest, context: Any) -> ingestion_pb2.RetryRunResponse:
        organization_id = current_organization()
        history = self._history()
        record = await history.get_run(organization_id, request.run_id)
        async with self._sessions() as session:
            row = await IngestionRepository(session).get_workflow(record.workflow_id)
        if row is None or row.organization_id != organization_id:
            raise FailedPrecondition(f"workflow {record.workflow_id} of run {request.run_id} no longer exists", field="run_id")
        new_run_id = await history.retry_run(organization_id, request.run_id, snapshot(row))
        return ingestion_pb2.RetryRunResponse(run_id=new_run_id, workflow_version=row.version)

    async def CancelRun(self, request: ingestion_pb2.CancelRunRequest, context: Any) -> ingestion_pb2.CancelRunResponse:
        await self._history().cancel_run(current_organization(), request.run_id)
        return ingestion_pb2.CancelRunResponse()

    # -- dry run

    async def DryRun(self, request: ingestion_pb2.DryRunRequest, context: Any) -> ingestion_pb2.DryRunResponse:
        organization_id = current_organization()
        if request.workflow_id and request.HasField("spec"):
            raise InvalidArgument("spec: give a workflow_id or a spec, not both", field="spec")
        if request.workflow_id:
            async with self._sessions() as session:
                workflow = snapshot(await self._own_workflow(session, organization_id, request.workflow_id))
        elif request.HasField("spec"):
            spec = struct_document(request.spec, "spec")
            definition = parse_definition(spec)
            workflow = WorkflowSnapshot(workflow_id="WF_dryrun", version=0, name=definition.name, spec=spec)
        else:
            raise InvalidArgument("workflow_id: give a workflow_id or a spec", field="workflow_id")
        event = struct_document(request.event, "event")
        run_input = _dry_run_input(organization_id, workflow, event)
        if run_input is None:
            return ingestion_pb2.DryRunResponse(matched=False, outcome="not_triggered")
        if self._temporal is None:
            raise Unavailable("this ingestion process has no Temporal client; dry runs run on the worker")
        try:
            result: DryRunResult = await self._temporal.execute_workflow(
                DRY_RUN_WORKFLOW,
                run_input,
                id=f"dryrun-{uuid.uuid4()}",
                task_queue=self._task_queue,
                execution_timeout=DRY_RUN_TIMEOUT,
                result_type=DryRunResult,
            )
        except WorkflowFailureError as exc:
            raise Unavailable(f"the dry run could not finish: {exc.cause or exc}") from None
        return ingestion_pb2.DryRunResponse(
            matched=True,
            contact_status=result.contact_status,
            contact=struct_message(result.contact),
            conditions_met=result.conditions_met,
            condition_explanation=result.condition_explanation,
            tasks=[
                ingestion_pb2.DryRunTask(
                    index=task.index, type=task.type, outcome=task.outcome, input=struct_message(mask_secrets(task.input)), error=task.error
                )
                for task in result.tasks
            ],
            warnings=result.warnings,
            fields=struct_message(run_input.fields),
            outcome=result.outcome,
        )


def _dry_run_input(organization_id: str, workflow: WorkflowSnapshot, event: dict[str, Any]) -> TriggeredRunInput | None:
    """The input a real trigger would give the run, or None when the trigger would not fire for event."""
    definition = parse_definition(workflow.spec)
    event_id = str(event.get("messageId") or event.get("eventId") or "dry-run")
    if definition.trigger_type != SEGMENT_MEMBERSHIP_TRIGGER:
        return json_event_run_input(organization_id, workflow, event, event_id)
    change = str(event.get("change", "")).upper()
    if change and change not in _MEMBERSHIP_CHANGE_NAMES:
        raise InvalidArgument(f"event.change: must be one of {', '.join(_MEMBERSHIP_CHANGE_NAMES)}", field="event.change")
    if event.get("segmentId") != definition.segment_id or (change or "ADDED") not in definition.membership_changes:
        return None
    contact_id = check_query_value(str(event.get("contactId", "")), "event.contactId")
    directory_id = check_query_value(str(event.get("directoryId", "")), "event.directoryId")
    return TriggeredRunInput(
        organization_id=organization_id,
        workflow=workflow,
        event_id=event_id,
        trigger=SEGMENT_MEMBERSHIP_TRIGGER,
        event={"type": "segment_membership", **event},
        fields={},
        contact=ContactRef(directory_id=directory_id, contact_id=contact_id),
    )


def _run_reply(run: RunRecord, *, detailed: bool = False) -> ingestion_pb2.Run:
    reply = ingestion_pb2.Run(
        run_id=run.run_id,
        temporal_run_id=run.temporal_run_id,
        workflow_id=run.workflow_id,
        workflow_version=run.workflow_version,
        contact_id=run.contact_id,
        trigger=run.trigger,
        status=_RUN_STATUS.get(run.status, ingestion_pb2.RUN_STATUS_UNSPECIFIED),
        outcome=run.outcome,
        summary=run.summary,
        event_id=run.event_id,
        error=run.error,
    )
    if run.started_at:
        reply.started_at.CopyFrom(timestamp(run.started_at))
    if run.closed_at:
        reply.closed_at.CopyFrom(timestamp(run.closed_at))
    if detailed:
        reply.warnings.extend(run.warnings)
        reply.event.update(mask_secrets(run.event))
        for step in run.steps:
            reply.steps.append(
                ingestion_pb2.RunStep(
                    index=step.index,
                    name=step.name,
                    activity=step.activity,
                    status=step.status,
                    attempts=step.attempts,
                    error=step.error,
                    input=struct_message(step.input),
                    output=struct_message(step.output),
                )
            )
    return reply
