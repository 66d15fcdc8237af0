"""The webhook endpoints added through the API, delivered to like the ones in hub.yaml.

Each subscription gets its own durable, ordered consumer (`webhook-<id>`) the moment it
exists: on the process that took the API call at once, on the others of a cluster within
`refresh_seconds` (they all join the same consumer group, so an event still goes out
once). A consumer group only receives what is published after it exists, so a new
endpoint starts with the events after its creation, as in Stripe or GitHub. A change of
URL, secret or events applies to the next delivery; a disabled or deleted endpoint's
consumer skips its events (a re-enabled one goes on from then, nothing is replayed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import aiohttp

from omnihub.hub.background import in_background
from omnihub.hub.consumers import ConsumerRunner
from omnihub.hub.settings import WebhookSubscription
from omnihub.inbox.webhooks_out import LANES, WebhookSender
from omnihub.store import webhook_subscriptions as subscriptions
from omnihub.store.crypto import PiiCipher
from omnihub.store.db import Database

if TYPE_CHECKING:
    from omnihub.hub.metrics import Metrics

__all__ = ["WebhookRegistry", "consumer_name_of"]

log = logging.getLogger("omnihub.webhooks_out")


def consumer_name_of(subscription_id: str) -> str:
    """Distinct from hub.yaml's `webhook-<url hash>`: an API endpoint is named by its id."""
    return f"webhook-api-{subscription_id}"


class WebhookRegistry:
    """Keeps this process's senders in step with the `webhook_subscriptions` table."""

    def __init__(self, runner: ConsumerRunner, db: Database, cipher: PiiCipher,
                 http: aiohttp.ClientSession, metrics: Metrics | None = None, *,
                 refresh_seconds: float = 5.0) -> None:
        self.runner = runner
        self.db = db
        self.cipher = cipher
        self.http = http
        self.metrics = metrics
        self.refresh_seconds = refresh_seconds
        self.senders: dict[str, WebhookSender] = {}
        self._lock = asyncio.Lock()

    async def sync(self) -> None:
        """Register new subscriptions, apply changes, silence removed ones."""
        async with self._lock:
            stored = await subscriptions.list_subscriptions(self.db, self.cipher)
            present = set()
            for subscription, secret in stored:
                present.add(subscription.id)
                target = WebhookSubscription(url=subscription.url, secret=secret,
                                             events=subscription.events)
                sender = self.senders.get(subscription.id)
                if sender is None:
                    sender = WebhookSender(target, self.http, self.metrics)
                    self.runner.register(consumer_name_of(subscription.id), "event", sender,
                                         ordered=True, lanes=LANES)
                    self.senders[subscription.id] = sender
                elif sender.subscription != target:
                    sender.retarget(target)
                sender.active = subscription.active
            for subscription_id, sender in self.senders.items():
                if subscription_id not in present:
                    sender.active = False

    @contextlib.asynccontextmanager
    async def refreshing(self) -> AsyncIterator[None]:
        """Sync now, then every `refresh_seconds` while the hub runs."""
        await self.sync()
        async with in_background(self._refresh_forever(), "webhook-registry"):
            yield

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            try:
                await self.sync()
            except Exception:
                log.exception("reading the webhook subscriptions failed; trying again")
