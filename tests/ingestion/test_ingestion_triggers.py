"""Trigger URLs end to end: real HTTP, the real definitions store, real Temporal runs of a stand-in TriggeredRun."""

from __future__ import annotations

import asyncio
import base64

from ingestion_stack import API_TOKEN, ORGANIZATION, OTHER_API_TOKEN, IngestionStack, welcome_spec

from workflows.contracts import run_workflow_id


async def _count_runs(stack: IngestionStack, temporal_workflow_id: str) -> int:
    # Visibility lags a start slightly; wait until the one run shows, then count.
    for _ in range(100):
        count = (await stack.temporal.count_workflows(f'WorkflowId = "{temporal_workflow_id}"')).count
        if count:
            return count
        await asyncio.sleep(0.1)
    return 0


async def test_trigger_starts_a_run_with_fields_contact_and_snapshot(stack: IngestionStack) -> None:
    workflow = await stack.create_workflow(welcome_spec())
    assert workflow.trigger_url == f"{stack.settings.public_url}/triggers/{workflow.id}"
    event = {"messageId": "evt-1", "userId": "u-42", "traits": {"firstName": "Ada", "age": "36"}}

    response = await stack.http.post(f"/triggers/{workflow.id}", json=event, headers={"X-API-TOKEN": API_TOKEN})

    assert response.status_code == 202, response.text
    body = response.json()
    assert body["eventId"] == "evt-1" and body["matched"] is True
    [run] = body["runs"]
    assert run["workflowId"] == run_workflow_id(ORGANIZATION, workflow.id, "evt-1") and run["duplicate"] is False
    handle = stack.temporal.get_workflow_handle(run["workflowId"], run_id=run["runId"])
    run_input = await handle.result()
    assert run_input["organization_id"] == "ORG_ingestiontest"
    assert run_input["trigger"] == "json_event"
    assert run_input["event_id"] == "evt-1"
    assert run_input["event"] == event
    assert run_input["fields"] == {"firstName": "Ada", "age": 36}
    assert run_input["contact"] == {"directory_id": "POOL_test", "contact_id": "", "lookup_field": "extRef", "lookup_value": "u-42"}
    assert run_input["workflow"]["workflow_id"] == workflow.id and run_input["workflow"]["version"] == 1
    assert run_input["workflow"]["spec"]["name"] == "Welcome"
    description = await handle.describe()
    attributes = {key.name: value for key, value in description.typed_search_attributes}
    assert attributes["CxWorkflowId"] == workflow.id
    assert attributes["CxWorkflowVersion"] == 1
    assert attributes["CxTrigger"] == "json_event"
    assert attributes["CxOrganization"] == "ORG_ingestiontest"
    assert (await description.memo_value("summary")) == "Welcome v1 for event evt-1"
    assert (await description.memo_value("workflow")) == f"Welcome ({workflow.id} v1)"
    assert (await description.memo_value("trigger")) == "json_event"
    assert (await description.memo_value("contact")) == "extRef = u-42 in POOL_test"


async def test_redelivered_event_starts_nothing_new(stack: IngestionStack) -> None:
    workflow = await stack.create_workflow(welcome_spec())
    event = {"userId": "u-1"}
    headers = {"X-API-TOKEN": API_TOKEN, "Idempotency-Key": "order-77"}
    first = await stack.http.post(f"/triggers/{workflow.id}", json=event, headers=headers)
    second = await stack.http.post(f"/triggers/{workflow.id}", json=event, headers=headers)

    assert first.status_code == second.status_code == 202
    assert first.json()["eventId"] == second.json()["eventId"] == "order-77"
    [run1], [run2] = first.json()["runs"], second.json()["runs"]
    assert run2["duplicate"] is True and run1["duplicate"] is False
    assert (run2["workflowId"], run2["runId"]) == (run1["workflowId"], run1["runId"])
    assert await _count_runs(stack, run1["workflowId"]) == 1


async def test_new_event_ids_without_message_id_or_key(stack: IngestionStack) -> None:
    workflow = await stack.create_workflow(welcome_spec())
    first = await stack.http.post(f"/triggers/{workflow.id}", json={"userId": "u-1"}, headers={"X-API-TOKEN": API_TOKEN})
    second = await stack.http.post(f"/triggers/{workflow.id}", json={"userId": "u-1"}, headers={"X-API-TOKEN": API_TOKEN})
    assert first.json()["eventId"] != second.json()["eventId"]
    assert len(first.json()["eventId"]) == 32


async def test_basic_auth_with_token_as_password(stack: IngestionStack) -> None:
    workflow = await stack.create_workflow(welcome_spec())
    credentials = base64.b64encode(f"someone:{API_TOKEN}".encode()).decode()
    response = await stack.http.post(
        f"/triggers/{workflow.id}", json={"userId": "u-1"}, headers={"Authorization": f"Basic {credentials}"}
    )
    assert response.status_code == 202, response.text


async def test_filter_mismatch_starts_nothing(stack: IngestionStack) -> None:
    spec = welcome_spec()
    spec["trigger"]["filter"] = 'type = "identify"'
    workflow = await stack.create_workflow(spec)
    response = await stack.http.post(
        f"/triggers/{workflow.id}", json={"type": "track", "userId": "u-1", "messageId": "m-9"}, headers={"X-API-TOKEN": API_TOKEN}
    )
    assert response.status_code == 200
    assert response.json() == {"eventId": "m-9", "matched": False, "runs": []}
    assert (await stack.temporal.count_workflows(f'WorkflowId = "{run_workflow_id(ORGANIZATION, workflow.id, "m-9")}"')).count == 0


async def test_disabled_workflow_is_a_conflict(stack: IngestionStack) -> None:
    workflow = await stack.create_workflow(welcome_spec(enabled=False))
    assert workflow.enabled is False
    response = await stack.http.post(f"/triggers/{workflow.id}", json={"userId": "u"}, headers={"X-API-TOKEN": API_TOKEN})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "workflow_disabled"


async def test_auth_failures_and_other_organizations(stack: IngestionStack) -> None:
    workflow = await stack.create_workflow(welcome_spec())
    url = f"/triggers/{workflow.id}"
    for headers in ({}, {"X-API-TOKEN": "cxf_wrong"}, {"Authorization": "Basic !!notbase64"}):
        response = await stack.http.post(url, json={"userId": "u"}, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthenticated"
    other = await stack.http.post(url, json={"userId": "u"}, headers={"X-API-TOKEN": OTHER_API_TOKEN})
    unknown = await stack.http.post("/triggers/WF_doesnotexist", json={"userId": "u"}, headers={"X-API-TOKEN": API_TOKEN})
    assert other.status_code == unknown.status_code == 404
    assert other.json()["error"]["code"] == "not_found"


async def test_bad_bodies_start_nothing(stack: IngestionStack) -> None:
    workflow = await stack.create_workflow(welcome_spec())
    url = f"/triggers/{workflow.id}"
    headers = {"X-API-TOKEN": API_TOKEN, "Content-Type": "application/json"}

    cases = {
        "not json": (b"{nope", 400, "invalid_json"),
        "array": (b"[1, 2]", 400, "invalid_json"),
        "too large": (b'{"userId": "u", "pad": "' + b"x" * (101 * 1024) + b'"}', 413, "payload_too_large"),
        "bad number": (b'{"messageId": "bad-age", "userId": "u", "traits": {"age": "old"}}', 400, "mapping_failed"),
        "no contact": (b'{"messageId": "no-user"}', 400, "contact_not_in_event"),
    }
    for name, (body, status, code) in cases.items():
        response = await stack.http.post(url, content=body, headers=headers)
        assert response.status_code == status, name
        assert response.json()["error"]["code"] == code, name
    assert "age" in (await stack.http.post(url, content=cases["bad number"][0], headers=headers)).json()["error"]["message"]
    for event_id in ("bad-age", "no-user"):
        assert (await stack.temporal.count_workflows(f'WorkflowId = "{run_workflow_id(ORGANIZATION, workflow.id, event_id)}"')).count == 0
