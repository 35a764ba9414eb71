"""Qualtrics-style REST (/API/v3/*): the calls Segment's Qualtrics destination makes, answered from the directory
service over gRPC (internal token + the caller's organization), in Qualtrics' result/meta envelopes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from google.protobuf import json_format, struct_pb2

from cxflow.v1 import common_pb2, directory_pb2, directory_pb2_grpc
from services.common.auth import TokenResolver, internal_metadata
from services.common.contact_fields import CONTACT_INPUT_FIELDS
from services.ingestion import http_schemas as schemas
from services.ingestion.errors import InvalidQualtricsRequest
from services.ingestion.http_requests import read_body, token_organization
from services.ingestion.segment_spec import parse_object

QUALTRICS_PREFIX = "/API/v3"
MAX_QUALTRICS_BODY_BYTES = 1024 * 1024
MAX_TRANSACTIONS = 1000
PAGE_SIZE = 100
TRANSACTION_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
# Qualtrics' filterType -> the directory's field names.
SEARCH_FIELDS = {"extRef": "extRef", "email": "email", "phone": "phone", "firstName": "firstName", "lastName": "lastName"}
_QUALTRICS_ERRORS = {400: "a malformed or invalid body", 401: "missing or unknown X-API-TOKEN",
                     404: "no such directory in the token's organization", 413: "a body over 1 MB"}
_TAGS = ["Qualtrics-style REST"]


def _status_text(status: int) -> str:
    return f"{status} - {HTTPStatus(status).phrase}"


def qualtrics_ok(result: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(
        {"result": result, "meta": {"httpStatus": _status_text(status), "requestId": str(uuid.uuid4())}}, status_code=status
    )


def qualtrics_error(status: int, code: str, message: str) -> JSONResponse:
    meta = {"httpStatus": _status_text(status), "requestId": str(uuid.uuid4()),
            "error": {"errorMessage": message, "errorCode": code}}
    return JSONResponse({"meta": meta}, status_code=status)


def _timestamp_text(stamp: Any) -> str:
    """Qualtrics writes times as ISO-8601 UTC with a Z."""
    return stamp.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def contact_element(contact: directory_pb2.Contact) -> dict[str, Any]:
    """A directory contact under Qualtrics' read names."""
    return {
        "id": contact.id,
        "firstName": contact.first_name,
        "lastName": contact.last_name,
        "email": contact.email,
        "phoneNumber": contact.phone,
        "externalDataReference": contact.ext_ref,
        "language": contact.language,
        "unsubscribed": contact.unsubscribed,
        "embeddedData": json_format.MessageToDict(contact.embedded_data),
        "creationDate": _timestamp_text(contact.created_at),
        "lastModified": _timestamp_text(contact.updated_at),
    }


def directory_element(directory: directory_pb2.Directory) -> dict[str, Any]:
    criteria = directory.deduplication_criteria
    return {
        "directoryId": directory.id,
        "name": directory.name,
        "contactCount": directory.contact_count,
        "isDefault": directory.is_default,
        "deduplicationCriteria": {
            "email": criteria.email,
            "firstName": criteria.first_name,
            "lastName": criteria.last_name,
            "externalDataReference": criteria.external_data_reference,
            "phone": criteria.phone,
        },
    }


def contact_input_from_body(body: dict[str, Any]) -> directory_pb2.ContactInput:
    """A Qualtrics create-contact body as a ContactInput; absent (or null) fields stay absent."""
    contact = directory_pb2.ContactInput()
    for key, attribute in CONTACT_INPUT_FIELDS.items():
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidQualtricsRequest(key, "must be a string")
        setattr(contact, attribute, value)
    if body.get("unsubscribed") is not None:
        if not isinstance(body["unsubscribed"], bool):
            raise InvalidQualtricsRequest("unsubscribed", "must be true or false")
        contact.unsubscribed = body["unsubscribed"]
    embedded = body.get("embeddedData")
    if embedded is not None:
        if not isinstance(embedded, dict):
            raise InvalidQualtricsRequest("embeddedData", "must be an object")
        for key, value in embedded.items():
            if value is not None and not isinstance(value, (str, int, float, bool)):
                raise InvalidQualtricsRequest(f"embeddedData.{key}", "must be a string, number or boolean")
        contact.embedded_data.update({k: v for k, v in embedded.items() if v is not None})
    return contact


def contact_filter_from_body(node: Any, where: str = "filter", depth: int = 0) -> directory_pb2.ContactFilter:
    """Qualtrics' search filter ({filterType, comparison, value} or {conjunction, filters}) as the directory's tree."""
    if depth > 8:
        raise InvalidQualtricsRequest(where, "filters nest at most 8 deep")
    if not isinstance(node, dict):
        raise InvalidQualtricsRequest(where, "must be an object")
    if "conjunction" in node or "filters" in node:
        conjunction = node.get("conjunction")
        if conjunction not in ("and", "or"):
            raise InvalidQualtricsRequest(f"{where}.conjunction", 'must be "and" or "or"')
        children = node.get("filters")
        if not isinstance(children, list) or not children:
            raise InvalidQualtricsRequest(f"{where}.filters", "must be a non-empty array of filters")
        group = directory_pb2.FilterGroup(
            conjunction=directory_pb2.CONJUNCTION_AND if conjunction == "and" else directory_pb2.CONJUNCTION_OR,
            filters=[contact_filter_from_body(child, f"{where}.filters[{i}]", depth + 1) for i, child in enumerate(children)],
        )
        return directory_pb2.ContactFilter(group=group)
    filter_type = node.get("filterType")
    if not isinstance(filter_type, str) or not (filter_type in SEARCH_FIELDS or filter_type.startswith("embeddedData.")):
        allowed = ", ".join([*SEARCH_FIELDS, "embeddedData.<key>"])
        raise InvalidQualtricsRequest(f"{where}.filterType", f"must be one of {allowed}")
    if node.get("comparison", "eq") != "eq":
        raise InvalidQualtricsRequest(f"{where}.comparison", 'must be "eq"')
    value = node.get("value")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidQualtricsRequest(f"{where}.value", "must be a string")
    field = SEARCH_FIELDS.get(filter_type, filter_type)
    return directory_pb2.ContactFilter(field=directory_pb2.FieldFilter(field=field, comparison="eq", value=str(value)))


def parse_transaction_date(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidQualtricsRequest(where, "must be a string YYYY-MM-DD HH:MM:SS")
    try:
        return datetime.strptime(value, TRANSACTION_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise InvalidQualtricsRequest(where, f"must be YYYY-MM-DD HH:MM:SS, got {value!r}") from None


def transaction_input(entry: Any, where: str) -> directory_pb2.TransactionInput:
    """One entry of a Qualtrics transactions body as the directory's TransactionInput."""
    if not isinstance(entry, dict):
        raise InvalidQualtricsRequest(where, "must be an object")
    contact_id = entry.get("contactId")
    if not isinstance(contact_id, str) or not contact_id:
        raise InvalidQualtricsRequest(f"{where}.contactId", "must be a non-empty string")
    mailing_list_id = entry.get("mailingListId", "")
    if not isinstance(mailing_list_id, str):
        raise InvalidQualtricsRequest(f"{where}.mailingListId", "must be a string")
    data = entry.get("data") or {}
    if not isinstance(data, dict):
        raise InvalidQualtricsRequest(f"{where}.data", "must be an object")
    for key, value in data.items():
        if value is None or not isinstance(value, (str, int, float, bool)):
            raise InvalidQualtricsRequest(f"{where}.data.{key}", "must be a string, number or boolean")
    transaction = directory_pb2.TransactionInput(contact_id=contact_id, mailing_list_id=mailing_list_id)
    transaction.transaction_date.FromDatetime(parse_transaction_date(entry.get("transactionDate"), f"{where}.transactionDate"))
    if data:
        struct = struct_pb2.Struct()
        struct.update(data)
        transaction.data.CopyFrom(struct)
    return transaction


def _next_page(request: Request, token: str) -> str | None:
    if not token:
        return None
    query = dict(request.query_params)
    query["skipToken"] = token
    return str(request.url.replace(query=urlencode(query)))


def _page(request: Request) -> common_pb2.PageRequest:
    size = request.query_params.get("pageSize", "")
    if size and (not size.isdigit() or not 1 <= int(size) <= 1000):
        raise InvalidQualtricsRequest("pageSize", "must be an integer from 1 to 1000")
    return common_pb2.PageRequest(page_token=request.query_params.get("skipToken", ""), page_size=int(size or PAGE_SIZE))


async def _json_object(request: Request) -> dict[str, Any]:
    return parse_object(await read_body(request, MAX_QUALTRICS_BODY_BYTES, too_large_status=413))


def add_qualtrics_routes(
    app: FastAPI,
    directory: directory_pb2_grpc.DirectoryServiceStub,
    organizations: directory_pb2_grpc.OrganizationServiceStub,
    token_resolver: TokenResolver,
    internal_token: str,
) -> None:
    async def metadata(request: Request) -> tuple[tuple[str, str], ...]:
        organization_id = await token_organization(request, token_resolver, allow_basic=False)
        return internal_metadata(internal_token, organization_id)

    @app.get(
        f"{QUALTRICS_PREFIX}/whoami",
        tags=_TAGS,
        summary="Who the API token belongs to",
        responses=schemas.answers(schemas.qualtrics_envelope({"type": "object"}), {401: _QUALTRICS_ERRORS[401]},
                                  error_schema=schemas.QUALTRICS_ERROR_SCHEMA),
    )
    async def whoami(request: Request) -> JSONResponse:
        organization = await organizations.WhoAmI(directory_pb2.WhoAmIRequest(), metadata=await metadata(request), timeout=10)
        # cxflow's tokens belong to an organization, not a person: the person fields are empty.
        return qualtrics_ok({
            "userName": organization.name,
            "userId": organization.id,
            "brandId": organization.id,
            "firstName": "",
            "lastName": "",
            "email": "",
            "accountType": "UT_BRANDADMIN",
        })

    async def list_directories(request: Request) -> JSONResponse:
        reply = await directory.ListDirectories(
            directory_pb2.ListDirectoriesRequest(page=_page(request)), metadata=await metadata(request), timeout=10
        )
        elements = [directory_element(d) for d in reply.directories]
        return qualtrics_ok({"elements": elements, "nextPage": _next_page(request, reply.next_page_token)})

    for path in (f"{QUALTRICS_PREFIX}/directories/", f"{QUALTRICS_PREFIX}/directories"):
        app.add_api_route(
            path, list_directories, methods=["GET"], tags=_TAGS, summary="The organization's directories",
            name=f"list_directories{'_slash' if path.endswith('/') else ''}",
            responses=schemas.answers(schemas.qualtrics_envelope({"type": "object"}), {400: "a bad pageSize", 401: _QUALTRICS_ERRORS[401]},
                                      error_schema=schemas.QUALTRICS_ERROR_SCHEMA),
        )

    @app.post(
        f"{QUALTRICS_PREFIX}/directories/{{directory_id}}/contacts",
        tags=_TAGS,
        summary="Create a contact (or update the one the directory's dedup criteria match)",
        openapi_extra=schemas.body(schemas.QUALTRICS_CONTACT_BODY),
        responses=schemas.answers(schemas.qualtrics_envelope({"type": "object"}), _QUALTRICS_ERRORS,
                                  error_schema=schemas.QUALTRICS_ERROR_SCHEMA),
    )
    async def create_contact(directory_id: str, request: Request) -> JSONResponse:
        md = await metadata(request)
        contact = contact_input_from_body(await _json_object(request))
        reply = await directory.UpsertContact(
            directory_pb2.UpsertContactRequest(directory_id=directory_id, contact=contact), metadata=md, timeout=30
        )
        return qualtrics_ok({"id": reply.contact_id})

    @app.post(
        f"{QUALTRICS_PREFIX}/directories/{{directory_id}}/contacts/search",
        tags=_TAGS,
        summary="Search a directory's contacts",
        openapi_extra=schemas.body(schemas.QUALTRICS_SEARCH_BODY),
        responses=schemas.answers(schemas.qualtrics_envelope({"type": "object"}), _QUALTRICS_ERRORS,
                                  error_schema=schemas.QUALTRICS_ERROR_SCHEMA),
    )
    async def search_contacts(directory_id: str, request: Request) -> JSONResponse:
        md = await metadata(request)
        body = await _json_object(request)
        if "filter" not in body:
            raise InvalidQualtricsRequest("filter", "is required")
        contact_filter = contact_filter_from_body(body["filter"])
        reply = await directory.SearchContacts(
            directory_pb2.SearchContactsRequest(directory_id=directory_id, filter=contact_filter, page=_page(request)),
            metadata=md,
            timeout=30,
        )
        elements = [contact_element(c) for c in reply.contacts]
        return qualtrics_ok({"elements": elements, "nextPage": _next_page(request, reply.next_page_token)})

    @app.post(
        f"{QUALTRICS_PREFIX}/directories/{{directory_id}}/transactions",
        tags=_TAGS,
        summary="Create transactions, keyed by client keys; each key is created or listed as unprocessed",
        openapi_extra=schemas.body(schemas.QUALTRICS_TRANSACTIONS_BODY),
        responses=schemas.answers(schemas.qualtrics_envelope({"type": "object"}), _QUALTRICS_ERRORS,
                                  error_schema=schemas.QUALTRICS_ERROR_SCHEMA),
    )
    async def create_transactions(directory_id: str, request: Request) -> JSONResponse:
        md = await metadata(request)
        body = await _json_object(request)
        if not body:
            raise InvalidQualtricsRequest("body", "must hold at least one transaction")
        if len(body) > MAX_TRANSACTIONS:
            raise InvalidQualtricsRequest("body", f"at most {MAX_TRANSACTIONS} transactions per request")
        unprocessed: dict[str, dict[str, str]] = {}
        wanted: dict[str, directory_pb2.TransactionInput] = {}
        for key, entry in body.items():
            try:
                wanted[key] = transaction_input(entry, key)
            except InvalidQualtricsRequest as exc:  # one bad entry fails only itself, as the directory does
                unprocessed[key] = {"error": exc.code, "errorMessage": exc.message}
        created: dict[str, dict[str, str]] = {}
        if not wanted:  # every entry was refused here; an unknown directory must still be a 404
            await directory.GetDirectory(directory_pb2.GetDirectoryRequest(directory_id=directory_id), metadata=md, timeout=10)
            return qualtrics_ok({"createdTransactions": created, "unprocessedTransactions": unprocessed})
        reply = await directory.CreateTransactions(
            directory_pb2.CreateTransactionsRequest(directory_id=directory_id, transactions=wanted), metadata=md, timeout=30
        )
        for key, transaction_id in reply.created.items():
            created[key] = {"id": transaction_id}
        for key, error in reply.errors.items():
            unprocessed[key] = {"error": error.code, "errorMessage": error.message}
        return qualtrics_ok({"createdTransactions": created, "unprocessedTransactions": unprocessed})
