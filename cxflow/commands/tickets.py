"""`cxflow tickets ...`: list, show, update and comment on the organization's tickets (notification service)."""

from __future__ import annotations

from typing import Any

import typer
from google.protobuf import json_format

from cxflow.commands.support import JSON_OPTION, all_pages, call, print_fields, print_rows
from cxflow.v1 import notification_pb2, notification_pb2_grpc
from services.common.settings import Settings

app = typer.Typer(help="Tickets (cxflow's own, and those created in Zendesk or Freshdesk).", no_args_is_help=True)

STATUSES = {"open": 1, "in_progress": 2, "on_hold": 3, "closed": 4}
PRIORITIES = {"low": 1, "normal": 2, "high": 3, "urgent": 4}


def _name(enum_name: str, value: int) -> str:
    full = notification_pb2.DESCRIPTOR.enum_types_by_name[enum_name].values_by_number[value].name
    return full.split("_", 2)[-1].lower() if value else ""


def _choice(mapping: dict[str, int], value: str, option: str) -> int:
    try:
        return mapping[value]
    except KeyError:
        raise typer.BadParameter(f"one of {', '.join(mapping)}", param_hint=option) from None


def _row(ticket: notification_pb2.Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "title": ticket.title,
        "status": _name("TicketStatus", ticket.status),
        "priority": _name("TicketPriority", ticket.priority),
        "owner": ticket.owner,
        "contactId": ticket.contact_id,
        "provider": _name("TicketProvider", ticket.provider),
        "externalId": ticket.external_id,
        "created": ticket.created_at.ToJsonString() if ticket.HasField("created_at") else "",
    }


def _stub(channel: Any) -> notification_pb2_grpc.NotificationServiceStub:
    return notification_pb2_grpc.NotificationServiceStub(channel)


def _print_ticket(ticket: notification_pb2.Ticket, as_json: bool = True) -> None:
    as_dict = json_format.MessageToDict(ticket)
    as_dict["status"] = _name("TicketStatus", ticket.status)
    as_dict["priority"] = _name("TicketPriority", ticket.priority)
    as_dict["provider"] = _name("TicketProvider", ticket.provider)
    print_fields(as_dict, as_json)


@app.command("list")
def tickets_list(
    status: str = typer.Option("", help="open, in_progress, on_hold or closed"),
    owner: str = typer.Option("", help="only this owner's tickets"),
    contact: str = typer.Option("", "--contact", help="only this contact's tickets (contact id)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """List tickets, newest first."""
    settings = Settings.from_env()
    status_value = _choice(STATUSES, status, "--status") if status else 0
    tickets = all_pages(
        lambda page: call(
            settings.notification_grpc_target,
            lambda channel, md: _stub(channel).ListTickets(
                notification_pb2.ListTicketsRequest(status=status_value, owner=owner, contact_id=contact, page=page),
                metadata=md,
            ),
        ),
        lambda reply: reply.tickets,
        page_size=None,
    )
    columns = [
        ("id", "id"),
        ("title", "title"),
        ("status", "status"),
        ("priority", "priority"),
        ("owner", "owner"),
        ("contactId", "contact"),
        ("provider", "provider"),
        ("created", "created"),
    ]
    print_rows([_row(t) for t in tickets], columns, as_json)


@app.command("show")
def tickets_show(ticket_id: str, as_json: bool = JSON_OPTION) -> None:
    """Show one ticket with its comments."""
    settings = Settings.from_env()
    ticket = call(
        settings.notification_grpc_target,
        lambda channel, md: _stub(channel).GetTicket(notification_pb2.GetTicketRequest(ticket_id=ticket_id), metadata=md),
    )
    _print_ticket(ticket, as_json)


@app.command("update")
def tickets_update(
    ticket_id: str,
    status: str = typer.Option(None, help="open, in_progress, on_hold or closed"),
    priority: str = typer.Option(None, help="low, normal, high or urgent"),
    owner: str = typer.Option(None, help="the new owner"),
    title: str = typer.Option(None, help="the new title"),
) -> None:
    """Change a ticket's status, priority, owner or title (options not given stay as they are)."""
    settings = Settings.from_env()
    request = notification_pb2.UpdateTicketRequest(ticket_id=ticket_id)
    if status is not None:
        request.status = _choice(STATUSES, status, "--status")
    if priority is not None:
        request.priority = _choice(PRIORITIES, priority, "--priority")
    if owner is not None:
        request.owner = owner
    if title is not None:
        request.title = title
    ticket = call(settings.notification_grpc_target, lambda channel, md: _stub(channel).UpdateTicket(request, metadata=md))
    _print_ticket(ticket)


@app.command("comment")
def tickets_comment(
    ticket_id: str,
    body: str,
    author: str = typer.Option("", help="who writes the comment"),
) -> None:
    """Add a comment to a ticket."""
    settings = Settings.from_env()
    ticket = call(
        settings.notification_grpc_target,
        lambda channel, md: _stub(channel).AddTicketComment(
            notification_pb2.AddTicketCommentRequest(ticket_id=ticket_id, body=body, author=author), metadata=md
        ),
    )
    _print_ticket(ticket)
