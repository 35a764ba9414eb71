"""Runs a service's Alembic migrations programmatically (each service keeps its own version table)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def alembic_config(service: str, url: str) -> Config:
    """The Alembic config of services/<service>/migrations for the database at url."""
    script_location = Path(__file__).resolve().parent.parent / service / "migrations"
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["service"] = service
    return cfg


def upgrade_to_head(service: str, url: str) -> None:
    """Brings the service's database to the newest revision. Safe to call on every start."""
    command.upgrade(alembic_config(service, url), "heads")  # one branch per feature may fork from a revision


async def upgrade_to_head_async(service: str, url: str) -> None:
    # env.py drives an async engine with asyncio.run, which needs a thread without a running loop.
    await asyncio.to_thread(upgrade_to_head, service, url)


def version_table(service: str) -> str:
    # One version table per service, so services may share one database without clashing.
    return f"alembic_version_{service}"


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's migrations/env.py (online mode, async engine)."""
    from alembic import context

    cfg = context.config
    service = cfg.attributes.get("service") or cfg.get_main_option("service")
    url = cfg.get_main_option("sqlalchemy.url")

    def do_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table=version_table(service),
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    if url.startswith("sqlite+aiosqlite"):
        # SQLite migrates through the standard library's driver, in this thread: no event loop nested in a worker
        # thread with aiosqlite's own thread behind it (that combination once hung a test run for good).
        engine = create_engine(url.replace("sqlite+aiosqlite", "sqlite", 1), poolclass=pool.NullPool)
        with engine.connect() as connection:
            do_run(connection)
        engine.dispose()
        return

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    asyncio.run(run_async())
