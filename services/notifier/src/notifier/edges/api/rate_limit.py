"""Rate limit the HTTP API: a token bucket per client address, 429 with ``Retry-After``.

Every request under ``/api/`` takes a token, authenticated or not (a guessed token or a
flood of signed requests costs the sender the same). The bucket holds ``burst`` tokens and
refills at ``per_minute`` a minute. Buckets live in each replica's memory: behind a load
balancer each replica limits what it sees (documented in docs/notifier.md).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import FastAPI, Request, Response

from notifier.edges.api.context import error_response

MAX_CLIENTS = 10_000
"""Buckets kept; the least recently seen client is forgotten beyond it (a full bucket)."""


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets by client key; :meth:`take` answers the seconds to wait, or 0."""

    def __init__(
        self, per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str) -> float:
        """Take one token for ``key``; return 0 if allowed, else the seconds until one is."""
        now = self._clock()
        bucket = self._buckets.pop(key, None) or _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        self._buckets[key] = bucket
        while len(self._buckets) > MAX_CLIENTS:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self._rate


def install_rate_limit(app: FastAPI, limiter: RateLimiter) -> None:
    """Answer 429 (``rate_limited``, with ``Retry-After``) to clients over the limit."""

    @app.middleware("http")
    async def _limit(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if not request.url.path.startswith("/api/"):
            return await call_next(request)
        client = request.client.host if request.client else "?"
        wait = limiter.take(client)
        if wait <= 0:
            return await call_next(request)
        seconds = max(1, math.ceil(wait))
        response = error_response(
            429,
            "rate_limited",
            f"too many requests from {client}; retry in {seconds} s (the limit is "
            "NOTIFIER_API_RATE_PER_MINUTE a minute, NOTIFIER_API_RATE_BURST at once)",
        )
        response.headers["Retry-After"] = str(seconds)
        return response
