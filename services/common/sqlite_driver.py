"""SQLAlchemy's aiosqlite dialect with a cursor that runs each statement whole (execute, fetch, close) in one
hand-off to aiosqlite's thread; registered as `sqlite+aiosqlite_onehop`, which services.common.db uses for SQLite.

SQLAlchemy's own adapter awaits each DBAPI step separately: making the cursor, executing, fetching and closing are
four trips to aiosqlite's thread and back, and on this machine each costs about 0.08 ms of CPU (thread wake-ups and
the event loop's self-pipe), against about 1 µs for SQLite to run a small statement. A statement that needs no other
step than these (every statement here: SQLite has no server-side state between them) can make one trip."""

from __future__ import annotations

import collections
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


def _run(
    connection: sqlite3.Connection, operation: str, parameters: Any
) -> tuple[Any, list[Any], int, int | None, bool]:
    """In aiosqlite's thread: the statement's description, rows, row count, last row id, and whether a transaction is
    open after it."""
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
            # aiosqlite's own queue to its thread, as SQLAlchemy's isolation_level setter uses it.
            self._description, rows, self._rowcount, self._lastrowid, connection.in_transaction = (
                await self._connection._execute(_run, self._connection._conn, operation, parameters)
            )
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

    __slots__ = ("in_transaction",)
    _cursor_cls = OneHopCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.in_transaction = True  # not known yet: the first commit or rollback makes its trip

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


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        creator = kw.pop("async_creator_fn", None)  # create_async_engine(async_creator=...), as the base class takes it
        if creator is not None:
            return OneHopConnection(self, await_(creator(*arg, **kw)))
        connection = self.aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True  # as SQLAlchemy's own adapter does: a forgotten connection never holds exit
        return OneHopConnection(self, await_(connection))


class OneHopSQLiteDialect(SQLiteDialect_aiosqlite):
    driver = DRIVER
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> OneHopDBAPI:  # type: ignore[override]
        return OneHopDBAPI(__import__("aiosqlite"), __import__("sqlite3"))


registry.register(f"sqlite.{DRIVER}", __name__, "OneHopSQLiteDialect")
