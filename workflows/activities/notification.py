"""The SendEmail activity: hands an email to the notification service over gRPC, with an idempotency key."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
import structlog
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
