"""Logs are one JSON object per line with secrets masked; the authenticator tells internal callers from API tokens."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from services.common.auth import Authenticator, Principal, generate_api_token, hash_token
from services.common.errors import Unauthenticated
from services.common.logging import configure_logging

INTERNAL = "cxi_internal-secret-abcdefghijkl"


def test_logs_are_json_and_never_carry_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json", service="test")
    api_token = generate_api_token()
    structlog.get_logger("cxflow.test").info(
        "call", authorization=f"Bearer {api_token}", note=f"token was {api_token}", nested={"password": "hunter2", "ok": 1}
    )
    logging.getLogger("temporalio.test").warning("stdlib line mentioning %s", api_token)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert [line["event"] for line in lines] == ["call", "stdlib line mentioning cxf_***"]
    first = lines[0]
    assert first["level"] == "info" and first["service"] == "test" and first["timestamp"].endswith("Z")
    assert first["authorization"] == "***" and first["nested"] == {"password": "***", "ok": 1}
    assert first["note"] == "token was cxf_***"
    assert api_token not in json.dumps(lines)
    structlog.contextvars.clear_contextvars()


class _Tokens:
    def __init__(self, known: dict[str, str]) -> None:
        self._by_hash = {hash_token(token): org for token, org in known.items()}

    async def resolve(self, token: str) -> str | None:
        return self._by_hash.get(hash_token(token))


async def test_authenticator_resolves_internal_and_api_tokens() -> None:
    api_token = generate_api_token()
    authenticator = Authenticator(INTERNAL, _Tokens({api_token: "ORG_a"}))
    assert await authenticator.authenticate(INTERNAL, "ORG_b") == Principal("ORG_b", internal=True)
    assert await authenticator.authenticate(INTERNAL, None) == Principal(None, internal=True)
    # An API token is bound to its own organization: the organization header cannot widen it.
    assert await authenticator.authenticate(api_token, "ORG_b") == Principal("ORG_a")
    for bad in (None, "", "cxf_unknown", INTERNAL + "x"):
        with pytest.raises(Unauthenticated):
            await authenticator.authenticate(bad, None)
