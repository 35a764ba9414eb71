"""`cxflow runs ...`: list a workflow's or a contact's runs, show one step by step, retry a failed one, cancel one."""

from __future__ import annotations

import json
from typing import Any

import typer
from google.protobuf import json_format

from cxflow.commands.support import JSON_OPTION, all_pages, call, print_rows, usage_error
from cxflow.v1 import ingestion_pb2, ingestion_pb2_grpc
from services.common.settings import Settings

app = typer.Typer(help="Runs of workflows, as Temporal records them.", no_args_is_help=True)

STATUSES = {name.removeprefix("RUN_STATUS_").lower(): value for name, value in ingestion_pb2.RunStatus.items()}


def _stub_call(method: str, request: Any) -> Any:
    settings = Settings.from_env()
    return call(
        settings.ingestion_grpc_target,
        lambda channel, md: getattr(ingestion_pb2_grpc.WorkflowServiceStub(channel), method)(request, metadata=md),
    )


def _status(run: ingestion_pb2.Run) -> str:
    return ingestion_pb2.RunStatus.Name(run.status).removeprefix("RUN_STATUS_").lower()


def _row(run: ingestion_pb2.Run) -> dict[str, Any]:
    return {
        "runId": run.run_id,
        "workflowId": run.workflow_id,
        "version": run.workflow_version,
        "contactId": run.contact_id,
        "status": _status(run),
        "startedAt": run.started_at.ToJsonString() if run.HasField("started_at") else "",
        "closedAt": run.closed_at.ToJsonString() if run.HasField("closed_at") else "",
    }


@app.command("list")
def runs_list(
    workflow_id: str = typer.Option("", "--workflow", help="only this workflow's runs"),
    contact_id: str = typer.Option("", "--contact", help="only runs that acted on this contact"),
    status: str = typer.Option("", help=f"only runs in this state: {', '.join(s for s in STATUSES if s != 'unspecified')}"),
    limit: int = typer.Option(50, help="at most this many (newest first)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """List runs, newest first."""
    if status and status not in STATUSES:
        usage_error(f"unknown status {status!r}")
    runs = all_pages(
        lambda page: _stub_call(
            "ListRuns",
            ingestion_pb2.ListRunsRequest(
                workflow_id=workflow_id, contact_id=contact_id, status=STATUSES.get(status, 0), page=page
            ),
        ),
        lambda reply: reply.runs,
        limit=limit,
    )
    columns = [
        ("runId", "run"),
        ("workflowId", "workflow"),
        ("version", "v"),
        ("contactId", "contact"),
        ("status", "status"),
        ("startedAt", "started"),
    ]
    print_rows([_row(run) for run in runs], columns, as_json)


@app.command("show")
def runs_show(run_id: str, as_json: bool = JSON_OPTION) -> None:
    """Show one run: status, outcome, and each step's attempts, error and rendered input (secrets masked)."""
    run = _stub_call("GetRun", ingestion_pb2.GetRunRequest(run_id=run_id))
    detail = json_format.MessageToDict(run, preserving_proto_field_name=False)
    if as_json:
        typer.echo(json.dumps(detail, indent=2, ensure_ascii=False))
        return
    row = _row(run)
    typer.echo(f"run {run.run_id}")
    typer.echo(f"  workflow {run.workflow_id} v{run.workflow_version}   trigger {run.trigger}   event {run.event_id}")
    typer.echo(f"  status {row['status']}   outcome {run.outcome or '-'}   contact {run.contact_id or '-'}")
    typer.echo(f"  started {row['startedAt']}   closed {row['closedAt'] or '-'}")
    if run.error:
        typer.echo(f"  error: {run.error}")
    for step in run.steps:
        typer.echo(f"- {step.name}: {step.status}, {step.attempts} attempt(s){' - ' + step.error if step.error else ''}")
        step_input = json_format.MessageToDict(step.input)
        if step_input:
            typer.echo("    input  " + json.dumps(step_input, ensure_ascii=False, sort_keys=True))
        step_output = json_format.MessageToDict(step.output)
        if step_output:
            typer.echo("    output " + json.dumps(step_output, ensure_ascii=False, sort_keys=True))
    for warning in run.warnings:
        typer.echo(f"warning: {warning}")


@app.command("retry")
def runs_retry(run_id: str) -> None:
    """Start a failed run again from the start, on the workflow's current version (a new run)."""
    reply = _stub_call("RetryRun", ingestion_pb2.RetryRunRequest(run_id=run_id))
    typer.echo(f"started {reply.run_id} on v{reply.workflow_version}")


@app.command("cancel")
def runs_cancel(run_id: str) -> None:
    """Ask a running run to stop; the task in progress finishes, the rest do not run."""
    _stub_call("CancelRun", ingestion_pb2.CancelRunRequest(run_id=run_id))
    typer.echo(f"cancel requested for {run_id}")
