"""Tenant isolation: organization B's token cannot read, list, change, delete or trigger anything of organization A,
through any gRPC method of any service (enumerated from the descriptors) or any HTTP route. A's objects answer B
exactly as missing ones do (NOT_FOUND / 404, never PERMISSION_DENIED, so existence does not leak), B's lists hold
none of A's objects, and A's data is unchanged afterwards."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import json_format, symbol_database
from google.protobuf.message import Message
from two_organizations import TwoOrganizations, basic, struct

from cxflow.demo import DEMO_WORKFLOW_ID, WELCOME_WORKFLOW_SPEC
from cxflow.v1 import (
    directory_pb2,
    directory_pb2_grpc,
    ingestion_pb2,
    ingestion_pb2_grpc,
    notification_pb2,
    notification_pb2_grpc,
)

SERVICES = {"directory": directory_pb2, "ingestion": ingestion_pb2, "notification": notification_pb2}
# Calls only cxflow's own services make (with the internal token): an API token is refused whoever's data it names.
# Caller-chosen ids are one namespace across organizations: a taken one answers ALREADY_EXISTS without saying by whom.
CHOSEN_ID_CREATES = {"CreateSubscription"}
INTERNAL_ONLY = {
    "CreateOrganization",
    "CreateApiToken",
    "ResolveApiToken",
    "ListOrganizations",
    "ListApiTokens",
    "RevokeApiToken",
    "PublishMembershipEvent",
}


def _a_ids(stack: TwoOrganizations) -> dict[str, str]:
    a = stack.a
    return {
        "organization_id": a.credentials.directory_id and "ORG_demo",
        "directory_id": a.credentials.directory_id,
        "contact_id": a.contact_id,
        "mailing_list_id": a.credentials.mailing_list_id,
        "segment_id": a.segment_id,
        "source_id": a.credentials.source_id,
        "subscription_id": a.subscription_id,
        "workflow_id": DEMO_WORKFLOW_ID,
        "run_id": a.run_id,
        "ticket_id": a.ticket_id,
        "survey_id": a.survey_id,
    }


def _extras(method: str, ids: dict[str, str]) -> dict[str, Any]:
    """Fields that make B's request otherwise valid, so only the organization check can refuse it."""
    subscription = ingestion_pb2.Subscription(
        id=ids["subscription_id"],
        source_id=ids["source_id"],
        name="hijack",
        directory_id=ids["directory_id"],
        enabled=True,
        action=ingestion_pb2.SUBSCRIPTION_ACTION_UPSERT_CONTACT,
    )
    contact = directory_pb2.ContactInput(email="mallory@b.example.com", first_name="Mallory")
    return {
        "UpsertContact": {"contact": contact},
        "UpsertContacts": {"contacts": [contact]},
        "UpdateContact": {"contact": contact},
        "AddMailingListMembers": {"contact_ids": [ids["contact_id"]]},
        "RemoveMailingListMembers": {"contact_ids": [ids["contact_id"]]},
        "CreateMailingList": {"name": "hijack"},
        "CreateTransactions": {
            "transactions": {
                "t": directory_pb2.TransactionInput(
                    contact_id=ids["contact_id"],
                    mailing_list_id=ids["mailing_list_id"],
                    transaction_date={"seconds": 1_700_000_000},
                )
            }
        },
        "CreateSegment": {"name": "hijack", "rule": struct({"field": "email", "op": "exists"})},
        "UpdateSegment": {"name": "hijacked"},
        "CreateSubscription": {"subscription": subscription},
        "UpdateSubscription": {"subscription": subscription},
        "SendEvent": {"message": struct({"type": "track", "userId": "u-a", "event": "Hijack"})},
        "SendBatch": {"messages": [struct({"type": "track", "userId": "u-a", "event": "Hijack"})]},
        "StartTriggerCapture": {"count": 1},
        "UpdateWorkflow": {"spec": struct({**WELCOME_WORKFLOW_SPEC, "name": "hijacked"})},
        "CreateTicket": {"idempotency_key": "b-ticket/0", "title": "hijack"},
        "DryRun": {"event": struct({"userId": "u-a"})},
        "GetWorkflow": {"version": 1},
        "UpdateTicket": {"title": "hijacked"},
        "AddTicketComment": {"body": "hijacked", "idempotency_key": "b-comment/0"},
        "UpdateSurvey": {"name": "hijacked", "url_template": "https://evil.example.com/"},
        "DistributeSurvey": {"idempotency_key": "b-survey/0", "email": "mallory@b.example.com"},
    }.get(method, {})


def _all_methods() -> list[tuple[str, str, Any, Any, Any]]:
    db = symbol_database.Default()
    methods = []
    for service_name, module in SERVICES.items():
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                methods.append(
                    (
                        service_name,
                        f"/{service.full_name}/{method.name}",
                        method,
                        db.GetSymbol(method.input_type.full_name),
                        db.GetSymbol(method.output_type.full_name),
                    )
                )
    return methods


def _unknown_like(value: str) -> str:
    """An id of the same shape that nobody has."""
    return value[:-1] + ("1" if value[-1] == "0" else "0")


def _request_naming_a(method: Any, request_class: Any, ids: dict[str, str]) -> tuple[Message, bool]:
    """B's request for one method: every id field filled from `ids` (A's, or unknown ones). The bool: whether it names one."""
    values: dict[str, Any] = {}
    for field in method.input_type.fields:
        if field.name in ids and field.type == field.TYPE_STRING and not field.is_repeated:
            values[field.name] = ids[field.name]
    if method.name == "CreateTicket":
        values.clear()  # a ticket's contact_id is a free reference B may write on its own ticket, not a lookup
    names_a = bool(values) or method.name in {"CreateSubscription", "UpdateSubscription"}
    values.update(_extras(method.name, ids))
    request = request_class()
    for name, value in values.items():
        target = getattr(request, name)
        if isinstance(value, Message):
            target.CopyFrom(value)
        elif isinstance(value, dict) and name == "transactions":
            for key, entry in value.items():
                target[key].CopyFrom(entry)
        elif isinstance(value, list):
            target.extend(value)
        else:
            setattr(request, name, value)
    return request, names_a


def _leaked(text: str, stack: TwoOrganizations) -> list[str]:
    return [value for value in (*stack.a.private_texts, *stack.a.secrets) if value in text]


async def _snapshot_of_a(stack: TwoOrganizations) -> dict[str, str]:
    """A's objects as A reads them, to prove B's calls changed nothing."""
    a, md = stack.a, stack.as_a
    directory = directory_pb2_grpc.DirectoryServiceStub(stack.directory_channel)
    ingestion = ingestion_pb2_grpc.IngestionServiceStub(stack.ingestion_channel)
    workflows = ingestion_pb2_grpc.WorkflowServiceStub(stack.ingestion_channel)
    notification = notification_pb2_grpc.NotificationServiceStub(stack.notification_channel)
    pool = a.credentials.directory_id
    reads = {
        "contact": directory.GetContact(directory_pb2.GetContactRequest(directory_id=pool, contact_id=a.contact_id), metadata=md),
        "transactions": directory.ListTransactions(
            directory_pb2.ListTransactionsRequest(directory_id=pool, contact_id=a.contact_id), metadata=md
        ),
        "segment": directory.GetSegment(directory_pb2.GetSegmentRequest(directory_id=pool, segment_id=a.segment_id), metadata=md),
        "lists": directory.ListMailingLists(directory_pb2.ListMailingListsRequest(directory_id=pool), metadata=md),
        "subscription": ingestion.GetSubscription(
            ingestion_pb2.GetSubscriptionRequest(subscription_id=a.subscription_id), metadata=md
        ),
        "workflow": workflows.GetWorkflow(ingestion_pb2.GetWorkflowRequest(workflow_id=DEMO_WORKFLOW_ID), metadata=md),
        "capture": ingestion.GetTriggerCapture(ingestion_pb2.GetTriggerCaptureRequest(workflow_id=DEMO_WORKFLOW_ID), metadata=md),
        "ticket": notification.GetTicket(notification_pb2.GetTicketRequest(ticket_id=a.ticket_id), metadata=md),
        "survey": notification.GetSurvey(notification_pb2.GetSurveyRequest(survey_id=a.survey_id), metadata=md),
        "distributions": notification.ListSurveyDistributions(
            notification_pb2.ListSurveyDistributionsRequest(survey_id=a.survey_id), metadata=md
        ),
        "channels": notification.GetChannelSettings(notification_pb2.GetChannelSettingsRequest(), metadata=md),
    }
    snapshot = {}
    for name, call in reads.items():
        snapshot[name] = json_format.MessageToJson(await call, sort_keys=True)
    return snapshot


async def _outcome(call: Any, request: Message, stack: TwoOrganizations) -> tuple[str, str]:
    """B's call: its status code name and its answer (the error's details, or the reply as JSON)."""
    try:
        reply = await call(request, metadata=stack.as_b, timeout=10)
    except grpc.aio.AioRpcError as error:
        return error.code().name, error.details() or ""
    return "OK", json_format.MessageToJson(reply, sort_keys=True)


async def test_grpc_calls_with_b_token_never_reach_a(two_organizations: TwoOrganizations) -> None:
    stack = two_organizations
    before = await _snapshot_of_a(stack)
    outcomes: dict[str, str] = {}
    problems: list[str] = []
    a_ids = _a_ids(stack)
    unknown_ids = {name: _unknown_like(value) for name, value in a_ids.items()}
    for service, path, method, request_class, response_class in _all_methods():
        call = stack.grpc_target(service).unary_unary(
            path, request_serializer=request_class.SerializeToString, response_deserializer=response_class.FromString
        )
        code, text = await _outcome(call, _request_naming_a(method, request_class, a_ids)[0], stack)
        names_a = _request_naming_a(method, request_class, a_ids)[1]
        outcomes[method.name] = code
        if _leaked(text, stack):
            problems.append(f"{path}: B's answer holds A's data: {text[:300]}")
        if method.name in INTERNAL_ONLY:
            if code != "PERMISSION_DENIED":
                problems.append(f"{path}: an API token got {code}, not PERMISSION_DENIED")
        elif method.name in CHOSEN_ID_CREATES:
            if code != "ALREADY_EXISTS" or "ORG_demo" in text:
                problems.append(f"{path}: a create with A's id answered {code} {text[:200]}")
        elif names_a:
            # A's objects must answer exactly as objects nobody has: the same code, the same (empty) answer.
            unknown_code, unknown_text = await _outcome(call, _request_naming_a(method, request_class, unknown_ids)[0], stack)
            if code != unknown_code or (code == "OK" and text != unknown_text) or code == "PERMISSION_DENIED":
                problems.append(
                    f"{path}: A's objects answer {code} {text[:150]!r}; unknown ones {unknown_code} {unknown_text[:150]!r}"
                )
        elif code == "OK" and any(value in text for value in a_ids.values()):
            problems.append(f"{path}: B's answer holds A's ids: {text[:300]}")
    assert not problems, "\n".join(problems) + f"\n(outcomes: {outcomes})"
    assert len(outcomes) >= 70
    assert await _snapshot_of_a(stack) == before


async def test_idempotency_keys_are_per_organization(two_organizations: TwoOrganizations) -> None:
    """B reusing A's idempotency key gets a send of its own, never A's stored result."""
    stack = two_organizations
    notification = notification_pb2_grpc.NotificationServiceStub(stack.notification_channel)
    reply = await notification.CreateTicket(
        notification_pb2.CreateTicketRequest(idempotency_key="shared-key/0", title="B's own ticket"), metadata=stack.as_b
    )
    assert reply.duplicate is False and reply.ticket.id != stack.a.ticket_id and reply.ticket.title == "B's own ticket"


async def test_http_routes_with_b_token_never_reach_a(two_organizations: TwoOrganizations) -> None:
    stack = two_organizations
    a = stack.a
    http = stack.http
    b_token = {"X-API-TOKEN": stack.b_token}
    pool = a.credentials.directory_id
    refused = [
        ("POST", f"/triggers/{DEMO_WORKFLOW_ID}", {"userId": "u-a", "messageId": "b-event-1"}),
        ("POST", f"/triggers/{DEMO_WORKFLOW_ID}/capture", {"count": 1}),
        ("GET", f"/triggers/{DEMO_WORKFLOW_ID}/capture", None),
        ("POST", f"/API/v3/directories/{pool}/contacts", {"email": "mallory@b.example.com"}),
        (
            "POST",
            f"/API/v3/directories/{pool}/contacts/search",
            {"filter": {"filterType": "email", "comparison": "eq", "value": a.private_texts[0]}},
        ),
        (
            "POST",
            f"/API/v3/directories/{pool}/transactions",
            {"t": {"contactId": a.contact_id, "transactionDate": "2026-01-02 00:00:00"}},
        ),
    ]
    for method, path, body in refused:
        # X-API-TOKEN, and (trigger URLs only, as Segment's action sends it) HTTP Basic username:apitoken
        for headers in (b_token, basic("anyone", stack.b_token)) if path.startswith("/triggers") else (b_token,):
            reply = await http.request(method, path, json=body, headers=headers)
            assert reply.status_code == 404, f"{method} {path}: {reply.status_code} {reply.text}"
            assert not _leaked(reply.text, stack), f"{method} {path}: {reply.text}"
    unknown = await http.post("/triggers/WF_never_created", json={}, headers=b_token)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (
        404,
        (await http.post(f"/triggers/{DEMO_WORKFLOW_ID}", json={}, headers=b_token)).json()["error"]["code"],
    )  # A's answers as missing does

    listing = await http.get("/API/v3/directories", headers=b_token)
    assert listing.status_code == 200 and pool not in listing.text
    whoami = await http.get("/API/v3/whoami", headers=b_token)
    assert whoami.status_code == 200 and "ORG_demo" not in whoami.text

    # Credentials are not interchangeable: an API token is no write key, a write key is no API token.
    track = {"userId": "u-a", "event": "Hijack"}
    assert (await http.post("/v1/track", json=track, headers=b_token)).status_code == 401
    assert (await http.post("/v1/track", json=track, headers=basic(stack.b_token))).status_code == 401
    assert (await http.post("/v1/track", json={**track, "writeKey": stack.b_token})).status_code == 401
    wrong_way = {"X-API-TOKEN": a.credentials.write_key}
    assert (await http.post(f"/triggers/{DEMO_WORKFLOW_ID}", json={}, headers=wrong_way)).status_code == 401
    # A's write key with B's token beside it is A's source speaking: the token neither adds nor changes an organization.
    accepted = await http.post("/v1/track", json=track, headers={**basic(a.credentials.write_key), "X-API-TOKEN": stack.b_token})
    assert accepted.status_code == 200
    capture = await http.get(f"/triggers/{DEMO_WORKFLOW_ID}/capture", headers={"X-API-TOKEN": a.credentials.api_token})
    assert capture.status_code == 200 and "b-event-1" not in capture.text  # B's trigger attempt was not even captured


@pytest.mark.parametrize("service", ["directory", "ingestion", "notification"])
async def test_lists_with_b_token_hold_nothing_of_a(two_organizations: TwoOrganizations, service: str) -> None:
    """Every List method without arguments, called by B, answers B's (empty) world."""
    stack = two_organizations
    for _service, path, method, request_class, response_class in _all_methods():
        if _service != service or not method.name.startswith("List") or method.name in INTERNAL_ONLY:
            continue
        if any(field.name.endswith("_id") for field in method.input_type.fields):
            continue  # those name a parent object; the sweep above calls them with A's ids
        call = stack.grpc_target(service).unary_unary(
            path, request_serializer=request_class.SerializeToString, response_deserializer=response_class.FromString
        )
        reply = await call(request_class(), metadata=stack.as_b, timeout=10)
        text = json_format.MessageToJson(reply)
        assert not _leaked(text, stack) and not any(v in text for v in _a_ids(stack).values()), f"{path}: {text[:300]}"


async def test_creating_with_an_id_a_already_uses_reveals_only_that_it_is_taken(two_organizations: TwoOrganizations) -> None:
    """Caller-chosen ids share one namespace: B learns an id is taken (ALREADY_EXISTS), never by whom, and A keeps it."""
    stack = two_organizations
    a = stack.a
    directory = directory_pb2_grpc.DirectoryServiceStub(stack.directory_channel)
    ingestion = ingestion_pb2_grpc.IngestionServiceStub(stack.ingestion_channel)
    workflows = ingestion_pb2_grpc.WorkflowServiceStub(stack.ingestion_channel)
    before = await _snapshot_of_a(stack)
    attempts = [
        directory.CreateDirectory(
            directory_pb2.CreateDirectoryRequest(id=a.credentials.directory_id, name="hijack"), metadata=stack.as_b
        ),
        ingestion.CreateSource(ingestion_pb2.CreateSourceRequest(id=a.credentials.source_id, name="hijack"), metadata=stack.as_b),
        workflows.CreateWorkflow(
            ingestion_pb2.CreateWorkflowRequest(id=DEMO_WORKFLOW_ID, spec=struct({**WELCOME_WORKFLOW_SPEC, "name": "hijack"})),
            metadata=stack.as_b,
        ),
    ]
    for attempt in attempts:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await attempt
        assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert "ORG_demo" not in (caught.value.details() or "") and not _leaked(caught.value.details() or "", stack)
    assert await _snapshot_of_a(stack) == before
