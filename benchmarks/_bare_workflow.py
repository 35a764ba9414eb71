"""The baseline of benchmarks/triggered_runs.py: a bare Temporal workflow that runs 3 no-op activities.

Its own module (importing only temporalio) so the workflow sandbox can import it the way it imports TriggeredRun.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="BareNoop")
async def bare_noop(step: int) -> int:
    return step


@workflow.defn(name="BareThreeActivities")
class BareThreeActivities:
    @workflow.run
    async def run(self, n: int) -> int:
        for step in range(3):
            await workflow.execute_activity(bare_noop, step, start_to_close_timeout=timedelta(seconds=30))
        return n
