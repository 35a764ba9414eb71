"""The directory's Alembic migrations build exactly the schema its models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from services.common.db import create_engine
from services.common.migrations import upgrade_to_head_async, version_table
from services.directory.models import Base


async def test_schema_after_upgrade_matches_models(database_url: str) -> None:
    await upgrade_to_head_async("directory", database_url)
    await upgrade_to_head_async("directory", database_url)  # a second start finds nothing to do

    def differences(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": True, "version_table": version_table("directory")})
        return compare_metadata(context, Base.metadata)

    def tables(connection):  # type: ignore[no-untyped-def]
        return set(inspect(connection).get_table_names())

    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
            assert set(Base.metadata.tables) | {version_table("directory")} == await connection.run_sync(tables)
    finally:
        await engine.dispose()
