"""Idempotent delivery: record the key, send once, remember the result, answer repeats from the record."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import CxflowError, FailedPrecondition, InvalidArgument, Unavailable
from services.notification.channel_settings import ChannelSettingsRepository
from services.notification.email_channel import (
    MAX_IDEMPOTENCY_KEY_LENGTH,
    EmailRejected,
    EmailRequest,
    SmtpEmailChannel,
    compose,
    message_id_for,
    validate,
)
from services.notification.repository import DeliveryRecord, DeliveryRepository

log = structlog.get_logger(__name__)

# Longer than any provider call may take (HTTP timeouts are at most 60 s, SMTP 30 s): a pending record whose
# lease has run out was left by a crashed call and may be sent again.
DEFAULT_LEASE_SECONDS = 120.0


class IdempotencyKeyReused(FailedPrecondition):
    """The key was first used for a different request (a caller's bug: retrying cannot help)."""


class DeliveryInFlight(Unavailable):
    """Another call is sending this key right now: retry later and get its result."""

    def __init__(self, idempotency_key: str) -> None:
        super().__init__(f"a call with idempotency key {idempotency_key!r} is in flight; retry later")


class DeliveryFailedBefore(CxflowError):
    """The first call with this key failed for good; repeats answer with its status and message."""

    def __init__(self, message: str, status_name: str) -> None:
        super().__init__(message)
        self.grpc_status = grpc.StatusCode[status_name] if status_name in grpc.StatusCode.__members__ else (
            grpc.StatusCode.FAILED_PRECONDITION
        )


@dataclass(frozen=True)
class Outcome:
    result: dict[str, Any]  # what the first successful call stored
    duplicate: bool  # True when the key had been sent before and nothing went out now


def fingerprint(channel: str, request: dict[str, Any]) -> str:
    """sha256 of the canonical request: what 'the same request' means for an idempotency key."""
    canonical = json.dumps({"channel": channel, **request}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def validate_idempotency_key(key: str) -> None:
    if not key.strip():
        raise InvalidArgument("idempotency_key is required", field="idempotency_key")
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidArgument(
            f"idempotency_key is longer than {MAX_IDEMPOTENCY_KEY_LENGTH} characters", field="idempotency_key"
        )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite hands back naive UTC


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


class Deliveries:
    """Runs each (organization, idempotency key) once and answers repeats from the delivery record.

    The delivery is committed as pending, with a lease, BEFORE the provider is called and marked sent
    after it. A failure keeps it pending and drops the lease, so the next call sends again; a crash
    between the two commits leaves the lease to run out, after which the next call sends again: at
    least once to the provider, exactly once as far as cxflow can know. Only an error marked
    final_for_key (the provider refused this very request, e.g. HTTP 4xx or SMTP 5xx) fails the
    delivery for good: it is stored and answered again for the same key.
    Within one process calls with the same key are serialised; across processes the unique constraint
    on (organization, key) lets only one record the key, and the lease keeps a second one from sending
    while the first is in flight.
    """

    def __init__(self, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        self._locks = KeyLocks()
        self._lease = timedelta(seconds=lease_seconds)

    async def deliver(
        self,
        session: AsyncSession,
        organization_id: str,
        idempotency_key: str,
        channel: str,
        fingerprint: str,
        send: Callable[[], Awaitable[dict[str, Any]]],
    ) -> Outcome:
        """Calls send() unless the key is already done; rows send() adds commit together with the result."""
        validate_idempotency_key(idempotency_key)
        async with self._locks.hold(organization_id, idempotency_key):
            deliveries = DeliveryRepository(session)
            now = datetime.now(UTC)
            lease_until = now + self._lease
            delivery = await deliveries.claim(organization_id, idempotency_key, channel, fingerprint, lease_until)
            if delivery is None:  # the key was used before: answer from its record, or start another attempt
                await session.commit()  # end the claim's transaction (on SQLite it holds the write lock)
                earlier = await self._earlier(deliveries, organization_id, idempotency_key, fingerprint, now)
                if isinstance(earlier, Outcome):
                    return earlier
                if not await deliveries.start_attempt(earlier, in_flight_until=lease_until):
                    raise DeliveryInFlight(idempotency_key)
                delivery = replace(earlier, attempts=earlier.attempts + 1)
            # The pending record must be durable before anything goes out. A crash after this line leaves
            # it pending, and a call after the lease sends again (at least once, never silently zero times).
            await session.commit()
            try:
                result = await send()
            except Exception as exc:
                await session.rollback()  # rows send() added belong to a send that did not happen
                message = exc.message if isinstance(exc, CxflowError) else f"{type(exc).__name__}: {exc}"
                # Only the provider's own refusal of this request is final; settings can be fixed, outages end.
                final = bool(getattr(exc, "final_for_key", False))
                status = exc.grpc_status.name if isinstance(exc, CxflowError) else None
                await deliveries.record_error(delivery.id, message, final=final, error_code=status)
                await session.commit()
                log.warning(
                    "delivery.failed",
                    channel=channel,
                    key=idempotency_key,
                    attempts=delivery.attempts,
                    final=final,
                    error=message,
                )
                raise
            await deliveries.mark_sent(delivery.id, result)
            await session.commit()
            log.info("delivery.sent", channel=channel, key=idempotency_key, attempts=delivery.attempts)
            return Outcome(result=result, duplicate=False)

    @staticmethod
    async def _earlier(
        deliveries: DeliveryRepository, organization_id: str, idempotency_key: str, fingerprint: str, now: datetime
    ) -> Outcome | DeliveryRecord:
        """What the key's record says of a new call: its stored answer (an Outcome, or DeliveryFailedBefore raised),
        or the pending record a new attempt may start from (DeliveryInFlight raised while its lease runs)."""
        delivery = await deliveries.get(organization_id, idempotency_key)
        assert delivery is not None, "the claim found the key recorded, and records are never deleted"
        if delivery.request_fingerprint != fingerprint:
            raise IdempotencyKeyReused("idempotency key reused with a different request", field="idempotency_key")
        if delivery.status == "sent":
            return Outcome(result=dict(delivery.result or {}), duplicate=True)
        if delivery.status == "failed":
            # A refusal is final for this key: answer it again rather than knocking on the provider twice.
            raise DeliveryFailedBefore(delivery.error or "this delivery failed before", delivery.error_code or "")
        if delivery.in_flight_until is not None and _aware(delivery.in_flight_until) > now:
            raise DeliveryInFlight(idempotency_key)
        return delivery


@dataclass(frozen=True)
class EmailSent:
    message_id: str
    duplicate: bool  # True when the key had been sent before and nothing went out now


class EmailDeliveries:
    """Sends each email once per (organization, idempotency key) through the delivery record.

    A resend after a crash carries the same Message-ID (derived from organization and key), so
    receiving systems can recognise it.
    """

    def __init__(self, channel: SmtpEmailChannel, default_from: str, deliveries: Deliveries | None = None) -> None:
        self._channel = channel
        self._default_from = default_from
        self._deliveries = deliveries or Deliveries()

    async def send(self, session: AsyncSession, organization_id: str, request: EmailRequest) -> EmailSent:
        """Sends through the organization's own SMTP server when its channel settings name one (else the process's
        SMTP_* settings), read when the email goes out."""
        validate(request)
        message_id = message_id_for(organization_id, request.idempotency_key)

        async def send_once() -> dict[str, Any]:
            channels = await ChannelSettingsRepository(session).channels(organization_id)
            message = compose(request, default_from=channels.default_from or self._default_from, message_id=message_id)
            refused = await self._channel.send(message, channels.smtp)
            result: dict[str, Any] = {"message_id": message_id}
            if refused:
                # The others got it already, so this counts as sent; the refusals stay on the record.
                result["refused"] = refused
                log.warning("email.partially_refused", key=request.idempotency_key, refused=sorted(refused))
            return result

        try:
            outcome = await self._deliveries.deliver(
                session, organization_id, request.idempotency_key, "email", request.fingerprint(), send_once
            )
        except DeliveryFailedBefore as exc:
            raise EmailRejected(exc.message) from None
        return EmailSent(message_id=outcome.result["message_id"], duplicate=outcome.duplicate)
