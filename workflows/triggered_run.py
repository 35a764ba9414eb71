"""The TriggeredRun workflow: one durable run of a workflow definition for one event.

Steps: load the contact, evaluate the conditions, check the frequency cap, run the tasks in order (each an
activity with the workflow's retry setting), email the owners when a task failed for good.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.activities.directory import (
        AMBIGUOUS_CONTACT,
        CONTACT_NOT_FOUND,
        ContactDetails,
        DirectoryActivities,
        LoadContactInput,
    )
    from workflows.activities.grpc_errors import NON_RETRYABLE_ERROR_TYPES
    from workflows.activities.notification import NotificationActivities, SendEmailInput
    from workflows.activities.runs import CountRecentRunsInput, RunActivities
    from workflows.conditions import evaluate
    from workflows.contracts import (
        DEFAULT_ON_FAILURE,
        DEFAULT_RETRY_SETTING,
        DRY_RUN_WORKFLOW,
        SEARCH_ATTRIBUTE_CONTACT_ID,
        TRIGGERED_RUN_WORKFLOW,
        DryRunResult,
        DryRunTask,
        TaskOutcome,
        TriggeredRunInput,
        TriggeredRunResult,
        period_seconds,
    )
    from workflows.task_plans import RunIdentity, TaskNotPossible, plan_task, task_output, template_context

CONTACT_ID_ATTRIBUTE = SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_CONTACT_ID)
TASK_FAILED = "TaskFailed"

# Loading the contact is retried like a task: no attempt cap, bounded by the run's task retry window, so a
# directory outage shorter than the window delays the run instead of failing it. Only "no such contact" is final.
LOAD_CONTACT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=[CONTACT_NOT_FOUND, AMBIGUOUS_CONTACT],
)
# Past this backoff the worker asks the server for a timer instead of sleeping inside the workflow task.
LOAD_CONTACT_LOCAL_RETRY_THRESHOLD = timedelta(minutes=1)
COUNT_RUNS_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10), maximum_attempts=20)


@dataclass(frozen=True)
class TaskRetry:
    """How a task is retried: only retryable errors (429, 5xx, timeouts, connection errors) are, with
    exponential backoff, until the window closes."""

    policy: RetryPolicy
    window: timedelta  # schedule-to-close: the whole time a task may take, retries included


# Qualtrics' choices: retry for up to 24 hours (default), up to 15 minutes, or not at all.
TASK_RETRIES: dict[str, TaskRetry] = {
    "24h": TaskRetry(
        RetryPolicy(
            initial_interval=timedelta(seconds=1),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(minutes=10),
            non_retryable_error_types=list(NON_RETRYABLE_ERROR_TYPES),
        ),
        timedelta(hours=24),
    ),
    "15m": TaskRetry(
        RetryPolicy(
            initial_interval=timedelta(seconds=1),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(minutes=2),
            non_retryable_error_types=list(NON_RETRYABLE_ERROR_TYPES),
        ),
        timedelta(minutes=15),
    ),
    "none": TaskRetry(RetryPolicy(maximum_attempts=1), timedelta(minutes=2)),
}


@dataclass(frozen=True)
class RunProgress:
    """What the `progress` query answers: where the run is and what the finished steps did."""

    step: str  # starting | load_contact | conditions | frequency_cap | task <n> | failure_notice | done
    contact: str = ""  # "" (not yet) | loaded | not_found | not_requested
    contact_id: str = ""
    tasks: list[TaskOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cancel_requested: bool = False


@workflow.defn(name=TRIGGERED_RUN_WORKFLOW)
class TriggeredRunWorkflow:
    def __init__(self) -> None:
        self._step = "starting"
        self._contact_status = ""
        self._contact_id = ""
        self._tasks: list[TaskOutcome] = []
        self._warnings: list[str] = []
        self._cancel_requested = False

    @workflow.query(name="progress")
    def progress(self) -> RunProgress:
        return RunProgress(
            step=self._step,
            contact=self._contact_status,
            contact_id=self._contact_id,
            tasks=list(self._tasks),
            warnings=list(self._warnings),
            cancel_requested=self._cancel_requested,
        )

    @workflow.run
    async def run(self, input: TriggeredRunInput) -> TriggeredRunResult:
        spec = input.workflow.spec
        run_id = workflow.info().workflow_id
        contact: ContactDetails | None = None
        capped = bool(spec.get("frequencyCap"))
        if input.contact is None:
            self._contact_status = "not_requested"
        elif not spec.get("loadContact", True):
            self._contact_status = "not_requested"
            self._contact_id = input.contact.contact_id
        else:
            self._step = "load_contact"
            contact, missing = await load_contact(input)
            if contact is None:
                self._contact_status = "not_found"
                self._step = "done"
                return TriggeredRunResult(status="contact_not_found", warnings=[missing])
            self._contact_status = "loaded"
            self._contact_id = contact.id
        if not capped:
            self._mark_contact()

        context = template_context(input, contact.as_template_context() if contact else {}, run_id)
        self._step = "conditions"
        conditions = evaluate(spec.get("conditions"), context)
        if not conditions.met:
            self._step = "done"
            return TriggeredRunResult(
                status="conditions_not_met", contact_id=self._contact_id, warnings=list(conditions.explanation)
            )
        if capped and self._contact_id:
            self._step = "frequency_cap"
            if await self._over_frequency_cap(input, spec["frequencyCap"]):
                self._step = "done"
                return TriggeredRunResult(status="frequency_capped", contact_id=self._contact_id)
            self._mark_contact()

        identity = RunIdentity(
            organization_id=input.organization_id,
            run_id=run_id,
            contact_id=self._contact_id,
            directory_id=input.contact.directory_id if input.contact else "",
        )
        retry = task_retry(spec)
        stop_on_failure = spec.get("onFailure", DEFAULT_ON_FAILURE) == "stop"
        stopped = False
        for index, task in enumerate(spec.get("tasks", [])):
            if self._cancel_requested:
                break
            self._step = f"task {index}"
            outcome = await self._run_task_to_the_end(identity, index, task, context, retry)
            self._tasks.append(outcome)
            context["tasks"].append(outcome.output)
            if outcome.status == "failed" and stop_on_failure:
                stopped = True
                break

        failed = [outcome for outcome in self._tasks if outcome.status == "failed"]
        if failed and _notify_owners(spec):
            self._step = "failure_notice"
            await self._send_failure_notice(input, run_id, failed, stopped)
        self._step = "done"
        if self._cancel_requested:
            # The task in progress finished; the rest are not run. The run ends as canceled.
            raise asyncio.CancelledError("run canceled between tasks")
        if stopped:
            raise ApplicationError(
                f"task {failed[-1].index} ({failed[-1].type}) failed and the workflow stops on failure: {failed[-1].error}",
                type=TASK_FAILED,
                non_retryable=True,
            )
        return TriggeredRunResult(
            status="completed_with_failures" if failed else "completed",
            contact_id=self._contact_id,
            tasks=list(self._tasks),
            warnings=list(self._warnings),
        )

    def _mark_contact(self) -> None:
        if self._contact_id:
            workflow.upsert_search_attributes([CONTACT_ID_ATTRIBUTE.value_set(self._contact_id)])

    async def _over_frequency_cap(self, input: TriggeredRunInput, cap: dict[str, Any]) -> bool:
        since = workflow.now() - timedelta(seconds=period_seconds(str(cap.get("period", ""))))
        earlier = await workflow.execute_activity_method(
            RunActivities.count_recent_runs,
            CountRecentRunsInput(
                workflow_id=input.workflow.workflow_id,
                contact_id=self._contact_id,
                since=since.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                exclude_run_id=workflow.info().workflow_id,
                organization_id=input.organization_id,
            ),
            activity_id="frequency-cap",
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=COUNT_RUNS_RETRY,
        )
        if earlier >= int(cap.get("count", 0)):
            self._warnings.append(f"frequency cap: {earlier} runs for this contact in the last {cap.get('period')}")
            return True
        return False

    async def _run_task_to_the_end(
        self, identity: RunIdentity, index: int, task: dict[str, Any], context: dict[str, Any], retry: TaskRetry
    ) -> TaskOutcome:
        """Runs one task; a cancellation arriving meanwhile lets it finish and stops the run after it."""
        running = asyncio.ensure_future(self._run_task(identity, index, task, context, retry))
        while True:
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                if running.done() and running.cancelled():
                    raise
                self._cancel_requested = True

    async def _run_task(
        self, identity: RunIdentity, index: int, task: dict[str, Any], context: dict[str, Any], retry: TaskRetry
    ) -> TaskOutcome:
        task_type = str(task.get("type", ""))
        try:
            call, warnings = plan_task(identity, index, task, context)
            self._warnings.extend(w for w in warnings if w not in self._warnings)
            output = await workflow.execute_activity_method(
                call.activity,
                call.input,
                activity_id=f"task-{index}",
                start_to_close_timeout=call.start_to_close,
                schedule_to_close_timeout=retry.window,
                retry_policy=retry.policy,
            )
        except TaskNotPossible as exc:
            self._warnings.extend(w for w in exc.warnings if w not in self._warnings)
            workflow.logger.info("task %d (%s) not possible: %s", index, task_type, exc)
            return TaskOutcome(index=index, type=task_type, status="failed", error=str(exc))
        except ActivityError as err:
            error = describe_failure(err)
            workflow.logger.info("task %d (%s) failed: %s", index, task_type, error)
            return TaskOutcome(index=index, type=task_type, status="failed", error=error)
        return TaskOutcome(index=index, type=task_type, status="succeeded", output=task_output(output))

    async def _send_failure_notice(self, input: TriggeredRunInput, run_id: str, failed: list[TaskOutcome], stopped: bool) -> None:
        lines = [f"- task {outcome.index} ({outcome.type}): {outcome.error}" for outcome in failed]
        ending = "The run stopped (the workflow stops on failure)." if stopped else "The run went on with the next tasks."
        notice = SendEmailInput(
            organization_id=input.organization_id,
            idempotency_key=f"{run_id}/failure-notice",
            to=[str(owner) for owner in input.workflow.spec.get("owners", [])],
            subject=f"cxflow: a run of {input.workflow.name} failed",
            text_body=(
                f"Run {run_id} of workflow {input.workflow.name} ({input.workflow.workflow_id} "
                f"v{input.workflow.version}) for event {input.event_id}:\n\n" + "\n".join(lines) + f"\n\n{ending}\n"
                f"See it with: cxflow runs show {run_id}\n"
            ),
        )
        try:
            await workflow.execute_activity_method(
                NotificationActivities.send_email,
                notice,
                activity_id="failure-notice",
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=TASK_RETRIES["24h"].window,
                retry_policy=TASK_RETRIES["24h"].policy,
            )
        except ActivityError as err:
            # The notice is a courtesy; its failure is recorded, not escalated.
            self._warnings.append(f"failure notice not sent: {describe_failure(err)}")


@workflow.defn(name=DRY_RUN_WORKFLOW)
class DryRunWorkflow:
    """What a TriggeredRun of the same input would do: loads the contact, evaluates the conditions and
    renders every task, sending nothing (it schedules no activity that writes)."""

    @workflow.run
    async def run(self, input: TriggeredRunInput) -> DryRunResult:
        spec = input.workflow.spec
        contact: ContactDetails | None = None
        contact_status = "not_requested"
        contact_id = input.contact.contact_id if input.contact else ""
        if input.contact is not None and spec.get("loadContact", True):
            contact, missing = await load_contact(input)
            if contact is None:
                return DryRunResult(outcome="contact_not_found", contact_status="not_found", warnings=[missing])
            contact_status, contact_id = "loaded", contact.id
        contact_context = contact.as_template_context() if contact else {}
        run_id = f"dry-run-of-{input.workflow.workflow_id}"
        context = template_context(input, contact_context, run_id)
        conditions = evaluate(spec.get("conditions"), context)
        identity = RunIdentity(
            organization_id=input.organization_id,
            run_id=run_id,
            contact_id=contact_id,
            directory_id=input.contact.directory_id if input.contact else "",
        )
        tasks: list[DryRunTask] = []
        warnings: list[str] = []
        for index, task in enumerate(spec.get("tasks", [])):
            task_type = str(task.get("type", ""))
            if not conditions.met:
                tasks.append(DryRunTask(index=index, type=task_type, outcome="not_reached"))
                context["tasks"].append({})
                continue
            try:
                call, task_warnings = plan_task(identity, index, task, context)
            except TaskNotPossible as exc:
                warnings.extend(w for w in exc.warnings if w not in warnings)
                tasks.append(DryRunTask(index=index, type=task_type, outcome="would_fail", error=str(exc)))
                context["tasks"].append({})
                continue
            warnings.extend(w for w in task_warnings if w not in warnings)
            tasks.append(DryRunTask(index=index, type=task_type, outcome="would_run", input=call.input_as_dict()))
            context["tasks"].append({})  # nothing ran, so later tasks see no outputs
        outcome = "completed" if conditions.met else "conditions_not_met"
        if any(task.outcome == "would_fail" for task in tasks):
            outcome = "completed_with_failures"
        return DryRunResult(
            outcome=outcome,
            contact_status=contact_status,
            contact=contact_context,
            conditions_met=conditions.met,
            condition_explanation=list(conditions.explanation),
            tasks=tasks,
            warnings=warnings,
        )


async def load_contact(input: TriggeredRunInput) -> tuple[ContactDetails | None, str]:
    """The run's contact, or None and why when the directory has no single contact for the reference.

    A local activity: a short read that needs no task queue round trip (and no history events of its own
    beyond a marker), which is most of the latency a run adds before its first task."""
    assert input.contact is not None
    try:
        contact = await workflow.execute_local_activity_method(
            DirectoryActivities.load_contact_details,
            LoadContactInput(organization_id=input.organization_id, contact=input.contact),
            activity_id="load-contact",
            start_to_close_timeout=timedelta(seconds=10),
            schedule_to_close_timeout=task_retry(input.workflow.spec).window,
            retry_policy=LOAD_CONTACT_RETRY,
            local_retry_threshold=LOAD_CONTACT_LOCAL_RETRY_THRESHOLD,
        )
    except (ActivityError, ApplicationError) as err:
        # A local activity's final failure may arrive as the ApplicationError itself, not wrapped.
        cause = err.cause if isinstance(err, ActivityError) else err
        if isinstance(cause, ApplicationError) and cause.type in (CONTACT_NOT_FOUND, AMBIGUOUS_CONTACT):
            # No contact to act on is an expected outcome of a run, not a failure of it.
            workflow.logger.info("run ends: %s", cause.message)
            return None, f"{cause.type}: {cause.message}"
        raise
    return contact, ""


def task_retry(spec: dict[str, Any]) -> TaskRetry:
    """The workflow's retry setting (24h by default)."""
    return TASK_RETRIES.get(str(spec.get("retry", DEFAULT_RETRY_SETTING)), TASK_RETRIES[DEFAULT_RETRY_SETTING])


def _notify_owners(spec: dict[str, Any]) -> bool:
    owners = spec.get("owners") or []
    return bool(owners) and bool(spec.get("notifyOwnersOnFailure", True))


def describe_failure(err: ActivityError) -> str:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return f"{cause.type}: {cause.message}" if cause.type else cause.message
    return str(cause or err)
