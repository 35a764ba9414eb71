"""Tickets: cxflow's own ticket store, and tickets created in Zendesk or Freshdesk recorded beside them."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.notification.channel_settings import ChannelSettingsRepository
from services.notification.deliveries import Deliveries, fingerprint, validate_idempotency_key
from services.notification.email_channel import parse_address
from services.notification.models import TICKET_PRIORITIES, TICKET_STATUSES, Ticket, TicketComment
from services.notification.outbound import OutboundHttp
from services.notification.ticket_providers import TicketDraft, create_in_freshdesk, create_in_zendesk

MAX_TITLE_LENGTH = 500
MAX_TAGS = 50


class TicketNotFound(NotFound):
    """No ticket with this id in the caller's organization."""


class ExternalTicketReadOnly(FailedPrecondition):
    """Zendesk and Freshdesk tickets are worked on in those tools, not through cxflow."""


def new_ticket_id() -> str:
    return "TKT_" + uuid.uuid4().hex[:20]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class NewTicket:
    idempotency_key: str
    provider: str  # own | zendesk | freshdesk
    title: str
    description: str = ""
    priority: str = ""  # "": normal
    status: str = ""  # "": open
    owner: str = ""
    contact_id: str = ""
    requester_name: str = ""
    requester_email: str = ""
    tags: tuple[str, ...] = ()
    custom_fields: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        fields = asdict(self)
        fields.pop("idempotency_key")
        return fingerprint("ticket", fields)

    def draft(self) -> TicketDraft:
        return TicketDraft(
            title=self.title.strip(),
            description=self.description,
            priority=self.priority or "normal",
            status=self.status or "open",
            status_given=bool(self.status),
            requester_name=self.requester_name,
            requester_email=self.requester_email,
            tags=self.tags,
            custom_fields=self.custom_fields,
        )


def _validate_tags(tags: tuple[str, ...]) -> None:
    if len(tags) > MAX_TAGS:
        raise InvalidArgument(f"at most {MAX_TAGS} tags", field="tags")
    for index, tag in enumerate(tags):
        if not tag.strip() or any(c.isspace() for c in tag):
            raise InvalidArgument(f"tags[{index}] must be one word without spaces", field=f"tags[{index}]")


def _validate_title(title: str) -> None:
    if not title.strip():
        raise InvalidArgument("title is required", field="title")
    if len(title) > MAX_TITLE_LENGTH or "\n" in title or "\r" in title:
        raise InvalidArgument(f"title must be one line of at most {MAX_TITLE_LENGTH} characters", field="title")


def validate(ticket: NewTicket) -> None:
    validate_idempotency_key(ticket.idempotency_key)
    _validate_title(ticket.title)
    if ticket.priority and ticket.priority not in TICKET_PRIORITIES:
        raise InvalidArgument(f"priority must be one of {', '.join(TICKET_PRIORITIES)}", field="priority")
    if ticket.status and ticket.status not in TICKET_STATUSES:
        raise InvalidArgument(f"status must be one of {', '.join(TICKET_STATUSES)}", field="status")
    if ticket.requester_email:
        address = parse_address(ticket.requester_email, "requester_email")
        if address.display_name:
            raise InvalidArgument("requester_email must be a bare address", field="requester_email")
    if ticket.provider == "freshdesk" and not ticket.requester_email:
        raise InvalidArgument("Freshdesk tickets need requester_email", field="requester_email")
    _validate_tags(ticket.tags)


@dataclass(frozen=True)
class TicketChange:
    """A partial update: None leaves a field; custom_fields are merged, a None value removes the key."""

    title: str | None = None
    description: str | None = None
    priority: str | None = None
    status: str | None = None
    owner: str | None = None
    tags: tuple[str, ...] | None = None
    custom_fields: dict[str, Any] | None = None


@dataclass(frozen=True)
class CreatedTicket:
    ticket: Ticket
    duplicate: bool


class Tickets:
    def __init__(self, deliveries: Deliveries, http: OutboundHttp) -> None:
        self._deliveries = deliveries
        self._http = http

    async def create(self, session: AsyncSession, organization_id: str, new: NewTicket) -> CreatedTicket:
        """Creates the ticket once per idempotency key; the own store's row commits with the delivery record."""
        validate(new)

        async def create_once() -> dict[str, Any]:
            external_id = external_url = ""
            if new.provider != "own":
                channels = await ChannelSettingsRepository(session).channels(organization_id)
                create = create_in_zendesk if new.provider == "zendesk" else create_in_freshdesk
                created = await create(self._http, channels, new.draft())
                external_id, external_url = created.external_id, created.external_url
            draft = new.draft()
            now = _now()
            ticket = Ticket(
                id=new_ticket_id(),
                organization_id=organization_id,
                provider=new.provider,
                external_id=external_id,
                external_url=external_url,
                title=draft.title,
                description=new.description,
                priority=draft.priority,
                status=draft.status,
                owner=new.owner,
                contact_id=new.contact_id,
                requester_name=new.requester_name,
                requester_email=new.requester_email,
                tags=list(new.tags),
                custom_fields=dict(new.custom_fields),
                created_at=now,
                updated_at=now,
            )
            session.add(ticket)
            await session.flush()
            return {"ticket_id": ticket.id, "external_id": external_id}

        outcome = await self._deliveries.deliver(
            session, organization_id, new.idempotency_key, f"ticket:{new.provider}", new.fingerprint(), create_once
        )
        return CreatedTicket(await self.get(session, organization_id, outcome.result["ticket_id"]), outcome.duplicate)

    async def get(self, session: AsyncSession, organization_id: str, ticket_id: str) -> Ticket:
        ticket = await session.scalar(
            select(Ticket)
            .where(Ticket.organization_id == organization_id, Ticket.id == ticket_id)
            .options(selectinload(Ticket.comments))
            .execution_options(populate_existing=True)
        )
        if ticket is None:
            raise TicketNotFound(f"no ticket {ticket_id!r}", field="ticket_id")
        return ticket

    async def list(
        self,
        session: AsyncSession,
        organization_id: str,
        *,
        status: str = "",
        owner: str = "",
        contact_id: str = "",
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[Ticket], bool]:
        """One page, newest first, and whether more follow."""
        query = select(Ticket).where(Ticket.organization_id == organization_id)
        if status:
            query = query.where(Ticket.status == status)
        if owner:
            query = query.where(Ticket.owner == owner)
        if contact_id:
            query = query.where(Ticket.contact_id == contact_id)
        rows = list(
            await session.scalars(
                query.order_by(Ticket.created_at.desc(), Ticket.id.desc()).offset(offset).limit(limit + 1)
            )
        )
        return rows[:limit], len(rows) > limit

    async def _own(self, session: AsyncSession, organization_id: str, ticket_id: str) -> Ticket:
        ticket = await self.get(session, organization_id, ticket_id)
        if ticket.provider != "own":
            raise ExternalTicketReadOnly(
                f"ticket {ticket_id} lives in {ticket.provider.capitalize()} ({ticket.external_url}); change it there"
            )
        return ticket

    async def update(self, session: AsyncSession, organization_id: str, ticket_id: str, change: TicketChange) -> Ticket:
        if change.title is not None:
            _validate_title(change.title)
        if change.priority is not None and change.priority not in TICKET_PRIORITIES:
            raise InvalidArgument(f"priority must be one of {', '.join(TICKET_PRIORITIES)}", field="priority")
        if change.status is not None and change.status not in TICKET_STATUSES:
            raise InvalidArgument(f"status must be one of {', '.join(TICKET_STATUSES)}", field="status")
        if change.tags is not None:
            _validate_tags(change.tags)
        ticket = await self._own(session, organization_id, ticket_id)
        for name in ("title", "description", "priority", "status", "owner"):
            value = getattr(change, name)
            if value is not None:
                setattr(ticket, name, value.strip() if name == "title" else value)
        if change.tags is not None:
            ticket.tags = list(change.tags)
        if change.custom_fields:
            merged = dict(ticket.custom_fields or {})
            for key, value in change.custom_fields.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            ticket.custom_fields = merged
        ticket.updated_at = _now()
        await session.commit()
        return await self.get(session, organization_id, ticket_id)

    async def comment(
        self, session: AsyncSession, organization_id: str, ticket_id: str, body: str, author: str, idempotency_key: str
    ) -> Ticket:
        if not body.strip():
            raise InvalidArgument("body is required", field="body")
        await self._own(session, organization_id, ticket_id)

        async def add_once() -> dict[str, Any]:
            ticket = await self._own(session, organization_id, ticket_id)
            comment = TicketComment(id="TKC_" + uuid.uuid4().hex[:20], ticket_id=ticket.id, author=author, body=body)
            session.add(comment)
            ticket.updated_at = _now()
            await session.flush()
            return {"comment_id": comment.id}

        if idempotency_key:
            request = {"ticket_id": ticket_id, "body": body, "author": author}
            await self._deliveries.deliver(
                session, organization_id, idempotency_key, "ticket_comment", fingerprint("ticket_comment", request), add_once
            )
        else:
            await add_once()
            await session.commit()
        return await self.get(session, organization_id, ticket_id)
