"""Per-organization channel settings: validated on write, stored as one document, secrets never handed back."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import FailedPrecondition, InvalidArgument
from services.notification.email_channel import SmtpTarget, parse_address
from services.notification.models import ChannelSettings

DEFAULT_SEGMENT_ENDPOINT = "https://api.segment.io"
CLEARABLE_SECTIONS = ("smtp", "zendesk", "freshdesk", "slack_webhooks", "segment_write_keys")
MAX_NAME_LENGTH = 100

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ChannelNotConfigured(FailedPrecondition):
    """The organization has not configured what this call needs (an operator sets it, then a retry works)."""


@dataclass(frozen=True)
class ZendeskAccount:
    base_url: str
    email: str
    api_token: str = field(repr=False)


@dataclass(frozen=True)
class FreshdeskAccount:
    base_url: str
    api_key: str = field(repr=False)


@dataclass(frozen=True)
class OrganizationChannels:
    """One organization's channel settings, read for a send. Holds secrets: never log or return it."""

    smtp: SmtpTarget | None = None
    default_from: str = ""
    slack_webhooks: dict[str, str] = field(default_factory=dict, repr=False)
    zendesk: ZendeskAccount | None = None
    freshdesk: FreshdeskAccount | None = None
    webhook_secret: str = field(default="", repr=False)
    outbound_allow_list: tuple[IpNetwork, ...] = ()
    segment_write_keys: dict[str, str] = field(default_factory=dict, repr=False)
    segment_endpoint: str = DEFAULT_SEGMENT_ENDPOINT

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> OrganizationChannels:
        smtp = document.get("smtp")
        zendesk = document.get("zendesk")
        freshdesk = document.get("freshdesk")
        return cls(
            smtp=SmtpTarget(
                smtp["host"], smtp["port"], smtp["starttls"], smtp["tls"], smtp["username"], smtp["password"]
            )
            if smtp
            else None,
            default_from=smtp.get("default_from", "") if smtp else "",
            slack_webhooks=dict(document.get("slack_webhooks", {})),
            zendesk=ZendeskAccount(zendesk["base_url"], zendesk["email"], zendesk["api_token"]) if zendesk else None,
            freshdesk=FreshdeskAccount(freshdesk["base_url"], freshdesk["api_key"]) if freshdesk else None,
            webhook_secret=document.get("webhook_secret", ""),
            outbound_allow_list=tuple(ipaddress.ip_network(e) for e in document.get("outbound_allow_list", [])),
            segment_write_keys=dict(document.get("segment_write_keys", {})),
            segment_endpoint=document.get("segment_endpoint") or DEFAULT_SEGMENT_ENDPOINT,
        )

    def slack_webhook(self, name: str) -> str:
        try:
            return self.slack_webhooks[name]
        except KeyError:
            raise ChannelNotConfigured(f"no Slack webhook named {name!r} is configured", field="webhook_name") from None

    def segment_write_key(self, name: str) -> str:
        try:
            return self.segment_write_keys[name]
        except KeyError:
            raise ChannelNotConfigured(
                f"no Segment write key named {name!r} is configured", field="write_key_name"
            ) from None

    def require_zendesk(self) -> ZendeskAccount:
        if self.zendesk is None:
            raise ChannelNotConfigured("Zendesk is not configured for this organization", field="provider")
        return self.zendesk

    def require_freshdesk(self) -> FreshdeskAccount:
        if self.freshdesk is None:
            raise ChannelNotConfigured("Freshdesk is not configured for this organization", field="provider")
        return self.freshdesk

    def require_webhook_secret(self) -> str:
        if not self.webhook_secret:
            raise ChannelNotConfigured("no webhook secret is configured: webhooks are always signed")
        return self.webhook_secret


@dataclass(frozen=True)
class ChannelSettingsChange:
    """What an update asks for; None (or an empty mapping) leaves a part as it is."""

    smtp: dict[str, Any] | None = None
    slack_webhooks: dict[str, str] = field(default_factory=dict)  # "" removes the name
    zendesk: dict[str, str] | None = None
    freshdesk: dict[str, str] | None = None
    webhook_secret: str | None = None
    outbound_allow_list: list[str] | None = None
    segment_write_keys: dict[str, str] = field(default_factory=dict)  # "" removes the name
    segment_endpoint: str | None = None
    clear: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChannelSettingsSummary:
    """What is configured, without a single secret."""

    smtp_configured: bool
    slack_webhook_names: list[str]
    zendesk_configured: bool
    freshdesk_configured: bool
    webhook_secret_configured: bool
    outbound_allow_list: list[str]
    segment_write_key_names: list[str]
    segment_endpoint: str


def validate_base_url(value: str, field_name: str) -> str:
    """An absolute http(s) URL with a host, without query or fragment, with no trailing slash."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(f"{field_name} must be an http(s) URL with a host", field=field_name)
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidArgument(f"{field_name} must not carry a query, fragment or credentials", field=field_name)
    return value.strip().rstrip("/")


def _validate_name(name: str, field_name: str) -> None:
    if not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(f"{field_name} names must be 1 to {MAX_NAME_LENGTH} characters", field=field_name)


def apply_change(document: dict[str, Any], change: ChannelSettingsChange) -> dict[str, Any]:
    """The new document; raises InvalidArgument naming the first bad field (and then nothing is stored)."""
    new = {key: (dict(value) if isinstance(value, dict) else value) for key, value in document.items()}
    for section in change.clear:
        if section not in CLEARABLE_SECTIONS:
            raise InvalidArgument(f"clear: unknown section {section!r}; one of {', '.join(CLEARABLE_SECTIONS)}", field="clear")
        new.pop(section, None)
    if change.smtp is not None:
        smtp = dict(change.smtp)
        if not str(smtp.get("host", "")).strip():
            raise InvalidArgument("smtp.host is required", field="smtp.host")
        if not 0 < int(smtp.get("port", 0)) < 65536:
            raise InvalidArgument("smtp.port must be 1 to 65535", field="smtp.port")
        if smtp.get("starttls") and smtp.get("tls"):
            raise InvalidArgument("smtp.tls and smtp.starttls: choose one, not both", field="smtp.tls")
        if smtp.get("default_from"):
            parse_address(smtp["default_from"], "smtp.default_from")
        new["smtp"] = smtp
    for name, url in change.slack_webhooks.items():
        _validate_name(name, "slack_webhooks")
        webhooks = new.setdefault("slack_webhooks", {})
        if url:
            webhooks[name] = validate_base_url(url, f"slack_webhooks[{name}]")
        else:
            webhooks.pop(name, None)
    if change.zendesk is not None:
        for key in ("base_url", "email", "api_token"):
            if not change.zendesk.get(key, "").strip():
                raise InvalidArgument(f"zendesk.{key} is required", field=f"zendesk.{key}")
        new["zendesk"] = {**change.zendesk, "base_url": validate_base_url(change.zendesk["base_url"], "zendesk.base_url")}
    if change.freshdesk is not None:
        for key in ("base_url", "api_key"):
            if not change.freshdesk.get(key, "").strip():
                raise InvalidArgument(f"freshdesk.{key} is required", field=f"freshdesk.{key}")
        new["freshdesk"] = {
            **change.freshdesk,
            "base_url": validate_base_url(change.freshdesk["base_url"], "freshdesk.base_url"),
        }
    if change.webhook_secret is not None:
        if change.webhook_secret:
            new["webhook_secret"] = change.webhook_secret
        else:
            new.pop("webhook_secret", None)
    if change.outbound_allow_list is not None:
        entries = []
        for index, entry in enumerate(change.outbound_allow_list):
            try:
                entries.append(str(ipaddress.ip_network(entry.strip(), strict=False)))
            except ValueError:
                raise InvalidArgument(
                    f"outbound_allow_list[{index}] must be an IP address or network, got {entry!r}",
                    field=f"outbound_allow_list[{index}]",
                ) from None
        new["outbound_allow_list"] = entries
    for name, key in change.segment_write_keys.items():
        _validate_name(name, "segment_write_keys")
        keys = new.setdefault("segment_write_keys", {})
        if key:
            keys[name] = key
        else:
            keys.pop(name, None)
    if change.segment_endpoint is not None:
        if change.segment_endpoint:
            new["segment_endpoint"] = validate_base_url(change.segment_endpoint, "segment_endpoint")
        else:
            new.pop("segment_endpoint", None)
    return new


def summarize(document: dict[str, Any]) -> ChannelSettingsSummary:
    return ChannelSettingsSummary(
        smtp_configured="smtp" in document,
        slack_webhook_names=sorted(document.get("slack_webhooks", {})),
        zendesk_configured="zendesk" in document,
        freshdesk_configured="freshdesk" in document,
        webhook_secret_configured=bool(document.get("webhook_secret")),
        outbound_allow_list=list(document.get("outbound_allow_list", [])),
        segment_write_key_names=sorted(document.get("segment_write_keys", {})),
        segment_endpoint=document.get("segment_endpoint") or DEFAULT_SEGMENT_ENDPOINT,
    )


class ChannelSettingsRepository:
    """Reads and writes one organization's settings document within the caller's session (never commits)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def document(self, organization_id: str) -> dict[str, Any]:
        document = await self._session.scalar(
            select(ChannelSettings.document).where(ChannelSettings.organization_id == organization_id)
        )
        return dict(document) if document else {}

    async def channels(self, organization_id: str) -> OrganizationChannels:
        return OrganizationChannels.from_document(await self.document(organization_id))

    async def change(self, organization_id: str, change: ChannelSettingsChange) -> dict[str, Any]:
        row = await self._session.get(ChannelSettings, organization_id, with_for_update=True)
        new = apply_change(dict(row.document) if row else {}, change)
        if row is None:
            self._session.add(ChannelSettings(organization_id=organization_id, document=new))
        else:
            row.document = new  # a new dict, so the JSON column sees the change
        await self._session.flush()
        return new
