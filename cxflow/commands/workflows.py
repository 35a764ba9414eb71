"""`cxflow workflows ...`: list workflow definitions, show one, print its trigger URL."""

from __future__ import annotations

import json
from typing import Any

import typer
from google.protobuf import json_format

from cxflow.commands.support import call, print_rows
from cxflow.v1 import common_pb2, ingestion_pb2, ingestion_pb2_grpc
from services.common.settings import Settings

app = typer.Typer(help="Workflow definitions.", no_args_is_help=True)


def _workflow_row(workflow: ingestion_pb2.Workflow) -> dict[str, Any]:
    return {
        "id": workflow.id,
        "name": workflow.name,
        "enabled": workflow.enabled,
        "version": workflow.version,
        "triggerUrl": workflow.trigger_url,
    }


@app.command("list")
def workflows_list(as_json: bool = typer.Option(False, "--json", help="print JSON for scripts")) -> None:
    """List the organization's workflows."""
    settings = Settings.from_env()
    workflows: list[ingestion_pb2.Workflow] = []
    page_token = ""
    while True:
        reply = call(
            settings.ingestion_grpc_target,
            lambda channel, md: ingestion_pb2_grpc.WorkflowServiceStub(channel).ListWorkflows(
                ingestion_pb2.ListWorkflowsRequest(page=common_pb2.PageRequest(page_token=page_token)), metadata=md
            ),
        )
        workflows.extend(reply.workflows)
        page_token = reply.next_page_token
        if not page_token:
            break
    rows = [_workflow_row(w) for w in workflows]
    print_rows(rows, [("id", "id"), ("name", "name"), ("enabled", "enabled"), ("version", "version"), ("triggerUrl", "trigger URL")], as_json)


@app.command("url")
def workflows_url(workflow_id: str) -> None:
    """Print a workflow's trigger URL (paste it into Segment's "Start a workflow" action)."""
    settings = Settings.from_env()
    workflow = call(
        settings.ingestion_grpc_target,
        lambda channel, md: ingestion_pb2_grpc.WorkflowServiceStub(channel).GetWorkflow(
            ingestion_pb2.GetWorkflowRequest(workflow_id=workflow_id), metadata=md
        ),
    )
    typer.echo(workflow.trigger_url)


@app.command("show")
def workflows_show(workflow_id: str) -> None:
    """Print a workflow definition as JSON."""
    settings = Settings.from_env()
    workflow = call(
        settings.ingestion_grpc_target,
        lambda channel, md: ingestion_pb2_grpc.WorkflowServiceStub(channel).GetWorkflow(
            ingestion_pb2.GetWorkflowRequest(workflow_id=workflow_id), metadata=md
        ),
    )
    typer.echo(json.dumps({**_workflow_row(workflow), "spec": json_format.MessageToDict(workflow.spec)}, indent=2))
