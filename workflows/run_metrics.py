"""Counts TriggeredRun outcomes and task attempts on the worker: a Temporal interceptor feeding the worker's /metrics."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from services.common.metrics import (
    ATTEMPT_CANCELED,
    ATTEMPT_FAILED_PERMANENT,
    ATTEMPT_FAILED_RETRYABLE,
    ATTEMPT_SUCCEEDED,
    RUN_CANCELED,
    RUN_COMPLETED,
    RUN_FAILED,
    RUN_STARTED,
    RunMetrics,
    TaskMetrics,
)
from workflows.contracts import TRIGGERED_RUN_WORKFLOW

# The activities that carry out a run's tasks, and the task type (as definitions name it) each one is.
TASK_TYPE_OF_ACTIVITY = {
    "SendEmail": "email",
    "SendSlack": "slack",
    "CreateTicket": "ticket",
    "DistributeSurvey": "survey",
    "SendWebhook": "webhook",
    "SendSegmentEvent": "segment_event",
    "AddToMailingList": "add_to_mailing_list",
    "UpdateContactField": "update_contact_field",
}


class RunMetricsInterceptor(Interceptor):
    """Counts TriggeredRun outcomes (cxflow_runs_total) and task attempts (cxflow_task_attempts_total) on this worker.

    Runs are counted in a workflow interceptor, which executes inside the sandbox with the workflow: it counts only
    when the workflow is not replaying, so a run replayed after a restart or a cache eviction is not counted again."""

    def __init__(self, runs: RunMetrics, tasks: TaskMetrics) -> None:
        self._runs = runs
        self._tasks = tasks

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _TaskAttemptCounter(next, self._tasks)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        runs = self._runs

        class RunOutcomeCounter(WorkflowInboundInterceptor):
            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                if workflow.info().workflow_type != TRIGGERED_RUN_WORKFLOW:
                    return await super().execute_workflow(input)
                _count_run(runs, RUN_STARTED)
                try:
                    result = await super().execute_workflow(input)
                except asyncio.CancelledError:
                    _count_run(runs, RUN_CANCELED)
                    raise
                except FailureError:  # what fails a run; other exceptions fail the workflow task, which Temporal retries
                    _count_run(runs, RUN_FAILED)
                    raise
                _count_run(runs, RUN_COMPLETED)
                return result

        return RunOutcomeCounter


def _count_run(runs: RunMetrics, outcome: str) -> None:
    if not workflow.unsafe.is_replaying():
        with workflow.unsafe.sandbox_unrestricted():  # the counter is the worker's, outside the sandbox
            runs.record(outcome)


class _TaskAttemptCounter(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, tasks: TaskMetrics) -> None:
        super().__init__(next)
        self._tasks = tasks

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        task_type = TASK_TYPE_OF_ACTIVITY.get(activity.info().activity_type)
        if task_type is None:  # loading the contact, frequency caps, segment refreshes: not tasks
            return await super().execute_activity(input)
        started = time.perf_counter()
        outcome = ATTEMPT_FAILED_RETRYABLE
        try:
            result = await super().execute_activity(input)
            outcome = ATTEMPT_SUCCEEDED
            return result
        except asyncio.CancelledError:
            outcome = ATTEMPT_CANCELED
            raise
        except ApplicationError as err:
            outcome = ATTEMPT_FAILED_PERMANENT if err.non_retryable else ATTEMPT_FAILED_RETRYABLE
            raise
        finally:
            self._tasks.record(task_type, outcome, time.perf_counter() - started)
