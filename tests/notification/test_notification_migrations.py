"""The notification migrations build exactly the schema models.py describes, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from services.common.db import create_engine
from services.common.migrations import upgrade_to_head_async, version_table
from services.notification.models import Base


def _schema_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            # The version table is Alembic's own, not part of the models.
            "include_name": lambda name, type_, _parent: not (type_ == "table" and name == version_table("notification")),
        },
    )
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_match_the_models(database_url: str) -> None:
    await upgrade_to_head_async("notification", database_url)
    await upgrade_to_head_async("notification", database_url)  # safe to run on every start

    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_schema_differences) == []
            unique = await connection.run_sync(lambda c: inspect(c).get_unique_constraints("deliveries"))
    finally:
        await engine.dispose()
    assert [sorted(u["column_names"]) for u in unique] == [["idempotency_key", "organization_id"]]
