"""Zendesk and Freshdesk ticket creation: the exact request each API documents, and the id it answers with."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from services.notification.channel_settings import FreshdeskAccount, OrganizationChannels, ZendeskAccount
from services.notification.outbound import OutboundHttp, ProviderUnavailable

PROVIDER_TIMEOUT_SECONDS = 30.0

# cxflow's words -> each provider's.
ZENDESK_PRIORITY = {"low": "low", "normal": "normal", "high": "high", "urgent": "urgent"}
ZENDESK_STATUS = {"open": "open", "in_progress": "open", "on_hold": "hold", "closed": "solved"}
FRESHDESK_PRIORITY = {"low": 1, "normal": 2, "high": 3, "urgent": 4}
FRESHDESK_STATUS = {"open": 2, "in_progress": 3, "on_hold": 3, "closed": 5}  # 2 open, 3 pending, 4 resolved, 5 closed


@dataclass(frozen=True)
class TicketDraft:
    """A validated ticket as the caller asked for it (cxflow's words for priority and status)."""

    title: str
    description: str
    priority: str
    status: str
    status_given: bool  # False: the provider's own default status applies
    requester_name: str
    requester_email: str
    tags: tuple[str, ...]
    custom_fields: dict[str, Any]


@dataclass(frozen=True)
class ExternalTicket:
    external_id: str
    external_url: str


def zendesk_payload(draft: TicketDraft) -> dict[str, Any]:
    """POST /api/v2/tickets.json body (developer.zendesk.com, Tickets > Create Ticket)."""
    ticket: dict[str, Any] = {
        "subject": draft.title,
        "comment": {"body": draft.description or draft.title},
        "priority": ZENDESK_PRIORITY[draft.priority],
    }
    if draft.requester_email:
        ticket["requester"] = {"name": draft.requester_name or draft.requester_email, "email": draft.requester_email}
    if draft.tags:
        ticket["tags"] = list(draft.tags)
    if draft.status_given:
        ticket["status"] = ZENDESK_STATUS[draft.status]
    numeric = [{"id": int(k), "value": v} for k, v in draft.custom_fields.items() if str(k).isdigit()]
    if numeric:
        ticket["custom_fields"] = numeric
    return {"ticket": ticket}


def freshdesk_payload(draft: TicketDraft) -> dict[str, Any]:
    """POST /api/v2/tickets body (developers.freshdesk.com, Create a Ticket)."""
    body: dict[str, Any] = {
        "subject": draft.title,
        "description": draft.description or draft.title,
        "email": draft.requester_email,
        "priority": FRESHDESK_PRIORITY[draft.priority],
        "status": FRESHDESK_STATUS[draft.status],
    }
    if draft.requester_name:
        body["name"] = draft.requester_name
    if draft.tags:
        body["tags"] = list(draft.tags)
    if draft.custom_fields:
        body["custom_fields"] = dict(draft.custom_fields)
    return body


def _json_body(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _answered_id(answer: Any, *path: str) -> str:
    node = answer
    for step in path:
        node = node.get(step) if isinstance(node, dict) else None
    if node in (None, ""):
        # 2xx without an id: the ticket may exist, but cxflow cannot know it; a retry is the safer side.
        raise ProviderUnavailable(f"the provider's answer carries no {'.'.join(path)}")
    return str(node)


async def create_in_zendesk(http: OutboundHttp, channels: OrganizationChannels, draft: TicketDraft) -> ExternalTicket:
    account: ZendeskAccount = channels.require_zendesk()
    response = await http.post(
        f"{account.base_url}/api/v2/tickets.json",
        content=_json_body(zendesk_payload(draft)),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        auth=(f"{account.email}/token", account.api_token),
        allow_list=channels.outbound_allow_list,
        timeout=PROVIDER_TIMEOUT_SECONDS,
        destination="Zendesk",
        field_name="zendesk.base_url",
    )
    ticket_id = _answered_id(_parse(response.body), "ticket", "id")
    return ExternalTicket(ticket_id, f"{account.base_url}/agent/tickets/{ticket_id}")


async def create_in_freshdesk(http: OutboundHttp, channels: OrganizationChannels, draft: TicketDraft) -> ExternalTicket:
    account: FreshdeskAccount = channels.require_freshdesk()
    response = await http.post(
        f"{account.base_url}/api/v2/tickets",
        content=_json_body(freshdesk_payload(draft)),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        auth=(account.api_key, "X"),
        allow_list=channels.outbound_allow_list,
        timeout=PROVIDER_TIMEOUT_SECONDS,
        destination="Freshdesk",
        field_name="freshdesk.base_url",
    )
    ticket_id = _answered_id(_parse(response.body), "id")
    return ExternalTicket(ticket_id, f"{account.base_url}/a/tickets/{ticket_id}")


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None
