"""`cxflow orgs ...`: list and create organizations (admin commands: they authenticate with the internal token)."""

from __future__ import annotations

from typing import Any

import typer

from cxflow.commands.support import JSON_OPTION, admin_call, all_pages, console, print_json, print_rows
from cxflow.v1 import directory_pb2, directory_pb2_grpc
from services.common.settings import Settings

app = typer.Typer(
    help="Organizations (admin: uses CXFLOW_INTERNAL_TOKEN or the data folder's internal.token).", no_args_is_help=True
)


def organization_service(channel: Any) -> directory_pb2_grpc.OrganizationServiceStub:
    """The directory's organization API (organizations and their API tokens; `cxflow tokens` uses it too)."""
    return directory_pb2_grpc.OrganizationServiceStub(channel)


def organization_row(organization: directory_pb2.Organization) -> dict[str, Any]:
    return {"id": organization.id, "name": organization.name, "createdAt": organization.created_at.ToJsonString()}


@app.command("list")
def orgs_list(as_json: bool = JSON_OPTION) -> None:
    """List every organization, oldest first."""
    settings = Settings.from_env()
    organizations = all_pages(
        lambda page: admin_call(
            settings.directory_grpc_target,
            lambda channel, md: organization_service(channel).ListOrganizations(
                directory_pb2.ListOrganizationsRequest(page=page), metadata=md
            ),
        ),
        lambda reply: reply.organizations,
    )
    print_rows([organization_row(o) for o in organizations], [("id", "id"), ("name", "name"), ("createdAt", "created")], as_json)


@app.command("create")
def orgs_create(
    name: str,
    organization_id: str = typer.Option(
        "", "--id", help="a chosen id (ORG_…); an existing organization with it is returned as is"
    ),
    token_name: str = typer.Option("admin", "--token-name", help="label of the first API token"),
    no_token: bool = typer.Option(False, "--no-token", help="do not issue a first API token"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create an organization and, unless --no-token, its first API token (printed once: store it now)."""
    settings = Settings.from_env()
    organization = admin_call(
        settings.directory_grpc_target,
        lambda channel, md: organization_service(channel).CreateOrganization(
            directory_pb2.CreateOrganizationRequest(name=name, id=organization_id), metadata=md
        ),
    )
    result: dict[str, Any] = organization_row(organization)
    if not no_token:
        issued = admin_call(
            settings.directory_grpc_target,
            lambda channel, md: organization_service(channel).CreateApiToken(
                directory_pb2.CreateApiTokenRequest(organization_id=organization.id, name=token_name), metadata=md
            ),
        )
        result.update(tokenId=issued.token_id, token=issued.token)
    if as_json:
        print_json(result)
        return
    typer.echo(f"organization {organization.id} ({organization.name})")
    if not no_token:
        typer.echo(f"API token {result['tokenId']} ({token_name}): {result['token']}")
        console.print("[yellow]the token is shown this once; only its hash is stored[/yellow]")
