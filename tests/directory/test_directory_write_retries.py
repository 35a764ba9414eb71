"""A unit of directory work that loses a race (a unique key taken meanwhile, a PostgreSQL deadlock) runs again from
scratch; any other database error reaches the caller at once."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from services.common.db import create_engine, create_session_factory
from services.directory.errors import WriteConflict
from services.directory.servicer import _Sessions


class DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate  # what SQLAlchemy's asyncpg adapter exposes as exc.orig.sqlstate


def failing_first(attempts_seen: list[int], error: DBAPIError, failures: int = 1):  # type: ignore[no-untyped-def]
    async def work(session):  # type: ignore[no-untyped-def]
        attempts_seen.append(len(attempts_seen) + 1)
        await session.execute(text("SELECT 1"))
        if len(attempts_seen) <= failures:
            raise error
        return "done"

    return work


@pytest.mark.parametrize(
    "error",
    [
        IntegrityError("INSERT", {}, DriverError("23505")),
        OperationalError("UPDATE", {}, DriverError("40P01")),  # deadlock detected
        OperationalError("UPDATE", {}, DriverError("40001")),  # serialization failure
    ],
    ids=["unique-key-taken", "deadlock", "serialization-failure"],
)
async def test_a_lost_race_runs_again(database_url: str, error: DBAPIError) -> None:
    engine = create_engine(database_url)
    try:
        attempts: list[int] = []
        assert await _Sessions(create_session_factory(engine)).run(failing_first(attempts, error), attempts=3) == "done"
        assert attempts == [1, 2]
    finally:
        await engine.dispose()


async def test_other_errors_and_exhausted_attempts_reach_the_caller(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        sessions = _Sessions(create_session_factory(engine))
        attempts: list[int] = []
        with pytest.raises(OperationalError):
            await sessions.run(failing_first(attempts, OperationalError("UPDATE", {}, DriverError("57014"))), attempts=3)
        assert attempts == [1]  # a query canceled is not a race: no second attempt
        attempts.clear()
        with pytest.raises(WriteConflict):
            await sessions.run(failing_first(attempts, OperationalError("UPDATE", {}, DriverError("40P01")), failures=9), attempts=3)
        assert attempts == [1, 2, 3]
    finally:
        await engine.dispose()
