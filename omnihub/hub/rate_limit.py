"""Per-client rate limits on the public endpoints: 429 with Retry-After, never a queue.

Two classes of caller reach the hub without a token: providers posting webhooks
(`/webhooks/{id}`) and web chat visitors (`/chat/{id}/…`). Each class has its own token
bucket per client address: a steady rate and a burst. A client over its bucket gets
`429 Too Many Requests` with `Retry-After` (seconds until a token is back), at the cost
of a dictionary lookup, before its body is read.

Limits are per process (a cluster of N processes behind a balancer admits up to N times
the rate) and per address: visitors behind one carrier-grade NAT share a bucket, so the
web chat's default is generous. Webhooks are unlimited by default, because a provider
is one client sending everyone's traffic and some providers (Twilio's messaging
webhooks) never retry a refused request; set a limit when the endpoint is exposed to
more than the providers.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from omnihub.hub.http import Handler, json_error

__all__ = ["Middleware", "RateLimiter", "client_address", "public_endpoint",
           "rate_limit_middleware"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets by client key, at most `max_clients` remembered (least recent go)."""

    def __init__(self, per_second: float, burst: int, *, max_clients: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("per_second must be > 0 and burst >= 1")
        self.per_second = per_second
        self.burst = burst
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str) -> float:
        """Spend one token of `key`; 0 if allowed, else the seconds until one is back."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            if len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(float(self.burst),
                                bucket.tokens + (now - bucket.updated) * self.per_second)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.per_second


def client_address(request: web.Request, forwarded_header: str | None) -> str:
    """The caller's address: the peer, or the last hop a trusted proxy appended."""
    if forwarded_header:
        value = request.headers.get(forwarded_header)
        if value:
            return value.rsplit(",", 1)[-1].strip()
    return request.remote or "unknown"


Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


def rate_limit_middleware(limits: dict[str, RateLimiter], classify: Callable[[str], str | None],
                          *, forwarded_header: str | None = None,
                          on_limited: Callable[[web.Request, str], None] | None = None
                          ) -> Middleware:
    """`classify(path)` names the limit a path falls under (a key of `limits`), or None."""

    @web.middleware
    async def rate_limited(request: web.Request, handler: Handler) -> web.StreamResponse:
        name = classify(request.path)
        limiter = limits.get(name) if name is not None else None
        if name is None or limiter is None:
            return await handler(request)
        wait = limiter.take(client_address(request, forwarded_header))
        if wait > 0:
            if on_limited is not None:
                on_limited(request, name)
            return json_error(429, "rate_limited",
                              f"too many requests to {name} endpoints from this client; "
                              "retry after the delay in Retry-After",
                              headers={"Retry-After": str(max(1, math.ceil(wait)))})
        return await handler(request)

    return rate_limited


def public_endpoint(path: str) -> str | None:
    """Which public limit a path is under: provider webhooks or the web chat's calls."""
    if path.startswith("/webhooks/"):
        return "webhooks"
    if path.startswith("/chat/") and not path.startswith(("/chat/widget.js", "/chat/demo")):
        return "webchat"
    return None
