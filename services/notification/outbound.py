"""Outbound HTTP for every HTTP channel: SSRF refusal with a per-organization allow-list, provider errors sorted by retryability.

A destination's host is resolved once; when any address is loopback, private, link-local, reserved or
otherwise not public, the call is refused unless that address is on the organization's allow-list.
The request then goes to the checked address itself (the Host header and TLS SNI keep the name), so a
DNS answer that changes between the check and the connect cannot redirect it. Redirects are never
followed and proxy variables from the environment are ignored, for the same reason.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import structlog

from services.common.errors import FailedPrecondition, InvalidArgument, ResourceExhausted, Unavailable

log = structlog.get_logger(__name__)
# httpx logs every request URL at INFO, and a Slack webhook's path is its secret: keep those loggers quiet.
for _chatty in ("httpx", "httpcore"):
    logging.getLogger(_chatty).setLevel(logging.WARNING)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_ERROR_BODY = 300


class InvalidDestination(InvalidArgument):
    """The URL is not an absolute http(s) URL."""


class DestinationRefused(FailedPrecondition):
    """The URL resolves to a non-public address that is not on the organization's outbound allow-list."""


class ProviderRejected(FailedPrecondition):
    """The provider refused this request for good (4xx other than 400/408/422/429, or a redirect)."""

    final_for_key = True


class ProviderInvalidRequest(InvalidArgument):
    """The provider found the request itself invalid (400 or 422)."""

    final_for_key = True


class ProviderRateLimited(ResourceExhausted):
    """429: the provider asks to come back later; retry_after_seconds says when, if it said."""

    def __init__(self, message: str, retry_after_seconds: int | None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ProviderUnavailable(Unavailable):
    """5xx, 408, a timeout or a connection failure: retrying later may succeed."""


@dataclass(frozen=True)
class ProviderResponse:
    status_code: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        import json

        return json.loads(self.body)


def is_public(address: IpAddress) -> bool:
    """True for globally routable unicast addresses (IPv4-mapped IPv6 judged by its IPv4 address)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def retry_after_seconds(value: str | None, now: datetime | None = None) -> int | None:
    """Retry-After as whole seconds: delta-seconds or an HTTP date (RFC 9110 10.2.3); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0, int((moment - (now or datetime.now(UTC))).total_seconds() + 0.999))


def describe(url: str) -> str:
    """scheme://host[:port] only: paths and queries of webhook URLs may hold secrets (Slack's do)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


class OutboundHttp:
    """One pooled HTTP client for the process; every call checks its destination first."""

    def __init__(self, verify: ssl.SSLContext | bool = True) -> None:
        """verify: the certificate check of HTTPS destinations (tests pass a context trusting their own CA)."""
        self._plain = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        # Requests go to the checked IP, so a pool would key TLS connections by IP alone and could hand one
        # verified for host A to a request for host B on the same address: TLS connections are never reused.
        self._tls = httpx.AsyncClient(
            follow_redirects=False, trust_env=False, verify=verify, limits=httpx.Limits(max_keepalive_connections=0)
        )

    async def aclose(self) -> None:
        await self._plain.aclose()
        await self._tls.aclose()

    async def check_destination(self, url: str, allow_list: Sequence[IpNetwork], field_name: str = "url") -> tuple[str, IpAddress]:
        """(host name, the address to connect to), or DestinationRefused / InvalidDestination."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidDestination(f"{field_name} must be an absolute http(s) URL", field=field_name)
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            literal: IpAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [literal]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except socket.gaierror as exc:
                raise ProviderUnavailable(f"{describe(url)}: cannot resolve {host}: {exc.strerror}") from None
            addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos))
        for address in addresses:
            if not is_public(address) and not any(address in network for network in allow_list):
                log.warning("outbound.refused", destination=describe(url), address=str(address))
                raise DestinationRefused(
                    f"{field_name}: {describe(url)} resolves to {address}, which is not a public address; "
                    "add it to the organization's outbound allow-list to allow it",
                    field=field_name,
                )
        # IPv4 first: hosts often resolve to both, and IPv6 routes are the ones more often missing.
        return host, min(addresses, key=lambda address: address.version)

    async def post(
        self,
        url: str,
        *,
        content: bytes,
        headers: dict[str, str],
        allow_list: Sequence[IpNetwork],
        timeout: float,
        destination: str,
        auth: tuple[str, str] | None = None,
        field_name: str = "url",
    ) -> ProviderResponse:
        """POSTs to url; returns a 2xx response or raises the error class its status calls for.
        destination names the provider in errors and logs (never the URL itself, which may hold a secret)."""
        host, address = await self.check_destination(url, allow_list, field_name)
        parts = urlsplit(url)
        pinned_host = f"[{address}]" if address.version == 6 else str(address)
        pinned = urlunsplit((parts.scheme, f"{pinned_host}:{parts.port}" if parts.port else pinned_host, parts.path or "/", parts.query, ""))
        request_headers = {"Host": parts.netloc.rsplit("@", 1)[-1], **headers}
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        try:
            client = self._tls if parts.scheme == "https" else self._plain
            response = await client.post(
                pinned,
                content=content,
                headers=request_headers,
                auth=httpx.BasicAuth(*auth) if auth else None,
                timeout=httpx.Timeout(timeout),
                extensions=extensions,
            )
        except httpx.TimeoutException:
            raise ProviderUnavailable(f"{destination}: no answer within {timeout:g} s") from None
        except httpx.TransportError as exc:
            raise ProviderUnavailable(f"{destination}: connection failed: {type(exc).__name__}") from None
        result = ProviderResponse(response.status_code, response.content, dict(response.headers))
        status = response.status_code
        if 200 <= status < 300:
            return result
        detail = f"{destination} answered {status}: {result.text[:MAX_ERROR_BODY]}".rstrip(": ")
        if status == 429:
            wait = retry_after_seconds(response.headers.get("retry-after"))
            raise ProviderRateLimited(detail + (f" (retry after {wait} s)" if wait is not None else ""), wait)
        if status == 408 or status >= 500:
            raise ProviderUnavailable(detail)
        if status in (400, 422):
            raise ProviderInvalidRequest(detail)
        raise ProviderRejected(detail)
