"""Idempotent delivery: record the key, send once, remember the result, answer repeats from the record."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import InvalidArgument
from services.notification.email_channel import (
    EmailProviderUnavailable,
    EmailRejected,
    EmailRequest,
    SmtpEmailChannel,
    SmtpMisconfigured,
    compose,
    message_id_for,
    validate,
)
from services.notification.models import Delivery
from services.notification.repository import DeliveryRepository

log = structlog.get_logger(__name__)


class IdempotencyKeyReused(InvalidArgument):
    """The key was first used for a different request."""


@dataclass(frozen=True)
class EmailSent:
    message_id: str
    duplicate: bool  # True when the key had been sent before and nothing went out now


class KeyLocks:
    """One asyncio lock per (organization, idempotency key), dropped once nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, organization_id: str, key: str) -> AsyncIterator[None]:
        ident = (organization_id, key)
        lock, users = self._locks.get(ident, (asyncio.Lock(), 0))
        self._locks[ident] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[ident]
            if users == 1:
                del self._locks[ident]
            else:
                self._locks[ident] = (lock, users - 1)


class EmailDeliveries:
    """Sends each (organization, idempotency key) once and answers repeats from the delivery record.

    The delivery is committed as pending BEFORE the SMTP call and marked sent after it. So a crash
    between the two, or a retryable SMTP failure, leaves a pending record, and the next call with
    the same key sends again: that is the at-least-once edge. The resend carries the same
    Message-ID (derived from organization and key), so receiving systems can recognise it.
    Within one process calls with the same key are serialised; across processes the unique
    constraint on (organization, key) lets only one of them record the key first.
    """

    def __init__(self, channel: SmtpEmailChannel, default_from: str) -> None:
        self._channel = channel
        self._default_from = default_from
        self._locks = KeyLocks()

    async def send(self, session: AsyncSession, organization_id: str, request: EmailRequest) -> EmailSent:
        validate(request)
        async with self._locks.hold(organization_id, request.idempotency_key):
            deliveries = DeliveryRepository(session)
            delivery = await self._claim(session, deliveries, organization_id, request)
            if delivery.status == "sent":
                return EmailSent(message_id=(delivery.result or {})["message_id"], duplicate=True)
            if delivery.status == "failed":
                # A refusal is final for this key: answer it again rather than knocking on the server twice.
                raise EmailRejected(delivery.error or "this delivery failed before")

            message_id = message_id_for(organization_id, request.idempotency_key)
            message = compose(request, default_from=self._default_from, message_id=message_id)
            deliveries.start_attempt(delivery)
            # The pending record must be durable before anything goes out. A crash after this line leaves
            # it pending, and the next call sends again (at least once, never silently zero times).
            await session.commit()
            try:
                refused = await self._channel.send(message)
            except (EmailProviderUnavailable, EmailRejected, SmtpMisconfigured) as exc:
                # Only a refusal of the message itself is final; the rest stays pending for a retry.
                deliveries.record_error(delivery, exc.message, final=isinstance(exc, EmailRejected))
                await session.commit()
                log.warning(
                    "email.failed", key=request.idempotency_key, attempts=delivery.attempts, error=exc.message
                )
                raise
            result: dict[str, object] = {"message_id": message_id}
            if refused:
                # The others got it already, so this counts as sent; the refusals stay on the record.
                result["refused"] = refused
                log.warning("email.partially_refused", key=request.idempotency_key, refused=sorted(refused))
            deliveries.mark_sent(delivery, result)
            await session.commit()
            log.info("email.sent", key=request.idempotency_key, message_id=message_id, attempts=delivery.attempts)
            return EmailSent(message_id=message_id, duplicate=False)

    async def _claim(
        self, session: AsyncSession, deliveries: DeliveryRepository, organization_id: str, request: EmailRequest
    ) -> Delivery:
        """The existing record of this key (same request only), or a new pending one."""
        fingerprint = request.fingerprint()
        delivery = await deliveries.get(organization_id, request.idempotency_key)
        if delivery is None:
            try:
                delivery = await deliveries.add_pending(organization_id, request.idempotency_key, "email", fingerprint)
            except IntegrityError:
                # Another process recorded the key first; continue from its record.
                await session.rollback()
                delivery = await deliveries.get(organization_id, request.idempotency_key)
                assert delivery is not None, "the unique constraint fired, so the record exists"
        if delivery.request_fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                "idempotency key reused with a different request", field="idempotency_key"
            )
        return delivery
