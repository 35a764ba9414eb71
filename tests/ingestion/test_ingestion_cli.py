"""`cxflow sources|subscriptions|capture` (typer CliRunner) against an ingestion server running in a thread of its own
(the commands run their own event loop, as they do from a shell)."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from ingestion_stack import API_TOKEN, ORGANIZATION, TokenTable, welcome_spec
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from cxflow.cli import app
from cxflow.v1 import ingestion_pb2, ingestion_pb2_grpc
from services.common.settings import Settings
from services.ingestion.server import start_ingestion

LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d|\{\"event\")")


@pytest.fixture
def cli(settings: Settings, tmp_path: Path, temporal_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    target_host = temporal_env.client.service_client.config.target_host

    async def start() -> Any:
        client = await Client.connect(target_host)
        return await start_ingestion(settings, client, TokenTable({API_TOKEN: ORGANIZATION}))

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    monkeypatch.setenv("INGESTION_GRPC_TARGET", f"127.0.0.1:{server.grpc_port}")
    monkeypatch.setenv("CXFLOW_API_TOKEN", API_TOKEN)
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args))
        own = [line for line in result.output.splitlines() if not LOG_LINE.match(line)]
        return result.exit_code, "\n".join(own)

    run.server = server  # type: ignore[attr-defined]
    run.loop = loop  # type: ignore[attr-defined]
    try:
        yield run
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(grace=0.2), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_sources_and_subscriptions(cli: Any, tmp_path: Path) -> None:
    code, output = cli("sources", "create", "web", "--id", "SRC_web", "--json")
    assert code == 0, output
    [source] = json.loads(output)
    assert source["id"] == "SRC_web" and source["writeKey"].startswith("wk_")
    code, output = cli("sources", "list", "--json")
    assert code == 0 and [s["id"] for s in json.loads(output)] == ["SRC_web"] and "writeKey" not in json.loads(output)[0]

    mappings = tmp_path / "mappings.json"
    mappings.write_text(json.dumps([{"name": "email", "path": "$.traits.email"}, {"name": "language", "value": "EN"}]))
    code, output = cli("subscriptions", "create", "SRC_web", "--action", "upsert-contact", "--directory", "POOL_a",
                       "--mappings", str(mappings), "--json")
    assert code == 0, output
    [created] = json.loads(output)
    assert created["action"] == "upsert-contact" and created["filter"] == 'type = "identify"' and created["target"] == "POOL_a"
    assert created["mappings"][1] == {"name": "language", "type": "string", "value": "EN"}
    code, output = cli("subscriptions", "list", "SRC_web")
    assert code == 0 and "SUB_" in output and "┃ id" in output  # the human table (narrow: cells wrap)

    code, output = cli("subscriptions", "create", "SRC_web", "--action", "upsert-contact", "--filter", 'type = = "x"')
    assert code == 1 and "INVALID_ARGUMENT" in output
    code, output = cli("subscriptions", "create", "SRC_web", "--action", "explode")
    assert code == 2


def test_capture_and_propose(cli: Any, tmp_path: Path) -> None:
    spec = struct_pb2.Struct()
    spec.update(welcome_spec())
    with grpc.insecure_channel(f"127.0.0.1:{cli.server.grpc_port}") as channel:
        workflow = ingestion_pb2_grpc.WorkflowServiceStub(channel).CreateWorkflow(
            ingestion_pb2.CreateWorkflowRequest(spec=spec), metadata=(("authorization", f"Bearer {API_TOKEN}"),)
        )
    code, output = cli("capture", "start", workflow.id, "--count", "2")
    assert code == 0 and "capturing the next 2" in output, output
    code, output = cli("capture", "show", workflow.id, "--json")
    assert code == 0 and json.loads(output)["events"] == [] and json.loads(output)["remaining"] == 2
    code, output = cli("capture", "show", "WF_unknown")
    assert code == 1 and "NOT_FOUND" in output

    sample = tmp_path / "sample.json"
    sample.write_text(json.dumps({"userId": "u", "traits": {"vip": True}}))
    code, output = cli("capture", "propose", str(sample), "--json")
    assert code == 0, output
    assert sorted((m["name"], m["type"]) for m in json.loads(output)) == [("userId", "string"), ("vip", "boolean")]
    sample.write_text("[1, 2]")
    assert cli("capture", "propose", str(sample))[0] == 2
