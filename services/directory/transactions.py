"""Transactions of contacts: batch creation with an answer per client key, and newest-first listing with filters."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import CxflowError
from services.directory import ids
from services.directory.contacts import check_embedded_data
from services.directory.errors import ContactNotFound, InvalidDirectoryRequest, MailingListNotFound
from services.directory.membership import Clock
from services.directory.models import Contact, MailingList, Transaction, utc_now
from services.directory.pagination import Page
from services.directory.repository import DirectoryRepository, PageOf
from services.directory.segment_rules import Condition, json_condition, json_member, null_safe

MAX_BATCH = 1000
MAX_CLIENT_KEY = 255  # the stored length of an idempotency key


@dataclass(frozen=True)
class TransactionEntry:
    """One checked transaction of a batch."""

    contact_id: str
    mailing_list_id: str
    transaction_date: datetime
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EntryError:
    code: str
    message: str
    field: str


@dataclass(frozen=True)
class BatchOutcome:
    created: dict[str, str]
    errors: dict[str, EntryError]


def check_data(values: Mapping[str, Any], field_prefix: str) -> dict[str, Any]:
    """Transaction data holds what embedded data holds: strings, numbers and booleans."""
    return check_embedded_data(dict(values), field_prefix)


def error_of(exc: CxflowError) -> EntryError:
    return EntryError(code=exc.code, message=exc.message, field=exc.field or "")


@dataclass(frozen=True)
class TransactionPosition:
    """The last transaction of the previous page (newest first): the next page continues after it."""

    transaction_date: datetime
    seq: int


def encode_position(position: TransactionPosition) -> str:
    raw = json.dumps([position.transaction_date.isoformat(), position.seq], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_position(token: str) -> TransactionPosition:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        moment, seq = json.loads(raw)
        return TransactionPosition(_as_utc(datetime.fromisoformat(moment)), int(seq))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidDirectoryRequest("page.page_token", "not a page token this service issued") from exc


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class TransactionRepository:
    """Transactions of one organization's directories; writes re-evaluate the contacts' segments in the same transaction."""

    def __init__(self, session: AsyncSession, organization_id: str, clock: Clock = utc_now) -> None:
        self._session = session
        self._directories = DirectoryRepository(session, organization_id, clock)

    async def create_transactions(
        self,
        directory_id: str,
        entries: Mapping[str, TransactionEntry],
        rejected: Mapping[str, EntryError],
        *,
        idempotent: bool = False,
    ) -> BatchOutcome:
        """Creates the entries whose contact and list exist in the directory; the others are answered with an error.

        When idempotent, a client key already stored for this directory is answered with its transaction's id and
        not created again; a concurrent create of the same key fails the unique index (the caller retries)."""
        await self._directories.directory(directory_id)
        errors = dict(rejected)
        created: dict[str, str] = {}
        if idempotent:
            entries = dict(entries)
            for key in [key for key in entries if len(key) > MAX_CLIENT_KEY]:
                del entries[key]
                errors[key] = EntryError("invalid_argument", f"transactions: client key longer than {MAX_CLIENT_KEY} characters", "transactions")
            created.update(await self._stored_keys(directory_id, list(entries)))
            entries = {key: entry for key, entry in entries.items() if key not in created}
        contact_ids = {entry.contact_id for entry in entries.values()}
        list_ids = {entry.mailing_list_id for entry in entries.values()}
        known_contacts = await self._directories.existing_contacts(directory_id, list(contact_ids))
        known_lists = set(
            (
                await self._session.execute(
                    select(MailingList.id).where(MailingList.directory_id == directory_id, MailingList.id.in_(list_ids))
                )
            )
            .scalars()
            .all()
        ) if list_ids else set()
        rows: list[Transaction] = []
        now = utc_now()
        for key, entry in sorted(entries.items()):
            if entry.contact_id not in known_contacts:
                errors[key] = error_of(ContactNotFound(entry.contact_id))
                continue
            if entry.mailing_list_id not in known_lists:
                errors[key] = error_of(MailingListNotFound(entry.mailing_list_id))
                continue
            transaction_id = ids.new_id(ids.TRANSACTION_PREFIX)
            rows.append(
                Transaction(
                    id=transaction_id,
                    directory_id=directory_id,
                    contact_id=entry.contact_id,
                    mailing_list_id=entry.mailing_list_id,
                    transaction_date=entry.transaction_date,
                    data=entry.data,
                    created_at=now,
                    client_key=key if idempotent else None,
                )
            )
            created[key] = transaction_id
        if rows:
            self._session.add_all(rows)
            await self._session.flush()
            await self._directories.membership().reevaluate_contacts(
                directory_id, sorted({row.contact_id for row in rows})
            )
        return BatchOutcome(created=created, errors=errors)

    async def _stored_keys(self, directory_id: str, keys: list[str]) -> dict[str, str]:
        """Client key -> transaction id of the keys this directory already holds."""
        if not keys:
            return {}
        found = await self._session.execute(
            select(Transaction.client_key, Transaction.id).where(
                Transaction.directory_id == directory_id, Transaction.client_key.in_(keys)
            )
        )
        return {key: transaction_id for key, transaction_id in found.all() if key is not None}

    async def list_transactions(
        self,
        directory_id: str,
        contact_id: str,
        start: datetime | None,
        end: datetime | None,
        data_equals: Mapping[str, str],
        page: Page,
        page_token: str,
    ) -> PageOf[Transaction]:
        await self._directories.directory(directory_id)
        found = await self._session.execute(
            select(Contact.id).where(Contact.id == contact_id, Contact.directory_id == directory_id)
        )
        if found.first() is None:
            raise ContactNotFound(contact_id)
        dialect = self._session.get_bind().dialect.name
        query = select(Transaction).where(Transaction.contact_id == contact_id)
        if start is not None:
            query = query.where(Transaction.transaction_date >= start)
        if end is not None:
            query = query.where(Transaction.transaction_date < end)
        for key, wanted in sorted(data_equals.items()):
            if not key or '"' in key or "\\" in key:
                raise InvalidDirectoryRequest(f"data_equals.{key}", "must be a transaction data field name")
            query = query.where(_data_text_equals(key, wanted, dialect))
        if page_token:
            after = decode_position(page_token)
            query = query.where(
                or_(
                    Transaction.transaction_date < after.transaction_date,
                    and_(Transaction.transaction_date == after.transaction_date, Transaction.seq < after.seq),
                )
            )
        query = query.order_by(Transaction.transaction_date.desc(), Transaction.seq.desc()).limit(page.size + 1)
        items = list((await self._session.execute(query)).scalars().all())
        if len(items) <= page.size:
            return PageOf(items, "")
        items = items[: page.size]
        last = items[-1]
        return PageOf(items, encode_position(TransactionPosition(_as_utc(last.transaction_date), last.seq)))


def _data_text_equals(key: str, wanted: str, dialect: str) -> Any:
    """data.<key> equals wanted as text: a string as is, a number as written ("42", "2.5"), a boolean as true/false."""
    member = json_member(Transaction.data, key, dialect)
    as_text = null_safe(json_condition(member, Condition("eq", wanted), dialect))
    alternatives = [as_text]
    if wanted in ("true", "false"):
        alternatives.append(member.is_true if wanted == "true" else member.is_false)
    try:
        number = float(wanted)
    except ValueError:
        number = math.nan
    if math.isfinite(number):
        alternatives.append(null_safe(json_condition(member, Condition("eq", number), dialect)))
    return or_(*alternatives)
