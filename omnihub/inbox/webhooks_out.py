"""Outbound webhooks: every agent-facing event, signed, POSTed to the systems in hub.yaml.

One durable consumer per configured endpoint, ordered by key (the conversation), so a
receiver that is down gets everything once it is back, each conversation's events in
order. Body `{id, type, created_at, data}`; headers `Omnihub-Signature` (hub/signing.py)
and `Omnihub-Event-Id` (the idempotency key). A 2xx answer delivers; anything else, or no
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

import aiohttp
import orjson

from omnihub.connectors.errors import TemporarySendError
from omnihub.hub import signing
from omnihub.hub.bus import Envelope
from omnihub.hub.consumers import ConsumerRunner
from omnihub.hub.settings import InboxSettings, WebhookSubscription
from omnihub.store.outbox import RetryPolicy

__all__ = ["EVENT_ID_HEADER", "WebhookSender", "consumer_name", "matches", "register_webhooks"]

log = logging.getLogger("omnihub.webhooks_out")

EVENT_ID_HEADER = "Omnihub-Event-Id"
TIMEOUT_SECONDS = 10.0
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


class WebhookSender:
    """The handler of one endpoint's consumer: send an event if it matches, or skip it."""

    def __init__(self, subscription: WebhookSubscription, http: aiohttp.ClientSession) -> None:
        self.subscription = subscription
        self.http = http

    async def __call__(self, envelope: Envelope) -> None:
        if not matches(self.subscription.events, envelope.type):
            return
        body = orjson.dumps(envelope.payload)
        headers = {
            "Content-Type": "application/json",
            signing.HEADER: signing.sign(self.subscription.secret, body),
            EVENT_ID_HEADER: envelope.id,
        }
        try:
            async with self.http.post(self.subscription.url, data=body, headers=headers,
                                      timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS),
                                      allow_redirects=False) as response:
                if 200 <= response.status < 300:
                    return
                text = (await response.text(errors="replace"))[:_MAX_ERROR_BODY]
                raise TemporarySendError(
                    f"{self.subscription.url} answered {response.status}: {text}",
                    retry_after=_retry_after(response))
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise TemporarySendError(f"{self.subscription.url} unreachable: "
                                     f"{type(exc).__name__}: {exc}") from exc


def webhook_policy(inbox: InboxSettings) -> RetryPolicy:
    """Time, not a count, ends a webhook's retries: dead only after dead_after_seconds."""
    retry = inbox.webhook_retry
    return RetryPolicy(max_attempts=1_000_000, base_seconds=retry.backoff_base_seconds,
                       max_seconds=retry.backoff_max_seconds,
                       dead_after_seconds=retry.dead_after_seconds)


def register_webhooks(runner: ConsumerRunner, inbox: InboxSettings,
                      http: aiohttp.ClientSession) -> list[str]:
    """Register one ordered consumer per configured endpoint; return their names."""
    names = []
    for subscription in inbox.webhooks:
        name = consumer_name(subscription)
        if name in names:
            log.warning("webhook %s is configured twice; sending once", subscription.url)
            continue
        runner.register(name, "event", WebhookSender(subscription, http), ordered=True)
        names.append(name)
    return names
