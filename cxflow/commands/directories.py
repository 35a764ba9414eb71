"""`cxflow directories ...`: the organization's directories (pools), and how other commands pick one."""

from __future__ import annotations

from typing import Any

import typer

from cxflow.commands.support import call, console, print_rows
from cxflow.v1 import common_pb2, directory_pb2, directory_pb2_grpc
from services.common.settings import Settings

app = typer.Typer(help="Directories (pools) of contacts.", no_args_is_help=True)

DIRECTORY_OPTION_HELP = "directory id (POOL_…); default: the organization's default directory"


def all_directories(settings: Settings) -> list[directory_pb2.Directory]:
    found: list[directory_pb2.Directory] = []
    page_token = ""
    while True:
        reply = call(
            settings.directory_grpc_target,
            lambda channel, md, page_token=page_token: directory_pb2_grpc.DirectoryServiceStub(channel).ListDirectories(
                directory_pb2.ListDirectoriesRequest(page=common_pb2.PageRequest(page_size=1000, page_token=page_token)),
                metadata=md,
            ),
        )
        found.extend(reply.directories)
        page_token = reply.next_page_token
        if not page_token:
            return found


def resolve_directory(settings: Settings, directory_id: str | None) -> str:
    """The directory a command works on: the one given, else the default one, else the only one."""
    if directory_id:
        return directory_id
    directories = all_directories(settings)
    defaults = [directory.id for directory in directories if directory.is_default]
    if defaults:
        return defaults[0]
    if len(directories) == 1:
        return directories[0].id
    console.print("[red]name a directory with --directory[/red] (the organization has no default directory)")
    raise typer.Exit(2)


def _row(directory: directory_pb2.Directory) -> dict[str, Any]:
    rules = [
        "+".join(directory_pb2.DedupField.Name(field).removeprefix("DEDUP_FIELD_").lower() for field in rule.fields)
        for rule in directory.dedup_rules
    ]
    return {
        "id": directory.id,
        "name": directory.name,
        "default": directory.is_default,
        "contacts": directory.contact_count,
        "dedupRules": rules,
    }


@app.command("list")
def directories_list(as_json: bool = typer.Option(False, "--json", help="print JSON for scripts")) -> None:
    """List the organization's directories with their contact counts and dedup rules."""
    rows = [_row(directory) for directory in all_directories(Settings.from_env())]
    if not as_json:
        rows = [{**row, "dedupRules": ", ".join(row["dedupRules"]) or "(none)"} for row in rows]
    print_rows(rows, [("id", "id"), ("name", "name"), ("default", "default"), ("contacts", "contacts"), ("dedupRules", "dedup rules")], as_json)
