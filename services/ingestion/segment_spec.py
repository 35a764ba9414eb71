"""Segment Tracking API messages: body decoding with size caps, per-type validation, messageId and timestamps."""

from __future__ import annotations

import uuid
import zlib
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from services.common import json_codec
from services.ingestion.errors import InvalidSegmentMessage, MalformedBody, PayloadTooLarge

MESSAGE_TYPES = ("identify", "track", "page", "screen", "group", "alias")
MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_MESSAGES = 2500


def decompress(raw: bytes, content_encoding: str | None, limit: int, *, too_large_status: int = 400) -> bytes:
    """The body as sent, gunzipped when Content-Encoding says so; never more than `limit` bytes are inflated."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        if len(raw) > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes", http_status=too_large_status)
        return raw
    if encoding != "gzip":
        raise MalformedBody(f"unsupported Content-Encoding {content_encoding!r}: send gzip or nothing")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise MalformedBody(f"the gzip body is corrupt: {exc}") from exc
    if len(body) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"the decompressed body is larger than {limit} bytes", http_status=too_large_status)
    if not inflater.eof:
        raise MalformedBody("the gzip body is truncated")
    return body


def parse_object(body: bytes) -> dict[str, Any]:
    try:
        document = json_codec.loads(body)
    except json_codec.JSONDecodeError as exc:
        raise MalformedBody(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise MalformedBody("the body must be a JSON object")
    return document


# The messages of a batch mostly share their times (sentAt always, timestamps often): each distinct text is read and
# each distinct moment formatted once, however many messages carry it.
_TIME_CACHE_SIZE = 4096


@lru_cache(maxsize=_TIME_CACHE_SIZE)
def utc_iso(moment: datetime) -> str:
    """UTC ISO-8601 with milliseconds and Z, like Segment's receivedAt."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


@lru_cache(maxsize=_TIME_CACHE_SIZE)
def _read_iso(text: str) -> datetime | None:
    """An ISO-8601 text as an aware UTC datetime, or None when it is not one."""
    try:
        moment = datetime.fromisoformat(text.strip())
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset past the calendar's ends ("0001-01-01T00:00+01:00")
        return None


def _parse_time(message: dict[str, Any], key: str) -> datetime | None:
    value = message.get(key)
    if value is None:
        return None
    moment = _read_iso(value) if isinstance(value, str) else None
    if moment is None:
        raise InvalidSegmentMessage(f"{key}: must be an ISO-8601 date, got {value!r}", field=key)
    return moment


def _require_id(message: dict[str, Any], key: str) -> bool:
    value = message.get(key)
    if value is None or value == "":
        return False
    if value.__class__ is not str:  # the common case first: ids are strings
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise InvalidSegmentMessage(f"{key}: must be a string", field=key)
        message[key] = str(value)  # Segment keeps ids as strings
    return True


def _require_string(message: dict[str, Any], key: str, type_: str) -> None:
    value = message.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidSegmentMessage(f"{key}: a {type_} call needs a non-empty string {key}", field=key)


_OBJECT_KEYS = ("traits", "properties", "context", "integrations")


def normalize_message(
    message: dict[str, Any], type_: str, received_at: datetime, received_iso: str = "", *, owned: bool = False
) -> dict[str, Any]:
    """Validates one message against Segment's spec and returns it as stored: type, messageId, receivedAt, timestamp set.

    received_iso: utc_iso(received_at), when the caller formats it once for a whole batch. owned: the message is the
    caller's own copy, changed in place rather than copied (a batch copies each message once, to merge into it)."""
    if type_ not in MESSAGE_TYPES:
        raise InvalidSegmentMessage(f"type: must be one of {', '.join(MESSAGE_TYPES)}, got {type_!r}", field="type")
    if not owned:
        message = dict(message)
    message.pop("writeKey", None)  # the write key is a secret: never stored
    message["type"] = type_
    has_user = _require_id(message, "userId")
    has_anonymous = _require_id(message, "anonymousId")
    if type_ == "alias":
        if not _require_id(message, "previousId"):
            raise InvalidSegmentMessage("previousId: an alias call needs previousId", field="previousId")
        if not has_user:
            raise InvalidSegmentMessage("userId: an alias call needs userId", field="userId")
    elif not (has_user or has_anonymous):
        raise InvalidSegmentMessage("userId: every call needs a userId or an anonymousId", field="userId")
    if type_ == "track":
        _require_string(message, "event", type_)
    elif type_ == "group" and not _require_id(message, "groupId"):
        raise InvalidSegmentMessage("groupId: a group call needs groupId", field="groupId")
    for key in _OBJECT_KEYS:
        value = message.get(key)
        if value is not None and not isinstance(value, dict):
            raise InvalidSegmentMessage(f"{key}: must be an object", field=key)

    message_id = message.get("messageId")
    if message_id is None or message_id == "":
        message["messageId"] = f"cxf-{uuid.uuid4()}"
    elif not isinstance(message_id, str) or len(message_id) > 200:
        raise InvalidSegmentMessage("messageId: must be a string of at most 200 characters", field="messageId")

    # Client clocks drift: Segment corrects the event time by how far the client's sentAt is from receivedAt.
    original = _parse_time(message, "timestamp") or _parse_time(message, "originalTimestamp")
    sent_at = _parse_time(message, "sentAt")
    if original is not None and sent_at is not None:
        message["originalTimestamp"] = message.get("timestamp") or message["originalTimestamp"]
        try:
            timestamp = received_at - (sent_at - original)
        except OverflowError:  # a skew past the calendar's ends (sentAt in year 9000): keep the client's own time
            timestamp = original
    else:
        timestamp = original or received_at
    message["receivedAt"] = received_iso or utc_iso(received_at)
    message["timestamp"] = message["receivedAt"] if timestamp is received_at else utc_iso(timestamp)
    return message


def _encoded_size(message: dict[str, Any]) -> int:
    return len(json_codec.dumps_bytes(message))


def single_message(body: dict[str, Any], type_: str, received_at: datetime) -> dict[str, Any]:
    if _encoded_size(body) > MAX_MESSAGE_BYTES:
        raise PayloadTooLarge(f"a message may be at most {MAX_MESSAGE_BYTES // 1024} KB")
    return normalize_message(body, type_, received_at)


def batch_messages(body: dict[str, Any], received_at: datetime, body_bytes: int | None = None) -> list[dict[str, Any]]:
    """The messages of a /v1/batch body, each with the batch's context, integrations and sentAt merged in.

    body_bytes: the size of the body as received. Segment's limit is on a message as sent, so a body no larger than
    the limit cannot hold a message over it and its messages are not measured; in a larger body each message is
    measured as encoded again, compact (close to its size as sent: whitespace shrinks, a number such as `1e15` grows)."""
    items = body.get("batch")
    if not isinstance(items, list):
        raise InvalidSegmentMessage("batch: must be an array of messages", field="batch")
    if len(items) > MAX_BATCH_MESSAGES:
        raise PayloadTooLarge(f"batch: at most {MAX_BATCH_MESSAGES} messages per request, got {len(items)}")
    shared_context = body.get("context") if isinstance(body.get("context"), dict) else {}
    shared_integrations = body.get("integrations") if isinstance(body.get("integrations"), dict) else {}
    measure_each = body_bytes is None or body_bytes > MAX_MESSAGE_BYTES
    received_iso = utc_iso(received_at)
    messages = []
    for index, item in enumerate(items):
        where = f"batch[{index}]"
        if not isinstance(item, dict):
            raise InvalidSegmentMessage(f"{where}: must be an object", field=where)
        if measure_each and _encoded_size(item) > MAX_MESSAGE_BYTES:
            raise PayloadTooLarge(f"{where}: a message may be at most {MAX_MESSAGE_BYTES // 1024} KB")
        type_ = item.get("type")
        if not isinstance(type_, str) or not type_:
            raise InvalidSegmentMessage(f"{where}.type: every batch message needs a type", field=f"{where}.type")
        merged = dict(item)
        for key, shared in (("context", shared_context), ("integrations", shared_integrations)):
            own = item.get(key)
            if shared and (own is None or isinstance(own, dict)):
                merged[key] = {**shared, **(own or {})}  # the message's own keys win
        if "sentAt" not in merged and body.get("sentAt") is not None:
            merged["sentAt"] = body["sentAt"]
        try:
            messages.append(normalize_message(merged, type_, received_at, received_iso, owned=True))
        except InvalidSegmentMessage as exc:
            raise InvalidSegmentMessage(f"{where}.{exc.message}", field=f"{where}.{exc.field}") from exc
    return messages
