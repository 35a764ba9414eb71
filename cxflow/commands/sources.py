"""`cxflow sources ...` and `cxflow subscriptions ...`: Segment sources (write keys) and the subscriptions routing their events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from google.protobuf import json_format

from cxflow.commands.support import JSON_OPTION, all_pages, call, print_rows, usage_error
from cxflow.v1 import ingestion_pb2, ingestion_pb2_grpc
from services.common.settings import Settings

app = typer.Typer(help="Segment sources: where events come from, each with its write key.", no_args_is_help=True)
subscriptions_app = typer.Typer(help="Subscriptions: which events of a source do what.", no_args_is_help=True)

ACTIONS = {
    "upsert-contact": ingestion_pb2.SUBSCRIPTION_ACTION_UPSERT_CONTACT,
    "upsert-transaction": ingestion_pb2.SUBSCRIPTION_ACTION_UPSERT_TRANSACTION,
    "start-workflow": ingestion_pb2.SUBSCRIPTION_ACTION_START_WORKFLOW,
}
_ACTION_NAMES = {value: name for name, value in ACTIONS.items()}


def _stub(channel: Any) -> ingestion_pb2_grpc.IngestionServiceStub:
    return ingestion_pb2_grpc.IngestionServiceStub(channel)


def _source_row(source: ingestion_pb2.Source) -> dict[str, Any]:
    row: dict[str, Any] = {"id": source.id, "name": source.name, "createdAt": source.created_at.ToJsonString()}
    if source.write_key:
        row["writeKey"] = source.write_key
    return row


@app.command("list")
def sources_list(as_json: bool = JSON_OPTION) -> None:
    """List the organization's sources (write keys are shown once, at creation)."""
    settings = Settings.from_env()
    sources = all_pages(
        lambda page: call(
            settings.ingestion_grpc_target,
            lambda channel, md: _stub(channel).ListSources(ingestion_pb2.ListSourcesRequest(page=page), metadata=md),
        ),
        lambda reply: reply.sources,
        page_size=None,
    )
    print_rows([_source_row(s) for s in sources], [("id", "id"), ("name", "name"), ("createdAt", "created")], as_json)


@app.command("create")
def sources_create(
    name: str = typer.Argument(..., help="a label, e.g. web or ios"),
    source_id: str = typer.Option("", "--id", help="choose the id (SRC_…) to make the call idempotent"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a source and print its write key (shown only now: keep it)."""
    settings = Settings.from_env()
    source = call(
        settings.ingestion_grpc_target,
        lambda channel, md: _stub(channel).CreateSource(ingestion_pb2.CreateSourceRequest(name=name, id=source_id), metadata=md),
    )
    print_rows([_source_row(source)], [("id", "id"), ("name", "name"), ("writeKey", "write key")], as_json)


def _subscription_row(subscription: ingestion_pb2.Subscription) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "sourceId": subscription.source_id,
        "name": subscription.name,
        "action": _ACTION_NAMES.get(subscription.action, "unknown"),
        "filter": subscription.filter,
        "target": subscription.workflow_id or subscription.directory_id,
        "mailingListId": subscription.mailing_list_id,
        "enabled": subscription.enabled,
        "mappings": [json_format.MessageToDict(m) for m in subscription.mappings],
    }


_SUBSCRIPTION_COLUMNS = [
    ("id", "id"),
    ("name", "name"),
    ("action", "action"),
    ("filter", "filter"),
    ("target", "target"),
    ("enabled", "enabled"),
]


@subscriptions_app.command("list")
def subscriptions_list(
    source_id: str = typer.Argument(..., help="the source (SRC_…)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """List a source's subscriptions."""
    settings = Settings.from_env()
    subscriptions = all_pages(
        lambda page: call(
            settings.ingestion_grpc_target,
            lambda channel, md: _stub(channel).ListSubscriptions(
                ingestion_pb2.ListSubscriptionsRequest(source_id=source_id, page=page), metadata=md
            ),
        ),
        lambda reply: reply.subscriptions,
        page_size=None,
    )
    print_rows([_subscription_row(s) for s in subscriptions], _SUBSCRIPTION_COLUMNS, as_json)


@subscriptions_app.command("create")
def subscriptions_create(
    source_id: str = typer.Argument(..., help="the source (SRC_…)"),
    action: str = typer.Option(..., "--action", help="upsert-contact, upsert-transaction or start-workflow"),
    name: str = typer.Option("", "--name"),
    event_filter: str = typer.Option(
        "", "--filter", help='Segment subscription syntax; default: the action\'s, e.g. type = "identify"'
    ),
    directory_id: str = typer.Option("", "--directory", help="for the contact actions (POOL_…)"),
    mailing_list_id: str = typer.Option("", "--mailing-list", help="for upsert-transaction (CG_…)"),
    workflow_id: str = typer.Option("", "--workflow", help="for start-workflow (WF_…)"),
    mappings_file: Annotated[Path | None, typer.Option("--mappings", help="a JSON file: [{name, path | value, type}, …]")] = None,
    disabled: bool = typer.Option(False, "--disabled", help="create it switched off"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a subscription of a source."""
    if action not in ACTIONS:
        usage_error(f"--action must be one of {', '.join(ACTIONS)}")
    mappings = []
    if mappings_file is not None:
        try:
            documents = json.loads(mappings_file.read_text())
            mappings = [json_format.ParseDict(document, ingestion_pb2.FieldMapping()) for document in documents]
        except (OSError, ValueError, TypeError, json_format.ParseError) as exc:
            usage_error(f"cannot read {mappings_file}: {exc}")
    subscription = ingestion_pb2.Subscription(
        source_id=source_id,
        name=name or action,
        action=ACTIONS[action],
        filter=event_filter,
        directory_id=directory_id,
        mailing_list_id=mailing_list_id,
        workflow_id=workflow_id,
        mappings=mappings,
        enabled=not disabled,
    )
    settings = Settings.from_env()
    created = call(
        settings.ingestion_grpc_target,
        lambda channel, md: _stub(channel).CreateSubscription(
            ingestion_pb2.CreateSubscriptionRequest(subscription=subscription), metadata=md
        ),
    )
    print_rows([_subscription_row(created)], _SUBSCRIPTION_COLUMNS, as_json)
