"""gRPC servicers of OrganizationService and DirectoryService: protobuf <-> domain, one session per call."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, TypeVar

import structlog
from google.protobuf import json_format, struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxflow.v1 import common_pb2, directory_pb2, directory_pb2_grpc
from services.common.auth import current_organization, current_principal, require_internal
from services.common.errors import PermissionDenied
from services.directory import ids
from services.directory.contacts import ContactWrite, check_embedded_data
from services.directory.dedup import check_rules
from services.directory.errors import ApiTokenNotFound, InvalidDirectoryRequest, WriteConflict
from services.directory.models import Contact, Directory, MailingList, Organization
from services.directory.pagination import Page, read_page
from services.directory.repository import CountedDirectory, DirectoryRepository, ListedContact, OrganizationRepository
from services.directory.search import ConditionGroup, ContactCondition, FieldCondition

log = structlog.get_logger(__name__)

T = TypeVar("T")

# How often an upsert is retried after losing a race to create the same person; each retry is an update.
UPSERT_ATTEMPTS = 5
# Creates with a caller-chosen id race only once: the second attempt finds the row the winner wrote.
CREATE_ATTEMPTS = 2

_DEDUP_FIELD_NAMES: dict[int, str] = {
    directory_pb2.DEDUP_FIELD_EMAIL: "email",
    directory_pb2.DEDUP_FIELD_PHONE: "phone",
    directory_pb2.DEDUP_FIELD_EXT_REF: "extRef",
    directory_pb2.DEDUP_FIELD_FIRST_NAME: "firstName",
    directory_pb2.DEDUP_FIELD_LAST_NAME: "lastName",
}
_DEDUP_FIELD_ENUMS = {name: number for number, name in _DEDUP_FIELD_NAMES.items()}


class _Sessions:
    """Runs one unit of work in its own session and commits it; IntegrityError (a lost race) retries from scratch."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]], attempts: int = 1) -> T:
        for attempt in range(1, attempts + 1):
            async with self._session_factory() as session:
                try:
                    result = await work(session)
                    await session.commit()
                    return result
                except IntegrityError:
                    await session.rollback()
                    if attempts == 1:
                        raise
                    log.info("directory.write_conflict", attempt=attempt)
        raise WriteConflict()


class OrganizationServicer(directory_pb2_grpc.OrganizationServiceServicer):
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = _Sessions(session_factory)

    async def CreateOrganization(self, request: directory_pb2.CreateOrganizationRequest, context: Any) -> directory_pb2.Organization:
        require_internal()
        name = _required(request.name, "name")
        chosen_id = ids.check_chosen_id(request.id, ids.ORGANIZATION_PREFIX, "id") if request.id else None
        organization = await self._sessions.run(
            lambda session: OrganizationRepository(session).create_organization(name, chosen_id), CREATE_ATTEMPTS
        )
        return _organization(organization)

    async def CreateApiToken(self, request: directory_pb2.CreateApiTokenRequest, context: Any) -> directory_pb2.CreateApiTokenResponse:
        principal = current_principal()
        if principal.internal:
            organization_id = request.organization_id or principal.organization_id
            if not organization_id:
                raise InvalidDirectoryRequest("organization_id", "internal callers must name the organization")
        else:
            organization_id = current_organization()
            if request.organization_id and request.organization_id != organization_id:
                raise PermissionDenied("an API token can only create tokens for its own organization")
        token, plain = await self._sessions.run(
            lambda session: OrganizationRepository(session).create_api_token(organization_id, request.name)
        )
        log.info("directory.api_token_created", token_id=token.id, organization_id=organization_id)
        return directory_pb2.CreateApiTokenResponse(token_id=token.id, token=plain)

    async def ResolveApiToken(self, request: directory_pb2.ResolveApiTokenRequest, context: Any) -> directory_pb2.ResolveApiTokenResponse:
        require_internal()
        plain = _required(request.token, "token")
        organization_id = await self._sessions.run(lambda session: OrganizationRepository(session).resolve_api_token(plain))
        if organization_id is None:
            raise ApiTokenNotFound()
        return directory_pb2.ResolveApiTokenResponse(organization_id=organization_id)

    async def WhoAmI(self, request: directory_pb2.WhoAmIRequest, context: Any) -> directory_pb2.Organization:
        organization_id = current_organization()
        organization = await self._sessions.run(
            lambda session: OrganizationRepository(session).get_organization(organization_id)
        )
        return _organization(organization)


class DirectoryServicer(directory_pb2_grpc.DirectoryServiceServicer):
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = _Sessions(session_factory)

    async def _in_organization(self, work: Callable[[DirectoryRepository], Awaitable[T]], attempts: int = 1) -> T:
        organization_id = current_organization()
        return await self._sessions.run(lambda session: work(DirectoryRepository(session, organization_id)), attempts)

    async def CreateDirectory(self, request: directory_pb2.CreateDirectoryRequest, context: Any) -> directory_pb2.Directory:
        name = _required(request.name, "name")
        rules = check_rules([[_DEDUP_FIELD_NAMES.get(field, "") for field in rule.fields] for rule in request.dedup_rules])
        chosen_id = ids.check_chosen_id(request.id, ids.DIRECTORY_PREFIX, "id") if request.id else None
        counted = await self._in_organization(
            lambda repo: repo.create_directory(name, rules, request.is_default, chosen_id), CREATE_ATTEMPTS
        )
        return _directory(counted)

    async def GetDirectory(self, request: directory_pb2.GetDirectoryRequest, context: Any) -> directory_pb2.Directory:
        directory_id = _required(request.directory_id, "directory_id")
        return _directory(await self._in_organization(lambda repo: repo.get_directory(directory_id)))

    async def ListDirectories(self, request: directory_pb2.ListDirectoriesRequest, context: Any) -> directory_pb2.ListDirectoriesResponse:
        page = _page(request.page)
        result = await self._in_organization(lambda repo: repo.list_directories(page))
        return directory_pb2.ListDirectoriesResponse(
            directories=[_directory(item) for item in result.items], next_page_token=result.next_page_token
        )

    async def UpsertContact(self, request: directory_pb2.UpsertContactRequest, context: Any) -> directory_pb2.UpsertContactResponse:
        directory_id = _required(request.directory_id, "directory_id")
        write = _contact_write(request.contact)
        outcome = await self._in_organization(lambda repo: repo.upsert_contact(directory_id, write), UPSERT_ATTEMPTS)
        return directory_pb2.UpsertContactResponse(contact_id=outcome.contact_id, created=outcome.created)

    async def GetContact(self, request: directory_pb2.GetContactRequest, context: Any) -> directory_pb2.Contact:
        directory_id = _required(request.directory_id, "directory_id")
        contact_id = _required(request.contact_id, "contact_id")
        return _contact(await self._in_organization(lambda repo: repo.get_contact(directory_id, contact_id)))

    async def SearchContacts(self, request: directory_pb2.SearchContactsRequest, context: Any) -> directory_pb2.SearchContactsResponse:
        directory_id = _required(request.directory_id, "directory_id")
        condition = _condition(request.filter) if request.HasField("filter") else None
        page = _page(request.page)
        result = await self._in_organization(lambda repo: repo.search_contacts(directory_id, condition, page))
        return directory_pb2.SearchContactsResponse(
            contacts=[_contact(item) for item in result.items], next_page_token=result.next_page_token
        )

    async def CreateMailingList(self, request: directory_pb2.CreateMailingListRequest, context: Any) -> directory_pb2.MailingList:
        directory_id = _required(request.directory_id, "directory_id")
        name = _required(request.name, "name")
        chosen_id = ids.check_chosen_id(request.id, ids.MAILING_LIST_PREFIX, "id") if request.id else None
        mailing_list = await self._in_organization(
            lambda repo: repo.create_mailing_list(directory_id, name, chosen_id), CREATE_ATTEMPTS
        )
        return _mailing_list(mailing_list)

    async def ListMailingLists(self, request: directory_pb2.ListMailingListsRequest, context: Any) -> directory_pb2.ListMailingListsResponse:
        directory_id = _required(request.directory_id, "directory_id")
        page = _page(request.page)
        result = await self._in_organization(lambda repo: repo.list_mailing_lists(directory_id, page))
        return directory_pb2.ListMailingListsResponse(
            mailing_lists=[_mailing_list(item) for item in result.items], next_page_token=result.next_page_token
        )


# protobuf -> domain


def _required(value: str, field: str) -> str:
    if not value.strip():
        raise InvalidDirectoryRequest(field, "is required")
    return value


def _page(page: common_pb2.PageRequest) -> Page:
    return read_page(page.page_size, page.page_token)


def _contact_write(contact: directory_pb2.ContactInput) -> ContactWrite:
    def optional(name: str) -> Any:
        return getattr(contact, name) if contact.HasField(name) else None

    embedded = json_format.MessageToDict(contact.embedded_data) if contact.HasField("embedded_data") else {}
    return ContactWrite(
        first_name=optional("first_name"),
        last_name=optional("last_name"),
        email=optional("email"),
        phone=optional("phone"),
        ext_ref=optional("ext_ref"),
        language=optional("language"),
        unsubscribed=optional("unsubscribed"),
        embedded_data=check_embedded_data(embedded),
    )


def _condition(message: directory_pb2.ContactFilter) -> ContactCondition | None:
    kind = message.WhichOneof("kind")
    if kind == "field":
        return FieldCondition(field=message.field.field, comparison=message.field.comparison, value=message.field.value)
    if kind == "group":
        return ConditionGroup(
            conjunction="or" if message.group.conjunction == directory_pb2.CONJUNCTION_OR else "and",
            conditions=tuple(c for c in (_condition(child) for child in message.group.filters) if c is not None),
        )
    return None


# domain -> protobuf


def _timestamp(moment: Any) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)  # naive datetimes (SQLite) are taken as UTC, which is what was stored
    return stamp


def _organization(organization: Organization) -> directory_pb2.Organization:
    return directory_pb2.Organization(
        id=organization.id, name=organization.name, created_at=_timestamp(organization.created_at)
    )


def _directory(counted: CountedDirectory) -> directory_pb2.Directory:
    directory: Directory = counted.directory
    return directory_pb2.Directory(
        id=directory.id,
        name=directory.name,
        is_default=directory.is_default,
        dedup_rules=[
            directory_pb2.DedupRule(fields=[_DEDUP_FIELD_ENUMS[name] for name in rule]) for rule in directory.dedup_rules or []
        ],
        contact_count=counted.contact_count,
        created_at=_timestamp(directory.created_at),
    )


def _contact(listed: ListedContact) -> directory_pb2.Contact:
    contact: Contact = listed.contact
    embedded = struct_pb2.Struct()
    embedded.update(contact.embedded_data or {})
    return directory_pb2.Contact(
        id=contact.id,
        directory_id=contact.directory_id,
        first_name=contact.first_name or "",
        last_name=contact.last_name or "",
        email=contact.email or "",
        phone=contact.phone or "",
        ext_ref=contact.ext_ref or "",
        language=contact.language or "",
        unsubscribed=contact.unsubscribed,
        embedded_data=embedded,
        created_at=_timestamp(contact.created_at),
        updated_at=_timestamp(contact.updated_at),
        mailing_list_ids=listed.mailing_list_ids,
    )


def _mailing_list(mailing_list: MailingList) -> directory_pb2.MailingList:
    return directory_pb2.MailingList(
        id=mailing_list.id,
        directory_id=mailing_list.directory_id,
        name=mailing_list.name,
        created_at=_timestamp(mailing_list.created_at),
    )
