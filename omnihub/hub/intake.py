"""What a connector received, taken in: normalize, commit, apply edits and receipts.

One path for every way traffic arrives — a provider's webhook (hub/webhooks.py) or a
connector that pulls it (an IMAP poller, through `ConnectorContext.intake`) — so both keep
the same promises: durable before acknowledged, idempotent on the provider's ids.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from omnihub.connectors.base import ParsedWebhook
from omnihub.normalizer.addresses import InvalidAddress
from omnihub.normalizer.media import MediaTooLarge
from omnihub.store import StoreBusy

if TYPE_CHECKING:
    from omnihub.hub.runtime import Hub

__all__ = ["Intake", "IntakeRefused", "IntakeResult", "bind_intake", "take_in"]

log = logging.getLogger("omnihub.intake")


class IntakeRefused(Exception):
    """The batch cannot be taken in as it is; `status` says how a webhook answers it."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


@dataclass(slots=True)
class IntakeResult:
    stored: list[dict[str, Any]] = field(default_factory=list)  # {"id", "duplicate"}
    updated: list[str] = field(default_factory=list)  # message ids edited or deleted
    receipts: list[str] = field(default_factory=list)  # outbound message ids whose status moved
    routed: list[str] = field(default_factory=list)  # conversations moved to a chosen group


#: bound to one channel: `await context.intake(parsed)`
Intake = Callable[[ParsedWebhook], Awaitable[IntakeResult]]


async def take_in(hub: Hub, channel_id: str, parsed: ParsedWebhook) -> IntakeResult:
    """Store the messages, then apply updates and receipts; IntakeRefused on bad input or
    a saturated store (nothing after the refused message is stored; a retry is harmless)."""
    result = IntakeResult()
    for inbound in parsed.messages:
        try:
            normalized, warnings = await hub.pipeline.run(inbound)
        except InvalidAddress as exc:
            hub.metrics.webhook_rejected.labels(channel_id, "invalid_address").inc()
            raise IntakeRefused(400, "invalid_address", str(exc)) from exc
        except MediaTooLarge as exc:
            hub.metrics.webhook_rejected.labels(channel_id, "payload_too_large").inc()
            raise IntakeRefused(413, "payload_too_large", str(exc)) from exc
        for warning in warnings:
            log.info("channel %s: message %s: %s", channel_id, inbound.external_id, warning)
        try:
            stored = await hub.store.ingest(normalized)
        except StoreBusy as exc:
            hub.metrics.webhook_rejected.labels(channel_id, "busy").inc()
            raise IntakeRefused(503, "busy", "the hub is saturated; retry later",
                                {"Retry-After": "1"}) from exc
        hub.metrics.ingest_total.labels(
            channel_id, "duplicate" if stored.duplicate else "stored").inc()
        result.stored.append({"id": stored.message.id, "duplicate": stored.duplicate})
    for update in parsed.updates:  # an unknown target (never stored) is nothing to update
        message = await hub.store.apply_update(update)
        if message is not None:
            result.updated.append(message.id)
    for choice in parsed.choices:  # after the messages: a choice names one just stored
        moved = await hub.store.move_to_chosen_group(channel_id, choice.external_id,
                                                     group=choice.group, reason=choice.reason)
        if moved is not None:
            result.routed.append(moved.id)
    for receipt in parsed.statuses:  # a receipt for a message we never sent changes nothing
        marked = await hub.store.mark_delivery_by_external_id(
            channel_id, receipt.external_id, status=receipt.status, error=receipt.error)
        if marked is not None:
            result.receipts.append(marked.id)
    return result


def bind_intake(hub: Hub, channel_id: str) -> Intake:
    """The `intake` a pulling connector of `channel_id` is given."""

    async def intake(parsed: ParsedWebhook) -> IntakeResult:
        return await take_in(hub, channel_id, parsed)

    return intake
