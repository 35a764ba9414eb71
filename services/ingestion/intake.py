"""Accepting Segment messages: one transaction stores a request's messages in the inbox, skipping replayed ids."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.ingestion.models import Source
from services.ingestion.repository import IngestionRepository


@dataclass(frozen=True)
class AcceptedMessage:
    message_id: str
    duplicate: bool  # accepted before for this source: acknowledged, not stored or processed again


async def accept_messages(
    repository: IngestionRepository, source: Source, messages: list[dict[str, Any]], received_at: datetime
) -> list[AcceptedMessage]:
    """Stores normalized messages as pending inbox rows; the caller commits (so a whole batch lands or none of it)."""
    rows: dict[str, dict[str, Any]] = {}
    for message in messages:
        # A batch may repeat a messageId; the first occurrence wins, like a redelivery would.
        rows.setdefault(
            message["messageId"],
            {
                "organization_id": source.organization_id,
                "source_id": source.id,
                "message_id": message["messageId"],
                "type": message["type"],
                "payload": message,
                "received_at": received_at,
                "status": "pending",
                "attempts": 0,
                "error": "",
                "next_attempt_at": received_at,
            },
        )
    inserted = await repository.insert_inbox_messages(list(rows.values()))
    accepted, seen = [], set()
    for message in messages:
        message_id = message["messageId"]
        accepted.append(AcceptedMessage(message_id, duplicate=message_id not in inserted or message_id in seen))
        seen.add(message_id)
    return accepted
