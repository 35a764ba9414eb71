"""`cxflow channels ...`: show which outbound channels the organization has configured, and set them (secrets are write-only)."""

from __future__ import annotations

from typing import Annotated

import typer
from google.protobuf import json_format

from cxflow.commands.support import JSON_OPTION, call, print_fields
from cxflow.v1 import notification_pb2, notification_pb2_grpc
from services.common.settings import Settings

app = typer.Typer(help="Outbound channel settings: SMTP, Slack, Zendesk, Freshdesk, webhooks, Segment.", no_args_is_help=True)


def _pairs(values: list[str], option: str) -> dict[str, str]:
    """NAME=VALUE options; NAME= (empty value) removes the name."""
    pairs: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name:
            raise typer.BadParameter("expected NAME=VALUE", param_hint=option)
        pairs[name] = rest
    return pairs


def _print(summary: notification_pb2.ChannelSettingsSummary, as_json: bool = True) -> None:
    print_fields(json_format.MessageToDict(summary, always_print_fields_with_no_presence=True), as_json)


@app.command("show")
def channels_show(as_json: bool = JSON_OPTION) -> None:
    """Show what is configured (never a secret)."""
    settings = Settings.from_env()
    summary = call(
        settings.notification_grpc_target,
        lambda channel, md: notification_pb2_grpc.NotificationServiceStub(channel).GetChannelSettings(
            notification_pb2.GetChannelSettingsRequest(), metadata=md
        ),
    )
    _print(summary, as_json)


@app.command("set")
def channels_set(
    slack: Annotated[list[str] | None, typer.Option("--slack", help="NAME=WEBHOOK_URL (repeatable; NAME= removes it)")] = None,
    smtp_host: str = typer.Option(None, help="the organization's SMTP server (with --smtp-port)"),
    smtp_port: int = typer.Option(587, help="SMTP port"),
    smtp_starttls: bool = typer.Option(False, help="upgrade with STARTTLS"),
    smtp_tls: bool = typer.Option(False, help="implicit TLS"),
    smtp_user: str = typer.Option("", help="SMTP user"),
    smtp_password: str = typer.Option("", envvar="CXFLOW_SMTP_PASSWORD", help="SMTP password (or CXFLOW_SMTP_PASSWORD)"),
    smtp_from: str = typer.Option("", help="default sender"),
    zendesk_url: str = typer.Option(None, help="e.g. https://acme.zendesk.com (with --zendesk-email and the token)"),
    zendesk_email: str = typer.Option("", help="the agent the API token belongs to"),
    zendesk_token: str = typer.Option("", envvar="CXFLOW_ZENDESK_TOKEN", help="Zendesk API token (or CXFLOW_ZENDESK_TOKEN)"),
    freshdesk_url: str = typer.Option(None, help="e.g. https://acme.freshdesk.com (with the API key)"),
    freshdesk_key: str = typer.Option("", envvar="CXFLOW_FRESHDESK_KEY", help="Freshdesk API key (or CXFLOW_FRESHDESK_KEY)"),
    webhook_secret: str = typer.Option(None, envvar="CXFLOW_WEBHOOK_SECRET", help="HMAC secret of signed webhooks"),
    allow: Annotated[
        list[str] | None, typer.Option("--allow", help="outbound allow-list entry (IP or network; replaces the list)")
    ] = None,
    segment_key: Annotated[
        list[str] | None, typer.Option("--segment-key", help="NAME=WRITE_KEY (repeatable; NAME= removes it)")
    ] = None,
    segment_endpoint: str = typer.Option(None, help="Tracking API base URL (empty: api.segment.io)"),
    clear: Annotated[
        list[str] | None,
        typer.Option("--clear", help="remove a section: smtp, zendesk, freshdesk, slack_webhooks, segment_write_keys"),
    ] = None,
) -> None:
    """Change channel settings; what is not named stays as it is. Prints what is configured afterwards."""
    settings = Settings.from_env()
    request = notification_pb2.UpdateChannelSettingsRequest(
        slack_webhooks=_pairs(slack or [], "--slack"),
        segment_write_keys=_pairs(segment_key or [], "--segment-key"),
        clear=clear or [],
    )
    if smtp_host is not None:
        request.smtp.CopyFrom(
            notification_pb2.SmtpSettings(
                host=smtp_host,
                port=smtp_port,
                starttls=smtp_starttls,
                tls=smtp_tls,
                username=smtp_user,
                password=smtp_password,
                default_from=smtp_from,
            )
        )
    if zendesk_url is not None:
        request.zendesk.CopyFrom(
            notification_pb2.ZendeskSettings(base_url=zendesk_url, email=zendesk_email, api_token=zendesk_token)
        )
    if freshdesk_url is not None:
        request.freshdesk.CopyFrom(notification_pb2.FreshdeskSettings(base_url=freshdesk_url, api_key=freshdesk_key))
    if webhook_secret is not None:
        request.webhook_secret = webhook_secret
    if allow is not None:
        request.outbound_allow_list.CopyFrom(notification_pb2.StringList(values=allow))
    if segment_endpoint is not None:
        request.segment_endpoint = segment_endpoint
    summary = call(
        settings.notification_grpc_target,
        lambda channel, md: notification_pb2_grpc.NotificationServiceStub(channel).UpdateChannelSettings(request, metadata=md),
    )
    _print(summary)
