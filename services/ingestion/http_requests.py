"""Reading HTTP requests at the front door: size-capped (and gunzipped) bodies, HTTP Basic credentials, API tokens."""

from __future__ import annotations

import base64
import binascii

from fastapi import Request

from services.common.auth import TokenResolver
from services.ingestion.errors import InvalidApiToken, PayloadTooLarge
from services.ingestion.segment_spec import decompress

# gzip can make incompressible bodies slightly larger; the decompressed size is what the limits are about.
_COMPRESSED_SLACK = 1024


async def read_body(request: Request, limit: int, *, too_large_status: int = 400) -> bytes:
    """The request body, decompressed, refusing to read or inflate more than `limit` bytes."""
    raw_limit = limit + _COMPRESSED_SLACK
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > raw_limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes", http_status=too_large_status)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > raw_limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes", http_status=too_large_status)
        chunks.append(chunk)
    return decompress(b"".join(chunks), request.headers.get("content-encoding"), limit, too_large_status=too_large_status)


def basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


async def token_organization(request: Request, resolver: TokenResolver, *, allow_basic: bool = True) -> str:
    """The organization of the request's API token: X-API-TOKEN, or (where allowed) the HTTP Basic password."""
    token = request.headers.get("x-api-token", "").strip()
    if not token and allow_basic:
        credentials = basic_credentials(request)
        token = credentials[1] if credentials else ""
    organization_id = await resolver.resolve(token) if token else None
    if organization_id is None:
        raise InvalidApiToken()
    return organization_id
