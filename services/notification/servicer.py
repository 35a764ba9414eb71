"""NotificationService over gRPC: maps protobuf requests to the delivery domain and results back."""

from __future__ import annotations

import grpc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxflow.v1 import notification_pb2, notification_pb2_grpc
from services.common.auth import current_organization
from services.notification.deliveries import EmailDeliveries
from services.notification.email_channel import EmailRequest


class NotificationServicer(notification_pb2_grpc.NotificationServiceServicer):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], emails: EmailDeliveries) -> None:
        self._sessions = sessions
        self._emails = emails

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
        # One session per call; the delivery commits inside it at the points idempotency needs.
        async with self._sessions() as session:
            sent = await self._emails.send(session, organization_id, email)
        return notification_pb2.SendEmailResponse(message_id=sent.message_id, duplicate=sent.duplicate)
