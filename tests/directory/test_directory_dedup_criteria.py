"""Qualtrics' flat deduplicationCriteria: every combination of the five fields as one rule, over gRPC; and concurrent
writers of one new person in a directory with segments (membership evaluation inside the write) still make one contact."""

from __future__ import annotations

import asyncio
import itertools

import grpc
import pytest
from google.protobuf import struct_pb2

from cxflow.v1 import directory_pb2

CRITERIA = ("email", "first_name", "last_name", "external_data_reference", "phone")
# Per criterion: the contact field it reads, the value written first, the same identity written differently
# (dedup compares it equal), and a different identity.
FIELDS = {
    "email": ("email", "ada@example.com", " ADA@Example.com", "grace@example.com"),
    "first_name": ("first_name", "Ada", "ada", "Grace"),
    "last_name": ("last_name", "Lovelace", "LOVELACE", "Hopper"),
    "external_data_reference": ("ext_ref", "crm-1", "crm-1", "crm-2"),
    "phone": ("phone", "+1 (555) 010-0000", "15550100000", "+1 555 010 9999"),
}
COMBINATIONS = [combo for size in range(1, 6) for combo in itertools.combinations(CRITERIA, size)]


def contact(overrides: dict[str, str] | None = None, variant: int = 1) -> directory_pb2.ContactInput:
    values = {field: spellings[variant] for field, *spellings in FIELDS.values()}
    values.update(overrides or {})
    return directory_pb2.ContactInput(**values)


async def test_every_criteria_combination_dedups_on_exactly_its_fields(directories, caller) -> None:  # type: ignore[no-untyped-def]
    async def upsert(directory_id: str, written: directory_pb2.ContactInput) -> directory_pb2.UpsertContactResponse:
        return await directories.UpsertContact(
            directory_pb2.UpsertContactRequest(directory_id=directory_id, contact=written), metadata=caller.metadata
        )

    for combo in COMBINATIONS:
        directory = await directories.CreateDirectory(
            directory_pb2.CreateDirectoryRequest(
                name="+".join(combo), deduplication_criteria=directory_pb2.DeduplicationCriteria(**{name: True for name in combo})
            ),
            metadata=caller.metadata,
        )
        shown = directory.deduplication_criteria
        assert {name for name in CRITERIA if getattr(shown, name)} == set(combo)
        first = await upsert(directory.id, contact(variant=0))
        assert first.created
        # The same identity, spelled the way dedup normalizes: the same contact.
        assert (await upsert(directory.id, contact(variant=1))).contact_id == first.contact_id, combo
        for name in CRITERIA:
            attribute, _, _, different = FIELDS[name]
            changed = await upsert(directory.id, contact({attribute: different}, variant=0))
            if name in combo:  # one field of the rule differs: no match, a new contact
                assert changed.created, (combo, name)
            else:  # a field outside the rule differs: still the same person
                assert changed.contact_id == first.contact_id, (combo, name)
        # A write missing one of the rule's fields skips the rule: a new contact.
        attribute = FIELDS[combo[0]][0]
        missing = contact(variant=0)
        missing.ClearField(attribute)
        assert (await upsert(directory.id, missing)).created, combo


async def test_criteria_and_rules_together_are_refused(directories, caller) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await directories.CreateDirectory(
            directory_pb2.CreateDirectoryRequest(
                name="Both",
                dedup_rules=[directory_pb2.DedupRule(fields=[directory_pb2.DEDUP_FIELD_EMAIL])],
                deduplication_criteria=directory_pb2.DeduplicationCriteria(phone=True),
            ),
            metadata=caller.metadata,
        )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details().startswith("deduplication_criteria:")


async def test_concurrent_new_person_writes_with_segments_make_one_contact_and_one_membership(directories, caller) -> None:  # type: ignore[no-untyped-def]
    directory = await directories.CreateDirectory(
        directory_pb2.CreateDirectoryRequest(
            name="Busy", deduplication_criteria=directory_pb2.DeduplicationCriteria(email=True, external_data_reference=True)
        ),
        metadata=caller.metadata,
    )
    rule = struct_pb2.Struct()
    rule.update({"field": "embeddedData.source", "op": "exists"})
    segment = await directories.CreateSegment(
        directory_pb2.CreateSegmentRequest(directory_id=directory.id, name="Has source", rule=rule), metadata=caller.metadata
    )

    async def write(n: int) -> directory_pb2.UpsertContactResponse:
        written = directory_pb2.ContactInput(email="Same@Example.com", ext_ref="crm-7")
        written.embedded_data.update({"source": f"writer-{n}", f"k{n}": n})
        return await directories.UpsertContact(
            directory_pb2.UpsertContactRequest(directory_id=directory.id, contact=written), metadata=caller.metadata
        )

    answers = await asyncio.gather(*(write(n) for n in range(12)))
    assert len({answer.contact_id for answer in answers}) == 1
    assert sum(answer.created for answer in answers) == 1
    stored = await directories.GetContact(
        directory_pb2.GetContactRequest(directory_id=directory.id, contact_id=answers[0].contact_id), metadata=caller.metadata
    )
    assert {f"k{n}" for n in range(12)} <= set(stored.embedded_data.keys())  # every merge kept
    assert list(stored.segment_ids) == [segment.id]
    members = await directories.ListSegmentMembers(
        directory_pb2.ListSegmentMembersRequest(directory_id=directory.id, segment_id=segment.id), metadata=caller.metadata
    )
    assert [member.contact_id for member in members.members] == [answers[0].contact_id]


async def test_batch_upsert_groups_exactly_as_one_by_one_upserts(directories, caller) -> None:  # type: ignore[no-untyped-def]
    """The same writes, as one UpsertContacts batch and as UpsertContact calls in order, make the same people."""
    rules = [
        directory_pb2.DedupRule(fields=[directory_pb2.DEDUP_FIELD_EXT_REF]),
        directory_pb2.DedupRule(fields=[directory_pb2.DEDUP_FIELD_EMAIL]),
    ]
    writes = [
        {"email": "a@x.io", "ext_ref": "1"},
        {"email": "A@X.io", "first_name": "Ada"},  # email rule: the first contact
        {"email": "b@x.io", "ext_ref": "1"},  # extRef rule wins over email: the first contact again
        {"email": "b@x.io"},  # now matches the first contact's new email
        {"email": "c@x.io", "ext_ref": "3"},
        {"phone": "555"},  # nothing to match on: new
        {"email": "stored@x.io"},  # matches a contact stored before the batch
    ]

    async def pool() -> str:
        created = await directories.CreateDirectory(directory_pb2.CreateDirectoryRequest(name="B", dedup_rules=rules), metadata=caller.metadata)
        await directories.UpsertContact(
            directory_pb2.UpsertContactRequest(directory_id=created.id, contact=directory_pb2.ContactInput(email="stored@x.io")),
            metadata=caller.metadata,
        )
        return created.id

    batch_pool, single_pool = await pool(), await pool()
    batch = await directories.UpsertContacts(
        directory_pb2.UpsertContactsRequest(directory_id=batch_pool, contacts=[directory_pb2.ContactInput(**w) for w in writes]),
        metadata=caller.metadata,
    )
    singles = [
        await directories.UpsertContact(
            directory_pb2.UpsertContactRequest(directory_id=single_pool, contact=directory_pb2.ContactInput(**w)), metadata=caller.metadata
        )
        for w in writes
    ]

    def grouping(results) -> list[tuple[int, bool]]:  # type: ignore[no-untyped-def]
        first_seen: dict[str, int] = {}
        return [(first_seen.setdefault(result.contact_id, index), result.created) for index, result in enumerate(results)]

    assert grouping(batch.results) == grouping(singles) == [
        (0, True), (0, False), (0, False), (0, False), (4, True), (5, True), (6, False),
    ]  # fmt: skip
    batch_first = await directories.GetContact(
        directory_pb2.GetContactRequest(directory_id=batch_pool, contact_id=batch.results[0].contact_id), metadata=caller.metadata
    )
    assert (batch_first.email, batch_first.ext_ref, batch_first.first_name) == ("b@x.io", "1", "Ada")
    counted = await directories.GetDirectory(directory_pb2.GetDirectoryRequest(directory_id=batch_pool), metadata=caller.metadata)
    assert counted.contact_count == 4

    bad = directory_pb2.ContactInput(email="d@x.io")
    bad.embedded_data.update({"nested": {"no": 1}})
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await directories.UpsertContacts(
            directory_pb2.UpsertContactsRequest(directory_id=batch_pool, contacts=[directory_pb2.ContactInput(email="e@x.io"), bad]),
            metadata=caller.metadata,
        )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details().startswith("contacts[1].embedded_data.nested:")
    after = await directories.GetDirectory(directory_pb2.GetDirectoryRequest(directory_id=batch_pool), metadata=caller.metadata)
    assert after.contact_count == 4  # nothing of the refused batch was written
