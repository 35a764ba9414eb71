"""Replays committed histories (tests/workflows/histories/*.json) through the current workflow code, so a change
that breaks determinism for runs already in flight fails CI instead of stranding those runs."""

from __future__ import annotations

import json
from base64 import b64decode, b64encode
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from workflows.triggered_run import DryRunWorkflow, TriggeredRunWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def replayer() -> Replayer:
    return Replayer(workflows=[TriggeredRunWorkflow, DryRunWorkflow])


def test_every_scenario_has_a_history() -> None:
    assert {path.stem for path in HISTORIES} >= {
        "every_task_type", "retried_then_failed_with_notice", "stopped_on_failure", "conditions_not_met",
        "frequency_cap", "dry_run", "canceled_between_tasks",
    }


@pytest.mark.parametrize("path", HISTORIES, ids=lambda path: path.stem)
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())

    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)

    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"


async def test_a_changed_command_sequence_is_caught() -> None:
    # The same history, but its input now orders the tasks differently: the code would schedule another
    # activity first than the history recorded, which is exactly what a non-deterministic change looks like.
    document = json.loads((Path(__file__).parent / "histories" / "every_task_type.json").read_text())
    started = document["events"][0]["workflowExecutionStartedEventAttributes"]
    payload = started["input"]["payloads"][0]
    run_input = json.loads(b64decode(payload["data"]))
    run_input["workflow"]["spec"]["tasks"].reverse()
    payload["data"] = b64encode(json.dumps(run_input).encode()).decode()
    history = WorkflowHistory.from_json("reordered", document)

    with pytest.raises(NondeterminismError):
        await replayer().replay_workflow(history)
