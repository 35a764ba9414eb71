"""`cxflow directories ...`: list and create the organization's directories (pools), and how other commands pick one."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cxflow.commands.support import JSON_OPTION, all_pages, call, print_json, print_rows, usage_error
from cxflow.v1 import directory_pb2, directory_pb2_grpc
from services.common.settings import Settings

app = typer.Typer(help="Directories (pools) of contacts.", no_args_is_help=True)

DIRECTORY_OPTION_HELP = "directory id (POOL_…); default: the organization's default directory"


def all_directories(settings: Settings) -> list[directory_pb2.Directory]:
    return all_pages(
        lambda page: call(
            settings.directory_grpc_target,
            lambda channel, md: directory_pb2_grpc.DirectoryServiceStub(channel).ListDirectories(
                directory_pb2.ListDirectoriesRequest(page=page), metadata=md
            ),
        ),
        lambda reply: reply.directories,
    )


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
    usage_error("name a directory with --directory (the organization has no default directory)")


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
def directories_list(as_json: bool = JSON_OPTION) -> None:
    """List the organization's directories with their contact counts and dedup rules."""
    rows = [_row(directory) for directory in all_directories(Settings.from_env())]
    if not as_json:
        rows = [{**row, "dedupRules": ", ".join(row["dedupRules"]) or "(none)"} for row in rows]
    print_rows(
        rows,
        [("id", "id"), ("name", "name"), ("default", "default"), ("contacts", "contacts"), ("dedupRules", "dedup rules")],
        as_json,
    )


_DEDUP_FIELDS = {
    "email": directory_pb2.DEDUP_FIELD_EMAIL,
    "phone": directory_pb2.DEDUP_FIELD_PHONE,
    "extref": directory_pb2.DEDUP_FIELD_EXT_REF,
    "firstname": directory_pb2.DEDUP_FIELD_FIRST_NAME,
    "lastname": directory_pb2.DEDUP_FIELD_LAST_NAME,
}


def _dedup_rule(text: str) -> directory_pb2.DedupRule:
    names = [part.strip() for part in text.split("+")]
    unknown = [name for name in names if name.lower().replace("_", "") not in _DEDUP_FIELDS]
    if unknown:
        usage_error(f"--dedup {text!r}: unknown field {unknown[0]!r} (fields: email, phone, extRef, firstName, lastName)")
    return directory_pb2.DedupRule(fields=[_DEDUP_FIELDS[name.lower().replace("_", "")] for name in names])


@app.command("create")
def directories_create(
    name: str,
    dedup: Annotated[
        list[str] | None,
        typer.Option("--dedup", help="a dedup rule, fields joined by '+', e.g. extRef or email+lastName; repeat, in order"),
    ] = None,
    is_default: bool = typer.Option(False, "--default", help="make it the organization's default directory"),
    directory_id: str = typer.Option("", "--id", help="a chosen id (POOL_…); an existing directory with it is returned as is"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a directory with up to 3 ordered dedup rules."""
    settings = Settings.from_env()
    request = directory_pb2.CreateDirectoryRequest(
        name=name, dedup_rules=[_dedup_rule(rule) for rule in dedup or []], is_default=is_default, id=directory_id
    )
    created = call(
        settings.directory_grpc_target,
        lambda channel, md: directory_pb2_grpc.DirectoryServiceStub(channel).CreateDirectory(request, metadata=md),
    )
    row = _row(created)
    if as_json:
        print_json(row)
        return
    typer.echo(f"directory {created.id} ({created.name}), dedup rules: {', '.join(row['dedupRules']) or '(none)'}")
