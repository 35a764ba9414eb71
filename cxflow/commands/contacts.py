"""`cxflow contacts ...`: show one contact (with its lists and segments), search a directory's contacts, import a CSV."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import grpc
import typer
from google.protobuf import json_format
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from cxflow.commands.contact_csv import CsvLayoutError, CsvRow, check_header, count_rows, read_rows
from cxflow.commands.directories import DIRECTORY_OPTION_HELP, resolve_directory
from cxflow.commands.support import (
    JSON_OPTION,
    all_pages,
    api_token,
    call,
    describe_rpc_error,
    print_fields,
    print_json,
    print_rows,
    refused,
    usage_error,
)
from cxflow.v1 import directory_pb2, directory_pb2_grpc
from services.common.settings import Settings

app = typer.Typer(help="Contacts of a directory.", no_args_is_help=True)


def contact_row(contact: directory_pb2.Contact) -> dict[str, Any]:
    return {
        "id": contact.id,
        "firstName": contact.first_name,
        "lastName": contact.last_name,
        "email": contact.email,
        "phone": contact.phone,
        "extRef": contact.ext_ref,
        "language": contact.language,
        "unsubscribed": contact.unsubscribed,
        "embeddedData": json_format.MessageToDict(contact.embedded_data),
        "mailingListIds": list(contact.mailing_list_ids),
        "segmentIds": list(contact.segment_ids),
        "createdAt": contact.created_at.ToJsonString(),
        "updatedAt": contact.updated_at.ToJsonString(),
    }


@app.command("get")
def contacts_get(
    contact_id: str,
    directory: str = typer.Option(None, "--directory", "-d", help=DIRECTORY_OPTION_HELP),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show one contact: its fields, embedded data, mailing lists and the segments it is in now."""
    settings = Settings.from_env()
    directory_id = resolve_directory(settings, directory)
    contact = call(
        settings.directory_grpc_target,
        lambda channel, md: directory_pb2_grpc.DirectoryServiceStub(channel).GetContact(
            directory_pb2.GetContactRequest(directory_id=directory_id, contact_id=contact_id), metadata=md
        ),
    )
    print_fields(contact_row(contact), as_json)


def _filter(expressions: list[str], any_of: bool) -> directory_pb2.ContactFilter | None:
    """field=value expressions (fields: extRef, email, phone, firstName, lastName, embeddedData.<key>)."""
    filters = []
    for expression in expressions:
        field, separator, value = expression.partition("=")
        if not separator or not field:
            usage_error(f"--filter takes field=value, got {expression!r}")
        filters.append(directory_pb2.ContactFilter(field=directory_pb2.FieldFilter(field=field, comparison="eq", value=value)))
    if not filters:
        return None
    conjunction = directory_pb2.CONJUNCTION_OR if any_of else directory_pb2.CONJUNCTION_AND
    return directory_pb2.ContactFilter(group=directory_pb2.FilterGroup(conjunction=conjunction, filters=filters))


@app.command("search")
def contacts_search(
    filters: Annotated[
        list[str] | None, typer.Option("--filter", "-f", help="field=value; repeat for more (all must match)")
    ] = None,
    any_of: bool = typer.Option(False, "--any", help="match contacts meeting any filter instead of all"),
    directory: str = typer.Option(None, "--directory", "-d", help=DIRECTORY_OPTION_HELP),
    limit: int = typer.Option(100, "--limit", help="at most this many contacts"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Search contacts by extRef, email, phone, names or embeddedData.<key> (equality)."""
    settings = Settings.from_env()
    directory_id = resolve_directory(settings, directory)
    condition = _filter(filters or [], any_of)
    contacts = all_pages(
        lambda page: call(
            settings.directory_grpc_target,
            lambda channel, md: directory_pb2_grpc.DirectoryServiceStub(channel).SearchContacts(
                directory_pb2.SearchContactsRequest(directory_id=directory_id, filter=condition, page=page), metadata=md
            ),
        ),
        lambda reply: reply.contacts,
        limit=limit,
    )
    rows = [contact_row(contact) for contact in contacts]
    if not as_json:
        rows = [{**row, "segmentIds": ", ".join(row["segmentIds"])} for row in rows]
    print_rows(
        rows,
        [
            ("id", "id"),
            ("email", "email"),
            ("firstName", "first name"),
            ("lastName", "last name"),
            ("extRef", "extRef"),
            ("segmentIds", "segments"),
        ],
        as_json,
    )


# UpsertContacts takes at most this many contacts per call.
MAX_IMPORT_BATCH = 1000
# INVALID_ARGUMENT from UpsertContacts names the entry at fault: "contacts[12].embedded_data...: ...".
_ENTRY_AT_FAULT = re.compile(r"contacts\[(\d+)\]")


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "created": self.created, "updated": self.updated, "failed": self.failed}


@app.command("import")
def contacts_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with a header row: firstName,lastName,email,phone,extRef,language; other columns become embedded data"
        ),
    ],
    directory: str = typer.Option(None, "--directory", "-d", help=DIRECTORY_OPTION_HELP),
    batch_size: int = typer.Option(500, "--batch-size", min=1, max=MAX_IMPORT_BATCH, help="contacts per UpsertContacts call"),
    as_json: bool = typer.Option(False, "--json", help="print the counts and failed rows as JSON"),
) -> None:
    """Create or update contacts from a CSV, in batches, deduplicated by the directory's rules.

    Rows without an email, phone or extRef, with a malformed email, with the wrong number of columns, or refused by the
    directory are skipped and listed by line; the rest are imported. Exit code 1 when any row failed.
    """
    if not file.is_file():
        usage_error(f"{file}: no such file")
    settings = Settings.from_env()
    directory_id = resolve_directory(settings, directory)
    try:
        check_header(file)
        total = count_rows(file)
        report = asyncio.run(_import(settings.directory_grpc_target, directory_id, file, total, batch_size))
    except (CsvLayoutError, UnicodeDecodeError) as exc:
        usage_error(f"cannot import {file}: {exc}")
    if as_json:
        print_json(report.as_dict())
    else:
        typer.echo(
            f"{report.rows} rows into {directory_id}: {report.created} created, {report.updated} updated, {len(report.failed)} failed"
        )
        if report.failed:
            print_rows(report.failed, [("line", "line"), ("error", "why it was not imported")], as_json=False)
    if report.failed:
        raise typer.Exit(1)


async def _import(target: str, directory_id: str, file: Path, total: int, batch_size: int) -> ImportReport:
    report = ImportReport()
    metadata = (("authorization", f"Bearer {api_token()}"),)
    # The bar goes to stderr, so stdout holds only the result (and --json stays parseable).
    progress = Progress(
        TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=Console(stderr=True)
    )
    async with grpc.aio.insecure_channel(target) as channel:
        stub = directory_pb2_grpc.DirectoryServiceStub(channel)
        with progress:
            task = progress.add_task("import", total=total)
            batch: list[CsvRow] = []
            for row in read_rows(file):
                report.rows += 1
                if row.contact is None:
                    report.failed.append({"line": row.line, "error": row.error})
                    progress.advance(task)
                    continue
                batch.append(row)
                if len(batch) == batch_size:
                    await _send(stub, metadata, target, directory_id, batch, report)
                    progress.advance(task, len(batch))
                    batch = []
            if batch:
                await _send(stub, metadata, target, directory_id, batch, report)
                progress.advance(task, len(batch))
    report.failed.sort(key=lambda failure: failure["line"])
    return report


async def _send(
    stub: directory_pb2_grpc.DirectoryServiceStub,
    metadata: tuple[tuple[str, str], ...],
    target: str,
    directory_id: str,
    batch: list[CsvRow],
    report: ImportReport,
) -> None:
    """One UpsertContacts call per batch; an entry the directory refuses is set aside and the rest are sent again."""
    pending = list(batch)
    while pending:
        request = directory_pb2.UpsertContactsRequest(directory_id=directory_id, contacts=[row.contact for row in pending])
        try:
            reply = await stub.UpsertContacts(request, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            at_fault = _ENTRY_AT_FAULT.search(exc.details() or "")
            if exc.code() != grpc.StatusCode.INVALID_ARGUMENT or at_fault is None or int(at_fault.group(1)) >= len(pending):
                done = f"{report.created} created and {report.updated} updated before this"
                refused(f"{describe_rpc_error(target, exc)} ({done})")
            index = int(at_fault.group(1))
            message = _ENTRY_AT_FAULT.sub("contact", exc.details(), count=1)
            report.failed.append({"line": pending[index].line, "error": message})
            del pending[index]
            continue
        for result in reply.results:
            if result.created:
                report.created += 1
            else:
                report.updated += 1
        return
