"""Every HTTP route the ingestion service documents refuses a call without valid credentials (401, JSON body)."""

from __future__ import annotations

import re

import httpx

# Routes anyone may read: the API description itself and liveness.
PUBLIC_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/healthz"}
BAD_CREDENTIALS = [
    {},
    {"X-API-TOKEN": "cxf_not-a-real-token-000000000000"},
    {"Authorization": "Basic d2tfbm90LWEtcmVhbC1rZXk6"},  # "wk_not-a-real-key:"
    {"Authorization": "Bearer cxf_not-a-real-token-000000000000"},
]


def _concrete(path: str) -> str:
    """A documented path with each {parameter} filled in with a plausible but unknown value."""
    return re.sub(r"\{[^}]+\}", "XYZ_unknown", path)


async def test_every_documented_route_refuses_missing_or_wrong_credentials(live_stack) -> None:
    async with httpx.AsyncClient(base_url=live_stack.http_url, timeout=10) as http:
        document = (await http.get("/openapi.json")).json()
        operations = [
            (method.upper(), path)
            for path, item in document["paths"].items()
            for method in item
            if method in {"get", "post", "put", "patch", "delete"} and path not in PUBLIC_PATHS
        ]
        assert len(operations) >= 3, operations
        for method, path in operations:
            for headers in BAD_CREDENTIALS:
                reply = await http.request(method, _concrete(path), json={}, headers=headers)
                assert reply.status_code == 401, f"{method} {path} with {headers or 'no credentials'}: {reply.status_code} {reply.text}"
                assert reply.headers["content-type"].startswith("application/json"), f"{method} {path}"
