"""SQLAlchemy's aiosqlite dialect with a cursor that runs each statement whole (execute, fetch, close) in one
hand-off to aiosqlite's thread, or a read that SQLite answers at once in none; registered as
`sqlite+aiosqlite_onehop`, which services.common.db uses for SQLite.

SQLAlchemy's own adapter awaits each DBAPI step separately: making the cursor, executing, fetching and closing are
four trips to aiosqlite's thread and back, and on this machine each costs about 0.08 ms of CPU (thread wake-ups and
the event loop's self-pipe), against about 1 µs for SQLite to run a small statement. A statement that needs no other
step than these (every statement here: SQLite has no server-side state between them) can make one trip.

A read needs no trip at all when SQLite can answer it at once: a SELECT runs on the event loop's thread (about 12 µs
for a lookup by key, where the trip cost 0.3-0.6 ms of CPU), under the same per-connection mutex as the trips, with
no busy wait and a cap on SQLite's work, so that it cannot hold the loop: one that would wait on a lock or run longer
than about a millisecond is stopped and goes to the thread like any other statement. Writes and commits always go
to the thread (they take locks and wait on fsync)."""

from __future__ import annotations

import collections
import re
import sqlite3
from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

DRIVER = "aiosqlite_onehop"

_READ = re.compile(r"\s*SELECT\b", re.IGNORECASE)
# A read on the loop's thread is stopped after READ_HERE_CHECKS progress checks of READ_HERE_CHECK_EVERY SQLite
# virtual-machine steps each: 50,000 steps, about 0.8 ms here (a lookup by key takes a few hundred).
READ_HERE_CHECK_EVERY = 5_000
READ_HERE_CHECKS = 10
# What stops a read on the loop's thread and sends it to the driver's thread instead: a lock it would wait for (there
# is no busy wait on this thread) or the cap on its work. A SELECT stopped for either reason changed nothing.
_RETRY_IN_THREAD = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_INTERRUPT}


def _run(
    connection: sqlite3.Connection, operation: str, parameters: Any
) -> tuple[Any, list[Any], int, int | None, bool]:
    """Runs the statement whole (in aiosqlite's thread, or for a read on the loop's, through _read_here): its
    description, rows, row count, last row id, and whether a transaction is open after it."""
    cursor = connection.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid, connection.in_transaction
    finally:
        cursor.close()


class _WorkCap:
    """SQLite's progress handler for a read on the loop's thread: asks SQLite to stop once the cap is reached."""

    __slots__ = ("checks",)

    def __init__(self) -> None:
        self.checks = 0

    def __call__(self) -> bool:
        self.checks += 1
        return self.checks >= READ_HERE_CHECKS


def _read_here(
    connection: sqlite3.Connection, busy_timeout_ms: int, operation: str, parameters: Any
) -> tuple[Any, list[Any], int, int | None, bool] | None:
    """_run on the calling thread for a statement that SQLite answers at once; None when it would have waited on a
    lock or worked past the cap (the caller then makes the trip)."""
    connection.execute("PRAGMA busy_timeout = 0")
    connection.set_progress_handler(_WorkCap(), READ_HERE_CHECK_EVERY)
    try:
        return _run(connection, operation, parameters)
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF in _RETRY_IN_THREAD:
            return None
        raise
    finally:
        connection.set_progress_handler(None, 0)
        connection.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")


def _run_many(connection: sqlite3.Connection, operation: str, seq_of_parameters: Any) -> tuple[int, int | None, bool]:
    cursor = connection.cursor()
    try:
        cursor.executemany(operation, seq_of_parameters)
        return cursor.rowcount, cursor.lastrowid, connection.in_transaction
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A DBAPI cursor whose execute() makes one trip to aiosqlite's thread. It keeps no driver cursor between
    statements: what a caller reads afterwards (rows, description, counts) was collected in that trip."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]  # the base class's close() has nothing to close then
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        pass  # the driver's cursor was closed in the same trip; the description stays

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        connection: OneHopConnection = self._adapt_connection  # type: ignore[assignment]
        async with connection._execute_mutex:
            connection.in_transaction = True  # until the statement says otherwise (also if it fails)
            outcome = None
            if connection.busy_timeout_ms is not None and _READ.match(operation):
                outcome = _read_here(self._connection._conn, connection.busy_timeout_ms, operation, parameters)
            if outcome is None:
                # aiosqlite's own queue to its thread, as SQLAlchemy's isolation_level setter uses it.
                outcome = await self._connection._execute(_run, self._connection._conn, operation, parameters)
            self._description, rows, self._rowcount, self._lastrowid, connection.in_transaction = outcome
            self._rows = collections.deque(rows)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        connection: OneHopConnection = self._adapt_connection  # type: ignore[assignment]
        async with connection._execute_mutex:
            connection.in_transaction = True
            self._description, self._rows = None, collections.deque()
            self._rowcount, self._lastrowid, connection.in_transaction = await self._connection._execute(
                _run_many, self._connection._conn, operation, seq_of_parameters
            )

    def nextset(self) -> None:
        raise NotImplementedError("SQLite statements have one result set")

    def setinputsizes(self, *inputsizes: Any) -> None:
        pass  # sqlite3 ignores them too


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """Knows whether SQLite has a transaction open (each statement's trip brings it back), so a commit or rollback
    with nothing to end costs no trip: SQLAlchemy ends every read-only session and every pool check-in with one."""

    __slots__ = ("busy_timeout_ms", "in_transaction")
    _cursor_cls = OneHopCursor

    def __init__(self, dbapi: Any, connection: Any, busy_timeout_ms: int | None = None) -> None:
        super().__init__(dbapi, connection)
        self.in_transaction = True  # not known yet: the first commit or rollback makes its trip
        # Set when the sqlite3 connection may be used from the loop's thread too (opened with check_same_thread off):
        # the busy timeout its reads there put back. None: every statement makes the trip.
        self.busy_timeout_ms = busy_timeout_ms

    def cursor(self, server_side: bool = False) -> Any:
        if server_side:  # aiosqlite's own streaming cursor, which does not report back: assume a transaction
            self.in_transaction = True
        return super().cursor(server_side)

    def commit(self) -> None:
        if self.in_transaction:
            super().commit()
            self.in_transaction = False

    def rollback(self) -> None:
        if self.in_transaction:
            super().rollback()
            self.in_transaction = False


SQLITE3_DEFAULT_TIMEOUT_SECONDS = 5.0  # sqlite3.connect's busy timeout when none is given


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        creator = kw.pop("async_creator_fn", None)  # create_async_engine(async_creator=...), as the base class takes it
        if creator is not None:
            return OneHopConnection(self, await_(creator(*arg, **kw)))
        # Reads also run on the loop's thread (one at a time per connection, under its mutex).
        kw["check_same_thread"] = False
        connection = self.aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True  # as SQLAlchemy's own adapter does: a forgotten connection never holds exit
        busy_timeout_ms = round(float(kw.get("timeout", SQLITE3_DEFAULT_TIMEOUT_SECONDS)) * 1000)
        return OneHopConnection(self, await_(connection), busy_timeout_ms)


class OneHopSQLiteDialect(SQLiteDialect_aiosqlite):
    driver = DRIVER
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> OneHopDBAPI:  # type: ignore[override]
        return OneHopDBAPI(__import__("aiosqlite"), __import__("sqlite3"))


registry.register(f"sqlite.{DRIVER}", __name__, "OneHopSQLiteDialect")
