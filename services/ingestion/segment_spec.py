"""Segment Tracking API messages: body decoding with size caps, per-type validation, messageId and timestamps."""

from __future__ import annotations

import uuid
import zlib
from datetime import UTC, datetime
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


def utc_iso(moment: datetime) -> str:
    """UTC ISO-8601 with milliseconds and Z, like Segment's receivedAt."""
    return _iso(moment.astimezone(UTC))


def _iso(utc_moment: datetime) -> str:
    return utc_moment.isoformat("T", "milliseconds")[:-6] + "Z"  # "+00:00" becomes "Z"


def _read_time(message: dict[str, Any], key: str) -> datetime | None:
    """The message's time at `key` (aware, in UTC); None when absent."""
    value = message.get(key)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip()) if isinstance(value, str) else None
        if moment is not None and moment.tzinfo is not UTC:  # "Z" reads as UTC itself
            moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset past the calendar's ends ("0001-01-01T00:00+01:00")
        moment = None
    if moment is None:
        raise InvalidSegmentMessage(f"{key}: must be an ISO-8601 date, got {value!r}", field=key)
    return moment


class Receipt:
    """When one request was received, and Segment's event times for its messages.

    Client clocks drift: Segment corrects an event's time by how far the client's sentAt is from receivedAt. The
    messages of a request mostly share their times (sentAt always, timestamps often), so each distinct combination is
    read and worked out once."""

    __slots__ = ("_at", "_times", "iso")

    def __init__(self, received_at: datetime) -> None:
        self._at = received_at.astimezone(UTC)
        self.iso = _iso(self._at)
        self._times: dict[tuple[Any, Any, Any], tuple[str | None, str]] = {}

    def stamp(self, message: dict[str, Any]) -> None:
        """Sets receivedAt and the corrected timestamp (keeping the client's as originalTimestamp)."""
        timestamp, sent_at = message.get("timestamp"), message.get("sentAt")
        key = (timestamp, message.get("originalTimestamp") if timestamp is None else None, sent_at)
        try:
            times = self._times.get(key)
        except TypeError:  # an unhashable value, which _event_times refuses
            times = None
        if times is None:
            times = self._event_times(message)
            self._times[key] = times
        original, corrected = times
        if original is not None:
            message["originalTimestamp"] = original
        message["receivedAt"] = self.iso
        message["timestamp"] = corrected

    def _event_times(self, message: dict[str, Any]) -> tuple[str | None, str]:
        """(originalTimestamp to set or None, timestamp) for the message's times."""
        original = _read_time(message, "timestamp") or _read_time(message, "originalTimestamp")
        sent_at = _read_time(message, "sentAt")
        if original is None:
            return None, self.iso
        if sent_at is None:
            return None, _iso(original)
        try:
            corrected = self._at - (sent_at - original)
        except OverflowError:  # a skew past the calendar's ends (sentAt in year 9000): keep the client's own time
            corrected = original
        return message.get("timestamp") or message["originalTimestamp"], _iso(corrected)


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


def _normalize(message: dict[str, Any], type_: Any, receipt: Receipt) -> dict[str, Any]:
    """Validates one message (the caller's own copy, changed in place) against Segment's spec and completes it as
    stored: type, messageId, receivedAt, timestamp set, any writeKey (a secret) dropped."""
    if type_ not in MESSAGE_TYPES:
        raise InvalidSegmentMessage(f"type: must be one of {', '.join(MESSAGE_TYPES)}, got {type_!r}", field="type")
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
    receipt.stamp(message)
    return message


def _encoded_size(message: dict[str, Any]) -> int:
    return len(json_codec.dumps_bytes(message))


def single_message(body: dict[str, Any], type_: str, received_at: datetime) -> dict[str, Any]:
    """One message of /v1/<type>, validated and completed as stored (a copy: the body is left as it is)."""
    if _encoded_size(body) > MAX_MESSAGE_BYTES:
        raise PayloadTooLarge(f"a message may be at most {MAX_MESSAGE_BYTES // 1024} KB")
    return _normalize(dict(body), type_, Receipt(received_at))


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
    shared = [(key, body[key]) for key in ("context", "integrations") if isinstance(body.get(key), dict) and body[key]]
    sent_at = body.get("sentAt")
    measure_each = body_bytes is None or body_bytes > MAX_MESSAGE_BYTES
    receipt = Receipt(received_at)
    messages = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidSegmentMessage(f"batch[{index}]: must be an object", field=f"batch[{index}]")
        if measure_each and _encoded_size(item) > MAX_MESSAGE_BYTES:
            raise PayloadTooLarge(f"batch[{index}]: a message may be at most {MAX_MESSAGE_BYTES // 1024} KB")
        type_ = item.get("type")
        if not isinstance(type_, str) or not type_:
            raise InvalidSegmentMessage(f"batch[{index}].type: every batch message needs a type", field=f"batch[{index}].type")
        message = dict(item)  # the stored copy: the body is left as it is
        for key, shared_value in shared:
            own = item.get(key)
            if own is None or isinstance(own, dict):
                message[key] = {**shared_value, **(own or {})}  # the message's own keys win
        if sent_at is not None and "sentAt" not in message:
            message["sentAt"] = sent_at
        try:
            messages.append(_normalize(message, type_, receipt))
        except InvalidSegmentMessage as exc:
            raise InvalidSegmentMessage(f"batch[{index}].{exc.message}", field=f"batch[{index}].{exc.field}") from exc
    return messages
