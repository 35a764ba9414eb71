"""Where the intake's group commits are written: on SQLite by one thread with a connection of its own, a whole group
in one hand-off; on PostgreSQL through an async session.

Through the async SQLite driver a statement costs four hand-offs to the driver's thread and back (SQLAlchemy's adapter
makes a cursor, executes, fetches and closes, each awaited; ~0.08 ms of CPU each here, far more than SQLite's own work
on a small statement), and a group commit took three statements and a commit. The thread runs them synchronously, so
a group costs one hand-off (benchmarks/ingest_http.py)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.common import json_codec
from services.common.db import create_sqlite_thread_engine, is_sqlite
from services.ingestion.models import InboxBatch, InboxMessageId
from services.ingestion.repository import IngestionRepository

_SQLITE_MAX_PARAMETERS = 32_766  # SQLite's default cap on the parameters of one statement
# "WHERE true" keeps SQLite from reading ON CONFLICT as part of the SELECT (its documented parsing ambiguity).
_INSERT_IDS = (
    "INSERT INTO inbox_message_ids (source_id, message_id, received_at) SELECT ?1, value, ?2 FROM json_each(?3) WHERE true"
    " ON CONFLICT (source_id, message_id) DO NOTHING RETURNING message_id"
)
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


def _owners(group: list[IntakeRequest]) -> dict[tuple[str, str], tuple[int, dict[str, Any]]]:
    """(source, messageId) -> the request (its index) and message that carries it first: a repeat within a request,
    or in another request of the group, is that one's duplicate."""
    owners: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
    for index, request in enumerate(group):
        for message in request.messages:
            owners.setdefault((request.source_id, message["messageId"]), (index, message))
    return owners


def _new_messages(group: list[IntakeRequest], owners: dict[tuple[str, str], tuple[int, dict[str, Any]]], new_keys: set[tuple[str, str]]) -> list[list[dict[str, Any]]]:
    stored: list[list[dict[str, Any]]] = [[] for _ in group]
    for key, (index, message) in owners.items():
        if key in new_keys:
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
        owners = _owners(group)
        async with self._sessions() as session:
            repository = IngestionRepository(session)
            # An id's receipt time only bounds how long it is remembered: the group's first request stands for all.
            new_keys = await repository.insert_message_ids(list(owners), group[0].received_at)
            stored = _new_messages(group, owners, new_keys)
            await repository.insert_batches(_batch_rows(group, stored))
            await session.commit()
        return stored

    async def close(self) -> None:
        pass  # the sessions belong to the service


class SqliteThreadInboxStore:
    """On its own thread and connection. Statements go to the driver as they are, values rendered by the columns' own
    types: SQLAlchemy's per-parameter processing of a few hundred ids cost more than SQLite's work."""

    def __init__(self, database_url: str) -> None:
        self._engine = create_sqlite_thread_engine(database_url)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inbox-writer")

    async def write(self, group: list[IntakeRequest]) -> list[list[dict[str, Any]]]:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._write, group)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._thread.shutdown)
        self._engine.dispose()

    def _write(self, group: list[IntakeRequest]) -> list[list[dict[str, Any]]]:
        owners = _owners(group)
        with self._engine.begin() as connection:
            new_keys = _insert_message_ids(connection, list(owners), group[0].received_at)
            stored = _new_messages(group, owners, new_keys)
            rows = _batch_rows(group, stored)
            if rows:
                _insert_batches(connection, rows)
        return stored


def _insert_message_ids(connection: Connection, keys: list[tuple[str, str]], received_at: datetime) -> set[tuple[str, str]]:
    """One statement per source, its ids as one JSON array that SQLite unpacks (json_each): binding three parameters a
    row cost more than SQLite's work on the row."""
    dialect = connection.dialect
    to_text = InboxMessageId.__table__.c.received_at.type.dialect_impl(dialect).bind_processor(dialect)
    assert to_text is not None  # SQLite keeps times as text
    received = to_text(received_at)
    ids_by_source: dict[str, list[str]] = {}
    for source_id, message_id in keys:
        ids_by_source.setdefault(source_id, []).append(message_id)
    inserted: set[tuple[str, str]] = set()
    for source_id, message_ids in ids_by_source.items():
        rows = connection.exec_driver_sql(_INSERT_IDS, (source_id, received, json_codec.dumps(message_ids)))
        inserted.update((source_id, message_id) for (message_id,) in rows)
    return inserted


def _insert_batches(connection: Connection, rows: list[dict[str, Any]]) -> None:
    dialect = connection.dialect
    columns = InboxBatch.__table__.c
    to_text = columns.received_at.type.dialect_impl(dialect).bind_processor(dialect)
    assert to_text is not None
    to_stored = columns.messages.type.process_bind_param
    per_statement = _SQLITE_MAX_PARAMETERS // len(_BATCH_COLUMNS)
    placeholders = "(" + ",".join("?" * len(_BATCH_COLUMNS)) + ")"
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        parameters: list[Any] = []
        for row in chunk:
            messages = row["messages"]
            parameters += (row["organization_id"], row["source_id"], to_text(row["received_at"]), to_stored(messages, dialect),
                           len(messages), 0, "pending")  # fmt: skip
        statement = f"INSERT INTO inbox_batches ({', '.join(_BATCH_COLUMNS)}) VALUES {','.join([placeholders] * len(chunk))}"
        connection.exec_driver_sql(statement, tuple(parameters))
