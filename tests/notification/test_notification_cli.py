"""`cxflow tickets ...` and `cxflow channels ...` against the real notification service, with an organization's API token."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass

from cxflow.v1 import notification_pb2 as N
from services.notification.server import NotificationServer

API_TOKEN = "cxf_notification-test-api-token"  # what conftest's KnownTokens maps to ORG_api


@dataclass(frozen=True)
class Result:
    exit_code: int
    output: str


async def cli(notification: NotificationServer, *args: str) -> Result:
    """Runs `cxflow ...` as its own process, the way a user does."""
    env = {
        **os.environ,
        "CXFLOW_API_TOKEN": API_TOKEN,
        "NOTIFICATION_GRPC_TARGET": f"127.0.0.1:{notification.grpc_port}",
        "COLUMNS": "200",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cxflow.cli", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return Result(await process.wait(), output.decode())


async def test_list_show_update_and_comment(stub, api_token_caller, notification: NotificationServer) -> None:
    token_metadata, _ = api_token_caller
    created = await stub.CreateTicket(
        N.CreateTicketRequest(idempotency_key="cli-1", title="Printer on fire", owner="ana", contact_id="CID_9"),
        metadata=token_metadata,
    )
    await stub.CreateTicket(N.CreateTicketRequest(idempotency_key="cli-2", title="Other"), metadata=token_metadata)
    ticket_id = created.ticket.id

    listed = await cli(notification, "tickets", "list", "--owner", "ana", "--json")
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.output)
    assert (row["id"], row["title"], row["status"], row["priority"], row["provider"]) == (
        ticket_id, "Printer on fire", "open", "normal", "own"
    )
    table = await cli(notification, "tickets", "list")
    assert table.exit_code == 0 and "Printer on fire" in table.output and "Other" in table.output

    updated = await cli(notification, "tickets", "update", ticket_id, "--status", "in_progress", "--owner", "ben")
    assert updated.exit_code == 0, updated.output
    assert (json.loads(updated.output)["status"], json.loads(updated.output)["owner"]) == ("in_progress", "ben")

    commented = await cli(notification, "tickets", "comment", ticket_id, "Extinguisher sent.", "--author", "ben")
    assert commented.exit_code == 0, commented.output
    shown = await cli(notification, "tickets", "show", ticket_id, "--json")
    assert [c["body"] for c in json.loads(shown.output)["comments"]] == ["Extinguisher sent."]

    in_progress = await cli(notification, "tickets", "list", "--status", "in_progress", "--json")
    assert [r["id"] for r in json.loads(in_progress.output)] == [ticket_id]


async def test_errors_are_readable_and_exit_non_zero(notification: NotificationServer) -> None:
    missing = await cli(notification, "tickets", "show", "TKT_missing")
    assert missing.exit_code == 1
    assert "NOT_FOUND" in missing.output
    bad = await cli(notification, "tickets", "list", "--status", "sleeping")
    assert bad.exit_code == 2


async def test_channels_set_and_show_never_print_secrets(notification: NotificationServer) -> None:
    set_result = await cli(
        notification, "channels", "set", "--slack", "alerts=https://hooks.slack.com/services/T/B/cli-secret",
        "--allow", "127.0.0.1", "--allow", "10.0.0.0/8", "--webhook-secret", "cli-webhook-secret",
        "--zendesk-url", "https://acme.zendesk.com", "--zendesk-email", "a@acme.test", "--zendesk-token", "cli-zd-secret",
    )
    assert set_result.exit_code == 0, set_result.output
    shown = await cli(notification, "channels", "show", "--json")
    assert shown.exit_code == 0, shown.output
    summary = json.loads(shown.output)
    assert summary["slackWebhookNames"] == ["alerts"]
    assert summary["outboundAllowList"] == ["127.0.0.1/32", "10.0.0.0/8"]
    assert (summary["webhookSecretConfigured"], summary["zendeskConfigured"], summary["freshdeskConfigured"]) == (True, True, False)
    for secret in ("cli-secret", "cli-webhook-secret", "cli-zd-secret"):
        assert secret not in set_result.output + shown.output

    removed = await cli(notification, "channels", "set", "--slack", "alerts=", "--clear", "zendesk")
    assert json.loads(removed.output)["slackWebhookNames"] == []
    bad = await cli(notification, "channels", "set", "--allow", "not-an-ip")
    assert bad.exit_code == 1 and "INVALID_ARGUMENT" in bad.output


async def test_surveys_create_list_and_distributions(stub, api_token_caller, notification: NotificationServer) -> None:
    created = await cli(notification, "surveys", "create", "NPS", "https://s.example/nps?c={{ contact_id }}")
    assert created.exit_code == 0, created.output
    survey_id = created.output.strip()
    assert survey_id.startswith("SV_")
    listed = await cli(notification, "surveys", "list", "--json")
    assert [(s["id"], s["name"]) for s in json.loads(listed.output)] == [(survey_id, "NPS")]

    token_metadata, _ = api_token_caller
    await stub.DistributeSurvey(
        N.DistributeSurveyRequest(
            idempotency_key="cli-d", survey_id=survey_id, contact_id="CID_1", email="zoe@example.com", run_id="r"
        ),
        metadata=token_metadata,
    )
    distributions = await cli(notification, "surveys", "distributions", "--survey", survey_id, "--json")
    [row] = json.loads(distributions.output)
    assert (row["contactId"], row["email"], row["opened"]) == ("CID_1", "zoe@example.com", "")
    assert row["sent"]
