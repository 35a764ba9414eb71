"""The operator's `cxflow` commands (orgs, tokens, directories, contacts import/get/search) against a real directory server.

The CLI runs in a worker thread (its commands call asyncio.run) while the directory serves on this test's event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import structlog
from click.testing import Result
from typer.testing import CliRunner

from cxflow.cli import app
from cxflow.v1 import directory_pb2, directory_pb2_grpc
from services.common.settings import Settings
from services.directory.server import start_directory

runner = CliRunner()


@dataclass
class Cli:
    """Runs `cxflow ...` with the environment a shell user would have after `make up`."""

    env: dict[str, str]
    logs: list[dict[str, object]]

    async def __call__(self, *args: str, token: str | None = None) -> Result:
        env = dict(self.env)
        if token is not None:
            env["CXFLOW_API_TOKEN"] = token
        return await asyncio.to_thread(runner.invoke, app, list(args), env=env)

    async def json(self, *args: str, token: str | None = None) -> object:
        result = await self(*args, "--json", token=token)
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
async def cli(settings: Settings, tmp_path: Path) -> AsyncIterator[Cli]:
    """A directory server on SQLite on a free port; nothing listens at the ingestion target (no segments here).

    The server's log lines are captured (not printed), so the CLI's stdout holds only what the CLI prints.
    """
    capture = structlog.testing.capture_logs()
    logs = capture.__enter__()
    server = await start_directory(
        settings.with_overrides(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'directory.db'}", ingestion_grpc_target="127.0.0.1:9"
        ),
        dispatch=False,
    )
    try:
        yield Cli(
            env={
                "CXFLOW_DATA_DIR": str(settings.data_dir),
                "CXFLOW_INTERNAL_TOKEN": settings.resolved_internal_token(),
                "DIRECTORY_GRPC_TARGET": f"127.0.0.1:{server.grpc_port}",
                "CXFLOW_API_TOKEN": "",
                "COLUMNS": "200",
            },
            logs=logs,
        )
    finally:
        await server.stop(grace=0.5)
        capture.__exit__(None, None, None)


def one_error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


async def test_organizations_and_tokens_lifecycle(cli: Cli) -> None:
    created = await cli.json("orgs", "create", "Acme Support")
    assert created["id"].startswith("ORG_") and created["token"].startswith("cxf_")
    listed = await cli.json("orgs", "list")
    assert {"id": created["id"], "name": "Acme Support"}.items() <= next(o for o in listed if o["id"] == created["id"]).items()
    human = await cli("orgs", "list")
    assert human.exit_code == 0 and created["id"] in human.stdout and "Acme Support" in human.stdout

    # A second token, issued by the organization's own token (no --org), then listed without any secret.
    second = await cli.json("tokens", "create", "--name", "segment destination", token=created["token"])
    tokens = await cli.json("tokens", "list", "--org", created["id"])
    assert [(t["id"], t["name"]) for t in tokens] == [(created["tokenId"], "admin"), (second["tokenId"], "segment destination")]
    assert all(set(t) == {"id", "organizationId", "name", "createdAt"} for t in tokens)
    assert second["token"] not in (await cli("tokens", "list", token=created["token"])).stdout

    # Revoking: the token stops authenticating at once; revoking it again is NOT_FOUND on one stderr line, exit 1.
    assert (await cli("directories", "list", token=second["token"])).exit_code == 0
    revoked = await cli("tokens", "revoke", second["tokenId"], "--org", created["id"])
    assert revoked.exit_code == 0 and f"revoked {second['tokenId']}" in revoked.stdout
    refused = await cli("directories", "list", token=second["token"])
    assert refused.exit_code == 1 and one_error_line(refused).startswith("error: directory refused the credentials")
    assert not [entry for entry in cli.logs if second["token"] in json.dumps(entry, default=str)]  # never logged
    again = await cli("tokens", "revoke", second["tokenId"], "--org", created["id"])
    assert again.exit_code == 1 and "NOT_FOUND" in one_error_line(again) and second["tokenId"] in again.stderr
    # The admin calls refuse API tokens: only the internal token lists or revokes tokens.
    async with grpc.aio.insecure_channel(cli.env["DIRECTORY_GRPC_TARGET"]) as channel:
        stub = directory_pb2_grpc.OrganizationServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused_call:
            await stub.RevokeApiToken(
                directory_pb2.RevokeApiTokenRequest(organization_id=created["id"], token_id=created["tokenId"]),
                metadata=(("authorization", f"Bearer {created['token']}"),),
            )
        assert refused_call.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # Another organization's token id is not found either (no cross-organization revocation).
    other = await cli.json("orgs", "create", "Other")
    foreign = await cli("tokens", "revoke", created["tokenId"], "--org", other["id"])
    assert foreign.exit_code == 1 and "NOT_FOUND" in one_error_line(foreign)


def write_contacts_csv(path: Path) -> None:
    """50 data rows: 47 new people, one repeating row 3's email (an update), one without any identity, one bad email."""
    lines = ["firstName,lastName,email,phone,extRef,language,plan,signup source"]
    for number in range(1, 51):
        if number == 10:
            lines.append("Third,Again,PERSON3@example.com,,,,gold,import")
        elif number == 20:
            lines.append("No,Identity,,,,EN,pro,import")
        elif number == 30:
            lines.append("Bad,Email,not-an-address,,,EN,pro,import")
        else:
            lines.append(
                f'First{number},Last{number},person{number}@example.com,+1 555 01{number:02d},u-{number},EN,pro,"web, mobile"'
            )
    path.write_text("\n".join(lines) + "\n")


async def test_contacts_import_reports_created_updated_and_failed_rows(cli: Cli, tmp_path: Path) -> None:
    owner = await cli.json("orgs", "create", "Importer")
    token = owner["token"]
    directory = await cli.json("directories", "create", "Customers", "--dedup", "email", "--default", token=token)
    assert directory["dedupRules"] == ["email"]
    csv_file = tmp_path / "contacts.csv"
    write_contacts_csv(csv_file)

    # Batches of 16: the 50 rows go out in several UpsertContacts calls.
    result = await cli(
        "contacts", "import", str(csv_file), "--directory", directory["id"], "--batch-size", "16", "--json", token=token
    )
    assert result.exit_code == 1, result.stderr  # some rows failed
    report = json.loads(result.stdout)
    assert (report["rows"], report["created"], report["updated"]) == (50, 47, 1)
    # Lines count the header as line 1, so data row n is line n + 1.
    assert [(f["line"], f["error"]) for f in report["failed"]] == [
        (21, "needs an email, phone or extRef"),
        (31, "email 'not-an-address' is not an email address"),
    ]

    found = await cli.json("contacts", "search", "--filter", "email=person3@example.com", token=token)
    assert len(found) == 1 and found[0]["firstName"] == "Third"  # row 10 updated row 3's contact
    contact = await cli.json("contacts", "get", found[0]["id"], token=token)
    assert contact["embeddedData"] == {"plan": "gold", "signup source": "import"}
    assert contact["phone"] == "+1 555 0103" and contact["extRef"] == "u-3"
    human = await cli("contacts", "get", found[0]["id"], token=token)
    assert human.exit_code == 0 and "person3@example.com" in human.stdout.lower()
    listed = await cli.json("directories", "list", token=token)
    assert [(d["id"], d["contacts"]) for d in listed] == [(directory["id"], 47)]

    # Human output: the counts and a table of the failed lines.
    again = await cli("contacts", "import", str(csv_file), token=token)
    assert again.exit_code == 1
    assert "50 rows into" in again.stdout and "0 created, 48 updated, 2 failed" in again.stdout
    assert "needs an email, phone or extRef" in again.stdout


async def test_errors_are_one_actionable_line_with_exit_codes(cli: Cli, tmp_path: Path) -> None:
    owner = await cli.json("orgs", "create", "Errors")
    token = owner["token"]
    directory = await cli.json("directories", "create", "Main", "--default", token=token)

    missing = await cli("contacts", "get", "CID_missing", token=token)
    assert missing.exit_code == 1 and one_error_line(missing) == "error: NOT_FOUND: contact CID_missing not found"

    unreachable = await Cli({**cli.env, "DIRECTORY_GRPC_TARGET": "127.0.0.1:9"}, [])("directories", "list", token=token)
    assert unreachable.exit_code == 1
    assert one_error_line(unreachable) == (
        "error: cannot reach directory at 127.0.0.1:9: is `make up` running? (or set DIRECTORY_GRPC_TARGET)"
    )

    wrong_admin = await Cli({**cli.env, "CXFLOW_INTERNAL_TOKEN": "cxi_wrong"}, [])("orgs", "list")
    assert wrong_admin.exit_code == 1 and "CXFLOW_INTERNAL_TOKEN" in one_error_line(wrong_admin)

    no_token = await cli("directories", "list")
    assert no_token.exit_code == 2 and "CXFLOW_API_TOKEN" in one_error_line(no_token)
    bad_rule = await cli("directories", "create", "X", "--dedup", "email+shoeSize", token=token)
    assert bad_rule.exit_code == 2 and "shoeSize" in one_error_line(bad_rule)
    usage = await cli("contacts", "import", token=token)  # typer's own usage error: the file argument is missing
    assert usage.exit_code == 2
    no_header = tmp_path / "empty.csv"
    no_header.write_text("")
    empty = await cli("contacts", "import", str(no_header), "--directory", directory["id"], token=token)
    assert empty.exit_code == 2 and "no header row" in one_error_line(empty)
