"""`cxflow workflows ...`: apply definitions from YAML, list, show, export, enable, disable, delete, dry-run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import grpc
import typer
import yaml
from google.protobuf import json_format, struct_pb2

from cxflow.commands.support import JSON_OPTION, all_pages, call, print_fields, print_rows, usage_error
from cxflow.v1 import ingestion_pb2, ingestion_pb2_grpc
from services.common.settings import Settings

app = typer.Typer(help="Workflow definitions.", no_args_is_help=True)


def _stub_call(method: str, request: Any) -> Any:
    """One WorkflowService call with the caller's token; failures print the status and exit 1."""
    settings = Settings.from_env()
    return call(
        settings.ingestion_grpc_target,
        lambda channel, md: getattr(ingestion_pb2_grpc.WorkflowServiceStub(channel), method)(request, metadata=md),
    )


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def _plain(message: Any) -> Any:
    """A protobuf Struct as plain data, with whole-number floats back to ints (Struct keeps only doubles)."""

    def tidy(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, dict):
            return {key: tidy(item) for key, item in value.items()}
        if isinstance(value, list):
            return [tidy(item) for item in value]
        return value

    return tidy(json_format.MessageToDict(message))


def read_document(path: Path) -> dict[str, Any]:
    """A YAML (or JSON, which is YAML) file holding one object."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        usage_error(f"cannot read {path}: {exc}")
    if not isinstance(document, dict):
        usage_error(f"{path} must hold one object (a workflow definition)")
    return document


def _workflow_row(workflow: ingestion_pb2.Workflow) -> dict[str, Any]:
    return {
        "id": workflow.id,
        "name": workflow.name,
        "enabled": workflow.enabled,
        "version": workflow.version,
        "triggerUrl": workflow.trigger_url,
    }


def _get(workflow_id: str, version: int = 0) -> ingestion_pb2.Workflow:
    return _stub_call("GetWorkflow", ingestion_pb2.GetWorkflowRequest(workflow_id=workflow_id, version=version))


@app.command("apply")
def workflows_apply(
    file: Annotated[Path, typer.Option("-f", "--file", help="the definition (YAML or JSON); an `id:` key updates that workflow")],
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a workflow from a file, or save a new version of the one its `id` names (unchanged: no new version)."""
    spec = read_document(file)
    workflow_id = str(spec.pop("id", "") or "")
    if workflow_id:
        settings = Settings.from_env()
        existing = call(
            settings.ingestion_grpc_target,
            lambda channel, md: _get_or_none(ingestion_pb2_grpc.WorkflowServiceStub(channel), workflow_id, md),
        )
        if existing is not None:
            if _same_definition(_plain(existing.spec), spec, existing.enabled):
                workflow, action = existing, "unchanged"
            else:
                # A file without `enabled` keeps the workflow's current state (a disabled workflow stays disabled).
                spec.setdefault("enabled", existing.enabled)
                workflow = _stub_call(
                    "UpdateWorkflow", ingestion_pb2.UpdateWorkflowRequest(workflow_id=workflow_id, spec=_struct(spec))
                )
                action = "updated"
        else:
            workflow = _stub_call("CreateWorkflow", ingestion_pb2.CreateWorkflowRequest(spec=_struct(spec), id=workflow_id))
            action = "created"
    else:
        workflow = _stub_call("CreateWorkflow", ingestion_pb2.CreateWorkflowRequest(spec=_struct(spec)))
        action = "created"
    if as_json:
        typer.echo(json.dumps({**_workflow_row(workflow), "action": action}, indent=2))
        return
    typer.echo(f"{action} {workflow.id} v{workflow.version} ({workflow.name})")
    typer.echo(f"trigger URL: {workflow.trigger_url}")


def _same_definition(saved: dict[str, Any], given: dict[str, Any], enabled: bool) -> bool:
    """Whether applying `given` would change nothing (a file without `enabled` keeps the current state)."""
    return given.get("enabled", enabled) == enabled and {k: v for k, v in saved.items() if k != "enabled"} == {
        k: v for k, v in given.items() if k != "enabled"
    }


async def _get_or_none(stub: ingestion_pb2_grpc.WorkflowServiceStub, workflow_id: str, md: Any) -> ingestion_pb2.Workflow | None:
    try:
        return await stub.GetWorkflow(ingestion_pb2.GetWorkflowRequest(workflow_id=workflow_id), metadata=md)
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise


@app.command("list")
def workflows_list(as_json: bool = JSON_OPTION) -> None:
    """List the organization's workflows."""
    workflows = all_pages(
        lambda page: _stub_call("ListWorkflows", ingestion_pb2.ListWorkflowsRequest(page=page)),
        lambda reply: reply.workflows,
        page_size=None,
    )
    rows = [_workflow_row(w) for w in workflows]
    print_rows(
        rows,
        [("id", "id"), ("name", "name"), ("enabled", "enabled"), ("version", "version"), ("triggerUrl", "trigger URL")],
        as_json,
    )


@app.command("url")
def workflows_url(workflow_id: str) -> None:
    """Print a workflow's trigger URL (paste it into Segment's "Start a workflow" action)."""
    typer.echo(_get(workflow_id).trigger_url)


@app.command("show")
def workflows_show(
    workflow_id: str,
    version: int = typer.Option(0, help="an older version (default: the current one)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show a workflow: id, name, state, version, trigger URL and its definition (`export` prints it as YAML)."""
    workflow = _get(workflow_id, version)
    print_fields({**_workflow_row(workflow), "spec": _plain(workflow.spec)}, as_json)


@app.command("versions")
def workflows_versions(workflow_id: str, as_json: bool = JSON_OPTION) -> None:
    """List a workflow's saved versions, newest first."""
    reply = _stub_call("ListWorkflowVersions", ingestion_pb2.ListWorkflowVersionsRequest(workflow_id=workflow_id))
    rows = [{"version": v.version, "name": v.name, "createdAt": v.created_at.ToJsonString()} for v in reply.versions]
    print_rows(rows, [("version", "version"), ("name", "name"), ("createdAt", "saved at")], as_json)


@app.command("export")
def workflows_export(
    workflow_id: str,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write to this file instead of printing")] = None,
    version: int = typer.Option(0, help="an older version (default: the current one)"),
) -> None:
    """Print a workflow as YAML that `cxflow workflows apply -f` takes back (its `id` makes apply update it)."""
    workflow = _get(workflow_id, version)
    text = yaml.safe_dump({"id": workflow.id, **_plain(workflow.spec)}, sort_keys=False, allow_unicode=True)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        typer.echo(f"wrote {workflow.id} v{workflow.version} to {output}")


def _set_enabled(workflow_id: str, enabled: bool) -> None:
    method, request = (
        ("EnableWorkflow", ingestion_pb2.EnableWorkflowRequest(workflow_id=workflow_id))
        if enabled
        else ("DisableWorkflow", ingestion_pb2.DisableWorkflowRequest(workflow_id=workflow_id))
    )
    workflow = _stub_call(method, request)
    typer.echo(f"{workflow.id} is {'enabled' if workflow.enabled else 'disabled'} (v{workflow.version})")


@app.command("enable")
def workflows_enable(workflow_id: str) -> None:
    """Let the workflow's trigger start runs again."""
    _set_enabled(workflow_id, True)


@app.command("disable")
def workflows_disable(workflow_id: str) -> None:
    """Stop the workflow's trigger from starting runs (runs in flight finish)."""
    _set_enabled(workflow_id, False)


@app.command("delete")
def workflows_delete(workflow_id: str, yes: bool = typer.Option(False, "--yes", help="do not ask")) -> None:
    """Delete a workflow and its versions (runs in flight finish)."""
    if not yes and not typer.confirm(f"delete workflow {workflow_id} and all its versions?"):
        raise typer.Exit(1)
    _stub_call("DeleteWorkflow", ingestion_pb2.DeleteWorkflowRequest(workflow_id=workflow_id))
    typer.echo(f"deleted {workflow_id}")


@app.command("dry-run")
def workflows_dry_run(
    event_file: Annotated[Path, typer.Option("-f", "--file", help="the sample event (JSON or YAML)")],
    workflow_id: str = typer.Option("", "--workflow", help="a saved workflow (its current version)"),
    spec_file: Annotated[Path | None, typer.Option("--spec", help="or a definition file that need not be saved")] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show what a run would do for a sample event: contact, conditions, every rendered task. Sends nothing."""
    if bool(workflow_id) == bool(spec_file):
        usage_error("give --workflow ID or --spec FILE")
    event = read_document(event_file)
    request = ingestion_pb2.DryRunRequest(workflow_id=workflow_id, event=_struct(event))
    if spec_file is not None:
        spec = read_document(spec_file)
        spec.pop("id", None)
        request.spec.CopyFrom(_struct(spec))
    reply = _stub_call("DryRun", request)
    result = {
        "matched": reply.matched,
        "outcome": reply.outcome,
        "contact": reply.contact_status,
        "conditionsMet": reply.conditions_met,
        "conditions": list(reply.condition_explanation),
        "fields": _plain(reply.fields),
        "tasks": [
            {"index": t.index, "type": t.type, "outcome": t.outcome, "input": _plain(t.input), "error": t.error}
            for t in reply.tasks
        ],
        "warnings": list(reply.warnings),
    }
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    if not reply.matched:
        typer.echo("the trigger would not fire for this event (filter or change type): nothing would run")
        return
    typer.echo(
        f"outcome: {reply.outcome}   contact: {reply.contact_status}   conditions met: {'yes' if reply.conditions_met else 'no'}"
    )
    for line in reply.condition_explanation:
        typer.echo(f"  {line}")
    for task in result["tasks"]:
        typer.echo(f"task {task['index']} ({task['type']}): {task['outcome']}{' - ' + task['error'] if task['error'] else ''}")
        if task["input"]:
            typer.echo("  " + json.dumps(task["input"], ensure_ascii=False))
    for warning in reply.warnings:
        typer.echo(f"warning: {warning}")
