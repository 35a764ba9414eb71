"""SQLAlchemy models of the directory's database: organizations, tokens, directories, contacts, lists, transactions,
segments with their stored membership and opt-outs, and the outbox of membership events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utc_now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
AutoIncrementId = BigInteger().with_variant(Integer(), "sqlite")


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class ApiToken(Base):
    """An organization's API token; only the SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class Directory(Base):
    """A directory (Qualtrics "pool"): contacts deduplicated by up to 3 ordered rules."""

    __tablename__ = "directories"
    __table_args__ = (Index("ix_directories_org_created", "organization_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # e.g. [["email"], ["firstName", "lastName"]]: rules in order, each a list of field names.
    dedup_rules: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


def _only_present(column: str) -> dict[str, Any]:
    """The WHERE of a partial index over the rows where column is set, in both dialects."""
    present = text(f"{column} IS NOT NULL")
    return {"sqlite_where": present, "postgresql_where": present}


# Column of the key each dedup rule (by index) gives a contact; dedup.MAX_RULES of them.
DEDUP_KEY_COLUMNS = ("dedup_key_1", "dedup_key_2", "dedup_key_3")


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_directory_created", "directory_id", "created_at", "id"),
        Index("ix_contacts_directory_email", "directory_id", "email_normalized"),
        Index("ix_contacts_directory_ext_ref", "directory_id", "ext_ref_normalized"),
        *(
            # Partial: a contact without a key for the rule (its fields absent) costs the index nothing.
            Index(f"ux_contacts_{key}", key, unique=True, **_only_present(key))
            for key in DEDUP_KEY_COLUMNS
        ),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    directory_id: Mapped[str] = mapped_column(ForeignKey("directories.id", ondelete="CASCADE"))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(64))
    ext_ref: Mapped[str | None] = mapped_column(String(255))
    language: Mapped[str | None] = mapped_column(String(32))
    unsubscribed: Mapped[bool] = mapped_column(Boolean, default=False)
    embedded_data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The dedup normalization of each identity field, kept beside the raw value so search
    # compares the same way dedup does (SQL's lower() is ASCII-only on SQLite, and SQL cannot strip phones to digits portably).
    first_name_normalized: Mapped[str | None] = mapped_column(String(255))
    last_name_normalized: Mapped[str | None] = mapped_column(String(255))
    email_normalized: Mapped[str | None] = mapped_column(String(320))
    phone_normalized: Mapped[str | None] = mapped_column(String(64))
    ext_ref_normalized: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    # The identity key (dedup.IdentityKeys: a hash of the directory and the rule's normalized values) this contact
    # holds for each of the directory's dedup rules, in rule order; NULL when the rule's fields are absent or another
    # contact holds the key. The unique indexes make "one contact per identity" a database guarantee, so concurrent
    # writers of the same new person cannot both create it; indexes of the key alone (it names its directory), so the
    # planner has one index to look a key up on, whatever its statistics say of the directory's size.
    dedup_key_1: Mapped[str | None] = mapped_column(String(64))
    dedup_key_2: Mapped[str | None] = mapped_column(String(64))
    dedup_key_3: Mapped[str | None] = mapped_column(String(64))


class MailingList(Base):
    __tablename__ = "mailing_lists"
    __table_args__ = (Index("ix_mailing_lists_directory_created", "directory_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    directory_id: Mapped[str] = mapped_column(ForeignKey("directories.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class MailingListMembership(Base):
    __tablename__ = "mailing_list_memberships"

    mailing_list_id: Mapped[str] = mapped_column(ForeignKey("mailing_lists.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class Transaction(Base):
    """One transaction of a contact (Qualtrics: a transaction in a transaction batch), with its data fields."""

    __tablename__ = "transactions"
    __table_args__ = (
        Index("ix_transactions_contact_date", "contact_id", "transaction_date", "seq"),
        # The client key of an idempotent create: a repeat answers the stored id (directories belong to one organization).
        Index("ux_transactions_directory_client_key", "directory_id", "client_key", unique=True),
    )

    # The insertion order: the tie-break between transactions of the same date ("latest" and newest-first lists).
    seq: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    directory_id: Mapped[str] = mapped_column(ForeignKey("directories.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    mailing_list_id: Mapped[str] = mapped_column(ForeignKey("mailing_lists.id", ondelete="CASCADE"), index=True)
    transaction_date: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    client_key: Mapped[str | None] = mapped_column(String(255), nullable=True, default=None)


class Segment(Base):
    """A named rule tree over a directory's contacts (see services/directory/segment_rules.py)."""

    __tablename__ = "segments"
    __table_args__ = (Index("ix_segments_directory_created", "directory_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    directory_id: Mapped[str] = mapped_column(ForeignKey("directories.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(String(2000), default="")
    rule: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class SegmentMembership(Base):
    """A contact that is a member of a segment now."""

    __tablename__ = "segment_memberships"

    segment_id: Mapped[str] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True, index=True)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The evaluation that added the row: a refresh finds the rows it just added by it, to write their events.
    batch: Mapped[str] = mapped_column(String(32))


class SegmentOptOut(Base):
    """A contact that opted out of a segment: never a member until it opts back in."""

    __tablename__ = "segment_opt_outs"

    segment_id: Mapped[str] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class OutboxEvent(Base):
    """A membership change waiting for (or done with) delivery to ingestion; written in the change's transaction.

    No foreign keys: the event outlives a deleted contact or segment, and must still be delivered.
    """

    __tablename__ = "membership_outbox"
    __table_args__ = (Index("ix_membership_outbox_pending", "delivered", "seq"), Index("ix_membership_outbox_batch", "batch"))

    seq: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    # The event id ingestion sees: stable across redeliveries, unique ("MEV_" + batch + "_" + segment + "_" + contact).
    id: Mapped[str] = mapped_column(String(200), unique=True)
    batch: Mapped[str] = mapped_column(String(32))
    organization_id: Mapped[str] = mapped_column(String(64))
    directory_id: Mapped[str] = mapped_column(String(64))
    segment_id: Mapped[str] = mapped_column(String(64))
    segment_name: Mapped[str] = mapped_column(String(255))
    contact_id: Mapped[str] = mapped_column(String(64))
    change: Mapped[str] = mapped_column(String(16))  # ADDED, REMOVED, OPTED_IN, OPTED_OUT
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # After a rejection, the event waits until then (exponential backoff); the reason stays for operators.
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(500))
