"""Who may call what: tokens, internal-only calls, organization isolation and the health check."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import select
from structlog.testing import capture_logs

from cxflow.v1 import directory_pb2
from services.common.auth import hash_token
from services.common.db import create_engine
from services.directory.models import ApiToken

ALL_METHODS = [
    (service.full_name, method)
    for service in directory_pb2.DESCRIPTOR.services_by_name.values()
    for method in service.methods
]
# Internal-only methods with a request that would succeed for an internal caller.
INTERNAL_ONLY = {
    "CreateOrganization": lambda caller: directory_pb2.CreateOrganizationRequest(name="Sneaky"),
    "ResolveApiToken": lambda caller: directory_pb2.ResolveApiTokenRequest(token=caller.token),
}


def _call(channel, service_name, method):  # type: ignore[no-untyped-def]
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    rpc = channel.unary_unary(
        f"/{service_name}/{method.name}",
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )
    return rpc, request_class


async def test_every_method_is_enumerated() -> None:
    # Guards the tests below against an empty descriptor walk.
    assert {m.name for _, m in ALL_METHODS} >= {"CreateOrganization", "WhoAmI", "UpsertContact", "ListMailingLists"}


@pytest.mark.parametrize("service_name,method", ALL_METHODS, ids=[m.name for _, m in ALL_METHODS])
async def test_calls_without_or_with_a_made_up_token_are_unauthenticated(channel, service_name, method) -> None:  # type: ignore[no-untyped-def]
    rpc, request_class = _call(channel, service_name, method)
    for metadata in [(), (("authorization", "Bearer cxf_made-up-token-that-was-never-issued"),)]:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await rpc(request_class(), metadata=metadata)
        assert failure.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("method_name", sorted(INTERNAL_ONLY))
async def test_internal_calls_refuse_api_tokens(channel, caller, method_name) -> None:  # type: ignore[no-untyped-def]
    service = directory_pb2.DESCRIPTOR.services_by_name["OrganizationService"]
    rpc, _ = _call(channel, service.full_name, service.methods_by_name[method_name])
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await rpc(INTERNAL_ONLY[method_name](caller), metadata=caller.metadata)
    assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_health_of_the_whole_server_is_serving(channel) -> None:  # type: ignore[no-untyped-def]
    reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_whoami_and_token_resolution(organizations, internal, caller) -> None:  # type: ignore[no-untyped-def]
    me = await organizations.WhoAmI(directory_pb2.WhoAmIRequest(), metadata=caller.metadata)
    assert me.id == caller.organization_id and me.id.startswith("ORG_") and len(me.id) == 19
    resolved = await organizations.ResolveApiToken(directory_pb2.ResolveApiTokenRequest(token=caller.token), metadata=internal)
    assert resolved.organization_id == caller.organization_id
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await organizations.ResolveApiToken(directory_pb2.ResolveApiTokenRequest(token="cxf_unknown"), metadata=internal)
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND


async def test_an_api_token_issues_tokens_for_its_own_organization_only(organizations, caller, make_caller) -> None:  # type: ignore[no-untyped-def]
    issued = await organizations.CreateApiToken(directory_pb2.CreateApiTokenRequest(name="second"), metadata=caller.metadata)
    assert issued.token.startswith("cxf_") and issued.token != caller.token
    me = await organizations.WhoAmI(directory_pb2.WhoAmIRequest(), metadata=(("authorization", f"Bearer {issued.token}"),))
    assert me.id == caller.organization_id

    other = await make_caller()
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await organizations.CreateApiToken(
            directory_pb2.CreateApiTokenRequest(organization_id=other.organization_id), metadata=caller.metadata
        )
    assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_internal_token_creation_needs_an_existing_organization(organizations, internal) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await organizations.CreateApiToken(
            directory_pb2.CreateApiTokenRequest(organization_id="ORG_doesNotExist0000"), metadata=internal
        )
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND


async def test_tokens_are_stored_hashed_only(caller, database_url) -> None:  # type: ignore[no-untyped-def]
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(select(ApiToken.__table__))).all()
    finally:
        await engine.dispose()
    assert [row.token_hash for row in rows] == [hash_token(caller.token)]
    assert not any(caller.token in str(value) for row in rows for value in row)


async def test_create_organization_is_idempotent_by_id(organizations, internal) -> None:  # type: ignore[no-untyped-def]
    request = directory_pb2.CreateOrganizationRequest(id="ORG_acme_fixed_id", name="Acme")
    first = await organizations.CreateOrganization(request, metadata=internal)
    again = await organizations.CreateOrganization(
        directory_pb2.CreateOrganizationRequest(id="ORG_acme_fixed_id", name="Renamed"), metadata=internal
    )
    assert first == again and again.name == "Acme"


async def test_one_organization_never_reaches_anothers_data(directories, caller, make_caller) -> None:  # type: ignore[no-untyped-def]
    pool = await directories.CreateDirectory(
        directory_pb2.CreateDirectoryRequest(name="A", id="POOL_orgA"), metadata=caller.metadata
    )
    contact = await directories.UpsertContact(
        directory_pb2.UpsertContactRequest(directory_id=pool.id, contact=directory_pb2.ContactInput(email="a@example.com")),
        metadata=caller.metadata,
    )
    mailing_list = await directories.CreateMailingList(
        directory_pb2.CreateMailingListRequest(directory_id=pool.id, name="news", id="CG_orgA"), metadata=caller.metadata
    )
    intruder = await make_caller()
    own_pool = await directories.CreateDirectory(directory_pb2.CreateDirectoryRequest(name="B"), metadata=intruder.metadata)

    not_found_calls = [
        directories.GetDirectory(directory_pb2.GetDirectoryRequest(directory_id=pool.id), metadata=intruder.metadata),
        directories.UpsertContact(
            directory_pb2.UpsertContactRequest(directory_id=pool.id, contact=directory_pb2.ContactInput(email="a@example.com")),
            metadata=intruder.metadata,
        ),
        directories.GetContact(
            directory_pb2.GetContactRequest(directory_id=pool.id, contact_id=contact.contact_id), metadata=intruder.metadata
        ),
        directories.GetContact(
            directory_pb2.GetContactRequest(directory_id=own_pool.id, contact_id=contact.contact_id), metadata=intruder.metadata
        ),
        directories.SearchContacts(directory_pb2.SearchContactsRequest(directory_id=pool.id), metadata=intruder.metadata),
        directories.CreateMailingList(
            directory_pb2.CreateMailingListRequest(directory_id=pool.id, name="x"), metadata=intruder.metadata
        ),
        directories.ListMailingLists(directory_pb2.ListMailingListsRequest(directory_id=pool.id), metadata=intruder.metadata),
    ]
    for call in not_found_calls:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await call
        assert failure.value.code() == grpc.StatusCode.NOT_FOUND

    for taken in [
        directories.CreateDirectory(directory_pb2.CreateDirectoryRequest(name="B", id=pool.id), metadata=intruder.metadata),
        directories.CreateMailingList(
            directory_pb2.CreateMailingListRequest(directory_id=own_pool.id, name="x", id=mailing_list.id),
            metadata=intruder.metadata,
        ),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await taken
        assert failure.value.code() == grpc.StatusCode.ALREADY_EXISTS

    listed = await directories.ListDirectories(directory_pb2.ListDirectoriesRequest(), metadata=intruder.metadata)
    assert [d.id for d in listed.directories] == [own_pool.id]
    # The owner still sees its untouched data.
    mine = await directories.GetDirectory(directory_pb2.GetDirectoryRequest(directory_id=pool.id), metadata=caller.metadata)
    assert mine.contact_count == 1 and mine.name == "A"


async def test_tokens_never_reach_the_logs(organizations, internal, caller) -> None:  # type: ignore[no-untyped-def]
    with capture_logs() as events:
        issued = await organizations.CreateApiToken(directory_pb2.CreateApiTokenRequest(name="x"), metadata=caller.metadata)
        await organizations.ResolveApiToken(directory_pb2.ResolveApiTokenRequest(token=issued.token), metadata=internal)
        await organizations.WhoAmI(directory_pb2.WhoAmIRequest(), metadata=(("authorization", f"Bearer {issued.token}"),))
    assert any(event["event"] == "directory.api_token_created" for event in events)
    logged = repr(events)
    assert issued.token not in logged and caller.token not in logged
