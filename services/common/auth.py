"""API-token authentication: token hashing, the caller's organization, and token resolution for gRPC calls."""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import grpc

from services.common.errors import PermissionDenied, Unauthenticated

API_TOKEN_PREFIX = "cxf_"
ORGANIZATION_HEADER = "x-cxflow-organization"


@dataclass(frozen=True)
class Principal:
    """Who is calling: an organization's API token, or another cxflow service (internal)."""

    organization_id: str | None
    internal: bool = False


_current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("cxflow_principal", default=None)


def generate_api_token() -> str:
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Tokens carry 256 random bits, so one SHA-256 is enough to store them safely (no password stretching needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class TokenResolver(Protocol):
    """Resolves an API token to its organization id, or None when the token is unknown."""

    async def resolve(self, token: str) -> str | None: ...


def current_principal() -> Principal:
    principal = _current_principal.get()
    if principal is None:
        raise Unauthenticated("no authenticated caller")
    return principal


def current_organization() -> str:
    """The organization every query of this call is scoped to."""
    principal = current_principal()
    if principal.organization_id is None:
        raise Unauthenticated(f"internal calls must name an organization in the {ORGANIZATION_HEADER} header")
    return principal.organization_id


def require_internal() -> Principal:
    principal = current_principal()
    if not principal.internal:
        raise PermissionDenied("this call is for cxflow services only")
    return principal


def set_principal(principal: Principal | None) -> contextvars.Token:
    return _current_principal.set(principal)


def reset_principal(token: contextvars.Token) -> None:
    _current_principal.reset(token)


def bearer_token(metadata: Sequence[tuple[str, str | bytes]] | None) -> tuple[str | None, str | None]:
    """Extracts (token, organization header) from call metadata."""
    token = org = None
    for key, value in metadata or ():
        if isinstance(value, bytes):
            continue
        if key == "authorization" and value.lower().startswith("bearer "):
            token = value[7:].strip()
        elif key == ORGANIZATION_HEADER:
            org = value.strip()
    return token, org


class Authenticator:
    """Turns call metadata into a Principal: the internal token, or an API token known to the resolver."""

    def __init__(self, internal_token: str, resolver: TokenResolver) -> None:
        self._internal_token = internal_token
        self._resolver = resolver

    async def authenticate(self, token: str | None, organization_header: str | None) -> Principal:
        if not token:
            raise Unauthenticated("missing API token: send 'authorization: Bearer <token>'")
        if tokens_equal(token, self._internal_token):
            return Principal(organization_id=organization_header or None, internal=True)
        organization_id = await self._resolver.resolve(token)
        if organization_id is None:
            raise Unauthenticated("invalid API token")
        return Principal(organization_id=organization_id)


def internal_metadata(internal_token: str, organization_id: str | None = None) -> tuple[tuple[str, str], ...]:
    """Metadata for a service-to-service call on behalf of one organization."""
    md: list[tuple[str, str]] = [("authorization", f"Bearer {internal_token}")]
    if organization_id:
        md.append((ORGANIZATION_HEADER, organization_id))
    return tuple(md)


class RemoteTokenResolver:
    """Resolves tokens through the directory's OrganizationService, caching answers briefly."""

    def __init__(self, channel: grpc.aio.Channel, internal_token: str, ttl_seconds: float = 30.0) -> None:
        from cxflow.v1 import directory_pb2_grpc

        self._stub = directory_pb2_grpc.OrganizationServiceStub(channel)
        self._metadata = internal_metadata(internal_token)
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, str | None]] = {}

    async def resolve(self, token: str) -> str | None:
        from cxflow.v1 import directory_pb2

        key = hash_token(token)  # never keep plain tokens in memory longer than the call
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit and hit[0] > now:
            return hit[1]
        try:
            reply = await self._stub.ResolveApiToken(
                directory_pb2.ResolveApiTokenRequest(token=token), metadata=self._metadata, timeout=10
            )
            organization_id: str | None = reply.organization_id
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAUTHENTICATED):
                raise
            organization_id = None
        # Unknown tokens are remembered for less time, so a token created a moment ago works soon.
        self._cache[key] = (now + (self._ttl if organization_id else min(self._ttl, 2.0)), organization_id)
        return organization_id
