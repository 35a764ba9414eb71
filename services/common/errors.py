"""Domain error classes and the one mapping from them to gRPC and HTTP statuses."""

from __future__ import annotations

import grpc


class CxflowError(Exception):
    """A failure the caller can act on. Subclasses say which kind; services subclass those."""

    grpc_status: grpc.StatusCode = grpc.StatusCode.INTERNAL
    http_status: int = 500
    code: str = "internal"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field  # the request field at fault, when there is one


class InvalidArgument(CxflowError):
    grpc_status = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 400
    code = "invalid_argument"


class Unauthenticated(CxflowError):
    grpc_status = grpc.StatusCode.UNAUTHENTICATED
    http_status = 401
    code = "unauthenticated"


class PermissionDenied(CxflowError):
    grpc_status = grpc.StatusCode.PERMISSION_DENIED
    http_status = 403
    code = "permission_denied"


class NotFound(CxflowError):
    grpc_status = grpc.StatusCode.NOT_FOUND
    http_status = 404
    code = "not_found"


class AlreadyExists(CxflowError):
    grpc_status = grpc.StatusCode.ALREADY_EXISTS
    http_status = 409
    code = "already_exists"


class FailedPrecondition(CxflowError):
    grpc_status = grpc.StatusCode.FAILED_PRECONDITION
    http_status = 409
    code = "failed_precondition"


class ResourceExhausted(CxflowError):
    grpc_status = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 429
    code = "resource_exhausted"


class Unavailable(CxflowError):
    grpc_status = grpc.StatusCode.UNAVAILABLE
    http_status = 503
    code = "unavailable"


# gRPC status of a downstream call -> the HTTP status an HTTP front door answers with.
GRPC_TO_HTTP: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
