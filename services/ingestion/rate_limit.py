"""Per-credential request rate limits of the HTTP intake: one token bucket per API token or write key, in memory per process."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from services.common.auth import hash_token

# Buckets of credentials not seen for a while are dropped once this many are held, so random keys cannot grow memory.
MAX_TRACKED_CREDENTIALS = 100_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RequestRateLimiter:
    """A token bucket per credential: `burst` requests at once, refilled at `per_second` requests a second."""

    def __init__(self, per_second: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("the rate limit needs per_second > 0 and burst >= 1")
        self.per_second = per_second
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, credential: str) -> float:
        """Takes one request from the credential's bucket: 0.0 when allowed, else the seconds until one is available."""
        now = self._clock()
        key = hash_token(credential)  # buckets are keyed by hash: no plaintext credential is held longer than the request
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED_CREDENTIALS:
                self._forget_full_buckets(now)
            bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), updated=now)
        else:
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.per_second)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.per_second

    def _forget_full_buckets(self, now: float) -> None:
        """A bucket refilled to its burst is the same as no bucket at all."""
        full_after = self.burst / self.per_second
        for key in [k for k, b in self._buckets.items() if now - b.updated >= full_after]:
            del self._buckets[key]
        if len(self._buckets) >= MAX_TRACKED_CREDENTIALS:  # every bucket is busy: drop the oldest half, letting them start full
            for key, _bucket in sorted(self._buckets.items(), key=lambda item: item[1].updated)[: len(self._buckets) // 2]:
                del self._buckets[key]


def retry_after_header(seconds: float) -> str:
    """Retry-After takes whole seconds (RFC 9110); never 0, so a client does wait."""
    return str(max(1, math.ceil(seconds)))


def request_credential(headers: Mapping[str, str]) -> str | None:
    """The credential a request presents in its headers (X-API-TOKEN, else the whole Authorization value), if any.

    A write key sent as `writeKey` in a Segment body is limited by the route that reads the body."""
    token = headers.get("x-api-token", "").strip()
    if token:
        return "x-api-token:" + token
    authorization = headers.get("authorization", "").strip()
    return "authorization:" + authorization if authorization else None
