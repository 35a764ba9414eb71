"""Queries and writes of the directory's database; takes an AsyncSession, scopes by organization, never commits."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from operator import attrgetter
from typing import Any, Generic, NamedTuple, TypeVar

import orjson
from sqlalchemy import (
    Boolean,
    ColumnElement,
    DateTime,
    Dialect,
    and_,
    bindparam,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy import column as sql_column
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import TextualSelect

from services.common.auth import generate_api_token, hash_token, tokens_equal
from services.directory import ids
from services.directory.contacts import ContactWrite, apply_write, normalized_identity
from services.directory.dedup import IdentityKeys
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
    DEDUP_KEY_COLUMNS,
    ApiToken,
    Contact,
    Directory,
    MailingList,
    MailingListMembership,
    Organization,
    Segment,
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
_UPDATED_POSITIONS = tuple(_CONTACT_COLUMNS.index(column) for column in _UPDATED_COLUMNS)
_KEY_POSITIONS = frozenset(_CONTACT_COLUMNS.index(column) for column in DEDUP_KEY_COLUMNS)
_COLUMN_LIST = ", ".join(_CONTACT_COLUMNS)


# Statements of the bulk upsert, built once and of table columns rather than ORM attributes: building and compiling
# them on each write cost more than running them.
_DEDUP_RULES = select(Directory.__table__.c.dedup_rules).where(
    Directory.__table__.c.id == bindparam("target_directory"),
    Directory.__table__.c.organization_id == bindparam("target_organization"),
)
# One INSERT … SELECT over one JSON document of the rows (json_populate_recordset maps its keys onto the columns): a
# single execution instead of one per row, and a single parameter for the driver to encode. (One array per column
# through unnest cost the driver five times the CPU.)
_INSERT_FROM_JSON = text(
    f"INSERT INTO contacts ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM json_populate_recordset(NULL::contacts, :rows)"
)
# The stored contacts of a batch written back by one UPDATE from one JSON document of their rows, as the insert does
# (one UPDATE per row cost the driver ~40 us of CPU each). The contacts are found by primary key, = ANY of the
# document's ids (the one index that can take it): joined to the document alone, the planner scanned the table while
# its statistics lagged behind its growth.
_UPDATE_FROM_JSON = text(
    "WITH written AS MATERIALIZED (SELECT * FROM json_populate_recordset(NULL::contacts, :rows))"
    f" UPDATE contacts SET {', '.join(f'{column} = written.{column}' for column in _UPDATED_COLUMNS)} FROM written"
    " WHERE contacts.id = ANY(ARRAY(SELECT id FROM written)) AND contacts.id = written.id"
)
_HAS_SEGMENTS = select(exists().where(Segment.__table__.c.directory_id == bindparam("directory_id")))
# Written out: SQLAlchemy renders RETURNING's columns unqualified, and the subquery's "id" would be the segment's.
_LOCK_DIRECTORY = text(
    "UPDATE directories SET name = name WHERE id = :target_directory AND organization_id = :target_organization"
    " RETURNING dedup_rules, EXISTS (SELECT 1 FROM segments WHERE segments.directory_id = directories.id) AS has_segments"
).columns(Directory.__table__.c.dedup_rules, sql_column("has_segments", Boolean))


@dataclass(slots=True, eq=False)
class ContactRow:
    """A contact on the write path, a new one before its insert or a stored one before its update: the attributes
    apply_write sets, without ORM bookkeeping (a batch writes them back with one multi-row statement). The fields are
    the contacts table's columns in table order, so a row read from the table builds one positionally; a dataclass,
    so orjson writes a batch of them as one JSON document without a dict per contact."""

    id: str | None = None
    directory_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    ext_ref: str | None = None
    language: str | None = None
    unsubscribed: bool | None = None
    embedded_data: dict[str, Any] | None = None
    first_name_normalized: str | None = None
    last_name_normalized: str | None = None
    email_normalized: str | None = None
    phone_normalized: str | None = None
    ext_ref_normalized: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    dedup_key_1: str | None = None
    dedup_key_2: str | None = None
    dedup_key_3: str | None = None

    @classmethod
    def created_by(
        cls, write: ContactWrite, id: str, directory_id: str, now: datetime, keys: Iterable[tuple[int, str]]
    ) -> ContactRow:
        """A new contact holding what the write gives and these identity keys: apply_write on an empty contact, in
        one step (this runs once per new contact of a bulk upsert)."""
        normalized = write.normalized_identity()
        fresh = cls(
            id,
            directory_id,
            write.first_name,
            write.last_name,
            write.email,
            write.phone,
            write.ext_ref,
            write.language,
            bool(write.unsubscribed),
            write.embedded_data,  # never changed in place: apply_write merges into a new dict
            normalized["firstName"],
            normalized["lastName"],
            normalized["email"],
            normalized["phone"],
            normalized["extRef"],
            now,
            now,
        )
        for index, key in keys:
            setattr(fresh, DEDUP_KEY_COLUMNS[index], key)
        return fresh

    @classmethod
    def read(cls, values: Sequence[Any], loaders: Sequence[tuple[int, Callable[[Any], Any]]]) -> ContactRow:
        """A contact from a driver's row of _CONTACT_COLUMNS, converted as the column types read them."""
        converted = list(values)
        for index, load in loaders:
            converted[index] = load(converted[index])
        return cls(*converted)

    def row(self) -> dict[str, object]:
        return dict(zip(_CONTACT_COLUMNS, _contact_values(self), strict=True))

    def bound(self, binders: Sequence[tuple[int, Callable[[Any], Any]]]) -> tuple[object, ...]:
        """The column values in _CONTACT_COLUMNS order, as their types bind them for the driver."""
        values = list(_contact_values(self))
        for index, bind in binders:
            value = values[index]
            if value is not None:
                values[index] = bind(value)
        return tuple(values)


@lru_cache(maxsize=8)
def _row_binders(dialect: Dialect) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
    """(column position, bind processor) of the contact columns whose type converts values for this dialect's driver."""
    binders: list[tuple[int, Callable[[Any], Any]]] = []
    for index, column in enumerate(Contact.__table__.columns):
        bind = column.type.dialect_impl(dialect).bind_processor(dialect)
        if bind is not None:
            binders.append((index, _remembering(bind) if isinstance(column.type, DateTime) else bind))
    return tuple(binders)


@lru_cache(maxsize=8)
def _row_loaders(dialect: Dialect) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
    """(column position, result processor) of the contact columns whose type converts what this dialect's driver reads."""
    loaders: list[tuple[int, Callable[[Any], Any]]] = []
    for index, column in enumerate(Contact.__table__.columns):
        load = column.type.dialect_impl(dialect).result_processor(dialect, None)
        if load is not None:
            loaders.append((index, load))
    return tuple(loaders)


@lru_cache(maxsize=16)
def _postgresql_holder_lookup(rule_indexes: tuple[int, ...], lock: bool) -> TextualSelect:
    """The contacts holding any of the keys given for these rules (:keys_<rule index>, comma-separated) in
    :directory_id, built once per shape (which rules, whether to lock) instead of on each write.

    Each wanted key is probed on its rule's unique index (LATERAL … LIMIT 1): the cost follows the batch, not the
    table. (key = ANY($1) was planned as a sequential scan once the plan was generic, and a plain join as a hash join
    over the whole directory while the table's statistics lag behind its growth.) The directory is checked outside the
    probe: inside, stale statistics made a (directory_id, …) index look better than the key's."""
    found = " UNION ALL ".join(
        f"SELECT holder.id FROM unnest(string_to_array(:keys_{index}, ',')) AS wanted(key)"
        f" CROSS JOIN LATERAL (SELECT id, directory_id FROM contacts WHERE {DEDUP_KEY_COLUMNS[index]} = wanted.key LIMIT 1)"
        " AS holder WHERE holder.directory_id = :directory_id"
        for index in rule_indexes
    )
    # Then the holders by primary key (= ANY of the probes' array: the primary key is the one index it can take),
    # locked with FOR UPDATE, which writes nothing.
    statement = f"SELECT {_COLUMN_LIST} FROM contacts WHERE contacts.id = ANY(ARRAY({found}))"
    if lock:
        statement += " ORDER BY contacts.id FOR UPDATE"
    return text(statement).columns(*Contact.__table__.c)


def _remembering(bind: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """bind, answering again without work for the same object: a batch's new contacts share one timestamp."""
    last: list[Any] = [None, None]

    def remembered(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, bind(value)
        return last[1]

    return remembered


def _key_order(contact: ContactRow) -> tuple[str, str, str]:
    return (contact.dedup_key_1 or "", contact.dedup_key_2 or "", contact.dedup_key_3 or "")


def _owners_of(keys: set[tuple[int, str]], contacts: Iterable[ContactRow]) -> dict[tuple[int, str], str]:
    """(rule index, key) -> id of the contact holding it, for these keys."""
    owners: dict[tuple[int, str], str] = {}
    for contact in contacts:
        for index, column in enumerate(DEDUP_KEY_COLUMNS):
            key = getattr(contact, column)
            if key is not None and (index, key) in keys:
                owners[(index, key)] = contact.id
    return owners


class _Keying:
    """Who holds which identity key (rule index, key) while a write applies, as if its entries applied one by one: a
    key has at most one holder, and a contact holds its values' key for a rule unless another contact already does
    (the first to hold a key keeps it, so a lookup always finds the same contact for the same values)."""

    def __init__(self, keys_of: IdentityKeys, looked_up: set[tuple[int, str]], stored: dict[str, ContactRow]) -> None:
        self.keys_of = keys_of
        # The holder of each key looked up: first the stored contacts found, then the batch's own.
        self.owners = _owners_of(looked_up, stored.values())
        self.looked_up = looked_up
        self.stored = stored
        # The stored contacts' column values as loaded, before the write changes them (see changed_positions).
        self.loaded = {contact_id: _contact_values(contact) for contact_id, contact in stored.items()}
        self.updated: dict[str, ContactRow] = {}
        # Stored contacts that give up a key: their old keys are cleared before any contact is written, so a key one
        # gives up can go to another whatever order the updates run in (two contacts may even swap values).
        self.rekeyed: set[str] = set()
        # Keys stored contacts gave up (-> who held them): in the database until the write, but free.
        self.released: dict[tuple[int, str], str] = {}
        # Keys taken that were not looked up: whether the database has another holder is checked before writing.
        self.unchecked: list[tuple[ContactRow, tuple[int, str]]] = []

    def rekey(self, contact: ContactRow, stored: bool) -> None:
        """The contact's keys follow its values (after apply_write)."""
        if stored:
            self.updated[contact.id] = contact
        wanted = dict(self.keys_of(normalized_identity(contact)))  # type: ignore[arg-type]
        for index, column in enumerate(DEDUP_KEY_COLUMNS[: self.keys_of.rule_count]):
            held = getattr(contact, column)
            key = wanted.get(index)
            if key == held:
                continue
            setattr(contact, column, None)
            if held is not None:
                if self.owners.get((index, held)) == contact.id:
                    del self.owners[(index, held)]
                if stored:
                    self.rekeyed.add(contact.id)
                    self.released[(index, held)] = contact.id
            if key is None:
                continue
            rule_key = (index, key)
            holder = self.owners.get(rule_key)
            if holder is None:
                self.owners[rule_key] = contact.id
                if rule_key not in self.looked_up:
                    self.unchecked.append((contact, rule_key))
            elif holder != contact.id:
                continue
            setattr(contact, column, key)

    def changed_positions(self, contact: ContactRow) -> tuple[int, ...]:
        """Positions in _CONTACT_COLUMNS of the stored contact's columns that differ from the database once the keys
        of rekeyed contacts are cleared: the values the write changed, and a rekeyed contact's keys."""
        loaded, now = self.loaded[contact.id], _contact_values(contact)
        rekeyed = contact.id in self.rekeyed
        return tuple(
            position
            for position in _UPDATED_POSITIONS
            if loaded[position] != now[position] or (rekeyed and position in _KEY_POSITIONS)
        )

    def held_elsewhere(self, holders: Mapping[tuple[int, str], str]) -> list[tuple[ContactRow, tuple[int, str]]]:
        """The unchecked keys, still taken, that a contact outside this write holds (holders: the database's)."""
        return [
            (contact, key)
            for contact, key in self.unchecked
            if getattr(contact, DEDUP_KEY_COLUMNS[key[0]]) == key[1]
            and holders.get(key, contact.id) not in (contact.id, self.released.get(key))
        ]


class UpsertOutcome(NamedTuple):
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
        """Updates the contact the first matching dedup rule finds, else creates one (upsert_contacts of one write)."""
        return (await self.upsert_contacts(directory_id, [write]))[0]

    async def upsert_contacts(self, directory_id: str, writes: Sequence[ContactWrite]) -> list[UpsertOutcome]:
        """Each write updates the contact its first matching dedup rule finds, else creates one; set-based: one
        lookup (and lock) of the contacts holding any of the writes' identity keys, one multi-row insert of the new
        contacts, one multi-row update of the matched ones, one membership re-evaluation when the directory has
        segments. Entries apply in order, so a later entry that matches an earlier one (new or stored) merges into it.

        Identity keys are unique in the database (each rule's key column has a unique index): when a concurrent
        writer created the same person first, the insert raises IntegrityError and the caller retries the whole
        batch, which then finds the person and becomes an update."""
        rules, has_segments = await self._write_target(directory_id)
        keys_of = IdentityKeys(rules, directory_id)
        incoming = [keys_of(write.normalized_identity()) for write in writes]
        looked_up = {key for keys in incoming for key in keys}
        keying = _Keying(keys_of, looked_up, await self._holders(directory_id, looked_up, lock=True))
        owners = keying.owners
        created: dict[str, ContactRow] = {}
        outcomes: list[UpsertOutcome] = []
        now = utc_now()
        fresh_ids = iter(ids.new_ids(ids.CONTACT_PREFIX, len(writes)))
        for write, keys in zip(writes, incoming, strict=True):
            match = None
            for key in keys:
                match = owners.get(key)
                if match is not None:
                    break
            if match is None:
                # A new contact holds exactly the keys of the values written, none of which has an owner (else it matched).
                contact_id = next(fresh_ids)
                created[contact_id] = ContactRow.created_by(write, contact_id, directory_id, now, keys)
                for key in keys:
                    owners[key] = contact_id
                outcomes.append(UpsertOutcome(contact_id, True))
            else:
                contact = created.get(match) or keying.stored[match]
                apply_write(contact, write, now)  # type: ignore[arg-type]
                keying.rekey(contact, stored=match not in created)
                outcomes.append(UpsertOutcome(match, False))
        new_contacts = list(created.values())
        if self._dialect() == "postgresql":
            # In key order: concurrent batches of the same new people then meet on the same first row, where one waits
            # for the other and retries, instead of each holding a row the other needs (a deadlock). SQLite has one
            # writer at a time.
            new_contacts.sort(key=_key_order)
        await self._write_back(directory_id, keying, new_contacts)
        written = [*created, *keying.updated]
        if written and has_segments is None:  # asked now, as the membership engine would: a segment created meanwhile is seen
            has_segments = bool((await self._session.execute(_HAS_SEGMENTS, {"directory_id": directory_id})).scalar())
        if written and has_segments:
            await self.membership().reevaluate_contacts(directory_id, written)
        return outcomes

    async def _write_target(self, directory_id: str) -> tuple[list[list[str]], bool | None]:
        """The directory's dedup rules (NOT_FOUND unless it is the organization's), and on SQLite whether it has
        segments, read by a write that takes SQLite's write lock (its driver begins a transaction only at the first
        write): nothing another writer commits can come between what the upsert then reads and what it writes, a
        segment created meanwhile included. On PostgreSQL (row locks) the segments are asked after the writes (None)."""
        parameters = {"target_directory": directory_id, "target_organization": self._organization_id}
        if self._dialect() == "postgresql":
            row = (await self._session.execute(_DEDUP_RULES, parameters)).first()
            has_segments = None
        else:
            row = (await self._session.execute(_LOCK_DIRECTORY, parameters)).first()
            has_segments = None if row is None else bool(row[1])
        if row is None:
            raise DirectoryNotFound(directory_id)
        return row[0] or [], has_segments

    async def update_contact(self, directory_id: str, contact_id: str, write: ContactWrite) -> ListedContact:
        """A partial update by id; identity keys follow the new values (keys another contact holds stay its own)."""
        directory = await self._directory(directory_id)
        stored = await self._lock_and_load(directory_id, {contact_id})
        if contact_id not in stored:
            raise ContactNotFound(contact_id)
        keying = _Keying(IdentityKeys(directory.dedup_rules or [], directory_id), set(), stored)
        contact = stored[contact_id]
        apply_write(contact, write)  # type: ignore[arg-type]
        keying.rekey(contact, stored=True)
        await self._write_back(directory_id, keying, [])
        await self.membership().reevaluate_contacts(directory_id, [contact_id])
        return await self.get_contact(directory_id, contact_id)

    async def _write_back(self, directory_id: str, keying: _Keying, created: list[ContactRow]) -> None:
        """Writes the batch: the keys stored contacts give up or change are cleared, then the stored contacts are
        written, then the new ones (a key a stored contact gave up may go to any of them). Keys taken without having
        been looked up are checked first: one a contact outside the write holds stays its."""
        if keying.unchecked:
            wanted = {key for _, key in keying.unchecked}
            holders = _owners_of(wanted, (await self._holders(directory_id, wanted, lock=False)).values())
            for contact, (index, _) in keying.held_elsewhere(holders):
                setattr(contact, DEDUP_KEY_COLUMNS[index], None)
        if keying.rekeyed:
            table = Contact.__table__
            await self._session.execute(
                update(table).where(table.c.id.in_(sorted(keying.rekeyed))).values(dict.fromkeys(DEDUP_KEY_COLUMNS))
            )
        if keying.updated:
            dialect = self._session.get_bind().dialect
            if dialect.name == "postgresql":
                await self._session.execute(_UPDATE_FROM_JSON, {"rows": _json_document(list(keying.updated.values()))})
            else:
                # Straight to the driver, as _insert_contacts does, and only the columns the write changed: SQLite
                # rewrites the entries of every index on a column the UPDATE sets, changed or not (all columns cost
                # ~50 us per contact, three changed ones ~14). One statement per set of changed columns.
                binders = _row_binders(dialect)
                by_columns: dict[tuple[int, ...], list[tuple[object, ...]]] = {}
                for contact in keying.updated.values():
                    positions = keying.changed_positions(contact)
                    if positions:
                        values = contact.bound(binders)
                        by_columns.setdefault(positions, []).append((*(values[p] for p in positions), contact.id))
                connection = await self._session.connection()
                for positions, parameters in by_columns.items():
                    assignments = ", ".join(f"{_CONTACT_COLUMNS[position]} = ?" for position in positions)
                    await connection.exec_driver_sql(f"UPDATE contacts SET {assignments} WHERE id = ?", parameters)
        if created:
            await self._insert_contacts(created)

    async def _insert_contacts(self, contacts: list[ContactRow]) -> None:
        """One multi-row insert; the values go to the driver as the column types would bind them (SQLAlchemy's
        per-row parameter processing cost more than the database's insert)."""
        dialect = self._session.get_bind().dialect
        if dialect.name != "postgresql":
            binders = _row_binders(dialect)
            connection = await self._session.connection()
            await connection.exec_driver_sql(
                f"INSERT INTO contacts ({', '.join(_CONTACT_COLUMNS)}) VALUES ({', '.join('?' * len(_CONTACT_COLUMNS))})",
                [contact.bound(binders) for contact in contacts],
            )
            return
        await self._session.execute(_INSERT_FROM_JSON, {"rows": _json_document(contacts)})

    async def _holders(self, directory_id: str, keys: set[tuple[int, str]], lock: bool) -> dict[str, ContactRow]:
        """The contacts of the directory holding any of these (rule index, key), found on the key columns' unique
        indexes; with lock, locked in the same statement (FOR UPDATE) and read as they are once locked, so merges
        never clobber. (On SQLite the caller holds the write lock already: see _write_target.)"""
        if not keys:
            return {}
        by_rule: dict[int, list[str]] = {}
        for index, key in keys:
            by_rule.setdefault(index, []).append(key)
        if self._dialect() == "postgresql":
            # Each rule's keys as one comma-separated text (keys are hex digits): the driver encodes one string
            # instead of an array element by element.
            parameters: dict[str, object] = {f"keys_{index}": ",".join(wanted) for index, wanted in by_rule.items()}
            rows = await self._session.execute(
                _postgresql_holder_lookup(tuple(sorted(by_rule)), lock), {"directory_id": directory_id, **parameters}
            )
            return {row.id: ContactRow(*row) for row in rows}
        # A union of one index lookup per rule, and the contacts by primary key: SQLite would answer an OR of the rules
        # through one of the (directory_id, …) indexes, scanning the directory (hence also +directory_id, which keeps
        # those indexes out of the lookups). Straight to the driver: SQLAlchemy's rendering of the expanding IN lists
        # cost more than the lookups.
        held = " UNION ALL ".join(
            f"SELECT id FROM contacts WHERE {DEDUP_KEY_COLUMNS[index]} IN ({', '.join('?' * len(wanted))}) AND +directory_id = ?"
            for index, wanted in by_rule.items()
        )
        values = [value for wanted in by_rule.values() for value in (*wanted, directory_id)]
        connection = await self._session.connection()
        result = await connection.exec_driver_sql(f"SELECT {_COLUMN_LIST} FROM contacts WHERE id IN ({held})", tuple(values))
        loaders = _row_loaders(self._session.get_bind().dialect)
        return {contact.id: contact for contact in (ContactRow.read(row, loaders) for row in result)}

    async def _lock_and_load(self, directory_id: str, contact_ids: set[str]) -> dict[str, ContactRow]:
        """These contacts of the directory, locked by an UPDATE (the row locks on PostgreSQL, the write lock on SQLite)
        and read by its RETURNING as they are once locked."""
        if not contact_ids:
            return {}
        table = Contact.__table__
        rows = await self._session.execute(
            update(table)
            .where(table.c.id.in_(sorted(contact_ids)), table.c.directory_id == directory_id)
            .values(updated_at=utc_now())
            .returning(*table.c)
        )
        return {row.id: ContactRow(*row) for row in rows}

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

    async def get_contact(self, directory_id: str, contact_id: str) -> ListedContact:
        contact = (
            await self._session.execute(
                select(Contact).where(
                    Contact.id == contact_id, Contact.directory_id == directory_id, self._directory_is_ours(directory_id)
                )
            )
        ).scalar_one_or_none()
        if contact is None:
            await self._directory(directory_id)  # DirectoryNotFound when that is why
            raise ContactNotFound(contact_id)
        return (await self._with_memberships([contact]))[0]

    async def search_contacts(self, directory_id: str, condition: ContactCondition | None, page: Page) -> PageOf[ListedContact]:
        query = select(Contact).where(
            Contact.directory_id == directory_id,
            self._directory_is_ours(directory_id),
            condition_sql(condition, self._dialect()),
        )
        contacts = list((await self._session.execute(_paged(query, Contact, page))).scalars().all())
        if not contacts:
            await self._directory(directory_id)  # DirectoryNotFound when that is why
        listed = await self._with_memberships(contacts)
        return _page_of(listed, page, lambda item: item.contact)

    def _directory_is_ours(self, directory_id: str) -> ColumnElement[bool]:
        """True when the directory belongs to this organization: a contact read checks it in its own statement (a
        directory of another organization then reads as empty; the caller tells that apart only when nothing came)."""
        return exists().where(Directory.id == directory_id, Directory.organization_id == self._organization_id)

    async def _with_memberships(self, contacts: list[Contact]) -> list[ListedContact]:
        lists: dict[str, list[str]] = {contact.id: [] for contact in contacts}
        segments: dict[str, list[str]] = {contact.id: [] for contact in contacts}
        if contacts:
            ids = list(lists)
            rows = await self._session.execute(
                union_all(
                    select(MailingListMembership.contact_id, literal(False), MailingListMembership.mailing_list_id).where(
                        MailingListMembership.contact_id.in_(ids)
                    ),
                    select(SegmentMembership.contact_id, literal(True), SegmentMembership.segment_id).where(
                        SegmentMembership.contact_id.in_(ids)
                    ),
                ).order_by(sql_column("mailing_list_id"))  # the union's third column, named after its first select
            )
            for contact_id, is_segment, member_of in rows.all():
                (segments if is_segment else lists)[contact_id].append(member_of)
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


def _json_document(contacts: list[ContactRow]) -> str:
    """The contacts as a JSON array of objects keyed by column (orjson writes the dataclasses as they are)."""
    try:
        return orjson.dumps(contacts).decode()  # datetimes as RFC 3339, which PostgreSQL reads
    except TypeError:  # an integer past 64 bits in embedded data: the standard library takes any size
        return json.dumps([contact.row() for contact in contacts], default=datetime.isoformat)


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
