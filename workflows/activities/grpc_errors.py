"""Turns a failed gRPC call into the ApplicationError that tells Temporal whether retrying can help."""

from __future__ import annotations

from datetime import timedelta

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

# The trailing metadata key a service sets to the seconds a provider asked to wait (its 429 Retry-After).
RETRY_AFTER_METADATA = "retry-after"
# A provider's wait is honoured up to this long (the longest task retry window); beyond it the task would fail anyway.
MAX_RETRY_AFTER = timedelta(hours=24)

# The ApplicationError types a RetryPolicy lists in non_retryable_error_types.
NON_RETRYABLE_ERROR_TYPES: tuple[str, ...] = tuple(sorted(status.name for status in NON_RETRYABLE_STATUSES))


def application_error_from_rpc(error: grpc.aio.AioRpcError, *, call: str) -> ApplicationError:
    """The ApplicationError to raise for a failed call: type is the status name (e.g. "UNAVAILABLE"),
    non-retryable for statuses that a retry cannot fix, retryable for the rest (UNAVAILABLE,
    RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, INTERNAL, ...). A retryable failure carrying "retry-after"
    seconds in its trailing metadata sets next_retry_delay, so Temporal's next attempt waits as the provider asked."""
    status = error.code()
    details = error.details()
    non_retryable = status in NON_RETRYABLE_STATUSES
    return ApplicationError(
        f"{call} failed: {status.name}: {details}" if details else f"{call} failed: {status.name}",
        type=status.name,
        non_retryable=non_retryable,
        next_retry_delay=None if non_retryable else retry_after(error),
    )


def retry_after(error: grpc.aio.AioRpcError) -> timedelta | None:
    """The wait the failed call's trailing metadata asks for, or None when it names none (or nothing sensible)."""
    for key, value in error.trailing_metadata() or ():
        if key != RETRY_AFTER_METADATA:
            continue
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            return None
        if not seconds >= 0:  # negative or NaN
            return None
        return timedelta(seconds=min(seconds, MAX_RETRY_AFTER.total_seconds()))
    return None
