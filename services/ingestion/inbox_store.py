"""Where the intake's group commits are written: on SQLite by one thread with a connection of its own, a whole group
in one hand-off; on PostgreSQL through an async session.

Through the async SQLite driver a statement costs four hand-offs to the driver's thread and back (SQLAlchemy's adapter
makes a cursor, executes, fetches and closes, each awaited; ~0.08 ms of CPU each here, far more than SQLite's own work
on a small statement), and a group commit took three statements and a commit. The thread runs them synchronously, so
a group costs one hand-off (benchmarks/ingest_http.py)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.common import json_codec
from services.common.db import create_sqlite_thread_engine, is_sqlite
from services.ingestion.models import InboxBatch
from services.ingestion.repository import IngestionRepository

_SQLITE_MAX_PARAMETERS = 32_766  # SQLite's default cap on the parameters of one statement
_KNOWN_IDS = "SELECT message_id FROM inbox_message_ids WHERE source_id = ?1 AND message_id IN (SELECT value FROM json_each(?2))"
# "WHERE true" keeps SQLite from reading ON CONFLICT as part of the SELECT (its documented parsing ambiguity).
_INSERT_IDS = (
    "INSERT INTO inbox_message_ids (source_id, message_id, received_at) SELECT ?1, value, ?2 FROM json_each(?3) WHERE true"
    " ON CONFLICT (source_id, message_id) DO NOTHING"
)
_SQLITE = sqlite_dialect.dialect()
_BATCH_COLUMNS = ("organization_id", "source_id", "received_at", "messages", "message_count", "handled", "status")


@dataclass(frozen=True)
class IntakeRequest:
    """One accepted request's messages, validated, as they are to be stored."""

    organization_id: str
    source_id: str
    received_at: datetime
    messages: list[dict[str, Any]]


class InboxStore(Protocol):
    async def write(self, group: list[IntakeRequest]) -> list[list[dict[str, Any]]]:
        """Stores the group in one transaction: every message id, and a batch per request of its messages new for
        the source. Returns those new messages, per request."""
        ...

    async def close(self) -> None: ...


def inbox_store(sessions: async_sessionmaker[AsyncSession], database_url: str) -> InboxStore:
    return SqliteThreadInboxStore(database_url) if is_sqlite(database_url) else SessionInboxStore(sessions)


@dataclass
class _GroupIds:
    """The message ids of a group, per source, each with the request (its index) and message that carry it first: a
    repeat within a request, or in another request of the group, is that one's duplicate."""

    by_source: dict[str, dict[str, tuple[int, dict[str, Any]]]]
    repeats: bool  # some message repeats an id that comes earlier in the group

    @classmethod
    def of(cls, group: list[IntakeRequest]) -> _GroupIds:
        by_source: dict[str, dict[str, tuple[int, dict[str, Any]]]] = {}
        count = 0
        for index, request in enumerate(group):
            owners = by_source.setdefault(request.source_id, {})
            for message in request.messages:
                owners.setdefault(message["messageId"], (index, message))
            count += len(request.messages)
        return cls(by_source, repeats=count != sum(len(owners) for owners in by_source.values()))

    def keys(self) -> list[tuple[str, str]]:
        return [(source_id, message_id) for source_id, owners in self.by_source.items() for message_id in owners]

    def new_messages(self, group: list[IntakeRequest], known: set[tuple[str, str]]) -> list[list[dict[str, Any]]]:
        """Per request, its messages whose ids were not known before and that it carries first."""
        if not known and not self.repeats:
            return [request.messages for request in group]
        stored: list[list[dict[str, Any]]] = [[] for _ in group]
        for source_id, owners in self.by_source.items():
            for message_id, (index, message) in owners.items():
                if (source_id, message_id) not in known:
                    stored[index].append(message)
        return stored


def _batch_rows(group: list[IntakeRequest], stored: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [
        {"organization_id": request.organization_id, "source_id": request.source_id, "received_at": request.received_at, "messages": messages}
        for request, messages in zip(group, stored, strict=True)
        if messages
    ]


class SessionInboxStore:
    """Through the service's async sessions (PostgreSQL)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def write(self, group: list[IntakeRequest]) -> list[list[dict[str, Any]]]:
        ids = _GroupIds.of(group)
        keys = ids.keys()
        async with self._sessions() as session:
            repository = IngestionRepository(session)
            # An id's receipt time only bounds how long it is remembered: the group's first request stands for all.
            new_keys = await repository.insert_message_ids(keys, group[0].received_at)
            stored = ids.new_messages(group, set(keys) - new_keys)
            await repository.insert_batches(_batch_rows(group, stored))
            await session.commit()
        return stored

    async def close(self) -> None:
        pass  # the sessions belong to the service


class SqliteThreadInboxStore:
    """On its own thread and sqlite3 connection. Statements go to the driver as they are, values rendered by the
    columns' own types: SQLAlchemy's per-parameter processing of a few hundred ids cost more than SQLite's work.

    A group commit makes as few calls into SQLite as it can: the driver lets go of the GIL on each one, and while the
    event loop is busy, taking it back can wait for the loop's next switch (up to sys.getswitchinterval())."""

    def __init__(self, database_url: str) -> None:
        self._engine = create_sqlite_thread_engine(database_url)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inbox-writer")
        self._connection: Any = None  # the pool's sqlite3 connection, checked out by the thread on its first write

    async def write(self, group: list[IntakeRequest]) -> list[list[dict[str, Any]]]:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._write, group)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._release)
        await asyncio.get_running_loop().run_in_executor(None, self._thread.shutdown)
        self._engine.dispose()

    def _release(self) -> None:
        if self._connection is not None:
            self._connection.close()  # back to the pool
            self._connection = None

    def _write(self, group: list[IntakeRequest]) -> list[list[dict[str, Any]]]:
        if self._connection is None:
            self._connection = self._engine.raw_connection()
        try:
            return self._write_group(self._connection.driver_connection, group)
        except BaseException:
            # A failed write may leave its connection in any state (a transaction open, say): the next starts afresh.
            self._connection.invalidate()
            self._connection = None
            raise

    def _write_group(self, connection: sqlite3.Connection, group: list[IntakeRequest]) -> list[list[dict[str, Any]]]:
        ids = _GroupIds.of(group)
        received = _sqlite_time(group[0].received_at)  # an id's receipt time only bounds how long it is remembered
        try:
            with _transaction(connection):
                # Replays are rare: insert the ids as if all were new and check that they were. Else roll back and
                # look the known ones up first (finding them after the insert would take RETURNING, a call into
                # SQLite per id).
                if not _inserted_all(connection, ids, received):
                    raise _SomeKnown()
                return _insert_new_messages(connection, group, ids, known=set())
        except _SomeKnown:
            with _transaction(connection):
                return _insert_new_messages(connection, group, ids, known=_insert_new_ids(connection, ids, received))


class _SomeKnown(Exception):
    """Some ids of the group were stored before: the first attempt is rolled back."""


@contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    connection.execute("BEGIN IMMEDIATE")  # the write lock first: the ids looked up cannot change before the insert
    try:
        yield
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


_TO_SQLITE_TIME = InboxBatch.__table__.c.received_at.type.dialect_impl(_SQLITE).bind_processor(_SQLITE)
assert _TO_SQLITE_TIME is not None  # SQLite keeps times as text


def _sqlite_time(moment: datetime) -> str:
    """A time as SQLAlchemy's SQLite DateTime stores it (naive ISO text)."""
    return _TO_SQLITE_TIME(moment)  # type: ignore[misc]


def _insert_new_messages(
    connection: sqlite3.Connection, group: list[IntakeRequest], ids: _GroupIds, known: set[tuple[str, str]]
) -> list[list[dict[str, Any]]]:
    """Stores each request's messages that are new for its source as its batch; returns them, per request."""
    stored = ids.new_messages(group, known)
    _insert_batches(connection, _batch_rows(group, stored))
    return stored


# Ids go to SQLite as one JSON array per source, which it unpacks (json_each): binding three parameters a row cost
# more than SQLite's work on the row.
def _inserted_all(connection: sqlite3.Connection, ids: _GroupIds, received: str) -> bool:
    """Inserts every id of the group; answers whether all of them were new."""
    for source_id, owners in ids.by_source.items():
        before = connection.total_changes
        connection.execute(_INSERT_IDS, (source_id, received, json_codec.dumps(list(owners))))
        if connection.total_changes - before != len(owners):
            return False
    return True


def _insert_new_ids(connection: sqlite3.Connection, ids: _GroupIds, received: str) -> set[tuple[str, str]]:
    """Looks up which ids are known, then inserts the others; returns the known ones."""
    known: set[tuple[str, str]] = set()
    for source_id, owners in ids.by_source.items():
        found = {message_id for (message_id,) in connection.execute(_KNOWN_IDS, (source_id, json_codec.dumps(list(owners))))}
        new_ids = [message_id for message_id in owners if message_id not in found]
        if new_ids:
            connection.execute(_INSERT_IDS, (source_id, received, json_codec.dumps(new_ids)))
        known.update((source_id, message_id) for message_id in found)
    return known


def _insert_batches(connection: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
    to_stored = InboxBatch.__table__.c.messages.type.process_bind_param
    per_statement = _SQLITE_MAX_PARAMETERS // len(_BATCH_COLUMNS)
    placeholders = "(" + ",".join("?" * len(_BATCH_COLUMNS)) + ")"
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        parameters: list[Any] = []
        for row in chunk:
            messages = row["messages"]
            parameters += (row["organization_id"], row["source_id"], _sqlite_time(row["received_at"]), to_stored(messages, _SQLITE),
                           len(messages), 0, "pending")  # fmt: skip
        statement = f"INSERT INTO inbox_batches ({', '.join(_BATCH_COLUMNS)}) VALUES {','.join([placeholders] * len(chunk))}"
        connection.execute(statement, parameters)
