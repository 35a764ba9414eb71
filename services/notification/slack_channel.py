"""The Slack channel: posts text and Block Kit blocks to an organization's incoming webhook, referenced by name."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from services.common.errors import InvalidArgument
from services.notification.channel_settings import OrganizationChannels
from services.notification.deliveries import fingerprint
from services.notification.outbound import OutboundHttp

SLACK_TIMEOUT_SECONDS = 15.0
MAX_BLOCKS = 50  # Slack's limit per message
MAX_TEXT_LENGTH = 40_000  # Slack truncates beyond this


@dataclass(frozen=True)
class SlackMessage:
    idempotency_key: str
    webhook_name: str
    text: str
    blocks: tuple[dict[str, Any], ...] = ()

    def fingerprint(self) -> str:
        return fingerprint("slack", {"webhook_name": self.webhook_name, "text": self.text, "blocks": list(self.blocks)})

    def payload(self) -> dict[str, Any]:
        """The body Slack's incoming webhooks take: {"text": ..., "blocks": [...]} (blocks only when given)."""
        body: dict[str, Any] = {"text": self.text}
        if self.blocks:
            body["blocks"] = list(self.blocks)
        return body


def validate(message: SlackMessage) -> None:
    if not message.webhook_name.strip():
        raise InvalidArgument("webhook_name is required", field="webhook_name")
    # With blocks, text is the notification fallback; Slack asks for it, so cxflow requires it.
    if not message.text.strip():
        raise InvalidArgument("text is required (with blocks it is the notification fallback)", field="text")
    if len(message.text) > MAX_TEXT_LENGTH:
        raise InvalidArgument(f"text is longer than {MAX_TEXT_LENGTH} characters", field="text")
    if len(message.blocks) > MAX_BLOCKS:
        raise InvalidArgument(f"at most {MAX_BLOCKS} blocks per message", field="blocks")
    for index, block in enumerate(message.blocks):
        if not isinstance(block.get("type"), str) or not block["type"]:
            raise InvalidArgument(f"blocks[{index}] needs a 'type'", field=f"blocks[{index}]")


async def send_slack(http: OutboundHttp, channels: OrganizationChannels, message: SlackMessage) -> dict[str, Any]:
    """Posts once; the stored result is Slack's status and answer ("ok")."""
    url = channels.slack_webhook(message.webhook_name)
    response = await http.post(
        url,
        content=json.dumps(message.payload(), ensure_ascii=False, separators=(",", ":")).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
        allow_list=channels.outbound_allow_list,
        timeout=SLACK_TIMEOUT_SECONDS,
        destination=f"Slack webhook {message.webhook_name!r}",
        field_name="webhook_name",
    )
    return {"status_code": response.status_code, "response_body": response.text[:4096]}
