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


def _run(connection: sqlite3.Connection, operation: str, parameters: Any) -> tuple[Any, list[Any], int, int | None]:
    """In aiosqlite's thread: the statement's description, rows, row count and last row id."""
    cursor = connection.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _run_many(connection: sqlite3.Connection, operation: str, seq_of_parameters: Any) -> tuple[int, int | None]:
    cursor = connection.cursor()
    try:
        cursor.executemany(operation, seq_of_parameters)
        return cursor.rowcount, cursor.lastrowid
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
        async with self._adapt_connection._execute_mutex:
            # aiosqlite's own queue to its thread, as SQLAlchemy's isolation_level setter uses it.
            self._description, rows, self._rowcount, self._lastrowid = await self._connection._execute(
                _run, self._connection._conn, operation, parameters
            )
            self._rows = collections.deque(rows)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        async with self._adapt_connection._execute_mutex:
            self._description, self._rows = None, collections.deque()
            self._rowcount, self._lastrowid = await self._connection._execute(
                _run_many, self._connection._conn, operation, seq_of_parameters
            )

    def nextset(self) -> None:
        raise NotImplementedError("SQLite statements have one result set")

    def setinputsizes(self, *inputsizes: Any) -> None:
        pass  # sqlite3 ignores them too


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneHopCursor


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
