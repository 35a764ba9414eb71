"""The `cxflow` command line: start the local stack and inspect what it holds, over the services' gRPC APIs."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any, Awaitable, Callable, TypeVar

import grpc
import typer
from google.protobuf import json_format
from rich.console import Console
from rich.table import Table

from cxflow.v1 import common_pb2, ingestion_pb2, ingestion_pb2_grpc
from services.common.settings import Settings

app = typer.Typer(help="cxflow: customer-experience automation on Temporal.", no_args_is_help=True)
workflows_app = typer.Typer(help="Workflow definitions.", no_args_is_help=True)
app.add_typer(workflows_app, name="workflows")

console = Console()
T = TypeVar("T")


def _api_token() -> str:
    token = os.environ.get("CXFLOW_API_TOKEN", "")
    if not token:
        console.print("[red]set CXFLOW_API_TOKEN[/red] (after `make up`: source .data/demo.env)")
        raise typer.Exit(2)
    return token


def _call(target: str, call: Callable[[grpc.aio.Channel, tuple[tuple[str, str], ...]], Awaitable[T]]) -> T:
    """Runs one gRPC call with the caller's API token and turns failures into a readable exit."""
    metadata = (("authorization", f"Bearer {_api_token()}"),)

    async def go() -> T:
        async with grpc.aio.insecure_channel(target) as channel:
            return await call(channel, metadata)

    try:
        return asyncio.run(go())
    except grpc.aio.AioRpcError as exc:
        console.print(f"[red]{exc.code().name}[/red]: {exc.details()}")
        raise typer.Exit(1) from None


@app.command()
def up() -> None:
    """Start the whole local stack in the foreground (what `make up` runs)."""
    from cxflow.stack import main

    main()


def _workflow_row(workflow: ingestion_pb2.Workflow) -> dict[str, Any]:
    return {
        "id": workflow.id,
        "name": workflow.name,
        "enabled": workflow.enabled,
        "version": workflow.version,
        "triggerUrl": workflow.trigger_url,
    }


@workflows_app.command("list")
def workflows_list(as_json: bool = typer.Option(False, "--json", help="print JSON for scripts")) -> None:
    """List the organization's workflows."""
    settings = Settings.from_env()
    workflows: list[ingestion_pb2.Workflow] = []
    page_token = ""
    while True:
        reply = _call(
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
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("id", "name", "enabled", "version", "trigger URL")
    for row in rows:
        table.add_row(row["id"], row["name"], "yes" if row["enabled"] else "no", str(row["version"]), row["triggerUrl"])
    console.print(table)


@workflows_app.command("url")
def workflows_url(workflow_id: str) -> None:
    """Print a workflow's trigger URL (paste it into Segment's "Start a workflow" action)."""
    settings = Settings.from_env()
    workflow = _call(
        settings.ingestion_grpc_target,
        lambda channel, md: ingestion_pb2_grpc.WorkflowServiceStub(channel).GetWorkflow(
            ingestion_pb2.GetWorkflowRequest(workflow_id=workflow_id), metadata=md
        ),
    )
    typer.echo(workflow.trigger_url)


@workflows_app.command("show")
def workflows_show(workflow_id: str) -> None:
    """Print a workflow definition as JSON."""
    settings = Settings.from_env()
    workflow = _call(
        settings.ingestion_grpc_target,
        lambda channel, md: ingestion_pb2_grpc.WorkflowServiceStub(channel).GetWorkflow(
            ingestion_pb2.GetWorkflowRequest(workflow_id=workflow_id), metadata=md
        ),
    )
    typer.echo(json.dumps({**_workflow_row(workflow), "spec": json_format.MessageToDict(workflow.spec)}, indent=2))


if __name__ == "__main__":
    app()
