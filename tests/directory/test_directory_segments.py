"""Segments over gRPC: stored membership kept on every write, refresh as windows slide, opt-out/in, explanations,
rule validation naming the bad node, and membership events reaching ingestion through the outbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from cxflow.v1 import common_pb2, directory_pb2, ingestion_pb2

SUPPORT_CALLS = {
    "transactions": {
        "aggregate": "count",
        "where": [{"field": "type", "op": "eq", "value": "support_call"}],
        "lastDays": 30,
        "op": "gte",
        "value": 3,
    }
}


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


class Pool:
    """One directory of the caller's organization, with short helpers for the calls these tests make."""

    def __init__(self, directories, caller, directory_id: str, list_id: str) -> None:  # type: ignore[no-untyped-def]
        self.directories = directories
        self.md = caller.metadata
        self.id = directory_id
        self.list_id = list_id

    async def upsert(self, embedded: dict[str, Any] | None = None, **fields: Any) -> str:
        contact = directory_pb2.ContactInput(**fields)
        if embedded:
            contact.embedded_data.update(embedded)
        answer = await self.directories.UpsertContact(
            directory_pb2.UpsertContactRequest(directory_id=self.id, contact=contact), metadata=self.md
        )
        return answer.contact_id

    async def calls(self, contact_id: str, *moments: Any, kind: str = "support_call") -> None:
        transactions = {}
        for index, moment in enumerate(moments):
            item = directory_pb2.TransactionInput(contact_id=contact_id, mailing_list_id=self.list_id)
            stamp = Timestamp()
            stamp.FromDatetime(moment)
            item.transaction_date.CopyFrom(stamp)
            item.data.update({"type": kind})
            transactions[f"{contact_id}-{index}-{moment.isoformat()}"] = item
        answer = await self.directories.CreateTransactions(
            directory_pb2.CreateTransactionsRequest(directory_id=self.id, transactions=transactions), metadata=self.md
        )
        assert not answer.errors

    async def segment(self, rule: dict[str, Any], name: str = "Frequent callers") -> directory_pb2.Segment:
        return await self.directories.CreateSegment(
            directory_pb2.CreateSegmentRequest(directory_id=self.id, name=name, rule=struct(rule)), metadata=self.md
        )

    async def segment_ids(self, contact_id: str) -> list[str]:
        contact = await self.directories.GetContact(
            directory_pb2.GetContactRequest(directory_id=self.id, contact_id=contact_id), metadata=self.md
        )
        return list(contact.segment_ids)

    async def members(self, segment_id: str) -> set[str]:
        answer = await self.directories.ListSegmentMembers(
            directory_pb2.ListSegmentMembersRequest(directory_id=self.id, segment_id=segment_id), metadata=self.md
        )
        return {member.contact_id for member in answer.members}

    async def refresh(self) -> directory_pb2.RefreshSegmentsResponse:
        return await self.directories.RefreshSegments(directory_pb2.RefreshSegmentsRequest(), metadata=self.md)


@pytest.fixture
async def pool(directories, caller) -> Pool:  # type: ignore[no-untyped-def]
    directory = await directories.CreateDirectory(
        directory_pb2.CreateDirectoryRequest(name="Customers", dedup_rules=[directory_pb2.DedupRule(fields=[directory_pb2.DEDUP_FIELD_EMAIL])]),
        metadata=caller.metadata,
    )
    mailing_list = await directories.CreateMailingList(
        directory_pb2.CreateMailingListRequest(directory_id=directory.id, name="Support"), metadata=caller.metadata
    )
    return Pool(directories, caller, directory.id, mailing_list.id)


async def test_transactions_add_a_contact_and_a_sliding_window_removes_it_on_refresh(pool, clock, ingestion, caller, settings) -> None:  # type: ignore[no-untyped-def]
    recorder, _ = ingestion
    segment = await pool.segment(SUPPORT_CALLS)
    ada = await pool.upsert(email="ada@example.com")
    grace = await pool.upsert(email="grace@example.com")
    now = clock.now
    await pool.calls(ada, now - timedelta(days=20), now - timedelta(days=10), now - timedelta(days=1))
    await pool.calls(grace, now - timedelta(days=40), now - timedelta(days=2), now - timedelta(days=1))
    await pool.calls(grace, now - timedelta(days=3), kind="purchase")

    # Joined in the same write as the transaction that made the rule hold.
    assert await pool.segment_ids(ada) == [segment.id]
    assert await pool.segment_ids(grace) == []
    assert await pool.members(segment.id) == {ada}

    # 11 days later the oldest call left the window; nothing changes until a refresh looks again.
    clock.advance(days=11)
    assert await pool.members(segment.id) == {ada}
    refreshed = await pool.refresh()
    assert (refreshed.segments, refreshed.added, refreshed.removed, refreshed.members) == (1, 0, 1, 0)
    assert await pool.segment_ids(ada) == []
    again = await pool.refresh()
    assert (again.added, again.removed) == (0, 0)

    events = await recorder.wait_for(2)
    assert [(event.contact_id, event.change) for event in events] == [
        (ada, ingestion_pb2.MEMBERSHIP_CHANGE_ADDED),
        (ada, ingestion_pb2.MEMBERSHIP_CHANGE_REMOVED),
    ]
    assert all(event.segment_id == segment.id and event.segment_name == "Frequent callers" for event in events)
    assert all(event.directory_id == pool.id for event in events)
    assert len({event.event_id for event in events}) == 2
    # Delivered on behalf of the organization, with the internal token.
    assert {(org, token) for _, org, token in recorder.calls} == {(caller.organization_id, f"Bearer {settings.internal_token}")}


async def test_contact_writes_reevaluate_in_the_same_call(pool) -> None:  # type: ignore[no-untyped-def]
    vip = await pool.segment(
        {"all": [{"field": "embeddedData.tier", "op": "eq", "value": "gold"}, {"field": "email", "op": "contains", "value": "@example.com"}]},
        name="Gold",
    )
    listed = await pool.segment({"mailingList": pool.list_id}, name="On the list")
    ada = await pool.upsert(email="ada@example.com", embedded={"tier": "silver"})
    assert await pool.segment_ids(ada) == []
    await pool.upsert(email="ADA@example.com", embedded={"tier": "gold"})  # dedup: the same contact
    assert await pool.segment_ids(ada) == [vip.id]
    await pool.directories.UpdateContact(
        directory_pb2.UpdateContactRequest(
            directory_id=pool.id, contact_id=ada, contact=directory_pb2.ContactInput(email="ada@elsewhere.org")
        ),
        metadata=pool.md,
    )
    assert await pool.segment_ids(ada) == []
    await pool.directories.AddMailingListMembers(
        directory_pb2.MailingListMembersRequest(directory_id=pool.id, mailing_list_id=pool.list_id, contact_ids=[ada]),
        metadata=pool.md,
    )
    assert await pool.segment_ids(ada) == [listed.id]
    await pool.directories.RemoveMailingListMembers(
        directory_pb2.MailingListMembersRequest(directory_id=pool.id, mailing_list_id=pool.list_id, contact_ids=[ada]),
        metadata=pool.md,
    )
    assert await pool.segment_ids(ada) == []


async def test_a_new_segment_takes_existing_contacts_and_rule_updates_reevaluate(pool) -> None:  # type: ignore[no-untyped-def]
    ids = [await pool.upsert(email=f"p{n}@example.com", embedded={"score": n}) for n in range(6)]
    segment = await pool.segment({"field": "embeddedData.score", "op": "gte", "value": 4})
    assert segment.member_count == 2
    assert await pool.members(segment.id) == set(ids[4:])
    updated = await pool.directories.UpdateSegment(
        directory_pb2.UpdateSegmentRequest(
            directory_id=pool.id, segment_id=segment.id, rule=struct({"field": "embeddedData.score", "op": "in", "value": [0, 5]})
        ),
        metadata=pool.md,
    )
    assert updated.member_count == 2 and updated.name == "Frequent callers"
    assert await pool.members(segment.id) == {ids[0], ids[5]}


async def test_opted_out_contacts_never_join_until_they_opt_in(pool, ingestion) -> None:  # type: ignore[no-untyped-def]
    recorder, _ = ingestion
    segment = await pool.segment({"field": "embeddedData.plan", "op": "eq", "value": "pro"})
    ada = await pool.upsert(email="ada@example.com", embedded={"plan": "pro"})
    request = directory_pb2.SegmentOptRequest(directory_id=pool.id, segment_id=segment.id, contact_id=ada)
    state = await pool.directories.OptOutOfSegment(request, metadata=pool.md)
    assert (state.member, state.opted_out) == (False, True)
    await pool.upsert(email="ada@example.com", embedded={"plan": "pro", "seats": 3})
    assert (await pool.refresh()).added == 0
    assert await pool.segment_ids(ada) == []
    state = await pool.directories.OptIntoSegment(request, metadata=pool.md)
    assert (state.member, state.opted_out) == (True, False)
    events = await recorder.wait_for(4)
    assert [event.change for event in events] == [
        ingestion_pb2.MEMBERSHIP_CHANGE_ADDED,
        ingestion_pb2.MEMBERSHIP_CHANGE_OPTED_OUT,
        ingestion_pb2.MEMBERSHIP_CHANGE_OPTED_IN,
        ingestion_pb2.MEMBERSHIP_CHANGE_ADDED,
    ]


async def test_explain_membership_gives_each_node_its_value(pool, clock) -> None:  # type: ignore[no-untyped-def]
    rule = {"any": [SUPPORT_CALLS, {"field": "embeddedData.vip", "op": "eq", "value": True}]}
    segment = await pool.segment(rule)
    ada = await pool.upsert(email="ada@example.com", embedded={"vip": False})
    await pool.calls(ada, clock.now - timedelta(days=2), clock.now - timedelta(days=50))
    explained = await pool.directories.ExplainMembership(
        directory_pb2.ExplainMembershipRequest(directory_id=pool.id, segment_id=segment.id, contact_id=ada), metadata=pool.md
    )
    assert (explained.member, explained.opted_out, explained.rule_holds) == (False, False, False)
    root = explained.rule
    assert (root.path, root.held, len(root.children)) == ("rule", False, 2)
    calls, vip = root.children
    assert (calls.path, calls.value.number_value, calls.held) == ("rule.any[0]", 1, False)
    assert "count of transactions where type eq 'support_call' in the last 30 days gte 3" == calls.description
    assert (vip.path, vip.value.bool_value, vip.held) == ("rule.any[1]", False, False)


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        ({"all": [{"field": "email", "op": "eq", "value": "a"}, {"field": "shoeSize", "op": "eq", "value": 1}]}, "rule.all[1].field"),
        ({"any": [{"all": [{"field": "email", "op": "approx", "value": "a"}]}]}, "rule.any[0].all[0].op"),
        ({"transactions": {"aggregate": "count", "op": "gte", "value": 1, "lastDays": -3}}, "rule.transactions.lastDays"),
        ({"transactions": {"aggregate": "sum", "op": "gte", "value": 1}}, "rule.transactions.field"),
        ({"transactions": {"aggregate": "count", "op": "gte", "value": 1, "between": {"from": "yesterday", "to": "2026-01-01"}}}, "rule.transactions.between.from"),
        ({"transactions": {"aggregate": "count", "op": "gte", "value": "five"}}, "rule.transactions.value"),
        ({"field": "embeddedData.age", "op": "gt", "value": "ten"}, "rule.value"),
        ({"mailingList": "CG_doesnotexist"}, "rule.mailingList"),
        ({"nope": []}, "rule"),
    ],
)
async def test_invalid_rules_are_refused_naming_the_bad_node(pool, rule, path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await pool.segment(rule)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details().startswith(f"{path}:")
    listed = await pool.directories.ListSegments(directory_pb2.ListSegmentsRequest(directory_id=pool.id), metadata=pool.md)
    assert list(listed.segments) == []


async def test_segments_are_scoped_to_the_organization(pool, directories, make_caller) -> None:  # type: ignore[no-untyped-def]
    segment = await pool.segment({"field": "email", "op": "exists"})
    other = await make_caller()
    for call, request in (
        (directories.GetSegment, directory_pb2.GetSegmentRequest(directory_id=pool.id, segment_id=segment.id)),
        (directories.ListSegmentMembers, directory_pb2.ListSegmentMembersRequest(directory_id=pool.id, segment_id=segment.id)),
        (directories.RefreshSegments, directory_pb2.RefreshSegmentsRequest(directory_id=pool.id)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await call(request, metadata=other.metadata)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
    nothing = await directories.RefreshSegments(directory_pb2.RefreshSegmentsRequest(), metadata=other.metadata)
    assert nothing.segments == 0


async def test_deleting_a_member_contact_publishes_removed(pool, ingestion) -> None:  # type: ignore[no-untyped-def]
    recorder, _ = ingestion
    segment = await pool.segment({"field": "email", "op": "exists"})
    ada = await pool.upsert(email="ada@example.com")
    await pool.directories.DeleteContact(directory_pb2.DeleteContactRequest(directory_id=pool.id, contact_id=ada), metadata=pool.md)
    events = await recorder.wait_for(2)
    assert [(event.contact_id, event.change) for event in events] == [
        (ada, ingestion_pb2.MEMBERSHIP_CHANGE_ADDED),
        (ada, ingestion_pb2.MEMBERSHIP_CHANGE_REMOVED),
    ]
    got = await pool.directories.GetSegment(directory_pb2.GetSegmentRequest(directory_id=pool.id, segment_id=segment.id), metadata=pool.md)
    assert got.member_count == 0
    assert json_format.MessageToDict(got.rule) == {"field": "email", "op": "exists"}


async def test_list_organizations_is_internal_only(organizations, internal, caller, make_caller) -> None:  # type: ignore[no-untyped-def]
    other = await make_caller()
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await organizations.ListOrganizations(directory_pb2.ListOrganizationsRequest(), metadata=caller.metadata)
    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
    listed = await organizations.ListOrganizations(
        directory_pb2.ListOrganizationsRequest(page=common_pb2.PageRequest(page_size=1)), metadata=internal
    )
    assert [item.id for item in listed.organizations] == [caller.organization_id] and listed.next_page_token
    rest = await organizations.ListOrganizations(
        directory_pb2.ListOrganizationsRequest(page=common_pb2.PageRequest(page_token=listed.next_page_token)), metadata=internal
    )
    assert [item.id for item in rest.organizations] == [other.organization_id]
