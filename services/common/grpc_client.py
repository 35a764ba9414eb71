"""How cxflow's processes dial each other: one channel factory, so every client reconnects quickly after an outage."""

from __future__ import annotations

import grpc

# gRPC's defaults back off up to 120 s between reconnect attempts, so a client could keep failing for two minutes
# after the service it calls is back. Services restart in seconds; retrying the connection every few is cheap.
RECONNECT_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.min_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 5_000),
)


def service_channel(target: str) -> grpc.aio.Channel:
    """A plaintext channel to another cxflow service (they talk over the private network of a deployment)."""
    return grpc.aio.insecure_channel(target, options=RECONNECT_OPTIONS)
