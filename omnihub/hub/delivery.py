"""The `deliveries` consumer: sends each queued agent message out on the customer's channel.

It runs under the ConsumerRunner in DELIVERY_LANES lanes keyed by conversation, so
replies to different customers go out side by side. A TemporarySendError is retried
with backoff from a durable job, and a PermanentSendError (or running out of attempts)
dead-letters it. A message already sent is skipped, so a redelivered event never sends
twice from here.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from omnihub.connectors.errors import PermanentSendError, TemporarySendError
from omnihub.hub.bus import Envelope

if TYPE_CHECKING:
    from omnihub.hub.runtime import Hub

log = logging.getLogger("omnihub.delivery")

#: Conversations sent to at once (each conversation's messages stay in order). One lane
#: would hold every customer behind a reply waiting for its chat's limit (Telegram: one
#: message a second per chat); the connectors' own limiters pace the channel as a whole.
DELIVERY_LANES = 16


class DeliveryHandler:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def __call__(self, envelope: Envelope) -> None:
        store, metrics = self.hub.store, self.hub.metrics
        message_id = envelope.payload["message_id"]
        channel_id = envelope.payload["channel_id"]
        connector = self.hub.connectors.get(channel_id)
        if connector is None:
            await store.mark_delivery(message_id, status="failed",
                                      error=f"channel {channel_id!r} is not configured")
            raise PermanentSendError(f"channel {channel_id!r} is not configured")
        target = await store.delivery_target(message_id, pick=connector.pick_recipient)
        if target is None:  # already sent by an earlier delivery of this event
            return
        try:
            receipt = await connector.send(target)
        except PermanentSendError as exc:
            metrics.outbound_total.labels(channel_id, "failed").inc()
            metrics.provider_errors.labels(channel_id, "permanent").inc()
            await store.mark_delivery(message_id, status="failed", error=str(exc))
            raise
        except TemporarySendError as exc:
            metrics.outbound_total.labels(channel_id, "retry").inc()
            metrics.provider_errors.labels(channel_id, provider_error_kind(exc)).inc()
            raise
        metrics.outbound_total.labels(channel_id, "sent").inc()
        await store.mark_delivery(message_id, status="sent", external_id=receipt.external_id)
        log.info("message %s sent on %s as %s", message_id, channel_id, receipt.external_id)


_RATE_LIMITED = re.compile(r"\b429\b|rate.?limit|too many requests|flood", re.IGNORECASE)
_SERVER_ERROR = re.compile(r"\b5\d\d\b")


def provider_error_kind(exc: TemporarySendError) -> str:
    """`rate_limited` when the provider pushed back (a 429 or its own words for it, or a
    Retry-After without a 5xx), else `temporary`. Connectors name the status in the text."""
    text = str(exc)
    if _RATE_LIMITED.search(text):
        return "rate_limited"
    if exc.retry_after is not None and not _SERVER_ERROR.search(text):
        return "rate_limited"
    return "temporary"
