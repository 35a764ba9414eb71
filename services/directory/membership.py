"""Stored segment membership: set-based re-evaluation (of some contacts on each write, of all on a refresh),
opt-out / opt-in, each change written to the outbox in the caller's database transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Boolean,
    ColumnElement,
    DateTime,
    Integer,
    Select,
    delete,
    exists,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from services.directory.models import Contact, OutboxEvent, Segment, SegmentMembership, SegmentOptOut
from services.directory.segment_rules import SqlContext, parse_rule, rule_sql

Clock = Callable[[], datetime]

ADDED = "ADDED"
REMOVED = "REMOVED"
OPTED_IN = "OPTED_IN"
OPTED_OUT = "OPTED_OUT"


@dataclass(frozen=True)
class RefreshCounts:
    added: int = 0
    removed: int = 0

    def __add__(self, other: RefreshCounts) -> RefreshCounts:
        return RefreshCounts(self.added + other.added, self.removed + other.removed)


def event_id(batch: str, segment_id: str, contact_id: str) -> str:
    """The outbox row's id, which ingestion sees as the event id: one change of one pair in one evaluation."""
    return f"MEV_{batch}_{segment_id}_{contact_id}"


def new_batch() -> str:
    return uuid.uuid4().hex


# The planner settings of a refresh's transaction on PostgreSQL (SET LOCAL: they end with it).
# work_mem: rules compile to IN (grouped subquery); PostgreSQL hashes that subquery only when it fits in work_mem, and
# otherwise rescans it per contact. A refresh may group a million contacts: give it room.
# parallel_*_cost: the defaults (0.1 a tuple, 1000 to start workers) suit short OLTP statements; a refresh is one large
# scan of the transactions, and at the defaults PostgreSQL ran that scan inside the IN subquery on one core (1.18 s at
# 300k contacts / 3M transactions) where two workers took 0.72 s.
REFRESH_SETTINGS = {"work_mem": "256MB", "parallel_tuple_cost": "0.001", "parallel_setup_cost": "100"}

# The contacts a refresh found the rule to hold for; a temporary table, so each connection has its own.
_HOLDS_TABLE = "segment_refresh_holds"
# What a refresh changes: the contacts joining and leaving the segment (PostgreSQL).
_CHANGES_TABLE = "segment_refresh_changes"


class MembershipEngine:
    """Keeps segment_memberships equal to "rule holds and not opted out", within the caller's transaction."""

    def __init__(self, session: AsyncSession, organization_id: str, clock: Clock) -> None:
        self._session = session
        self._organization_id = organization_id
        self._clock = clock

    def _dialect(self) -> str:
        return self._session.get_bind().dialect.name

    async def reevaluate_contacts(self, directory_id: str, contact_ids: Sequence[str]) -> RefreshCounts:
        """After a write to these contacts (or their transactions, lists): every segment of the directory, for them."""
        if not contact_ids:
            return RefreshCounts()
        query = select(Segment).where(Segment.directory_id == directory_id).order_by(Segment.id)
        if self._dialect() == "postgresql":
            # Shared with other writers, exclusive against a refresh of the same segment: their membership
            # inserts and deletes never interleave.
            query = query.with_for_update(read=True)
        segments = list((await self._session.execute(query)).scalars().all())
        counts = RefreshCounts()
        for segment in segments:
            counts += await self._evaluate(segment, list(dict.fromkeys(contact_ids)))
        return counts

    async def refresh_segment(self, segment: Segment) -> RefreshCounts:
        """Every contact of the segment's directory, set-based: the rule is evaluated once, into a temporary table,
        and the stored membership is brought to it with INSERT … SELECT / DELETE."""
        if self._dialect() == "postgresql":
            await self._session.execute(select(Segment.id).where(Segment.id == segment.id).with_for_update())
            for name, value in REFRESH_SETTINGS.items():
                await self._session.execute(text(f"SET LOCAL {name} = '{value}'"))
        now = self._clock()
        batch = new_batch()
        context = SqlContext(dialect=self._dialect(), now=now, directory_id=segment.directory_id)
        held = select(Contact.id.label("contact_id")).where(
            Contact.directory_id == segment.directory_id,
            rule_sql(parse_rule(segment.rule), context),
            not_(exists().where(SegmentOptOut.segment_id == segment.id, SegmentOptOut.contact_id == Contact.id)),
        )
        if self._dialect() == "postgresql":
            return await self._apply_changes(segment, held, batch, now)
        return await self._apply_held(segment, held, batch, now)

    async def _apply_changes(self, segment: Segment, held: Select[tuple[str]], batch: str, now: datetime) -> RefreshCounts:
        """One statement computes the difference (a full join of the contacts the rule holds for with the members:
        who joins, who leaves) into a temporary table; the writes then touch the changed contacts only. CREATE TABLE
        AS rather than INSERT … SELECT, because PostgreSQL may plan the SELECT of a CREATE TABLE AS with parallel
        workers, as it does the plain query, never the SELECT of an INSERT."""
        holding = held.subquery("held")
        members = select(SegmentMembership.contact_id).where(SegmentMembership.segment_id == segment.id).subquery("member")
        create_changes = (
            select(
                func.coalesce(holding.c.contact_id, members.c.contact_id).label("contact_id"),
                members.c.contact_id.is_(None).label("joining"),
            )
            .select_from(holding.join(members, holding.c.contact_id == members.c.contact_id, full=True))
            .where(or_(holding.c.contact_id.is_(None), members.c.contact_id.is_(None)))
            .into(_CHANGES_TABLE, temporary=True)
        )
        changes = create_changes.table
        await self._session.execute(text(f"DROP TABLE IF EXISTS {_CHANGES_TABLE}"))
        await self._session.execute(create_changes)
        leaving = self._outbox_select(segment, changes.c.contact_id, REMOVED, batch, now).where(not_(changes.c.joining))
        removed = (await self._session.execute(insert(OutboxEvent).from_select(self._outbox_columns(), leaving))).rowcount
        if removed:
            await self._session.execute(
                delete(SegmentMembership).where(
                    SegmentMembership.segment_id == segment.id,
                    SegmentMembership.contact_id.in_(select(changes.c.contact_id).where(not_(changes.c.joining))),
                )
            )
        joining = select(
            literal(segment.id), changes.c.contact_id, literal(now, DateTime(timezone=True)), literal(batch)
        ).where(changes.c.joining)
        added = (
            await self._session.execute(
                insert(SegmentMembership).from_select(["segment_id", "contact_id", "since", "batch"], joining)
            )
        ).rowcount
        if added:
            events = self._outbox_select(segment, changes.c.contact_id, ADDED, batch, now).where(changes.c.joining)
            await self._session.execute(insert(OutboxEvent).from_select(self._outbox_columns(), events))
        # Not in a finally: after a failed statement PostgreSQL refuses every other one until the rollback, which
        # takes the table with it (CREATE TABLE is transactional), and a DROP there would hide the real error.
        await self._session.execute(text(f"DROP TABLE IF EXISTS {_CHANGES_TABLE}"))
        return RefreshCounts(added=added, removed=removed)

    async def _apply_held(self, segment: Segment, held: Select[tuple[str]], batch: str, now: datetime) -> RefreshCounts:
        """The contacts the rule holds for into a temporary table, then the membership brought to it (SQLite: FULL
        JOIN needs SQLite 3.39, newer than some systems ship)."""
        create_holds = held.into(_HOLDS_TABLE, temporary=True)
        held_table = create_holds.table
        await self._session.execute(text(f"DROP TABLE IF EXISTS {_HOLDS_TABLE}"))
        await self._session.execute(create_holds)
        held_ids = select(held_table.c.contact_id)
        leaving = self._outbox_select(segment, SegmentMembership.contact_id, REMOVED, batch, now).where(
            SegmentMembership.segment_id == segment.id, SegmentMembership.contact_id.not_in(held_ids)
        )
        removed = (await self._session.execute(insert(OutboxEvent).from_select(self._outbox_columns(), leaving))).rowcount
        if removed:
            await self._delete_removed(segment, batch)
        # What is left in the table after dropping the current members is who joins. (A NOT EXISTS against the
        # table being inserted into would make PostgreSQL scan the rows it is adding, for each row.)
        await self._session.execute(
            delete(held_table).where(
                held_table.c.contact_id.in_(
                    select(SegmentMembership.contact_id).where(SegmentMembership.segment_id == segment.id)
                )
            )
        )
        joining = select(literal(segment.id), held_table.c.contact_id, literal(now, DateTime(timezone=True)), literal(batch))
        added = (
            await self._session.execute(
                insert(SegmentMembership).from_select(["segment_id", "contact_id", "since", "batch"], joining)
            )
        ).rowcount
        if added:
            events = self._outbox_select(segment, held_table.c.contact_id, ADDED, batch, now)
            await self._session.execute(insert(OutboxEvent).from_select(self._outbox_columns(), events))
        # Not in a finally: after a failed statement PostgreSQL refuses every other one until the rollback, which
        # takes the table with it (CREATE TABLE is transactional), and a DROP there would hide the real error.
        await self._session.execute(text(f"DROP TABLE IF EXISTS {_HOLDS_TABLE}"))
        return RefreshCounts(added=added, removed=removed)

    async def _evaluate(self, segment: Segment, contact_ids: list[str] | None) -> RefreshCounts:
        now = self._clock()
        batch = new_batch()
        context = SqlContext(dialect=self._dialect(), now=now, directory_id=segment.directory_id, contact_ids=contact_ids)
        holds = rule_sql(parse_rule(segment.rule), context)
        removed = await self._remove_where_rule_fails(segment, holds, contact_ids, batch, now)
        added = await self._add_where_rule_holds(segment, holds, contact_ids, batch, now)
        return RefreshCounts(added=added, removed=removed)

    def _outbox_columns(self) -> list[str]:
        return [
            "id", "batch", "organization_id", "directory_id", "segment_id", "segment_name",
            "contact_id", "change", "occurred_at", "delivered", "attempts",
        ]  # fmt: skip

    def _outbox_select(self, segment: Segment, contact_id_column, change: str, batch: str, now: datetime):  # type: ignore[no-untyped-def]
        prefix = event_id(batch, segment.id, "")
        return select(
            literal(prefix) + contact_id_column,
            literal(batch),
            literal(self._organization_id),
            literal(segment.directory_id),
            literal(segment.id),
            literal(segment.name),
            contact_id_column,
            literal(change),
            literal(now, DateTime(timezone=True)),
            literal(False, Boolean),
            literal(0, Integer),
        )

    async def _remove_where_rule_fails(
        self, segment: Segment, holds: ColumnElement[bool], contact_ids: list[str] | None, batch: str, now: datetime
    ) -> int:
        leaving = (
            self._outbox_select(segment, SegmentMembership.contact_id, REMOVED, batch, now)
            .join(Contact, Contact.id == SegmentMembership.contact_id)
            .where(SegmentMembership.segment_id == segment.id, not_(holds))
        )
        if contact_ids is not None:
            leaving = leaving.where(SegmentMembership.contact_id.in_(contact_ids))
        result = await self._session.execute(insert(OutboxEvent).from_select(self._outbox_columns(), leaving))
        if not result.rowcount:
            return 0
        await self._delete_removed(segment, batch)
        return result.rowcount

    async def _delete_removed(self, segment: Segment, batch: str) -> None:
        """Deletes the memberships whose REMOVED events this batch wrote."""
        await self._session.execute(
            delete(SegmentMembership).where(
                SegmentMembership.segment_id == segment.id,
                SegmentMembership.contact_id.in_(
                    select(OutboxEvent.contact_id).where(
                        OutboxEvent.batch == batch, OutboxEvent.segment_id == segment.id, OutboxEvent.change == REMOVED
                    )
                ),
            )
        )

    async def _add_where_rule_holds(
        self, segment: Segment, holds: ColumnElement[bool], contact_ids: list[str] | None, batch: str, now: datetime
    ) -> int:
        joining = select(literal(segment.id), Contact.id, literal(now, DateTime(timezone=True)), literal(batch)).where(
            Contact.directory_id == segment.directory_id,
            holds,
            not_(exists().where(SegmentMembership.segment_id == segment.id, SegmentMembership.contact_id == Contact.id)),
            not_(exists().where(SegmentOptOut.segment_id == segment.id, SegmentOptOut.contact_id == Contact.id)),
        )
        if contact_ids is not None:
            joining = joining.where(Contact.id.in_(contact_ids))
        return await self._insert_added(segment, joining, batch, now)

    async def _insert_added(self, segment: Segment, joining, batch: str, now: datetime) -> int:  # type: ignore[no-untyped-def]
        """Inserts the (segment, contact, since, batch) rows `joining` selects, then their ADDED events."""
        result = await self._session.execute(
            insert(SegmentMembership).from_select(["segment_id", "contact_id", "since", "batch"], joining)
        )
        if not result.rowcount:
            return 0
        added = self._outbox_select(segment, SegmentMembership.contact_id, ADDED, batch, now).where(
            SegmentMembership.segment_id == segment.id, SegmentMembership.batch == batch
        )
        await self._session.execute(insert(OutboxEvent).from_select(self._outbox_columns(), added))
        return result.rowcount

    async def removed_with_contact(self, directory_id: str, contact_id: str) -> None:
        """Before a contact is deleted: a REMOVED event for every segment it is in (the rows cascade away)."""
        batch = new_batch()
        now = self._clock()
        rows = (
            (
                await self._session.execute(
                    select(Segment)
                    .join(SegmentMembership, SegmentMembership.segment_id == Segment.id)
                    .where(SegmentMembership.contact_id == contact_id, Segment.directory_id == directory_id)
                )
            )
            .scalars()
            .all()
        )
        for segment in rows:
            self._session.add(self._event(segment, contact_id, REMOVED, batch, now))
        await self._session.flush()

    async def opt_out(self, segment: Segment, contact_id: str) -> None:
        """Records the opt-out (idempotent); a member leaves with OPTED_OUT as the change."""
        if await self._opted_out(segment.id, contact_id):
            return
        now = self._clock()
        self._session.add(SegmentOptOut(segment_id=segment.id, contact_id=contact_id, created_at=now))
        await self._session.execute(
            delete(SegmentMembership).where(
                SegmentMembership.segment_id == segment.id, SegmentMembership.contact_id == contact_id
            )
        )
        self._session.add(self._event(segment, contact_id, OPTED_OUT, new_batch(), now))
        await self._session.flush()

    async def opt_in(self, segment: Segment, contact_id: str) -> None:
        """Lifts an opt-out (idempotent) with an OPTED_IN event; the contact joins at once when the rule holds."""
        if not await self._opted_out(segment.id, contact_id):
            return
        await self._session.execute(
            delete(SegmentOptOut).where(SegmentOptOut.segment_id == segment.id, SegmentOptOut.contact_id == contact_id)
        )
        self._session.add(self._event(segment, contact_id, OPTED_IN, new_batch(), self._clock()))
        await self._session.flush()
        await self._evaluate(segment, [contact_id])

    async def _opted_out(self, segment_id: str, contact_id: str) -> bool:
        found = await self._session.execute(
            select(SegmentOptOut.contact_id).where(SegmentOptOut.segment_id == segment_id, SegmentOptOut.contact_id == contact_id)
        )
        return found.first() is not None

    async def state(self, segment_id: str, contact_id: str) -> tuple[bool, bool]:
        """(member, opted out) as stored."""
        member = (
            await self._session.execute(
                select(SegmentMembership.contact_id).where(
                    SegmentMembership.segment_id == segment_id, SegmentMembership.contact_id == contact_id
                )
            )
        ).first() is not None
        return member, await self._opted_out(segment_id, contact_id)

    def _event(self, segment: Segment, contact_id: str, change: str, batch: str, now: datetime) -> OutboxEvent:
        return OutboxEvent(
            id=event_id(batch, segment.id, contact_id),
            batch=batch,
            organization_id=self._organization_id,
            directory_id=segment.directory_id,
            segment_id=segment.id,
            segment_name=segment.name,
            contact_id=contact_id,
            change=change,
            occurred_at=now,
            delivered=False,
            attempts=0,
        )
