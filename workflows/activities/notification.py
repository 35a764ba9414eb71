"""Activities that send through the notification service over gRPC (email, Slack, tickets, surveys, webhooks,
Segment calls), each with the run's idempotency key so a retried or replayed call sends once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
import structlog
from google.protobuf import struct_pb2
from temporalio import activity

from cxflow.v1 import notification_pb2, notification_pb2_grpc
from services.common.auth import internal_metadata
from workflows.activities.grpc_errors import application_error_from_rpc

log = structlog.get_logger(__name__)

_CALL_TIMEOUT_SECONDS = 25.0  # below the workflow's 30 s start-to-close, so the activity reports the real error


@dataclass(frozen=True)
class SendEmailInput:
    organization_id: str
    idempotency_key: str  # "{run's workflow id}/{task index}": the notification service sends once per key
    from_address: str = ""  # empty: the organization's default sender
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    subject: str = ""
    text_body: str = ""
    html_body: str = ""


@dataclass(frozen=True)
class SendEmailOutput:
    message_id: str
    duplicate: bool = False  # the key had been sent before; nothing went out this time


@dataclass(frozen=True)
class SendSlackInput:
    organization_id: str
    idempotency_key: str
    webhook_name: str  # a name in the organization's channel settings (the URL itself is a secret kept there)
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class SendSlackOutput:
    status_code: int
    duplicate: bool = False


@dataclass(frozen=True)
class CreateTicketInput:
    organization_id: str
    idempotency_key: str
    provider: str = "own"  # own | zendesk | freshdesk
    title: str = ""
    description: str = ""
    priority: str = "normal"  # low | normal | high | urgent
    owner: str = ""
    contact_id: str = ""
    requester_name: str = ""
    requester_email: str = ""
    tags: list[str] = field(default_factory=list)
    custom_fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CreateTicketOutput:
    ticket_id: str
    external_id: str = ""
    external_url: str = ""
    duplicate: bool = False


@dataclass(frozen=True)
class DistributeSurveyInput:
    organization_id: str
    idempotency_key: str
    survey_id: str
    contact_id: str
    email: str
    run_id: str
    first_name: str = ""
    last_name: str = ""
    from_address: str = ""
    # The invitation's own templates over {{ link }}, {{ first_name }}, ... (rendered by the notification service).
    subject: str = ""
    text_template: str = ""
    html_template: str = ""
    expires_in_seconds: int = 0


@dataclass(frozen=True)
class DistributeSurveyOutput:
    distribution_id: str
    link: str
    message_id: str = ""
    duplicate: bool = False


@dataclass(frozen=True)
class SendWebhookInput:
    organization_id: str
    idempotency_key: str
    url: str
    body: dict[str, Any] = field(default_factory=dict)
    timeout_seconds: int = 0


@dataclass(frozen=True)
class SendWebhookOutput:
    status_code: int
    response_body: str = ""
    duplicate: bool = False


@dataclass(frozen=True)
class SendSegmentEventInput:
    organization_id: str
    idempotency_key: str
    write_key_name: str
    call: str  # identify | track
    user_id: str
    event: str = ""
    properties: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendSegmentEventOutput:
    message_id: str
    status_code: int = 0
    duplicate: bool = False


_PROVIDERS = {
    "own": notification_pb2.TICKET_PROVIDER_OWN,
    "zendesk": notification_pb2.TICKET_PROVIDER_ZENDESK,
    "freshdesk": notification_pb2.TICKET_PROVIDER_FRESHDESK,
}
_PRIORITIES = {
    "low": notification_pb2.TICKET_PRIORITY_LOW,
    "normal": notification_pb2.TICKET_PRIORITY_NORMAL,
    "high": notification_pb2.TICKET_PRIORITY_HIGH,
    "urgent": notification_pb2.TICKET_PRIORITY_URGENT,
}
_SEGMENT_CALLS = {"identify": notification_pb2.SEGMENT_CALL_TYPE_IDENTIFY, "track": notification_pb2.SEGMENT_CALL_TYPE_TRACK}


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


class NotificationActivities:
    """Activities that send through the notification service; the stub and internal token are injected."""

    def __init__(self, stub: notification_pb2_grpc.NotificationServiceStub, internal_token: str) -> None:
        self._stub = stub
        self._internal_token = internal_token

    @activity.defn(name="SendEmail")
    async def send_email(self, input: SendEmailInput) -> SendEmailOutput:
        request = notification_pb2.SendEmailRequest(
            idempotency_key=input.idempotency_key,
            from_address=input.from_address,
            to=input.to,
            cc=input.cc,
            subject=input.subject,
            text_body=input.text_body,
            html_body=input.html_body,
        )
        try:
            reply = await self._stub.SendEmail(
                request,
                metadata=internal_metadata(self._internal_token, input.organization_id),
                timeout=_CALL_TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as exc:
            raise application_error_from_rpc(exc, call="SendEmail") from None
        log.info(
            "email.sent",
            org=input.organization_id,
            idempotency_key=input.idempotency_key,
            recipients=len(input.to) + len(input.cc),
            duplicate=reply.duplicate,
        )
        return SendEmailOutput(message_id=reply.message_id, duplicate=reply.duplicate)

    async def _call(self, name: str, request: Any, organization_id: str, timeout: float = _CALL_TIMEOUT_SECONDS) -> Any:
        try:
            return await getattr(self._stub, name)(
                request, metadata=internal_metadata(self._internal_token, organization_id), timeout=timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise application_error_from_rpc(exc, call=name) from None

    @activity.defn(name="SendSlack")
    async def send_slack(self, input: SendSlackInput) -> SendSlackOutput:
        request = notification_pb2.SendSlackRequest(
            idempotency_key=input.idempotency_key,
            webhook_name=input.webhook_name,
            text=input.text,
            blocks=[_struct(block) for block in input.blocks],
        )
        reply = await self._call("SendSlack", request, input.organization_id)
        log.info("slack.sent", org=input.organization_id, idempotency_key=input.idempotency_key, duplicate=reply.duplicate)
        return SendSlackOutput(status_code=reply.status_code, duplicate=reply.duplicate)

    @activity.defn(name="CreateTicket")
    async def create_ticket(self, input: CreateTicketInput) -> CreateTicketOutput:
        request = notification_pb2.CreateTicketRequest(
            idempotency_key=input.idempotency_key,
            provider=_PROVIDERS.get(input.provider, notification_pb2.TICKET_PROVIDER_OWN),
            title=input.title,
            description=input.description,
            priority=_PRIORITIES.get(input.priority, notification_pb2.TICKET_PRIORITY_NORMAL),
            owner=input.owner,
            contact_id=input.contact_id,
            requester_name=input.requester_name,
            requester_email=input.requester_email,
            tags=input.tags,
            custom_fields=_struct(input.custom_fields),
        )
        reply = await self._call("CreateTicket", request, input.organization_id)
        log.info("ticket.created", org=input.organization_id, idempotency_key=input.idempotency_key, ticket_id=reply.ticket.id)
        return CreateTicketOutput(
            ticket_id=reply.ticket.id,
            external_id=reply.ticket.external_id,
            external_url=reply.ticket.external_url,
            duplicate=reply.duplicate,
        )

    @activity.defn(name="DistributeSurvey")
    async def distribute_survey(self, input: DistributeSurveyInput) -> DistributeSurveyOutput:
        request = notification_pb2.DistributeSurveyRequest(
            idempotency_key=input.idempotency_key,
            survey_id=input.survey_id,
            contact_id=input.contact_id,
            email=input.email,
            first_name=input.first_name,
            last_name=input.last_name,
            run_id=input.run_id,
            from_address=input.from_address,
            subject=input.subject,
            text_template=input.text_template,
            html_template=input.html_template,
            expires_in_seconds=input.expires_in_seconds,
        )
        reply = await self._call("DistributeSurvey", request, input.organization_id)
        log.info("survey.distributed", org=input.organization_id, idempotency_key=input.idempotency_key)
        return DistributeSurveyOutput(
            distribution_id=reply.distribution.id,
            link=reply.distribution.link,
            message_id=reply.message_id,
            duplicate=reply.duplicate,
        )

    @activity.defn(name="SendWebhook")
    async def send_webhook(self, input: SendWebhookInput) -> SendWebhookOutput:
        request = notification_pb2.SendWebhookRequest(
            idempotency_key=input.idempotency_key,
            url=input.url,
            body=_struct(input.body),
            timeout_seconds=input.timeout_seconds,
        )
        # The receiver may take up to timeout_seconds (at most 60); the call waits a little longer.
        timeout = float(input.timeout_seconds or 10) + 5.0
        reply = await self._call("SendWebhook", request, input.organization_id, timeout=timeout)
        log.info("webhook.sent", org=input.organization_id, idempotency_key=input.idempotency_key, status=reply.status_code)
        return SendWebhookOutput(status_code=reply.status_code, response_body=reply.response_body, duplicate=reply.duplicate)

    @activity.defn(name="SendSegmentEvent")
    async def send_segment_event(self, input: SendSegmentEventInput) -> SendSegmentEventOutput:
        request = notification_pb2.SendSegmentEventRequest(
            idempotency_key=input.idempotency_key,
            write_key_name=input.write_key_name,
            type=_SEGMENT_CALLS.get(input.call, notification_pb2.SEGMENT_CALL_TYPE_TRACK),
            user_id=input.user_id,
            event=input.event,
            traits=_struct(input.traits),
            properties=_struct(input.properties),
        )
        reply = await self._call("SendSegmentEvent", request, input.organization_id)
        log.info("segment_event.sent", org=input.organization_id, idempotency_key=input.idempotency_key)
        return SendSegmentEventOutput(message_id=reply.message_id, status_code=reply.status_code, duplicate=reply.duplicate)
