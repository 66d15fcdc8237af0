"""Outbound webhooks: every agent-facing event, signed, POSTed to the systems in hub.yaml.

One durable consumer per configured endpoint, ordered by key (the conversation), so a
receiver that is down gets everything once it is back, each conversation's events in
order. Body `{id, type, created_at, data}`; headers `Omnihub-Signature` (hub/signing.py),
`Omnihub-Event-Id` (the idempotency key) and, for events a request caused, `X-Request-Id`. A 2xx answer delivers; anything else, or no
answer, raises TemporarySendError and the consumer runner retries with backoff until the
endpoint's retry policy gives up (at least 24 h) and the event goes to the dead letters.

A receiver verifies the signature like this (Python):

    t, v1 = (dict(p.split("=", 1) for p in header.split(","))[k] for k in ("t", "v1"))
    expected = hmac.new(secret.encode(), f"{t}.".encode() + raw_body, sha256).hexdigest()
    ok = hmac.compare_digest(expected, v1) and abs(time.time() - int(t)) < 300
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp
import orjson

from omnihub.connectors.errors import TemporarySendError
from omnihub.hub import signing
from omnihub.hub.bus import Envelope
from omnihub.hub.consumers import ConsumerRunner
from omnihub.hub.request_id import HEADER as REQUEST_ID_HEADER
from omnihub.hub.settings import InboxSettings, WebhookSubscription
from omnihub.store.outbox import RetryPolicy

if TYPE_CHECKING:
    from omnihub.hub.metrics import Metrics

__all__ = ["EVENT_ID_HEADER", "WebhookSender", "consumer_name", "matches", "register_webhooks"]

log = logging.getLogger("omnihub.webhooks_out")

EVENT_ID_HEADER = "Omnihub-Event-Id"
TIMEOUT_SECONDS = 10.0
_TIMEOUT = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
#: conversations whose events go to one endpoint at once (each conversation stays in order)
LANES = 16
_MAX_ERROR_BODY = 200


def matches(patterns: list[str], event_type: str) -> bool:
    """`*` is every event, `message.*` every type starting with `message.`, else exact."""
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def consumer_name(subscription: WebhookSubscription) -> str:
    """Stable across restarts and reordering: derived from the URL alone."""
    return "webhook-" + hashlib.sha256(subscription.url.encode()).hexdigest()[:16]


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    raw = response.headers.get("Retry-After")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


def _excerpt(head: bytes, charset: str | None) -> str:
    """The start of an error body as text; a charset Python does not know reads as UTF-8."""
    try:
        return head.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return head.decode("utf-8", errors="replace")


class WebhookSender:
    """The handler of one endpoint's consumer: send an event if it matches, or skip it."""

    def __init__(self, subscription: WebhookSubscription, http: aiohttp.ClientSession,
                 metrics: Metrics | None = None) -> None:
        self.subscription = subscription
        self.http = http
        self.metrics = metrics
        self.endpoint = endpoint_label(subscription.url)
        self.active = True  # False: the endpoint was disabled or deleted; skip its events

    def retarget(self, subscription: WebhookSubscription) -> None:
        """The endpoint's URL, secret or events changed: the next delivery uses them."""
        self.subscription = subscription
        self.endpoint = endpoint_label(subscription.url)

    async def __call__(self, envelope: Envelope) -> None:
        if not self.active or not matches(self.subscription.events, envelope.type):
            return
        body = orjson.dumps(envelope.payload)
        headers = {
            "Content-Type": "application/json",
            signing.HEADER: signing.sign(self.subscription.secret, body),
            EVENT_ID_HEADER: envelope.id,
        }
        if envelope.request_id is not None:  # a receiver that replies can send it back
            headers[REQUEST_ID_HEADER] = envelope.request_id
        started = time.perf_counter()
        try:
            async with self.http.post(self.subscription.url, data=body, headers=headers,
                                      timeout=_TIMEOUT,
                                      allow_redirects=False) as response:
                self._observe(started, None if response.status < 300 else str(response.status))
                if 200 <= response.status < 300:
                    log.debug("event %s %s delivered to %s", envelope.type, envelope.id,
                              self.endpoint)
                    return
                # The first bytes say what went wrong; a receiver's error page can be
                # huge, or never end, and the rest of it is dropped with the connection.
                text = _excerpt(await response.content.read(_MAX_ERROR_BODY), response.charset)
                raise TemporarySendError(
                    f"{self.subscription.url} answered {response.status}: {text}",
                    retry_after=_retry_after(response))
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            self._observe(started, "timeout" if isinstance(exc, asyncio.TimeoutError)
                          else "unreachable")
            raise TemporarySendError(f"{self.subscription.url} unreachable: "
                                     f"{type(exc).__name__}: {exc}") from exc

    def _observe(self, started: float, failure: str | None) -> None:
        if self.metrics is None:
            return
        self.metrics.webhook_delivery_latency.labels(self.endpoint).observe(
            time.perf_counter() - started)
        if failure is not None:
            self.metrics.webhook_delivery_failures.labels(self.endpoint, failure).inc()


def endpoint_label(url: str) -> str:
    """host[:port]/path of an endpoint: no credentials or query string in a metric label."""
    parts = urlsplit(url)
    return f"{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


def webhook_policy(inbox: InboxSettings) -> RetryPolicy:
    """Time, not a count, ends a webhook's retries: dead only after dead_after_seconds."""
    retry = inbox.webhook_retry
    return RetryPolicy(max_attempts=1_000_000, base_seconds=retry.backoff_base_seconds,
                       max_seconds=retry.backoff_max_seconds,
                       dead_after_seconds=retry.dead_after_seconds)


def register_webhooks(runner: ConsumerRunner, inbox: InboxSettings,
                      http: aiohttp.ClientSession, metrics: Metrics | None = None) -> list[str]:
    """Register one ordered consumer per configured endpoint; return their names."""
    names = []
    for subscription in inbox.webhooks:
        name = consumer_name(subscription)
        if name in names:
            log.warning("webhook %s is configured twice; sending once", subscription.url)
            continue
        runner.register(name, "event", WebhookSender(subscription, http, metrics),
                        ordered=True, lanes=LANES)
        names.append(name)
    return names
