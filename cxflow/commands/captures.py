"""`cxflow capture ...`: capture mode ("Run test data") of a workflow's trigger, and auto-mapping of a sample payload."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from google.protobuf import json_format, struct_pb2

from cxflow.commands.support import call, console, print_rows, usage_error
from cxflow.v1 import ingestion_pb2, ingestion_pb2_grpc
from services.common.settings import Settings

app = typer.Typer(
    help="Capture the events a workflow's trigger receives, and propose mappings from a sample.", no_args_is_help=True
)


def _stub(channel: Any) -> ingestion_pb2_grpc.IngestionServiceStub:
    return ingestion_pb2_grpc.IngestionServiceStub(channel)


def _capture_document(capture: ingestion_pb2.TriggerCapture) -> dict[str, Any]:
    return {
        "workflowId": capture.workflow_id,
        "requested": capture.requested,
        "remaining": capture.remaining,
        "startedAt": capture.started_at.ToJsonString(),
        "events": [
            {
                "eventId": e.event_id,
                "via": e.via,
                "receivedAt": e.received_at.ToJsonString(),
                "payload": json_format.MessageToDict(e.payload),
            }
            for e in capture.events
        ],
    }


@app.command("start")
def capture_start(
    workflow_id: str = typer.Argument(..., help="the workflow (WF_…)"),
    count: int = typer.Option(1, "--count", min=1, max=100, help="how many of the next events to record"),
) -> None:
    """Record the next COUNT events the workflow's trigger receives (discarding the last capture)."""
    settings = Settings.from_env()
    capture = call(
        settings.ingestion_grpc_target,
        lambda channel, md: _stub(channel).StartTriggerCapture(
            ingestion_pb2.StartTriggerCaptureRequest(workflow_id=workflow_id, count=count), metadata=md
        ),
    )
    console.print(
        f"capturing the next {capture.requested} event(s) of {capture.workflow_id}; read them with `cxflow capture show`"
    )


@app.command("show")
def capture_show(
    workflow_id: str = typer.Argument(..., help="the workflow (WF_…)"),
    as_json: bool = typer.Option(False, "--json", help="print the capture as JSON, payloads included"),
) -> None:
    """Show what the workflow's capture recorded."""
    settings = Settings.from_env()
    capture = call(
        settings.ingestion_grpc_target,
        lambda channel, md: _stub(channel).GetTriggerCapture(
            ingestion_pb2.GetTriggerCaptureRequest(workflow_id=workflow_id), metadata=md
        ),
    )
    document = _capture_document(capture)
    if as_json:
        typer.echo(json.dumps(document, indent=2))
        return
    console.print(f"{document['requested'] - document['remaining']} of {document['requested']} event(s) captured")
    rows = [{**e, "payload": json.dumps(e["payload"])[:80]} for e in document["events"]]
    print_rows(rows, [("eventId", "event id"), ("via", "via"), ("receivedAt", "received"), ("payload", "payload")], False)


@app.command("propose")
def capture_propose(
    sample: Annotated[Path, typer.Argument(help="a JSON file holding one sample event")],
    as_json: bool = typer.Option(False, "--json", help="print the mappings as JSON (ready for a definition)"),
) -> None:
    """Propose one typed mapping per leaf of a sample event ("Add field mapping")."""
    try:
        document = json.loads(sample.read_text())
        struct = struct_pb2.Struct()
        struct.update(document)
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        usage_error(f"{sample} is not a JSON object: {exc}")
    settings = Settings.from_env()
    reply = call(
        settings.ingestion_grpc_target,
        lambda channel, md: _stub(channel).ProposeMappings(ingestion_pb2.ProposeMappingsRequest(sample=struct), metadata=md),
    )
    rows = [{"name": m.name, "path": m.path, "type": m.type} for m in reply.mappings]
    print_rows(rows, [("name", "name"), ("path", "path"), ("type", "type")], as_json)
