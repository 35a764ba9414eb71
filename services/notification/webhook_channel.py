"""The webhook channel: POSTs JSON to a URL, signed with the organization's webhook secret (HMAC-SHA256)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from services.common.errors import InvalidArgument
from services.notification.channel_settings import OrganizationChannels
from services.notification.deliveries import fingerprint
from services.notification.outbound import OutboundHttp, describe

DEFAULT_TIMEOUT_SECONDS = 10
MAX_TIMEOUT_SECONDS = 60
SIGNATURE_HEADER = "X-Cxflow-Signature"
TIMESTAMP_HEADER = "X-Cxflow-Timestamp"
IDEMPOTENCY_HEADER = "X-Cxflow-Idempotency-Key"


@dataclass(frozen=True)
class WebhookCall:
    idempotency_key: str
    url: str
    body: dict[str, Any]
    timeout_seconds: int = 0

    def fingerprint(self) -> str:
        return fingerprint("webhook", {"url": self.url, "body": self.body, "timeout_seconds": self.timeout_seconds})

    def body_bytes(self) -> bytes:
        """Compact UTF-8 JSON: the exact bytes that are signed and sent, the same on every attempt."""
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def validate(call: WebhookCall) -> None:
    if not call.url.strip():
        raise InvalidArgument("url is required", field="url")
    if not 0 <= call.timeout_seconds <= MAX_TIMEOUT_SECONDS:
        raise InvalidArgument(f"timeout_seconds must be 0 (default {DEFAULT_TIMEOUT_SECONDS}) to {MAX_TIMEOUT_SECONDS}", field="timeout_seconds")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """sha256=<hex HMAC-SHA256 over "{timestamp}." + body>: the timestamp is signed too, so a receiver can
    refuse old deliveries replayed by someone who captured one."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


async def send_webhook(http: OutboundHttp, channels: OrganizationChannels, call: WebhookCall) -> dict[str, Any]:
    secret = channels.require_webhook_secret()
    body = call.body_bytes()
    timestamp = str(int(time.time()))
    response = await http.post(
        call.url,
        content=body,
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "cxflow-webhooks",
            SIGNATURE_HEADER: signature(secret, timestamp, body),
            TIMESTAMP_HEADER: timestamp,
            # Receivers can dedupe on this: a resend after a crash carries the same key.
            IDEMPOTENCY_HEADER: call.idempotency_key,
        },
        allow_list=channels.outbound_allow_list,
        timeout=float(call.timeout_seconds or DEFAULT_TIMEOUT_SECONDS),
        destination=f"webhook {describe(call.url)}",  # host only: paths and queries may carry tokens
    )
    return {"status_code": response.status_code, "response_body": response.text[:4096]}
