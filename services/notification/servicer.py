"""NotificationService over gRPC: maps protobuf requests to the channel, ticket and survey domains and results back."""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc
from google.protobuf import json_format, struct_pb2, timestamp_pb2
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxflow.v1 import common_pb2, notification_pb2, notification_pb2_grpc
from services.common.auth import current_organization
from services.common.errors import InvalidArgument
from services.notification.channel_settings import ChannelSettingsChange, ChannelSettingsRepository, summarize
from services.notification.deliveries import Deliveries, EmailDeliveries, EmailSent
from services.notification.email_channel import EmailRequest
from services.notification.models import Survey, SurveyDistribution, Ticket
from services.notification.outbound import OutboundHttp, ProviderRateLimited
from services.notification.segment_channel import SegmentCall, send_segment
from services.notification.segment_channel import validate as validate_segment
from services.notification.slack_channel import SlackMessage, send_slack
from services.notification.slack_channel import validate as validate_slack
from services.notification.surveys import SurveyInvitation, Surveys
from services.notification.tickets import NewTicket, TicketChange, Tickets
from services.notification.webhook_channel import WebhookCall, send_webhook
from services.notification.webhook_channel import validate as validate_webhook

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

PROVIDERS = {
    notification_pb2.TICKET_PROVIDER_UNSPECIFIED: "own",
    notification_pb2.TICKET_PROVIDER_OWN: "own",
    notification_pb2.TICKET_PROVIDER_ZENDESK: "zendesk",
    notification_pb2.TICKET_PROVIDER_FRESHDESK: "freshdesk",
}
PROVIDER_ENUMS = {"own": notification_pb2.TICKET_PROVIDER_OWN, "zendesk": notification_pb2.TICKET_PROVIDER_ZENDESK,
                  "freshdesk": notification_pb2.TICKET_PROVIDER_FRESHDESK}
PRIORITIES = {
    notification_pb2.TICKET_PRIORITY_LOW: "low",
    notification_pb2.TICKET_PRIORITY_NORMAL: "normal",
    notification_pb2.TICKET_PRIORITY_HIGH: "high",
    notification_pb2.TICKET_PRIORITY_URGENT: "urgent",
}
STATUSES = {
    notification_pb2.TICKET_STATUS_OPEN: "open",
    notification_pb2.TICKET_STATUS_IN_PROGRESS: "in_progress",
    notification_pb2.TICKET_STATUS_ON_HOLD: "on_hold",
    notification_pb2.TICKET_STATUS_CLOSED: "closed",
}
PRIORITY_ENUMS = {v: k for k, v in PRIORITIES.items()}
STATUS_ENUMS = {v: k for k, v in STATUSES.items()}
SEGMENT_TYPES = {notification_pb2.SEGMENT_CALL_TYPE_IDENTIFY: "identify", notification_pb2.SEGMENT_CALL_TYPE_TRACK: "track"}


def _enum(mapping: dict[int, str], value: int, field: str, *, unspecified: str = "") -> str:
    if value == 0:
        return unspecified
    try:
        return mapping[value]
    except KeyError:
        raise InvalidArgument(f"{field}: unknown value {value}", field=field) from None


def _integral(value: Any) -> Any:
    """Struct numbers are doubles; JSON has one number type, so 9.0 goes out as 9 (as the caller wrote it)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral(item) for item in value]
    return value


def _struct(value: struct_pb2.Struct, field: str) -> dict[str, Any]:
    """A Struct as JSON data; NaN and Infinity (no JSON for them) are the caller's error, named by field."""
    try:
        return _integral(json_format.MessageToDict(value))
    except ValueError as exc:
        raise InvalidArgument(f"{field}: {exc} (NaN and Infinity are not JSON numbers)", field=field) from None


def _to_struct(value: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value or {})
    return struct


def _timestamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return ts


def _page(page: common_pb2.PageRequest) -> tuple[int, int]:
    """(offset, limit) of a page request; page tokens are opaque offsets."""
    if page.page_size < 0 or page.page_size > MAX_PAGE_SIZE:
        raise InvalidArgument(f"page_size must be 0 to {MAX_PAGE_SIZE}", field="page.page_size")
    offset = 0
    if page.page_token:
        try:
            offset = int(base64.urlsafe_b64decode(page.page_token.encode()).decode())
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise InvalidArgument("page_token is not one this service issued", field="page.page_token") from None
        if offset < 0:
            raise InvalidArgument("page_token is not one this service issued", field="page.page_token")
    return offset, page.page_size or DEFAULT_PAGE_SIZE


def _next_token(offset: int, limit: int, more: bool) -> str:
    return base64.urlsafe_b64encode(str(offset + limit).encode()).decode() if more else ""


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # a caller that left cannot see it; the delivery record and the logs keep it


async def finish_even_if_caller_leaves(call: Awaitable[T]) -> T:
    """Runs a send to its end even when the caller hangs up (a worker killed mid-call cancels the RPC).

    Cancelling between the provider call and the "sent" record would leave a send that happened
    unrecorded, and the retry would send it again. Run to the end, the record is written, and the
    retry (which waits for the key's lock) answers duplicate = true instead.
    """
    task = asyncio.ensure_future(call)  # copies the context: the caller's organization and log bindings
    task.add_done_callback(_retrieve)
    return await asyncio.shield(task)


def ticket_message(ticket: Ticket, *, with_comments: bool = True) -> notification_pb2.Ticket:
    message = notification_pb2.Ticket(
        id=ticket.id,
        provider=PROVIDER_ENUMS[ticket.provider],
        external_id=ticket.external_id,
        external_url=ticket.external_url,
        title=ticket.title,
        description=ticket.description,
        priority=PRIORITY_ENUMS[ticket.priority],
        status=STATUS_ENUMS[ticket.status],
        owner=ticket.owner,
        contact_id=ticket.contact_id,
        requester_name=ticket.requester_name,
        requester_email=ticket.requester_email,
        tags=list(ticket.tags or []),
        custom_fields=_to_struct(ticket.custom_fields),
        created_at=_timestamp(ticket.created_at),
        updated_at=_timestamp(ticket.updated_at),
    )
    if with_comments:
        for comment in ticket.comments:
            message.comments.add(id=comment.id, author=comment.author, body=comment.body, created_at=_timestamp(comment.created_at))
    return message


def survey_message(survey: Survey) -> notification_pb2.Survey:
    return notification_pb2.Survey(
        id=survey.id,
        name=survey.name,
        url_template=survey.url_template,
        created_at=_timestamp(survey.created_at),
        updated_at=_timestamp(survey.updated_at),
    )


class NotificationServicer(notification_pb2_grpc.NotificationServiceServicer):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        emails: EmailDeliveries,
        *,
        deliveries: Deliveries,
        http: OutboundHttp,
        tickets: Tickets,
        surveys: Surveys,
    ) -> None:
        self._sessions = sessions
        self._emails = emails
        self._deliveries = deliveries
        self._http = http
        self._tickets = tickets
        self._surveys = surveys

    @staticmethod
    async def _telling_retry_after(context: grpc.aio.ServicerContext, call: Awaitable[T]) -> T:
        """Runs a send; a provider's 429 puts its Retry-After into the trailing metadata ("retry-after")."""
        try:
            return await call
        except ProviderRateLimited as exc:
            if exc.retry_after_seconds is not None:
                context.set_trailing_metadata((("retry-after", str(exc.retry_after_seconds)),))
            raise

    # -- email ---------------------------------------------------------------------------------

    async def SendEmail(
        self, request: notification_pb2.SendEmailRequest, context: grpc.aio.ServicerContext
    ) -> notification_pb2.SendEmailResponse:
        organization_id = current_organization()
        email = EmailRequest(
            idempotency_key=request.idempotency_key,
            from_address=request.from_address,
            to=tuple(request.to),
            cc=tuple(request.cc),
            subject=request.subject,
            text_body=request.text_body,
            html_body=request.html_body,
        )

        async def send() -> EmailSent:
            # One session per call; the delivery commits inside it at the points idempotency needs.
            async with self._sessions() as session:
                return await self._emails.send(session, organization_id, email)

        sent = await finish_even_if_caller_leaves(send())
        return notification_pb2.SendEmailResponse(message_id=sent.message_id, duplicate=sent.duplicate)

    # -- HTTP channels -------------------------------------------------------------------------

    async def _deliver_http(self, organization_id: str, key: str, channel: str, fingerprint: str, send: Any) -> Any:
        async def deliver() -> Any:
            async with self._sessions() as session:

                async def send_once() -> dict[str, Any]:
                    channels = await ChannelSettingsRepository(session).channels(organization_id)
                    return await send(channels)

                return await self._deliveries.deliver(session, organization_id, key, channel, fingerprint, send_once)

        return await finish_even_if_caller_leaves(deliver())

    async def SendSlack(
        self, request: notification_pb2.SendSlackRequest, context: grpc.aio.ServicerContext
    ) -> notification_pb2.SendSlackResponse:
        organization_id = current_organization()
        message = SlackMessage(
            idempotency_key=request.idempotency_key,
            webhook_name=request.webhook_name,
            text=request.text,
            blocks=tuple(_struct(block, f"blocks[{index}]") for index, block in enumerate(request.blocks)),
        )
        validate_slack(message)
        outcome = await self._telling_retry_after(
            context,
            self._deliver_http(
                organization_id, message.idempotency_key, "slack", message.fingerprint(),
                lambda channels: send_slack(self._http, channels, message),
            ),
        )
        return notification_pb2.SendSlackResponse(
            duplicate=outcome.duplicate,
            status_code=outcome.result["status_code"],
            response_body=outcome.result["response_body"],
        )

    async def SendWebhook(
        self, request: notification_pb2.SendWebhookRequest, context: grpc.aio.ServicerContext
    ) -> notification_pb2.SendWebhookResponse:
        organization_id = current_organization()
        call = WebhookCall(
            idempotency_key=request.idempotency_key,
            url=request.url,
            body=_struct(request.body, "body"),
            timeout_seconds=request.timeout_seconds,
        )
        validate_webhook(call)
        outcome = await self._telling_retry_after(
            context,
            self._deliver_http(
                organization_id, call.idempotency_key, "webhook", call.fingerprint(),
                lambda channels: send_webhook(self._http, channels, call),
            ),
        )
        return notification_pb2.SendWebhookResponse(
            duplicate=outcome.duplicate,
            status_code=outcome.result["status_code"],
            response_body=outcome.result["response_body"],
        )

    async def SendSegmentEvent(
        self, request: notification_pb2.SendSegmentEventRequest, context: grpc.aio.ServicerContext
    ) -> notification_pb2.SendSegmentEventResponse:
        organization_id = current_organization()
        call = SegmentCall(
            idempotency_key=request.idempotency_key,
            write_key_name=request.write_key_name,
            type=_enum(SEGMENT_TYPES, request.type, "type"),
            user_id=request.user_id,
            anonymous_id=request.anonymous_id,
            event=request.event,
            traits=_struct(request.traits, "traits"),
            properties=_struct(request.properties, "properties"),
        )
        validate_segment(call)
        outcome = await self._telling_retry_after(
            context,
            self._deliver_http(
                organization_id, call.idempotency_key, "segment", call.fingerprint(),
                lambda channels: send_segment(self._http, channels, organization_id, call),
            ),
        )
        return notification_pb2.SendSegmentEventResponse(
            duplicate=outcome.duplicate,
            status_code=outcome.result["status_code"],
            message_id=outcome.result["message_id"],
        )

    # -- tickets -------------------------------------------------------------------------------

    async def CreateTicket(
        self, request: notification_pb2.CreateTicketRequest, context: grpc.aio.ServicerContext
    ) -> notification_pb2.CreateTicketResponse:
        organization_id = current_organization()
        new = NewTicket(
            idempotency_key=request.idempotency_key,
            provider=_enum(PROVIDERS, request.provider, "provider", unspecified="own"),
            title=request.title,
            description=request.description,
            priority=_enum(PRIORITIES, request.priority, "priority"),
            status=_enum(STATUSES, request.status, "status"),
            owner=request.owner,
            contact_id=request.contact_id,
            requester_name=request.requester_name,
            requester_email=request.requester_email,
            tags=tuple(request.tags),
            custom_fields=_struct(request.custom_fields, "custom_fields"),
        )

        async def create() -> notification_pb2.CreateTicketResponse:
            async with self._sessions() as session:
                created = await self._tickets.create(session, organization_id, new)
                return notification_pb2.CreateTicketResponse(ticket=ticket_message(created.ticket), duplicate=created.duplicate)

        return await self._telling_retry_after(context, finish_even_if_caller_leaves(create()))

    async def GetTicket(self, request: notification_pb2.GetTicketRequest, context: grpc.aio.ServicerContext) -> notification_pb2.Ticket:
        organization_id = current_organization()
        async with self._sessions() as session:
            return ticket_message(await self._tickets.get(session, organization_id, request.ticket_id))

    async def ListTickets(
        self, request: notification_pb2.ListTicketsRequest, context: grpc.aio.ServicerContext
    ) -> notification_pb2.ListTicketsResponse:
        organization_id = current_organization()
        offset, limit = _page(request.page)
        async with self._sessions() as session:
            tickets, more = await self._tickets.list(
                session,
                organization_id,
                status=_enum(STATUSES, request.status, "status"),
                owner=request.owner,
                contact_id=request.contact_id,
                offset=offset,
                limit=limit,
            )
            return notification_pb2.ListTicketsResponse(
                tickets=[ticket_message(t, with_comments=False) for t in tickets],
                next_page_token=_next_token(offset, limit, more),
            )

    async def UpdateTicket(
        self, request: notification_pb2.UpdateTicketRequest, context: grpc.aio.ServicerContext
    ) -> notification_pb2.Ticket:
        organization_id = current_organization()
        change = TicketChange(
            title=request.title if request.HasField("title") else None,
            description=request.description if request.HasField("description") else None,
            priority=_enum(PRIORITIES, request.priority, "priority") or None if request.HasField("priority") else None,
            status=_enum(STATUSES, request.status, "status") or None if request.HasField("status") else None,
            owner=request.owner if request.HasField("owner") else None,
            tags=tuple(request.tags.values) if request.HasField("tags") else None,
            custom_fields=_struct(request.custom_fields, "custom_fields") if request.HasField("custom_fields") else None,
        )
        async with self._sessions() as session:
            return ticket_message(await self._tickets.update(session, organization_id, request.ticket_id, change))

    async def AddTicketComment(
        self, request: notification_pb2.AddTicketCommentRequest, context: grpc.aio.ServicerContext
    ) -> notification_pb2.Ticket:
        organization_id = current_organization()

        async def comment() -> notification_pb2.Ticket:
            async with self._sessions() as session:
                ticket = await self._tickets.comment(
                    session, organization_id, request.ticket_id, request.body, request.author, request.idempotency_key
                )
                return ticket_message(ticket)

        return await finish_even_if_caller_leaves(comment())

    # -- surveys -------------------------------------------------------------------------------

    def _distribution_message(self, distribution: SurveyDistribution) -> notification_pb2.SurveyDistribution:
        return notification_pb2.SurveyDistribution(
            id=distribution.id,
            survey_id=distribution.survey_id,
            contact_id=distribution.contact_id,
            run_id=distribution.run_id,
            email=distribution.email,
            link=self._surveys.link(distribution.token),
            sent_at=_timestamp(distribution.sent_at),
            opened_at=_timestamp(distribution.opened_at),
            expires_at=_timestamp(distribution.expires_at),
        )

    async def CreateSurvey(self, request: notification_pb2.CreateSurveyRequest, context: grpc.aio.ServicerContext) -> notification_pb2.Survey:
        organization_id = current_organization()
        async with self._sessions() as session:
            return survey_message(await self._surveys.create(session, organization_id, request.name, request.url_template))

    async def GetSurvey(self, request: notification_pb2.GetSurveyRequest, context: grpc.aio.ServicerContext) -> notification_pb2.Survey:
        organization_id = current_organization()
        async with self._sessions() as session:
            return survey_message(await self._surveys.get(session, organization_id, request.survey_id))

    async def ListSurveys(
        self, request: notification_pb2.ListSurveysRequest, context: grpc.aio.ServicerContext
    ) -> notification_pb2.ListSurveysResponse:
        organization_id = current_organization()
        offset, limit = _page(request.page)
        async with self._sessions() as session:
            surveys, more = await self._surveys.list(session, organization_id, offset, limit)
            return notification_pb2.ListSurveysResponse(
                surveys=[survey_message(s) for s in surveys], next_page_token=_next_token(offset, limit, more)
            )

    async def UpdateSurvey(self, request: notification_pb2.UpdateSurveyRequest, context: grpc.aio.ServicerContext) -> notification_pb2.Survey:
        organization_id = current_organization()
        async with self._sessions() as session:
            survey = await self._surveys.update(
                session,
                organization_id,
                request.survey_id,
                request.name if request.HasField("name") else None,
                request.url_template if request.HasField("url_template") else None,
            )
            return survey_message(survey)

    async def DeleteSurvey(
        self, request: notification_pb2.DeleteSurveyRequest, context: grpc.aio.ServicerContext
    ) -> notification_pb2.DeleteSurveyResponse:
        organization_id = current_organization()
        async with self._sessions() as session:
            await self._surveys.delete(session, organization_id, request.survey_id)
        return notification_pb2.DeleteSurveyResponse()

    async def DistributeSurvey(
        self, request: notification_pb2.DistributeSurveyRequest, context: grpc.aio.ServicerContext
    ) -> notification_pb2.DistributeSurveyResponse:
        organization_id = current_organization()
        invitation = SurveyInvitation(
            idempotency_key=request.idempotency_key,
            survey_id=request.survey_id,
            contact_id=request.contact_id,
            email=request.email,
            first_name=request.first_name,
            last_name=request.last_name,
            run_id=request.run_id,
            from_address=request.from_address,
            subject=request.subject,
            text_template=request.text_template,
            html_template=request.html_template,
            expires_in_seconds=request.expires_in_seconds,
        )

        async def distribute() -> notification_pb2.DistributeSurveyResponse:
            async with self._sessions() as session:
                distributed = await self._surveys.distribute(session, organization_id, invitation)
                return notification_pb2.DistributeSurveyResponse(
                    distribution=self._distribution_message(distributed.distribution),
                    message_id=distributed.message_id,
                    duplicate=distributed.duplicate,
                )

        return await finish_even_if_caller_leaves(distribute())

    async def ListSurveyDistributions(
        self, request: notification_pb2.ListSurveyDistributionsRequest, context: grpc.aio.ServicerContext
    ) -> notification_pb2.ListSurveyDistributionsResponse:
        organization_id = current_organization()
        offset, limit = _page(request.page)
        async with self._sessions() as session:
            rows, more = await self._surveys.list_distributions(
                session, organization_id, request.survey_id, request.contact_id, offset, limit
            )
            return notification_pb2.ListSurveyDistributionsResponse(
                distributions=[self._distribution_message(d) for d in rows],
                next_page_token=_next_token(offset, limit, more),
            )

    # -- channel settings ----------------------------------------------------------------------

    async def UpdateChannelSettings(
        self, request: notification_pb2.UpdateChannelSettingsRequest, context: grpc.aio.ServicerContext
    ) -> notification_pb2.ChannelSettingsSummary:
        organization_id = current_organization()
        smtp = request.smtp
        change = ChannelSettingsChange(
            smtp={
                "host": smtp.host, "port": smtp.port, "starttls": smtp.starttls, "tls": smtp.tls,
                "username": smtp.username, "password": smtp.password, "default_from": smtp.default_from,
            }
            if request.HasField("smtp")
            else None,
            slack_webhooks=dict(request.slack_webhooks),
            zendesk={"base_url": request.zendesk.base_url, "email": request.zendesk.email, "api_token": request.zendesk.api_token}
            if request.HasField("zendesk")
            else None,
            freshdesk={"base_url": request.freshdesk.base_url, "api_key": request.freshdesk.api_key}
            if request.HasField("freshdesk")
            else None,
            webhook_secret=request.webhook_secret if request.HasField("webhook_secret") else None,
            outbound_allow_list=list(request.outbound_allow_list.values) if request.HasField("outbound_allow_list") else None,
            segment_write_keys=dict(request.segment_write_keys),
            segment_endpoint=request.segment_endpoint if request.HasField("segment_endpoint") else None,
            clear=tuple(request.clear),
        )
        async with self._sessions() as session:
            document = await ChannelSettingsRepository(session).change(organization_id, change)
            await session.commit()
        return self._summary_message(document)

    async def GetChannelSettings(
        self, request: notification_pb2.GetChannelSettingsRequest, context: grpc.aio.ServicerContext
    ) -> notification_pb2.ChannelSettingsSummary:
        organization_id = current_organization()
        async with self._sessions() as session:
            document = await ChannelSettingsRepository(session).document(organization_id)
        return self._summary_message(document)

    @staticmethod
    def _summary_message(document: dict[str, Any]) -> notification_pb2.ChannelSettingsSummary:
        summary = summarize(document)
        return notification_pb2.ChannelSettingsSummary(**summary.__dict__)
