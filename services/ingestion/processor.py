"""Drains the inbox: runs each pending batch's messages through their source's subscriptions, retrying only transient
failures."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import structlog
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.service import RPCError

from cxflow.v1 import common_pb2, directory_pb2, directory_pb2_grpc
from services.common.auth import internal_metadata
from services.common.contact_fields import CONTACT_INPUT_FIELDS
from services.common.errors import CxflowError, Unavailable
from services.common.metrics import EVENT_REJECTED, INTAKE_SEGMENT, EventMetrics
from services.common.temporal_errors import TEMPORAL_TRANSIENT
from services.ingestion.captures import VIA_SUBSCRIPTION, capture_if_active
from services.ingestion.errors import WorkflowDisabled
from services.ingestion.grpc_support import struct_message
from services.ingestion.launcher import RunLauncher
from services.ingestion.mappings import EMBEDDED_DATA_PREFIX, coerce
from services.ingestion.models import Subscription
from services.ingestion.repository import IngestionRepository, PendingBatch
from services.ingestion.subscriptions import LOOKUP_FIELDS, UPSERT_CONTACT, UPSERT_TRANSACTION, SubscriptionRule, compile_rule
from workflows.contracts import WorkflowSnapshot

log = structlog.get_logger(__name__)

BATCHES_PER_PASS = 50  # inbox batches a pass reads (a request each, up to 2,500 messages; a hundred is typical)
RETRIES_PER_PASS = 100  # failed messages a pass retries
RETRY_CHECK_SECONDS = 1.0  # how often a pass looks for failed messages due again (the shortest backoff is 2 s)
PASS_GATHER_SECONDS = 0.05
MAX_ATTEMPTS = 20
MAX_BACKOFF_SECONDS = 300
_TRANSIENT_GRPC = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED}


@dataclass(frozen=True)
class QueuedMessage:
    """One message to process: where it sits in the inbox and what it says."""

    batch_id: int
    position: int  # in its batch
    organization_id: str
    source_id: str
    payload: dict[str, Any]
    received_at: datetime

    @property
    def message_id(self) -> str:
        return str(self.payload["messageId"])


class PermanentFailure(Exception):
    """The message can never succeed as it is: it is marked failed with this text."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def classify(exc: BaseException) -> str:
    """'transient' when retrying later can help, else 'permanent'."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return "transient" if exc.code() in _TRANSIENT_GRPC else "permanent"
    if isinstance(exc, RPCError):
        return "transient" if exc.status in TEMPORAL_TRANSIENT else "permanent"
    if isinstance(exc, Unavailable):
        return "transient"
    if isinstance(exc, (CxflowError, PermanentFailure)):
        return "permanent"
    return "transient"  # an unknown failure (a database hiccup, a bug being fixed) gets the bounded retries


def describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    if isinstance(exc, RPCError):
        return f"{exc.status.name}: {exc.message}"
    if isinstance(exc, CxflowError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def contact_input(fields: dict[str, Any]) -> directory_pb2.ContactInput:
    """Mapped contact fields as the directory's ContactInput; fields left out leave stored values alone."""
    contact = directory_pb2.ContactInput()
    embedded: dict[str, Any] = {}
    for name, value in fields.items():
        if name in CONTACT_INPUT_FIELDS:
            setattr(contact, CONTACT_INPUT_FIELDS[name], coerce(value, "string", name))
        elif name == "unsubscribed":
            contact.unsubscribed = coerce(value, "boolean", name)
        elif name.startswith(EMBEDDED_DATA_PREFIX):
            embedded[name[len(EMBEDDED_DATA_PREFIX) :]] = value
    if embedded:
        contact.embedded_data.CopyFrom(struct_message(embedded))
    return contact


class InboxProcessor:
    """An asyncio task that processes pending inbox rows in arrival order; woken on insert, polling as a safety net."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        launcher: RunLauncher,
        directory: directory_pb2_grpc.DirectoryServiceStub,
        internal_token: str,
        *,
        dedup_retention: timedelta = timedelta(days=7),
        poll_seconds: float = 2.0,
        events: EventMetrics | None = None,
    ) -> None:
        self._sessions = session_factory
        self._events = events or EventMetrics(CollectorRegistry())
        self._launcher = launcher
        self._directory = directory
        self._internal_token = internal_token
        self._retention = dedup_retention
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next_purge = datetime.min.replace(tzinfo=UTC)
        self._next_retry_check = datetime.min.replace(tzinfo=UTC)

    def start(self) -> None:
        # Batches left pending by a previous process are due at once, so the first pass resumes them.
        self._task = asyncio.create_task(self._run(), name="ingestion-inbox-processor")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                handled = await self.process_due()
                await self._purge_if_due()
            except Exception:
                # The loop must outlive any one failure (e.g. the database restarting); the next poll retries.
                log.exception("inbox.pass_failed")
                handled = 0
            if handled < BATCHES_PER_PASS:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
                except TimeoutError:
                    pass
                else:
                    # Under a stream of requests, gather a few before the next pass: fewer, larger passes and
                    # commits leave the database to the intake (an event waits at most this much longer).
                    await asyncio.sleep(PASS_GATHER_SECONDS)

    async def process_due(self) -> int:
        """Handles the pending batches and the failed messages that are due; returns how many batches and failed
        messages it took (a full pass means more may be waiting).

        One pass reads each source's subscriptions once. The batches of a source without subscriptions are settled
        together, in one statement, their messages never read. In the others, a message that acted (wrote to the
        directory, started a run) is recorded as done as soon as it succeeds, so a pass cut short (a crash, a stop)
        never runs it again; a message that failed moves to the failures, retried from there."""
        async with self._sessions() as session:
            batches = await IngestionRepository(session).pending_batches(BATCHES_PER_PASS)
        routes: dict[tuple[str, str], tuple[list[SubscriptionRule], dict[str, Any]]] = {}
        quiet: list[int] = []  # batches with nothing to do
        taken = 0
        for batch in batches:
            key = (batch.organization_id, batch.source_id)
            try:
                if key not in routes:
                    routes[key] = await self._load_routes(*key)
            except Exception:
                # The database failing now: this batch and the ones after it stay pending for a later pass.
                log.exception("inbox.routes_unavailable", org=batch.organization_id, source_id=batch.source_id)
                break
            rules, workflows = routes[key]
            if rules:
                await self._process_batch(batch, rules, workflows)
            else:
                quiet.append(batch.id)
            taken += 1
        if quiet:
            await self._settle_batches(quiet)
        return taken + await self._retry_due_failures(routes)

    async def _process_batch(self, batch: PendingBatch, rules: list[SubscriptionRule], workflows: dict[str, Any]) -> None:
        async with self._sessions() as session:
            messages = await IngestionRepository(session).batch_messages(batch.id)
        for position in range(batch.handled, len(messages)):
            message = QueuedMessage(batch.id, position, batch.organization_id, batch.source_id, messages[position], batch.received_at)
            with structlog.contextvars.bound_contextvars(org=message.organization_id, event_id=message.message_id):
                try:
                    acted = await self._route(message, rules, workflows)
                except Exception as exc:  # noqa: BLE001 - every failure is recorded, none stops the loop
                    await self._record_first_failure(message, exc)
                    continue
            if acted and position + 1 < len(messages):
                async with self._sessions() as session:
                    await IngestionRepository(session).advance_batch(batch.id, position + 1)
                    await session.commit()
        await self._settle_batches([batch.id])

    async def _retry_due_failures(self, routes: dict[tuple[str, str], tuple[list[SubscriptionRule], dict[str, Any]]]) -> int:
        now = _utc_now()
        if now < self._next_retry_check:
            return 0
        async with self._sessions() as session:
            due = await IngestionRepository(session).due_failures(now, RETRIES_PER_PASS)
        # A full page means more are due: look again on the next pass.
        self._next_retry_check = now if len(due) == RETRIES_PER_PASS else now + timedelta(seconds=RETRY_CHECK_SECONDS)
        for failure in due:
            message = QueuedMessage(failure.batch_id, failure.position, failure.organization_id, failure.source_id,
                                    failure.payload, failure.received_at)  # fmt: skip
            key = (failure.organization_id, failure.source_id)
            with structlog.contextvars.bound_contextvars(org=message.organization_id, event_id=message.message_id):
                try:
                    if key not in routes:
                        routes[key] = await self._load_routes(*key)
                    await self._route(message, *routes[key])
                except Exception as exc:  # noqa: BLE001
                    await self._record_retry_failure(failure.id, failure.attempts + 1, exc)
                    continue
            async with self._sessions() as session:
                await IngestionRepository(session).settle_failure(
                    failure.id, status="processed", attempts=failure.attempts + 1, error="", processed_at=_utc_now()
                )
                await session.commit()
        return len(due)

    async def _settle_batches(self, batch_ids: list[int]) -> None:
        async with self._sessions() as session:
            await IngestionRepository(session).settle_batches(batch_ids, _utc_now())
            await session.commit()

    async def _load_routes(self, organization_id: str, source_id: str) -> tuple[list[SubscriptionRule], dict[str, Any]]:
        async with self._sessions() as session:
            repository = IngestionRepository(session)
            subscriptions = await repository.enabled_subscriptions(organization_id, source_id)
            workflows = {}
            for subscription in subscriptions:
                if subscription.workflow_id:
                    workflows[subscription.workflow_id] = await repository.get_workflow(subscription.workflow_id)
        return [_rule(s) for s in subscriptions], workflows

    async def _route(self, message: QueuedMessage, rules: list[SubscriptionRule], workflows: dict[str, Any]) -> bool:
        """Does what every matching subscription asks; answers whether any matched."""
        acted = False
        for rule in rules:
            if not rule.matches(message.payload):
                continue
            acted = True
            if rule.action == UPSERT_CONTACT:
                await self._upsert_contact(message, rule)
            elif rule.action == UPSERT_TRANSACTION:
                await self._upsert_transaction(message, rule)
            else:
                await self._start_workflow(message, rule, workflows.get(rule.workflow_id))
        return acted

    async def _upsert_contact(self, message: QueuedMessage, rule: SubscriptionRule) -> None:
        request = directory_pb2.UpsertContactRequest(directory_id=rule.directory_id, contact=contact_input(rule.contact_fields(message.payload)))
        reply = await self._directory.UpsertContact(
            request, metadata=internal_metadata(self._internal_token, message.organization_id), timeout=30
        )
        log.info("inbox.contact_upserted", directory_id=rule.directory_id, contact_id=reply.contact_id, created=reply.created)

    async def _upsert_transaction(self, message: QueuedMessage, rule: SubscriptionRule) -> None:
        """Segment's "upsert contact transaction": find the contact by extRef / phone / email (create it when absent,
        refuse when several match), then add the transaction to it."""
        fields = rule.transaction_fields(message.payload)
        metadata = internal_metadata(self._internal_token, message.organization_id)
        identifiers = [
            directory_pb2.ContactFilter(field=directory_pb2.FieldFilter(field=name, comparison="eq", value=str(fields.contact[name])))
            for name in LOOKUP_FIELDS
            if fields.contact.get(name) not in (None, "")
        ]
        if not identifiers:
            raise PermanentFailure("the event has no extRef, phone or email to find its contact by")
        search = directory_pb2.SearchContactsRequest(
            directory_id=rule.directory_id,
            filter=directory_pb2.ContactFilter(group=directory_pb2.FilterGroup(conjunction=directory_pb2.CONJUNCTION_OR, filters=identifiers)),
            page=common_pb2.PageRequest(page_size=2),
        )
        found = (await self._directory.SearchContacts(search, metadata=metadata, timeout=30)).contacts
        if len(found) > 1:
            raise PermanentFailure(f"several contacts match the event's extRef / phone / email ({found[0].id}, {found[1].id}, ...)")
        if found:
            contact_id = found[0].id
        else:
            upsert = directory_pb2.UpsertContactRequest(directory_id=rule.directory_id, contact=contact_input(fields.contact))
            contact_id = (await self._directory.UpsertContact(upsert, metadata=metadata, timeout=30)).contact_id
        transaction = directory_pb2.TransactionInput(contact_id=contact_id, mailing_list_id=rule.mailing_list_id)
        transaction.transaction_date.FromDatetime(fields.transaction_date)
        if fields.data:
            transaction.data.CopyFrom(struct_message(fields.data))
        reply = await self._directory.CreateTransactions(
            # The messageId is an idempotency key: a retried message answers the transaction it already added.
            directory_pb2.CreateTransactionsRequest(
                directory_id=rule.directory_id, transactions={message.message_id: transaction}, idempotent=True
            ),
            metadata=metadata,
            timeout=30,
        )
        if message.message_id in reply.errors:
            error = reply.errors[message.message_id]
            raise PermanentFailure(f"the directory refused the transaction: {error.message}")
        log.info("inbox.transaction_added", directory_id=rule.directory_id, contact_id=contact_id,
                 transaction_id=reply.created.get(message.message_id, ""))

    async def _start_workflow(self, message: QueuedMessage, rule: SubscriptionRule, workflow: Any) -> None:
        if workflow is None or workflow.organization_id != message.organization_id:
            raise PermanentFailure(f"workflow {rule.workflow_id} not found")
        await capture_if_active(self._sessions, workflow.id, message.message_id, message.payload, VIA_SUBSCRIPTION)
        snapshot = WorkflowSnapshot(workflow_id=workflow.id, version=workflow.version, name=workflow.name, spec=workflow.spec)
        try:
            # intake=None: the message was counted once, when the Tracking API accepted it.
            outcome = await self._launcher.trigger(message.organization_id, snapshot, message.payload, message.message_id, intake=None)
        except WorkflowDisabled:
            log.info("inbox.workflow_disabled", workflow_id=workflow.id)  # nothing to do, which is not a failure
            return
        log.info("inbox.workflow_triggered", workflow_id=workflow.id, matched=outcome.matched)

    def _next_attempt(self, attempts: int, exc: Exception) -> tuple[str, str, datetime]:
        """The failure's status after `attempts` attempts, its error text, and when to try again."""
        text = describe(exc)
        if classify(exc) == "transient" and attempts < MAX_ATTEMPTS:
            delay = min(2**attempts, MAX_BACKOFF_SECONDS)
            log.warning("inbox.retry_later", error=text, attempts=attempts, delay_seconds=delay)
            return "retrying", text, _utc_now() + timedelta(seconds=delay)
        log.warning("inbox.failed", error=text, attempts=attempts)
        self._events.record(INTAKE_SEGMENT, EVENT_REJECTED)
        return "failed", text, _utc_now()

    async def _record_first_failure(self, message: QueuedMessage, exc: Exception) -> None:
        """The message moves to the failures and its batch past it, in one transaction."""
        status, error, next_attempt_at = self._next_attempt(1, exc)
        async with self._sessions() as session:
            repository = IngestionRepository(session)
            await repository.add_failure(
                batch_id=message.batch_id, position=message.position, organization_id=message.organization_id,
                source_id=message.source_id, message_id=message.message_id, payload=message.payload, status=status,
                attempts=1, error=error, next_attempt_at=next_attempt_at, received_at=message.received_at,
                processed_at=_utc_now() if status == "failed" else None,
            )  # fmt: skip
            await repository.advance_batch(message.batch_id, message.position + 1)
            await session.commit()

    async def _record_retry_failure(self, failure_id: int, attempts: int, exc: Exception) -> None:
        status, error, next_attempt_at = self._next_attempt(attempts, exc)
        async with self._sessions() as session:
            await IngestionRepository(session).settle_failure(
                failure_id, status=status, attempts=attempts, error=error, next_attempt_at=next_attempt_at,
                processed_at=_utc_now() if status == "failed" else None,
            )  # fmt: skip
            await session.commit()

    async def _purge_if_due(self) -> None:
        now = _utc_now()
        if now < self._next_purge:
            return
        self._next_purge = now + timedelta(minutes=10)
        await self.purge_expired()

    async def purge_expired(self) -> int:
        """Forgets the message ids (and processed batches) received before the dedup retention window; returns how
        many ids."""
        async with self._sessions() as session:
            purged = await IngestionRepository(session).purge_expired(_utc_now() - self._retention)
            await session.commit()
        if purged:
            log.info("inbox.purged", message_ids=purged)
        return purged


def _rule(subscription: Subscription) -> SubscriptionRule:
    # Rules were validated when the subscription was created; compiling again is cheap and keeps the row the truth.
    return compile_rule(
        subscription.action,
        subscription.filter,
        subscription.mappings,
        subscription.directory_id,
        subscription.workflow_id,
        subscription.mailing_list_id,
    )
