"""Which Temporal client errors are worth another attempt: the server unreachable, or busy."""

from __future__ import annotations

from temporalio.service import RPCStatusCode

# The server is down, restarting or cut off mid-call (a call cut off surfaces as UNKNOWN "transport error").
TEMPORAL_UNREACHABLE = frozenset({RPCStatusCode.UNAVAILABLE, RPCStatusCode.UNKNOWN, RPCStatusCode.DEADLINE_EXCEEDED})
# Unreachable, or answering "not now": a later attempt of the same call can succeed.
TEMPORAL_TRANSIENT = TEMPORAL_UNREACHABLE | {RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.ABORTED}
