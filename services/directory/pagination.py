"""Keyset pagination over (created_at, id) with opaque page tokens."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from services.directory.errors import InvalidDirectoryRequest

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class PagePosition:
    """The last row of the previous page: the next page starts after it."""

    created_at: datetime
    id: str


@dataclass(frozen=True)
class Page:
    size: int
    after: PagePosition | None


def read_page(page_size: int, page_token: str) -> Page:
    if page_size < 0:
        raise InvalidDirectoryRequest("page.page_size", "must not be negative")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    return Page(size=size, after=decode_token(page_token) if page_token else None)


def encode_token(position: PagePosition) -> str:
    created_at = _as_utc(position.created_at)
    raw = json.dumps([created_at.isoformat(), position.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> PagePosition:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        created_at, last_id = json.loads(raw)
        return PagePosition(created_at=_as_utc(datetime.fromisoformat(created_at)), id=str(last_id))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidDirectoryRequest("page.page_token", "not a page token this service issued") from exc


def _as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
