"""`cxflow tokens ...`: create, list and revoke an organization's API tokens (the plain token is printed once, at creation)."""

from __future__ import annotations

import typer

from cxflow.commands.orgs import organization_service
from cxflow.commands.support import JSON_OPTION, admin_call, all_pages, call, console, print_json, print_rows
from cxflow.v1 import directory_pb2
from services.common.settings import Settings

app = typer.Typer(
    help="API tokens of an organization (stored hashed; shown once when created). `list` and `revoke` are admin commands: "
    "they need the internal token (CXFLOW_INTERNAL_TOKEN or the data folder's internal.token).",
    no_args_is_help=True,
)

ORG_OPTION_HELP = "the organization (ORG_…; admin, with the internal token); default: CXFLOW_API_TOKEN's organization"


def _organization_of_api_token(settings: Settings) -> str:
    """The organization CXFLOW_API_TOKEN belongs to (WhoAmI)."""
    organization = call(
        settings.directory_grpc_target,
        lambda channel, md: organization_service(channel).WhoAmI(directory_pb2.WhoAmIRequest(), metadata=md),
    )
    return organization.id


@app.command("create")
def tokens_create(
    name: str = typer.Option("cli", "--name", help="a label saying what the token is for, e.g. 'segment destination'"),
    organization_id: str = typer.Option("", "--org", help=ORG_OPTION_HELP),
    as_json: bool = JSON_OPTION,
) -> None:
    """Issue a new API token; the plain token is printed this once (only its hash is stored)."""
    settings = Settings.from_env()
    request = directory_pb2.CreateApiTokenRequest(organization_id=organization_id, name=name)
    if organization_id:
        issued = admin_call(
            settings.directory_grpc_target, lambda channel, md: organization_service(channel).CreateApiToken(request, metadata=md)
        )
    else:
        issued = call(
            settings.directory_grpc_target, lambda channel, md: organization_service(channel).CreateApiToken(request, metadata=md)
        )
    if as_json:
        print_json({"tokenId": issued.token_id, "name": name, "token": issued.token})
        return
    typer.echo(f"API token {issued.token_id} ({name}): {issued.token}")
    console.print("[yellow]the token is shown this once; only its hash is stored[/yellow]")


@app.command("list")
def tokens_list(organization_id: str = typer.Option("", "--org", help=ORG_OPTION_HELP), as_json: bool = JSON_OPTION) -> None:
    """List an organization's API tokens: id, label, creation time (never the tokens themselves)."""
    settings = Settings.from_env()
    organization_id = organization_id or _organization_of_api_token(settings)
    tokens = all_pages(
        lambda page: admin_call(
            settings.directory_grpc_target,
            lambda channel, md: organization_service(channel).ListApiTokens(
                directory_pb2.ListApiTokensRequest(organization_id=organization_id, page=page), metadata=md
            ),
        ),
        lambda reply: reply.tokens,
    )
    rows = [
        {"id": t.id, "organizationId": t.organization_id, "name": t.name, "createdAt": t.created_at.ToJsonString()}
        for t in tokens
    ]
    print_rows(rows, [("id", "id"), ("name", "name"), ("createdAt", "created")], as_json)


@app.command("revoke")
def tokens_revoke(token_id: str, organization_id: str = typer.Option("", "--org", help=ORG_OPTION_HELP)) -> None:
    """Revoke an API token: the directory refuses it at once, the other services within 30 seconds (their cache)."""
    settings = Settings.from_env()
    organization_id = organization_id or _organization_of_api_token(settings)
    admin_call(
        settings.directory_grpc_target,
        lambda channel, md: organization_service(channel).RevokeApiToken(
            directory_pb2.RevokeApiTokenRequest(organization_id=organization_id, token_id=token_id), metadata=md
        ),
    )
    typer.echo(f"revoked {token_id}")
