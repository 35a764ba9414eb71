"""Ingestion's Alembic migrations produce exactly the schema its models describe, on SQLite and PostgreSQL, and
revision 0003 moves the per-message inbox into batches (and back) without losing a message, an id or a failure."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from ingestion_stack import inbox_rows
from sqlalchemy import inspect, select, text

from services.common.db import create_engine
from services.common.migrations import alembic_config, upgrade_to_head_async, version_table
from services.ingestion.models import Base, InboxMessageId


async def test_upgrade_matches_models(database_url: str) -> None:
    await upgrade_to_head_async("ingestion", database_url)
    await upgrade_to_head_async("ingestion", database_url)  # a second start is a no-op
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:

            def differences(sync_connection):  # type: ignore[no-untyped-def]
                context = MigrationContext.configure(
                    sync_connection, opts={"compare_type": True, "version_table": version_table("ingestion")}
                )
                return compare_metadata(context, Base.metadata)

            assert await connection.run_sync(differences) == []
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert {"sources", "subscriptions", "workflows", "inbox_batches", "inbox_message_ids", "inbox_failures",
            "alembic_version_ingestion"} <= tables  # fmt: skip
    assert "inbox_messages" not in tables


BEFORE_BATCHES = ("0002_captures_membership", "0002_workflow_versions")
# (message id, status, attempts, error) as revision 0002 stored them
OLD_INBOX = [
    ("done", "processed", 1, ""),
    ("waiting", "pending", 0, ""),
    ("retrying", "pending", 2, "UNAVAILABLE: directory restarting"),
    ("refused", "failed", 1, "several contacts match"),
    ("done-late", "processed", 3, ""),
]


async def migrate(url: str, revisions: str | tuple[str, ...], down: bool = False) -> None:
    # Alembic's env drives an async engine with asyncio.run: a thread without a running loop.
    config = alembic_config("ingestion", url)
    for revision in (revisions,) if isinstance(revisions, str) else revisions:
        await asyncio.to_thread(command.downgrade if down else command.upgrade, config, revision)


async def test_revision_0003_moves_the_inbox_into_batches_and_back(database_url: str) -> None:
    await migrate(database_url, BEFORE_BATCHES)
    received = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO sources (id, organization_id, name, write_key_hash, created_at) VALUES ('SRC_a', 'ORG_a', 'web', 'h', :at)"),
                {"at": received},
            )
            for message_id, status, attempts, error in OLD_INBOX:
                await connection.execute(
                    text(
                        "INSERT INTO inbox_messages (organization_id, source_id, message_id, type, payload, received_at, status,"
                        " attempts, error, next_attempt_at) VALUES ('ORG_a', 'SRC_a', :id, 'identify', :payload, :at, :status,"
                        " :attempts, :error, :at)"
                    ),
                    {"id": message_id, "payload": json.dumps({"type": "identify", "userId": "u", "messageId": message_id}),
                     "at": received, "status": status, "attempts": attempts, "error": error},
                )  # fmt: skip

        await upgrade_to_head_async("ingestion", database_url)
        by_id = {entry.message_id: entry for entry in await inbox_rows(database_url)}
        # Done at the first attempt: only the id is kept, still deduplicated.
        assert "done" not in by_id
        assert {(e.message_id, e.status, e.attempts, e.error) for e in by_id.values()} == {
            ("waiting", "pending", 0, ""),
            ("retrying", "pending", 2, "UNAVAILABLE: directory restarting"),
            ("refused", "failed", 1, "several contacts match"),
            ("done-late", "processed", 3, ""),
        }
        assert by_id["waiting"].payload == {"type": "identify", "userId": "u", "messageId": "waiting"}
        async with engine.connect() as connection:
            ids = {tuple(row) for row in await connection.execute(select(InboxMessageId.source_id, InboxMessageId.message_id))}
        assert ids == {("SRC_a", message_id) for message_id, *_ in OLD_INBOX}

        await migrate(database_url, BEFORE_BATCHES[0], down=True)
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT message_id, status, attempts, error FROM inbox_messages"))
            restored = {tuple(row) for row in rows}
        # The pending message keeps its state; the one whose body was not kept is a processed id again.
        assert restored == {(m, s, a, e) for m, s, a, e in OLD_INBOX}
    finally:
        await engine.dispose()
    await upgrade_to_head_async("ingestion", database_url)
