"""The inbox as batches: one row per accepted request, message ids in a narrow dedup table, failed
messages in their own table. Replaces inbox_messages (one wide row per message, rewritten when settled); what it
held moves over: every id stays deduplicated, pending messages become one-message batches, failures keep their state.

Revision ID: 0003_inbox_batches
Revises: 0002_captures_membership, 0002_workflow_versions
Create Date: 2026-12-07 03:10:00.000000

"""
import json
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003_inbox_batches"
down_revision: str | tuple[str, ...] | None = ("0002_captures_membership", "0002_workflow_versions")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COPY_ROWS = 1000  # rows moved a statement


def _inbox_messages_table() -> sa.Table:
    metadata = sa.MetaData()
    sa.Table("sources", metadata, sa.Column("id", sa.String(length=64), primary_key=True))
    return sa.Table(
        "inbox_messages",
        metadata,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=64), sa.ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("source_id", "message_id", name="uq_inbox_messages_source_message"),
        sa.Index("ix_inbox_messages_status_id", "status", "id"),
    )


def _new_tables() -> tuple[sa.Table, sa.Table, sa.Table]:
    metadata = sa.MetaData()
    sa.Table("sources", metadata, sa.Column("id", sa.String(length=64), primary_key=True))
    batches = sa.Table(
        "inbox_batches",
        metadata,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=64), sa.ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("messages", sa.LargeBinary(), nullable=False),  # zlib-compressed JSON (models.CompressedJSON)
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("handled", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Index("ix_inbox_batches_status_id", "status", "id"),
    )
    message_ids = sa.Table(
        "inbox_message_ids",
        metadata,
        sa.Column("source_id", sa.String(length=64), primary_key=True),
        sa.Column("message_id", sa.String(length=200), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Index("ix_inbox_message_ids_received_at", "received_at"),
        sqlite_with_rowid=False,
    )
    failures = sa.Table(
        "inbox_failures",
        metadata,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Index("ix_inbox_failures_status_next_attempt_at", "status", "next_attempt_at"),
    )
    return batches, message_ids, failures


def _compressed(document: object) -> bytes:
    return zlib.compress(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode(), 1)


def _chunks(rows: list[dict], size: int = _COPY_ROWS):  # type: ignore[no-untyped-def]
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def upgrade() -> None:
    bind = op.get_bind()
    batches, message_ids, failures = _new_tables()
    for table in (batches, message_ids, failures):
        table.create(bind)
    old = _inbox_messages_table()
    rows = bind.execute(sa.select(old).order_by(old.c.id)).mappings().all()
    for chunk in _chunks([{"source_id": r["source_id"], "message_id": r["message_id"], "received_at": r["received_at"]} for r in rows]):
        bind.execute(message_ids.insert(), chunk)
    for row in rows:
        if row["status"] == "processed" and row["attempts"] <= 1:
            continue  # done at the first attempt: its id (kept above) is all that matters now
        settled = row["status"] != "pending" or row["attempts"] > 0
        batch_id = bind.execute(
            batches.insert().values(
                organization_id=row["organization_id"], source_id=row["source_id"], received_at=row["received_at"],
                messages=_compressed([row["payload"]]), message_count=1, handled=1 if settled else 0, status="processed" if settled else "pending",
                processed_at=row["processed_at"] or (datetime.now(UTC) if settled else None),
            )
        ).inserted_primary_key[0]
        if settled:  # failed, retried later, or processed after retries: its attempts and error go with it
            bind.execute(
                failures.insert().values(
                    batch_id=batch_id, position=0, organization_id=row["organization_id"], source_id=row["source_id"],
                    message_id=row["message_id"], payload=row["payload"],
                    status="retrying" if row["status"] == "pending" else row["status"], attempts=row["attempts"],
                    error=row["error"], next_attempt_at=row["next_attempt_at"], received_at=row["received_at"],
                    processed_at=row["processed_at"],
                )
            )
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_messages_status_id")
    op.drop_table("inbox_messages")


def downgrade() -> None:
    bind = op.get_bind()
    batches, message_ids, failures = _new_tables()
    old = _inbox_messages_table()
    old.create(bind)
    failed = {(r["batch_id"], r["position"]): r for r in bind.execute(sa.select(failures)).mappings()}
    stored: set[tuple[str, str]] = set()
    for batch in bind.execute(sa.select(batches).order_by(batches.c.id)).mappings():
        for position, message in enumerate(json.loads(zlib.decompress(batch["messages"]))):
            failure = failed.get((batch["id"], position))
            done = position < batch["handled"] or batch["status"] == "processed"
            status = ("pending" if failure["status"] == "retrying" else failure["status"]) if failure else ("processed" if done else "pending")
            bind.execute(
                old.insert().values(
                    organization_id=batch["organization_id"], source_id=batch["source_id"], message_id=message["messageId"],
                    type=message["type"], payload=message, received_at=batch["received_at"], status=status,
                    attempts=failure["attempts"] if failure else int(done), error=failure["error"] if failure else "",
                    next_attempt_at=failure["next_attempt_at"] if failure else batch["received_at"],
                    processed_at=batch["processed_at"],
                )
            )
            stored.add((batch["source_id"], message["messageId"]))
    # Ids whose messages were not kept stay deduplicated as processed rows without a body.
    for chunk in _chunks([
        {"organization_id": "", "source_id": r["source_id"], "message_id": r["message_id"], "type": "", "payload": {},
         "received_at": r["received_at"], "status": "processed", "attempts": 1, "error": "", "next_attempt_at": r["received_at"],
         "processed_at": r["received_at"]}
        for r in bind.execute(sa.select(message_ids)).mappings()
        if (r["source_id"], r["message_id"]) not in stored
    ]):
        bind.execute(old.insert(), chunk)
    for table in (failures, message_ids, batches):
        table.drop(bind)
