"""A stand-in for the worker's TriggeredRun that returns its input, kept in a module the workflow sandbox can import."""

from __future__ import annotations

from typing import Any

from temporalio import workflow


@workflow.defn(name="TriggeredRun")
class EchoTriggeredRun:
    @workflow.run
    async def run(self, run_input: dict[str, Any]) -> dict[str, Any]:
        return run_input
