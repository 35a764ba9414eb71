"""SQLAlchemy models of the directory's database: organizations, tokens, directories, contacts, lists."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


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


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_directory_created", "directory_id", "created_at", "id"),
        Index("ix_contacts_directory_email", "directory_id", "email_normalized"),
        Index("ix_contacts_directory_ext_ref", "directory_id", "ext_ref_normalized"),
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


class ContactIdentityKey(Base):
    """One dedup rule's key for one contact. The primary key makes "one contact per identity" a database guarantee,
    so concurrent writers of the same new person cannot both create it."""

    __tablename__ = "contact_identity_keys"

    directory_id: Mapped[str] = mapped_column(ForeignKey("directories.id", ondelete="CASCADE"), primary_key=True)
    rule_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the rule's normalized values
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)


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
