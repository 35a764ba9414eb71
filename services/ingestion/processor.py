"""Drains the inbox: runs each pending message through its source's subscriptions, retrying only transient failures."""

from __future__ import annotations

import asyncio
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
from services.ingestion.models import InboxMessage, Subscription
from services.ingestion.repository import IngestionRepository, PendingMessage
from services.ingestion.subscriptions import LOOKUP_FIELDS, UPSERT_CONTACT, UPSERT_TRANSACTION, SubscriptionRule, compile_rule
from workflows.contracts import WorkflowSnapshot

log = structlog.get_logger(__name__)

BATCH_SIZE = 500  # rows a pass reads: a pass costs a few statements whatever its size, so larger passes cost less a row
PASS_GATHER_SECONDS = 0.05
MAX_ATTEMPTS = 20
MAX_BACKOFF_SECONDS = 300
_TRANSIENT_GRPC = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED}


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

    def start(self) -> None:
        # Rows left pending by a previous process are due at once, so the first pass resumes them.
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
            if handled < BATCH_SIZE:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
                except TimeoutError:
                    pass
                else:
                    # Under a stream of requests, gather a few before the next pass: fewer, larger passes and
                    # commits leave the database to the intake (an event waits at most this much longer).
                    await asyncio.sleep(PASS_GATHER_SECONDS)

    async def process_due(self) -> int:
        """Processes the pending rows that are due; returns how many were handled.

        One pass reads each source's subscriptions once. A row that acted (wrote to the directory, started a run)
        is settled as soon as it succeeds, so a pass cut short (a crash, a stop) never runs it again. Rows that
        matched no subscription did nothing that could repeat: they are settled together, in one statement."""
        async with self._sessions() as session:
            rows = await IngestionRepository(session).due_inbox_messages(_utc_now(), BATCH_SIZE)
        routes: dict[tuple[str, str], tuple[list[SubscriptionRule], dict[str, Any]]] = {}
        unmatched: list[int] = []
        for row in rows:
            key = (row.organization_id, row.source_id)
            if key in routes and not routes[key][0]:
                unmatched.append(row.id)  # its source has no subscriptions: nothing to do, the payload is not even parsed
                continue
            with structlog.contextvars.bound_contextvars(org=row.organization_id, event_id=row.message_id):
                try:
                    if key not in routes:
                        routes[key] = await self._load_routes(*key)
                    acted = await self._route(row, *routes[key])
                except Exception as exc:  # noqa: BLE001 - every failure is recorded on the row, none stops the loop
                    await self._record_failure(row, exc)
                    continue
            if acted:
                await self._settle_processed([row.id])
            else:
                unmatched.append(row.id)
        if unmatched:
            await self._settle_processed(unmatched)
        return len(rows)

    async def _settle_processed(self, row_ids: list[int]) -> None:
        async with self._sessions() as session:
            await IngestionRepository(session).settle_inbox_messages(
                row_ids, status="processed", attempts=InboxMessage.attempts + 1, error="", processed_at=_utc_now()
            )
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

    async def _route(self, row: PendingMessage, rules: list[SubscriptionRule], workflows: dict[str, Any]) -> bool:
        """Does what every matching subscription asks; answers whether any matched."""
        acted = False
        for rule in rules:
            if not rule.matches(row.payload):
                continue
            acted = True
            if rule.action == UPSERT_CONTACT:
                await self._upsert_contact(row, rule)
            elif rule.action == UPSERT_TRANSACTION:
                await self._upsert_transaction(row, rule)
            else:
                await self._start_workflow(row, rule, workflows.get(rule.workflow_id))
        return acted

    async def _upsert_contact(self, row: PendingMessage, rule: SubscriptionRule) -> None:
        request = directory_pb2.UpsertContactRequest(directory_id=rule.directory_id, contact=contact_input(rule.contact_fields(row.payload)))
        reply = await self._directory.UpsertContact(
            request, metadata=internal_metadata(self._internal_token, row.organization_id), timeout=30
        )
        log.info("inbox.contact_upserted", directory_id=rule.directory_id, contact_id=reply.contact_id, created=reply.created)

    async def _upsert_transaction(self, row: PendingMessage, rule: SubscriptionRule) -> None:
        """Segment's "upsert contact transaction": find the contact by extRef / phone / email (create it when absent,
        refuse when several match), then add the transaction to it."""
        fields = rule.transaction_fields(row.payload)
        metadata = internal_metadata(self._internal_token, row.organization_id)
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
                directory_id=rule.directory_id, transactions={row.message_id: transaction}, idempotent=True
            ),
            metadata=metadata,
            timeout=30,
        )
        if row.message_id in reply.errors:
            error = reply.errors[row.message_id]
            raise PermanentFailure(f"the directory refused the transaction: {error.message}")
        log.info("inbox.transaction_added", directory_id=rule.directory_id, contact_id=contact_id,
                 transaction_id=reply.created.get(row.message_id, ""))

    async def _start_workflow(self, row: PendingMessage, rule: SubscriptionRule, workflow: Any) -> None:
        if workflow is None or workflow.organization_id != row.organization_id:
            raise PermanentFailure(f"workflow {rule.workflow_id} not found")
        await capture_if_active(self._sessions, workflow.id, row.message_id, row.payload, VIA_SUBSCRIPTION)
        snapshot = WorkflowSnapshot(workflow_id=workflow.id, version=workflow.version, name=workflow.name, spec=workflow.spec)
        try:
            # intake=None: the message was counted once, when the Tracking API accepted it.
            outcome = await self._launcher.trigger(row.organization_id, snapshot, row.payload, row.message_id, intake=None)
        except WorkflowDisabled:
            log.info("inbox.workflow_disabled", workflow_id=workflow.id)  # nothing to do, which is not a failure
            return
        log.info("inbox.workflow_triggered", workflow_id=workflow.id, matched=outcome.matched)

    async def _record_failure(self, row: PendingMessage, exc: Exception) -> None:
        attempts = row.attempts + 1
        text = describe(exc)
        async with self._sessions() as session:
            repository = IngestionRepository(session)
            if classify(exc) == "transient" and attempts < MAX_ATTEMPTS:
                delay = min(2**attempts, MAX_BACKOFF_SECONDS)
                log.warning("inbox.retry_later", error=text, attempts=attempts, delay_seconds=delay)
                await repository.settle_inbox_message(
                    row.id, attempts=attempts, error=text, next_attempt_at=_utc_now() + timedelta(seconds=delay)
                )
            else:
                log.warning("inbox.failed", error=text, attempts=attempts)
                self._events.record(INTAKE_SEGMENT, EVENT_REJECTED)
                await repository.settle_inbox_message(row.id, status="failed", attempts=attempts, error=text, processed_at=_utc_now())
            await session.commit()

    async def _purge_if_due(self) -> None:
        now = _utc_now()
        if now < self._next_purge:
            return
        self._next_purge = now + timedelta(minutes=10)
        await self.purge_expired()

    async def purge_expired(self) -> int:
        """Forgets processed messages received before the dedup retention window; returns how many."""
        async with self._sessions() as session:
            purged = await IngestionRepository(session).purge_processed(_utc_now() - self._retention)
            await session.commit()
        if purged:
            log.info("inbox.purged", rows=purged)
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
