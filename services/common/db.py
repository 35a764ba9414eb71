"""The async SQLAlchemy engine and session factory of one service's database (SQLite or PostgreSQL)."""

from __future__ import annotations

from typing import Any

import sqlalchemy
from sqlalchemy import Engine, event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from services.common import json_codec, sqlite_driver


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


# JSON columns go through orjson (with the stdlib's fallback): most rows written on the hot paths carry JSON.
_JSON_CODEC = {"json_serializer": json_codec.dumps, "json_deserializer": json_codec.loads}


SQLITE_BUSY_TIMEOUT_SECONDS = 30


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Creates the engine with the settings each backend needs to be safe under concurrent writers."""
    kwargs = {**_JSON_CODEC, **kwargs}
    if is_sqlite(url):
        parsed = make_url(url)
        if parsed.drivername == "sqlite+aiosqlite":  # the same driver, a statement in one trip to its thread
            parsed = parsed.set(drivername=f"sqlite+{sqlite_driver.DRIVER}")
        # timeout: how long a statement waits for another connection's lock (sqlite3 sets SQLite's busy timeout).
        engine = create_async_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **kwargs)


def create_sqlite_thread_engine(url: str) -> Engine:
    """A synchronous engine on the SQLite database of an async URL (sqlite+aiosqlite://…), with the same settings, for
    work that runs whole in one thread of its own: every statement through the async driver is a hand-off between
    threads, which costs far more than SQLite's own work on a small statement."""
    if not is_sqlite(url):
        raise ValueError("a thread engine is for SQLite only")
    sync_url = make_url(url).set(drivername="sqlite+pysqlite")
    engine = sqlalchemy.create_engine(
        sync_url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False}, **_JSON_CODEC
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
