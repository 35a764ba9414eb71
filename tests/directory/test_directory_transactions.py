"""Transactions: batch creation answering per client key (good and bad entries mixed), newest-first listing, filters."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from cxflow.v1 import common_pb2, directory_pb2


def stamp(moment: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(moment)
    return value


def entry(contact_id: str, list_id: str, when: datetime | None, data: dict[str, Any] | None = None) -> directory_pb2.TransactionInput:
    item = directory_pb2.TransactionInput(contact_id=contact_id, mailing_list_id=list_id)
    if when is not None:
        item.transaction_date.CopyFrom(stamp(when))
    if data is not None:
        item.data.update(data)
    return item


async def setup(directories, caller):  # type: ignore[no-untyped-def]
    pool = (await directories.CreateDirectory(directory_pb2.CreateDirectoryRequest(name="Pool"), metadata=caller.metadata)).id
    contact = await directories.UpsertContact(
        directory_pb2.UpsertContactRequest(directory_id=pool, contact=directory_pb2.ContactInput(email="a@example.com")),
        metadata=caller.metadata,
    )
    mailing_list = await directories.CreateMailingList(
        directory_pb2.CreateMailingListRequest(directory_id=pool, name="Support"), metadata=caller.metadata
    )
    return pool, contact.contact_id, mailing_list.id


BASE = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


async def test_batch_creates_good_entries_and_answers_each_bad_one(directories, caller) -> None:  # type: ignore[no-untyped-def]
    pool, contact_id, list_id = await setup(directories, caller)
    bad_date = entry(contact_id, list_id, None)
    bad_date.transaction_date.seconds = 253402300800 + 10  # year 10000
    request = directory_pb2.CreateTransactionsRequest(
        directory_id=pool,
        transactions={
            "ok-1": entry(contact_id, list_id, BASE, {"type": "support_call", "minutes": 12}),
            "ok-2": entry(contact_id, list_id, BASE + timedelta(days=1), {"type": "purchase", "amount": 25.5}),
            "unknown-contact": entry("CID_nobody", list_id, BASE),
            "unknown-list": entry(contact_id, "CG_nolist", BASE),
            "no-date": entry(contact_id, list_id, None),
            "bad-date": bad_date,
            "bad-value": entry(contact_id, list_id, BASE, {"nested": {"a": 1}}),
        },
    )
    answer = await directories.CreateTransactions(request, metadata=caller.metadata)
    assert set(answer.created) == {"ok-1", "ok-2"}
    assert all(value.startswith("CTR_") for value in answer.created.values())
    assert {key: (error.code, error.field) for key, error in answer.errors.items()} == {
        "unknown-contact": ("not_found", "contact_id"),
        "unknown-list": ("not_found", "mailing_list_id"),
        "no-date": ("invalid_argument", "transactions[no-date].transaction_date"),
        "bad-date": ("invalid_argument", "transactions[bad-date].transaction_date"),
        "bad-value": ("invalid_argument", "transactions[bad-value].data.nested"),
    }
    listed = await directories.ListTransactions(
        directory_pb2.ListTransactionsRequest(directory_id=pool, contact_id=contact_id), metadata=caller.metadata
    )
    # Newest first; only the good entries were written.
    assert [item.id for item in listed.transactions] == [answer.created["ok-2"], answer.created["ok-1"]]
    assert json_format.MessageToDict(listed.transactions[0].data) == {"type": "purchase", "amount": 25.5}
    assert listed.transactions[1].transaction_date.ToDatetime(tzinfo=UTC) == BASE


async def test_list_filters_by_date_range_and_data_field_and_pages(directories, caller) -> None:  # type: ignore[no-untyped-def]
    pool, contact_id, list_id = await setup(directories, caller)
    kinds = ["support_call", "purchase", "support_call", "support_call", "purchase"]
    await directories.CreateTransactions(
        directory_pb2.CreateTransactionsRequest(
            directory_id=pool,
            transactions={
                f"k{day}": entry(contact_id, list_id, BASE + timedelta(days=day), {"type": kind, "day": day, "vip": day % 2 == 0})
                for day, kind in enumerate(kinds)
            },
        ),
        metadata=caller.metadata,
    )

    async def days(**request: Any) -> list[int]:
        listed = await directories.ListTransactions(
            directory_pb2.ListTransactionsRequest(directory_id=pool, contact_id=contact_id, **request), metadata=caller.metadata
        )
        return [int(item.data["day"]) for item in listed.transactions]

    assert await days() == [4, 3, 2, 1, 0]
    assert await days(data_equals={"type": "support_call"}) == [3, 2, 0]
    assert await days(data_equals={"day": "2"}) == [2]
    assert await days(data_equals={"vip": "true", "type": "support_call"}) == [2, 0]
    assert await days(start_date=stamp(BASE + timedelta(days=1)), end_date=stamp(BASE + timedelta(days=3))) == [2, 1]

    seen: list[int] = []
    token = ""
    while True:
        listed = await directories.ListTransactions(
            directory_pb2.ListTransactionsRequest(
                directory_id=pool, contact_id=contact_id, page=common_pb2.PageRequest(page_size=2, page_token=token)
            ),
            metadata=caller.metadata,
        )
        seen += [int(item.data["day"]) for item in listed.transactions]
        token = listed.next_page_token
        if not token:
            break
    assert seen == [4, 3, 2, 1, 0]


async def test_unknown_directory_or_contact_is_not_found_and_other_orgs_see_nothing(directories, caller, make_caller) -> None:  # type: ignore[no-untyped-def]
    pool, contact_id, list_id = await setup(directories, caller)
    other = await make_caller()
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await directories.CreateTransactions(
            directory_pb2.CreateTransactionsRequest(directory_id=pool, transactions={"a": entry(contact_id, list_id, BASE)}),
            metadata=other.metadata,
        )
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await directories.ListTransactions(
            directory_pb2.ListTransactionsRequest(directory_id=pool, contact_id="CID_missing"), metadata=caller.metadata
        )
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


async def test_deleting_a_contact_removes_its_transactions(directories, caller) -> None:  # type: ignore[no-untyped-def]
    pool, contact_id, list_id = await setup(directories, caller)
    await directories.CreateTransactions(
        directory_pb2.CreateTransactionsRequest(directory_id=pool, transactions={"a": entry(contact_id, list_id, BASE)}),
        metadata=caller.metadata,
    )
    await directories.DeleteContact(
        directory_pb2.DeleteContactRequest(directory_id=pool, contact_id=contact_id), metadata=caller.metadata
    )
    for call, request in (
        (directories.GetContact, directory_pb2.GetContactRequest(directory_id=pool, contact_id=contact_id)),
        (directories.ListTransactions, directory_pb2.ListTransactionsRequest(directory_id=pool, contact_id=contact_id)),
        (directories.DeleteContact, directory_pb2.DeleteContactRequest(directory_id=pool, contact_id=contact_id)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await call(request, metadata=caller.metadata)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND


async def test_idempotent_client_keys_answer_the_stored_id_even_when_sent_at_once(directories, caller) -> None:  # type: ignore[no-untyped-def]
    pool, contact_id, list_id = await setup(directories, caller)

    def create(key: str, amount: int, *, idempotent: bool = True):  # type: ignore[no-untyped-def]
        return directories.CreateTransactions(
            directory_pb2.CreateTransactionsRequest(
                directory_id=pool, transactions={key: entry(contact_id, list_id, BASE, {"amount": amount})}, idempotent=idempotent
            ),
            metadata=caller.metadata,
        )

    first = (await create("msg-1", 1)).created["msg-1"]
    assert (await create("msg-1", 2)).created["msg-1"] == first  # a repeat is answered, not created again
    concurrent = await asyncio.gather(*(create("msg-2", 3) for _ in range(5)))
    assert len({answer.created["msg-2"] for answer in concurrent}) == 1
    too_long = await create("k" * 256, 4)
    assert not too_long.created and too_long.errors["k" * 256].code == "invalid_argument"
    # Without the flag a key means nothing beyond this call (Qualtrics clients reuse "transaction1"): two creates.
    plain = [(await create("transaction1", 5, idempotent=False)).created["transaction1"] for _ in range(2)]
    assert plain[0] != plain[1]

    listed = await directories.ListTransactions(
        directory_pb2.ListTransactionsRequest(directory_id=pool, contact_id=contact_id), metadata=caller.metadata
    )
    assert sorted(int(item.data["amount"]) for item in listed.transactions) == [1, 3, 5, 5]
    assert first in {item.id for item in listed.transactions}

    # The key is per directory: another directory of the organization stores its own transaction under it.
    other_pool, other_contact, other_list = await setup(directories, caller)
    elsewhere = await directories.CreateTransactions(
        directory_pb2.CreateTransactionsRequest(
            directory_id=other_pool, transactions={"msg-1": entry(other_contact, other_list, BASE)}, idempotent=True
        ),
        metadata=caller.metadata,
    )
    assert elsewhere.created["msg-1"] not in (first, "")
