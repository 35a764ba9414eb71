"""The Segment task: an identify or track call to a Segment-compatible Tracking API with a configured write key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from services.common.errors import InvalidArgument
from services.notification.channel_settings import OrganizationChannels
from services.notification.deliveries import fingerprint
from services.notification.outbound import OutboundHttp

SEGMENT_TIMEOUT_SECONDS = 15.0
CALL_TYPES = ("identify", "track")


@dataclass(frozen=True)
class SegmentCall:
    idempotency_key: str
    write_key_name: str
    type: str  # identify | track
    user_id: str = ""
    anonymous_id: str = ""
    event: str = ""
    traits: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        fields = {k: v for k, v in self.__dict__.items() if k != "idempotency_key"}
        return fingerprint("segment", fields)


def message_id_for(organization_id: str, idempotency_key: str) -> str:
    """Segment dedupes on messageId, so a resend after a crash is dropped by Segment itself."""
    return "cxflow-" + hashlib.sha256(f"{organization_id}\x00{idempotency_key}".encode()).hexdigest()[:32]


def validate(call: SegmentCall) -> None:
    if not call.write_key_name.strip():
        raise InvalidArgument("write_key_name is required", field="write_key_name")
    if call.type not in CALL_TYPES:
        raise InvalidArgument("type must be identify or track", field="type")
    if not call.user_id and not call.anonymous_id:
        raise InvalidArgument("user_id or anonymous_id is required", field="user_id")
    if call.type == "track" and not call.event.strip():
        raise InvalidArgument("event is required for a track call", field="event")


def payload(organization_id: str, call: SegmentCall) -> dict[str, Any]:
    """The Tracking API body: https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/"""
    body: dict[str, Any] = {"messageId": message_id_for(organization_id, call.idempotency_key)}
    if call.user_id:
        body["userId"] = call.user_id
    if call.anonymous_id:
        body["anonymousId"] = call.anonymous_id
    if call.type == "identify":
        body["traits"] = call.traits
    else:
        body["event"] = call.event
        body["properties"] = call.properties
    body["context"] = {"library": {"name": "cxflow", "version": "1"}}
    return body


async def send_segment(
    http: OutboundHttp, channels: OrganizationChannels, organization_id: str, call: SegmentCall
) -> dict[str, Any]:
    write_key = channels.segment_write_key(call.write_key_name)
    body = payload(organization_id, call)
    response = await http.post(
        f"{channels.segment_endpoint}/v1/{call.type}",
        content=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
        headers={"Content-Type": "application/json"},
        auth=(write_key, ""),  # the Tracking API's basic auth: the write key as user, no password
        allow_list=channels.outbound_allow_list,
        timeout=SEGMENT_TIMEOUT_SECONDS,
        destination="Segment Tracking API",
        field_name="segment_endpoint",
    )
    return {"status_code": response.status_code, "message_id": body["messageId"]}
