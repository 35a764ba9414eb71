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
