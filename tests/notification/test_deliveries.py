"""The delivery record (services/notification/deliveries.py) between callers that share no lock, as two processes of
the notification service would: the database alone decides who sends. Real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.common.db import create_engine, create_session_factory
from services.common.migrations import upgrade_to_head_async
from services.notification import deliveries as deliveries_module
from services.notification.deliveries import Deliveries, DeliveryInFlight, Outcome
from services.notification.repository import DeliveryRecord, DeliveryRepository

ORGANIZATION = "org-deliveries"


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await upgrade_to_head_async("notification", database_url)
    engine = create_engine(database_url)
    yield create_session_factory(engine)
    await engine.dispose()


async def deliver_from_its_own_process(
    sessions: async_sessionmaker[AsyncSession], key: str, sent: list[str], who: str
) -> Outcome | Exception:
    """One call through a Deliveries of its own (its own key locks, as in another process) and its own session."""

    async def send() -> dict[str, Any]:
        sent.append(who)
        return {"by": who}

    async with sessions() as session:
        try:
            return await Deliveries().deliver(session, ORGANIZATION, key, "webhook", "fingerprint-1", send)
        except DeliveryInFlight as exc:
            return exc


async def test_concurrent_first_calls_send_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    sent: list[str] = []
    outcomes = await asyncio.gather(
        *(deliver_from_its_own_process(sessions, "first/0", sent, f"caller-{n}") for n in range(4))
    )
    assert len(sent) == 1
    # The others answer from the record once it is sent, or are told to retry while it is in flight.
    for outcome in outcomes:
        assert isinstance(outcome, DeliveryInFlight) or outcome.result == {"by": sent[0]}


async def test_two_callers_retrying_a_crashed_send_start_one_attempt(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A record a crashed call left: pending, its lease run out.
    async with sessions() as session:
        claimed = await DeliveryRepository(session).claim(
            ORGANIZATION, "crashed/0", "webhook", "fingerprint-1", datetime.now(UTC) - timedelta(seconds=1)
        )
        await session.commit()
    assert claimed is not None

    # Both callers read that record before either starts its attempt.
    both_read = asyncio.Barrier(2)
    read = DeliveryRepository.get

    async def get_then_wait(self: DeliveryRepository, organization_id: str, key: str) -> DeliveryRecord | None:
        record = await read(self, organization_id, key)
        await both_read.wait()
        return record

    monkeypatch.setattr(deliveries_module.DeliveryRepository, "get", get_then_wait)
    sent: list[str] = []
    outcomes = await asyncio.gather(
        deliver_from_its_own_process(sessions, "crashed/0", sent, "a"),
        deliver_from_its_own_process(sessions, "crashed/0", sent, "b"),
    )

    assert len(sent) == 1
    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["DeliveryInFlight", "Outcome"]
    monkeypatch.undo()
    async with sessions() as session:
        record = await DeliveryRepository(session).get(ORGANIZATION, "crashed/0")
    assert record is not None
    assert (record.status, record.attempts, record.result) == ("sent", 2, {"by": sent[0]})
