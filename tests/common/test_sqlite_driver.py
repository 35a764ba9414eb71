"""The one-trip SQLite driver (services/common/sqlite_driver.py): what SQLAlchemy reads of a statement (rows,
description, row counts, last row ids, RETURNING, executemany, errors) is right, a write is one trip to aiosqlite's
thread, and a read that SQLite answers at once is none (one that would wait on a lock or run long still gets its
answer, through the thread)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.common.db import create_engine
from services.common.sqlite_driver import DRIVER

METADATA = MetaData()
PEOPLE = Table("people", METADATA, Column("id", Integer, primary_key=True), Column("name", String(50), unique=True))


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(METADATA.create_all)
    yield engine
    await engine.dispose()


async def test_services_get_the_one_trip_driver(engine: AsyncEngine) -> None:
    assert engine.dialect.driver == DRIVER


async def test_what_sqlalchemy_reads_of_a_statement(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        first = await connection.execute(insert(PEOPLE).values(name="ada"))
        assert first.inserted_primary_key == (1,)
        returned = await connection.execute(insert(PEOPLE).values(name="grace").returning(PEOPLE.c.id, PEOPLE.c.name))
        assert returned.all() == [(2, "grace")]
        await connection.execute(insert(PEOPLE), [{"name": "edsger"}, {"name": "barbara"}])  # executemany
        changed = await connection.execute(update(PEOPLE).where(PEOPLE.c.id > 2).values(name=PEOPLE.c.name + "!"))
        assert changed.rowcount == 2
        rows = await connection.execute(select(PEOPLE.c.id, PEOPLE.c.name).order_by(PEOPLE.c.id))
        assert list(rows.keys()) == ["id", "name"]
        assert rows.all() == [(1, "ada"), (2, "grace"), (3, "edsger!"), (4, "barbara!")]
        assert (await connection.execute(text("SELECT count(*) FROM people WHERE name LIKE :p"), {"p": "%!"})).scalar_one() == 2
        assert (await connection.execute(select(PEOPLE).where(PEOPLE.c.id == 99))).first() is None


async def test_errors_and_rollback(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(PEOPLE).values(name="ada"))
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(insert(PEOPLE).values(name="alan"))
            await connection.execute(insert(PEOPLE).values(name="ada"))  # the unique name: the transaction rolls back
    async with engine.connect() as connection:
        assert (await connection.execute(select(PEOPLE.c.name))).scalars().all() == ["ada"]


class TripCounter:
    """Counts the calls handed to aiosqlite's thread (statements, commits, rollbacks), by what they ran."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        queue_call = aiosqlite.Connection._execute

        async def counted(connection: aiosqlite.Connection, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.calls.append(getattr(fn, "__name__", "?"))
            return await queue_call(connection, fn, *args, **kwargs)

        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)


async def test_a_write_is_one_trip_and_a_read_none(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))  # the connection and its transaction are set up before counting
        trips = TripCounter(monkeypatch)
        await connection.execute(insert(PEOPLE).values(name="ada"))
        assert trips.calls == ["_run"]  # SQLAlchemy's own adapter takes four: cursor, execute, fetch, close
        rows = await connection.execute(select(PEOPLE.c.id, PEOPLE.c.name))
        assert rows.all() == [(1, "ada")]  # the transaction's own write, read on the loop's thread
        assert trips.calls == ["_run"]


async def test_ending_a_read_costs_no_trip_and_a_write_is_still_committed(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
        await connection.commit()
    trips = TripCounter(monkeypatch)
    async with engine.connect() as connection:  # checked in with a rollback when the block ends
        assert (await connection.execute(select(PEOPLE.c.name))).all() == []
        await connection.commit()  # SQLite opened no transaction for the read: nothing to end
    assert trips.calls == []

    async with engine.connect() as connection:
        await connection.execute(insert(PEOPLE).values(name="ada"))
        await connection.commit()
        await connection.execute(insert(PEOPLE).values(name="alan"))
    assert trips.calls == ["_run", "commit", "_run", "rollback"]  # the write, its commit; the other rolled back
    with sqlite3.connect(tmp_path / "driver.db") as other:  # what another connection sees
        assert other.execute("SELECT name FROM people").fetchall() == [("ada",)]


async def test_a_read_that_would_wait_for_a_lock_waits_in_the_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A database in SQLite's rollback-journal mode, where a writer's exclusive lock keeps readers out (in WAL mode,
    # which the services use, readers wait only in rare cases, such as another process recovering the database).
    engine = create_async_engine(f"sqlite+{DRIVER}:///{tmp_path / 'journal.db'}", connect_args={"timeout": 30})
    holder = sqlite3.connect(tmp_path / "journal.db", isolation_level=None)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(METADATA.create_all)
            await connection.execute(insert(PEOPLE).values(name="ada"))
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            holder.execute("BEGIN EXCLUSIVE")
            holder.execute("INSERT INTO people (name) VALUES ('alan')")
            trips = TripCounter(monkeypatch)
            read = asyncio.create_task(connection.execute(select(PEOPLE.c.name).order_by(PEOPLE.c.id)))
            async with asyncio.timeout(10):
                while not trips.calls and not read.done():  # the read tried here, met the lock, went to the thread
                    await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)
            assert not read.done()  # waiting in the thread, on SQLite's busy timeout
            holder.execute("COMMIT")
            assert (await read).scalars().all() == ["ada", "alan"]
            assert trips.calls == ["_run"]
    finally:
        holder.close()
        await engine.dispose()


async def test_a_long_read_goes_to_the_thread_and_its_transaction_goes_on(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with engine.connect() as connection:
        await connection.execute(insert(PEOPLE), [{"name": f"person {index}"} for index in range(1000)])  # not committed
        trips = TripCounter(monkeypatch)
        # A million pairs: far past the work a read may do on the loop's thread.
        pairs = await connection.execute(text("SELECT count(*) FROM people AS a, people AS b WHERE a.id <> b.id"))
        assert pairs.scalar_one() == 1000 * 999
        assert trips.calls == ["_run"]
        # Stopping the read on the loop's thread undid nothing of the transaction around it.
        assert (await connection.execute(text("SELECT count(*) FROM people"))).scalar_one() == 1000
        await connection.commit()
    with sqlite3.connect(tmp_path / "driver.db") as other:
        assert other.execute("SELECT count(*) FROM people").fetchone() == (1000,)


async def test_an_engine_given_its_own_connection_creator(tmp_path: Path) -> None:
    # create_async_engine(async_creator=...) hands the driver a ready aiosqlite connection instead of a path; made in
    # aiosqlite's thread for that thread alone, so its reads make the trip too.
    engine = create_async_engine(f"sqlite+{DRIVER}://", async_creator=lambda: aiosqlite.connect(tmp_path / "own.db"))
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT 40 + 2"))).scalar_one() == 42
    finally:
        await engine.dispose()
