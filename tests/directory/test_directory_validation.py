"""Invalid requests get INVALID_ARGUMENT naming the field at fault, and change nothing."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import struct_pb2

from cxflow.v1 import directory_pb2

EMAIL = directory_pb2.DEDUP_FIELD_EMAIL


def rules(*fields_per_rule: list[int]) -> list[directory_pb2.DedupRule]:
    return [directory_pb2.DedupRule(fields=fields) for fields in fields_per_rule]


DIRECTORY_CASES = [
    (directory_pb2.CreateDirectoryRequest(name="x", dedup_rules=rules([EMAIL], [EMAIL], [EMAIL], [EMAIL])), "dedup_rules"),
    (directory_pb2.CreateDirectoryRequest(name="x", dedup_rules=rules([])), "dedup_rules[0].fields"),
    (directory_pb2.CreateDirectoryRequest(name="x", dedup_rules=rules([EMAIL], [directory_pb2.DEDUP_FIELD_UNSPECIFIED])), "dedup_rules[1].fields"),
    (directory_pb2.CreateDirectoryRequest(name="x", dedup_rules=rules([EMAIL, 99])), "dedup_rules[0].fields"),
    (directory_pb2.CreateDirectoryRequest(name=" "), "name"),
    (directory_pb2.CreateDirectoryRequest(name="x", id="CID_notAPool"), "id"),
    (directory_pb2.CreateDirectoryRequest(name="x", id="POOL_has-dash"), "id"),
    (directory_pb2.CreateDirectoryRequest(name="x", id="POOL_" + "a" * 60), "id"),
]


@pytest.mark.parametrize("request_,field", DIRECTORY_CASES, ids=[f for _, f in DIRECTORY_CASES])
async def test_bad_directories_are_rejected_and_not_created(directories, caller, request_, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await directories.CreateDirectory(request_, metadata=caller.metadata)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.value.details().startswith(f"{field}:")
    listed = await directories.ListDirectories(directory_pb2.ListDirectoriesRequest(), metadata=caller.metadata)
    assert list(listed.directories) == []


def _value(**kind: object) -> struct_pb2.Value:
    return struct_pb2.Value(**kind)


@pytest.mark.parametrize(
    "key,value",
    [
        ("nested", _value(struct_value=struct_pb2.Struct())),
        ("tags", _value(list_value=struct_pb2.ListValue())),
        ("gone", _value(null_value=struct_pb2.NULL_VALUE)),
    ],
)
async def test_embedded_data_takes_only_strings_numbers_and_booleans(directories, caller, key, value) -> None:  # type: ignore[no-untyped-def]
    pool = await directories.CreateDirectory(directory_pb2.CreateDirectoryRequest(name="x"), metadata=caller.metadata)
    contact = directory_pb2.ContactInput(email="ada@example.com")
    contact.embedded_data.fields["fine"].string_value = "yes"
    contact.embedded_data.fields[key].CopyFrom(value)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await directories.UpsertContact(
            directory_pb2.UpsertContactRequest(directory_id=pool.id, contact=contact), metadata=caller.metadata
        )
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.value.details().startswith(f"contact.embedded_data.{key}:")


async def test_other_bad_ids_and_missing_fields_are_named(organizations, directories, internal, caller) -> None:  # type: ignore[no-untyped-def]
    pool = await directories.CreateDirectory(directory_pb2.CreateDirectoryRequest(name="x"), metadata=caller.metadata)
    cases = [
        (organizations.CreateOrganization(directory_pb2.CreateOrganizationRequest(name="x", id="org_lowercase"), metadata=internal), "id"),
        (organizations.CreateOrganization(directory_pb2.CreateOrganizationRequest(), metadata=internal), "name"),
        (organizations.ResolveApiToken(directory_pb2.ResolveApiTokenRequest(), metadata=internal), "token"),
        (organizations.CreateApiToken(directory_pb2.CreateApiTokenRequest(), metadata=internal), "organization_id"),
        (directories.CreateMailingList(
            directory_pb2.CreateMailingListRequest(directory_id=pool.id, name="x", id="POOL_wrongPrefix"), metadata=caller.metadata
        ), "id"),
        (directories.CreateMailingList(directory_pb2.CreateMailingListRequest(directory_id=pool.id), metadata=caller.metadata), "name"),
        (directories.UpsertContact(directory_pb2.UpsertContactRequest(), metadata=caller.metadata), "directory_id"),
        (directories.GetContact(directory_pb2.GetContactRequest(directory_id=pool.id), metadata=caller.metadata), "contact_id"),
    ]
    for call, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await call
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert failure.value.details().startswith(f"{field}:")
