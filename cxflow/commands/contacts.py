"""`cxflow contacts ...`: show one contact (with its lists and segments) or search a directory's contacts."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from google.protobuf import json_format

from cxflow.commands.directories import DIRECTORY_OPTION_HELP, resolve_directory
from cxflow.commands.support import call, console, print_rows
from cxflow.v1 import common_pb2, directory_pb2, directory_pb2_grpc
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
    as_json: bool = typer.Option(False, "--json", help="print JSON for scripts"),
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
    row = contact_row(contact)
    if as_json:
        print_rows([row], [], as_json=True)
        return
    for key, value in row.items():
        if isinstance(value, (list, dict)):
            value = ", ".join(value) if isinstance(value, list) else ", ".join(f"{k}={v}" for k, v in value.items())
        console.print(f"[bold]{key}[/bold]: {value}")


def _filter(expressions: list[str], any_of: bool) -> directory_pb2.ContactFilter | None:
    """field=value expressions (fields: extRef, email, phone, firstName, lastName, embeddedData.<key>)."""
    filters = []
    for expression in expressions:
        field, separator, value = expression.partition("=")
        if not separator or not field:
            console.print(f"[red]--filter takes field=value[/red], got {expression!r}")
            raise typer.Exit(2)
        filters.append(directory_pb2.ContactFilter(field=directory_pb2.FieldFilter(field=field, comparison="eq", value=value)))
    if not filters:
        return None
    conjunction = directory_pb2.CONJUNCTION_OR if any_of else directory_pb2.CONJUNCTION_AND
    return directory_pb2.ContactFilter(group=directory_pb2.FilterGroup(conjunction=conjunction, filters=filters))


@app.command("search")
def contacts_search(
    filters: Annotated[list[str] | None, typer.Option("--filter", "-f", help="field=value; repeat for more (all must match)")] = None,
    any_of: bool = typer.Option(False, "--any", help="match contacts meeting any filter instead of all"),
    directory: str = typer.Option(None, "--directory", "-d", help=DIRECTORY_OPTION_HELP),
    limit: int = typer.Option(100, "--limit", help="at most this many contacts"),
    as_json: bool = typer.Option(False, "--json", help="print JSON for scripts"),
) -> None:
    """Search contacts by extRef, email, phone, names or embeddedData.<key> (equality)."""
    settings = Settings.from_env()
    directory_id = resolve_directory(settings, directory)
    condition = _filter(filters or [], any_of)
    contacts: list[directory_pb2.Contact] = []
    page_token = ""
    while len(contacts) < limit:
        request = directory_pb2.SearchContactsRequest(
            directory_id=directory_id, page=common_pb2.PageRequest(page_size=min(limit - len(contacts), 1000), page_token=page_token)
        )
        if condition is not None:
            request.filter.CopyFrom(condition)
        reply = call(
            settings.directory_grpc_target,
            lambda channel, md, request=request: directory_pb2_grpc.DirectoryServiceStub(channel).SearchContacts(request, metadata=md),
        )
        contacts.extend(reply.contacts)
        page_token = reply.next_page_token
        if not page_token:
            break
    rows = [contact_row(contact) for contact in contacts[:limit]]
    if not as_json:
        rows = [{**row, "segmentIds": ", ".join(row["segmentIds"])} for row in rows]
    print_rows(
        rows,
        [("id", "id"), ("email", "email"), ("firstName", "first name"), ("lastName", "last name"), ("extRef", "extRef"), ("segmentIds", "segments")],
        as_json,
    )
