"""Reads and writes delivery records within the caller's session (never commits)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notification.models import Delivery


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, organization_id: str, idempotency_key: str) -> Delivery | None:
        return await self._session.scalar(
            select(Delivery).where(
                Delivery.organization_id == organization_id, Delivery.idempotency_key == idempotency_key
            )
        )

    async def add_pending(
        self,
        organization_id: str,
        idempotency_key: str,
        channel: str,
        request_fingerprint: str,
        in_flight_until: datetime | None = None,
    ) -> Delivery:
        """Adds and flushes a pending record whose first attempt starts now (in flight until in_flight_until), so
        a concurrent writer of the same key fails here (unique constraint)."""
        delivery = Delivery(
            organization_id=organization_id,
            idempotency_key=idempotency_key,
            channel=channel,
            status="pending",
            request_fingerprint=request_fingerprint,
            attempts=1,
            in_flight_until=in_flight_until,
        )
        self._session.add(delivery)
        await self._session.flush()
        return delivery

    @staticmethod
    def start_attempt(delivery: Delivery, in_flight_until: datetime | None = None) -> None:
        delivery.attempts += 1
        delivery.in_flight_until = in_flight_until

    @staticmethod
    def mark_sent(delivery: Delivery, result: dict[str, Any]) -> None:
        delivery.status = "sent"
        delivery.result = result
        delivery.error = None
        delivery.error_code = None
        delivery.in_flight_until = None

    @staticmethod
    def record_error(delivery: Delivery, error: str, *, final: bool, error_code: str | None = None) -> None:
        """Keeps the error; a final (non-retryable) one fails the delivery, any other leaves it pending for a retry."""
        delivery.error = error
        delivery.in_flight_until = None
        if final:
            delivery.status = "failed"
            delivery.error_code = error_code
