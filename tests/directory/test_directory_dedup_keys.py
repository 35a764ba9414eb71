"""Identity keys stored on contacts (revision 0005): keys moved over from contact_identity_keys, keys that follow
updates, batches that move keys between contacts, concurrent batches of the same people, and the segments a bulk
upsert evaluates."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from datetime import UTC, datetime

from alembic import command
from google.protobuf import json_format, struct_pb2
from sqlalchemy import select, text

from cxflow.v1 import directory_pb2
from services.common.db import create_engine, create_session_factory
from services.common.migrations import alembic_config, upgrade_to_head_async
from services.directory.contacts import ContactWrite, apply_write
from services.directory.models import Contact
from services.directory.repository import ContactRow, DirectoryRepository

EMAIL = directory_pb2.DEDUP_FIELD_EMAIL
EXT_REF = directory_pb2.DEDUP_FIELD_EXT_REF
BEFORE_KEYS_MOVED = "0004_keys_no_directory_fk"


def unscoped_key(pairs: list[list[str]]) -> str:
    """A key as revision 0001 stored it: sha256 hex of the compact JSON of [[field, normalized value], ...]."""
    return hashlib.sha256(json.dumps(pairs, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def scoped_key(directory_id: str, key: str) -> str:
    """That key as revision 0005 stores it on the contact: the first 24 hex digits of sha256("<directory>:<key>")."""
    return hashlib.sha256(f"{directory_id}:{key}".encode()).hexdigest()[:24]


async def migrate(url: str, revision: str, down: bool = False) -> None:
    # Alembic's env drives an async engine with asyncio.run: a thread without a running loop.
    step = command.downgrade if down else command.upgrade
    await asyncio.to_thread(step, alembic_config("directory", url), revision)


async def test_revision_0005_moves_stored_keys_onto_contacts_and_back(database_url: str) -> None:
    await migrate(database_url, BEFORE_KEYS_MOVED)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    contacts = [  # (id, email, ext_ref); the second has no extRef, so no key for the first rule
        ("CID_ada", "ada@example.com", "crm-1"),
        ("CID_élodie", "élodie@example.com", None),
    ]
    stored_keys = {
        ("CID_ada", 0, unscoped_key([["extRef", "crm-1"]])),
        ("CID_ada", 1, unscoped_key([["email", "ada@example.com"]])),
        ("CID_élodie", 1, unscoped_key([["email", "élodie@example.com"]])),
    }
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO organizations (id, name, created_at) VALUES ('ORG_a', 'a', :now)"), {"now": now}
            )
            await connection.execute(
                text(
                    "INSERT INTO directories (id, organization_id, name, is_default, dedup_rules, created_at)"
                    " VALUES ('POOL_a', 'ORG_a', 'a', false, :rules, :now)"
                ),
                {"rules": json.dumps([["extRef"], ["email"]]), "now": now},
            )
            for contact_id, email, ext_ref in contacts:
                await connection.execute(
                    text(
                        "INSERT INTO contacts (id, directory_id, email, email_normalized, ext_ref, ext_ref_normalized,"
                        " unsubscribed, embedded_data, created_at, updated_at)"
                        " VALUES (:id, 'POOL_a', :email, :email, :ext_ref, :ext_ref, false, '{}', :now, :now)"
                    ),
                    {"id": contact_id, "email": email, "ext_ref": ext_ref, "now": now},
                )
            for contact_id, rule_index, key in stored_keys:
                await connection.execute(
                    text(
                        "INSERT INTO contact_identity_keys (directory_id, rule_index, key, contact_id)"
                        " VALUES ('POOL_a', :rule_index, :key, :contact_id)"
                    ),
                    {"rule_index": rule_index, "key": key, "contact_id": contact_id},
                )

        await upgrade_to_head_async("directory", database_url)
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(Contact.id, Contact.dedup_key_1, Contact.dedup_key_2, Contact.dedup_key_3).order_by(Contact.id)
                )
            ).all()
        expected_columns = {
            (contact_id, rule_index + 1, scoped_key("POOL_a", key)) for contact_id, rule_index, key in stored_keys
        }
        assert {(row.id, n, row[n]) for row in rows for n in (1, 2, 3) if row[n] is not None} == expected_columns

        # The moved keys identify the stored people: a write of Élodie's email (another case) updates her.
        sessions = create_session_factory(engine)
        async with sessions() as session:
            repository = DirectoryRepository(session, "ORG_a")
            outcome = await repository.upsert_contact("POOL_a", ContactWrite(email="ÉLODIE@example.com", ext_ref="crm-2"))
            await session.commit()
        assert outcome.contact_id == "CID_élodie" and not outcome.created

        await migrate(database_url, BEFORE_KEYS_MOVED, down=True)
        async with engine.connect() as connection:
            restored = {
                tuple(row)
                for row in await connection.execute(text("SELECT contact_id, rule_index, key FROM contact_identity_keys"))
            }
        assert restored == stored_keys | {("CID_élodie", 0, unscoped_key([["extRef", "crm-2"]]))}
    finally:
        await engine.dispose()
    await upgrade_to_head_async("directory", database_url)


def empty_contact_row(id: str, directory_id: str, created_at: datetime) -> ContactRow:
    """A stored contact with nothing set, as a new Contact row starts out."""
    fresh = ContactRow()
    for column in Contact.__table__.columns:
        setattr(fresh, column.key, None)
    fresh.id, fresh.directory_id, fresh.unsubscribed, fresh.embedded_data = id, directory_id, False, {}
    fresh.created_at = fresh.updated_at = created_at
    return fresh


def test_a_new_contact_row_is_what_a_write_makes_of_an_empty_contact() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for write in (ContactWrite(), ContactWrite(email=" Ada@X.io ", phone="+1 555", unsubscribed=True, embedded_data={"a": 1})):
        expected = empty_contact_row("CID_1", "POOL_a", now)
        apply_write(expected, write, now)  # type: ignore[arg-type]
        assert ContactRow.created_by(write, "CID_1", "POOL_a", now, []).row() == expected.row()
    keyed = ContactRow.created_by(ContactWrite(email="a@x.io"), "CID_1", "POOL_a", now, [(0, "k1"), (2, "k3")])
    assert (keyed.dedup_key_1, keyed.dedup_key_2, keyed.dedup_key_3) == ("k1", None, "k3")


def test_a_contact_row_has_the_contacts_columns_in_table_order() -> None:
    """Rows read from the table build ContactRows positionally."""
    assert [field.name for field in dataclasses.fields(ContactRow)] == [column.key for column in Contact.__table__.columns]


async def new_directory(directories, caller, *rules: list[int]) -> str:  # type: ignore[no-untyped-def]
    created = await directories.CreateDirectory(
        directory_pb2.CreateDirectoryRequest(name="Keys", dedup_rules=[directory_pb2.DedupRule(fields=r) for r in rules]),
        metadata=caller.metadata,
    )
    return created.id


async def batch(directories, caller, directory_id: str, *contacts: dict[str, str]) -> list[tuple[str, bool]]:  # type: ignore[no-untyped-def]
    answer = await directories.UpsertContacts(
        directory_pb2.UpsertContactsRequest(
            directory_id=directory_id, contacts=[directory_pb2.ContactInput(**c) for c in contacts]
        ),
        metadata=caller.metadata,
    )
    return [(result.contact_id, result.created) for result in answer.results]


async def test_keys_follow_updates_and_the_first_holder_keeps_a_key(directories, caller) -> None:  # type: ignore[no-untyped-def]
    pool = await new_directory(directories, caller, [EMAIL])
    [(ada, _)] = await batch(directories, caller, pool, {"email": "ada@x.io"})
    [(cleo, _)] = await batch(directories, caller, pool, {"email": "cleo@x.io"})

    async def update(contact_id: str, email: str) -> None:
        await directories.UpdateContact(
            directory_pb2.UpdateContactRequest(
                directory_id=pool, contact_id=contact_id, contact=directory_pb2.ContactInput(email=email)
            ),
            metadata=caller.metadata,
        )

    await update(ada, "ada@new.io")
    assert await batch(directories, caller, pool, {"email": "ADA@new.io"}) == [(ada, False)]
    [(someone, created)] = await batch(directories, caller, pool, {"email": "ada@x.io"})  # the old email is free again
    assert created and someone not in (ada, cleo)

    await update(ada, "cleo@x.io")  # Cleo holds that identity: she keeps it
    assert await batch(directories, caller, pool, {"email": "cleo@x.io"}) == [(cleo, False)]
    await update(ada, "ada@third.io")
    assert await batch(directories, caller, pool, {"email": "ada@third.io"}) == [(ada, False)]


async def test_one_batch_may_move_keys_between_stored_contacts(directories, caller) -> None:  # type: ignore[no-untyped-def]
    """Entries apply as if one by one: a key one contact gives up is free for the next entries, new or stored,
    whatever order the database writes them in."""
    pool = await new_directory(directories, caller, [EXT_REF], [EMAIL])
    [(first, _), (second, _)] = await batch(
        directories, caller, pool, {"ext_ref": "1", "email": "a@x.io"}, {"ext_ref": "2", "email": "b@x.io"}
    )
    answers = await batch(
        directories,
        caller,
        pool,
        {"ext_ref": "1", "email": "b@x.io"},  # b@x.io is still the second's: the first holds no email identity now
        {"ext_ref": "2", "email": "a@x.io"},  # the second takes a@x.io, which the first gave up
        {"email": "b@x.io"},  # given up by the second: a new contact
    )
    assert answers[:2] == [(first, False), (second, False)] and answers[2][1]
    third = answers[2][0]
    matched = await batch(directories, caller, pool, {"email": "a@x.io"}, {"email": "b@x.io"}, {"ext_ref": "1"})
    assert matched == [(second, False), (third, False), (first, False)]


async def test_concurrent_batches_of_the_same_people_make_each_person_once(directories, caller) -> None:  # type: ignore[no-untyped-def]
    pool = await new_directory(directories, caller, [EXT_REF], [EMAIL])
    people = [{"ext_ref": f"crm-{n}", "email": f"p{n}@x.io"} for n in range(40)]
    orders = [people, people[::-1], people[10:] + people[:10], people[::2] + people[1::2]]
    answers = await asyncio.gather(*(batch(directories, caller, pool, *order) for order in orders))
    ids_by_person: dict[str, set[str]] = {}
    for order, results in zip(orders, answers, strict=True):
        for person, (contact_id, _) in zip(order, results, strict=True):
            ids_by_person.setdefault(person["ext_ref"], set()).add(contact_id)
    assert all(len(ids) == 1 for ids in ids_by_person.values())
    assert sum(created for results in answers for _, created in results) == len(people)
    counted = await directories.GetDirectory(directory_pb2.GetDirectoryRequest(directory_id=pool), metadata=caller.metadata)
    assert counted.contact_count == len(people)


async def test_a_bulk_upsert_evaluates_its_directory_s_segments_only(directories, caller) -> None:  # type: ignore[no-untyped-def]
    """The directory's own segments are found (another directory's segment with the same rule is not joined)."""
    pool, other = await new_directory(directories, caller, [EMAIL]), await new_directory(directories, caller, [EMAIL])
    rule = json_format.ParseDict({"field": "email", "op": "contains", "value": "@x.io"}, struct_pb2.Struct())
    segments = [
        await directories.CreateSegment(
            directory_pb2.CreateSegmentRequest(directory_id=directory_id, name="x.io", rule=rule), metadata=caller.metadata
        )
        for directory_id in (other, pool)
    ]
    [(joined, created)] = await batch(directories, caller, pool, {"email": "ada@x.io"})
    contact = await directories.GetContact(
        directory_pb2.GetContactRequest(directory_id=pool, contact_id=joined), metadata=caller.metadata
    )
    assert created and list(contact.segment_ids) == [segments[1].id]
