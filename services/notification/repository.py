"""Reads and writes delivery records within the caller's session (never commits), one plain statement each.

A delivery record is a few columns read and changed at known moments of a send, so these are SQL statements on the
table rather than ORM objects: no identity map or change tracking to pay for on every email, and a rollback of the
caller's session (a failed send) leaves nothing stale behind."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.notification.models import Delivery

DELIVERIES = Delivery.__table__


@dataclass(frozen=True)
class DeliveryRecord:
    """A delivery record as read (or just written)."""

    id: str
    status: str  # pending | sent | failed
    request_fingerprint: str
    attempts: int
    result: dict[str, Any] | None = None
    error: str | None = None
    error_code: str | None = None
    in_flight_until: datetime | None = None


_RECORD_COLUMNS = [DELIVERIES.c[name] for name in DeliveryRecord.__dataclass_fields__]

# Every statement is built once with bind parameters: building one per call (and working out its cache key) cost more
# than running it.
_GET = select(*_RECORD_COLUMNS).where(
    DELIVERIES.c.organization_id == bindparam("organization_id"),
    DELIVERIES.c.idempotency_key == bindparam("idempotency_key"),
)
# The id and the timestamps come from the columns' defaults; RETURNING gives the id back.
_CLAIM_COLUMNS = (
    "organization_id", "idempotency_key", "channel", "status", "request_fingerprint", "attempts", "in_flight_until"
)
_CLAIM = {
    dialect: insert(DELIVERIES)
    .values({name: bindparam(name) for name in _CLAIM_COLUMNS})
    .on_conflict_do_nothing(index_elements=[DELIVERIES.c.organization_id, DELIVERIES.c.idempotency_key])
    .returning(DELIVERIES.c.id)
    for dialect, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
_START_ATTEMPT = (
    update(DELIVERIES)
    .where(
        DELIVERIES.c.id == bindparam("delivery_id"),
        DELIVERIES.c.status == "pending",
        DELIVERIES.c.attempts == bindparam("seen_attempts"),
    )
    .values(attempts=bindparam("attempts"), in_flight_until=bindparam("in_flight_until"))
)
_MARK_SENT = (
    update(DELIVERIES)
    .where(DELIVERIES.c.id == bindparam("delivery_id"))
    .values(status="sent", result=bindparam("result"), error=None, error_code=None, in_flight_until=None)
)


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, organization_id: str, idempotency_key: str) -> DeliveryRecord | None:
        row = (
            await self._session.execute(_GET, {"organization_id": organization_id, "idempotency_key": idempotency_key})
        ).first()
        return DeliveryRecord(*row) if row is not None else None

    async def claim(
        self,
        organization_id: str,
        idempotency_key: str,
        channel: str,
        request_fingerprint: str,
        in_flight_until: datetime | None = None,
    ) -> DeliveryRecord | None:
        """Records the key as pending, its first attempt in flight until in_flight_until; None when the key has a
        record already. One statement (INSERT .. ON CONFLICT DO NOTHING): of concurrent callers, in this process or
        another, the unique constraint lets exactly one claim the key."""
        values = {
            "organization_id": organization_id,
            "idempotency_key": idempotency_key,
            "channel": channel,
            "status": "pending",
            "request_fingerprint": request_fingerprint,
            "attempts": 1,
            "in_flight_until": in_flight_until,
        }
        claimed = (await self._session.execute(_CLAIM[self._session.get_bind().dialect.name], values)).first()
        if claimed is None:
            return None
        return DeliveryRecord(
            id=claimed.id,
            status=values["status"],
            request_fingerprint=request_fingerprint,
            attempts=values["attempts"],
            in_flight_until=in_flight_until,
        )

    async def start_attempt(self, record: DeliveryRecord, in_flight_until: datetime | None = None) -> bool:
        """Counts another attempt of a pending record, in flight until in_flight_until. False when the record changed
        since it was read (another caller started an attempt or finished the delivery): this caller must not send."""
        changed = await self._session.execute(
            _START_ATTEMPT,
            {
                "delivery_id": record.id,
                "seen_attempts": record.attempts,
                "attempts": record.attempts + 1,
                "in_flight_until": in_flight_until,
            },
        )
        return changed.rowcount == 1

    async def mark_sent(self, delivery_id: str, result: dict[str, Any]) -> None:
        await self._session.execute(_MARK_SENT, {"delivery_id": delivery_id, "result": result})

    async def record_error(self, delivery_id: str, error: str, *, final: bool, error_code: str | None = None) -> None:
        """Keeps the error; a final (non-retryable) one fails the delivery, any other leaves it pending for a retry."""
        values: dict[str, Any] = {"error": error, "in_flight_until": None}
        if final:
            values.update(status="failed", error_code=error_code)
        await self._session.execute(update(DELIVERIES).where(DELIVERIES.c.id == delivery_id).values(**values))
