"""Ingestion's Alembic migrations produce exactly the schema its models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from services.common.db import create_engine
from services.common.migrations import upgrade_to_head_async, version_table
from services.ingestion.models import Base


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
    assert {"sources", "subscriptions", "workflows", "inbox_messages", "alembic_version_ingestion"} <= tables
