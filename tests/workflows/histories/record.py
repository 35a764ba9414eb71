"""Records the histories the replay test replays: run with `python tests/workflows/histories/record.py`.

Re-record (and commit the JSON files) only for a deliberate, versioned change of the workflows; the replay
test exists so that an accidental change to their command sequence fails CI.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[2])]

from fake_services import Calls, fake_activities

from workflows.activities.runs import RunActivities
from workflows.contracts import (
    SEARCH_ATTRIBUTE_CONTACT_ID,
    SEARCH_ATTRIBUTE_ORGANIZATION,
    SEARCH_ATTRIBUTE_TRIGGER,
    SEARCH_ATTRIBUTE_WORKFLOW_ID,
    SEARCH_ATTRIBUTE_WORKFLOW_VERSION,
    ContactRef,
    TriggeredRunInput,
    WorkflowSnapshot,
)
from workflows.triggered_run import DryRunWorkflow, TriggeredRunWorkflow

EMAIL = {"type": "email", "to": ["{{ contact.email }}"], "subject": "Hi {{ contact.firstName }}", "text": "t"}
EVERY_TASK = [
    {"type": "ticket", "title": "Call {{ contact.firstName }}"},
    {"type": "slack", "webhook": "support", "text": "Ticket {{ tasks[0].ticketId }}"},
    {"type": "webhook", "url": "https://hooks.example.com/in", "body": {"t": "{{ tasks[0].ticketId }}"}},
    {"type": "segment_event", "writeKey": "main", "call": "track", "userId": "{{ contact.extRef }}", "event": "E"},
    {"type": "survey", "surveyId": "SV_1"},
    {"type": "add_to_mailing_list", "mailingListId": "CG_1"},
    {"type": "update_contact_field", "field": "embeddedData.x", "value": "{{ tasks[0].ticketId }}"},
    EMAIL,
]

# name -> (spec, failures to inject, workflow type)
SCENARIOS: dict[str, tuple[dict[str, Any], dict[str, tuple[str, int]], str]] = {
    "every_task_type": ({"tasks": EVERY_TASK, "conditions": {"all": [{"segment": "SEG_vip"}]}}, {}, "TriggeredRun"),
    "retried_then_failed_with_notice": (
        {"tasks": [EMAIL, {"type": "webhook", "url": "https://x.example/"}], "owners": ["ops@example.com"]},
        {"SendEmail": ("UNAVAILABLE", 1), "SendWebhook": ("FAILED_PRECONDITION", 9)},
        "TriggeredRun",
    ),
    "stopped_on_failure": ({"tasks": [{"type": "slack", "webhook": "x", "text": "x"}, EMAIL], "onFailure": "stop"},
                           {"SendSlack": ("FAILED_PRECONDITION", 9)}, "TriggeredRun"),
    "conditions_not_met": ({"tasks": [EMAIL], "conditions": {"all": [{"segment": "SEG_other"}]}}, {}, "TriggeredRun"),
    "frequency_cap": ({"tasks": [EMAIL], "frequencyCap": {"count": 5, "period": "1h"}}, {}, "TriggeredRun"),
    "dry_run": ({"tasks": EVERY_TASK}, {}, "DryRun"),
    "canceled_between_tasks": ({"tasks": [EMAIL, EMAIL]}, {}, "TriggeredRun"),
}


async def record(client: Client, name: str, spec: dict[str, Any], fail: dict[str, tuple[str, int]], workflow_type: str) -> None:
    calls = Calls(fail=dict(fail), hold=asyncio.Event() if name == "canceled_between_tasks" else None)
    task_queue = f"record-{uuid.uuid4()}"
    run_input = TriggeredRunInput(
        organization_id="ORG_replay",
        workflow=WorkflowSnapshot("WF_replay", 1, "Replay", {"name": "Replay", **spec}),
        event_id=f"evt-{name}",
        trigger="json_event",
        event={"type": "track", "event": "Order Completed"},
        fields={"plan": "pro"},
        contact=ContactRef(directory_id="POOL_1", lookup_field="extRef", lookup_value="u-ada"),
    )
    attributes = TypedSearchAttributes([
        SearchAttributePair(SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_WORKFLOW_ID), "WF_replay"),
        SearchAttributePair(SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_ORGANIZATION), "ORG_replay"),
    ])
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[TriggeredRunWorkflow, DryRunWorkflow],
        activities=[*fake_activities(calls), RunActivities(client).count_recent_runs],
    ):
        handle = await client.start_workflow(
            workflow_type, run_input, id=f"run-replay-{name}", task_queue=task_queue, search_attributes=attributes
        )
        if calls.hold is not None:  # cancel while the first task is in flight, then let it finish
            while calls.attempts.get("SendEmail", 0) < 1:
                await asyncio.sleep(0.05)
            await handle.cancel()
            while not (await handle.query(TriggeredRunWorkflow.progress)).cancel_requested:
                await asyncio.sleep(0.05)
            calls.hold.set()
        try:
            await handle.result()
        except WorkflowFailureError:
            pass  # a failed run is a history worth replaying too
        history = await handle.fetch_history()
    (HERE / f"{name}.json").write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
    print(f"recorded {name}: {len(history.events)} events")


async def main() -> None:
    binary = Path(sys.executable).parent / "temporal"
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(binary),
        search_attributes=[],
        dev_server_extra_args=[
            "--search-attribute", f"{SEARCH_ATTRIBUTE_WORKFLOW_ID}=Keyword",
            "--search-attribute", f"{SEARCH_ATTRIBUTE_WORKFLOW_VERSION}=Int",
            "--search-attribute", f"{SEARCH_ATTRIBUTE_CONTACT_ID}=Keyword",
            "--search-attribute", f"{SEARCH_ATTRIBUTE_TRIGGER}=Keyword",
            "--search-attribute", f"{SEARCH_ATTRIBUTE_ORGANIZATION}=Keyword",
        ],
    )
    try:
        for name, (spec, fail, workflow_type) in SCENARIOS.items():
            await record(env.client, name, spec, fail, workflow_type)
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
