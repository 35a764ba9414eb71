"""The scheduled segment refresh: SegmentRefreshWorkflow, its activity (a thin gRPC client of the directory that
refreshes every organization's segments) and the Temporal schedule that starts it every interval."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import grpc
    import structlog
    from temporalio.client import (
        Client,
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleAlreadyRunningError,
        ScheduleIntervalSpec,
        ScheduleOverlapPolicy,
        SchedulePolicy,
        ScheduleSpec,
        ScheduleUpdate,
        ScheduleUpdateInput,
    )

    from cxflow.v1 import common_pb2, directory_pb2, directory_pb2_grpc
    from services.common.auth import internal_metadata
    from workflows.activities.grpc_errors import NON_RETRYABLE_ERROR_TYPES, application_error_from_rpc

log = structlog.get_logger(__name__)

SCHEDULE_ID = "cxflow-segment-refresh"
WORKFLOW_ID = "cxflow-segment-refresh"
# One organization's refresh is one call; a large directory may take minutes, so the activity heartbeats per
# organization and the call itself gets a generous deadline.
REFRESH_CALL_TIMEOUT_SECONDS = 30 * 60.0
ORGANIZATIONS_PAGE_SIZE = 200


@dataclass(frozen=True)
class SegmentRefreshInput:
    """Nothing to choose yet: a run refreshes every organization. A dataclass so fields can be added later."""


@dataclass(frozen=True)
class RefreshAllSegmentsInput:
    """The activity's input (same shape: every organization)."""


@dataclass(frozen=True)
class SegmentRefreshResult:
    organizations: int = 0
    segments: int = 0
    added: int = 0
    removed: int = 0


@dataclass(frozen=True)
class _Progress:
    """Heartbeat details: where a retried attempt resumes (the organizations before it are done)."""

    page_token: str
    done_in_page: int
    result: SegmentRefreshResult


class SegmentRefreshActivities:
    def __init__(
        self,
        organizations: directory_pb2_grpc.OrganizationServiceStub,
        directories: directory_pb2_grpc.DirectoryServiceStub,
        internal_token: str,
    ) -> None:
        self._organizations = organizations
        self._directories = directories
        self._internal_token = internal_token

    @activity.defn(name="refresh_all_segments")
    async def refresh_all_segments(self, input: RefreshAllSegmentsInput) -> SegmentRefreshResult:
        """RefreshSegments for each organization in turn; idempotent (a refresh of a fresh state changes nothing)."""
        progress = _Progress("", 0, SegmentRefreshResult())
        details = activity.info().heartbeat_details
        if details:
            progress = activity.payload_converter().from_payload(details[0], _Progress)  # type: ignore[arg-type]
        page_token, skip, total = progress.page_token, progress.done_in_page, progress.result
        while True:
            try:
                page = await self._organizations.ListOrganizations(
                    directory_pb2.ListOrganizationsRequest(
                        page=common_pb2.PageRequest(page_size=ORGANIZATIONS_PAGE_SIZE, page_token=page_token)
                    ),
                    metadata=internal_metadata(self._internal_token),
                    timeout=30,
                )
            except grpc.aio.AioRpcError as exc:
                raise application_error_from_rpc(exc, call="ListOrganizations") from exc
            for index, organization in enumerate(page.organizations):
                if index < skip:
                    continue
                try:
                    refreshed = await self._directories.RefreshSegments(
                        directory_pb2.RefreshSegmentsRequest(),
                        metadata=internal_metadata(self._internal_token, organization.id),
                        timeout=REFRESH_CALL_TIMEOUT_SECONDS,
                    )
                except grpc.aio.AioRpcError as exc:
                    raise application_error_from_rpc(exc, call="RefreshSegments") from exc
                total = SegmentRefreshResult(
                    organizations=total.organizations + 1,
                    segments=total.segments + refreshed.segments,
                    added=total.added + refreshed.added,
                    removed=total.removed + refreshed.removed,
                )
                activity.heartbeat(_Progress(page_token, index + 1, total))
            if not page.next_page_token:
                break
            page_token, skip = page.next_page_token, 0
            activity.heartbeat(_Progress(page_token, 0, total))
        log.info("workflows.segments_refreshed", organizations=total.organizations, segments=total.segments,
                 added=total.added, removed=total.removed)  # fmt: skip
        return total


@workflow.defn(name="SegmentRefresh")
class SegmentRefreshWorkflow:
    @workflow.run
    async def run(self, input: SegmentRefreshInput) -> SegmentRefreshResult:
        return await workflow.execute_activity_method(
            SegmentRefreshActivities.refresh_all_segments,
            RefreshAllSegmentsInput(),
            start_to_close_timeout=timedelta(hours=2),
            heartbeat_timeout=timedelta(minutes=35),  # beyond one organization's RefreshSegments deadline
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=5),
                maximum_interval=timedelta(minutes=5),
                maximum_attempts=5,
                non_retryable_error_types=list(NON_RETRYABLE_ERROR_TYPES),
            ),
        )


def _schedule(task_queue: str, interval: timedelta) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            SegmentRefreshWorkflow.run, SegmentRefreshInput(), id=WORKFLOW_ID, task_queue=task_queue
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=interval)]),
        # A refresh still running when the next is due makes the next one pointless.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_segment_refresh_schedule(client: Client, task_queue: str, interval: timedelta) -> None:
    """Creates the schedule, or brings an existing one to this task queue and interval (safe on every worker start)."""
    wanted = _schedule(task_queue, interval)
    try:
        await client.create_schedule(SCHEDULE_ID, wanted)
        log.info("workflows.segment_refresh_scheduled", every_seconds=interval.total_seconds(), task_queue=task_queue)
        return
    except ScheduleAlreadyRunningError:
        pass

    def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=wanted)

    await client.get_schedule_handle(SCHEDULE_ID).update(update)
    log.info("workflows.segment_refresh_schedule_updated", every_seconds=interval.total_seconds(), task_queue=task_queue)
