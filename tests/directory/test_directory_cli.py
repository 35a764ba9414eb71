"""The `cxflow contacts|segments|directories` commands (typer CliRunner) against a directory server started in a
thread of its own (the commands run their own event loop, as they do from a shell)."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from typer.testing import CliRunner

from cxflow.cli import app
from cxflow.v1 import directory_pb2, directory_pb2_grpc
from services.common.auth import internal_metadata
from services.common.settings import Settings
from services.directory.server import start_directory

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d|\{\"event\")")


@dataclass(frozen=True)
class Seeded:
    target: str
    token: str
    directory_id: str
    ada_id: str
    grace_id: str
    list_id: str


@pytest.fixture
def seeded(settings: Settings, tmp_path: Path) -> Iterator[Seeded]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(
        start_directory(settings.with_overrides(database_url=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"), clock=lambda: NOW, dispatch=False),
        loop,
    ).result(60)
    target = f"127.0.0.1:{server.grpc_port}"
    try:
        with grpc.insecure_channel(target) as channel:
            organizations = directory_pb2_grpc.OrganizationServiceStub(channel)
            directories = directory_pb2_grpc.DirectoryServiceStub(channel)
            internal = internal_metadata(settings.resolved_internal_token())
            organization = organizations.CreateOrganization(directory_pb2.CreateOrganizationRequest(name="Acme"), metadata=internal)
            token = organizations.CreateApiToken(
                directory_pb2.CreateApiTokenRequest(organization_id=organization.id, name="cli"), metadata=internal
            ).token
            md = (("authorization", f"Bearer {token}"),)
            pool = directories.CreateDirectory(
                directory_pb2.CreateDirectoryRequest(name="Customers", is_default=True, deduplication_criteria=directory_pb2.DeduplicationCriteria(email=True)),
                metadata=md,
            )
            mailing_list = directories.CreateMailingList(directory_pb2.CreateMailingListRequest(directory_id=pool.id, name="Support"), metadata=md)
            ids = []
            for email, first_name, plan in (("ada@example.com", "Ada", "gold"), ("grace@example.com", "Grace", "free")):
                written = directory_pb2.ContactInput(email=email, first_name=first_name)
                written.embedded_data.update({"plan": plan})
                ids.append(directories.UpsertContact(directory_pb2.UpsertContactRequest(directory_id=pool.id, contact=written), metadata=md).contact_id)
            transactions = {}
            for day in range(5):
                when = Timestamp()
                when.FromDatetime(NOW - timedelta(days=day + 1))
                item = directory_pb2.TransactionInput(contact_id=ids[0], mailing_list_id=mailing_list.id, transaction_date=when)
                item.data.update({"type": "support_call"})
                transactions[f"t{day}"] = item
            directories.CreateTransactions(directory_pb2.CreateTransactionsRequest(directory_id=pool.id, transactions=transactions), metadata=md)
        yield Seeded(target, token, pool.id, ids[0], ids[1], mailing_list.id)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(grace=0.2), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def cli(seeded: Seeded, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DIRECTORY_GRPC_TARGET", seeded.target)
    monkeypatch.setenv("CXFLOW_API_TOKEN", seeded.token)
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args))
        # The server thread's log lines land in the same captured stdout; the command's own output is the rest.
        own = [line for line in result.output.splitlines() if not LOG_LINE.match(line)]
        return result.exit_code, "\n".join(own)

    return run


SEGMENT_YAML = """\
name: Frequent support callers
description: 5 support calls in 30 days
rule:
  transactions:
    aggregate: count
    where: [{field: type, op: eq, value: support_call}]
    lastDays: 30
    op: gte
    value: 5
"""


def test_segments_apply_list_members_and_explain(cli, seeded: Seeded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    definition = tmp_path / "seg.yaml"
    definition.write_text(SEGMENT_YAML)
    code, output = cli("segments", "apply", "-f", str(definition), "--json")
    assert code == 0, output
    created = json.loads(output)[0]
    assert (created["result"], created["members"], created["name"]) == ("created", 1, "Frequent support callers")

    # Applying again with a stricter rule updates the same segment (found by name) and re-evaluates it.
    definition.write_text(SEGMENT_YAML.replace("value: 5", "value: 6"))
    code, output = cli("segments", "apply", "-f", str(definition), "--json")
    updated = json.loads(output)[0]
    assert (code, updated["result"], updated["id"], updated["members"]) == (0, "updated", created["id"], 0)
    definition.write_text(SEGMENT_YAML)
    assert cli("segments", "apply", "-f", str(definition))[0] == 0

    code, output = cli("segments", "list", "--json")
    assert code == 0 and [(row["id"], row["members"]) for row in json.loads(output)] == [(created["id"], 1)]
    code, output = cli("segments", "members", created["id"], "--json")
    assert code == 0 and [row["contactId"] for row in json.loads(output)] == [seeded.ada_id]

    code, output = cli("segments", "explain", created["id"], seeded.grace_id, "--json")
    explained = json.loads(output)[0]
    assert code == 0 and (explained["member"], explained["ruleHolds"], explained["rule"]["value"]) == (False, False, 0)
    code, output = cli("segments", "explain", created["id"], seeded.ada_id)
    assert code == 0 and "is member of" in output and "count of transactions where type eq 'support_call'" in output


def test_contacts_get_and_search(cli, seeded: Seeded) -> None:  # type: ignore[no-untyped-def]
    code, output = cli("contacts", "get", seeded.ada_id, "--json")
    contact = json.loads(output)
    assert code == 0 and (contact["email"], contact["embeddedData"], contact["mailingListIds"]) == ("ada@example.com", {"plan": "gold"}, [])
    code, output = cli("contacts", "search", "--filter", "embeddedData.plan=free", "--json")
    assert code == 0 and [row["id"] for row in json.loads(output)] == [seeded.grace_id]
    code, output = cli("contacts", "search", "-f", "email=ADA@example.com", "-f", "firstName=Grace", "--any", "--json")
    assert code == 0 and {row["id"] for row in json.loads(output)} == {seeded.ada_id, seeded.grace_id}
    code, output = cli("contacts", "search", "-f", "email=ada@example.com", "-f", "firstName=Grace", "--json")
    assert code == 0 and json.loads(output) == []
    code, output = cli("directories", "list", "--json")
    assert code == 0 and [(row["id"], row["contacts"], row["dedupRules"]) for row in json.loads(output)] == [(seeded.directory_id, 2, ["email"])]


def test_bad_input_exits_with_the_services_error(cli, seeded: Seeded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, output = cli("contacts", "get", "CID_missing")
    assert code == 1 and "NOT_FOUND" in output
    code, output = cli("contacts", "search", "-f", "shoeSize=44")
    assert code == 1 and "INVALID_ARGUMENT" in output and "shoeSize" in output
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Broken\nrule:\n  all:\n    - field: email\n      op: approx\n      value: x\n")
    code, output = cli("segments", "apply", "-f", str(bad))
    assert code == 1 and "rule.all[0].op" in output
    bad.write_text("rule: {}\n")
    code, output = cli("segments", "apply", "-f", str(bad))
    assert code == 2 and "needs at least name and rule" in " ".join(output.split())
