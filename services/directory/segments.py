"""Segments of one organization's directories: definitions, stored members, opt-out/in, explanations, refreshes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.directory import ids
from services.directory.errors import ContactNotFound, InvalidDirectoryRequest, SegmentIdTaken, SegmentNotFound
from services.directory.membership import Clock, MembershipEngine, RefreshCounts
from services.directory.models import (
    Contact,
    Directory,
    MailingList,
    MailingListMembership,
    Segment,
    SegmentMembership,
    Transaction,
    utc_now,
)
from services.directory.pagination import Page, PagePosition, encode_token
from services.directory.repository import DirectoryRepository, PageOf
from services.directory.segment_rules import (
    CONTACT_FIELDS,
    AllOf,
    AnyOf,
    ContactFacts,
    Explanation,
    MailingListRule,
    NotOf,
    RuleNode,
    TransactionFacts,
    explain,
    parse_rule,
)


@dataclass(frozen=True)
class CountedSegment:
    segment: Segment
    member_count: int


@dataclass(frozen=True)
class MembershipState:
    segment_id: str
    contact_id: str
    member: bool
    opted_out: bool


@dataclass(frozen=True)
class MembershipExplanation:
    member: bool
    opted_out: bool
    rule: Explanation


class SegmentRepository:
    def __init__(self, session: AsyncSession, organization_id: str, clock: Clock = utc_now) -> None:
        self._session = session
        self._organization_id = organization_id
        self._clock = clock
        self._directories = DirectoryRepository(session, organization_id, clock)

    def _membership(self) -> MembershipEngine:
        return MembershipEngine(self._session, self._organization_id, self._clock)

    async def create_segment(
        self, directory_id: str, name: str, description: str, rule: dict[str, Any], chosen_id: str | None
    ) -> CountedSegment:
        """Stores the segment and computes its members at once (ADDED events for each)."""
        await self._directories.directory(directory_id)
        if chosen_id:
            existing = await self._session.get(Segment, chosen_id)
            if existing is not None:
                if existing.directory_id != directory_id:
                    raise SegmentIdTaken(chosen_id)
                return await self.get_segment(directory_id, chosen_id)
        await self._check_mailing_lists(directory_id, parse_rule(rule))
        now = utc_now()
        segment = Segment(
            id=chosen_id or ids.new_id(ids.SEGMENT_PREFIX),
            directory_id=directory_id,
            name=name,
            description=description,
            rule=rule,
            created_at=now,
            updated_at=now,
        )
        self._session.add(segment)
        await self._session.flush()
        counts = await self._membership().refresh_segment(segment)
        return CountedSegment(segment, counts.added)

    async def update_segment(
        self,
        directory_id: str,
        segment_id: str,
        name: str | None,
        description: str | None,
        rule: dict[str, Any] | None,
    ) -> CountedSegment:
        segment = await self._segment(directory_id, segment_id)
        if name is not None:
            segment.name = name
        if description is not None:
            segment.description = description
        if rule is not None:
            await self._check_mailing_lists(directory_id, parse_rule(rule))
            segment.rule = rule
        segment.updated_at = utc_now()
        await self._session.flush()
        if rule is not None:
            await self._membership().refresh_segment(segment)
        return await self.get_segment(directory_id, segment_id)

    async def _check_mailing_lists(self, directory_id: str, node: RuleNode) -> None:
        """A rule may only name lists of its own directory; the error names the node that names another."""
        for path, list_id in _mailing_list_nodes(node):
            found = await self._session.execute(
                select(MailingList.id).where(MailingList.id == list_id, MailingList.directory_id == directory_id)
            )
            if found.first() is None:
                raise InvalidDirectoryRequest(f"{path}.mailingList", f"mailing list {list_id} not found in the directory")

    async def get_segment(self, directory_id: str, segment_id: str) -> CountedSegment:
        await self._directories.directory(directory_id)
        row = (
            await self._session.execute(
                self._counted().where(Segment.id == segment_id, Segment.directory_id == directory_id)
            )
        ).first()
        if row is None:
            raise SegmentNotFound(segment_id)
        return CountedSegment(row[0], row[1])

    async def list_segments(self, directory_id: str, page: Page) -> PageOf[CountedSegment]:
        await self._directories.directory(directory_id)
        query = self._counted().where(Segment.directory_id == directory_id)
        if page.after is not None:
            query = query.where(
                or_(
                    Segment.created_at > page.after.created_at,
                    and_(Segment.created_at == page.after.created_at, Segment.id > page.after.id),
                )
            )
        rows = (await self._session.execute(query.order_by(Segment.created_at, Segment.id).limit(page.size + 1))).all()
        items = [CountedSegment(row[0], row[1]) for row in rows]
        if len(items) <= page.size:
            return PageOf(items, "")
        items = items[: page.size]
        last = items[-1].segment
        return PageOf(items, encode_token(PagePosition(last.created_at, last.id)))

    def _counted(self):  # type: ignore[no-untyped-def]
        member_count = (
            select(func.count())
            .select_from(SegmentMembership)
            .where(SegmentMembership.segment_id == Segment.id)
            .correlate(Segment)
            .scalar_subquery()
        )
        return select(Segment, member_count)

    async def delete_segment(self, directory_id: str, segment_id: str) -> None:
        segment = await self._segment(directory_id, segment_id)
        await self._session.delete(segment)
        await self._session.flush()

    async def _segment(self, directory_id: str, segment_id: str) -> Segment:
        await self._directories.directory(directory_id)
        segment = (
            await self._session.execute(
                select(Segment).where(Segment.id == segment_id, Segment.directory_id == directory_id)
            )
        ).scalar_one_or_none()
        if segment is None:
            raise SegmentNotFound(segment_id)
        return segment

    async def list_members(self, directory_id: str, segment_id: str, page: Page) -> PageOf[SegmentMembership]:
        await self._segment(directory_id, segment_id)
        query = select(SegmentMembership).where(SegmentMembership.segment_id == segment_id)
        if page.after is not None:
            query = query.where(
                or_(
                    SegmentMembership.since > page.after.created_at,
                    and_(SegmentMembership.since == page.after.created_at, SegmentMembership.contact_id > page.after.id),
                )
            )
        query = query.order_by(SegmentMembership.since, SegmentMembership.contact_id).limit(page.size + 1)
        items = list((await self._session.execute(query)).scalars().all())
        if len(items) <= page.size:
            return PageOf(items, "")
        items = items[: page.size]
        last = items[-1]
        return PageOf(items, encode_token(PagePosition(last.since, last.contact_id)))

    async def set_opt_out(self, directory_id: str, segment_id: str, contact_id: str, opted_out: bool) -> MembershipState:
        segment = await self._segment(directory_id, segment_id)
        await self._lock_contact(directory_id, contact_id)
        engine = self._membership()
        if opted_out:
            await engine.opt_out(segment, contact_id)
        else:
            await engine.opt_in(segment, contact_id)
        member, now_opted_out = await engine.state(segment_id, contact_id)
        return MembershipState(segment_id, contact_id, member, now_opted_out)

    async def _lock_contact(self, directory_id: str, contact_id: str) -> None:
        """Takes the contact's row lock (PostgreSQL) / the write lock (SQLite), as every contact write does."""
        locked = await self._session.execute(
            update(Contact)
            .where(Contact.id == contact_id, Contact.directory_id == directory_id)
            .values(updated_at=Contact.updated_at)
        )
        if not locked.rowcount:
            raise ContactNotFound(contact_id)

    async def explain_membership(self, directory_id: str, segment_id: str, contact_id: str) -> MembershipExplanation:
        segment = await self._segment(directory_id, segment_id)
        contact = (
            await self._session.execute(
                select(Contact).where(Contact.id == contact_id, Contact.directory_id == directory_id)
            )
        ).scalar_one_or_none()
        if contact is None:
            raise ContactNotFound(contact_id)
        list_ids = frozenset(
            (
                await self._session.execute(
                    select(MailingListMembership.mailing_list_id).where(MailingListMembership.contact_id == contact_id)
                )
            )
            .scalars()
            .all()
        )
        transactions = [
            TransactionFacts(row.seq, _as_utc(row.transaction_date), row.data or {})
            for row in (
                await self._session.execute(select(Transaction).where(Transaction.contact_id == contact_id))
            ).scalars()
        ]
        facts = ContactFacts(
            fields={name: getattr(contact, attribute) for name, attribute in CONTACT_FIELDS.items()},
            embedded_data=contact.embedded_data or {},
            mailing_list_ids=list_ids,
            transactions=transactions,
        )
        explanation = explain(parse_rule(segment.rule), facts, self._clock())
        member, opted_out = await self._membership().state(segment_id, contact_id)
        return MembershipExplanation(member, opted_out, explanation)

    async def segments_to_refresh(self, directory_id: str, segment_id: str) -> list[str]:
        """The ids of the organization's segments a refresh covers (all, one directory's, or one)."""
        query = (
            select(Segment.id)
            .join(Directory, Directory.id == Segment.directory_id)
            .where(Directory.organization_id == self._organization_id)
            .order_by(Segment.id)
        )
        if directory_id:
            await self._directories.directory(directory_id)
            query = query.where(Segment.directory_id == directory_id)
        if segment_id:
            if not directory_id:
                raise InvalidDirectoryRequest("directory_id", "is required with segment_id")
            await self._segment(directory_id, segment_id)
            query = query.where(Segment.id == segment_id)
        return list((await self._session.execute(query)).scalars().all())

    async def refresh(self, segment_id: str) -> tuple[RefreshCounts, int]:
        """One segment's full re-evaluation; returns the changes and the member count after it."""
        segment = (
            await self._session.execute(
                select(Segment)
                .join(Directory, Directory.id == Segment.directory_id)
                .where(Segment.id == segment_id, Directory.organization_id == self._organization_id)
            )
        ).scalar_one_or_none()
        if segment is None:  # deleted since it was listed
            return RefreshCounts(), 0
        counts = await self._membership().refresh_segment(segment)
        members = (
            await self._session.execute(
                select(func.count()).select_from(SegmentMembership).where(SegmentMembership.segment_id == segment_id)
            )
        ).scalar_one()
        return counts, members


def _mailing_list_nodes(node: RuleNode) -> Sequence[tuple[str, str]]:
    if isinstance(node, (AllOf, AnyOf)):
        return [pair for child in node.children for pair in _mailing_list_nodes(child)]
    if isinstance(node, NotOf):
        return _mailing_list_nodes(node.child)
    if isinstance(node, MailingListRule):
        return [(node.path, node.mailing_list_id)]
    return []


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
