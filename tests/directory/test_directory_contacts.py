"""Contact upserts: dedup rules as in XM Directory, embedded data merging, concurrent writers, mailing lists."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from cxflow.v1 import directory_pb2
from services.common.db import create_engine
from services.directory.models import MailingListMembership

EMAIL = directory_pb2.DEDUP_FIELD_EMAIL
PHONE = directory_pb2.DEDUP_FIELD_PHONE
EXT_REF = directory_pb2.DEDUP_FIELD_EXT_REF
FIRST_NAME = directory_pb2.DEDUP_FIELD_FIRST_NAME
LAST_NAME = directory_pb2.DEDUP_FIELD_LAST_NAME


async def new_directory(directories, caller, *rules: list[int]) -> str:  # type: ignore[no-untyped-def]
    created = await directories.CreateDirectory(
        directory_pb2.CreateDirectoryRequest(name="Customers", dedup_rules=[directory_pb2.DedupRule(fields=r) for r in rules]),
        metadata=caller.metadata,
    )
    return created.id


async def upsert(directories, caller, directory_id: str, embedded: dict[str, Any] | None = None, **fields: Any):  # type: ignore[no-untyped-def]
    contact = directory_pb2.ContactInput(**fields)
    if embedded is not None:
        contact.embedded_data.update(embedded)
    return await directories.UpsertContact(
        directory_pb2.UpsertContactRequest(directory_id=directory_id, contact=contact), metadata=caller.metadata
    )


async def get(directories, caller, directory_id: str, contact_id: str) -> directory_pb2.Contact:  # type: ignore[no-untyped-def]
    return await directories.GetContact(
        directory_pb2.GetContactRequest(directory_id=directory_id, contact_id=contact_id), metadata=caller.metadata
    )


async def count(directories, caller, directory_id: str) -> int:  # type: ignore[no-untyped-def]
    found = await directories.GetDirectory(directory_pb2.GetDirectoryRequest(directory_id=directory_id), metadata=caller.metadata)
    return found.contact_count


async def test_email_rule_matches_case_insensitively_after_trimming(directories, caller) -> None:  # type: ignore[no-untyped-def]
    pool = await new_directory(directories, caller, [EMAIL])
    first = await upsert(directories, caller, pool, email="Ada@Example.com", first_name="Ada")
    again = await upsert(directories, caller, pool, email="  ada@example.COM ", last_name="Lovelace")
    other = await upsert(directories, caller, pool, email="grace@example.com")
    assert first.created and not again.created and other.created
    assert again.contact_id == first.contact_id != other.contact_id
    stored = await get(directories, caller, pool, first.contact_id)
    # The write updated the given field and left the others alone; the email is what was written last.
    assert (stored.first_name, stored.last_name, stored.email) == ("Ada", "Lovelace", "  ada@example.COM ")
    assert await count(directories, caller, pool) == 2


async def test_ext_ref_rule_then_email_rule(directories, caller) -> None:  # type: ignore[no-untyped-def]
    pool = await new_directory(directories, caller, [EXT_REF], [EMAIL])
    ada = await upsert(directories, caller, pool, ext_ref="crm-1", email="ada@example.com")
    # Rule 1 (extRef) wins, so the email changes on the same contact.
    moved = await upsert(directories, caller, pool, ext_ref="crm-1", email="ada@newmail.com")
    # No extRef: rule 1 is skipped, rule 2 finds her by her new email.
    by_email = await upsert(directories, caller, pool, email="ADA@newmail.com", language="EN")
    assert ada.created and not moved.created and not by_email.created
    assert moved.contact_id == by_email.contact_id == ada.contact_id
    stored = await get(directories, caller, pool, ada.contact_id)
    assert (stored.ext_ref, stored.email, stored.language) == ("crm-1", "ADA@newmail.com", "EN")
    # Her old email no longer identifies her.
    stranger = await upsert(directories, caller, pool, email="ada@example.com")
    assert stranger.created and stranger.contact_id != ada.contact_id
    # A different extRef with a known email: rule 1 misses, rule 2 matches.
    assert (await upsert(directories, caller, pool, ext_ref="crm-2", email="ada@example.com")).contact_id == stranger.contact_id


async def test_first_and_last_name_rule_needs_both(directories, caller) -> None:  # type: ignore[no-untyped-def]
    pool = await new_directory(directories, caller, [FIRST_NAME, LAST_NAME])
    ada = await upsert(directories, caller, pool, first_name="Ada", last_name="Lovelace")
    same = await upsert(directories, caller, pool, first_name="ada ", last_name="LOVELACE")
    sister = await upsert(directories, caller, pool, first_name="Ada", last_name="Byron")
    first_only = await upsert(directories, caller, pool, first_name="Ada")
    assert same.contact_id == ada.contact_id and not same.created
    assert sister.created and first_only.created
    assert len({ada.contact_id, sister.contact_id, first_only.contact_id}) == 3


async def test_phone_rule_compares_digits_only(directories, caller) -> None:  # type: ignore[no-untyped-def]
    pool = await new_directory(directories, caller, [PHONE])
    one = await upsert(directories, caller, pool, phone="+1 (555) 010-0000")
    same = await upsert(directories, caller, pool, phone="1.555.010.0000")
    other = await upsert(directories, caller, pool, phone="+1 555 010 0001")
    assert same.contact_id == one.contact_id and not same.created
    assert other.created


async def test_a_rule_with_an_absent_field_is_skipped(directories, caller) -> None:  # type: ignore[no-untyped-def]
    pool = await new_directory(directories, caller, [EMAIL])
    first = await upsert(directories, caller, pool, first_name="Ada")
    second = await upsert(directories, caller, pool, first_name="Ada", email="")
    assert first.created and second.created and first.contact_id != second.contact_id


async def test_without_rules_every_write_creates_a_contact(directories, caller) -> None:  # type: ignore[no-untyped-def]
    pool = await new_directory(directories, caller)
    first = await upsert(directories, caller, pool, email="ada@example.com")
    second = await upsert(directories, caller, pool, email="ada@example.com")
    assert first.created and second.created and first.contact_id != second.contact_id
    assert await count(directories, caller, pool) == 2


async def test_embedded_data_merges_key_by_key(directories, caller) -> None:  # type: ignore[no-untyped-def]
    pool = await new_directory(directories, caller, [EMAIL])
    first = await upsert(
        directories, caller, pool, email="ada@example.com", first_name="Ada",
        embedded={"plan": "gold", "visits": 3, "score": 4.5},
    )
    await upsert(directories, caller, pool, email="ada@example.com", unsubscribed=True, embedded={"visits": 4, "vip": True})
    stored = await get(directories, caller, pool, first.contact_id)
    assert json_format.MessageToDict(stored.embedded_data) == {"plan": "gold", "visits": 4, "score": 4.5, "vip": True}
    assert stored.embedded_data["visits"] == 4
    assert stored.first_name == "Ada" and stored.unsubscribed
    assert stored.id.startswith("CID_") and stored.directory_id == pool
    assert stored.updated_at.ToDatetime() >= stored.created_at.ToDatetime()


async def test_one_batch_writes_each_stored_contact_s_own_changes(directories, caller) -> None:  # type: ignore[no-untyped-def]
    """Stored contacts matched in one bulk upsert change different fields (written back by the columns they change):
    each ends up with exactly its own write applied, and stays findable by every rule."""
    pool = await new_directory(directories, caller, [EXT_REF], [EMAIL])
    original = [
        directory_pb2.ContactInput(ext_ref="crm-1", email="ada@example.com", first_name="Ada"),
        directory_pb2.ContactInput(ext_ref="crm-2", email="cleo@example.com", first_name="Cleo"),
        directory_pb2.ContactInput(ext_ref="crm-3", email="edo@example.com", first_name="Edo"),
    ]
    original[0].embedded_data.update({"plan": "free"})
    created = await directories.UpsertContacts(
        directory_pb2.UpsertContactsRequest(directory_id=pool, contacts=original), metadata=caller.metadata
    )
    ada, cleo, edo = (result.contact_id for result in created.results)
    changes = [
        directory_pb2.ContactInput(ext_ref="crm-1", last_name="Lovelace"),
        directory_pb2.ContactInput(ext_ref="crm-2", email="CLEO@example.com"),
        directory_pb2.ContactInput(ext_ref="crm-3", email="edo@new.example.com", unsubscribed=True),
    ]
    changes[0].embedded_data.update({"visits": 2})
    updated = await directories.UpsertContacts(
        directory_pb2.UpsertContactsRequest(directory_id=pool, contacts=changes), metadata=caller.metadata
    )
    assert [(result.contact_id, result.created) for result in updated.results] == [(ada, False), (cleo, False), (edo, False)]
    stored = {contact_id: await get(directories, caller, pool, contact_id) for contact_id in (ada, cleo, edo)}
    assert (stored[ada].first_name, stored[ada].last_name, stored[ada].email) == ("Ada", "Lovelace", "ada@example.com")
    assert json_format.MessageToDict(stored[ada].embedded_data) == {"plan": "free", "visits": 2}
    assert (stored[cleo].first_name, stored[cleo].email, stored[cleo].unsubscribed) == ("Cleo", "CLEO@example.com", False)
    assert (stored[edo].email, stored[edo].unsubscribed, stored[edo].last_name) == ("edo@new.example.com", True, "")
    found = [
        (await upsert(directories, caller, pool, **fields)).contact_id
        for fields in ({"email": "ada@example.com"}, {"email": "cleo@example.com"}, {"email": "edo@new.example.com"})
    ]
    assert found == [ada, cleo, edo]
    assert (await upsert(directories, caller, pool, email="edo@example.com")).created  # the email Edo gave up


async def test_concurrent_writes_of_one_new_person_create_one_contact(directories, caller) -> None:  # type: ignore[no-untyped-def]
    pool = await new_directory(directories, caller, [EXT_REF], [EMAIL])
    writes = [
        upsert(directories, caller, pool, email="Rush@Example.com", embedded={f"writer{i}": i})
        for i in range(20)
    ]
    outcomes = await asyncio.gather(*writes)
    assert len({o.contact_id for o in outcomes}) == 1
    assert sum(o.created for o in outcomes) == 1
    assert await count(directories, caller, pool) == 1
    stored = await get(directories, caller, pool, outcomes[0].contact_id)
    # Every writer's embedded data landed on the one contact.
    assert set(json_format.MessageToDict(stored.embedded_data)) == {f"writer{i}" for i in range(20)}


async def test_a_rejected_write_changes_nothing(directories, caller) -> None:  # type: ignore[no-untyped-def]
    pool = await new_directory(directories, caller, [EMAIL])
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await upsert(directories, caller, pool, email="ada@example.com", embedded={"ok": "yes", "nested": {"a": 1}})
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await count(directories, caller, pool) == 0


async def test_unknown_contact_and_directory_are_not_found(directories, caller) -> None:  # type: ignore[no-untyped-def]
    pool = await new_directory(directories, caller)
    for directory_id, contact_id in [(pool, "CID_nobody"), ("POOL_nowhere", "CID_nobody")]:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await get(directories, caller, directory_id, contact_id)
        assert failure.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await upsert(directories, caller, "POOL_nowhere", email="a@example.com")
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND


async def test_mailing_lists_are_idempotent_by_id_and_show_on_contacts(directories, caller, database_url) -> None:  # type: ignore[no-untyped-def]
    pool = await new_directory(directories, caller, [EMAIL])
    request = directory_pb2.CreateMailingListRequest(directory_id=pool, name="Newsletter", id="CG_newsletter")
    news = await directories.CreateMailingList(request, metadata=caller.metadata)
    assert news == await directories.CreateMailingList(request, metadata=caller.metadata)
    vip = await directories.CreateMailingList(
        directory_pb2.CreateMailingListRequest(directory_id=pool, name="VIP"), metadata=caller.metadata
    )
    assert vip.id.startswith("CG_") and len(vip.id) == 18
    listed = await directories.ListMailingLists(directory_pb2.ListMailingListsRequest(directory_id=pool), metadata=caller.metadata)
    assert [m.id for m in listed.mailing_lists] == [news.id, vip.id]

    ada = await upsert(directories, caller, pool, email="ada@example.com")
    assert list((await get(directories, caller, pool, ada.contact_id)).mailing_list_ids) == []
    # Membership RPCs come later; the table is already there, so write a membership directly.
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                MailingListMembership.__table__.insert().values(mailing_list_id=news.id, contact_id=ada.contact_id, created_at=news.created_at.ToDatetime())
            )
    finally:
        await engine.dispose()
    assert list((await get(directories, caller, pool, ada.contact_id)).mailing_list_ids) == [news.id]
