"""Tickets end to end: the own store (create/get/list/update/comment) and Zendesk / Freshdesk over recording HTTP servers."""

from __future__ import annotations

import base64

import grpc
import pytest
from google.protobuf import struct_pb2
from recording_http import RecordingHttpServer

from cxflow.v1 import common_pb2, notification_pb2

Metadata = tuple[tuple[str, str], ...]
N = notification_pb2
ZENDESK_TOKEN = "zendesk-api-token-secret"
FRESHDESK_KEY = "freshdesk-api-key-secret"


def struct(value: dict) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(value)
    return result


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
async def helpdesk(stub, metadata: Metadata):
    """One recording server standing in for both Zendesk and Freshdesk, configured for the test organization."""
    async with RecordingHttpServer() as server:
        await stub.UpdateChannelSettings(
            N.UpdateChannelSettingsRequest(
                zendesk=N.ZendeskSettings(base_url=server.url + "/", email="agent@acme.test", api_token=ZENDESK_TOKEN),
                freshdesk=N.FreshdeskSettings(base_url=server.url, api_key=FRESHDESK_KEY),
                outbound_allow_list=N.StringList(values=["127.0.0.1/32"]),
            ),
            metadata=metadata,
        )
        yield server


def ticket_request(key: str = "run-1/0", **changes: object) -> N.CreateTicketRequest:
    fields: dict[str, object] = {
        "idempotency_key": key,
        "title": "Refund for order 1042",
        "description": "Zoë asks for a refund.",
        "priority": N.TICKET_PRIORITY_HIGH,
        "requester_name": "Zoë Schmidt",
        "requester_email": "zoe@example.com",
        "tags": ["refund", "vip"],
        "contact_id": "CID_1",
    }
    fields.update(changes)
    return N.CreateTicketRequest(**fields)


async def test_zendesk_ticket_has_the_documented_path_auth_and_body(stub, metadata: Metadata, helpdesk) -> None:
    helpdesk.respond(201, json={"ticket": {"id": 35436, "url": "https://acme.zendesk.com/api/v2/tickets/35436.json"}})
    reply = await stub.CreateTicket(ticket_request(provider=N.TICKET_PROVIDER_ZENDESK), metadata=metadata)

    [request] = helpdesk.requests
    assert (request.method, request.path) == ("POST", "/api/v2/tickets.json")
    assert request.headers["authorization"] == basic("agent@acme.test/token", ZENDESK_TOKEN)
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "ticket": {
            "subject": "Refund for order 1042",
            "comment": {"body": "Zoë asks for a refund."},
            "priority": "high",
            "requester": {"name": "Zoë Schmidt", "email": "zoe@example.com"},
            "tags": ["refund", "vip"],
        }
    }
    ticket = reply.ticket
    assert (reply.duplicate, ticket.provider, ticket.external_id) == (False, N.TICKET_PROVIDER_ZENDESK, "35436")
    assert ticket.external_url == f"{helpdesk.url}/agent/tickets/35436"
    assert ticket.id.startswith("TKT_")
    assert (await stub.GetTicket(N.GetTicketRequest(ticket_id=ticket.id), metadata=metadata)).external_id == "35436"


async def test_zendesk_status_and_numeric_custom_fields_when_given(stub, metadata: Metadata, helpdesk) -> None:
    helpdesk.respond(201, json={"ticket": {"id": 1}})
    await stub.CreateTicket(
        ticket_request(
            provider=N.TICKET_PROVIDER_ZENDESK, status=N.TICKET_STATUS_ON_HOLD, tags=[],
            custom_fields=struct({"360001": "gold", "note": "cxflow only"}),
        ),
        metadata=metadata,
    )
    body = helpdesk.requests[0].json()["ticket"]
    assert body["status"] == "hold"
    assert body["custom_fields"] == [{"id": 360001, "value": "gold"}]
    assert "tags" not in body


async def test_freshdesk_ticket_has_the_documented_path_auth_and_body(stub, metadata: Metadata, helpdesk) -> None:
    helpdesk.respond(201, json={"id": 17, "subject": "Refund for order 1042"})
    reply = await stub.CreateTicket(
        ticket_request(provider=N.TICKET_PROVIDER_FRESHDESK, status=N.TICKET_STATUS_CLOSED), metadata=metadata
    )

    [request] = helpdesk.requests
    assert (request.method, request.path) == ("POST", "/api/v2/tickets")
    assert request.headers["authorization"] == basic(FRESHDESK_KEY, "X")
    assert request.json() == {
        "subject": "Refund for order 1042",
        "description": "Zoë asks for a refund.",
        "email": "zoe@example.com",
        "name": "Zoë Schmidt",
        "priority": 3,
        "status": 5,
        "tags": ["refund", "vip"],
    }
    assert (reply.ticket.external_id, reply.ticket.external_url) == ("17", f"{helpdesk.url}/a/tickets/17")


@pytest.mark.parametrize(
    ("priority", "status", "expected"),
    [
        (N.TICKET_PRIORITY_UNSPECIFIED, N.TICKET_STATUS_UNSPECIFIED, (2, 2)),
        (N.TICKET_PRIORITY_LOW, N.TICKET_STATUS_IN_PROGRESS, (1, 3)),
        (N.TICKET_PRIORITY_URGENT, N.TICKET_STATUS_ON_HOLD, (4, 3)),
    ],
)
async def test_freshdesk_priority_and_status_numbers(stub, metadata: Metadata, helpdesk, priority, status, expected) -> None:
    helpdesk.respond(201, json={"id": 1})
    await stub.CreateTicket(
        ticket_request(provider=N.TICKET_PROVIDER_FRESHDESK, priority=priority, status=status), metadata=metadata
    )
    body = helpdesk.requests[0].json()
    assert (body["priority"], body["status"]) == expected


async def test_503_twice_then_201_gives_exactly_one_ticket(stub, metadata: Metadata, helpdesk) -> None:
    helpdesk.respond(503, body=b"maintenance")
    helpdesk.respond(503, body=b"maintenance")
    helpdesk.respond(201, json={"ticket": {"id": 99}})
    request = ticket_request("run-503/0", provider=N.TICKET_PROVIDER_ZENDESK)

    for _ in range(2):  # what Temporal's retries do with UNAVAILABLE
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateTicket(request, metadata=metadata)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    created = await stub.CreateTicket(request, metadata=metadata)
    replayed = await stub.CreateTicket(request, metadata=metadata)

    assert len(helpdesk.requests) == 3
    assert (created.duplicate, replayed.duplicate) == (False, True)
    assert replayed.ticket.id == created.ticket.id
    listed = await stub.ListTickets(N.ListTicketsRequest(), metadata=metadata)
    assert [(t.id, t.external_id) for t in listed.tickets] == [(created.ticket.id, "99")]


async def test_provider_422_is_invalid_argument_and_records_no_ticket(stub, metadata: Metadata, helpdesk) -> None:
    helpdesk.respond(422, json={"description": "Validation failed", "errors": [{"field": "email"}]})
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateTicket(ticket_request(provider=N.TICKET_PROVIDER_FRESHDESK), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Validation failed" in caught.value.details()
    assert FRESHDESK_KEY not in caught.value.details()
    assert list((await stub.ListTickets(N.ListTicketsRequest(), metadata=metadata)).tickets) == []


async def test_zendesk_not_configured_is_failed_precondition(stub, metadata: Metadata) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateTicket(ticket_request(provider=N.TICKET_PROVIDER_ZENDESK), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "Zendesk is not configured" in caught.value.details()


async def test_own_ticket_lifecycle_create_get_list_update_comment(stub, metadata: Metadata) -> None:
    created = await stub.CreateTicket(
        ticket_request("own-1", owner="ana", custom_fields=struct({"order": "1042", "amount": 12.5})), metadata=metadata
    )
    again = await stub.CreateTicket(
        ticket_request("own-1", owner="ana", custom_fields=struct({"order": "1042", "amount": 12.5})), metadata=metadata
    )
    other = await stub.CreateTicket(ticket_request("own-2", contact_id="CID_2", priority=0), metadata=metadata)
    ticket = created.ticket

    assert (created.duplicate, again.duplicate, again.ticket.id) == (False, True, ticket.id)
    assert (ticket.provider, ticket.status, ticket.priority) == (N.TICKET_PROVIDER_OWN, N.TICKET_STATUS_OPEN, N.TICKET_PRIORITY_HIGH)
    assert other.ticket.priority == N.TICKET_PRIORITY_NORMAL
    assert dict(ticket.custom_fields) == {"order": "1042", "amount": 12.5}

    listed = await stub.ListTickets(N.ListTicketsRequest(), metadata=metadata)
    assert [t.id for t in listed.tickets] == [other.ticket.id, ticket.id]  # newest first
    assert [t.id for t in (await stub.ListTickets(N.ListTicketsRequest(owner="ana"), metadata=metadata)).tickets] == [ticket.id]
    by_contact = await stub.ListTickets(N.ListTicketsRequest(contact_id="CID_2"), metadata=metadata)
    assert [t.id for t in by_contact.tickets] == [other.ticket.id]

    updated = await stub.UpdateTicket(
        N.UpdateTicketRequest(
            ticket_id=ticket.id, status=N.TICKET_STATUS_IN_PROGRESS, owner="ben",
            tags=N.StringList(values=["refund"]), custom_fields=struct({"amount": None, "reason": "late"}),
        ),
        metadata=metadata,
    )
    assert (updated.status, updated.owner, list(updated.tags)) == (N.TICKET_STATUS_IN_PROGRESS, "ben", ["refund"])
    assert updated.title == ticket.title  # absent fields stay
    assert dict(updated.custom_fields) == {"order": "1042", "reason": "late"}
    in_progress = await stub.ListTickets(N.ListTicketsRequest(status=N.TICKET_STATUS_IN_PROGRESS), metadata=metadata)
    assert [t.id for t in in_progress.tickets] == [ticket.id]

    for _ in range(2):
        commented = await stub.AddTicketComment(
            N.AddTicketCommentRequest(ticket_id=ticket.id, body="Refund sent.", author="ben", idempotency_key="c-1"),
            metadata=metadata,
        )
    commented = await stub.AddTicketComment(
        N.AddTicketCommentRequest(ticket_id=ticket.id, body="Customer confirmed.", author="ben"), metadata=metadata
    )
    assert [(c.author, c.body) for c in commented.comments] == [("ben", "Refund sent."), ("ben", "Customer confirmed.")]
    fetched = await stub.GetTicket(N.GetTicketRequest(ticket_id=ticket.id), metadata=metadata)
    assert len(fetched.comments) == 2
    assert fetched.updated_at.ToDatetime() >= fetched.created_at.ToDatetime()


async def test_list_pages_through_every_ticket(stub, metadata: Metadata) -> None:
    ids = [(await stub.CreateTicket(ticket_request(f"page-{i}"), metadata=metadata)).ticket.id for i in range(5)]
    seen: list[str] = []
    token = ""
    while True:
        page = await stub.ListTickets(
            N.ListTicketsRequest(page=common_pb2.PageRequest(page_size=2, page_token=token)), metadata=metadata
        )
        seen += [t.id for t in page.tickets]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5


async def test_tickets_are_scoped_to_the_organization(stub, metadata: Metadata, api_token_caller) -> None:
    token_metadata, _ = api_token_caller
    created = await stub.CreateTicket(ticket_request("scoped"), metadata=metadata)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetTicket(N.GetTicketRequest(ticket_id=created.ticket.id), metadata=token_metadata)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert list((await stub.ListTickets(N.ListTicketsRequest(), metadata=token_metadata)).tickets) == []


async def test_external_tickets_are_read_only_here(stub, metadata: Metadata, helpdesk) -> None:
    helpdesk.respond(201, json={"id": 5})
    created = await stub.CreateTicket(ticket_request(provider=N.TICKET_PROVIDER_FRESHDESK), metadata=metadata)
    for call in (
        stub.UpdateTicket(N.UpdateTicketRequest(ticket_id=created.ticket.id, owner="x"), metadata=metadata),
        stub.AddTicketComment(N.AddTicketCommentRequest(ticket_id=created.ticket.id, body="hi"), metadata=metadata),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "a\nb"}, "title"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"requester_email": "nope"}, "requester_email"),
        ({"tags": ["two words"]}, "tags[0]"),
        ({"priority": 9}, "priority"),
        ({"provider": N.TICKET_PROVIDER_FRESHDESK, "requester_email": ""}, "requester_email"),
    ],
)
async def test_invalid_tickets_name_the_field_and_store_nothing(stub, metadata: Metadata, changes, field) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateTicket(ticket_request(**changes), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in caught.value.details()
    assert list((await stub.ListTickets(N.ListTicketsRequest(), metadata=metadata)).tickets) == []


async def test_unknown_ticket_is_not_found(stub, metadata: Metadata) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetTicket(N.GetTicketRequest(ticket_id="TKT_nope"), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
