"""SQLAlchemy models of ingestion's database: sources, subscriptions, workflow definitions, the event inbox (batches,
message ids, failures), trigger captures and the membership events already routed."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common import json_codec


def utc_now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class CompressedJSON(TypeDecorator[Any]):
    """A JSON document stored zlib-compressed (level 1, the fastest): for inbox batches, whose bytes are most of what
    the intake writes. Event batches repeat their keys and context, so they shrink several times over, and writing
    (and rewriting, when a batch is settled) fewer pages costs SQLite less than compressing costs Python."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        return None if value is None else zlib.compress(json_codec.dumps_bytes(value), 1)

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> Any:
        return None if value is None else json_codec.loads(zlib.decompress(value))


class Source(Base):
    """Where Segment events come from; callers authenticate with its write key, of which only the hash is kept."""

    __tablename__ = "sources"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255))
    write_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class Subscription(Base):
    """An action run for each event of a source that its filter matches."""

    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32))  # upsert_contact | upsert_transaction | start_workflow
    filter: Mapped[str] = mapped_column(Text)
    directory_id: Mapped[str] = mapped_column(String(64), default="")
    workflow_id: Mapped[str] = mapped_column(String(64), default="")
    mailing_list_id: Mapped[str] = mapped_column(String(64), default="", server_default="")  # for upsert_transaction
    # [{"name": ..., "path": ..., "type": ...} or {..., "value": <mapping-kit value>}]; empty means the action's defaults.
    mappings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class Workflow(Base):
    """A workflow definition: the spec document (trigger, contact, tasks) and its version."""

    __tablename__ = "workflows"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class WorkflowVersion(Base):
    """One saved version of a workflow definition; runs record the version they started on."""

    __tablename__ = "workflow_versions"

    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class InboxBatch(Base):
    """One accepted intake request (a Tracking API call, a gRPC SendEvent or SendBatch) with the messages in it that
    were new for their source, stored before the answer so a crash never loses them. The processor works through
    the batches in order; `handled` is how far it got, so a pass cut short resumes after the last message that acted.

    One row a request rather than one a message: on SQLite every statement costs a thread hand-off that outweighs
    SQLite's own work, so a group commit of many requests is two statements (ids, then batches) whatever their size."""

    __tablename__ = "inbox_batches"
    __table_args__ = (Index("ix_inbox_batches_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)  # arrival order
    organization_id: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    messages: Mapped[list[dict[str, Any]]] = mapped_column(CompressedJSON)  # normalized as the Tracking API stores them
    message_count: Mapped[int] = mapped_column(Integer)
    handled: Mapped[int] = mapped_column(Integer, default=0)  # messages [0, handled) are done (processed or failed)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | processed
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class InboxMessageId(Base):
    """messageId dedup: a message id accepted for a source within the retention window; a redelivery finds it and is
    acknowledged without being stored again. No foreign key to sources: checking one on every id would cost the
    intake a lookup a message, and the ids of a deleted source age out with the window."""

    __tablename__ = "inbox_message_ids"
    __table_args__ = (Index("ix_inbox_message_ids_received_at", "received_at"), {"sqlite_with_rowid": False})

    source_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class InboxFailure(Base):
    """A message whose processing failed: retried with backoff while `retrying`, given up on as `failed` (with the
    error kept for whoever looks), `processed` once a retry succeeded."""

    __tablename__ = "inbox_failures"
    __table_args__ = (Index("ix_inbox_failures_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Where the message came from; no foreign key: a failure outlives its batch (the purge keeps failed messages).
    batch_id: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)  # the message's index in its batch
    organization_id: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # retrying | failed | processed
    attempts: Mapped[int] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class TriggerCapture(Base):
    """Capture mode of one workflow's trigger: how many of the next events to record, and how many are still wanted."""

    __tablename__ = "trigger_captures"

    workflow_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(64))
    requested: Mapped[int] = mapped_column(Integer)
    remaining: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class CapturedEvent(Base):
    """One event a capturing trigger received, as it arrived."""

    __tablename__ = "captured_events"
    __table_args__ = (Index("ix_captured_events_workflow_id", "workflow_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workflow_id: Mapped[str] = mapped_column(ForeignKey("trigger_captures.workflow_id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(200))
    via: Mapped[str] = mapped_column(String(32))  # trigger_url | subscription | segment_membership
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class RoutedMembershipEvent(Base):
    """A membership event from the directory that was routed to its workflows; a redelivery finds it and does nothing."""

    __tablename__ = "membership_events"
    __table_args__ = (UniqueConstraint("organization_id", "event_id", name="uq_membership_events_organization_event"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    started_workflow_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
