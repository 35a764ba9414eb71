"""Queries and writes of the directory's database; takes an AsyncSession, scopes by organization, never commits."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    JSON,
    ColumnElement,
    Integer,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy import column as sql_column
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import generate_api_token, hash_token, tokens_equal
from services.directory import ids
from services.directory.contacts import ContactWrite, apply_write, normalized_identity
from services.directory.dedup import identity_keys
from services.directory.errors import (
    ContactNotFound,
    DirectoryIdTaken,
    DirectoryNotFound,
    MailingListIdTaken,
    MailingListNotFound,
    OrganizationNotFound,
)
from services.directory.membership import Clock, MembershipEngine
from services.directory.models import (
    ApiToken,
    Contact,
    ContactIdentityKey,
    Directory,
    MailingList,
    MailingListMembership,
    Organization,
    SegmentMembership,
    utc_now,
)
from services.directory.pagination import Page, PagePosition, encode_token
from services.directory.search import ContactCondition, condition_sql

T = TypeVar("T")


@dataclass(frozen=True)
class PageOf(Generic[T]):
    items: list[T]
    next_page_token: str


@dataclass(frozen=True)
class CountedDirectory:
    directory: Directory
    contact_count: int


@dataclass(frozen=True)
class ListedContact:
    contact: Contact
    mailing_list_ids: list[str]
    segment_ids: list[str]


_CONTACT_COLUMNS = tuple(column.key for column in Contact.__table__.columns)
# What a batch update writes back: everything apply_write may change (never the id, directory or creation time).
_UPDATED_COLUMNS = tuple(column for column in _CONTACT_COLUMNS if column not in ("id", "directory_id", "created_at"))
_contact_values = attrgetter(*_CONTACT_COLUMNS)
_updated_values = attrgetter(*_UPDATED_COLUMNS)


class ContactRow:
    """A contact on the batch path, a new one before its insert or a stored one before its update: the attributes
    apply_write sets, without ORM bookkeeping (a batch writes them back with one multi-row statement)."""

    __slots__ = _CONTACT_COLUMNS

    @classmethod
    def new(cls, id: str, directory_id: str, created_at: datetime) -> ContactRow:
        fresh = cls()
        for column in _CONTACT_COLUMNS:
            setattr(fresh, column, None)
        fresh.id = id
        fresh.directory_id = directory_id
        fresh.unsubscribed = False
        fresh.embedded_data = {}
        fresh.created_at = created_at
        fresh.updated_at = created_at
        return fresh

    @classmethod
    def stored(cls, row: Mapping[str, Any]) -> ContactRow:
        loaded = cls()
        for column in _CONTACT_COLUMNS:
            setattr(loaded, column, row[column])
        return loaded

    def row(self) -> dict[str, object]:
        return dict(zip(_CONTACT_COLUMNS, _contact_values(self), strict=True))

    def changes(self) -> dict[str, object]:
        """The parameters of the batch UPDATE: the contact's id and every column a write may change."""
        return {"contact_id": self.id, **dict(zip(_UPDATED_COLUMNS, _updated_values(self), strict=True))}


@dataclass(frozen=True)
class UpsertOutcome:
    contact_id: str
    created: bool


class OrganizationRepository:
    """Organizations and their API tokens (tokens are stored as SHA-256 hashes only)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def create_organization(self, name: str, chosen_id: str | None) -> Organization:
        if chosen_id:
            existing = await self._session.get(Organization, chosen_id)
            if existing is not None:
                return existing
        organization = Organization(id=chosen_id or ids.new_id(ids.ORGANIZATION_PREFIX), name=name, created_at=utc_now())
        self._session.add(organization)
        await self._session.flush()
        return organization

    async def get_organization(self, organization_id: str) -> Organization:
        organization = await self._session.get(Organization, organization_id)
        if organization is None:
            raise OrganizationNotFound(organization_id)
        return organization

    async def create_api_token(self, organization_id: str, name: str) -> tuple[ApiToken, str]:
        """Returns the stored token and the plain token, which is never stored."""
        await self.get_organization(organization_id)
        plain = generate_api_token()
        token = ApiToken(
            id=ids.new_id(ids.API_TOKEN_PREFIX),
            organization_id=organization_id,
            name=name,
            token_hash=hash_token(plain),
            created_at=utc_now(),
        )
        self._session.add(token)
        await self._session.flush()
        return token, plain

    async def resolve_api_token(self, plain: str) -> str | None:
        wanted = hash_token(plain)
        row = (
            await self._session.execute(
                select(ApiToken.token_hash, ApiToken.organization_id).where(ApiToken.token_hash == wanted)
            )
        ).first()
        # The index lookup already matched; the constant-time compare keeps the final check timing-neutral.
        if row is None or not tokens_equal(row.token_hash, wanted):
            return None
        return row.organization_id

    async def list_organizations(self, page: Page) -> PageOf[Organization]:
        items = list((await self._session.execute(_paged(select(Organization), Organization, page))).scalars().all())
        return _page_of(items, page, lambda item: item)


class DirectoryRepository:
    """Directories, contacts and mailing lists of one organization; every query is scoped to it."""

    def __init__(self, session: AsyncSession, organization_id: str, clock: Clock = utc_now) -> None:
        self._session = session
        self._organization_id = organization_id
        self._clock = clock

    def membership(self) -> MembershipEngine:
        return MembershipEngine(self._session, self._organization_id, self._clock)

    # Directories

    async def create_directory(
        self, name: str, dedup_rules: list[list[str]], is_default: bool, chosen_id: str | None
    ) -> CountedDirectory:
        if chosen_id:
            existing = await self._session.get(Directory, chosen_id)
            if existing is not None:
                if existing.organization_id != self._organization_id:
                    raise DirectoryIdTaken(chosen_id)
                return await self.get_directory(chosen_id)
        if is_default:
            # One default directory per organization, as in XM Directory: the newest default wins.
            await self._session.execute(
                update(Directory).where(Directory.organization_id == self._organization_id).values(is_default=False)
            )
        directory = Directory(
            id=chosen_id or ids.new_id(ids.DIRECTORY_PREFIX),
            organization_id=self._organization_id,
            name=name,
            is_default=is_default,
            dedup_rules=dedup_rules,
            created_at=utc_now(),
        )
        self._session.add(directory)
        await self._session.flush()
        return CountedDirectory(directory, 0)

    async def get_directory(self, directory_id: str) -> CountedDirectory:
        row = (await self._session.execute(self._counted_directories().where(Directory.id == directory_id))).first()
        if row is None:
            raise DirectoryNotFound(directory_id)
        return CountedDirectory(row[0], row[1])

    async def list_directories(self, page: Page) -> PageOf[CountedDirectory]:
        query = self._counted_directories()
        rows = (await self._session.execute(_paged(query, Directory, page))).all()
        return _page_of([CountedDirectory(row[0], row[1]) for row in rows], page, lambda item: item.directory)

    def _counted_directories(self):  # type: ignore[no-untyped-def]
        contact_count = (
            select(func.count(Contact.id)).where(Contact.directory_id == Directory.id).correlate(Directory).scalar_subquery()
        )
        return select(Directory, contact_count).where(Directory.organization_id == self._organization_id)

    async def directory(self, directory_id: str) -> Directory:
        """The directory, if it is the organization's (NOT_FOUND otherwise, as for a missing one)."""
        return await self._directory(directory_id)

    async def _directory(self, directory_id: str) -> Directory:
        directory = (
            await self._session.execute(
                select(Directory).where(Directory.id == directory_id, Directory.organization_id == self._organization_id)
            )
        ).scalar_one_or_none()
        if directory is None:
            raise DirectoryNotFound(directory_id)
        return directory

    # Contacts

    async def upsert_contact(self, directory_id: str, write: ContactWrite) -> UpsertOutcome:
        """Updates the contact the first matching dedup rule finds, else creates one.

        A new contact's identity keys are inserted in the same transaction; when a concurrent writer created
        the same person first, that insert raises IntegrityError and the caller retries the whole upsert,
        which then finds the person and becomes an update.
        """
        directory = await self._directory(directory_id)
        rules = directory.dedup_rules or []
        incoming_keys = identity_keys(rules, write.normalized_identity())
        match = await self._match(directory_id, incoming_keys)
        if match is None:
            now = utc_now()
            contact = Contact(
                id=ids.new_id(ids.CONTACT_PREFIX),
                directory_id=directory_id,
                unsubscribed=False,
                embedded_data={},
                created_at=now,
            )
            apply_write(contact, write)
            self._session.add(contact)
            await self._session.flush()  # the contact row first: identity keys reference it
            self._session.add_all(
                ContactIdentityKey(directory_id=directory_id, rule_index=index, key=key, contact_id=contact.id)
                for index, key in identity_keys(rules, normalized_identity(contact))
            )
            await self._session.flush()
            await self.membership().reevaluate_contacts(directory_id, [contact.id])
            return UpsertOutcome(contact.id, created=True)

        await self._update(directory_id, match, write, rules)
        return UpsertOutcome(match, created=False)

    async def upsert_contacts(self, directory_id: str, writes: Sequence[ContactWrite]) -> list[UpsertOutcome]:
        """upsert_contact for a batch, set-based: one lookup of every identity key, bulk inserts of the new contacts
        and their keys, one multi-row update of the matched ones, one membership re-evaluation. Entries apply in
        order, so a later entry that matches an earlier one (new or stored) merges into it."""
        directory = await self._directory(directory_id)
        rules = directory.dedup_rules or []
        incoming = [identity_keys(rules, write.normalized_identity()) for write in writes]
        owners = await self._owners(directory_id, {key for keys in incoming for key in keys})
        stored = await self._lock_and_load(directory_id, set(owners.values()))
        created: dict[str, ContactRow] = {}
        updated: dict[str, ContactRow] = {}
        outcomes: list[UpsertOutcome] = []
        now = utc_now()
        for write, keys in zip(writes, incoming, strict=True):
            match = next((owners[key] for key in keys if key in owners), None)
            if match is None:
                fresh = ContactRow.new(ids.new_id(ids.CONTACT_PREFIX), directory_id, now)
                apply_write(fresh, write)  # type: ignore[arg-type]
                created[fresh.id] = fresh
                new_keys = keys  # a new contact holds exactly the values written
                contact_id = fresh.id
            else:
                contact = created.get(match) or stored[match]
                if match in stored:
                    updated[match] = contact
                apply_write(contact, write)  # type: ignore[arg-type]
                new_keys = identity_keys(rules, normalized_identity(contact))  # type: ignore[arg-type]
                contact_id = match
            for key in new_keys:
                owners.setdefault(key, contact_id)  # a key another contact owns stays that contact's
            outcomes.append(UpsertOutcome(contact_id, created=match is None))
        if created:
            await self._insert_contacts(list(created.values()))
            key_rows = [(index, key, owner) for (index, key), owner in owners.items() if owner in created]
            await self._insert_identity_keys(directory_id, key_rows)
        if updated:
            table = Contact.__table__
            await self._session.execute(
                update(table)
                .where(table.c.id == bindparam("contact_id"))
                .values({column: bindparam(column) for column in _UPDATED_COLUMNS}),
                [contact.changes() for contact in updated.values()],
            )
            await self._replace_identity_keys_of(directory_id, list(updated.values()), rules)
        await self.membership().reevaluate_contacts(directory_id, [*created, *updated])
        return outcomes

    async def _insert_contacts(self, contacts: list[ContactRow]) -> None:
        table = Contact.__table__
        if self._dialect() != "postgresql":
            await self._session.execute(insert(table), [contact.row() for contact in contacts])
            return
        # One INSERT … SELECT over one JSON document of the rows (json_populate_recordset maps its keys onto the
        # columns): a single execution instead of one per row, and a single parameter for the driver to encode.
        columns = ", ".join(_CONTACT_COLUMNS)
        await self._session.execute(
            text(f"INSERT INTO contacts ({columns}) SELECT {columns} FROM json_populate_recordset(NULL::contacts, :rows)"),
            {"rows": json.dumps([contact.row() for contact in contacts], default=datetime.isoformat)},
        )

    async def _insert_identity_keys(self, directory_id: str, rows: list[tuple[int, str, str]]) -> None:
        """Inserts (rule index, key, contact id) rows; a key already stored raises IntegrityError (a lost race)."""
        if not rows:
            return
        if self._dialect() == "postgresql":
            # As for the contacts: one statement over one JSON document of the rows.
            document = [
                {"directory_id": directory_id, "rule_index": index, "key": key, "contact_id": owner} for index, key, owner in rows
            ]
            await self._session.execute(
                text(
                    "INSERT INTO contact_identity_keys (directory_id, rule_index, key, contact_id)"
                    " SELECT directory_id, rule_index, key, contact_id"
                    " FROM json_populate_recordset(NULL::contact_identity_keys, :rows)"
                ),
                {"rows": json.dumps(document)},
            )
            return
        # Plain strings and integers, handed to the driver's executemany as tuples: SQLAlchemy's per-row parameter
        # processing cost more than SQLite's insert itself (two keys per contact with two rules).
        connection = await self._session.connection()
        await connection.exec_driver_sql(
            "INSERT INTO contact_identity_keys (directory_id, rule_index, key, contact_id) VALUES (?, ?, ?, ?)",
            [(directory_id, index, key, owner) for index, key, owner in rows],
        )

    async def _replace_identity_keys_of(
        self, directory_id: str, contacts: list[ContactRow], rules: Sequence[Sequence[str]]
    ) -> None:
        """_replace_identity_keys for many contacts with one read, one delete and one insert."""
        wanted = {
            (index, key, contact.id) for contact in contacts for index, key in identity_keys(rules, normalized_identity(contact))
        }  # type: ignore[arg-type]
        owned: set[tuple[int, str, str]] = set()
        contact_ids = [contact.id for contact in contacts]
        for start in range(0, len(contact_ids), 500):
            rows = await self._session.execute(
                select(ContactIdentityKey.rule_index, ContactIdentityKey.key, ContactIdentityKey.contact_id).where(
                    ContactIdentityKey.contact_id.in_(contact_ids[start : start + 500])
                )
            )
            owned.update((row.rule_index, row.key, row.contact_id) for row in rows)
        stale = owned - wanted
        if stale:
            table = ContactIdentityKey.__table__
            await self._session.execute(
                delete(table).where(
                    table.c.directory_id == directory_id,
                    table.c.rule_index == bindparam("stale_rule_index"),
                    table.c.key == bindparam("stale_key"),
                ),
                [{"stale_rule_index": index, "stale_key": key} for index, key, _ in sorted(stale)],
            )
        missing = sorted(wanted - owned)
        if missing:
            upsert = sqlite_insert if self._dialect() == "sqlite" else postgresql_insert
            await self._session.execute(
                upsert(ContactIdentityKey)
                .values([{"directory_id": directory_id, "rule_index": i, "key": k, "contact_id": c} for i, k, c in missing])
                .on_conflict_do_nothing()
            )

    async def _owners(self, directory_id: str, keys: set[tuple[int, str]]) -> dict[tuple[int, str], str]:
        """(rule index, key) -> contact id for the stored keys among these, looked up on the primary key."""
        if not keys:
            return {}
        if self._dialect() == "postgresql":
            # The wanted pairs (one JSON document of them), each probed on the primary key: the cost follows the batch,
            # not the table. (key = ANY($1) was planned as a sequential scan comparing every
            # stored key with every wanted one once the plan was generic: ~90 ms a call at 20,000 keys.)
            wanted = [{"rule_index": index, "key": key} for index, key in sorted(keys)]
            given = (
                func.json_to_recordset(bindparam("wanted", wanted, type_=JSON))
                .table_valued(sql_column("rule_index", Integer), sql_column("key", String))
                .render_derived(with_types=True)
            )
            # LATERAL … LIMIT 1 (the primary key allows one row anyway) keeps PostgreSQL from flattening the probe into
            # a hash join, which it picks while the table's statistics lag behind its growth: that scans every key of
            # the directory (90 ms at 200,000 keys) where the probes take 10 ms.
            owner = (
                select(ContactIdentityKey.contact_id)
                .where(
                    ContactIdentityKey.directory_id == directory_id,
                    ContactIdentityKey.rule_index == given.c.rule_index,
                    ContactIdentityKey.key == given.c.key,
                )
                .limit(1)
                .lateral("owner")
            )
            rows = await self._session.execute(
                select(given.c.rule_index, given.c.key, owner.c.contact_id).select_from(given.join(owner, true()))
            )
            return {(row.rule_index, row.key): row.contact_id for row in rows}
        owners: dict[tuple[int, str], str] = {}
        by_rule: dict[int, list[str]] = {}
        for index, key in sorted(keys):
            by_rule.setdefault(index, []).append(key)
        for index, wanted_keys in by_rule.items():
            for start in range(0, len(wanted_keys), 1000):
                rows = await self._session.execute(
                    select(ContactIdentityKey.key, ContactIdentityKey.contact_id).where(
                        ContactIdentityKey.directory_id == directory_id,
                        ContactIdentityKey.rule_index == index,
                        ContactIdentityKey.key.in_(wanted_keys[start : start + 1000]),
                    )
                )
                owners.update({(index, row.key): row.contact_id for row in rows})
        return owners

    async def _lock_and_load(self, directory_id: str, contact_ids: set[str]) -> dict[str, ContactRow]:
        """The stored contacts a batch will update, locked (as a single upsert does) so merges never clobber: the
        UPDATE takes the row locks and RETURNING reads the rows as they are once locked, in one statement."""
        if not contact_ids:
            return {}
        table = Contact.__table__
        rows = await self._session.execute(
            update(table)
            .where(table.c.id.in_(sorted(contact_ids)), table.c.directory_id == directory_id)
            .values(updated_at=utc_now())
            .returning(*table.c)
        )
        return {row.id: ContactRow.stored(row) for row in rows.mappings()}

    async def update_contact(self, directory_id: str, contact_id: str, write: ContactWrite) -> ListedContact:
        """A partial update by id; identity keys follow the new values (keys another contact owns stay its own)."""
        directory = await self._directory(directory_id)
        await self._update(directory_id, contact_id, write, directory.dedup_rules or [])
        return await self.get_contact(directory_id, contact_id)

    async def _update(self, directory_id: str, contact_id: str, write: ContactWrite, rules: Sequence[Sequence[str]]) -> None:
        # Writing first takes the row lock on PostgreSQL and the write lock on SQLite (whose driver only begins a
        # transaction at the first write), so the read below sees the latest merge and concurrent merges never clobber.
        locked = await self._session.execute(
            update(Contact).where(Contact.id == contact_id, Contact.directory_id == directory_id).values(updated_at=utc_now())
        )
        if not locked.rowcount:
            raise ContactNotFound(contact_id)
        contact = (
            await self._session.execute(select(Contact).where(Contact.id == contact_id).execution_options(populate_existing=True))
        ).scalar_one()
        apply_write(contact, write)
        await self._session.flush()
        await self._replace_identity_keys(contact, rules)
        await self.membership().reevaluate_contacts(directory_id, [contact_id])

    async def delete_contact(self, directory_id: str, contact_id: str) -> None:
        """Deletes the contact; its identity keys, transactions, list and segment memberships cascade with it."""
        await self._directory(directory_id)
        locked = await self._session.execute(
            update(Contact).where(Contact.id == contact_id, Contact.directory_id == directory_id).values(updated_at=utc_now())
        )
        if not locked.rowcount:
            raise ContactNotFound(contact_id)
        await self.membership().removed_with_contact(directory_id, contact_id)
        await self._session.execute(delete(Contact).where(Contact.id == contact_id))

    async def existing_contacts(self, directory_id: str, contact_ids: Sequence[str]) -> set[str]:
        """Which of these ids are contacts of the directory."""
        if not contact_ids:
            return set()
        rows = await self._session.execute(
            select(Contact.id).where(Contact.directory_id == directory_id, Contact.id.in_(list(set(contact_ids))))
        )
        return set(rows.scalars().all())

    async def _match(self, directory_id: str, keys: list[tuple[int, str]]) -> str | None:
        """The contact owning the first (in rule order) of keys, if any."""
        if not keys:
            return None
        rows = (
            await self._session.execute(
                select(ContactIdentityKey.rule_index, ContactIdentityKey.key, ContactIdentityKey.contact_id).where(
                    ContactIdentityKey.directory_id == directory_id,
                    ContactIdentityKey.key.in_([key for _, key in keys]),
                )
            )
        ).all()
        owners = {(row.rule_index, row.key): row.contact_id for row in rows}
        for rule_key in keys:
            if rule_key in owners:
                return owners[rule_key]
        return None

    async def _replace_identity_keys(self, contact: Contact, rules: Sequence[Sequence[str]]) -> None:
        """Keys follow the contact's current values. A key another contact already owns stays with that contact,
        so a lookup always finds the same contact for the same values."""
        wanted = set(identity_keys(rules, normalized_identity(contact)))
        owned = {
            (row.rule_index, row.key)
            for row in (
                await self._session.execute(
                    select(ContactIdentityKey.rule_index, ContactIdentityKey.key).where(
                        ContactIdentityKey.contact_id == contact.id
                    )
                )
            ).all()
        }
        for rule_index, key in owned - wanted:
            await self._session.execute(
                delete(ContactIdentityKey).where(
                    ContactIdentityKey.directory_id == contact.directory_id,
                    ContactIdentityKey.rule_index == rule_index,
                    ContactIdentityKey.key == key,
                )
            )
        missing = wanted - owned
        if missing:
            insert = sqlite_insert if self._dialect() == "sqlite" else postgresql_insert
            await self._session.execute(
                insert(ContactIdentityKey)
                .values(
                    [
                        {"directory_id": contact.directory_id, "rule_index": index, "key": key, "contact_id": contact.id}
                        for index, key in sorted(missing)
                    ]
                )
                .on_conflict_do_nothing()
            )

    async def get_contact(self, directory_id: str, contact_id: str) -> ListedContact:
        await self._directory(directory_id)
        contact = (
            await self._session.execute(select(Contact).where(Contact.id == contact_id, Contact.directory_id == directory_id))
        ).scalar_one_or_none()
        if contact is None:
            raise ContactNotFound(contact_id)
        return (await self._with_memberships([contact]))[0]

    async def search_contacts(self, directory_id: str, condition: ContactCondition | None, page: Page) -> PageOf[ListedContact]:
        await self._directory(directory_id)
        query = select(Contact).where(Contact.directory_id == directory_id, condition_sql(condition, self._dialect()))
        contacts = list((await self._session.execute(_paged(query, Contact, page))).scalars().all())
        listed = await self._with_memberships(contacts)
        return _page_of(listed, page, lambda item: item.contact)

    async def _with_memberships(self, contacts: list[Contact]) -> list[ListedContact]:
        lists: dict[str, list[str]] = {contact.id: [] for contact in contacts}
        segments: dict[str, list[str]] = {contact.id: [] for contact in contacts}
        if contacts:
            rows = await self._session.execute(
                select(MailingListMembership.contact_id, MailingListMembership.mailing_list_id)
                .where(MailingListMembership.contact_id.in_(list(lists)))
                .order_by(MailingListMembership.mailing_list_id)
            )
            for contact_id, mailing_list_id in rows.all():
                lists[contact_id].append(mailing_list_id)
            rows = await self._session.execute(
                select(SegmentMembership.contact_id, SegmentMembership.segment_id)
                .where(SegmentMembership.contact_id.in_(list(segments)))
                .order_by(SegmentMembership.segment_id)
            )
            for contact_id, segment_id in rows.all():
                segments[contact_id].append(segment_id)
        return [ListedContact(contact, lists[contact.id], segments[contact.id]) for contact in contacts]

    # Mailing lists

    async def create_mailing_list(self, directory_id: str, name: str, chosen_id: str | None) -> MailingList:
        await self._directory(directory_id)
        if chosen_id:
            existing = await self._session.get(MailingList, chosen_id)
            if existing is not None:
                if existing.directory_id != directory_id:
                    raise MailingListIdTaken(chosen_id)
                return existing
        mailing_list = MailingList(
            id=chosen_id or ids.new_id(ids.MAILING_LIST_PREFIX), directory_id=directory_id, name=name, created_at=utc_now()
        )
        self._session.add(mailing_list)
        await self._session.flush()
        return mailing_list

    async def list_mailing_lists(self, directory_id: str, page: Page) -> PageOf[MailingList]:
        await self._directory(directory_id)
        query = select(MailingList).where(MailingList.directory_id == directory_id)
        items = list((await self._session.execute(_paged(query, MailingList, page))).scalars().all())
        return _page_of(items, page, lambda item: item)

    async def mailing_list(self, directory_id: str, mailing_list_id: str) -> MailingList:
        await self._directory(directory_id)
        mailing_list = (
            await self._session.execute(
                select(MailingList).where(MailingList.id == mailing_list_id, MailingList.directory_id == directory_id)
            )
        ).scalar_one_or_none()
        if mailing_list is None:
            raise MailingListNotFound(mailing_list_id)
        return mailing_list

    async def change_mailing_list_members(
        self, directory_id: str, mailing_list_id: str, contact_ids: Sequence[str], add: bool
    ) -> int:
        """Adds (or removes) contacts to a list; every id must be a contact of the directory. Returns the rows changed."""
        await self.mailing_list(directory_id, mailing_list_id)
        wanted = list(dict.fromkeys(contact_ids))
        missing = set(wanted) - await self.existing_contacts(directory_id, wanted)
        if missing:
            raise ContactNotFound(min(missing))
        if not wanted:
            return 0
        if add:
            insert = sqlite_insert if self._dialect() == "sqlite" else postgresql_insert
            now = utc_now()
            result = await self._session.execute(
                insert(MailingListMembership)
                .values([{"mailing_list_id": mailing_list_id, "contact_id": cid, "created_at": now} for cid in wanted])
                .on_conflict_do_nothing()
            )
        else:
            result = await self._session.execute(
                delete(MailingListMembership).where(
                    MailingListMembership.mailing_list_id == mailing_list_id,
                    MailingListMembership.contact_id.in_(wanted),
                )
            )
        if result.rowcount:
            await self.membership().reevaluate_contacts(directory_id, wanted)
        return max(result.rowcount, 0)

    def _dialect(self) -> str:
        return self._session.get_bind().dialect.name


def _paged(query, model, page: Page):  # type: ignore[no-untyped-def]
    """Orders by (created_at, id) and fetches one row more than the page, to know whether another page follows."""
    if page.after is not None:
        query = query.where(_after(model, page.after))
    return query.order_by(model.created_at, model.id).limit(page.size + 1)


def _after(model, position: PagePosition) -> ColumnElement[bool]:  # type: ignore[no-untyped-def]
    return or_(
        model.created_at > position.created_at,
        and_(model.created_at == position.created_at, model.id > position.id),
    )


def _page_of(items: list[T], page: Page, row_of) -> PageOf[T]:  # type: ignore[no-untyped-def]
    if len(items) <= page.size:
        return PageOf(items, "")
    items = items[: page.size]
    last = row_of(items[-1])
    return PageOf(items, encode_token(PagePosition(last.created_at, last.id)))
