"""gRPC servicers of OrganizationService and DirectoryService: protobuf <-> domain, one session per call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from google.protobuf import json_format, struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxflow.v1 import common_pb2, directory_pb2, directory_pb2_grpc
from services.common.auth import current_organization, current_principal, require_internal
from services.common.errors import NotFound, PermissionDenied
from services.directory import ids
from services.directory.contacts import ContactWrite, check_embedded_data
from services.directory.dedup import check_rules
from services.directory.errors import ApiTokenNotFound, InvalidDirectoryRequest, WriteConflict
from services.directory.membership import Clock, RefreshCounts
from services.directory.models import Contact, Directory, MailingList, Organization, SegmentMembership, Transaction, utc_now
from services.directory.pagination import Page, read_page
from services.directory.repository import CountedDirectory, DirectoryRepository, ListedContact, OrganizationRepository
from services.directory.search import ConditionGroup, ContactCondition, FieldCondition
from services.directory.segment_rules import Explanation, parse_rule
from services.directory.segments import CountedSegment, MembershipState, SegmentRepository
from services.directory.tokens import ApiTokenRepository
from services.directory.transactions import (
    MAX_BATCH,
    EntryError,
    TransactionEntry,
    TransactionRepository,
    check_data,
    error_of,
)

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
# Qualtrics' flat deduplicationCriteria booleans -> dedup field names, in the order a rule lists them.
_CRITERIA_FIELDS = (
    ("email", "email"),
    ("first_name", "firstName"),
    ("last_name", "lastName"),
    ("external_data_reference", "extRef"),
    ("phone", "phone"),
)
# Timestamps protobuf can carry but a database column cannot: years 1..9999 only.
_MIN_SECONDS = -62135596800
_MAX_SECONDS = 253402300799


# PostgreSQL's answers to two transactions that got in each other's way: deadlock, serialization failure.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def _lost_race(exc: DBAPIError) -> bool:
    """A unique key taken by a concurrent writer, or a deadlock with one: the same work can succeed from scratch."""
    if isinstance(exc, IntegrityError):
        return True
    return getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES  # asyncpg's code, as SQLAlchemy passes it on


class _Sessions:
    """Runs one unit of work in its own session and commits it; a lost race (a unique key taken meanwhile, a
    deadlock) retries from scratch."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]], attempts: int = 1) -> T:
        for attempt in range(1, attempts + 1):
            async with self._session_factory() as session:
                try:
                    result = await work(session)
                    await session.commit()
                    return result
                except DBAPIError as exc:
                    await session.rollback()
                    if attempts == 1 or not _lost_race(exc):
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

    async def ListOrganizations(self, request: directory_pb2.ListOrganizationsRequest, context: Any) -> directory_pb2.ListOrganizationsResponse:
        require_internal()
        page = _page(request.page)
        result = await self._sessions.run(lambda session: OrganizationRepository(session).list_organizations(page))
        return directory_pb2.ListOrganizationsResponse(
            organizations=[_organization(item) for item in result.items], next_page_token=result.next_page_token
        )

    async def ListApiTokens(self, request: directory_pb2.ListApiTokensRequest, context: Any) -> directory_pb2.ListApiTokensResponse:
        require_internal()
        organization_id = _required(request.organization_id, "organization_id")
        page = _page(request.page)
        result = await self._sessions.run(lambda session: ApiTokenRepository(session, organization_id).list_tokens(page))
        return directory_pb2.ListApiTokensResponse(
            tokens=[
                directory_pb2.ApiToken(
                    id=token.id, organization_id=token.organization_id, name=token.name, created_at=_timestamp(token.created_at)
                )
                for token in result.items
            ],
            next_page_token=result.next_page_token,
        )

    async def RevokeApiToken(self, request: directory_pb2.RevokeApiTokenRequest, context: Any) -> directory_pb2.RevokeApiTokenResponse:
        require_internal()
        organization_id = _required(request.organization_id, "organization_id")
        token_id = _required(request.token_id, "token_id")
        revoked = await self._sessions.run(lambda session: ApiTokenRepository(session, organization_id).revoke(token_id))
        if not revoked:
            raise NotFound(f"API token {token_id} not found in organization {organization_id}", field="token_id")
        log.info("directory.api_token_revoked", token_id=token_id, organization_id=organization_id)
        return directory_pb2.RevokeApiTokenResponse()


class DirectoryServicer(directory_pb2_grpc.DirectoryServiceServicer):
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock = utc_now,
        on_membership_events: Callable[[], None] = lambda: None,
    ) -> None:
        self._sessions = _Sessions(session_factory)
        self._clock = clock
        # Called after every committed write that may have queued membership events (wakes the outbox dispatcher).
        self._on_membership_events = on_membership_events

    async def _in_organization(self, work: Callable[[DirectoryRepository], Awaitable[T]], attempts: int = 1) -> T:
        organization_id = current_organization()
        return await self._sessions.run(
            lambda session: work(DirectoryRepository(session, organization_id, self._clock)), attempts
        )

    async def _writing(self, work: Callable[[DirectoryRepository], Awaitable[T]], attempts: int = 1) -> T:
        result = await self._in_organization(work, attempts)
        self._on_membership_events()
        return result

    async def _segments(self, work: Callable[[SegmentRepository], Awaitable[T]], writes: bool = False) -> T:
        organization_id = current_organization()
        result = await self._sessions.run(lambda session: work(SegmentRepository(session, organization_id, self._clock)))
        if writes:
            self._on_membership_events()
        return result

    async def CreateDirectory(self, request: directory_pb2.CreateDirectoryRequest, context: Any) -> directory_pb2.Directory:
        name = _required(request.name, "name")
        rules = check_rules([[_DEDUP_FIELD_NAMES.get(field, "") for field in rule.fields] for rule in request.dedup_rules])
        if request.HasField("deduplication_criteria"):
            criteria = [name for attribute, name in _CRITERIA_FIELDS if getattr(request.deduplication_criteria, attribute)]
            if rules and criteria:
                raise InvalidDirectoryRequest("deduplication_criteria", "give dedup_rules or deduplication_criteria, not both")
            if criteria:
                rules = [criteria]
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
        outcome = await self._writing(lambda repo: repo.upsert_contact(directory_id, write), UPSERT_ATTEMPTS)
        return directory_pb2.UpsertContactResponse(contact_id=outcome.contact_id, created=outcome.created)

    async def UpsertContacts(self, request: directory_pb2.UpsertContactsRequest, context: Any) -> directory_pb2.UpsertContactsResponse:
        directory_id = _required(request.directory_id, "directory_id")
        if len(request.contacts) > MAX_BATCH:
            raise InvalidDirectoryRequest("contacts", f"at most {MAX_BATCH} per call")
        writes = [_contact_write(contact, f"contacts[{index}].embedded_data") for index, contact in enumerate(request.contacts)]
        outcomes = await self._writing(lambda repo: repo.upsert_contacts(directory_id, writes), UPSERT_ATTEMPTS)
        response = directory_pb2.UpsertContactsResponse()
        add_result = response.results.add  # in place: a message built apart and then copied in cost three times as much
        for item in outcomes:
            add_result(contact_id=item.contact_id, created=item.created)
        return response

    async def UpdateContact(self, request: directory_pb2.UpdateContactRequest, context: Any) -> directory_pb2.Contact:
        directory_id = _required(request.directory_id, "directory_id")
        contact_id = _required(request.contact_id, "contact_id")
        write = _contact_write(request.contact)
        listed = await self._writing(lambda repo: repo.update_contact(directory_id, contact_id, write), UPSERT_ATTEMPTS)
        return _contact(listed)

    async def DeleteContact(self, request: directory_pb2.DeleteContactRequest, context: Any) -> directory_pb2.DeleteContactResponse:
        directory_id = _required(request.directory_id, "directory_id")
        contact_id = _required(request.contact_id, "contact_id")
        await self._writing(lambda repo: repo.delete_contact(directory_id, contact_id))
        return directory_pb2.DeleteContactResponse()

    async def ListContacts(self, request: directory_pb2.ListContactsRequest, context: Any) -> directory_pb2.ListContactsResponse:
        directory_id = _required(request.directory_id, "directory_id")
        page = _page(request.page)
        result = await self._in_organization(lambda repo: repo.search_contacts(directory_id, None, page))
        return directory_pb2.ListContactsResponse(
            contacts=[_contact(item) for item in result.items], next_page_token=result.next_page_token
        )

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

    async def AddMailingListMembers(self, request: directory_pb2.MailingListMembersRequest, context: Any) -> directory_pb2.MailingListMembersResponse:
        return await self._change_members(request, add=True)

    async def RemoveMailingListMembers(self, request: directory_pb2.MailingListMembersRequest, context: Any) -> directory_pb2.MailingListMembersResponse:
        return await self._change_members(request, add=False)

    async def _change_members(self, request: directory_pb2.MailingListMembersRequest, add: bool) -> directory_pb2.MailingListMembersResponse:
        directory_id = _required(request.directory_id, "directory_id")
        mailing_list_id = _required(request.mailing_list_id, "mailing_list_id")
        contact_ids = list(request.contact_ids)
        if len(contact_ids) > MAX_BATCH:
            raise InvalidDirectoryRequest("contact_ids", f"at most {MAX_BATCH} per call")
        for index, contact_id in enumerate(contact_ids):
            _required(contact_id, f"contact_ids[{index}]")
        changed = await self._writing(
            lambda repo: repo.change_mailing_list_members(directory_id, mailing_list_id, contact_ids, add)
        )
        return directory_pb2.MailingListMembersResponse(changed=changed)

    # Transactions

    async def CreateTransactions(self, request: directory_pb2.CreateTransactionsRequest, context: Any) -> directory_pb2.CreateTransactionsResponse:
        directory_id = _required(request.directory_id, "directory_id")
        if len(request.transactions) > MAX_BATCH:
            raise InvalidDirectoryRequest("transactions", f"at most {MAX_BATCH} per call")
        entries: dict[str, TransactionEntry] = {}
        rejected: dict[str, EntryError] = {}
        for key, item in request.transactions.items():
            try:
                entries[key] = _transaction_entry(key, item)
            except InvalidDirectoryRequest as exc:
                rejected[key] = error_of(exc)
        organization_id = current_organization()
        outcome = await self._sessions.run(
            lambda session: TransactionRepository(session, organization_id, self._clock).create_transactions(
                directory_id, entries, rejected, idempotent=request.idempotent
            ),
            # An idempotent key created concurrently fails the unique index: the retry answers the stored id.
            attempts=3 if request.idempotent else 1,
        )
        self._on_membership_events()
        return directory_pb2.CreateTransactionsResponse(
            created=outcome.created,
            errors={
                key: directory_pb2.TransactionError(code=error.code, message=error.message, field=error.field)
                for key, error in outcome.errors.items()
            },
        )

    async def ListTransactions(self, request: directory_pb2.ListTransactionsRequest, context: Any) -> directory_pb2.ListTransactionsResponse:
        directory_id = _required(request.directory_id, "directory_id")
        contact_id = _required(request.contact_id, "contact_id")
        start = _datetime(request.start_date, "start_date") if request.HasField("start_date") else None
        end = _datetime(request.end_date, "end_date") if request.HasField("end_date") else None
        page = read_page(request.page.page_size, "")
        organization_id = current_organization()
        result = await self._sessions.run(
            lambda session: TransactionRepository(session, organization_id, self._clock).list_transactions(
                directory_id, contact_id, start, end, dict(request.data_equals), page, request.page.page_token
            )
        )
        return directory_pb2.ListTransactionsResponse(
            transactions=[_transaction(item) for item in result.items], next_page_token=result.next_page_token
        )

    # Segments

    async def CreateSegment(self, request: directory_pb2.CreateSegmentRequest, context: Any) -> directory_pb2.Segment:
        directory_id = _required(request.directory_id, "directory_id")
        name = _required(request.name, "name")
        rule = _rule(request.rule if request.HasField("rule") else None)
        chosen_id = ids.check_chosen_id(request.id, ids.SEGMENT_PREFIX, "id") if request.id else None
        counted = await self._segments(
            lambda repo: repo.create_segment(directory_id, name, request.description, rule, chosen_id), writes=True
        )
        return _segment(counted)

    async def UpdateSegment(self, request: directory_pb2.UpdateSegmentRequest, context: Any) -> directory_pb2.Segment:
        directory_id = _required(request.directory_id, "directory_id")
        segment_id = _required(request.segment_id, "segment_id")
        name = _required(request.name, "name") if request.HasField("name") else None
        description = request.description if request.HasField("description") else None
        rule = _rule(request.rule) if request.HasField("rule") else None
        counted = await self._segments(
            lambda repo: repo.update_segment(directory_id, segment_id, name, description, rule), writes=True
        )
        return _segment(counted)

    async def GetSegment(self, request: directory_pb2.GetSegmentRequest, context: Any) -> directory_pb2.Segment:
        directory_id = _required(request.directory_id, "directory_id")
        segment_id = _required(request.segment_id, "segment_id")
        return _segment(await self._segments(lambda repo: repo.get_segment(directory_id, segment_id)))

    async def ListSegments(self, request: directory_pb2.ListSegmentsRequest, context: Any) -> directory_pb2.ListSegmentsResponse:
        directory_id = _required(request.directory_id, "directory_id")
        page = _page(request.page)
        result = await self._segments(lambda repo: repo.list_segments(directory_id, page))
        return directory_pb2.ListSegmentsResponse(
            segments=[_segment(item) for item in result.items], next_page_token=result.next_page_token
        )

    async def DeleteSegment(self, request: directory_pb2.DeleteSegmentRequest, context: Any) -> directory_pb2.DeleteSegmentResponse:
        directory_id = _required(request.directory_id, "directory_id")
        segment_id = _required(request.segment_id, "segment_id")
        await self._segments(lambda repo: repo.delete_segment(directory_id, segment_id))
        return directory_pb2.DeleteSegmentResponse()

    async def ListSegmentMembers(self, request: directory_pb2.ListSegmentMembersRequest, context: Any) -> directory_pb2.ListSegmentMembersResponse:
        directory_id = _required(request.directory_id, "directory_id")
        segment_id = _required(request.segment_id, "segment_id")
        page = _page(request.page)
        result = await self._segments(lambda repo: repo.list_members(directory_id, segment_id, page))
        return directory_pb2.ListSegmentMembersResponse(
            members=[_member(item) for item in result.items], next_page_token=result.next_page_token
        )

    async def OptOutOfSegment(self, request: directory_pb2.SegmentOptRequest, context: Any) -> directory_pb2.SegmentMembership:
        return await self._set_opt_out(request, opted_out=True)

    async def OptIntoSegment(self, request: directory_pb2.SegmentOptRequest, context: Any) -> directory_pb2.SegmentMembership:
        return await self._set_opt_out(request, opted_out=False)

    async def _set_opt_out(self, request: directory_pb2.SegmentOptRequest, opted_out: bool) -> directory_pb2.SegmentMembership:
        directory_id = _required(request.directory_id, "directory_id")
        segment_id = _required(request.segment_id, "segment_id")
        contact_id = _required(request.contact_id, "contact_id")
        state: MembershipState = await self._segments(
            lambda repo: repo.set_opt_out(directory_id, segment_id, contact_id, opted_out), writes=True
        )
        return directory_pb2.SegmentMembership(
            segment_id=state.segment_id, contact_id=state.contact_id, member=state.member, opted_out=state.opted_out
        )

    async def ExplainMembership(self, request: directory_pb2.ExplainMembershipRequest, context: Any) -> directory_pb2.ExplainMembershipResponse:
        directory_id = _required(request.directory_id, "directory_id")
        segment_id = _required(request.segment_id, "segment_id")
        contact_id = _required(request.contact_id, "contact_id")
        explained = await self._segments(lambda repo: repo.explain_membership(directory_id, segment_id, contact_id))
        return directory_pb2.ExplainMembershipResponse(
            member=explained.member,
            opted_out=explained.opted_out,
            rule_holds=explained.rule.held,
            rule=_explanation(explained.rule),
        )

    async def RefreshSegments(self, request: directory_pb2.RefreshSegmentsRequest, context: Any) -> directory_pb2.RefreshSegmentsResponse:
        """One database transaction per segment, so a long refresh never holds every segment's lock at once."""
        segment_ids = await self._segments(
            lambda repo: repo.segments_to_refresh(request.directory_id, request.segment_id)
        )
        total = RefreshCounts()
        members = 0
        for segment_id in segment_ids:
            counts, count = await self._segments(lambda repo, segment_id=segment_id: repo.refresh(segment_id), writes=True)
            total += counts
            members += count
        log.info("directory.segments_refreshed", segments=len(segment_ids), added=total.added, removed=total.removed)
        return directory_pb2.RefreshSegmentsResponse(
            segments=len(segment_ids), added=total.added, removed=total.removed, members=members
        )


# protobuf -> domain


def _required(value: str, field: str) -> str:
    if not value.strip():
        raise InvalidDirectoryRequest(field, "is required")
    return value


def _page(page: common_pb2.PageRequest) -> Page:
    return read_page(page.page_size, page.page_token)


def _contact_write(contact: directory_pb2.ContactInput, embedded_field: str = "contact.embedded_data") -> ContactWrite:
    # Spelled out field by field, and positional in ContactWrite's field order (keywords cost a tenth more): this runs
    # once per contact of a bulk upsert.
    has = contact.HasField
    return ContactWrite(
        contact.first_name if has("first_name") else None,
        contact.last_name if has("last_name") else None,
        contact.email if has("email") else None,
        contact.phone if has("phone") else None,
        contact.ext_ref if has("ext_ref") else None,
        contact.language if has("language") else None,
        contact.unsubscribed if has("unsubscribed") else None,
        check_embedded_data(_struct_scalars(contact.embedded_data), embedded_field) if has("embedded_data") else {},
    )


def _struct_scalars(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct's top-level values as Python scalars, read straight off the Value messages (json_format.MessageToDict
    walks descriptors per value, several times slower on the bulk upsert path). Anything but a string, number or
    boolean becomes None, which check_embedded_data refuses with the field named, as it refused the dict or list."""
    values: dict[str, Any] = {}
    fields = struct.fields
    for key in fields:  # by key: the map's items() is the generic Mapping one, a Python generator
        value = fields[key]
        kind = value.WhichOneof("kind")
        if kind == "string_value":
            values[key] = value.string_value
        elif kind == "number_value":
            values[key] = value.number_value
        elif kind == "bool_value":
            values[key] = value.bool_value
        else:
            values[key] = None
    return values


def _datetime(stamp: Timestamp, field: str) -> datetime:
    if not _MIN_SECONDS <= stamp.seconds <= _MAX_SECONDS or not 0 <= stamp.nanos < 1_000_000_000:
        raise InvalidDirectoryRequest(field, "must be a date between years 1 and 9999")
    return stamp.ToDatetime(tzinfo=UTC)


def _transaction_entry(key: str, item: directory_pb2.TransactionInput) -> TransactionEntry:
    where = f"transactions[{key}]"
    if not key:
        raise InvalidDirectoryRequest("transactions", "client keys must not be empty")
    contact_id = _required(item.contact_id, f"{where}.contact_id")
    mailing_list_id = _required(item.mailing_list_id, f"{where}.mailing_list_id")
    if not item.HasField("transaction_date"):
        raise InvalidDirectoryRequest(f"{where}.transaction_date", "is required")
    transaction_date = _datetime(item.transaction_date, f"{where}.transaction_date")
    data = json_format.MessageToDict(item.data) if item.HasField("data") else {}
    return TransactionEntry(contact_id, mailing_list_id, transaction_date, check_data(data, f"{where}.data"))


def _rule(rule: struct_pb2.Struct | None) -> dict[str, Any]:
    """The rule as JSON, validated (the error names the bad node's path)."""
    if rule is None:
        raise InvalidDirectoryRequest("rule", "is required")
    raw = json_format.MessageToDict(rule)
    parse_rule(raw)
    return raw


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
        deduplication_criteria=_criteria(directory.dedup_rules or []),
    )


def _criteria(rules: list[list[str]]) -> directory_pb2.DeduplicationCriteria:
    first = set(rules[0]) if rules else set()
    return directory_pb2.DeduplicationCriteria(**{attribute: name in first for attribute, name in _CRITERIA_FIELDS})


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
        segment_ids=listed.segment_ids,
    )


def _struct(values: dict[str, Any] | None) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values or {})
    return struct


def _transaction(transaction: Transaction) -> directory_pb2.Transaction:
    return directory_pb2.Transaction(
        id=transaction.id,
        directory_id=transaction.directory_id,
        contact_id=transaction.contact_id,
        mailing_list_id=transaction.mailing_list_id,
        transaction_date=_timestamp(transaction.transaction_date),
        data=_struct(transaction.data),
        created_at=_timestamp(transaction.created_at),
    )


def _segment(counted: CountedSegment) -> directory_pb2.Segment:
    segment = counted.segment
    return directory_pb2.Segment(
        id=segment.id,
        directory_id=segment.directory_id,
        name=segment.name,
        description=segment.description or "",
        rule=_struct(segment.rule),
        member_count=counted.member_count,
        created_at=_timestamp(segment.created_at),
        updated_at=_timestamp(segment.updated_at),
    )


def _member(membership: SegmentMembership) -> directory_pb2.SegmentMember:
    return directory_pb2.SegmentMember(contact_id=membership.contact_id, member_since=_timestamp(membership.since))


def _explanation(explanation: Explanation) -> directory_pb2.RuleExplanation:
    value = struct_pb2.Value()
    if explanation.value is None:
        value.null_value = struct_pb2.NULL_VALUE
    elif isinstance(explanation.value, bool):
        value.bool_value = explanation.value
    elif isinstance(explanation.value, (int, float)):
        value.number_value = explanation.value
    else:
        value.string_value = str(explanation.value)
    return directory_pb2.RuleExplanation(
        path=explanation.path,
        description=explanation.description,
        value=value,
        held=explanation.held,
        children=[_explanation(child) for child in explanation.children],
    )


def _mailing_list(mailing_list: MailingList) -> directory_pb2.MailingList:
    return directory_pb2.MailingList(
        id=mailing_list.id,
        directory_id=mailing_list.directory_id,
        name=mailing_list.name,
        created_at=_timestamp(mailing_list.created_at),
    )
