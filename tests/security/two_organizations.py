"""The security tests' stack: every service in this process with two organizations, A (with data and channel secrets,
all created through the APIs) and B (only a token), plus the SMTP catcher and a recording HTTP server for providers."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import grpc
import httpx
import pytest
from google.protobuf import json_format, struct_pb2, timestamp_pb2
from recording_http import RecordingHttpServer
from security.secret_log_guard import register_secret
from temporalio.client import Client

from cxflow.demo import DEMO_WORKFLOW_ID, DemoCredentials, ensure_demo
from cxflow.mailcatcher import MailCatcher
from cxflow.v1 import (
    directory_pb2,
    directory_pb2_grpc,
    ingestion_pb2,
    ingestion_pb2_grpc,
    notification_pb2,
    notification_pb2_grpc,
)
from services.common.auth import internal_metadata
from services.common.settings import Settings
from services.directory.server import start_directory
from services.ingestion.server import start_ingestion
from services.notification.server import start_notification

ORG_B = "ORG_security_b"


def struct(value: dict) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    json_format.ParseDict(value, message)
    return message


@dataclass
class OrganizationA:
    """What organization A owns: every id, and the texts and secrets no other organization may ever see."""

    credentials: DemoCredentials
    contact_id: str = ""
    transaction_id: str = ""
    segment_id: str = ""
    subscription_id: str = ""
    run_id: str = ""
    ticket_id: str = ""
    survey_id: str = ""
    distribution_id: str = ""
    private_texts: list[str] = field(default_factory=list)  # contact email, ticket title, survey URL, …
    secrets: list[str] = field(default_factory=list)  # channel credentials, tokens, the write key


@dataclass
class TwoOrganizations:
    settings: Settings
    http: httpx.AsyncClient
    directory_channel: grpc.aio.Channel
    ingestion_channel: grpc.aio.Channel
    notification_channel: grpc.aio.Channel
    a: OrganizationA
    b_token: str
    mail: MailCatcher
    provider: RecordingHttpServer

    def grpc_target(self, service: str) -> grpc.aio.Channel:
        return {
            "directory": self.directory_channel,
            "ingestion": self.ingestion_channel,
            "notification": self.notification_channel,
        }[service]

    @property
    def as_a(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.a.credentials.api_token}"),)

    @property
    def as_b(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.b_token}"),)


def basic(user: str, password: str = "") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
async def two_organizations(settings: Settings, temporal_client: Client, task_queue: str) -> AsyncIterator[TwoOrganizations]:
    mail = MailCatcher(host="127.0.0.1", port=0, mail_dir=settings.data_dir / "mail")
    await mail.start()
    provider = RecordingHttpServer()
    await provider.__aenter__()
    directory = await start_directory(settings, dispatch=False)
    configured = settings.with_overrides(
        directory_grpc_target=f"127.0.0.1:{directory.grpc_port}",
        temporal_task_queue=task_queue,
        smtp_host="127.0.0.1",
        smtp_port=mail.port,
    )
    notification = await start_notification(configured)
    configured = configured.with_overrides(notification_grpc_target=f"127.0.0.1:{notification.grpc_port}")
    ingestion = await start_ingestion(configured, temporal_client)
    configured = configured.with_overrides(ingestion_grpc_target=f"127.0.0.1:{ingestion.grpc_port}")
    try:
        async with (
            grpc.aio.insecure_channel(configured.directory_grpc_target) as directory_channel,
            grpc.aio.insecure_channel(configured.ingestion_grpc_target) as ingestion_channel,
            grpc.aio.insecure_channel(configured.notification_grpc_target) as notification_channel,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{ingestion.http_port}", timeout=30) as http,
        ):
            credentials = await ensure_demo(configured)
            internal = configured.resolved_internal_token()
            organizations = directory_pb2_grpc.OrganizationServiceStub(directory_channel)
            await organizations.CreateOrganization(
                directory_pb2.CreateOrganizationRequest(id=ORG_B, name="Organization B"), metadata=internal_metadata(internal)
            )
            b_token = (
                await organizations.CreateApiToken(
                    directory_pb2.CreateApiTokenRequest(organization_id=ORG_B, name="b"), metadata=internal_metadata(internal)
                )
            ).token
            stack = TwoOrganizations(
                configured,
                http,
                directory_channel,
                ingestion_channel,
                notification_channel,
                OrganizationA(credentials),
                b_token,
                mail,
                provider,
            )
            await _create_data_of_a(stack)
            for secret in (*stack.a.secrets, b_token, internal):
                register_secret(secret)
            yield stack
    finally:
        await ingestion.stop()
        await notification.stop()
        await directory.stop()
        await provider.__aexit__(None, None, None)
        await mail.stop()


async def _create_data_of_a(stack: TwoOrganizations) -> None:
    """A's objects, created with A's own token through gRPC and HTTP, as a user of organization A would."""
    a, md = stack.a, stack.as_a
    pool, mailing_list = a.credentials.directory_id, a.credentials.mailing_list_id
    directory = directory_pb2_grpc.DirectoryServiceStub(stack.directory_channel)
    notification = notification_pb2_grpc.NotificationServiceStub(stack.notification_channel)
    ingestion = ingestion_pb2_grpc.IngestionServiceStub(stack.ingestion_channel)

    a.private_texts += [
        "ada.private@a.example.com",
        "A-only ticket about invoices",
        "https://survey.a.example.com/nps",
        "A-only segment of VIPs",
    ]
    contact = await directory.UpsertContact(
        directory_pb2.UpsertContactRequest(
            directory_id=pool, contact=directory_pb2.ContactInput(email=a.private_texts[0], first_name="Ada", ext_ref="u-a")
        ),
        metadata=md,
    )
    a.contact_id = contact.contact_id
    when = timestamp_pb2.Timestamp()
    when.FromDatetime(datetime(2026, 1, 2, tzinfo=UTC))
    created = await directory.CreateTransactions(
        directory_pb2.CreateTransactionsRequest(
            directory_id=pool,
            transactions={
                "t1": directory_pb2.TransactionInput(
                    contact_id=a.contact_id, mailing_list_id=mailing_list, transaction_date=when, data=struct({"amount": 120})
                )
            },
        ),
        metadata=md,
    )
    a.transaction_id = created.created["t1"]
    segment = await directory.CreateSegment(
        directory_pb2.CreateSegmentRequest(
            directory_id=pool, name=a.private_texts[3], rule=struct({"field": "email", "op": "exists"})
        ),
        metadata=md,
    )
    a.segment_id = segment.id
    subscriptions = await ingestion.ListSubscriptions(
        ingestion_pb2.ListSubscriptionsRequest(source_id=a.credentials.source_id), metadata=md
    )
    a.subscription_id = subscriptions.subscriptions[0].id

    ticket = await notification.CreateTicket(
        notification_pb2.CreateTicketRequest(idempotency_key="shared-key/0", title=a.private_texts[1], contact_id=a.contact_id),
        metadata=md,
    )
    a.ticket_id = ticket.ticket.id
    survey = await notification.CreateSurvey(
        notification_pb2.CreateSurveyRequest(name="A NPS", url_template=a.private_texts[2] + "?c={{ contact_id }}"), metadata=md
    )
    a.survey_id = survey.id
    distribution = await notification.DistributeSurvey(
        notification_pb2.DistributeSurveyRequest(
            idempotency_key="shared-key/1", survey_id=a.survey_id, contact_id=a.contact_id, email=a.private_texts[0]
        ),
        metadata=md,
    )
    a.distribution_id = distribution.distribution.id

    # Channel credentials: every kind of secret an organization hands cxflow.
    secrets = {
        "smtp": "smtp-pass-A-7f3k9q",
        "zendesk": "zd-token-A-88ad0c",
        "freshdesk": "fd-key-A-1b2c3d",
        "webhook": "whsec-A-5e6f7a8b",
        "slack": f"{stack.provider.url}/services/T000/B000/slackSecretA9x",
        "segment": "segment-write-key-A-42",
    }
    await notification.UpdateChannelSettings(
        notification_pb2.UpdateChannelSettingsRequest(
            smtp=notification_pb2.SmtpSettings(
                host="127.0.0.1", port=stack.mail.port, username="a-user", password=secrets["smtp"]
            ),
            zendesk=notification_pb2.ZendeskSettings(
                base_url=stack.provider.url, email="agent@a.example.com", api_token=secrets["zendesk"]
            ),
            freshdesk=notification_pb2.FreshdeskSettings(base_url=stack.provider.url, api_key=secrets["freshdesk"]),
            webhook_secret=secrets["webhook"],
            slack_webhooks={"alerts": secrets["slack"]},
            segment_write_keys={"main": secrets["segment"]},
            outbound_allow_list=notification_pb2.StringList(values=["127.0.0.1"]),
        ),
        metadata=md,
    )
    a.secrets += [*secrets.values(), a.credentials.api_token, a.credentials.write_key]

    token = {"X-API-TOKEN": a.credentials.api_token}
    capture = await stack.http.post(f"/triggers/{DEMO_WORKFLOW_ID}/capture", json={"count": 5}, headers=token)
    assert capture.status_code == 201, capture.text
    triggered = await stack.http.post(
        f"/triggers/{DEMO_WORKFLOW_ID}", json={"userId": "u-a", "messageId": "a-event-1"}, headers=token
    )
    assert triggered.status_code == 202, triggered.text
    a.run_id = triggered.json()["runs"][0]["workflowId"]
