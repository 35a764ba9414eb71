"""Contact search with AND/OR filter trees, and pagination of directories, contacts and mailing lists."""

from __future__ import annotations

import grpc
import pytest

from cxflow.v1 import common_pb2, directory_pb2

AND, OR = directory_pb2.CONJUNCTION_AND, directory_pb2.CONJUNCTION_OR


def field(name: str, value: str, comparison: str = "eq") -> directory_pb2.ContactFilter:
    return directory_pb2.ContactFilter(field=directory_pb2.FieldFilter(field=name, comparison=comparison, value=value))


def group(conjunction: int, *filters: directory_pb2.ContactFilter) -> directory_pb2.ContactFilter:
    return directory_pb2.ContactFilter(group=directory_pb2.FilterGroup(conjunction=conjunction, filters=filters))


@pytest.fixture
async def people(directories, caller):  # type: ignore[no-untyped-def]
    """A directory of four people; returns (directory id, {first name: contact id})."""
    pool = await directories.CreateDirectory(directory_pb2.CreateDirectoryRequest(name="People"), metadata=caller.metadata)
    rows = [
        {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "phone": "+44 20 7946 0000", "ext_ref": "crm-1",
             "embedded": {"plan": "gold", "visits": 3, "vip": True}},
        {"first_name": "Grace", "last_name": "Hopper", "email": "grace@navy.mil", "embedded": {"plan": "gold", "visits": 12, "vip": False}},
        {"first_name": "Alan", "last_name": "Turing", "email": "alan@example.com", "embedded": {"plan": "free", "visits": 3}},
        {"first_name": "Edsger", "last_name": "Dijkstra", "embedded": {"plan": "3"}},
    ]
    ids = {}
    for row in rows:
        embedded = row.pop("embedded")
        contact = directory_pb2.ContactInput(**row)
        contact.embedded_data.update(embedded)
        written = await directories.UpsertContact(
            directory_pb2.UpsertContactRequest(directory_id=pool.id, contact=contact), metadata=caller.metadata
        )
        ids[row["first_name"]] = written.contact_id
    return pool.id, ids


async def search(directories, caller, pool: str, filter: directory_pb2.ContactFilter | None = None) -> set[str]:  # type: ignore[no-untyped-def]
    request = directory_pb2.SearchContactsRequest(directory_id=pool)
    if filter is not None:
        request.filter.CopyFrom(filter)
    reply = await directories.SearchContacts(request, metadata=caller.metadata)
    return {c.first_name for c in reply.contacts}


async def test_identity_fields_compare_like_dedup(directories, caller, people) -> None:  # type: ignore[no-untyped-def]
    pool, _ = people
    assert await search(directories, caller, pool, field("email", " ADA@example.com")) == {"Ada"}
    assert await search(directories, caller, pool, field("phone", "442079460000")) == {"Ada"}
    assert await search(directories, caller, pool, field("firstName", "grace")) == {"Grace"}
    assert await search(directories, caller, pool, field("lastName", "turing")) == {"Alan"}
    assert await search(directories, caller, pool, field("extRef", "crm-1")) == {"Ada"}
    assert await search(directories, caller, pool, field("email", "nobody@example.com")) == set()


async def test_embedded_data_compares_strings_numbers_and_booleans(directories, caller, people) -> None:  # type: ignore[no-untyped-def]
    pool, _ = people
    assert await search(directories, caller, pool, field("embeddedData.plan", "gold")) == {"Ada", "Grace"}
    assert await search(directories, caller, pool, field("embeddedData.visits", "3")) == {"Ada", "Alan"}
    assert await search(directories, caller, pool, field("embeddedData.vip", "true")) == {"Ada"}
    assert await search(directories, caller, pool, field("embeddedData.vip", "false")) == {"Grace"}
    assert await search(directories, caller, pool, field("embeddedData.plan", "3")) == {"Edsger"}
    assert await search(directories, caller, pool, field("embeddedData.missing", "x")) == set()


async def test_groups_combine_with_and_or_and_nest(directories, caller, people) -> None:  # type: ignore[no-untyped-def]
    pool, _ = people
    gold_and_three = group(AND, field("embeddedData.plan", "gold"), field("embeddedData.visits", "3"))
    assert await search(directories, caller, pool, gold_and_three) == {"Ada"}
    assert await search(directories, caller, pool, group(OR, field("firstName", "Alan"), field("lastName", "Hopper"))) == {"Alan", "Grace"}
    nested = group(OR, gold_and_three, group(AND, field("embeddedData.plan", "free"), field("email", "alan@example.com")))
    assert await search(directories, caller, pool, nested) == {"Ada", "Alan"}
    assert await search(directories, caller, pool, None) == {"Ada", "Grace", "Alan", "Edsger"}
    assert await search(directories, caller, pool, group(AND)) == {"Ada", "Grace", "Alan", "Edsger"}


async def test_unknown_filter_field_or_comparison_is_named(directories, caller, people) -> None:  # type: ignore[no-untyped-def]
    pool, _ = people
    for bad, named in [
        (field("shoeSize", "42"), "shoeSize"),
        (group(OR, field("email", "a@b.c"), field("email", "a@b.c", comparison="contains")), "contains"),
        (field("embeddedData.", "x"), "embeddedData."),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await search(directories, caller, pool, bad)
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert named in failure.value.details()


async def _walk(call, make_request, items_field: str, size: int) -> list[list[str]]:  # type: ignore[no-untyped-def]
    """Follows next_page_token to the end and returns the ids of every page."""
    pages, token = [], ""
    while True:
        reply = await call(make_request(common_pb2.PageRequest(page_size=size, page_token=token)))
        items = getattr(reply, items_field)
        pages.append([item.id for item in items])
        token = reply.next_page_token
        if not token:
            return pages


async def test_pagination_visits_everything_once_in_creation_order(directories, caller) -> None:  # type: ignore[no-untyped-def]
    md = caller.metadata
    pools = [
        (await directories.CreateDirectory(directory_pb2.CreateDirectoryRequest(name=f"d{i}"), metadata=md)).id for i in range(5)
    ]
    pages = await _walk(
        lambda r: directories.ListDirectories(r, metadata=md), lambda page: directory_pb2.ListDirectoriesRequest(page=page), "directories", 2
    )
    assert pages == [pools[0:2], pools[2:4], pools[4:5]]

    contacts = [
        (await directories.UpsertContact(
            directory_pb2.UpsertContactRequest(directory_id=pools[0], contact=directory_pb2.ContactInput(first_name=f"c{i}")),
            metadata=md,
        )).contact_id
        for i in range(7)
    ]
    pages = await _walk(
        lambda r: directories.SearchContacts(r, metadata=md),
        lambda page: directory_pb2.SearchContactsRequest(directory_id=pools[0], page=page),
        "contacts",
        3,
    )
    assert pages == [contacts[0:3], contacts[3:6], contacts[6:7]]

    lists = [
        (await directories.CreateMailingList(directory_pb2.CreateMailingListRequest(directory_id=pools[0], name=f"l{i}"), metadata=md)).id
        for i in range(3)
    ]
    pages = await _walk(
        lambda r: directories.ListMailingLists(r, metadata=md),
        lambda page: directory_pb2.ListMailingListsRequest(directory_id=pools[0], page=page),
        "mailing_lists",
        2,
    )
    assert pages == [lists[0:2], lists[2:3]]
    # The default page holds them all.
    everything = await directories.ListDirectories(directory_pb2.ListDirectoriesRequest(), metadata=md)
    assert [d.id for d in everything.directories] == pools and everything.next_page_token == ""


@pytest.mark.parametrize("page", [common_pb2.PageRequest(page_token="not-a-token"), common_pb2.PageRequest(page_size=-1)])
async def test_bad_page_requests_are_invalid(directories, caller, page) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await directories.ListDirectories(directory_pb2.ListDirectoriesRequest(page=page), metadata=caller.metadata)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page." in failure.value.details()
