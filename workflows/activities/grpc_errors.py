"""Turns a failed gRPC call into the ApplicationError that tells Temporal whether retrying can help."""

from __future__ import annotations

import grpc
from temporalio.exceptions import ApplicationError

# Statuses that mean "this request is wrong or not allowed": the same call would fail again.
NON_RETRYABLE_STATUSES: frozenset[grpc.StatusCode] = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.ALREADY_EXISTS,
    }
)

# The ApplicationError types a RetryPolicy lists in non_retryable_error_types.
NON_RETRYABLE_ERROR_TYPES: tuple[str, ...] = tuple(sorted(status.name for status in NON_RETRYABLE_STATUSES))


def application_error_from_rpc(error: grpc.aio.AioRpcError, *, call: str) -> ApplicationError:
    """The ApplicationError to raise for a failed call: type is the status name (e.g. "UNAVAILABLE"),
    non-retryable for statuses that a retry cannot fix, retryable for the rest (UNAVAILABLE,
    RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, INTERNAL, ...)."""
    status = error.code()
    details = error.details()
    return ApplicationError(
        f"{call} failed: {status.name}: {details}" if details else f"{call} failed: {status.name}",
        type=status.name,
        non_retryable=status in NON_RETRYABLE_STATUSES,
    )
