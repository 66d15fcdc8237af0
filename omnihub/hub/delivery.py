"""The `deliveries` consumer: sends each queued agent message out on the customer's channel.

It runs under the ConsumerRunner, so a TemporarySendError is retried with backoff from a
durable job, and a PermanentSendError (or running out of attempts) dead-letters it. A
message already sent is skipped, so a redelivered event never sends twice from here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from omnihub.connectors.errors import PermanentSendError, TemporarySendError
from omnihub.hub.bus import Envelope

if TYPE_CHECKING:
    from omnihub.hub.runtime import Hub

log = logging.getLogger("omnihub.delivery")


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
            await store.mark_delivery(message_id, status="failed", error=str(exc))
            raise
        except TemporarySendError:
            metrics.outbound_total.labels(channel_id, "retry").inc()
            raise
        metrics.outbound_total.labels(channel_id, "sent").inc()
        await store.mark_delivery(message_id, status="sent", external_id=receipt.external_id)
        log.info("message %s sent on %s as %s", message_id, channel_id, receipt.external_id)
