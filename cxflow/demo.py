"""First-start demo set-up for `make up`: an organization, a directory, a Segment source and the "Welcome" workflow.

Everything is created through the services' gRPC APIs with fixed ids, so running it again on every
start changes nothing. The credentials land in <data dir>/demo.env for scripts to `source`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.protobuf import json_format, struct_pb2

from cxflow.v1 import (
    directory_pb2,
    directory_pb2_grpc,
    ingestion_pb2,
    ingestion_pb2_grpc,
)
from services.common.auth import internal_metadata
from services.common.settings import Settings

DEMO_ORGANIZATION_ID = "ORG_demo"
DEMO_DIRECTORY_ID = "POOL_demo"
DEMO_MAILING_LIST_ID = "CG_demo"
DEMO_SOURCE_ID = "SRC_demo"
DEMO_SUBSCRIPTION_ID = "SUB_demo_contacts"
DEMO_WORKFLOW_ID = "WF_welcome"

WELCOME_WORKFLOW_SPEC = {
    "name": "Welcome",
    "enabled": True,
    "trigger": {
        "type": "json_event",
        "mappings": [
            {"name": "userId", "path": "$.userId", "type": "string"},
            {"name": "plan", "path": "$.properties.plan", "type": "string"},
        ],
    },
    "contact": {"directoryId": DEMO_DIRECTORY_ID, "lookup": "extRef", "path": "$.userId"},
    "loadContact": True,
    "tasks": [
        {
            "type": "email",
            "to": ["{{ contact.email }}"],
            "subject": "Welcome to cxflow, {{ contact.firstName }}!",
            "text": "Hi {{ contact.firstName }},\n\nthanks for signing up{% if fields.plan %} for the {{ fields.plan }} plan{% endif %}.\n",
            "html": "<p>Hi {{ contact.firstName }},</p><p>thanks for signing up{% if fields.plan %} for the {{ fields.plan }} plan{% endif %}.</p>",
        }
    ],
}


@dataclass(frozen=True)
class DemoCredentials:
    api_token: str
    source_id: str
    write_key: str
    directory_id: str
    mailing_list_id: str
    trigger_url: str

    def as_env(self) -> dict[str, str]:
        return {
            "CXFLOW_API_TOKEN": self.api_token,
            "CXFLOW_SOURCE_ID": self.source_id,
            "CXFLOW_WRITE_KEY": self.write_key,
            "CXFLOW_DIRECTORY_ID": self.directory_id,
            "CXFLOW_MAILING_LIST_ID": self.mailing_list_id,
            "CXFLOW_DEMO_TRIGGER_URL": self.trigger_url,
        }


def demo_env_path(settings: Settings) -> Path:
    return settings.data_dir / "demo.env"


def read_demo_env(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        line = line.removeprefix("export ")
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = shlex.split(value)[0] if value.strip() else ""
    return values


def write_demo_env(path: Path, credentials: DemoCredentials) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# cxflow demo credentials, written by `make up`; use: source .data/demo.env"]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in credentials.as_env().items()]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


async def ensure_demo(settings: Settings) -> DemoCredentials:
    """Creates (or finds) the demo organization and its objects and returns their credentials."""
    token = settings.resolved_internal_token()
    previous = read_demo_env(demo_env_path(settings))
    as_internal = internal_metadata(token)
    as_demo = internal_metadata(token, DEMO_ORGANIZATION_ID)

    async with grpc.aio.insecure_channel(settings.directory_grpc_target) as directory_channel, grpc.aio.insecure_channel(
        settings.ingestion_grpc_target
    ) as ingestion_channel:
        organizations = directory_pb2_grpc.OrganizationServiceStub(directory_channel)
        directories = directory_pb2_grpc.DirectoryServiceStub(directory_channel)
        ingestion = ingestion_pb2_grpc.IngestionServiceStub(ingestion_channel)
        workflows = ingestion_pb2_grpc.WorkflowServiceStub(ingestion_channel)

        await organizations.CreateOrganization(
            directory_pb2.CreateOrganizationRequest(id=DEMO_ORGANIZATION_ID, name="Demo organization"), metadata=as_internal
        )
        api_token = previous.get("CXFLOW_API_TOKEN", "")
        if not api_token or not await _token_is_valid(organizations, api_token, as_internal):
            created = await organizations.CreateApiToken(
                directory_pb2.CreateApiTokenRequest(organization_id=DEMO_ORGANIZATION_ID, name="demo"), metadata=as_internal
            )
            api_token = created.token

        await directories.CreateDirectory(
            directory_pb2.CreateDirectoryRequest(
                id=DEMO_DIRECTORY_ID,
                name="Demo directory",
                is_default=True,
                dedup_rules=[
                    directory_pb2.DedupRule(fields=[directory_pb2.DEDUP_FIELD_EXT_REF]),
                    directory_pb2.DedupRule(fields=[directory_pb2.DEDUP_FIELD_EMAIL]),
                ],
            ),
            metadata=as_demo,
        )
        await directories.CreateMailingList(
            directory_pb2.CreateMailingListRequest(
                id=DEMO_MAILING_LIST_ID, directory_id=DEMO_DIRECTORY_ID, name="Demo mailing list"
            ),
            metadata=as_demo,
        )

        # A write key is shown only when its source is created; a lost demo.env gets a fresh source.
        source_id = previous.get("CXFLOW_SOURCE_ID") or DEMO_SOURCE_ID
        source = await ingestion.CreateSource(
            ingestion_pb2.CreateSourceRequest(id=source_id, name="Demo Segment source"), metadata=as_demo
        )
        write_key = source.write_key or previous.get("CXFLOW_WRITE_KEY", "")
        if not write_key:
            source = await ingestion.CreateSource(ingestion_pb2.CreateSourceRequest(name="Demo Segment source"), metadata=as_demo)
            write_key = source.write_key
        await ingestion.CreateSubscription(
            ingestion_pb2.CreateSubscriptionRequest(
                subscription=ingestion_pb2.Subscription(
                    id=DEMO_SUBSCRIPTION_ID if source.id == DEMO_SOURCE_ID else f"SUB_{source.id}",
                    source_id=source.id,
                    name="Create or update contact (Segment defaults)",
                    action=ingestion_pb2.SUBSCRIPTION_ACTION_UPSERT_CONTACT,
                    directory_id=DEMO_DIRECTORY_ID,
                    enabled=True,
                )
            ),
            metadata=as_demo,
        )

        spec = struct_pb2.Struct()
        json_format.ParseDict(WELCOME_WORKFLOW_SPEC, spec)
        workflow = await workflows.CreateWorkflow(
            ingestion_pb2.CreateWorkflowRequest(id=DEMO_WORKFLOW_ID, spec=spec), metadata=as_demo
        )

    credentials = DemoCredentials(
        api_token=api_token,
        source_id=source.id,
        write_key=write_key,
        directory_id=DEMO_DIRECTORY_ID,
        mailing_list_id=DEMO_MAILING_LIST_ID,
        trigger_url=workflow.trigger_url,
    )
    write_demo_env(demo_env_path(settings), credentials)
    return credentials


async def _token_is_valid(organizations: directory_pb2_grpc.OrganizationServiceStub, api_token: str, metadata: tuple) -> bool:
    try:
        reply = await organizations.ResolveApiToken(directory_pb2.ResolveApiTokenRequest(token=api_token), metadata=metadata)
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            return False
        raise
    return reply.organization_id == DEMO_ORGANIZATION_ID
