"""Small pieces every ingestion gRPC servicer shares: timestamps, Struct documents, page tokens, create-once inserts,
ownership checks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format, struct_pb2, timestamp_pb2
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cxflow.v1 import common_pb2
from services.ingestion.errors import IdTaken, InvalidIngestionRequest

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return stamp


def struct_document(struct: struct_pb2.Struct, field: str) -> dict[str, Any]:
    """A Struct as JSON, whole numbers as ints (a Struct holds every number as a double: 3 arrives as 3.0).

    A Struct may carry NaN or Infinity, which JSON (and so the database) cannot hold: refused.
    """
    try:
        return _whole_numbers_as_ints(json_format.MessageToDict(struct))
    except ValueError:
        raise InvalidIngestionRequest(field, "numbers must be finite (no NaN or Infinity)") from None


def struct_message(values: dict[str, Any]) -> struct_pb2.Struct:
    """A JSON object as a protobuf Struct (the inverse of struct_document)."""
    message = struct_pb2.Struct()
    message.update(values)
    return message


def _whole_numbers_as_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {key: _whole_numbers_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_numbers_as_ints(item) for item in value]
    return value


def page_bounds(page: common_pb2.PageRequest) -> tuple[str, int]:
    if page.page_size < 0:
        raise InvalidIngestionRequest("page.page_size", "must not be negative")
    return page.page_token, min(page.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def next_page_token(rows: Any, size: int) -> str:
    return rows[-1].id if len(rows) == size else ""


async def create_once(session: AsyncSession, row: Any, find_again: Callable[[], Any]) -> Any:
    """Inserts a row with a caller-chosen id; a concurrent creator of the same id wins and its row is returned."""
    session.add(row)
    try:
        await session.commit()
        return row
    except IntegrityError:
        await session.rollback()
        return await find_again()


def own(row: Any, organization_id: str, kind: str) -> Any:
    """A caller-chosen id already used by another organization is taken, without saying by whom."""
    if row is None or row.organization_id != organization_id:
        raise IdTaken(kind, row.id if row is not None else "")
    return row
