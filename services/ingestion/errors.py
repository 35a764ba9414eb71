"""The ingestion service's domain errors; their base classes carry the gRPC and HTTP statuses."""

from __future__ import annotations

from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Unauthenticated


class InvalidIngestionRequest(InvalidArgument):
    """A request field ingestion cannot accept; the message starts with the field's name."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", field=field)


class InvalidSegmentMessage(InvalidArgument):
    """A body that breaks the Segment Tracking API spec."""

    code = "invalid_message"


class MalformedBody(InvalidArgument):
    code = "invalid_json"


class PayloadTooLarge(InvalidArgument):
    """A body or message over a size limit. Segment answers 400; the trigger URL answers 413."""

    code = "payload_too_large"

    def __init__(self, message: str, *, http_status: int = 400) -> None:
        super().__init__(message)
        self.http_status = http_status


class InvalidWriteKey(Unauthenticated):
    def __init__(self) -> None:
        super().__init__("missing or invalid write key: send it as the HTTP Basic user name or as \"writeKey\" in the body")


class InvalidApiToken(Unauthenticated):
    def __init__(self) -> None:
        super().__init__("missing or invalid API token: send it in X-API-TOKEN or as the HTTP Basic password")


class SourceNotFound(NotFound):
    def __init__(self, source_id: str) -> None:
        super().__init__(f"source {source_id} not found", field="source_id")


class WorkflowNotFound(NotFound):
    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow {workflow_id} not found", field="workflow_id")


class IdTaken(AlreadyExists):
    def __init__(self, kind: str, resource_id: str) -> None:
        super().__init__(f"{kind} id {resource_id} is already in use", field="id")


class WorkflowDisabled(FailedPrecondition):
    code = "workflow_disabled"

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow {workflow_id} is disabled", field="workflow_id")


class InvalidQualtricsRequest(InvalidArgument):
    """A Qualtrics-style REST body that breaks the route's shape; the message starts with the field's name."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", field=field)


class CaptureNotFound(NotFound):
    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow {workflow_id} has no capture: start one first", field="workflow_id")


class SubscriptionNotFound(NotFound):
    def __init__(self, subscription_id: str) -> None:
        super().__init__(f"subscription {subscription_id} not found", field="subscription_id")
