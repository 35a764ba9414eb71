"""`cxflow workflows` and `cxflow runs` as a user runs them: the real CLI process against a real ingestion server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from temporalio.client import Client
from test_workflow_service import TOKEN, Stack, _stack, welcome

from services.common.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def service(settings: Settings, temporal_client: Client, task_queue: str) -> AsyncIterator[Stack]:
    async for value in _stack(settings, temporal_client, task_queue):
        yield value


async def cxflow(service: Stack, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "CXFLOW_API_TOKEN": TOKEN, "INGESTION_GRPC_TARGET": service.grpc_target, "COLUMNS": "200"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cxflow.cli", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    return process.returncode or 0, stdout.decode(), stderr.decode()


async def test_apply_export_enable_disable_delete(service: Stack, tmp_path: Path) -> None:
    definition = tmp_path / "welcome.yaml"
    definition.write_text(yaml.safe_dump(welcome()))

    code, out, err = await cxflow(service, "workflows", "apply", "-f", str(definition), "--json")
    assert code == 0, err
    created = json.loads(out)
    assert created["action"] == "created" and created["version"] == 1
    workflow_id = created["id"]

    code, out, _ = await cxflow(service, "workflows", "export", workflow_id)
    exported = yaml.safe_load(out)
    assert exported["id"] == workflow_id and exported["tasks"] == welcome()["tasks"]
    exported_file = tmp_path / "exported.yaml"
    exported_file.write_text(out)
    code, out, _ = await cxflow(service, "workflows", "apply", "-f", str(exported_file), "--json")
    assert json.loads(out)["action"] == "unchanged" and json.loads(out)["version"] == 1

    exported["tasks"][0]["subject"] = "Changed"
    exported_file.write_text(yaml.safe_dump(exported))
    code, out, _ = await cxflow(service, "workflows", "apply", "-f", str(exported_file))
    assert code == 0 and out.startswith(f"updated {workflow_id} v2")

    code, out, _ = await cxflow(service, "workflows", "list", "--json")
    assert [(w["id"], w["version"]) for w in json.loads(out)] == [(workflow_id, 2)]
    code, out, _ = await cxflow(service, "workflows", "url", workflow_id)
    assert out.strip().endswith(f"/triggers/{workflow_id}")
    code, out, _ = await cxflow(service, "workflows", "disable", workflow_id)
    assert out.strip() == f"{workflow_id} is disabled (v2)"
    code, out, _ = await cxflow(service, "workflows", "enable", workflow_id)
    assert out.strip() == f"{workflow_id} is enabled (v2)"
    code, out, _ = await cxflow(service, "workflows", "show", workflow_id, "--version", "1", "--json")
    assert json.loads(out)["spec"]["tasks"][0]["subject"] == welcome()["tasks"][0]["subject"]
    code, out, _ = await cxflow(service, "workflows", "delete", workflow_id, "--yes")
    assert code == 0
    code, out, err = await cxflow(service, "workflows", "show", workflow_id)
    assert code == 1 and "NOT_FOUND" in err

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(welcome(onFailure="explode")))
    code, out, err = await cxflow(service, "workflows", "apply", "-f", str(bad))
    assert code == 1 and "INVALID_ARGUMENT" in err and "spec.onFailure" in err


async def test_dry_run_and_runs_commands(service: Stack, tmp_path: Path) -> None:
    workflow = await service.create(welcome(onFailure="stop", retry="none"))
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"userId": "u-ada", "plan": "pro"}))

    code, out, err = await cxflow(service, "workflows", "dry-run", "-f", str(event), "--workflow", workflow.id, "--json")
    assert code == 0, err
    dry = json.loads(out)
    assert dry["outcome"] == "completed" and dry["tasks"][0]["input"]["subject"] == "Welcome Ada"
    assert service.calls.of("SendEmail") == []

    service.calls.fail["SendEmail"] = ("UNAVAILABLE", 1)
    run_id = (await service.trigger(workflow.id, {"userId": "u-ada", "messageId": "m-cli"})).json()["runs"][0]["workflowId"]
    with pytest.raises(Exception):  # noqa: B017 - the run fails: its only task failed and onFailure is stop
        await service.run_result(run_id)
    service.calls.fail.clear()

    code, out, _ = await cxflow(service, "runs", "show", run_id)
    assert code == 0 and "status failed" in out and "task 0 (SendEmail): failed, 1 attempt(s)" in out
    code, same, _ = await cxflow(service, "workflows", "runs", "show", run_id)  # the spelling
    assert code == 0 and same == out  # inputs and outputs print with sorted keys, so both show the same text
    code, out, _ = await cxflow(service, "runs", "retry", run_id)
    assert out.strip() == f"started {run_id}/retry-1 on v1"
    await service.run_result(f"{run_id}/retry-1")
    async with asyncio.timeout(20):
        while True:
            code, out, _ = await cxflow(service, "runs", "list", "--workflow", workflow.id, "--json")
            runs = json.loads(out)
            if len(runs) == 2 and all(run["status"] != "running" for run in runs):
                break
            await asyncio.sleep(0.2)
    assert sorted(run["status"] for run in runs) == ["completed", "failed"]
    code, out, err = await cxflow(service, "runs", "cancel", f"{run_id}/retry-1")
    assert code == 1 and "FAILED_PRECONDITION" in err


async def test_applying_a_file_without_enabled_keeps_a_disabled_workflow_disabled(service: Stack, tmp_path: Path) -> None:
    definition = tmp_path / "welcome.yaml"
    definition.write_text(yaml.safe_dump(welcome()))
    code, out, err = await cxflow(service, "workflows", "apply", "-f", str(definition), "--json")
    assert code == 0, err
    workflow_id = json.loads(out)["id"]
    code, out, _ = await cxflow(service, "workflows", "disable", workflow_id)
    assert out.strip() == f"{workflow_id} is disabled (v1)"

    changed = {**welcome(), "id": workflow_id}
    changed.pop("enabled", None)
    changed["tasks"][0]["subject"] = "Changed"
    definition.write_text(yaml.safe_dump(changed))
    code, out, err = await cxflow(service, "workflows", "apply", "-f", str(definition), "--json")

    assert code == 0, err
    applied = json.loads(out)
    assert applied["action"] == "updated" and applied["version"] == 2
    assert applied["enabled"] is False
    code, out, _ = await cxflow(service, "workflows", "show", workflow_id, "--json")
    assert json.loads(out)["enabled"] is False
